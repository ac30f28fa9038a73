"""Time-based follow-ups with time travel: periodic updates, reminders, auto-resolve, surveys, transcripts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from shared.logic.agent_actions import AgentContext, TicketChangeRequest, update_ticket
from shared.logic.automatic import on_resolution
from shared.logic.outbound import OutboundContext
from shared.logic.outbound_send import send_outbound
from shared.logic.route_ticket import RoutingContext, route_new_ticket
from shared.logic.sla_sweep import SweepContext, sweep
from shared.logic.survey import csat_rating
from shared.notify import SnsNotifier
from tests.integration.conftest import EmailHarness, mail, use_config

NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CONFIG = """
teams: [{id: support}]
agents: [{id: alice, teams: [support], default_presence: online}]
sla:
  policies:
    - name: email
      when: {channel: [email]}
      first_response: {minutes: 600, business: false}
      periodic_update: {minutes: 60, business: false}
followups: {min_interval_minutes: 0, pending_reminder_hours: 24, pending_auto_resolve_hours: 48}
"""


@pytest.fixture
def desk(email: EmailHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    config = use_config(CONFIG, tmp_path, monkeypatch)
    boto3.client("ses").verify_domain_identity(Domain="support.example.com")
    outbound = OutboundContext(
        repository=email.repository,
        config=config,
        support_addresses=["support@support.example.com"],
        support_domain="support.example.com",
    )
    sweeper = SweepContext(
        repository=email.repository,
        config=config,
        notifier=SnsNotifier(email.deployment.name("EscalationTopic")),
        outbound=outbound,
    )
    routing = RoutingContext(repository=email.repository, config=config)
    agents = AgentContext(repository=email.repository, config=config)
    return email, outbound, sweeper, routing, agents


def new_routed(email: EmailHarness, routing: RoutingContext, **kwargs):
    result = email.deliver(mail(**kwargs), at="2026-03-02T12:00:00.000Z")
    ticket = email.repository.get_ticket(result["ticket_id"])
    assert ticket is not None
    route_new_ticket(ticket, routing, NOON)
    routed = email.repository.get_ticket(ticket.id)
    assert routed is not None
    return routed


def kinds(email: EmailHarness) -> list[tuple[str, str]]:
    return [(o.kind, o.status) for o in email.repository.list_outbound()]


def test_periodic_update_goes_out_when_no_agent_replied_in_time(desk) -> None:
    email, _, sweeper, routing, _ = desk
    new_routed(email, routing)
    assert sweep(sweeper, NOON + timedelta(minutes=30)).followups == 0
    assert sweep(sweeper, NOON + timedelta(minutes=61)).followups == 1
    assert ("update", "pending") in kinds(email)
    assert sweep(sweeper, NOON + timedelta(minutes=90)).followups == 0  # once per update period


def test_periodic_updates_go_out_each_period_until_an_agent_replies(desk) -> None:
    email, outbound, sweeper, routing, _ = desk
    from shared.logic.agent_replies import agent_reply

    ticket = new_routed(email, routing)
    # Given nobody answers, When the sweeper runs every period, Then each period brings an update
    updates = [sweep(sweeper, NOON + timedelta(minutes=m)).followups for m in (61, 122, 183)]
    assert updates == [1, 1, 1]
    texts = [o.text for o in email.repository.list_outbound() if o.kind == "update"]
    assert "by Mon 02 Mar, 14:01 UTC" in texts[0]  # the promise is the restarted clock's due time
    assert "by Mon 02 Mar, 15:02 UTC" in texts[1]
    # When an agent replies, Then no update goes out until a whole period has passed since
    replied_at = NOON + timedelta(minutes=190)
    current = email.repository.get_ticket(ticket.id)
    assert current is not None
    from shared.channels.outbound import SesEmailSender

    outbound.senders["email"] = SesEmailSender("us-east-1")
    reply = agent_reply(current, "We found the cause and are fixing it.", "alice", outbound, replied_at)
    assert send_outbound(reply.key, outbound, replied_at) == "sent"  # sent: the periodic clock restarts
    assert sweep(sweeper, NOON + timedelta(minutes=244)).followups == 0
    assert sweep(sweeper, NOON + timedelta(minutes=251)).followups == 1


def test_pending_gets_a_reminder_then_is_auto_resolved_with_a_notice(desk) -> None:
    email, _, sweeper, routing, agents = desk
    ticket = new_routed(email, routing)
    update_ticket(str(ticket.number), TicketChangeRequest(status="pending"), "alice", agents, NOON)

    sweep(sweeper, NOON + timedelta(hours=23))
    assert "reminder" not in [k for k, _ in kinds(email)]
    sweep(sweeper, NOON + timedelta(hours=24, minutes=1))
    assert ("reminder", "pending") in kinds(email)
    reminded = email.repository.get_ticket(ticket.id)
    assert reminded is not None
    assert reminded.status == "pending"

    sweep(sweeper, NOON + timedelta(hours=72, minutes=2))
    resolved = email.repository.get_ticket(ticket.id)
    assert resolved is not None
    assert resolved.status == "resolved"
    assert ("auto_resolve", "pending") in kinds(email)
    assert "auto_resolved" in [e.type for e in email.repository.list_events(ticket.id)]


def test_customer_answer_cancels_the_reminder(desk) -> None:
    email, _, sweeper, routing, agents = desk
    ticket = new_routed(email, routing, message_id="<q1@mail.customer.example>")
    update_ticket(str(ticket.number), TicketChangeRequest(status="pending"), "alice", agents, NOON)
    email.deliver(
        mail(body="Here is the log you asked for.", headers={"In-Reply-To": "<q1@mail.customer.example>"}),
        at="2026-03-02T15:00:00.000Z",
    )
    sweep(sweeper, NOON + timedelta(hours=30))
    assert "reminder" not in [k for k, _ in kinds(email)]
    assert email.repository.get_ticket(ticket.id).status == "open"  # type: ignore[union-attr]


def test_resolution_sends_a_survey_and_the_rating_is_recorded(desk) -> None:
    email, outbound, _, routing, agents = desk
    ticket = new_routed(email, routing, message_id="<q2@mail.customer.example>")
    resolved = update_ticket(
        str(ticket.number), TicketChangeRequest(status="resolved"), "alice", agents, NOON
    )
    assert on_resolution(resolved, outbound, NOON) == ["csat: queued"]
    assert on_resolution(resolved, outbound, NOON) == ["csat: already queued"]
    survey = next(o for o in email.repository.list_outbound() if o.kind == "csat")
    outbound.senders["email"] = __import__(
        "shared.channels.outbound", fromlist=["SesEmailSender"]
    ).SesEmailSender("us-east-1")
    assert send_outbound(survey.key, outbound, NOON) == "sent"
    sent = [m for m in email.repository.list_messages(ticket.id) if m.direction == "outbound"][-1]

    email.deliver(
        mail(body="5 - thanks, great help!", headers={"In-Reply-To": sent.external_id or ""}),
        at="2026-03-02T13:00:00.000Z",
    )
    after = email.repository.get_ticket(ticket.id)
    assert after is not None
    assert after.status == "resolved"  # a rating does not reopen
    [rating] = [e.data for e in email.repository.list_events(ticket.id) if e.type == "csat"]
    assert rating["rating"] == 5
    assert [t.name for t in after.sla.targets if t.state == "pending"] == []  # no clock runs again


def test_a_reopened_ticket_resumes_its_first_response_clock(desk) -> None:
    email, _, sweeper, routing, agents = desk
    ticket = new_routed(email, routing, message_id="<q3@mail.customer.example>")  # due 22:00 (600 min)
    update_ticket(  # resolved unanswered two hours in: eight hours of the target are left
        str(ticket.number), TicketChangeRequest(status="resolved"), "alice", agents, NOON + timedelta(hours=2)
    )
    email.deliver(
        mail(body="It is broken again.", headers={"In-Reply-To": "<q3@mail.customer.example>"}),
        at="2026-03-03T09:00:00.000Z",
    )
    reopened = email.repository.get_ticket(ticket.id)
    assert reopened is not None
    assert reopened.status == "open"
    first = reopened.sla.target("first_response")
    assert first is not None
    assert (first.state, first.due_at) == ("pending", datetime(2026, 3, 3, 17, 0, tzinfo=UTC))
    sweep(sweeper, datetime(2026, 3, 3, 16, 59, tzinfo=UTC))
    sweep(sweeper, datetime(2026, 3, 3, 17, 1, tzinfo=UTC))
    breaches = [e.data for e in email.repository.list_events(ticket.id) if e.type == "sla_breached"]
    assert [(b["target"], b["due_at"]) for b in breaches if b["target"] == "first_response"] == [
        ("first_response", "2026-03-03T17:00:00+00:00")
    ]


@pytest.mark.parametrize(
    ("text", "rating"),
    [
        ("5", 5),
        ("4/5", 4),
        ("3 stars", 3),
        ("1.", 1),
        ("5 - great", 5),
        ("3 people broke it", None),
        ("5\nthanks", 5),
        ("10", None),
        ("It broke again", None),
    ],
)
def test_csat_rating_parsing(text: str, rating: int | None) -> None:
    assert csat_rating(text) == rating


def test_sms_conversation_transcript_goes_to_the_known_email_address(desk) -> None:
    email, outbound, _, _, agents = desk
    from functions.inbound_sms import app as sms_app
    from shared.logic.customers import merge_customers
    from tests.integration.conftest import FakeLambdaContext
    from tests.integration.test_inbound_sms import sms_event

    email.deliver(mail(sender="jane.doe@customer.example", subject="hello"))
    sms = sms_app.handler(sms_event("Is my parcel coming?"), FakeLambdaContext())["results"][0]
    sms_ticket = email.repository.get_ticket(sms["ticket_id"])
    assert sms_ticket is not None
    by_email = next(
        c for c in email.repository.scan_customers() if c.identities and c.identities[0].kind == "email"
    )
    merge_customers(email.repository, sms_ticket.customer_id, by_email.id, by="alice", at=NOON)

    resolved = update_ticket(
        str(sms_ticket.number), TicketChangeRequest(status="resolved"), "alice", agents, NOON
    )
    assert on_resolution(resolved, outbound, NOON) == ["csat: queued", "transcript: queued"]
    transcript = next(o for o in email.repository.list_outbound() if o.kind == "transcript")
    assert (transcript.channel, transcript.to) == ("email", "jane.doe@customer.example")
    # each line: local time with its zone, who wrote (by name, never a phone number), what
    assert "copy of your SMS conversation" in transcript.text
    assert "2026-03-02 10:00 UTC · You: Is my parcel coming?" in transcript.text
    assert "+14255550182:" not in transcript.text


def test_a_suppressed_reminder_leaves_the_ticket_pending_and_flagged_not_auto_resolved(desk) -> None:
    email, _, sweeper, _, agents = desk
    import json

    from tests.integration.test_social_webhook import META_SECRET, call, fixture

    # Given a Messenger ticket put pending an hour after the customer's message
    boto3.client("secretsmanager").put_secret_value(
        SecretId=email.deployment.name("WebhookSecret"),
        SecretString=json.dumps(
            {"meta_app_secret": META_SECRET, "meta_verify_token": "t", "x_consumer_secret": "x"}
        ),
    )
    assert call(fixture("apigw_v2_meta_messenger_post.json"))["statusCode"] == 200
    [ticket] = email.repository.scan_tickets()
    assert ticket.last_inbound_at is not None
    pending_at = ticket.last_inbound_at + timedelta(hours=1)
    update_ticket(str(ticket.number), TicketChangeRequest(status="pending"), "alice", agents, pending_at)

    # When the reminder comes 24 hours later, outside Meta's 24-hour window
    sweep(sweeper, pending_at + timedelta(hours=24, minutes=1))

    # Then it is suppressed, the ticket stays pending and flagged, and nothing closes it
    assert ("reminder", "suppressed") in kinds(email)
    flagged = email.repository.get_ticket(ticket.id)
    assert flagged is not None
    assert (flagged.status, flagged.sla.auto_resolve_at) == ("pending", None)
    assert "needs_attention" in flagged.flags
    [cancelled] = [
        e.data for e in email.repository.list_events(ticket.id) if e.type == "auto_resolve_cancelled"
    ]
    assert "24" in cancelled["why"]
    sweep(sweeper, pending_at + timedelta(hours=80))
    later = email.repository.get_ticket(ticket.id)
    assert later is not None
    assert later.status == "pending"
    assert "auto_resolve" not in [k for k, _ in kinds(email)]
    assert "auto_resolved" not in [e.type for e in email.repository.list_events(ticket.id)]
