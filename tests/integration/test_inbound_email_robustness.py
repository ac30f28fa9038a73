"""inbound_email with odd SES notifications and hostile mail: the raw MIME in S3 is the truth."""

from __future__ import annotations

import base64
import email as email_lib
import json
from email import policy
from pathlib import Path
from typing import Any

import pytest
from moto.core import DEFAULT_ACCOUNT_ID  # type: ignore[attr-defined]
from moto.ses import ses_backends  # type: ignore[attr-defined]

from shared import clock
from shared.logic.agent_replies import agent_reply
from simulator.resources import Deployment
from tests.integration.conftest import (
    EmailHarness,
    FakeLambdaContext,
    mail,
    outbound_context,
    use_config,
)

ODD_HEADER_FIELDS: dict[str, dict[str, Any]] = {
    "header values that are not strings, and items that are not headers": {
        "headers": [
            {"name": "Subject", "value": None},
            {"name": 5, "value": ["x"]},
            {"value": "no name"},
            "not a header",
            None,
            {"name": "From", "value": "Jane \ufffd\ufffd <jane.doe@customer.example>"},
        ]
    },
    "headers that are not a list": {"headers": {"From": "jane.doe@customer.example"}},
    "common headers of the wrong types": {
        "commonHeaders": {
            "from": "Jane <jane.doe@customer.example>",
            "to": [None, 42, {"a": 1}],
            "subject": ["not", "a", "string"],
            "messageId": 12,
            "returnPath": {},
            "date": "yesterday",
        }
    },
    "common headers null": {"commonHeaders": None},
    "common headers a string": {"commonHeaders": "From: someone"},
    "source, destination and headersTruncated odd": {
        "source": None,
        "destination": "support@support.example.com",
        "headersTruncated": "maybe",
    },
    "header fields missing, unknown fields added": {
        "headers": None,
        "destination": None,
        "commonHeaders": {"from": None, "to": None, "subject": None, "newField": {"deep": [1]}},
        "brandNewField": [1, 2, 3],
    },
    "raw 8-bit header bytes read with surrogate escapes": {
        "headers": [{"name": "Subject", "value": "Caf\udce9 cr\udce8me"}],
        "commonHeaders": {"from": ["J\udcf6rg <jane.doe@customer.example>"], "subject": "Caf\udce9"},
        "source": "j\udcf6rg@customer.example",
    },
}


@pytest.mark.parametrize("odd", list(ODD_HEADER_FIELDS.values()), ids=list(ODD_HEADER_FIELDS))
def test_odd_notification_header_fields_do_not_stop_a_readable_mail(
    email: EmailHarness, odd: dict[str, Any]
) -> None:
    # Given a valid raw mail in S3, announced by a notification whose header fields are odd
    raw = mail(subject="Drucker kaputt", message_id="<odd@mail.customer.example>")
    note = email.notification(raw)
    note["mail"].update(odd)
    for name, value in odd.items():
        if value is None:  # a field SES left out
            note["mail"].pop(name)
    event = email.sns_event(note)
    event["Records"][0]["Sns"]["Message"] = json.dumps(note)  # surrogates stay \\udcxx escapes

    # When the real handler receives it
    [result] = email.invoke(event)["results"]

    # Then the mail becomes a ticket read from the raw MIME, not from the notification
    assert result["outcome"] == "created"
    [ticket] = email.repository.scan_tickets()
    assert ticket.subject == "Drucker kaputt"
    [message] = email.repository.list_messages(ticket.id)
    assert message.external_id == "<odd@mail.customer.example>"
    assert "error E42" in message.text
    assert message.author == "jane.doe@customer.example"


def test_hostile_html_is_stored_without_sender_written_remote_image_markers(email: EmailHarness) -> None:
    # Given an HTML mail that plants the sanitiser's own remote-image markers
    html = (
        "<p>Please look at this</p>"
        '<img src="https://photos.example/a.jpg" data-remote-src="javascript:alert(1)">'
        '<img data-remote-src="javascript:alert(2)" alt="x">'
        '<a href="x-remote-blocked:javascript:alert(3)">open</a>'
    )
    raw = mail(body=html).replace(b"text/plain", b"text/html")

    # When it is delivered
    email.deliver(raw)

    # Then the stored HTML keeps the remote image blocked and drops the planted markers
    [ticket] = email.repository.scan_tickets()
    [message] = email.repository.list_messages(ticket.id)
    assert message.html is not None
    assert "Please look at this" in message.html
    assert 'data-remote-src="https://photos.example/a.jpg"' in message.html
    assert "javascript" not in message.html
    assert "x-remote-blocked" not in message.html
    assert message.html.count("data-remote-src") == 1


def _encoded(text: str) -> str:
    return f"=?utf-8?b?{base64.b64encode(text.encode()).decode()}?="


def _sent_mail() -> list[email_lib.message.EmailMessage]:
    return [
        email_lib.message_from_string(m.raw_data, policy=policy.default)  # type: ignore[misc]
        for m in ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    ]


@pytest.mark.parametrize("separator", ["\r\n", "\u2028", "\x85", "\x0b\x1b"])
def test_subject_and_name_with_line_separators_are_stored_on_one_line_and_replies_go_out(
    email: EmailHarness,
    deployment: Deployment,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    separator: str,
) -> None:
    from functions.auto_followup import app
    from tests.integration.test_route_ticket import _stream_event

    # Given a mail whose encoded subject and sender name decode to text with line separators
    # (no teams: routing plans nothing, so the acknowledgement is queued when the ticket is created)
    config = use_config("teams: []\n", tmp_path, monkeypatch)
    outbound = outbound_context(email.repository, config)
    cursor: dict[str, str] = {}
    _stream_event(deployment, cursor, "AutoFollowupFunction")
    raw = mail(
        sender=f"{_encoded(f'Jane{separator}Doe')} <jane.doe@customer.example>",
        subject=_encoded(f"Printer{separator}not working"),
    )

    # When SES delivers it, the stream acknowledges it and an agent replies
    email.deliver(raw)
    [ticket] = email.repository.scan_tickets()
    for _ in range(2):  # the ticket, then the outbox record it queued
        event = _stream_event(deployment, cursor, "AutoFollowupFunction")
        assert app.handler(event, FakeLambdaContext()) == {"batchItemFailures": []}
    agent_reply(ticket, "Please restart it.", "alice", outbound, clock.now())
    event = _stream_event(deployment, cursor, "AutoFollowupFunction")
    assert app.handler(event, FakeLambdaContext()) == {"batchItemFailures": []}

    # Then subject and name are stored on one line, and both the acknowledgement and the reply
    # are sent, not left "delivery unknown"
    assert ticket.subject == "Printer not working"
    customer = email.repository.get_customer(ticket.customer_id)
    assert customer is not None
    assert customer.name == "Jane Doe"
    assert sorted((o.kind, o.status) for o in email.repository.list_outbound()) == [
        ("ack", "sent"),
        ("reply", "sent"),
    ]
    subjects = [m["Subject"] for m in _sent_mail()]
    assert len(subjects) == 2
    assert all("Printer not working" in subject for subject in subjects)
    stored = email.repository.get_ticket(ticket.id)
    assert stored is not None
    assert "delivery_unknown" not in stored.flags
