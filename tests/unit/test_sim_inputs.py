"""Every input shape AWS or a platform can deliver, built as they build it (issue 12): SES notifications
are valid UTF-8 JSON whatever the header bytes, SNS SMS messages carry lone surrogates as JSON escapes,
API Gateway passes binary bodies base64-encoded; and a step that cannot be delivered says why."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser import envelopes, parse

from shared.models.events import SesNotification
from simulator.events import (
    Verdicts,
    mime_headers,
    ses_mail,
    ses_message_id,
    ses_notification,
    ses_receipt,
    ses_stored_message,
    sns_lambda_event,
    stable_uuid,
    utf8_json,
)
from simulator.http_api import Caller, Request, http_api_event
from simulator.scenario import ApiStep, EmailStep, ScenarioError, parse_scenario_text
from simulator.sms import sms_message

AT = datetime(2025, 3, 11, 9, 15, 2, tzinfo=UTC)
TOPIC = "arn:aws:sns:us-east-1:123456789012:helpdesk-inboundmailtopic"
SUPPORT = "support@support.example.com"


def delivered(raw: bytes, verdicts: Verdicts | None = None) -> SesNotification:
    """The SNS event SES's notification arrives in, as UTF-8 bytes on the wire, parsed as inbound_email does."""
    verdicts = verdicts or Verdicts()
    ses_id = ses_message_id(raw)
    stored = ses_stored_message(raw, ses_id, AT, [SUPPORT], verdicts)
    action = {"type": "S3", "topicArn": TOPIC, "bucketName": "inbound", "objectKey": f"raw/{ses_id}"}
    message = json.dumps(
        ses_notification(ses_mail(stored, ses_id, AT), ses_receipt(AT, [SUPPORT], verdicts, action, 5))
    )
    wire = json.dumps(sns_lambda_event(TOPIC, "sub", message, AT, "m1")).encode(
        "utf-8"
    )  # strict: no surrogates
    event = json.loads(wire)
    assert "\\ud" not in event["Records"][0]["Sns"]["Message"]  # no lone-surrogate escapes
    parsed: Any = parse(event=event, model=SesNotification, envelope=envelopes.SnsEnvelope)
    (notification,) = parsed
    result: SesNotification = notification
    return result


def test_raw_utf8_header_bytes_are_published_as_text() -> None:
    raw = f"From: Jörg <jörg@bücher.de>\r\nTo: {SUPPORT}\r\nSubject: Grüße\r\n\r\nHallo\r\n".encode()
    parsed = delivered(raw)
    assert parsed.mail.common_headers.from_ == ["Jörg <jörg@bücher.de>"]
    assert parsed.mail.common_headers.subject == "Grüße"
    assert parsed.mail.source == "jörg@bücher.de"
    assert {"name": "Subject", "value": "Grüße"} in [h.model_dump() for h in parsed.mail.headers]


def test_header_bytes_that_are_not_utf8_become_replacement_characters() -> None:
    raw = f"From: jörg@example.org\r\nTo: {SUPPORT}\r\nSubject: Grüße\r\n\r\nHallo\r\n".encode("latin-1")
    parsed = delivered(raw)
    assert parsed.mail.common_headers.subject == "Gr\ufffd\ufffde"


def test_a_display_name_with_an_encoded_crlf_is_reported_as_written() -> None:
    raw = (
        b"From: =?utf-8?q?Evil=0D=0ABcc=3A_x=40example.org?= <evil@example.org>\r\n"
        b"To: support@support.example.com\r\nSubject: hi\r\n\r\nhi\r\n"
    )
    parsed = delivered(raw)
    assert parsed.mail.common_headers.from_ == [
        "=?utf-8?q?Evil=0D=0ABcc=3A_x=40example.org?= <evil@example.org>"
    ]
    assert parsed.mail.source == "evil@example.org"


def test_mime_nested_2000_levels_deep_is_read_by_its_headers_only() -> None:
    raw = (
        f"From: a@example.org\r\nTo: {SUPPORT}\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n".encode()
    )
    raw += b"".join(
        f"--b{i - 1}\r\nContent-Type: multipart/mixed; boundary=b{i}\r\n\r\n".encode() for i in range(1, 2000)
    )
    parsed = delivered(raw)
    assert parsed.mail.common_headers.from_ == ["a@example.org"]


def test_the_email_step_sets_the_dmarc_policy_ses_reports() -> None:
    step = EmailStep.model_validate(
        {"raw": "From: a@b.example\r\n\r\nx", "verdicts": {"dmarc": "FAIL"}, "dmarcPolicy": "reject"}
    )
    parsed = delivered(
        b"From: a@bank.example\r\nTo: support@support.example.com\r\n\r\nx", step.ses_verdicts()
    )
    assert parsed.receipt.dmarc_policy == "reject"


def test_an_sms_with_a_lone_surrogate_is_published_as_valid_utf8_json() -> None:
    fields = {"originationNumber": "+14255550182", "messageBody": "cut \ud83d", "inboundMessageId": "i1"}
    message = sms_message(fields)
    message.encode("utf-8")  # what SNS can carry
    assert "\\ud83d" in message
    assert json.loads(message)["messageBody"] == "cut \ud83d"
    assert stable_uuid("sns", "topic", message) == stable_uuid("sns", "topic", message)
    assert stable_uuid("a", "\ud800") != stable_uuid("a", "\ud801")


def test_state_json_is_utf8_with_escapes_for_lone_surrogates() -> None:
    text = utf8_json({"text": "café \udc00"})
    assert text == '{"text": "café \\udc00"}'
    assert json.loads(text.encode("utf-8"))["text"] == "café \udc00"


@pytest.mark.parametrize(
    ("body", "content_type", "binary"),
    [
        (b'{"a":"caf\xc3\xa9"}', "application/json", False),
        (b'{"a":"caf\xe9"}', "application/json", True),  # not UTF-8
        (b"\x89PNG\r\n", "image/png", True),
        (b"plain words", "application/octet-stream", True),
        (b"a=1&b=2", "application/x-www-form-urlencoded", False),
        (b"no type given", None, False),
    ],
)
def test_api_gateway_base64_encodes_binary_bodies(
    body: bytes, content_type: str | None, binary: bool
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    request = Request("POST", "/webhooks/meta", headers=headers, body=body)
    event = http_api_event(request, route_key="POST /webhooks/meta", api_id="api1", at=AT, request_id="r")
    assert event["isBase64Encoded"] is binary
    sent = base64.b64decode(event["body"]) if binary else event["body"].encode("utf-8")
    assert sent == body
    assert event["headers"]["content-length"] == str(len(body))


def problems(text: str) -> str:
    with pytest.raises(ScenarioError) as raised:
        parse_scenario_text(text, Path("s.jsonl"))
    return raised.value.render()


def line(kind: str, value: dict[str, Any]) -> str:
    return json.dumps({"at": "2025-03-11T08:00:00Z", kind: value})


@pytest.mark.parametrize(
    ("kind", "value", "why"),
    [
        ("email", {"raw": "From: a\ud800"}, "SMTP carries bytes"),
        ("email", {"raw_base64": "not base64!"}, "raw_base64 is not base64"),
        (
            "email",
            {"raw": "From: a", "dmarcPolicy": "reject"},
            "SES reports the policy only for mail that fails DMARC",
        ),
        ("email", {"raw": "From: a", "verdicts": {"dmarc": "FAIL"}, "dmarcPolicy": "block"}, "dmarcPolicy"),
        ("webhook", {"method": "POST", "path": "/x", "body": "\udc00"}, "an HTTP body is bytes"),
        (
            "webhook",
            {"method": "POST", "path": "/x", "body": "a", "body_base64": "YQ=="},
            "give the body once",
        ),
        ("webhook", {"method": "GET", "path": "/x", "headers": {"X-A": "a\r\nb"}}, "HTTP forbids them"),
        (
            "api",
            {"method": "GET", "path": "/t", "agent": "a", "claims": {"sub": "a"}},
            "give the caller once",
        ),
        (
            "api",
            {"method": "GET", "path": "/t", "claims": {"sub": "a"}, "supervisor": True},
            '"supervisor" is for',
        ),
        ("note", {"ticket": 1, "agent": "a", "text": " \n\t"}, "the text is blank"),
        ("reply", {"ticket": "<a\ud800>", "agent": "a", "text": "x"}, "goes into the request path"),
        ("api", {"method": "GET", "path": "/tickets/\udc00"}, "a URL path is percent-encoded UTF-8"),
    ],
)
def test_a_step_that_cannot_be_delivered_says_why(kind: str, value: dict[str, Any], why: str) -> None:
    assert why in problems(line(kind, value))


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("reply", {"ticket": 1, "agent": "a", "text": "lone \ud800 surrogate"}),
        ("reply", {"ticket": 1, "agent": "a", "text": "\u0000\u0001\u001c\u007f"}),
        ("note", {"ticket": 1, "agent": "a", "text": "\udfff"}),
        (
            "update",
            {"ticket": 1, "agent": "a", "tags_add": ["\ud800", "bell\u0007"], "tags_remove": ["\u001c"]},
        ),
        (
            "sms",
            {
                "originationNumber": "+1",
                "destinationNumber": "+2",
                "messageBody": "\ud800",
                "inboundMessageId": "i",
            },
        ),
        ("api", {"method": "POST", "path": "/tickets/1/notes", "body": {"text": "\ud800\u0000"}}),
    ],
)
def test_text_the_api_can_receive_is_accepted(kind: str, value: dict[str, Any]) -> None:
    (step,) = parse_scenario_text(line(kind, value), Path("s.jsonl")).steps
    assert step.kind == kind


def test_the_api_step_body_is_ascii_json_and_claims_pass_as_api_gateway_passes_them() -> None:
    step = ApiStep.model_validate(
        {
            "method": "POST",
            "path": "/t",
            "body": {"text": "é\ud800"},
            "claims": {"sub": "a", "cognito:groups": ["x", "y"]},
        }
    )
    assert step.payload() == b'{"text": "\\u00e9\\ud800"}'
    claims = step.token_claims()
    assert claims == {"sub": "a", "cognito:groups": "[x y]"}
    assert Caller.with_claims(claims).claims() == claims
    assert ApiStep.model_validate({"method": "GET", "path": "/t"}).token_claims() is None


def test_outbound_headers_are_read_from_the_mime_that_left() -> None:
    raw = "From: Support <support@support.example.com>\r\nAuto-Submitted: auto-replied\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n X\r\n\r\nbody"
    assert mime_headers(raw) == {
        "From": "Support <support@support.example.com>",
        "Auto-Submitted": "auto-replied",
        "Subject": "=?utf-8?q?Gr=C3=BC=C3=9Fe?= X",
    }
