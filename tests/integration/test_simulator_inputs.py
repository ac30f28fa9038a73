"""`helpdesk simulate` delivers every input shape AWS and the platforms can deliver (issue 12): 8-bit mail
headers, encoded CR LF in a display name, MIME nested 2,000 deep, lone surrogates in SMS and agent text,
DMARC policies, base64 webhook bodies, any agent API request; and the outbox shows the headers of the
message that left (issue 11 §9). Every case runs through the real handlers on moto."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.simulator_cli import Run as BaseRun
from tests.integration.simulator_cli import run_cli, write

ROOT = Path(__file__).resolve().parents[2]
META_TEXT = (ROOT / "tests" / "events" / "webhooks" / "meta_messenger_text.body").read_bytes()
META_SECRET = b"test-meta-app-secret"
SUPPORT = "support@support.example.com"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def meta_signature(body: bytes) -> str:
    return "sha256=" + hmac.new(META_SECRET, body, hashlib.sha256).hexdigest()


EIGHT_BIT = (
    f"From: Jörg <jörg@bücher.de>\r\nTo: {SUPPORT}\r\nSubject: Grüße aus Köln\r\n"
    "Message-ID: <j1@bücher.de>\r\n\r\nHallo, mein Drucker streikt.\r\n"
).encode()
CRLF_NAME = (
    f"From: =?utf-8?q?Evil=0D=0ABcc=3A_victim=40example.org?= <evil@example.org>\r\nTo: {SUPPORT}\r\n"
    "Subject: Display name with CR LF\r\nMessage-ID: <crlf@example.org>\r\n\r\nHello there.\r\n"
).encode()


def deep_mime(levels: int) -> bytes:
    head = (
        f"From: Deep <deep@example.org>\r\nTo: {SUPPORT}\r\nSubject: Nested deep\r\n"
        "Message-ID: <deep@example.org>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=b0\r\n\r\n"
    ).encode()
    parts = b"".join(
        f"--b{i - 1}\r\nContent-Type: multipart/mixed; boundary=b{i}\r\n\r\n".encode()
        for i in range(1, levels)
    )
    return head + parts + f"--b{levels - 1}\r\nContent-Type: text/plain\r\n\r\nAt the bottom.\r\n".encode()


SPOOF = (
    f"From: Bank <security@bank.example>\r\nTo: {SUPPORT}\r\nSubject: Verify your account\r\n"
    "Message-ID: <spoof@bank.example>\r\n\r\nClick here.\r\n"
)
PRINTER = (
    f"From: Ann <ann@example.org>\r\nTo: {SUPPORT}\r\nSubject: Printer\r\nMessage-ID: <p1@example.org>\r\n\r\n"
    "The printer in room 4 jams.\r\n"
)
SMS_SURROGATE = {
    "originationNumber": "+14255550182",
    "destinationNumber": "+12125550101",
    "messageBody": "Emoji cut in half: \ud83d",
    "inboundMessageId": "sms-lone-surrogate",
}
LATIN1_BODY = META_TEXT.decode("utf-8").replace("caf\\u00e9", "caf\u00e9").encode("latin-1")
CONTROL_TEXT = "Ticket\u0001 ref\u001c 42\u0007 ok"
KEY = "0b4f3c1e-7a55-4f0e-9d1c-3f2a6b8e9d10"

# a reply by alice with exact ID-token claims (groups as a JSON list, as a UI's own token may carry)
TRAY_REPLY: dict[str, Any] = {
    "method": "POST",
    "path": "/tickets/1/replies",
    "headers": {"Idempotency-Key": KEY},
    "body": {"text": "Please use tray 1."},
    "claims": {"sub": "alice", "token_use": "id", "custom:agent_id": "alice", "cognito:groups": ["support"]},
}

STEPS: list[dict[str, Any]] = [
    {"at": "2025-03-11T08:00:00Z", "email": {"raw": PRINTER}},  # 1: #1
    {"at": "2025-03-11T08:01:00Z", "email": {"raw_base64": b64(EIGHT_BIT)}},  # 2
    {"at": "2025-03-11T08:02:00Z", "email": {"raw_base64": b64(CRLF_NAME)}},  # 3
    {"at": "2025-03-11T08:03:00Z", "email": {"raw_base64": b64(deep_mime(2000))}},  # 4
    {"at": "2025-03-11T08:04:00Z", "sms": SMS_SURROGATE},  # 5
    {  # 6
        "at": "2025-03-11T08:05:00Z",
        "email": {"raw": SPOOF, "verdicts": {"dmarc": "FAIL"}, "dmarcPolicy": "reject"},
    },
    {  # 7: the text body, given as bytes
        "at": "2025-03-11T08:06:00Z",
        "webhook": {
            "method": "POST",
            "path": "/webhooks/meta",
            "headers": {"Content-Type": "application/json", "X-Hub-Signature-256": meta_signature(META_TEXT)},
            "body_base64": b64(META_TEXT),
        },
    },
    {  # 8: a signed body that is not UTF-8
        "at": "2025-03-11T08:07:00Z",
        "webhook": {
            "method": "POST",
            "path": "/webhooks/meta",
            "headers": {
                "Content-Type": "application/json",
                "X-Hub-Signature-256": meta_signature(LATIN1_BODY),
            },
            "body_base64": b64(LATIN1_BODY),
        },
    },
    {"at": "2025-03-11T08:10:00Z", "note": {"ticket": 1, "agent": "alice", "text": CONTROL_TEXT}},  # 9
    {
        "at": "2025-03-11T08:11:00Z",
        "update": {"ticket": 1, "agent": "alice", "tags_add": ["vip\u0007"]},
    },  # 10
    {
        "at": "2025-03-11T08:12:00Z",
        "reply": {"ticket": 1, "agent": "alice", "text": "Lone \udc00 here"},
    },  # 11
    {"at": "2025-03-11T08:13:00Z", "api": {"method": "GET", "path": "/tickets/1"}},  # 12: no token
    {"at": "2025-03-11T08:14:00Z", "api": {"method": "GET", "path": "/tickets/1", "agent": "alice"}},  # 13
    {  # 14: an ID token of someone who is no agent
        "at": "2025-03-11T08:15:00Z",
        "api": {
            "method": "POST",
            "path": "/tickets/1/notes",
            "body": {"text": "let me in"},
            "claims": {"sub": "zoe", "token_use": "id", "custom:agent_id": "zoe"},
        },
    },
    # 15, 16: the same reply sent twice under one Idempotency-Key
    {"at": "2025-03-11T08:16:00Z", "api": TRAY_REPLY},
    {"at": "2025-03-11T08:16:30Z", "api": TRAY_REPLY},
]


@dataclass
class Run(BaseRun):
    def subject(self, subject: str) -> dict[str, Any]:
        (found,) = [t for t in self.state["tickets"] if t["subject"] == subject]
        ticket: dict[str, Any] = found
        return ticket

    def api(self, line: int) -> dict[str, Any]:
        (found,) = [r for r in self.state["api_responses"] if r["step"] == line]
        response: dict[str, Any] = found
        return response

    def webhook(self, line: int) -> dict[str, Any]:
        (found,) = [r for r in self.state["webhook_responses"] if r["step"] == line]
        response: dict[str, Any] = found
        return response

    def dead_letters(self, line: int) -> list[dict[str, Any]]:
        return [d for d in self.state["dead_letters"] if d.get("line") == line]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    folder = tmp_path_factory.mktemp("inputs")
    return run_cli(Run, write(folder / "inputs.jsonl", *STEPS), out_file=folder / "state.json")


def test_the_run_finishes_and_says_how_each_input_ended(run: Run) -> None:
    assert run.code == 0, run.err
    assert run.err == ""
    assert run.state["simulation"]["steps"] == len(STEPS)


def test_mail_with_raw_8bit_headers_reaches_the_handler_as_ses_sends_it(run: Run) -> None:
    # Given From and Subject written as raw UTF-8 bytes; SES publishes them as (valid UTF-8) text
    ticket = run.subject("Grüße aus Köln")
    assert ticket["messages"][0]["text"].startswith("Hallo, mein Drucker streikt.")
    assert run.dead_letters(2) == []


def test_a_display_name_with_an_encoded_crlf_does_not_stop_the_simulator(run: Run) -> None:
    ticket = run.subject("Display name with CR LF")
    assert ticket["messages"][0]["text"].startswith("Hello there.")
    assert run.dead_letters(3) == []


def test_mime_nested_2000_levels_deep_is_delivered(run: Run) -> None:
    ticket = run.subject("Nested deep")
    assert ticket["messages"][0]["direction"] == "inbound"
    assert run.dead_letters(4) == []


def test_an_sms_with_a_lone_surrogate_is_delivered_and_stored_repaired(run: Run) -> None:
    # The simulator delivers it (the SNS Message carries the surrogate as its JSON escape); the
    # handler stores it with the half character replaced, and nothing is dead-lettered
    (ticket,) = [t for t in run.state["tickets"] if t["channel"] == "sms"]
    assert ticket["messages"][0]["text"] == "Emoji cut in half: \ufffd"
    assert "text_repaired" in ticket["messages"][0]["flags"]
    assert run.dead_letters(5) == []


def test_a_dmarc_reject_policy_reaches_the_handler(run: Run) -> None:
    # A forged From under p=reject is quarantined by the handler, never made a ticket
    assert not [t for t in run.state["tickets"] if t["subject"] == "Verify your account"]
    (entry,) = [q for q in run.state["quarantine"] if q["reason"] == "dmarc"]
    assert entry["details"]["dmarc_policy"] == "reject"


def test_a_base64_webhook_body_is_delivered_byte_for_byte(run: Run) -> None:
    # Given the fixture's bytes as body_base64 with their signature: the signature verifies
    response = run.webhook(7)
    assert response["status"] == 200, response
    (ticket,) = [t for t in run.state["tickets"] if t["channel"] == "messenger"]
    assert ticket["messages"][0]["text"] == "Hi, my café order is late"


def test_a_signed_body_that_is_not_utf8_is_quarantined_not_a_500(run: Run) -> None:
    # Signed by the platform, so it is ours to keep: quarantined with its bytes, answered 200 so
    # the platform does not retry it forever
    response = run.webhook(8)
    assert response["function"] == "SocialWebhookFunction"
    assert response["error"] is None
    assert response["status"] == 200, response
    assert json.loads(response["body"]) == {"quarantined": "malformed-json"}
    (entry,) = [
        q for q in run.state["quarantine"] if q["channel"] == "messenger" or q["reason"] == "malformed-json"
    ]
    assert entry["details"]["raw_encoding"] == "base64"
    assert base64.b64decode(entry["details"]["raw"]) == LATIN1_BODY


def test_control_characters_in_notes_and_tags_reach_the_agent_api(run: Run) -> None:
    # The simulator delivers them as the JSON escapes the UI would send; the API refuses them clearly
    note, tags = run.api(9), run.api(10)
    assert note["function"] == tags["function"] == "AgentApiFunction"
    assert note["status"] == 400, note
    assert "U+0001" in json.loads(note["body"])["detail"]
    assert tags["status"] == 400, tags
    ticket = run.by_number(1)
    assert CONTROL_TEXT not in [m["text"] for m in ticket["messages"] if m["direction"] == "note"]
    assert "vip\u0007" not in ticket["tags"]


def test_a_lone_surrogate_in_a_reply_is_sent_as_json_and_answered_by_the_agent_api(run: Run) -> None:
    response = run.api(11)
    assert response["function"] == "AgentApiFunction"
    assert response["error"] is None
    assert response["status"] < 500, response


def test_the_api_step_calls_any_route_as_anyone_or_no_one(run: Run) -> None:
    unauthenticated, agent, stranger = run.api(12), run.api(13), run.api(14)
    # API Gateway's own answer to a call without a token: the function is not invoked
    assert (unauthenticated["status"], unauthenticated["body"]) == (401, '{"message":"Unauthorized"}')
    assert agent["status"] == 200
    assert agent["method"] == "GET"
    assert json.loads(agent["body"])["ticket"]["number"] == 1
    assert stranger["claims"] == {"sub": "zoe", "token_use": "id", "custom:agent_id": "zoe"}
    assert stranger["status"] == 403, stranger
    assert "zoe" in json.loads(stranger["body"])["detail"]


def test_the_api_step_replays_an_idempotency_key(run: Run) -> None:
    first, again = run.api(15), run.api(16)
    assert first["status"] == 202, first
    assert again["status"] in (200, 202), again
    assert first["claims"]["cognito:groups"] == "[support]"
    replies = [o for o in run.state["outbound"] if o["kind"] == "reply" and o["text"] == "Please use tray 1."]
    assert len(replies) == 1


def test_outbound_mail_lists_the_headers_of_the_message_that_left(run: Run) -> None:
    (ack,) = [o for o in run.state["outbound"] if o["kind"] == "ack" and o["to"] == "ann@example.org"]
    assert ack["status"] == "sent"
    assert ack["headers"]["Auto-Submitted"] == "auto-replied"
    assert ack["headers"]["In-Reply-To"] == "<p1@example.org>"
    assert ack["headers"]["Message-ID"] == ack["provider_id"]
    assert ack["headers"]["To"].endswith("ann@example.org") or "ann@example.org" in ack["headers"]["To"]


def test_the_state_says_how_each_inbound_input_ended(run: Run) -> None:
    inputs = {entry["step"]: entry for entry in run.state["inputs"]}
    assert sorted(inputs) == [1, 2, 3, 4, 5, 6, 7, 8]  # email, sms and webhook steps
    printer = inputs[1]
    assert printer["outcome"] == "stored"
    assert printer["deliveries"][0][0]["outcome"] == "created"
    assert printer["deliveries"][0][0]["ticket_number"] == 1
    assert inputs[7]["outcome"] == "stored"
    for entry in inputs.values():
        assert entry["outcome"] in {"stored", "quarantined", "refused", "failed"}
        assert entry["outcome"] == "stored" or entry["reason"], entry
