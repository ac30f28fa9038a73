"""`helpdesk simulate` with `reply` and `note` steps: requests to the agent API as the agent, the reply
queued in the outbox and sent by auto_followup from the stream, the note kept on the ticket and never sent."""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from simulator.runner import idempotency_key
from tests.integration.simulator_cli import Run as BaseRun
from tests.integration.simulator_cli import run_cli, write

ROOT = Path(__file__).resolve().parents[2]
STREAMS_TEMPLATE = ROOT / "tests" / "events" / "templates" / "streams.yaml"
OMNICHANNEL_GENERATOR = ROOT / "examples" / "omnichannel" / "make_scenario.py"

ANN = "ann@example.org"
ANN_MID = "<p1@example.org>"
PARCEL_PHONE, PARCEL_SMS_ID = "+14255550182", "4e8f0a2b-sms-parcel"
SUNDAY_PHONE, SUNDAY_SMS_ID = "+14255550199", "9c1d7e3f-sms-sunday"
PRINTER = (
    f"From: Ann <{ANN}>\r\nTo: support@support.example.com\r\nSubject: Printer\r\n"
    f"Message-ID: {ANN_MID}\r\n\r\nThe printer in room 4 jams.\r\n"
)
NEWSLETTER = (
    "From: News <news@vendor.example>\r\nTo: support@support.example.com\r\nSubject: Weekly offers\r\n"
    "Message-ID: <n1@vendor.example>\r\nList-Id: <news.vendor.example>\r\nPrecedence: bulk\r\n"
    "List-Unsubscribe: <mailto:unsubscribe@vendor.example>\r\n\r\nThis week: paper and toner.\r\n"
)
NOTE_TEXT = "Firmware 2.1 is known to jam tray 2; asked IT for a downgrade."
REPLY_TEXT = "Hi Ann,\n\nplease switch to tray 1 until we roll out the firmware fix.\n\nAlice"
SMS_REPLY = "Sorry about that! Your parcel is with the courier again and arrives tomorrow."
SMS_NOTE = "Sunday opening: ask the shop manager before answering."


def sms(phone: str, body: str, message_id: str) -> dict[str, Any]:
    return {
        "originationNumber": phone,
        "destinationNumber": "+12125550101",
        "messageBody": body,
        "inboundMessageId": message_id,
    }


STEPS: list[dict[str, Any]] = [
    {"at": "2025-03-11T08:00:00Z", "email": {"raw": PRINTER}},  # 1: #1 (email)
    {"at": "2025-03-11T08:02:00Z", "sms": sms(PARCEL_PHONE, "My parcel never came", PARCEL_SMS_ID)},  # 2: #2
    {"at": "2025-03-11T08:03:00Z", "sms": sms(SUNDAY_PHONE, "Open on Sunday?", SUNDAY_SMS_ID)},  # 3: #3
    {"at": "2025-03-11T08:04:00Z", "email": {"raw": NEWSLETTER}},  # 4: #4, automatic: nothing to answer
    {"at": "2025-03-11T08:10:00Z", "note": {"ticket": 1, "agent": "alice", "text": NOTE_TEXT}},  # 5
    {"at": "2025-03-11T08:15:00Z", "reply": {"ticket": ANN_MID, "agent": "alice", "text": REPLY_TEXT}},  # 6
    {
        "at": "2025-03-11T08:20:00Z",
        "note": {"ticket": SUNDAY_SMS_ID, "agent": "carol", "text": SMS_NOTE},
    },  # 7
    {
        "at": "2025-03-11T08:25:00Z",
        "reply": {"ticket": PARCEL_SMS_ID, "agent": "bob", "text": SMS_REPLY},
    },  # 8
    {"at": "2025-03-11T08:26:00Z", "reply": {"ticket": 4, "agent": "bob", "text": "Thanks!"}},  # 9: 400
    {"at": "2025-03-11T08:27:00Z", "reply": {"ticket": 42, "agent": "bob", "text": "Hello"}},  # 10: 404
    {"at": "2025-03-11T08:28:00Z", "note": {"ticket": 1, "agent": "zoe", "text": "Me too"}},  # 11: 403
    {"at": "2025-03-11T08:29:00Z", "reply": {"ticket": 1, "agent": "zoe", "text": "Hello"}},  # 12: 403
    {"at": "2025-03-11T08:45:00Z", "tick": {}},  # 13: #3's first response (08:33) has passed
]


@dataclass
class Run(BaseRun):
    def ticket(self, number: int) -> dict[str, Any]:
        found: dict[str, Any] = next(t for t in self.state["tickets"] if t["number"] == number)
        return found

    def response(self, line: int) -> dict[str, Any]:
        (found,) = [r for r in self.state["api_responses"] if r["step"] == line]
        response: dict[str, Any] = found
        return response

    def outbound(self, ticket: int, kind: str) -> list[dict[str, Any]]:
        ticket_id = self.ticket(ticket)["id"]
        return [o for o in self.state["outbound"] if o["ticket_id"] == ticket_id and o["kind"] == kind]

    def first_response(self, ticket: int) -> str:
        (target,) = [t for t in self.ticket(ticket)["sla"]["targets"] if t["name"] == "first_response"]
        state: str = target["state"]
        return state


def simulate(*args: str | Path, out_file: Path) -> Run:
    return run_cli(Run, *args, out_file=out_file)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The scenario above with the bundled config (alice, bob and carol are its agents), run once."""
    folder = tmp_path_factory.mktemp("replies")
    return simulate(write(folder / "replies.jsonl", *STEPS), out_file=folder / "state.json")


def test_every_step_runs_and_refusals_do_not_stop_the_run(run: Run) -> None:
    assert run.code == 0, run.err
    assert run.err == ""
    assert sum(1 for line in run.out.splitlines() if "/13] 2025-03-11" in line) == 13
    assert run.state["dead_letters"] == []
    assert [(r["step"], r["kind"], r["status"]) for r in run.state["api_responses"]] == [
        (5, "note", 201),
        (6, "reply", 202),
        (7, "note", 201),
        (8, "reply", 202),
        (9, "reply", 400),
        (10, "reply", 404),
        (11, "note", 403),
        (12, "reply", 403),
    ]


def test_an_email_reply_is_sent_threaded_under_the_customers_message(run: Run) -> None:
    # Given alice's reply to Ann's ticket, named by the Message-ID of Ann's mail
    response = run.response(6)
    assert (response["method"], response["path"], response["route"]) == (
        "POST",
        "/tickets/%3Cp1%40example.org%3E/replies",
        "POST /tickets/{ref}/replies",
    )
    assert (response["agent"], response["ticket"], response["function"]) == (
        "alice",
        ANN_MID,
        "AgentApiFunction",
    )
    # The request carried a stable Idempotency-Key, which keys the outbox entry (with its ticket and agent)
    key = idempotency_key(Path(run.state["simulation"]["scenario"]), 6)
    assert response["idempotency_key"] == key
    answer = json.loads(response["body"])
    assert (answer["key"], answer["channel"], answer["to"], answer["status"]) == (
        f"reply#{run.ticket(1)['id']}#alice#{key}",
        "email",
        ANN,
        "queued",
    )
    # Then auto_followup sent it from the stream, on the ticket's channel, threaded under Ann's mail
    (reply,) = run.outbound(1, "reply")
    assert (reply["channel"], reply["to"], reply["status"], reply["author"]) == (
        "email",
        ANN,
        "sent",
        "alice",
    )
    assert reply["automatic"] is False
    assert reply["text"] == REPLY_TEXT
    assert reply["headers"]["In-Reply-To"] == ANN_MID
    assert reply["subject"] == "Re: [#1] Printer"
    assert reply["at"] == "2025-03-11T08:15:00.000Z"
    # And the ticket keeps it as an outbound message by alice, after her note
    messages = [(m["direction"], m["author"], m["automatic"]) for m in run.ticket(1)["messages"]]
    assert messages == [
        ("inbound", ANN, False),
        ("outbound", "helpdesk", True),  # the acknowledgement
        ("note", "alice", False),
        ("outbound", "alice", False),
    ]
    assert re.search(
        r"^ \[ 6/13\] .*line 6 +reply +<p1@example.org> reply by alice \"Hi Ann, .*\" -> 202, "
        rf"sent by email to {re.escape(ANN)}",
        run.out,
        re.M,
    )


def test_an_sms_reply_goes_out_by_sms(run: Run) -> None:
    # Given bob's reply to the parcel SMS, named by its inboundMessageId
    assert run.response(8)["path"] == f"/tickets/{PARCEL_SMS_ID}/replies"
    # Then it is sent by SMS to the customer's number, the ticket's channel
    (reply,) = run.outbound(2, "reply")
    assert (reply["channel"], reply["to"], reply["status"], reply["text"]) == (
        "sms",
        PARCEL_PHONE,
        "sent",
        SMS_REPLY,
    )
    assert run.ticket(2)["messages"][-1]["direction"] == "outbound"
    assert "sent by sms to +14255550182" in run.out


def test_notes_are_kept_on_the_ticket_and_never_sent(run: Run) -> None:
    for number, agent, text in ((1, "alice", NOTE_TEXT), (3, "carol", SMS_NOTE)):
        ticket = run.ticket(number)
        (note,) = [m for m in ticket["messages"] if m["direction"] == "note"]
        assert (note["author"], note["text"], note["channel"], note["automatic"]) == (
            agent,
            text,
            ticket["channel"],
            False,
        )
        (added,) = [e for e in ticket["events"] if e["type"] == "note_added"]
        assert (added["by"], added["message_id"]) == (agent, note["id"])
    assert all(o["text"] not in (NOTE_TEXT, SMS_NOTE) for o in run.state["outbound"])
    assert [o["kind"] for o in run.outbound(3, "reply")] == []
    assert json.loads(run.response(5)["body"]).keys() == {"message_id"}
    assert run.state["counts"]["messages"]["by_direction"]["note"] == 2
    assert run.state["counts"]["outbound"]["by_kind"].get("reply") == 2


def test_a_reply_meets_the_first_response_target_and_a_note_does_not(run: Run) -> None:
    # The email ticket: a note at 08:10, then the reply at 08:15, well before 12:00
    assert run.first_response(1) == "met"
    # The parcel SMS: replied at 08:25, before its 30 minutes ran out at 08:32
    assert run.first_response(2) == "met"
    # The Sunday SMS: only a note at 08:20; at 08:33 its first response was breached all the same
    assert run.first_response(3) == "breached"


def test_refusals_name_their_line_and_the_reason(run: Run) -> None:
    expected = {
        9: (400, "ticket 4 has no customer message to answer"),
        10: (404, "no ticket with number or message id '42'"),
        11: (403, "'zoe' is not an agent of this helpdesk"),
        12: (403, "'zoe' is not an agent of this helpdesk"),
    }
    for line, (status, message) in expected.items():
        response = run.response(line)
        assert (response["status"], json.loads(response["body"])["detail"]) == (status, message)
        assert re.search(
            rf"^!\[ *{line}/13\] .*line {line} .* -> {status} refused: {re.escape(message)}", run.out, re.M
        )
    assert "! 4 agent API request(s) not done" in run.out
    assert "line 9: POST /tickets/4/replies -> 400" in run.out
    assert "line 11: POST /tickets/1/notes -> 403" in run.out
    assert run.outbound(4, "reply") == []
    assert re.search(r"agent API +8  \(201: 2, 202: 2, 400: 1, 403: 2, 404: 1\)", run.out)


# -- small scenarios --------------------------------------------------------------------------------
def test_blank_texts_and_a_channel_on_a_note_are_refused_before_anything_runs(tmp_path: Path) -> None:
    scenario = write(
        tmp_path / "s.jsonl",
        {"at": "2025-03-11T08:00:00Z", "email": {"raw": PRINTER}},
        {"at": "2025-03-11T08:01:00Z", "reply": {"ticket": 1, "agent": "alice", "text": " \n "}},
        {"at": "2025-03-11T08:02:00Z", "note": {"ticket": 1, "agent": "alice", "text": ""}},
        {
            "at": "2025-03-11T08:03:00Z",
            "note": {"ticket": 1, "agent": "alice", "text": "x", "channel": "sms"},
        },
        {
            "at": "2025-03-11T08:04:00Z",
            "reply": {"ticket": 1, "agent": "alice", "text": "x", "channel": "fax"},
        },
    )
    run = simulate(scenario, out_file=tmp_path / "state.json")
    assert run.code == 2
    assert "line 2 (reply step): text: the text is blank" in run.err
    assert "line 3 (note step): text: String should have at least 1 character" in run.err
    assert "line 4 (note step): channel: Extra inputs are not permitted" in run.err
    assert "line 5 (reply step): channel: Input should be 'email', 'sms'" in run.err
    assert run.out == ""
    assert not (tmp_path / "state.json").exists()


def test_reply_and_note_steps_need_the_agent_api(tmp_path: Path) -> None:
    scenario = write(
        tmp_path / "s.jsonl",
        {"at": "2025-03-11T08:00:00Z", "reply": {"ticket": "<a b@x>", "agent": "ana", "text": "Hi"}},
        {"at": "2025-03-11T08:01:00Z", "note": {"ticket": 3, "agent": "ana", "text": "fyi"}},
    )
    run = simulate(scenario, "--template", STREAMS_TEMPLATE, out_file=tmp_path / "state.json")
    assert run.code == 2
    assert (
        "line 1 (reply step): no route of the template's HTTP APIs takes POST /tickets/%3Ca%20b%40x%3E/replies: "
        "reply steps need the agent API (POST /tickets/{ref}/replies)"
    ) in run.err
    assert (
        "line 2 (note step): no route of the template's HTTP APIs takes POST /tickets/3/notes: "
        "note steps need the agent API (POST /tickets/{ref}/notes)"
    ) in run.err
    assert run.out == ""


def omnichannel_generator() -> Any:
    """The omnichannel example's generator, for its signed WhatsApp webhooks."""
    spec = importlib.util.spec_from_file_location("make_omnichannel", OMNICHANNEL_GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_reply_can_go_on_another_channel_of_the_customer(tmp_path: Path) -> None:
    # Given a customer who texted, then wrote on WhatsApp from the same number (two tickets, one customer)
    make = omnichannel_generator()
    phone = "+14255550123"
    whatsapp = make.whatsapp_text(
        phone, "Kim Lee", "wamid.SimReplyChannel0001", "Any news on my refund?", make.at("08:05:00")
    )
    scenario = write(
        tmp_path / "s.jsonl",
        {"at": "2025-03-12T08:00:00Z", "sms": sms(phone, "Where is my refund?", "b7e2c4d1-refund")},  # 1: #1
        {"at": "2025-03-12T08:05:00Z", "webhook": make.meta_post(whatsapp)},  # 2: #2 (whatsapp)
        {  # 3: the WhatsApp ticket answered by SMS
            "at": "2025-03-12T08:10:00Z",
            "reply": {"ticket": 2, "agent": "carol", "text": "Refunded today, Kim.", "channel": "sms"},
        },
        {  # 4: by email, but the customer has no email address on record
            "at": "2025-03-12T08:11:00Z",
            "reply": {"ticket": 1, "agent": "carol", "text": "Details by mail", "channel": "email"},
        },
    )
    # When simulated
    run = simulate(scenario, out_file=tmp_path / "state.json")
    # Then the request carried the channel and the reply went by SMS, from our number, on the WhatsApp ticket
    assert run.code == 0, run.err
    assert run.ticket(1)["customer_id"] == run.ticket(2)["customer_id"]
    assert run.ticket(2)["channel"] == "whatsapp"
    response = run.response(3)
    assert (response["status"], response["channel"]) == (202, "sms")
    assert json.loads(response["body"])["channel"] == "sms"
    (reply,) = run.outbound(2, "reply")
    assert (reply["channel"], reply["to"], reply["status"], reply["text"]) == (
        "sms",
        phone,
        "sent",
        "Refunded today, Kim.",
    )
    assert re.search(
        r"line 3 +reply +#2 reply by carol on sms .* -> 202, sent by sms to \+14255550123", run.out
    )
    # And a channel the customer cannot be reached on is the agent API's refusal, naming the line
    refused = run.response(4)
    assert refused["status"] == 400
    assert "no email identity" in json.loads(refused["body"])["detail"]
    assert re.search(r"^!\[4/4\] .*line 4 .* -> 400 refused: ", run.out, re.M)
