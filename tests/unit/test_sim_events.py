"""AWS-shaped payloads: SES receipt notifications in SNS events, schedules, failure records."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.parser import envelopes, parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

from shared.models.events import SesNotification
from simulator.events import (
    Verdicts,
    envelope_sender,
    header_recipients,
    scheduled_event,
    scheduler_input,
    ses_mail,
    ses_message_id,
    ses_notification,
    ses_receipt,
    ses_stored_message,
    sns_lambda_event,
    to_crlf,
)

AT = datetime(2025, 3, 11, 9, 15, 2, 412000, tzinfo=UTC)
TOPIC = "arn:aws:sns:us-east-1:123456789012:helpdesk-inboundmailtopic"
RAW = (
    b"From: =?UTF-8?Q?Luc=C3=ADa?= <lucia@example.net>\n"
    b"To: Support <support@support.example.com>, colleague@example.net\n"
    b"Cc: boss@example.net\n"
    b"Subject: =?UTF-8?Q?Cuenta_bloqueada?=\n"
    b"Message-ID: <abc@example.net>\n"
    b"References: <one@example.net>\n <two@example.net>\n"
    b"Date: Tue, 11 Mar 2025 10:11:48 +0100\n"
    b"\n"
    b"Hola\n"
)


def notification(verdicts: Verdicts) -> dict[str, object]:
    ses_id = ses_message_id(b"seed")
    stored = ses_stored_message(RAW, ses_id, AT, ["support@support.example.com"], verdicts)
    action = {"type": "S3", "topicArn": TOPIC, "bucketName": "inbound", "objectKey": f"raw/{ses_id}"}
    return ses_notification(
        ses_mail(stored, ses_id, AT), ses_receipt(AT, ["support@support.example.com"], verdicts, action, 718)
    )


def test_ses_ids_are_ses_like_and_deterministic() -> None:
    ses_id = ses_message_id(b"line 4")
    assert len(ses_id) == 40
    assert set(ses_id) <= set("abcdefghijklmnopqrstuvwxyz0123456789")
    assert ses_id == ses_message_id(b"line 4")
    assert ses_id != ses_message_id(b"line 5")


def test_the_stored_message_is_crlf_with_ses_headers_on_top() -> None:
    stored = ses_stored_message(RAW, "id1", AT, ["support@support.example.com"], Verdicts(spam="FAIL"))
    head = stored.split(b"\r\n\r\n", 1)[0].decode()
    assert head.startswith("Return-Path: <lucia@example.net>\r\nReceived: from mail.example.net")
    assert "X-SES-Spam-Verdict: FAIL" in head
    assert "X-SES-Virus-Verdict: PASS" in head
    assert b"\n" not in stored.replace(b"\r\n", b"")
    assert stored.endswith(b"Hola\r\n")


def test_the_notification_validates_as_the_handler_parses_it() -> None:
    # Given the SNS event of an S3-action receipt notification
    event = sns_lambda_event(TOPIC, "sub-1", json.dumps(notification(Verdicts())), AT, "msg-1", "Amazon SES")
    # When parsed like inbound_email does (Powertools SnsEnvelope is strict about the SNS record)
    parsed_event: Any = parse(event=event, model=SesNotification, envelope=envelopes.SnsEnvelope)
    notifications: list[SesNotification] = parsed_event
    (parsed,) = notifications
    # Then the fields the application reads are there
    assert parsed.mail.source == "lucia@example.net"
    assert parsed.mail.destination == [
        "support@support.example.com",
        "colleague@example.net",
        "boss@example.net",
    ]
    assert parsed.mail.common_headers.subject == "Cuenta bloqueada"
    assert parsed.mail.common_headers.from_ == ["Lucía <lucia@example.net>"]
    assert parsed.mail.common_headers.message_id == "<abc@example.net>"
    assert parsed.receipt.action.object_key == f"raw/{parsed.mail.message_id}"
    assert parsed.receipt.dmarc_policy is None
    references = next(h.value for h in parsed.mail.headers if h.name == "References")
    assert references == "<one@example.net> <two@example.net>"  # unfolded, as SES lists headers


def test_dmarc_policy_only_when_dmarc_fails() -> None:
    receipt = notification(Verdicts(dmarc="FAIL"))["receipt"]
    assert isinstance(receipt, dict)
    assert receipt["dmarcVerdict"] == {"status": "FAIL"}
    assert receipt["dmarcPolicy"] == "none"
    assert list(receipt)[-1] == "action"


def test_headers_over_10_kb_are_truncated() -> None:
    big = b"".join(b"X-Trace-%d: %s\n" % (i, b"x" * 200) for i in range(80)) + RAW
    mail = ses_mail(to_crlf(big), "id", AT)
    assert mail["headersTruncated"] is True
    assert sum(len(h["name"]) + len(h["value"]) for h in mail["headers"]) <= 10 * 1024


def test_envelope_sender_and_recipients() -> None:
    assert envelope_sender(b"Return-Path: <>\nFrom: MAILER-DAEMON@x.example\n\n") == ""
    assert envelope_sender(b"From: Jane <jane@x.example>\n\n") == "jane@x.example"
    assert header_recipients(RAW) == [
        "support@support.example.com",
        "colleague@example.net",
        "boss@example.net",
    ]


def test_schedule_payloads() -> None:
    rule = "arn:aws:events:us-east-1:123456789012:rule/helpdesk-sweeper"
    event = scheduled_event(rule, AT)
    EventBridgeModel.model_validate(event)
    assert event["detail-type"] == "Scheduled Event"
    assert event["time"] == "2025-03-11T09:15:02Z"
    template = '{"at": "<aws.scheduler.scheduled-time>", "n": "<aws.scheduler.attempt-number>"}'
    assert scheduler_input(template, "arn:aws:scheduler:us-east-1:123456789012:schedule/default/x", AT) == {
        "at": "2025-03-11T09:15:02Z",
        "n": "1",
    }
    assert scheduler_input(None, "arn", AT) == {}
