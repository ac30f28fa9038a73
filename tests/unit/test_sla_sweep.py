"""The SLA sweep on the in-memory stores: what each pass finds through the deadline index, what it
records on the ticket, whom it notifies, and what it counts (see tests/fakes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.config import parse_config
from shared.dal.deadlines import IndexPage
from shared.dal.queues import QueueEntry, queue_key
from shared.dal.tickets import TicketUpdate, sla_shard
from shared.logic.outbound import OutboundContext
from shared.logic.route_ticket import RoutingContext, route_new_ticket
from shared.logic.sla_service import after_change
from shared.logic.sla_sweep import SweepContext, SweepResult, sweep, sweep_shard
from shared.models.ticket import Ticket, TicketStatus
from tests.fakes import MemoryRepository
from tests.fakes.deadlines import due_in
from tests.fakes.seeds import email_ticket

CREATED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

CONFIG = """
teams:
  - {id: support, lead: lena}
  - {id: escalations}
agents:
  - {id: alice, teams: [support], default_presence: online}
  - {id: lena, teams: [support], default_presence: away}
  - {id: eric, teams: [escalations], default_presence: online}
sla:
  sweep_shards: 3
  policies:
    - name: email
      first_response: {minutes: 60}
      resolution: {minutes: 480}
      warning_at: 0.5
      escalation:
        - {level: 1, at: warning, notify: [assignee]}
        - {level: 2, at: breach, notify: [assignee, team_lead], raise_priority: true}
        - {level: 3, at: breach, after_minutes: 30, reassign_team: escalations}
"""


class Notes:
    """A Notifier that keeps what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def notify(self, subject: str, message: dict[str, Any]) -> None:
        self.sent.append((subject, message))


@pytest.fixture
def repo() -> MemoryRepository:
    return MemoryRepository()


@pytest.fixture
def notes() -> Notes:
    return Notes()


@pytest.fixture
def ctx(repo: MemoryRepository, notes: Notes) -> SweepContext:
    return SweepContext(repository=repo, config=parse_config(CONFIG), notifier=notes)


def routed(repo: MemoryRepository, ctx: SweepContext, ticket_id: str = "t1") -> Ticket:
    """A new email ticket, routed at its creation (to alice, under the `email` policy)."""
    ticket = email_ticket(
        repo,
        ticket_id,
        CREATED,
        number=1001,
        author="jane@customer.example",
        external_id=f"<{ticket_id}@customer.example>",
    )
    outcome = route_new_ticket(ticket, RoutingContext(repository=repo, config=ctx.config), CREATED)
    assert (outcome.outcome, outcome.agent) == ("assigned", "alice")
    stored = repo.get_ticket(ticket_id)
    assert stored is not None
    return stored


def minutes(n: int) -> datetime:
    return CREATED + timedelta(minutes=n)


def indexed_at(repo: MemoryRepository, ticket_id: str) -> datetime | None:
    """The ticket's next deadline as the due index holds it (None: not in it)."""
    shard = sla_shard(ticket_id, 3)
    for step in range(0, 60 * 24, 1):
        if any(t.id == ticket_id for t in due_in(repo, shard, minutes(step))):
            return minutes(step)
    return None


def test_a_warning_notifies_the_assignee_once_and_the_index_moves_to_the_due_time(
    repo: MemoryRepository, ctx: SweepContext, notes: Notes
) -> None:
    before = routed(repo, ctx)
    assert indexed_at(repo, "t1") == minutes(30)

    early = sweep(ctx, minutes(29))
    result = sweep(ctx, minutes(30))
    again = sweep(ctx, minutes(30))

    note = {
        "ticket_id": "t1",
        "number": 1001,
        "level": 1,
        "notify": ["alice"],
        "policy": "email",
        "subject": "Printer",
        "team": "support",
    }
    assert early == SweepResult()
    assert result == SweepResult(read=1, warnings=1, escalations=1, notifications=[note])
    assert again == SweepResult()
    assert notes.sent == [("Ticket #1001: SLA escalation level 1", note)]
    stored = repo.get_ticket("t1")
    assert stored is not None
    assert (stored.version, stored.updated_at, stored.priority, stored.assignee) == (
        2,
        minutes(30),
        before.priority,
        "alice",
    )
    assert stored.sla.escalation_level == 1
    first = stored.sla.target("first_response")
    assert first is not None
    assert (first.warned_at, first.state) == (minutes(30), "pending")
    assert [(e.type, e.data) for e in repo.list_events("t1")][1:] == [
        ("sla_warning", {"target": "first_response", "policy": "email", "warn_at": minutes(30).isoformat()}),
        ("escalated", {"level": 1, "actions": ["notified alice"]}),
    ]
    assert indexed_at(repo, "t1") == minutes(60)


def test_a_breach_raises_the_priority_then_reassigns_the_ticket_to_the_escalation_queue(
    repo: MemoryRepository, ctx: SweepContext, notes: Notes
) -> None:
    routed(repo, ctx)
    sweep(ctx, minutes(30))

    breach = sweep(ctx, minutes(60))
    later = sweep(ctx, minutes(90))

    assert (breach.read, breach.breaches, breach.escalations, breach.reassigned_teams) == (1, 1, 1, [])
    assert [n["notify"] for n in breach.notifications] == [["alice", "lena"]]
    assert later == SweepResult(read=1, escalations=1, reassigned_teams=["escalations"])
    assert [subject for subject, _ in notes.sent] == [
        "Ticket #1001: SLA escalation level 1",
        "Ticket #1001: SLA escalation level 2",
    ]
    stored = repo.get_ticket("t1")
    assert stored is not None
    assert (stored.team, stored.assignee, stored.priority, stored.load_holder, stored.version) == (
        "escalations",
        None,
        "high",
        "alice",  # route_ticket gives alice's capacity back when it sees the stale mark
        4,
    )
    assert stored.queued_at == minutes(90)
    assert repo.list_queue("escalations") == [
        QueueEntry("escalations", "t1", "high", "email", minutes(90), queue_key("high", minutes(90), "t1"))
    ]
    assert [(e.type, e.data) for e in repo.list_events("t1")][3:] == [
        ("sla_breached", {"target": "first_response", "policy": "email", "due_at": minutes(60).isoformat()}),
        ("escalated", {"level": 2, "actions": ["notified alice, lena", "priority raised to high"]}),
        ("escalated", {"level": 3, "actions": ["reassigned to team escalations"]}),
    ]
    assert indexed_at(repo, "t1") == minutes(240)  # the resolution warning is next


class ChangedMeanwhile(MemoryRepository):
    """An agent resolves each ticket between the sweep's read of the index and its write."""

    def due_tickets(self, shard: int, now: datetime, limit: int = 100, after: str | None = None) -> IndexPage:
        found = super().due_tickets(shard, now, limit, after)
        for ticket in found.tickets:
            self.set_status(ticket.id, "resolved", now, ticket.version)
        return found


def test_a_ticket_changed_since_the_index_was_read_is_skipped_and_nobody_is_notified(notes: Notes) -> None:
    repo = ChangedMeanwhile()
    ctx = SweepContext(repository=repo, config=parse_config(CONFIG), notifier=notes)
    routed(repo, ctx)

    result = sweep(ctx, minutes(30))

    assert result == SweepResult(read=1, skipped=1)
    assert notes.sent == []
    assert [e.type for e in repo.list_events("t1")] == ["routed"]
    stored = repo.get_ticket("t1")
    assert stored is not None
    assert (stored.status, stored.sla.escalation_level, stored.version) == ("resolved", 0, 2)


def test_a_shard_is_paged_until_it_is_empty(repo: MemoryRepository, ctx: SweepContext) -> None:
    # Given six tickets warned at minute 30, pages of one entry
    ids = [f"t{i}" for i in range(6)]
    for ticket_id in ids:
        routed(repo, ctx, ticket_id)

    # When each shard is swept with no time limit
    swept = [sweep_shard(ctx, shard, minutes(30), per_page=1) for shard in range(3)]

    # Then every due ticket is read, however many pages its shard takes, and every shard is done
    assert sum(result.read for result, _ in swept) == sum(result.warnings for result, _ in swept) == 6
    assert all(done for _, done in swept)
    assert sweep(ctx, minutes(30)) == SweepResult()


def test_a_shard_out_of_time_stops_between_pages_and_says_so(
    repo: MemoryRepository, ctx: SweepContext
) -> None:
    ids = [f"t{i}" for i in range(6)]
    for ticket_id in ids:
        routed(repo, ctx, ticket_id)
    shard = max(range(3), key=lambda s: sum(sla_shard(t, 3) == s for t in ids))
    in_shard = sum(sla_shard(t, 3) == shard for t in ids)
    assert in_shard >= 2

    # When the budget is spent after the first page of one entry
    first, done = sweep_shard(ctx, shard, minutes(30), out_of_time=lambda: True, per_page=1)

    # Then one ticket was handled and the shard is not done; the next run takes the rest
    assert (first.read, done) == (1, False)
    rest, done = sweep_shard(ctx, shard, minutes(30))
    assert (rest.read, done) == (in_shard - 1, True)


def test_a_pending_ticket_gets_its_reminder_then_is_resolved_with_a_closing_message(
    repo: MemoryRepository, ctx: SweepContext
) -> None:
    routed(repo, ctx)
    ctx.outbound = OutboundContext(
        repository=repo,
        config=ctx.config,
        support_addresses=["support@support.example.com"],
        support_domain="support.example.com",
    )
    asked = minutes(10)
    ticket = repo.get_ticket("t1")
    assert ticket is not None
    repo.update_ticket(
        ticket,
        TicketUpdate(status="pending", sla=after_change(ctx.config, ticket, "pending", None, asked)),
        [],
        asked,
    )
    remind_at = asked + timedelta(hours=48)
    resolve_at = remind_at + timedelta(hours=72)

    before = sweep(ctx, remind_at - timedelta(milliseconds=1))
    reminded = sweep(ctx, remind_at)
    resolved = sweep(ctx, resolve_at)

    assert before == SweepResult()
    assert reminded == SweepResult(read=1, followups=1)
    assert resolved == SweepResult(read=1, followups=1)
    sent = [(m.kind, m.status, m.to, m.in_reply_to, m.created_at) for m in repo.list_outbound()]
    assert sent == [
        ("reminder", "pending", "jane@customer.example", "<t1@customer.example>", remind_at),
        ("auto_resolve", "pending", "jane@customer.example", "<t1@customer.example>", resolve_at),
    ]
    assert [(e.type, e.data) for e in repo.list_events("t1")][1:] == [
        ("reminder_due", {"auto_resolve_at": resolve_at.isoformat()}),
        ("auto_resolved", {"why": "no answer from the customer"}),
    ]
    stored = repo.get_ticket("t1")
    assert stored is not None
    assert (stored.status, stored.resolved_at, stored.sla.reminder_at, stored.sla.auto_resolve_at) == (
        TicketStatus.RESOLVED,
        resolve_at,
        None,
        None,
    )
    assert (repo.table.get(("TICKET#t1", "TICKET")) or {}).get(
        "load_stale"
    ) is True  # alice's capacity comes back
