"""inbound_sms end to end: End User Messaging SNS events into the real handler, on moto."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from functions.inbound_sms import app
from shared.dal.repository import DynamoRepository
from shared.errors import InvalidEventError
from simulator.resources import Deployment
from tests.integration.conftest import FakeLambdaContext

WEBHOOKS = Path(__file__).resolve().parents[1] / "events" / "webhooks"


@pytest.fixture
def repo(deployment: Deployment) -> DynamoRepository:
    return DynamoRepository(deployment.name("TicketsTable"), "us-east-1")


def sms_event(
    body: str,
    *,
    sender: str = "+14255550182",
    message_id: str | None = None,
    at: str = "2026-03-02T10:00:00.000Z",
) -> dict[str, Any]:
    event = json.loads((WEBHOOKS / "sns_sms_inbound.json").read_text())
    record = event["Records"][0]["Sns"]
    payload = json.loads(record["Message"])
    payload.update(
        {
            "originationNumber": sender,
            "messageBody": body,
            "inboundMessageId": message_id or str(uuid.uuid4()),
        }
    )
    record["Message"] = json.dumps(payload)
    record["MessageId"] = str(uuid.uuid4())
    record["Timestamp"] = at
    return event


def send(event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = app.handler(event, FakeLambdaContext())["results"][0]
    return result


def test_documented_fixture_opens_an_sms_ticket(repo: DynamoRepository) -> None:
    result = send(json.loads((WEBHOOKS / "sns_sms_inbound.json").read_text()))
    assert result["outcome"] == "created"
    [ticket] = repo.scan_tickets()
    assert (ticket.channel, ticket.subject, ticket.status) == ("sms", None, "new")
    [message] = repo.list_messages(ticket.id)
    assert message.text == "Hi, my package #4821 is late. Can you check?"
    assert message.author == "+14255550182"
    customer = repo.get_customer(ticket.customer_id)
    assert customer is not None
    assert [(i.kind, i.value) for i in customer.identities] == [("phone", "+14255550182")]


def test_messages_of_a_conversation_join_its_open_ticket(repo: DynamoRepository) -> None:
    send(sms_event("My package is late"))
    second = send(sms_event("Order 4821", at="2026-03-02T10:05:00.000Z"))
    assert (second["outcome"], second["ticket_number"]) == ("threaded", 1)
    [ticket] = repo.scan_tickets()
    assert [m.text for m in repo.list_messages(ticket.id)] == ["My package is late", "Order 4821"]


def test_redelivered_sms_is_stored_once(repo: DynamoRepository) -> None:
    event = sms_event("Hello", message_id="fixed-id")
    assert [send(copy.deepcopy(event))["outcome"] for _ in range(2)] == ["created", "duplicate"]
    assert len(repo.list_messages(repo.scan_tickets()[0].id)) == 1


def test_after_resolution_a_message_reopens_within_window_and_later_opens_new(repo: DynamoRepository) -> None:
    send(sms_event("First", at="2026-03-02T10:00:00.000Z"))
    ticket = repo.scan_tickets()[0]
    repo.set_status(ticket.id, "resolved", ticket.created_at, ticket.version)
    reopened = send(sms_event("Still broken", at="2026-03-03T10:00:00.000Z"))
    assert reopened["outcome"] == "threaded"
    assert repo.get_ticket(ticket.id).status == "open"  # type: ignore[union-attr]

    current = repo.get_ticket(ticket.id)
    assert current is not None
    repo.set_status(current.id, "resolved", current.updated_at, current.version)
    later = send(sms_event("New question", at="2026-03-20T10:00:00.000Z"))
    assert (later["outcome"], later["ticket_number"]) == ("created", 2)
    assert repo.scan_tickets()[1].linked_ticket_id == ticket.id


@pytest.mark.parametrize("keyword", ["STOP", "stop", "Unsubscribe", "OPT-OUT", "ARRET", "td"])
def test_opt_out_keywords_are_recorded_and_open_no_ticket(repo: DynamoRepository, keyword: str) -> None:
    result = send(sms_event(keyword))
    assert result["outcome"] == "consent:opt_out"
    assert repo.scan_tickets() == []
    customer = repo.get_customer(result["customer_id"])
    assert customer is not None
    assert customer.opted_out == ["sms"]
    assert customer.consent[0].keyword == keyword.upper()


def test_start_opts_back_in_and_help_is_recorded(repo: DynamoRepository) -> None:
    send(sms_event("Hi there"))
    send(sms_event("STOP", at="2026-03-02T11:00:00.000Z"))
    result = send(sms_event("START", at="2026-03-02T12:00:00.000Z"))
    send(sms_event("HELP", at="2026-03-02T13:00:00.000Z"))
    customer = repo.get_customer(result["customer_id"])
    assert customer is not None
    assert customer.opted_out == []
    assert [(c.action, c.keyword) for c in customer.consent] == [
        ("opt_out", "STOP"),
        ("opt_in", "START"),
        ("help", "HELP"),
    ]
    assert len(repo.scan_tickets()) == 1  # only the first, real message opened a ticket


def test_invalid_number_is_quarantined_with_the_raw_payload(repo: DynamoRepository) -> None:
    result = send(sms_event("Hello", sender="not-a-number"))
    assert result == {"outcome": "quarantined", "reason": "invalid-phone-number"}
    [entry] = repo.list_quarantine()
    assert "not-a-number" in entry.details["raw"]
    assert repo.scan_tickets() == []


def test_malformed_message_is_quarantined(repo: DynamoRepository) -> None:
    event = sms_event("x")
    event["Records"][0]["Sns"]["Message"] = "{not json"
    assert send(event)["outcome"] == "quarantined"
    assert [q.reason for q in repo.list_quarantine()] == ["malformed-sms"]


def test_non_sns_event_fails_for_retry_and_dead_letter(repo: DynamoRepository) -> None:
    with pytest.raises(InvalidEventError):
        app.handler({"Records": [{"foo": "bar"}]}, FakeLambdaContext())


def test_mms_media_become_attachments(repo: DynamoRepository) -> None:
    send(json.loads((WEBHOOKS / "sns_sms_mms.json").read_text()))
    [ticket] = repo.scan_tickets()
    [message] = repo.list_messages(ticket.id)
    assert message.attachments
    assert all(a.url for a in message.attachments)
