"""The reports schedule's logic: which run is whose, the tickets breaching most, and each delivery
made once whatever fails (decision 100), on the in-memory delivery markers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared import clock
from shared.channels.outbound import SendError
from shared.dal.views import ViewEntry, ViewSlice
from shared.logic.report_schedule import (
    ScheduleContext,
    ScheduleResult,
    alert_day,
    alert_teams,
    breaching_tickets,
    deliver_once,
    digest_scopes,
    digest_sender,
    scheduled_now,
    settle_stuck,
)
from shared.models.config import HelpdeskConfig
from shared.models.ticket import Channel, Sla, SlaTarget, Ticket, TicketStatus
from tests.fakes.deliveries import MemoryDeliveries

NOW = datetime(2026, 3, 2, 7, 5, tzinfo=UTC)
CONFIG = HelpdeskConfig.model_validate(
    {
        "calendars": {"default": {"timezone": "Europe/Berlin"}},
        "teams": [{"id": "support"}, {"id": "billing"}],
        "reports": {
            "timezone": "Europe/Berlin",
            "digests": [
                {"team": "support", "to": ["lead@example.com"]},
                {"team": "all", "to": ["ops@example.com"]},
            ],
        },
    }
)


def ticket(number: int, team: str, overdue_minutes: dict[str, int], status: str = "open") -> Ticket:
    targets = [
        SlaTarget(name=name, due_at=NOW - timedelta(minutes=m), state="breached" if m > 0 else "pending")  # type: ignore[arg-type]
        for name, m in overdue_minutes.items()
    ]
    return Ticket(
        id=f"t{number}",
        number=number,
        channel=Channel.EMAIL,
        customer_id="c1",
        subject=f"Problem {number}",
        team=team,
        status=TicketStatus(status),
        created_at=NOW - timedelta(days=1),
        updated_at=NOW - timedelta(days=1),
        sla=Sla(targets=targets),
    )


@dataclass
class Breaching:
    """The `breaching` views as the stream left them (soonest due first), and the tickets now."""

    tickets: dict[str, Ticket] = field(default_factory=dict)
    views: dict[str, list[ViewEntry]] = field(default_factory=dict)
    reads: list[str] = field(default_factory=list)

    def add(self, ticket: Ticket, due: datetime) -> None:
        self.tickets[ticket.id] = ticket
        partition = f"VIEW#{ticket.team}#breaching#0"
        entry = ViewEntry(partition, clock.iso(due), ticket.id, {})
        self.views[partition] = sorted([*self.views.get(partition, []), entry], key=lambda e: e.sk)

    def view_slice(self, partition: str, limit: int, ascending: bool, after: str | None = None) -> ViewSlice:
        assert ascending
        self.reads.append(partition)
        return ViewSlice(self.views.get(partition, [])[:limit], None)

    def get_ticket(self, ticket_id: str) -> Ticket | None:
        return self.tickets.get(ticket_id)


def test_the_run_is_the_hour_it_was_scheduled_for_whenever_it_runs() -> None:
    event = {"scheduledTime": "2026-03-02T07:05:00Z", "executionId": "x"}
    assert scheduled_now(event, NOW + timedelta(minutes=3)) == NOW
    assert scheduled_now({}, NOW) == NOW
    assert scheduled_now({"scheduledTime": "not a time"}, NOW) == NOW


def test_alerts_are_due_in_the_run_after_local_midnight_for_yesterday() -> None:
    # 23:05 UTC on Sunday is 00:05 on Monday in Berlin: Sunday's alerts
    assert alert_day(CONFIG, datetime(2026, 3, 1, 23, 5, tzinfo=UTC)) == datetime(2026, 3, 1).date()
    assert alert_day(CONFIG, datetime(2026, 3, 2, 0, 5, tzinfo=UTC)) is None
    assert alert_teams(CONFIG) == ["support", "all"]


def test_the_digest_sender_is_the_address_outbound_mail_uses() -> None:
    assert digest_sender(CONFIG, ["support@acme.example", "help@acme.example"]) == "support@acme.example"
    chosen = CONFIG.model_copy(
        update={"followups": CONFIG.followups.model_copy(update={"from_address": "desk@acme.example"})}
    )
    assert digest_sender(chosen, ["support@acme.example"]) == "desk@acme.example"


def test_the_tickets_breaching_most_are_the_most_overdue_open_ones_of_the_scopes() -> None:
    # Given support's breaching view with 12 overdue tickets, one not yet due, one solved since
    # the view was written, and billing's most overdue ticket
    stores = Breaching()
    for n in range(1, 13):
        stores.add(ticket(n, "support", {"first_response": 10 * n}), NOW - timedelta(minutes=10 * n))
    stores.add(ticket(20, "support", {"resolution": -30}), NOW + timedelta(minutes=30))
    stores.add(ticket(21, "support", {"first_response": 500}, "resolved"), NOW - timedelta(minutes=500))
    stores.add(ticket(30, "billing", {"first_response": 999, "resolution": 5}), NOW - timedelta(minutes=999))

    # When support's digest asks, Then ten, the most overdue first, the solved one left out
    support = breaching_tickets(stores, digest_scopes(CONFIG, "support"), NOW)
    assert [t.number for t in support] == [12, 11, 10, 9, 8, 7, 6, 5, 4, 3]
    assert (support[0].target, support[0].overdue_minutes, support[0].subject) == (
        "first_response",
        120,
        "Problem 12",
    )
    # And the all-teams digest reads every team's view and the shared inbox's, billing's first
    everyone = breaching_tickets(stores, digest_scopes(CONFIG, "all"), NOW)
    assert [t.number for t in everyone][:2] == [30, 12]
    assert (everyone[0].target, everyone[0].overdue_minutes) == ("first_response", 999)
    assert stores.reads[-3:] == ["VIEW#support#breaching#0", "VIEW#billing#breaching#0", "VIEW#-#breaching#0"]


class Pages:
    def write(self, key: str, body: bytes, content_type: str) -> None:
        raise AssertionError("no page in these tests")


@dataclass
class Provider:
    """A send that answers with the outcomes given, one per call, then ids."""

    failures: list[SendError] = field(default_factory=list)
    calls: int = 0

    def send(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return f"id-{self.calls}"


def context(marks: MemoryDeliveries) -> ScheduleContext:
    return ScheduleContext(marks, CONFIG, Pages(), None, None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("failure", "outcome"),
    [
        (SendError("MessageRejected: no", permanent=True), "failed"),
        (SendError("InternalFailure (may have been sent)", unknown=True), "unknown"),
    ],
)
def test_a_send_refused_for_good_or_of_unknown_outcome_is_never_made_again(
    failure: SendError, outcome: str
) -> None:
    marks, provider = MemoryDeliveries(), Provider([failure])
    first = ScheduleResult()
    deliver_once(context(marks), "k", NOW, provider.send, first)
    assert getattr(first, outcome) == {"k": str(failure)}
    stored = marks.get_delivery("k")
    assert stored is not None
    assert (stored.state, stored.detail) == (outcome, str(failure))
    # When the run is made again, Then the send is not attempted
    again = ScheduleResult()
    deliver_once(context(marks), "k", NOW + timedelta(minutes=1), provider.send, again)
    assert (again.skipped, provider.calls) == (["k"], 1)


def test_a_transient_failure_is_sent_by_the_next_run_and_then_never_again() -> None:
    marks, provider = MemoryDeliveries(), Provider([SendError("Throttling", permanent=False)])
    first, second, third = ScheduleResult(), ScheduleResult(), ScheduleResult()
    deliver_once(context(marks), "k", NOW, provider.send, first)
    assert first.retry == {"k": "Throttling"}
    deliver_once(context(marks), "k", NOW + timedelta(minutes=1), provider.send, second)
    deliver_once(context(marks), "k", NOW + timedelta(minutes=2), provider.send, third)
    assert (second.sent, third.skipped, provider.calls) == (["k"], ["k"], 2)
    stored = marks.get_delivery("k")
    assert stored is not None
    assert (stored.state, stored.detail, stored.attempts) == ("sent", "id-2", 2)


def test_a_claim_left_by_a_dead_run_becomes_unknown_after_the_lease_and_is_not_sent() -> None:
    # Given a run that claimed a key and died before recording the result
    marks = MemoryDeliveries()
    assert marks.claim_delivery("k", NOW, NOW + timedelta(days=400))
    ctx = context(marks)
    # When a run within the lease looks, Then the claim may still be sending: left alone
    early = ScheduleResult()
    settle_stuck(ctx, NOW + ctx.lease - timedelta(seconds=1), early)
    assert early.unknown == {}
    # When a run after the lease looks, Then it is unknown, counted once, and never sent
    late, later = ScheduleResult(), ScheduleResult()
    settle_stuck(ctx, NOW + ctx.lease, late)
    settle_stuck(ctx, NOW + ctx.lease + timedelta(hours=1), later)
    assert list(late.unknown) == ["k"]
    assert later.unknown == {}
    provider = Provider()
    deliver_once(ctx, "k", NOW + ctx.lease, provider.send, ScheduleResult())
    assert provider.calls == 0


def test_the_template_runs_the_schedule_hourly_and_the_simulator_fires_it_so() -> None:
    from simulator.clock import parse_expression
    from simulator.template import load_template

    template = load_template(Path(__file__).resolve().parents[2] / "template.yaml")
    function = template["Resources"]["ReportsScheduleFunction"]["Properties"]
    (event,) = function["Events"].values()
    assert (event["Type"], function["Handler"]) == ("ScheduleV2", "schedule.handler")
    # the simulator's timetable reads the expression as EventBridge Scheduler does
    expression = parse_expression(event["Properties"]["ScheduleExpression"], NOW)
    fires, moment = [], NOW
    for _ in range(3):
        upcoming = expression.next_after(moment)
        assert upcoming is not None
        fires.append(upcoming)
        moment = upcoming
    assert fires == [NOW + timedelta(hours=h) for h in (1, 2, 3)]  # 08:05, 09:05, 10:05
    # and the run's input carries the time it was scheduled for
    assert "<aws.scheduler.scheduled-time>" in event["Properties"]["Input"]
