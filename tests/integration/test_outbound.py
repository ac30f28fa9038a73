"""Outbound on moto: acknowledgements with loop guards, agent replies, the outbox sends once."""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID  # type: ignore[attr-defined]
from moto.ses import ses_backends  # type: ignore[attr-defined]
from moto.sns import sns_backends  # type: ignore[attr-defined]

from shared.channels.outbound import SendError, SesEmailSender, SnsSmsSender
from shared.config import load_config
from shared.logic.agent_replies import add_note, agent_reply
from shared.logic.automatic import acknowledge
from shared.logic.outbound import OutboundContext
from shared.logic.outbound_send import send_outbound
from shared.logic.route_ticket import RoutingContext, route_new_ticket
from shared.models.outbound import OutboundMessage
from tests.integration.conftest import EmailHarness, FakeLambdaContext, mail, outbound_context, use_config

MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
CONFIG = """
calendars:
  default: {timezone: Europe/Berlin, hours: {mon: ["09:00-17:00"], tue: ["09:00-17:00"], wed: ["09:00-17:00"], thu: ["09:00-17:00"], fri: ["09:00-17:00"]}}
teams: [{id: support}]
agents: [{id: alice, teams: [support], default_presence: online}]
sla:
  policies:
    - {name: email, when: {channel: [email]}, first_response: {minutes: 120}}
    - {name: sms, when: {channel: [sms]}, first_response: {minutes: 30, business: false}}
followups: {min_interval_minutes: 60}
"""


@pytest.fixture
def outbound(email: EmailHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> OutboundContext:
    config = use_config(CONFIG, tmp_path, monkeypatch)
    senders = {"email": SesEmailSender("us-east-1"), "sms": SnsSmsSender()}
    return outbound_context(email.repository, config, senders)


def sent_mail() -> list[email.message.EmailMessage]:
    return [
        email.message_from_string(m.raw_data, policy=policy.default)  # type: ignore[misc]
        for m in ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    ]


def ticket_of(harness: EmailHarness, result: dict[str, Any]):
    ticket = harness.repository.get_ticket(result["ticket_id"])
    assert ticket is not None
    return ticket


def routed(harness: EmailHarness, ticket: Any, outbound: OutboundContext, now: datetime) -> Any:
    """The ticket as routing leaves it (team, priority, planned SLA): what gets acknowledged."""
    route_new_ticket(ticket, RoutingContext(repository=harness.repository, config=outbound.config), now)
    found = harness.repository.get_ticket(ticket.id)
    assert found is not None
    return found


def test_new_ticket_is_acknowledged_once_with_number_time_and_threading(
    email: EmailHarness, outbound
) -> None:
    ticket = ticket_of(email, email.deliver(mail(message_id="<first@mail.customer.example>")))
    ticket = routed(email, ticket, outbound, MONDAY_10)
    queued, why = acknowledge(ticket, outbound, MONDAY_10)
    assert why == "queued"
    assert queued is not None
    assert acknowledge(ticket, outbound, MONDAY_10) == (None, "already acknowledged")
    assert send_outbound(queued.key, outbound, MONDAY_10) == "sent"
    assert send_outbound(queued.key, outbound, MONDAY_10) == "skipped"  # a redelivered record sends nothing

    [ack] = sent_mail()
    assert ack["Subject"] == "[#1] We have your message: Printer not working"
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["In-Reply-To"] == "<first@mail.customer.example>"
    assert ack["Reply-To"] == "support+1@support.example.com"
    body = ack.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "ticket #1" in body
    # the ticket's first-response due time: two business hours in Berlin from its creation (10:16 CET)
    assert "by Mon 02 Mar, 12:16" in body
    assert queued.promised_due_at == datetime(2026, 3, 2, 11, 16, 2, 412000, tzinfo=UTC)
    stored = email.repository.list_messages(ticket.id)[-1]
    assert (stored.direction, stored.automatic) == ("outbound", True)

    # the customer's reply to the acknowledgement threads into the ticket by its SES Message-ID
    reply = email.deliver(mail(subject="Re: thanks", headers={"In-Reply-To": stored.external_id or ""}))
    assert (reply["outcome"], reply["ticket_number"]) == ("threaded", 1)


def test_acknowledgement_when_closed_says_when_we_open(email: EmailHarness, outbound) -> None:
    saturday = datetime(2026, 3, 7, 10, 0, tzinfo=UTC)
    ticket = ticket_of(email, email.deliver(mail(), at="2026-03-07T10:00:00.000Z"))
    queued, _ = acknowledge(routed(email, ticket, outbound, saturday), outbound, saturday)
    assert queued is not None
    assert "We are closed right now" in queued.text
    # Saturday: we open Monday at 09:00 Berlin time and answer within two business hours
    assert "we will answer from Mon 09 Mar, 09:00 CET, by Mon 09 Mar, 11:00 CET at the latest" in queued.text


def test_acknowledgement_in_the_customers_language(email: EmailHarness, outbound) -> None:
    ticket = ticket_of(email, email.deliver(mail()))
    german = ticket.model_copy(update={"language": "de"})
    queued, _ = acknowledge(german, outbound, MONDAY_10)
    assert queued is not None
    assert queued.subject is not None
    assert queued.subject.startswith("[#1] Ihre Nachricht ist bei uns")


def test_no_acknowledgement_to_automatic_mail_or_within_the_interval(email: EmailHarness, outbound) -> None:
    newsletter = ticket_of(
        email, email.deliver(mail(sender="news@vendor.example", headers={"List-Id": "<news>"}))
    )
    assert acknowledge(newsletter, outbound, MONDAY_10) == (
        None,
        "the customer's message was automatic (auto-reply, list or bounce)",
    )
    first = ticket_of(email, email.deliver(mail(subject="one")))
    second = ticket_of(email, email.deliver(mail(subject="two")))
    assert acknowledge(first, outbound, MONDAY_10)[0] is not None
    assert acknowledge(second, outbound, MONDAY_10 + timedelta(minutes=5))[0] is None
    assert "followup_suppressed" in [e.type for e in email.repository.list_events(second.id)]


def test_loop_storm_an_auto_responder_gets_at_most_one_automatic_message(
    email: EmailHarness, outbound
) -> None:
    # A naive auto-responder (no Auto-Submitted header) answers every message we send with a new mail
    for i in range(5):
        result = email.deliver(mail(sender="robot@naive.example", subject=f"I got your mail {i}"))
        queued, _ = acknowledge(ticket_of(email, result), outbound, MONDAY_10 + timedelta(minutes=i))
        if queued is not None:
            send_outbound(queued.key, outbound, MONDAY_10 + timedelta(minutes=i))
    assert len([m for m in sent_mail() if m["To"] == "robot@naive.example"]) == 1


def test_agent_reply_is_sent_threaded_and_meets_the_first_response(email: EmailHarness, outbound) -> None:
    routing = RoutingContext(repository=email.repository, config=outbound.config)
    ticket = ticket_of(email, email.deliver(mail(message_id="<q@mail.customer.example>")))
    route_new_ticket(ticket, routing, MONDAY_10)
    routed = email.repository.get_ticket(ticket.id)
    assert routed is not None
    reply = agent_reply(
        routed, "Please restart the printer.", "alice", outbound, MONDAY_10 + timedelta(minutes=20)
    )
    assert send_outbound(reply.key, outbound, MONDAY_10 + timedelta(minutes=20)) == "sent"
    [sent] = sent_mail()
    assert sent["Auto-Submitted"] is None
    assert sent["In-Reply-To"] == "<q@mail.customer.example>"
    after = email.repository.get_ticket(ticket.id)
    assert after is not None
    first = after.sla.target("first_response")
    assert first is not None
    assert (first.state, first.met_at) == ("met", MONDAY_10 + timedelta(minutes=20))


def test_sms_reply_goes_from_the_number_the_customer_wrote_to(email: EmailHarness, outbound) -> None:
    from functions.inbound_sms import app as sms_app
    from tests.integration.test_inbound_sms import sms_event

    result = sms_app.handler(sms_event("Where is my parcel?"), FakeLambdaContext())["results"][0]
    ticket = email.repository.get_ticket(result["ticket_id"])
    assert ticket is not None
    reply = agent_reply(ticket, "It arrives tomorrow.", "alice", outbound, MONDAY_10)
    assert (reply.to, reply.from_address, reply.segments) == ("+14255550182", "+12125550101", 1)
    assert send_outbound(reply.key, outbound, MONDAY_10) == "sent"
    sms = list(sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages.values())
    assert sms == [("+14255550182", "It arrives tomorrow.")]


def test_sms_reply_through_end_user_messaging_when_the_config_says_so(email: EmailHarness, outbound) -> None:
    # Given the config's choice of End User Messaging (moto has none: botocore's Stubber checks the
    # request against the service model and answers it)
    from botocore.stub import Stubber

    from functions.auto_followup.app import sms_sender
    from functions.inbound_sms import app as sms_app
    from shared.channels.eum import EumSmsSender
    from shared.config import parse_config
    from tests.integration.test_inbound_sms import sms_event

    assert isinstance(sms_sender(parse_config("teams: [{id: support}]")), SnsSmsSender)
    chosen = sms_sender(
        parse_config("outbound: {sms_sender: end_user_messaging, sms_configuration_set: desk}")
    )
    assert isinstance(chosen, EumSmsSender)
    client = boto3.client("pinpoint-sms-voice-v2")
    outbound.senders["sms"] = EumSmsSender(client, configuration_set=chosen.configuration_set)
    result = sms_app.handler(sms_event("Where is my parcel?"), FakeLambdaContext())["results"][0]
    ticket = email.repository.get_ticket(result["ticket_id"])
    assert ticket is not None
    reply = agent_reply(ticket, "It arrives tomorrow.", "alice", outbound, MONDAY_10)

    # When the outbox sends it
    with Stubber(client) as stub:
        stub.add_response(
            "send_text_message",
            {"MessageId": "eum-0001"},
            {
                "DestinationPhoneNumber": "+14255550182",
                "OriginationIdentity": "+12125550101",
                "MessageBody": "It arrives tomorrow.",
                "MessageType": "TRANSACTIONAL",
                "Context": {"outbox_key": reply.key, "ticket_id": ticket.id},
                "ConfigurationSetName": "desk",
            },
        )
        assert send_outbound(reply.key, outbound, MONDAY_10) == "sent"

    # Then it went from the number the customer wrote to, and the message keeps its provider id
    sent = [m for m in email.repository.list_messages(ticket.id) if m.direction == "outbound"]
    assert [(m.text, m.provider_id) for m in sent] == [("It arrives tomorrow.", "eum-0001")]
    assert sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages == {}  # nothing went through SNS


def test_opted_out_sms_customer_gets_no_automatic_message(email: EmailHarness, outbound) -> None:
    from functions.inbound_sms import app as sms_app
    from tests.integration.test_inbound_sms import sms_event

    result = sms_app.handler(sms_event("Hi"), FakeLambdaContext())["results"][0]
    sms_app.handler(sms_event("STOP", at="2026-03-02T10:01:00.000Z"), FakeLambdaContext())
    ticket = email.repository.get_ticket(result["ticket_id"])
    assert ticket is not None
    assert acknowledge(ticket, outbound, MONDAY_10 + timedelta(minutes=2)) == (
        None,
        "the customer opted out of sms",
    )


class FlakySender:
    def __init__(self, failures: int, permanent: bool = False) -> None:
        self.failures, self.permanent, self.calls = failures, permanent, 0

    def send(self, message: OutboundMessage) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise SendError("Throttling: slow down", permanent=self.permanent)
        return "<ok@email.amazonses.com>"


def test_transient_failure_is_retried_with_backoff(email: EmailHarness, outbound) -> None:
    flaky = FlakySender(failures=1)
    outbound.senders["email"] = flaky
    ticket = ticket_of(email, email.deliver(mail()))
    reply = agent_reply(ticket, "Hello", "alice", outbound, MONDAY_10)
    assert send_outbound(reply.key, outbound, MONDAY_10) == "retry"
    assert email.repository.requeue_due_outbound(MONDAY_10) == 0  # not yet: backing off
    from shared import clock

    clock.set_clock(lambda: MONDAY_10)
    assert email.repository.requeue_due_outbound(datetime.now(UTC) + timedelta(minutes=3)) == 1
    assert send_outbound(reply.key, outbound, MONDAY_10 + timedelta(minutes=3)) == "sent"
    assert flaky.calls == 2


def test_transient_failures_give_up_after_the_configured_attempts(
    email: EmailHarness, outbound, tmp_path: Path
) -> None:
    from shared import clock

    # Given a provider that keeps throttling and a cap of three attempts
    (tmp_path / "capped.yaml").write_text(CONFIG + "outbound: {max_send_attempts: 3}\n")
    outbound.config = load_config(str(tmp_path / "capped.yaml"))
    throttled = FlakySender(failures=99)
    outbound.senders["email"] = throttled
    ticket = ticket_of(email, email.deliver(mail()))
    reply = agent_reply(ticket, "Hello", "alice", outbound, MONDAY_10)

    # When each retry comes due and fails again
    outcomes = []
    for hour in range(4):
        now = MONDAY_10 + timedelta(hours=hour)
        clock.set_clock(lambda at=now: at)
        outcomes.append(send_outbound(reply.key, outbound, now))
        email.repository.requeue_due_outbound(now + timedelta(hours=1))

    # Then the third attempt gives up: failed for good, flagged for agents like a permanent failure
    assert outcomes == ["retry", "retry", "failed", "skipped"]
    assert throttled.calls == 3
    [item] = email.repository.list_outbound()
    assert item.status == "failed"
    assert item.error is not None
    assert item.error.startswith("gave up after 3 attempts")
    flagged = email.repository.get_ticket(ticket.id)
    assert flagged is not None
    assert "delivery_failed" in flagged.flags
    events = [e for e in email.repository.list_events(ticket.id) if e.type.startswith("delivery_")]
    assert [(e.type, e.data["attempt"]) for e in events] == [
        ("delivery_retry", 1),
        ("delivery_retry", 2),
        ("delivery_failed", 3),
    ]
    assert "Throttling: slow down" in events[-1].data["error"]


def test_permanent_failure_is_flagged_on_the_ticket(email: EmailHarness, outbound) -> None:
    outbound.senders["email"] = FlakySender(failures=9, permanent=True)
    ticket = ticket_of(email, email.deliver(mail()))
    reply = agent_reply(ticket, "Hello", "alice", outbound, MONDAY_10)
    assert send_outbound(reply.key, outbound, MONDAY_10) == "failed"
    flagged = email.repository.get_ticket(ticket.id)
    assert flagged is not None
    assert "delivery_failed" in flagged.flags
    assert [e.type for e in email.repository.list_events(ticket.id)][-1] == "delivery_failed"


def test_a_ticket_is_flagged_once_however_many_messages_fail(email: EmailHarness, outbound) -> None:
    outbound.senders["email"] = FlakySender(failures=9, permanent=True)
    ticket = ticket_of(email, email.deliver(mail()))
    for text in ("Hello", "Are you there?"):
        reply = agent_reply(ticket, text, "alice", outbound, MONDAY_10)
        assert send_outbound(reply.key, outbound, MONDAY_10) == "failed"
    flagged = email.repository.get_ticket(ticket.id)
    assert flagged is not None
    assert flagged.flags.count("delivery_failed") == 1
    failures = [e for e in email.repository.list_events(ticket.id) if e.type == "delivery_failed"]
    assert len(failures) == 2  # each failure is still in the history


def test_note_is_kept_for_agents_and_never_sent(email: EmailHarness, outbound) -> None:
    ticket = ticket_of(email, email.deliver(mail()))
    add_note(ticket, "Customer is on the premium plan.", "alice", outbound, MONDAY_10)
    note = email.repository.list_messages(ticket.id)[-1]
    assert (note.direction, note.text) == ("note", "Customer is on the premium plan.")
    assert sent_mail() == []
    assert email.repository.list_outbound() == []


def test_auto_followup_handler_acknowledges_from_the_stream(
    email: EmailHarness, outbound, deployment
) -> None:
    from functions.auto_followup import app
    from functions.route_ticket import app as route_app
    from tests.integration.test_route_ticket import _stream_event

    app._outbound_context.cache_clear()
    cursor: dict[str, str] = {}
    _stream_event(deployment, cursor)
    routing_cursor = dict(cursor)
    email.deliver(mail())
    # route_ticket reads the same stream: it gives the ticket its team and SLA
    assert route_app.handler(_stream_event(deployment, routing_cursor), FakeLambdaContext()) == {
        "batchItemFailures": []
    }
    for _ in range(2):  # the ticket (acknowledged once routed), then the outbox record it queued
        event = _stream_event(deployment, cursor, "AutoFollowupFunction")
        assert event["Records"]
        assert app.handler(event, FakeLambdaContext()) == {"batchItemFailures": []}
    assert len(sent_mail()) == 1
    assert json.loads(json.dumps([o.status for o in email.repository.list_outbound()])) == ["sent"]


def test_messenger_reply_uses_the_send_api_inside_the_window_and_acks_respect_it(
    email: EmailHarness, outbound
) -> None:
    from shared.channels.social_outbound import HttpResponse, social_senders
    from tests.integration.test_social_webhook import META_SECRET, call, fixture

    boto3.client("secretsmanager").put_secret_value(
        SecretId=email.deployment.name("WebhookSecret"),
        SecretString=json.dumps(
            {"meta_app_secret": META_SECRET, "meta_verify_token": "t", "x_consumer_secret": "x"}
        ),
    )
    assert call(fixture("apigw_v2_meta_messenger_post.json"))["statusCode"] == 200
    [ticket] = email.repository.scan_tickets()
    assert ticket.last_inbound_at is not None
    requests: list[Any] = []

    def graph(request):  # a fake Graph API
        requests.append(request)
        return HttpResponse(
            200, json.dumps({"recipient_id": "7392015648120394", "message_id": "m_sent_1"}).encode()
        )

    outbound.senders.update(social_senders(lambda channel, account: "page-token", transport=graph))
    now = ticket.last_inbound_at + timedelta(hours=2)
    from shared import clock

    clock.set_clock(lambda: now)
    reply = agent_reply(ticket, "Your order ships today.", "alice", outbound, now)
    outcome = send_outbound(reply.key, outbound, now)
    assert outcome == "sent", [e.data for e in email.repository.list_events(ticket.id)]
    body = json.loads(requests[0].body)
    assert (body["recipient"]["id"], body["messaging_type"], body["message"]["text"]) == (
        "7392015648120394",
        "RESPONSE",
        "Your order ships today.",
    )
    assert requests[0].headers["Authorization"] == "Bearer page-token"

    # two days later an automatic message may not go out on Messenger any more
    later = ticket.last_inbound_at + timedelta(days=2)
    queued, why = acknowledge(ticket, outbound, later)
    assert queued is None
    assert "24" in why
