"""`helpdesk simulate` on the omnichannel example: SMS and webhook steps through the real handlers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.simulator_cli import Run as BaseRun
from tests.integration.simulator_cli import run_cli, write

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "omnichannel"
SCENARIO = EXAMPLE / "scenario.jsonl"
STREAMS_TEMPLATE = ROOT / "tests" / "events" / "templates" / "streams.yaml"

SHEENA = "+16505551234"
TOM_FIRST_MID = "m_OmniTom0000000000000000000000000000001"


@dataclass
class Run(BaseRun):
    def tickets(self, channel: str) -> list[dict[str, Any]]:
        return [t for t in self.state["tickets"] if t["channel"] == channel]

    def customer(self, kind: str, value: str) -> dict[str, Any]:
        (found,) = [c for c in self.state["customers"] if {"kind": kind, "value": value} in c["identities"]]
        customer: dict[str, Any] = found
        return customer

    def response(self, line: int) -> dict[str, Any]:
        (found,) = [r for r in self.state["webhook_responses"] if r["step"] == line]
        response: dict[str, Any] = found
        return response

    def external_ids(self) -> list[str | None]:
        return [m["external_id"] for t in self.state["tickets"] for m in t["messages"]]


def inbound(ticket: dict[str, Any]) -> list[dict[str, Any]]:
    """The customer's messages of a ticket (acknowledgements and replies left out)."""
    return [m for m in ticket["messages"] if m["direction"] == "inbound"]


def simulate(*args: str | Path, out_file: Path) -> Run:
    return run_cli(Run, *args, out_file=out_file)


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The example, run once through the CLI for the assertions below."""
    return simulate(SCENARIO, out_file=tmp_path_factory.mktemp("omnichannel") / "state.json")


def test_the_example_runs_every_step_without_dead_letters(day: Run) -> None:
    assert day.code == 0, day.err
    assert day.err == ""
    assert sum(1 for line in day.out.splitlines() if "/24] 2025-03-12" in line) == 24
    assert day.state["dead_letters"] == []
    assert "secret WebhookSecret: default test values" in day.out


def test_every_channel_has_its_tickets(day: Run) -> None:
    report = day.state["counts"]
    assert report["tickets"]["total"] == 9
    assert {k: v for k, v in report["tickets"]["by_channel"].items() if v} == {
        "email": 1,
        "sms": 2,
        "whatsapp": 1,
        "messenger": 3,
        "instagram": 1,
        "x": 1,
    }
    assert report["messages"]["by_direction"]["inbound"] == 13
    assert report["customers"] == 8
    assert [t["number"] for t in day.state["tickets"]] == list(range(1, 10))


def test_sms_and_whatsapp_from_one_phone_are_one_customer_with_grouped_tickets(day: Run) -> None:
    sheena = day.customer("phone", SHEENA)
    sms, whatsapp = day.by_number(2), day.by_number(3)
    assert (sms["channel"], whatsapp["channel"]) == ("sms", "whatsapp")
    assert sms["customer_id"] == whatsapp["customer_id"] == sheena["id"]
    assert sms["group_id"] is not None
    assert sms["group_id"] == whatsapp["group_id"]
    assert [e["group_id"] for e in whatsapp["events"] if e["type"] == "grouped"] == [sms["group_id"]]
    other_groups = [t["group_id"] for t in day.state["tickets"] if t["number"] not in (2, 3)]
    assert other_groups == [None] * 7


def test_a_messenger_conversation_threads_and_a_replay_is_stored_once(day: Run) -> None:
    (tom,) = [t for t in day.tickets("messenger") if t["messages"][0]["external_id"] == TOM_FIRST_MID]
    assert [m["text"] for m in tom["messages"]] == [
        "Hi, my café order is late",
        "It was order 5531, placed on Monday",
        "Is anyone there?",  # from the batched delivery
    ]
    assert [e["method"] for e in tom["events"] if e["type"] == "message_threaded"] == [
        "conversation",
        "conversation",
    ]
    assert day.external_ids().count(TOM_FIRST_MID) == 1
    replay = day.response(13)
    assert replay["status"] == 200
    assert json.loads(replay["body"])["stored"] == {"duplicate": 1}


def test_instagram_x_and_the_public_page_comment(day: Run) -> None:
    (instagram,) = day.tickets("instagram")
    assert instagram["messages"][0]["text"] == "Do you ship to Zürich?"
    (x,) = day.tickets("x")
    assert x["messages"][0]["text"] == "Hi! My café order #4821 is late 🙁"
    assert day.customer("x", "3001969357")["name"] == "Jordan Brinks"
    (comment,) = [t for t in day.tickets("messenger") if "public" in t["flags"]]
    assert comment["messages"][0]["text"].startswith("My order #4821 still hasn't shipped")
    assert comment["messages"][0]["flags"] == ["public"]
    assert day.customer("messenger", "5813213455891442")["name"] == "Jane Doe"


def test_a_batched_meta_delivery_stores_each_message(day: Run) -> None:
    batch = json.loads(day.response(14)["body"])
    assert batch == {"stored": {"threaded": 2, "created": 1}, "receipts": 0, "ignored": 1}
    ravi = day.customer("messenger", "6120394739201564")
    (ticket,) = [t for t in day.state["tickets"] if t["customer_id"] == ravi["id"]]
    assert len(ticket["messages"]) == 2  # one in messaging[], one under standby[]


def test_webhook_responses_are_recorded_per_step(day: Run) -> None:
    statuses = {r["step"]: r["status"] for r in day.state["webhook_responses"]}
    assert statuses == {
        4: 200,
        5: 200,
        6: 200,
        7: 200,
        8: 200,
        9: 200,
        10: 200,
        11: 200,
        12: 401,
        13: 200,
        14: 200,
        20: 404,
    }
    verification = day.response(5)
    assert (verification["body"], verification["headers"]["content-type"]) == ("1158201444", "text/plain")
    crc = day.response(6)
    digest = hmac.new(
        b"test-x-consumer-secret", b"9b4507b3-9040-4669-9ca3-6b94edb50553", hashlib.sha256
    ).digest()
    assert json.loads(crc["body"]) == {"response_token": "sha256=" + base64.b64encode(digest).decode()}
    not_found = day.response(20)
    assert (not_found["body"], not_found["route"], not_found["function"]) == (
        '{"message":"Not Found"}',
        None,
        None,
    )
    assert day.response(7)["route"] == "POST /webhooks/meta"
    assert day.response(7)["function"] == "SocialWebhookFunction"
    assert day.state["counts"]["webhook_responses"] == 12


def test_a_bad_signature_is_refused_and_nothing_is_stored(day: Run) -> None:
    forged = day.response(12)
    assert (forged["status"], forged["body"]) == (401, "invalid signature")
    assert "m_OmniForged00000000000000000000000000001" not in day.external_ids()
    assert not any(i["value"] == "4455667788990011" for c in day.state["customers"] for i in c["identities"])
    assert "401 invalid signature" in day.out


def test_stop_then_start_is_recorded_on_the_customer(day: Run) -> None:
    sheena = day.customer("phone", SHEENA)
    assert [(c["action"], c["keyword"], c["at"]) for c in sheena["consent"]] == [
        ("opt_out", "STOP", "2025-03-12T09:30:00.000Z"),
        ("opt_in", "START", "2025-03-12T09:45:00.000Z"),
    ]
    assert sheena["opted_out"] == []
    assert len(day.tickets("sms")) == 2  # keywords open no ticket
    assert "consent opt_out" in day.out
    assert "consent opt_in" in day.out


def test_an_sms_from_an_invalid_number_is_quarantined(day: Run) -> None:
    (entry,) = day.state["quarantine"]
    assert (entry["reason"], entry["channel"], entry["at"]) == (
        "invalid-phone-number",
        "sms",
        "2025-03-12T10:00:00.000Z",
    )
    assert "+999 12345" in entry["details"]["raw"]
    assert "quarantined (invalid-phone-number)" in day.out


def test_a_duplicate_sms_delivery_is_stored_once(day: Run) -> None:
    diego = day.customer("phone", "+12065550143")
    (ticket,) = [t for t in day.state["tickets"] if t["customer_id"] == diego["id"]]
    assert len(inbound(ticket)) == 1
    assert "delivery 1: created #9 (new conversation)" in day.out
    assert "delivery 2: duplicate (message already received)" in day.out
    assert day.state["simulation"]["invocations"]["InboundSmsFunction"]["invocations"] == 6


def test_the_emails_thread_into_one_ticket(day: Run) -> None:
    (email,) = day.tickets("email")
    assert email["subject"] == "Invoice INV-20931 is missing our VAT number"
    assert len(inbound(email)) == 2


def test_agents_answer_on_the_tickets_channel_and_notes_stay_internal(day: Run) -> None:
    # Given carol's reply to Diego's SMS (line 21), alice's note on Anna's ticket (line 22) and her reply
    # to Anna, named by the Message-ID of Anna's follow-up (line 23)
    assert [(r["step"], r["kind"], r["agent"], r["status"]) for r in day.state["api_responses"]] == [
        (21, "reply", "carol", 202),
        (22, "note", "alice", 201),
        (23, "reply", "alice", 202),
    ]
    replies = {o["to"]: o for o in day.state["outbound"] if o["kind"] == "reply"}
    assert set(replies) == {"+12065550143", "anna.berg@fjord-design.example"}
    # Then Diego's answer went by SMS, in time for the 30-minute first response
    diego = day.by_number(9)
    sms_reply = replies["+12065550143"]
    assert (sms_reply["channel"], sms_reply["status"], sms_reply["author"], sms_reply["ticket_id"]) == (
        "sms",
        "sent",
        "carol",
        diego["id"],
    )
    targets = {t["name"]: t["state"] for t in diego["sla"]["targets"]}
    assert targets["first_response"] == "met"
    # And Anna's by email, threaded under her follow-up, after the note that was never sent
    (email,) = day.tickets("email")
    email_reply = replies["anna.berg@fjord-design.example"]
    assert (email_reply["channel"], email_reply["status"], email_reply["ticket_id"]) == (
        "email",
        "sent",
        email["id"],
    )
    assert (
        email_reply["headers"]["In-Reply-To"] == "<c93d5a70-2f14-4b8e-a6d1-7e0f9b2c4a81@fjord-design.example>"
    )
    assert [m["direction"] for m in email["messages"]] == [
        "inbound",
        "outbound",
        "inbound",
        "note",
        "outbound",
    ]
    (note,) = [m for m in email["messages"] if m["direction"] == "note"]
    assert note["author"] == "alice"
    assert all(o["text"] != note["text"] for o in day.state["outbound"])
    assert {t["name"]: t["state"] for t in email["sla"]["targets"]}["first_response"] == "met"
    assert re.search(r"line 21 +reply +#9 reply by carol .* -> 202, sent by sms to \+12065550143", day.out)
    assert re.search(r"line 22 +note +#1 note by alice .* -> 201", day.out)


def test_the_committed_scenario_is_what_the_generator_writes(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_omnichannel", EXAMPLE / "make_scenario.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["make_scenario.py", str(tmp_path / "scenario.jsonl")])
    assert (tmp_path / "scenario.jsonl").read_text(encoding="utf-8") == SCENARIO.read_text(encoding="utf-8")


# -- secrets, routing and refusals on small scenarios ---------------------------------------------
def verify(token: str) -> dict[str, Any]:
    """A Meta verification request with this verify token."""
    query = {"hub.mode": "subscribe", "hub.challenge": "7", "hub.verify_token": token}
    return {"method": "GET", "path": "/webhooks/meta", "query": query}


def test_secrets_file_overrides_the_default_values(tmp_path: Path) -> None:
    # Given a secrets file with our own verify token, and a scenario with a blank line in it
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"WebhookSecret": {"meta_verify_token": "ours", "meta_app_secret": "s"}}))
    scenario = write(
        tmp_path / "s.jsonl",
        {"at": "2025-03-12T08:00:00Z", "webhook": verify("ours")},
        "",
        {"at": "2025-03-12T08:01:00Z", "webhook": verify("test-meta-verify-token")},
    )
    # When simulated with --secrets
    run = simulate(scenario, "--secrets", secrets, out_file=tmp_path / "state.json")
    # Then our token verifies, the default one no longer does; steps are named by their line
    assert run.code == 0, run.err
    assert [(r["step"], r["status"], r["body"]) for r in run.state["webhook_responses"]] == [
        (1, 200, "7"),
        (3, 403, "verification failed"),
    ]
    assert "secret WebhookSecret: --secrets" in run.out


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{nope", "not valid JSON"),
        ("[1]", "a JSON object is expected"),
        ('{"WebhookSecret": 3}', "the value of WebhookSecret must be a JSON object or a string"),
        ('{"NoSuchSecret": {}}', "--secrets names NoSuchSecret, which the template does not declare"),
    ],
)
def test_a_bad_secrets_file_exits_2(tmp_path: Path, content: str, problem: str) -> None:
    secrets = tmp_path / "secrets.json"
    secrets.write_text(content)
    scenario = write(tmp_path / "s.jsonl", {"at": "2025-03-12T08:00:00Z", "webhook": verify("x")})
    run = simulate(scenario, "--secrets", secrets, out_file=tmp_path / "state.json")
    assert run.code == 2
    assert problem in run.err
    assert not (tmp_path / "state.json").exists()


def test_sms_steps_need_a_two_way_sms_topic_in_the_template(tmp_path: Path) -> None:
    scenario = write(
        tmp_path / "s.jsonl",
        {
            "at": "2025-03-12T08:00:00Z",
            "sms": {
                "originationNumber": SHEENA,
                "destinationNumber": "+12125550101",
                "messageBody": "hi",
                "inboundMessageId": "a",
            },
        },
    )
    run = simulate(scenario, "--template", STREAMS_TEMPLATE, out_file=tmp_path / "state.json")
    assert run.code == 2
    assert "no SNS topic policy of the template lets sms-voice.amazonaws.com publish" in run.err


def test_a_webhook_without_a_matching_route_gets_api_gateways_404(tmp_path: Path) -> None:
    scenario = write(
        tmp_path / "s.jsonl",
        {"at": "2025-03-12T08:00:00Z", "webhook": {"method": "PUT", "path": "/webhooks/meta", "body": "{}"}},
    )
    run = simulate(scenario, "--template", STREAMS_TEMPLATE, out_file=tmp_path / "state.json")
    assert run.code == 0, run.err
    assert run.state["webhook_responses"][0]["status"] == 404
    assert "PUT /webhooks/meta -> 404 no route matches" in run.out
