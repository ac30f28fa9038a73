"""Out-of-office notices on moto: a customer writes while their agent is away, through the real
auto_followup handler fed with the tickets stream as Lambda delivers it (the template's filters)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from functions.auto_followup import app
from shared import clock
from shared.channels.sms import segments
from shared.config import load_config
from shared.logic.out_of_office import on_customer_message
from shared.logic.outbound import OutboundContext
from shared.logic.route_ticket import RoutingContext, route_new_ticket
from shared.models.outbound import OutboundMessage
from shared.models.ticket import Ticket
from simulator.resources import Deployment
from tests.integration.conftest import EmailHarness, FakeLambdaContext, _reset_process_caches, mail
from tests.integration.test_agent_api import call
from tests.integration.test_outbound import sent_mail

MONDAY = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
CONFIG = """
calendars:
  default: {timezone: UTC, hours: {mon: ["09:00-17:00"], tue: ["09:00-17:00"], wed: ["09:00-17:00"], thu: ["09:00-17:00"], fri: ["09:00-17:00"]}}
teams: [{id: support}]
agents: [{id: alice, name: Alice, teams: [support], default_presence: online}]
sla:
  policies:
    - {name: email, when: {channel: [email]}, first_response: {minutes: 600, business: false}}
    - {name: sms, when: {channel: [sms]}, first_response: {minutes: 600, business: false}}
followups: {min_interval_minutes: 0}
"""


class Desk:
    """The deployment with the real auto_followup handler reading the tickets stream."""

    def __init__(self, email: EmailHarness, deployment: Deployment, routing: RoutingContext) -> None:
        self.email = email
        self.deployment = deployment
        self.routing = routing
        self.cursor: dict[str, str] = {}

    @property
    def repository(self) -> Any:
        return self.email.repository

    def at(self, when: datetime) -> None:
        clock.set_clock(lambda: when)

    def stream(self) -> list[dict[str, Any]]:
        """The stream records written since the last call that pass auto_followup's filters, shaped
        as Lambda delivers them."""
        from tests.integration.test_route_ticket import _stream_event

        records: list[dict[str, Any]] = _stream_event(self.deployment, self.cursor, "AutoFollowupFunction")[
            "Records"
        ]
        return records

    def run_followups(self) -> list[dict[str, Any]]:
        """Deliver the new records to the handler until none are left (it sends what it queues)."""
        delivered: list[dict[str, Any]] = []
        while records := self.stream():
            assert app.handler({"Records": records}, FakeLambdaContext()) == {"batchItemFailures": []}
            delivered += records
        return delivered

    def presence(self, status: str, until: str | None = None) -> tuple[int, Any]:
        body = {"status": status, **({"until": until} if until else {})}
        return call("PUT", "/agents/alice/presence", body)

    def reply(self, when: datetime, body: str, **headers: str) -> None:
        self.at(when)
        result = self.email.deliver(
            mail(
                subject="Re: Printer not working",
                body=body,
                headers={"In-Reply-To": "<q1@c.example>", **headers},
            ),
            at=clock.iso(when),
        )
        assert result["outcome"] == "threaded"

    def notices(self) -> list[OutboundMessage]:
        return [o for o in self.repository.list_outbound() if o.kind == "ooo"]


def make_desk(
    email: EmailHarness, deployment: Deployment, path: Path, monkeypatch: pytest.MonkeyPatch
) -> Desk:
    monkeypatch.setenv("HELPDESK_CONFIG", str(path))
    _reset_process_caches()
    boto3.client("ses").verify_domain_identity(Domain="support.example.com")
    return Desk(email, deployment, RoutingContext(repository=email.repository, config=load_config(str(path))))


@pytest.fixture
def desk(
    email: EmailHarness, deployment: Deployment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Desk:
    path = tmp_path / "helpdesk.yaml"
    path.write_text(CONFIG)
    return make_desk(email, deployment, path, monkeypatch)


def open_ticket(desk: Desk) -> Ticket:
    """A new ticket at Monday 10:00, acknowledged and assigned to Alice (online)."""
    desk.at(MONDAY)
    result = desk.email.deliver(mail(message_id="<q1@c.example>"), at=clock.iso(MONDAY))
    ticket = desk.repository.get_ticket(result["ticket_id"])
    route_new_ticket(ticket, desk.routing, MONDAY)
    desk.run_followups()
    assigned = desk.repository.get_ticket(ticket.id)
    assert assigned.assignee == "alice"
    return assigned  # type: ignore[no-any-return]


def test_new_ticket_gets_only_the_acknowledgement(desk: Desk) -> None:
    open_ticket(desk)
    assert [o.kind for o in desk.repository.list_outbound()] == ["ack"]


def test_a_reply_while_the_agent_is_away_gets_one_notice_per_absence(desk: Desk) -> None:
    ticket = open_ticket(desk)
    desk.at(MONDAY + timedelta(minutes=10))
    assert desk.presence("away", "2026-03-04T09:00:00+00:00") == (
        200,
        {"agent": "alice", "status": "away", "until": "2026-03-04T09:00:00.000Z"},
    )

    # Given Alice is away until Wednesday, when the customer writes, then one notice says so
    desk.reply(MONDAY + timedelta(minutes=30), "I also tried another cable.")
    records = desk.stream()
    assert [r["dynamodb"]["Keys"]["sk"]["S"][:4] for r in records] == ["MSG#"]  # only the message passes
    app.handler({"Records": records}, FakeLambdaContext())
    desk.run_followups()  # the outbox record: sent once
    [notice] = desk.notices()
    assert notice.status == "sent"
    assert notice.key.startswith(f"ooo#{ticket.id}#alice#")
    last = [m for m in desk.repository.list_messages(ticket.id) if m.direction == "inbound"][-1]
    assert (notice.channel, notice.to, notice.in_reply_to) == (
        "email",
        "jane.doe@customer.example",
        last.external_id,
    )
    assert "Alice, who is looking after your request, is out of the office and back by Wed 04 Mar, 09:00" in (
        notice.text
    )
    assert "ticket #1" in notice.text
    assert notice.subject == "Re: [#1] Printer not working"
    mails = [m for m in sent_mail() if "out of the office" in m.get_body(("plain",)).get_content()]  # type: ignore[union-attr]
    assert len(mails) == 1
    assert mails[0]["Auto-Submitted"] == "auto-replied"

    # When the customer writes again in the same absence, then no second notice
    desk.reply(MONDAY + timedelta(minutes=45), "And a photo of the display.")
    desk.run_followups()
    assert len(desk.notices()) == 1

    # When Alice is back online, then replies get no notice
    desk.at(MONDAY + timedelta(hours=1))
    assert desk.presence("online")[0] == 200
    desk.reply(MONDAY + timedelta(hours=1, minutes=5), "Still broken.")
    desk.run_followups()
    assert len(desk.notices()) == 1

    # When she goes away again (no return time given), then a new absence allows a new notice,
    # promising the SLA's first-response time (Monday 10:00 + 10 hours)
    desk.at(MONDAY + timedelta(hours=2))
    assert desk.presence("offline") == (200, {"agent": "alice", "status": "offline"})
    desk.reply(MONDAY + timedelta(hours=2, minutes=10), "Any news?")
    desk.run_followups()
    first, second = sorted(desk.notices(), key=lambda o: o.created_at)
    assert first.key != second.key
    assert "not available at the moment, and we will answer by Mon 02 Mar, 20:00" in second.text
    assert second.status == "sent"


def test_auto_replies_never_reach_the_function_nor_get_a_notice(desk: Desk) -> None:
    ticket = open_ticket(desk)
    desk.at(MONDAY + timedelta(minutes=10))
    desk.presence("away", "2026-03-04T09:00:00Z")
    desk.stream()

    # Given the customer's mailbox answers with an auto-reply, then the filter drops its record
    desk.reply(MONDAY + timedelta(minutes=20), "I am on holiday.", **{"Auto-Submitted": "auto-replied"})
    assert desk.stream() == []
    # and should it reach the function anyway, nothing is queued
    [message] = [
        m for m in desk.repository.list_messages(ticket.id) if m.automatic and m.direction == "inbound"
    ]
    outbound = OutboundContext(
        repository=desk.repository,
        config=desk.routing.config,
        support_addresses=["support@support.example.com"],
        support_domain="support.example.com",
    )
    assert on_customer_message(message, outbound, MONDAY + timedelta(minutes=20)) == (
        None,
        "not a message from the customer",
    )
    assert desk.notices() == []


def test_a_reply_after_hours_without_a_return_time_gets_no_notice(desk: Desk) -> None:
    open_ticket(desk)
    desk.at(MONDAY + timedelta(hours=7, minutes=30))  # 17:30, the team's day is over
    desk.presence("offline")
    desk.reply(MONDAY + timedelta(hours=8), "One more thing.")
    desk.run_followups()
    assert desk.notices() == []


def test_sms_notice_is_short_and_on_the_number_the_customer_wrote_to(desk: Desk) -> None:
    from functions.inbound_sms import app as sms_app
    from tests.integration.test_inbound_sms import sms_event

    desk.at(MONDAY)
    first = sms_app.handler(sms_event("My parcel is late", at=clock.iso(MONDAY)), FakeLambdaContext())
    ticket = desk.repository.get_ticket(first["results"][0]["ticket_id"])
    route_new_ticket(ticket, desk.routing, MONDAY)
    desk.run_followups()
    desk.at(MONDAY + timedelta(minutes=10))
    desk.presence("away", "2026-03-04T09:00:00Z")

    later = MONDAY + timedelta(minutes=30)
    desk.at(later)
    sms_app.handler(sms_event("Order 4411, if that helps", at=clock.iso(later)), FakeLambdaContext())
    desk.run_followups()
    [notice] = desk.notices()
    assert (notice.channel, notice.to, notice.subject) == ("sms", "+14255550182", None)
    assert "Alice is away, back by Wed 04 Mar, 09:00" in notice.text
    encoding, parts = segments(notice.text)
    assert (encoding, notice.segments) == ("GSM-7", parts)
    assert parts <= 2


def test_presence_keeps_the_absence_start_and_the_return_time(desk: Desk) -> None:
    repo = desk.repository
    desk.at(MONDAY)
    assert desk.presence("away", "2026-03-04T10:00:00+01:00")[1]["until"] == "2026-03-04T09:00:00.000Z"
    away = repo.get_agents(["alice"])["alice"]
    assert (away.presence, away.away_since, away.away_until) == (
        "away",
        MONDAY,
        datetime(2026, 3, 4, 9, 0, tzinfo=UTC),
    )

    # away, then offline: one absence (its start stays), and the new return time replaces the old
    desk.at(MONDAY + timedelta(hours=1))
    desk.presence("offline")
    offline = repo.get_agents(["alice"])["alice"]
    assert (offline.presence, offline.away_since, offline.away_until) == ("offline", MONDAY, None)

    desk.at(MONDAY + timedelta(hours=2))
    desk.presence("online")
    back = repo.get_agents(["alice"])["alice"]
    assert (back.presence, back.away_since, back.away_until) == ("online", None, None)


@pytest.mark.parametrize(
    ("until", "problem"),
    [
        ("2026-03-01T09:00:00Z", "is not in the future"),
        ("2026-06-01T09:00:00Z", "more than 60 days ahead"),
        ("2026-03-04T09:00:00", "timezone"),
        ("next week", "datetime"),
    ],
)
def test_a_return_time_that_cannot_be_right_is_a_bad_request(desk: Desk, until: str, problem: str) -> None:
    desk.at(MONDAY)
    status, body = desk.presence("away", until)
    assert status == 400
    assert problem in body["detail"]
    assert desk.repository.get_agents(["alice"]) == {}
    assert (
        call("PUT", "/agents/alice/presence", {"status": "online", "until": "2026-03-04T09:00:00Z"})[0] == 400
    )


def test_a_notice_too_soon_after_the_acknowledgement_waits_for_a_later_message(
    email: EmailHarness, deployment: Deployment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "helpdesk.yaml"
    path.write_text(CONFIG.replace("min_interval_minutes: 0", "min_interval_minutes: 60"))
    desk = make_desk(email, deployment, path, monkeypatch)
    open_ticket(desk)  # acknowledged at 10:00
    desk.at(MONDAY + timedelta(minutes=10))
    desk.presence("away", "2026-03-04T09:00:00Z")

    # Given the acknowledgement went out 20 minutes ago, when the customer writes, then nothing yet,
    # and nothing recorded that would hold back the notice for the rest of the absence
    desk.reply(MONDAY + timedelta(minutes=20), "I also tried another cable.")
    desk.run_followups()
    assert desk.notices() == []

    # When they write again after the interval, then the notice goes out
    desk.reply(MONDAY + timedelta(minutes=75), "Any news?")
    desk.run_followups()
    [notice] = desk.notices()
    assert notice.status == "sent"
