"""Input DynamoDB cannot store as received is bounded or quarantined, never retried in a loop or lost.

Each test goes through the real handler on moto, with events shaped as AWS sends them.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from functions.inbound_sms import app as sms_app
from functions.social_webhook import app as webhook_app
from shared.dal.repository import DynamoRepository
from shared.logic.bounds import MAX_ATTACHMENTS, SUBJECT_MAX_BYTES
from simulator.resources import Deployment
from tests.integration.conftest import EmailHarness, FakeLambdaContext, mail

WEBHOOKS = Path(__file__).resolve().parents[1] / "events" / "webhooks"
META_SECRET = "test-meta-app-secret"


@pytest.fixture
def repo(deployment: Deployment) -> DynamoRepository:
    boto3.client("secretsmanager").put_secret_value(
        SecretId=deployment.name("WebhookSecret"),
        SecretString=json.dumps(
            {"meta_app_secret": META_SECRET, "meta_verify_token": "t", "x_consumer_secret": "x"}
        ),
    )
    return DynamoRepository(deployment.name("TicketsTable"), "us-east-1")


def _all_messages(repo: DynamoRepository) -> list[Any]:
    return [m for t in repo.scan_tickets() for m in repo.list_messages(t.id)]


# -- email ---------------------------------------------------------------------------------------


def test_email_whose_item_would_exceed_400_kb_is_stored_with_its_subject_truncated(
    email: EmailHarness,
) -> None:
    # Given an email with a 450 KB subject (of 4-byte characters: they count 4 each)
    raw = mail(subject="\U0001f600" * 112_500)

    # When SES delivers it
    result = email.deliver(raw)

    # Then it is stored on ticket 1, the subject cut to the bound in bytes and flagged
    assert (result["outcome"], result["ticket_number"]) == ("created", 1)
    [ticket] = email.repository.scan_tickets()
    [message] = email.repository.list_messages(ticket.id)
    assert ticket.subject is not None
    assert 0 < len(ticket.subject.encode()) <= SUBJECT_MAX_BYTES
    assert set(ticket.subject) == {"\U0001f600"}
    assert message.subject == ticket.subject
    assert "subject_truncated" in message.flags
    # and the whole raw mail is still in S3
    assert message.raw_key is not None
    kept = boto3.client("s3").get_object(Bucket=email.bucket, Key=message.raw_key)["Body"].read()
    assert kept == raw
    # and no ticket number was spent on retries
    assert email.deliver(mail())["ticket_number"] == 2


def test_email_with_a_3000_character_message_id_is_stored_and_threads(email: EmailHarness) -> None:
    long_id = "<" + "a" * 3000 + "@mail.customer.example>"
    first = email.deliver(mail(message_id=long_id))
    assert first["outcome"] == "created"

    # a second SES delivery of the same mail is a duplicate, a reply to it joins its ticket
    assert email.deliver(mail(message_id=long_id))["outcome"] == "duplicate"
    reply = email.deliver(mail(subject="Re: Printer", headers={"In-Reply-To": long_id}))
    assert (reply["outcome"], reply["ticket_id"]) == ("threaded", first["ticket_id"])
    [ticket] = email.repository.scan_tickets()
    assert len(email.repository.list_messages(ticket.id)) == 2


def test_email_from_a_3000_character_address_is_stored_and_keeps_its_customer(email: EmailHarness) -> None:
    sender = "j" * 3000 + "@customer.example"
    first = email.deliver(mail(sender=f"Jane <{sender}>"))
    second = email.deliver(mail(sender=f"Jane <{sender}>", subject="Another question"))
    assert (first["outcome"], second["outcome"]) == ("created", "created")
    tickets = email.repository.scan_tickets()
    assert len({t.customer_id for t in tickets}) == 1
    assert _all_messages(email.repository)[0].author == sender


def test_email_with_3000_attachments_stores_the_first_and_lists_the_rest(email: EmailHarness) -> None:
    parts = [b"--m\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nAll my receipts.\r\n"]
    parts += [
        b"--m\r\nContent-Type: application/octet-stream\r\n"
        b'Content-Disposition: attachment; filename="receipt-%04d.bin"\r\n\r\nr%04d\r\n' % (i, i)
        for i in range(3000)
    ]
    raw = (
        b"From: Jane <jane.doe@customer.example>\r\nTo: support@support.example.com\r\n"
        b"Subject: Receipts\r\nMessage-ID: <many@customer.example>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="m"\r\n\r\n' + b"".join(parts) + b"--m--\r\n"
    )
    assert email.deliver(raw)["outcome"] == "created"
    [message] = _all_messages(email.repository)
    assert len(message.attachments) == MAX_ATTACHMENTS
    assert message.attachments[0].name == "receipt-0000.bin"
    assert "attachments_omitted" in message.flags
    assert message.headers["omitted_attachments"].startswith(
        f"{3000 - MAX_ATTACHMENTS}: receipt-{MAX_ATTACHMENTS:04d}.bin"
    )


def test_email_dynamodb_refuses_is_quarantined_once_with_its_raw_mail_in_s3(email: EmailHarness) -> None:
    # Given an email copied to 12,000 addresses: its ticket (participants) would exceed 400 KB
    cc = ", ".join(f"person{i:05d}@copied.customer.example" for i in range(12_000))
    raw = mail(cc=cc)
    notification = email.notification(raw, ses_id="ses-too-big")

    # When SES delivers it, and Lambda delivers the notification again
    first = email.invoke(email.sns_event(notification))["results"][0]
    again = email.invoke(email.sns_event(notification))["results"][0]

    # Then it is quarantined once, with the reason, and its raw mail is still in S3
    assert (first["outcome"], first["reason"]) == ("quarantined", "write-rejected")
    assert again["outcome"] == "duplicate"
    [entry] = email.repository.list_quarantine()
    assert entry.raw_key == "raw/ses-too-big"
    assert "Item size" in entry.details["error"]
    kept = boto3.client("s3").get_object(Bucket=email.bucket, Key=entry.raw_key)["Body"].read()
    assert kept == raw
    assert email.repository.scan_tickets() == []
    # and the refusal was not retried in a loop: it spent one ticket number (taken before the write)
    assert email.deliver(mail())["ticket_number"] == 2


def test_a_different_email_reusing_a_message_id_is_a_new_flagged_message(email: EmailHarness) -> None:
    reused = "<reused@mail.customer.example>"
    first = email.deliver(mail(message_id=reused, body="My printer is broken.\n"))
    second = email.deliver(mail(message_id=reused, subject="Invoice", body="Where is my invoice?\n"))
    assert first["outcome"] == "created"
    assert second["outcome"] in {"created", "threaded"}
    assert "message_id_reused" in second["flags"]
    texts = sorted(m.text.strip() for m in _all_messages(email.repository))
    assert texts == ["My printer is broken.", "Where is my invoice?"]
    # and the same content again, through another SES delivery, is a duplicate
    assert email.deliver(mail(message_id=reused, subject="Invoice", body="Where is my invoice?\n"))[
        "outcome"
    ] == ("duplicate")


# -- SMS -----------------------------------------------------------------------------------------


def _sms(body: str, message_id: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((WEBHOOKS / "sns_sms_inbound.json").read_text())
    record = event["Records"][0]["Sns"]
    payload = json.loads(record["Message"])
    payload.update({"messageBody": body, "inboundMessageId": message_id})
    record["Message"] = json.dumps(payload)  # json escapes a lone surrogate as \ud800, as SNS does
    record["MessageId"] = f"sns-{message_id}"
    return event


def test_sms_with_a_lone_surrogate_is_stored_with_the_character_replaced(repo: DynamoRepository) -> None:
    result = sms_app.handler(_sms("broken \ud800 text", "sms-surrogate"), FakeLambdaContext())["results"][0]
    assert result["outcome"] == "created"
    assert "text_repaired" in result["flags"]
    [message] = _all_messages(repo)
    assert message.text == "broken \ufffd text"
    # a redelivery is still a duplicate
    again = sms_app.handler(_sms("broken \ud800 text", "sms-surrogate"), FakeLambdaContext())["results"][0]
    assert again["outcome"] == "duplicate"


# -- Meta ----------------------------------------------------------------------------------------


def _messaging(mid: str, text: str, timestamp: int = 1736849702523) -> dict[str, Any]:
    return {
        "sender": {"id": "7392015648120394"},
        "recipient": {"id": "102938475610293"},
        "timestamp": timestamp,
        "message": {"mid": mid, "text": text},
    }


def _meta_event(messaging: list[dict[str, Any]]) -> dict[str, Any]:
    body = {
        "object": "page",
        "entry": [{"id": "102938475610293", "time": 1736849702871, "messaging": messaging}],
    }
    raw = json.dumps(body).encode()
    event: dict[str, Any] = json.loads((WEBHOOKS / "apigw_v2_meta_messenger_post.json").read_text())
    event["body"] = raw.decode()
    event["isBase64Encoded"] = False
    event["headers"]["x-hub-signature-256"] = (
        "sha256=" + hmac.new(META_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    )
    event["headers"]["content-length"] = str(len(raw))
    return event


def _call(event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = webhook_app.handler(copy.deepcopy(event), FakeLambdaContext())
    return response


def test_meta_message_with_a_lone_surrogate_is_stored_with_the_character_replaced(
    repo: DynamoRepository,
) -> None:
    response = _call(_meta_event([_messaging("m_surrogate", "caf\ud800 order")]))
    assert response["statusCode"] == 200
    [message] = _all_messages(repo)
    assert message.text == "caf\ufffd order"
    assert "text_repaired" in message.flags


def test_meta_delivery_with_a_refused_message_stores_the_others_and_quarantines_it(
    repo: DynamoRepository,
) -> None:
    # Given a delivery whose middle message DynamoDB refuses (its item would exceed 400 KB)
    event = _meta_event(
        [
            _messaging("m_good_1", "first good message", 1736849702523),
            _messaging("m_too_big", "\U0001f600" * 110_000, 1736849703523),
            _messaging("m_good_2", "second good message", 1736849704523),
        ]
    )

    # When Meta delivers it (and again, as if the first answer were lost)
    responses = [_call(event)["statusCode"] for _ in range(2)]

    # Then both answers are 200, the good messages are stored once, the bad one is quarantined once
    assert responses == [200, 200]
    assert sorted(m.text for m in _all_messages(repo)) == ["first good message", "second good message"]
    [entry] = repo.list_quarantine()
    assert entry.reason == "write-rejected"
    assert "Item size" in entry.details["error"]
    assert entry.details["provider_message_id"] == "m_too_big"
    # with the delivery exactly as received (longer than one item: kept whole, in parts)
    assert entry.details["raw_complete"] is True
    assert repo.quarantined_raw(entry) == event["body"]


# -- time only moves forward -----------------------------------------------------------------------


def _whatsapp_event(wamid: str, text: str, timestamp: int) -> dict[str, Any]:
    body = json.loads((WEBHOOKS / "meta_whatsapp_text.body").read_text())
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    message.update({"id": wamid, "timestamp": str(timestamp), "text": {"body": text}})
    raw = json.dumps(body).encode()
    event: dict[str, Any] = json.loads((WEBHOOKS / "apigw_v2_meta_whatsapp_post.json").read_text())
    event["body"] = raw.decode()
    event["isBase64Encoded"] = False
    digest = hmac.new(META_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    event["headers"]["x-hub-signature-256"] = f"sha256={digest}"
    event["headers"]["content-length"] = str(len(raw))
    return event


def test_a_late_older_whatsapp_message_keeps_the_latest_inbound_time(repo: DynamoRepository) -> None:
    from shared import clock

    latest, older = 1736850102, 1736850102 - 30 * 3600
    # Given the customer's latest message, then one stamped 30 hours earlier, delivered late
    assert _call(_whatsapp_event("wamid.latest", "latest question", latest))["statusCode"] == 200
    assert _call(_whatsapp_event("wamid.older", "older question", older))["statusCode"] == 200

    # Then the ticket and the conversation still hold the latest time (Meta's 24 hours count from it)
    [ticket] = repo.scan_tickets()
    assert ticket.last_inbound_at is not None
    assert int(ticket.last_inbound_at.timestamp()) == latest
    conversation = next(
        p for p in repo.get_pointers([("conversation", _conversation_key(repo, ticket.id))]).values()
    )
    assert conversation.last_inbound_at == clock.iso(ticket.last_inbound_at)
    # and the messages are in the order they were written
    assert [m.text for m in repo.list_messages(ticket.id)] == ["older question", "latest question"]


def _conversation_key(repo: DynamoRepository, ticket_id: str) -> str:
    from shared.dal.items import PointerItem

    [item] = [p for p in PointerItem.scan(PointerItem.kind == "conversation") if p.ticket_id == ticket_id]
    return str(item.pk).removeprefix("PTR#conversation#")


# -- the repository ------------------------------------------------------------------------------


def test_an_outbound_message_dynamodb_refuses_is_a_permanent_error_not_a_conflict(
    repo: DynamoRepository,
) -> None:
    from datetime import UTC, datetime

    from shared.errors import ConflictError, PermanentWriteError
    from shared.models.outbound import OutboundMessage

    # Given an agent's reply of 50,000 emoji (its outbox item would exceed 400 KB)
    message = OutboundMessage(
        key="reply-emoji",
        channel="email",
        kind="reply",
        to="jane.doe@customer.example",
        text="\U0001f600" * 50_000,
        automatic=False,
        created_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
    )

    # When it is queued, then the error says no retry can help (not "changed meanwhile")
    with pytest.raises(PermanentWriteError) as refused:
        repo.put_outbound(message, guards=[])
    assert not isinstance(refused.value, ConflictError)
    assert "Item size" in str(refused.value)
    assert repo.get_outbound("reply-emoji") is None
