"""Agents' replies through the agent API: on another channel of the customer, and Meta's windows
(Messenger's 7 days, WhatsApp's 24 hours and its approved template)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID  # type: ignore[attr-defined]
from moto.ses import ses_backends  # type: ignore[attr-defined]

from shared import clock
from shared.channels.outbound import SesEmailSender
from shared.channels.social_outbound import HttpRequest, HttpResponse, social_senders
from shared.config import load_config
from shared.logic.customers import merge_customers
from shared.logic.outbound import OutboundContext
from shared.logic.outbound_send import send_outbound
from shared.models.ticket import Ticket
from tests.integration.conftest import EmailHarness, FakeLambdaContext, _reset_process_caches, mail
from tests.integration.test_agent_api import call
from tests.integration.test_social_webhook import META_SECRET, meta_post
from tests.integration.test_social_webhook import call as webhook

MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
WHATSAPP_WROTE_AT = datetime.fromtimestamp(1736850102, UTC)  # the fixture's message timestamp
CONFIG = """
teams: [{id: support}]
agents:
  - {id: alice, teams: [support]}
"""
TEMPLATES = """
outbound:
  whatsapp_reply_templates: {en: "agent_reply:en_US", de: "agent_antwort:de"}
  whatsapp_reply_text_limit: 40
"""


@pytest.fixture
def api(email: EmailHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EmailHarness:
    path = tmp_path / "helpdesk.yaml"
    path.write_text(CONFIG)
    monkeypatch.setenv("HELPDESK_CONFIG", str(path))
    boto3.client("secretsmanager").put_secret_value(
        SecretId=email.deployment.name("WebhookSecret"),
        SecretString=json.dumps(
            {"meta_app_secret": META_SECRET, "meta_verify_token": "t", "x_consumer_secret": "x"}
        ),
    )
    boto3.client("ses").verify_domain_identity(Domain="support.example.com")
    _reset_process_caches()
    return email


def with_templates(tmp_path: Path) -> None:
    (tmp_path / "helpdesk.yaml").write_text(CONFIG + TEMPLATES)
    _reset_process_caches()


def at(moment: datetime) -> None:
    clock.set_clock(lambda: moment)


def sms_ticket(api: EmailHarness) -> Ticket:
    from functions.inbound_sms import app as sms_app
    from tests.integration.test_inbound_sms import sms_event

    result = sms_app.handler(sms_event("Where is my parcel?"), FakeLambdaContext())["results"][0]
    ticket = api.repository.get_ticket(result["ticket_id"])
    assert ticket is not None
    return ticket


def social_ticket(api: EmailHarness, body_file: str) -> Ticket:
    assert webhook(meta_post(body_file))["statusCode"] == 200
    [ticket] = api.repository.scan_tickets()
    return ticket


def reply(ticket: Ticket, text: str, channel: str | None = None) -> tuple[int, Any]:
    body: dict[str, Any] = {"text": text}
    if channel is not None:
        body["channel"] = channel
    return call("POST", f"/tickets/{ticket.number}/replies", body)


def sender_context(api: EmailHarness, requests: list[HttpRequest]) -> OutboundContext:
    def graph(request: HttpRequest) -> HttpResponse:  # a fake Graph API
        requests.append(request)
        sent = f"sent{len(requests)}"  # answers as the Send API (message_id) and WhatsApp (messages)
        return HttpResponse(200, json.dumps({"message_id": sent, "messages": [{"id": sent}]}).encode())

    return OutboundContext(
        repository=api.repository,
        config=load_config(None),
        support_addresses=["support@support.example.com"],
        support_domain="support.example.com",
        senders={
            "email": SesEmailSender("us-east-1"),
            **social_senders(lambda channel, account: "token", transport=graph),
        },
    )


def test_sms_ticket_answered_by_email_threads_back_into_the_ticket(api: EmailHarness) -> None:
    # Given an SMS ticket whose customer also has an email identity (an agent merged the two)
    at(MONDAY_10)
    ticket = sms_ticket(api)
    api.deliver(mail(sender="jane.doe@customer.example", subject="Other question"))
    other = next(c for c in api.repository.scan_customers() if c.id != ticket.customer_id)
    merge_customers(api.repository, other.id, ticket.customer_id, by="agent:alice", at=MONDAY_10)

    # When an agent answers the SMS ticket by email
    status, body = reply(ticket, "The details are below.", channel="email")

    # Then it goes to the customer's address with the ticket's token and plus-address
    assert (status, body["channel"], body["to"], body["template"]) == (
        202,
        "email",
        "jane.doe@customer.example",
        None,
    )
    assert send_outbound(body["key"], sender_context(api, []), MONDAY_10) == "sent"
    [sent] = [
        m
        for m in ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
        if "The details are below." in m.raw_data
    ]
    assert f"Subject: Re: [#{ticket.number}] Where is my parcel?" in sent.raw_data
    assert f"Reply-To: support+{ticket.number}@support.example.com" in sent.raw_data
    kept = [m for m in api.repository.list_messages(ticket.id) if m.direction == "outbound"]
    assert [(m.channel, m.text) for m in kept] == [("email", "The details are below.")]

    # And the customer's answer to the plus-address joins the SMS ticket
    answer = api.deliver(
        mail(
            sender="jane.doe@customer.example",
            to=f"support+{ticket.number}@support.example.com",
            subject=f"Re: [#{ticket.number}] Where is my parcel?",
        )
    )
    assert answer["ticket_id"] == ticket.id


def test_whatsapp_ticket_answered_by_sms_from_our_number(api: EmailHarness) -> None:
    # Given a customer who wrote by WhatsApp and earlier by SMS from the same phone
    from functions.inbound_sms import app as sms_app
    from tests.integration.test_inbound_sms import sms_event

    whatsapp = social_ticket(api, "meta_whatsapp_text.body")
    sms_app.handler(
        sms_event("Earlier by SMS", sender="+16505551234", at="2026-03-01T09:00:00.000Z"), FakeLambdaContext()
    )

    # When an agent answers the WhatsApp ticket by SMS
    at(MONDAY_10)
    status, body = reply(whatsapp, "Your refund is on its way.", channel="sms")

    # Then the SMS goes to the customer's phone from the number they texted
    assert (status, body["channel"], body["to"]) == (202, "sms", "+16505551234")
    [queued] = [o for o in api.repository.list_outbound() if o.key == body["key"]]
    assert (queued.ticket_id, queued.from_address) == (whatsapp.id, "+12125550101")


def test_reply_on_a_channel_the_customer_cannot_be_reached_on_is_refused(api: EmailHarness) -> None:
    ticket = sms_ticket(api)

    status, body = reply(ticket, "Hi", channel="email")
    assert status == 400
    assert "has no email identity" in body["detail"]

    status, body = reply(ticket, "Hi", channel="fax")
    assert status == 400
    assert "unknown channel 'fax'" in body["detail"]

    status, body = reply(ticket, "Hi", channel="whatsapp")  # the phone is known, a WhatsApp chat is not
    assert status == 400
    assert "never written to us by whatsapp" in body["detail"]

    assert api.repository.list_outbound() == []


def test_messenger_reply_after_a_week_is_refused_and_within_it_tagged(api: EmailHarness) -> None:
    ticket = social_ticket(api, "meta_messenger_text.body")
    assert ticket.last_inbound_at is not None

    three_days = ticket.last_inbound_at + timedelta(days=3)
    at(three_days)
    status, body = reply(ticket, "Sorry for the wait.")
    assert (status, body["channel"]) == (202, "messenger")
    requests: list[HttpRequest] = []
    assert send_outbound(body["key"], sender_context(api, requests), three_days) == "sent"
    sent = requests[0].json()
    assert (sent["messaging_type"], sent["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")

    at(ticket.last_inbound_at + timedelta(days=8))
    status, body = reply(ticket, "Still there?")
    assert status == 400
    assert "beyond the 7-day human agent window" in body["detail"]
    assert len(api.repository.list_outbound()) == 1


def test_whatsapp_reply_after_24_hours_without_a_template_is_refused(api: EmailHarness) -> None:
    ticket = social_ticket(api, "meta_whatsapp_text.body")

    at(WHATSAPP_WROTE_AT + timedelta(hours=30))
    status, body = reply(ticket, "Your refund is on its way.")

    assert status == 400
    assert "outside WhatsApp's 24-hour customer service window" in body["detail"]
    assert "outbound.whatsapp_reply_templates" in body["detail"]
    assert api.repository.list_outbound() == []


def test_whatsapp_reply_after_24_hours_goes_out_in_the_approved_template(
    api: EmailHarness, tmp_path: Path
) -> None:
    # Given a WhatsApp conversation silent for 30 hours and a reply template configured
    with_templates(tmp_path)
    ticket = social_ticket(api, "meta_whatsapp_text.body")
    at(WHATSAPP_WROTE_AT + timedelta(hours=30))

    # When an agent replies with a long, multi-line text
    status, body = reply(ticket, "Good news:\n\nyour refund was approved\tand is on its way to you today.")

    # Then the reply is queued in the template, the text flattened and cut to the configured limit
    assert (status, body["template"]) == (202, "agent_reply:en_US")
    requests: list[HttpRequest] = []
    assert send_outbound(body["key"], sender_context(api, requests), WHATSAPP_WROTE_AT) == "sent"
    [request] = requests
    payload = request.json()
    assert payload["type"] == "template"
    assert payload["template"]["name"] == "agent_reply"
    assert payload["template"]["language"] == {"code": "en_US"}
    [component] = payload["template"]["components"]
    [parameter] = component["parameters"]
    assert parameter["text"] == "Good news: your refund was approved and…"
    assert len(parameter["text"]) <= 40
    kept = [m for m in api.repository.list_messages(ticket.id) if m.direction == "outbound"]
    assert [(m.text, m.headers.get("template")) for m in kept] == [
        ("Good news: your refund was approved and…", "agent_reply:en_US")
    ]


def test_whatsapp_reply_inside_24_hours_is_free_form_text(api: EmailHarness, tmp_path: Path) -> None:
    with_templates(tmp_path)
    ticket = social_ticket(api, "meta_whatsapp_text.body")
    at(WHATSAPP_WROTE_AT + timedelta(hours=2))

    status, body = reply(ticket, "Your refund is on its way.\n\nBest, Alice")

    assert (status, body["template"]) == (202, None)
    requests: list[HttpRequest] = []
    assert send_outbound(body["key"], sender_context(api, requests), WHATSAPP_WROTE_AT) == "sent"
    assert requests[0].json()["text"]["body"] == "Your refund is on its way.\n\nBest, Alice"


def test_sms_reply_to_a_customer_who_opted_out_is_refused(api: EmailHarness) -> None:
    from functions.inbound_sms import app as sms_app
    from tests.integration.test_inbound_sms import sms_event

    ticket = sms_ticket(api)
    sms_app.handler(sms_event("STOP", at="2026-03-02T10:01:00.000Z"), FakeLambdaContext())

    status, body = reply(ticket, "Your parcel arrives tomorrow.")

    assert status == 400
    assert "opted out of SMS" in body["detail"]
    assert [o.kind for o in api.repository.list_outbound() if o.kind == "reply"] == []


def test_sms_reply_longer_than_one_send_is_refused_with_the_count(api: EmailHarness) -> None:
    ticket = sms_ticket(api)

    status, body = reply(ticket, "word " * 400)  # 2,000 characters

    assert status == 400
    assert "at most 1,600 characters" in body["detail"]
    assert "2,000" in body["detail"]
    assert api.repository.list_outbound() == []


def test_an_agents_sent_reply_is_in_their_audit_trail(api: EmailHarness) -> None:
    # Given an email ticket answered by alice, and the reply sent
    at(MONDAY_10)
    created = api.deliver(mail(subject="Where is my parcel?"))
    ticket = api.repository.get_ticket(created["ticket_id"])
    assert ticket is not None
    status, body = call(
        "POST", f"/tickets/{ticket.number}/replies", {"text": "It ships today."}, agent="alice"
    )
    assert status == 202
    assert call("GET", "/agents/alice/actions", agent="alice")[1]["actions"] == []  # queued, not sent yet
    assert send_outbound(body["key"], sender_context(api, []), MONDAY_10) == "sent"

    # When alice's actions are listed
    status, page = call("GET", "/agents/alice/actions", agent="alice")

    # Then the reply is there, as sent, naming her and the ticket
    assert status == 200
    [action] = page["actions"]
    assert action["ticket_id"] == ticket.id
    assert (action["event"]["type"], action["event"]["data"]["by"], action["event"]["data"]["kind"]) == (
        "message_sent",
        "alice",
        "reply",
    )
