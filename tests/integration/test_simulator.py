"""`helpdesk simulate` end to end: the example day of email, refusals, config, schedules and streams."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from shared.models.reports import Report
from simulator.state import REQUIRED_KEYS
from tests.integration.simulator_cli import Run as BaseRun
from tests.integration.simulator_cli import run_cli, write

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "email-day" / "scenario.jsonl"
TEST_TEMPLATE = ROOT / "tests" / "events" / "templates" / "streams.yaml"


@dataclass
class Run(BaseRun):
    def ticket(self, subject_start: str) -> dict[str, Any]:
        return next(t for t in self.state["tickets"] if (t["subject"] or "").startswith(subject_start))


def inbound(ticket: dict[str, Any]) -> list[dict[str, Any]]:
    """The customer's messages of a ticket (acknowledgements and replies left out)."""
    return [m for m in ticket["messages"] if m["direction"] == "inbound"]


def simulate(*args: str | Path, out_file: Path) -> Run:
    return run_cli(Run, *args, out_file=out_file)


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The example scenario, run once through the CLI for all the assertions below."""
    return simulate(EXAMPLE, out_file=tmp_path_factory.mktemp("day") / "state.json")


def test_the_day_runs_and_reports_every_step(day: Run) -> None:
    assert day.code == 0, day.err
    assert day.err == ""
    lines = day.out.splitlines()
    assert sum(1 for line in lines if "/22] 2025-03-11" in line) == 22
    assert "Tickets" in lines
    assert "Summary" in lines
    assert '"level"' not in day.out  # the functions' own logs stay out of the progress output


def test_state_has_the_documented_shape(day: Run) -> None:
    assert set(REQUIRED_KEYS) <= set(day.state)
    ticket = day.state["tickets"][0]
    assert {
        "id",
        "number",
        "channel",
        "status",
        "priority",
        "subject",
        "customer_id",
        "team",
        "assignee",
        "tags",
        "flags",
        "group_id",
        "sla",
        "messages",
        "events",
    } <= set(ticket)
    assert set(ticket["sla"]) == {"policy", "escalation_level", "targets"}
    message = ticket["messages"][0]
    assert {
        "id",
        "direction",
        "channel",
        "at",
        "author",
        "external_id",
        "text",
        "html",
        "automatic",
        "attachments",
    } <= set(message)
    assert message["at"].endswith("Z")
    acks = [o for o in day.state["outbound"] if o["kind"] == "ack"]
    assert acks  # new tickets are acknowledged through the outbox
    assert all(o["channel"] == "email" and o["status"] in {"sent", "suppressed"} for o in acks)
    assert any(o["status"] == "suppressed" for o in acks)  # e.g. the newsletter gets none
    assert day.state["webhook_responses"] == []
    assert day.state["dead_letters"] == []


def test_the_day_acknowledges_routes_and_escalates(day: Run) -> None:
    acks = {o["ticket_id"]: o for o in day.state["outbound"] if o["kind"] == "ack"}
    assert sorted(o["status"] for o in acks.values()) == ["sent"] * 10 + ["suppressed"]
    newsletter = day.by_number(6)
    assert acks[newsletter["id"]]["status"] == "suppressed"  # an automatic sender never gets one
    german = acks[day.by_number(2)["id"]]
    assert german["subject"].startswith("[#2] Ihre Nachricht ist bei uns")
    assert german["headers"]["Reply-To"] == "support+2@support.example.com"
    for ticket in day.state["tickets"]:
        first = next(t for t in ticket["sla"]["targets"] if t["name"] == "first_response")
        # the acknowledgement promised the ticket's own first-response due time
        assert acks[ticket["id"]]["promised_due_at"] == first["due_at"]
        assert ticket["assignee"] in {"alice", "bob", "carol"}
        assert (first["state"], ticket["priority"]) == ("breached", "high")  # nobody answered


def test_tickets_quarantine_and_report_counts(day: Run) -> None:
    report = day.state["counts"]
    assert report["tickets"]["total"] == 11
    assert report["tickets"]["by_status"]["new"] == 11
    assert report["tickets"]["by_channel"]["email"] == 11
    assert report["messages"]["by_direction"]["inbound"] == 16
    assert report["customers"] == 11
    assert [q["reason"] for q in day.state["quarantine"]] == ["spam", "bounce-unmatched"]
    assert report["quarantine"]["by_reason"] == {"spam": 1, "bounce-unmatched": 1}
    assert [t["number"] for t in day.state["tickets"]] == list(range(1, 12))


def test_the_report_is_get_reports_for_the_day_and_its_headlines_are_printed(day: Run) -> None:
    # Given the day's run: its report is what GET /reports answers an admin for that day, by day
    counts, report = day.state["counts"], Report.model_validate(day.state["report"])
    assert (report.timezone, report.from_, report.to, report.group_by) == (
        "UTC",
        date(2025, 3, 11),
        date(2025, 3, 11),
        "day",
    )
    assert [g.key for g in report.groups] == ["2025-03-11"]
    # Then its figures are the day's tickets: every one created that day, none resolved, all open
    assert report.total.volume.created == counts["tickets"]["total"]
    assert report.total.volume.resolved == counts["tickets"]["by_status"]["resolved"] == 0
    assert report.total.volume.backlog == counts["tickets"]["total"]
    # And the reports function answered it (and the daily digest's two days) through the agent API
    assert day.state["simulation"]["invocations"]["ReportsFunction"] == {"invocations": 3, "errors": 0}
    assert day.state["digest"]["kind"] == "daily"
    lines = day.out.splitlines()
    start = lines.index("Report 2025-03-11 to 2025-03-11 (UTC, all teams)")
    assert lines[start + 1].split() == ["Created", str(report.total.volume.created)]


def test_the_bundled_config_routes_every_ticket_to_an_online_agent(day: Run) -> None:
    # Given the bundled config: team support, alice, bob and carol online by default
    tickets = day.state["tickets"]
    # Then every ticket went to support and to one of them, evenly (least loaded), none queued
    assert {t["team"] for t in tickets} == {"support"}
    held = {a["id"]: a["load"]["email"] for a in day.state["agents"]}
    assert held == {
        agent: sum(1 for t in tickets if t["assignee"] == agent) for agent in ("alice", "bob", "carol")
    }
    assert sorted(held.values()) == [3, 4, 4]
    assert {a["presence"] for a in day.state["agents"]} == {"online"}
    for ticket in tickets:
        (routed,) = [e for e in ticket["events"] if e["type"] == "routed"]
        assert (routed["team"], routed["agent"]) == ("support", ticket["assignee"])
        assert ticket["events"][0]["type"] == "created"
    assert "routing: #1 -> alice (support)" in day.out
    assert day.state["api_responses"] == []


def test_follow_ups_thread_into_the_right_tickets(day: Run) -> None:
    printer = day.ticket("Printer shows Error E-22")
    assert printer["number"] == 1
    assert [m["external_id"] for m in inbound(printer)] == [
        "<BN8PR04MB6212C1E0A3F4D9B2E7C4A1F2B3D4@BN8PR04MB6212.namprd04.prod.outlook.example>",
        "<BN8PR04MB6212E77D09B1C4A3F8D2E6A9C0B1@BN8PR04MB6212.namprd04.prod.outlook.example>",
        "<7F3B21C4-96AE-4D0B-B5E8-2C1A9D04E6F7@acme-corp.example>",
    ]
    assert "Original Message" not in inbound(printer)[1]["text"]  # the quoted original is cut
    methods = [e["method"] for e in printer["events"] if e["type"] == "message_threaded"]
    assert methods == ["in-reply-to", "subject-token"]
    assert [len(inbound(day.ticket(s))) for s in ("Commande CMD-58213", "No puedo acceder")] == [2, 2]
    assert [
        e["method"] for e in day.ticket("No puedo acceder")["events"] if e["type"] == "message_threaded"
    ] == ["references"]


def test_another_sender_in_the_thread_gets_a_new_linked_ticket(day: Run) -> None:
    printer = day.ticket("Printer shows Error E-22")
    linked = day.ticket("RE: Printer shows Error E-22")
    assert linked["number"] == 11
    assert linked["linked_ticket_id"] == printer["id"]
    assert linked["messages"][0]["author"] == "mark.lee@acme-corp.example"
    (link,) = [e for e in linked["events"] if e["type"] == "linked"]
    assert link["ticket_id"] == printer["id"]
    assert linked["customer_id"] != printer["customer_id"]


def test_automatic_mail_is_flagged(day: Run) -> None:
    newsletter = day.ticket("Office Supplies Weekly")
    assert "automatic" in newsletter["flags"]
    assert newsletter["messages"][0]["automatic"] is True
    invoice = day.ticket("Frage zur Rechnung")
    out_of_office = inbound(invoice)[1]
    assert out_of_office["automatic"] is True
    assert "automatic" in out_of_office["flags"]
    assert "automatic" not in invoice["flags"]  # an auto-reply does not mark the customer's ticket


def test_attachments_are_listed_with_their_sizes(day: Run) -> None:
    (pdf,) = day.ticket("Purchase order PO-4471")["messages"][0]["attachments"]
    assert (pdf["name"], pdf["content_type"], pdf["size"], pdf["inline"]) == (
        "PO-4471.pdf",
        "application/pdf",
        649,
        False,
    )
    screenshot = day.ticket("Checkout error")["messages"][0]
    (image,) = screenshot["attachments"]
    assert (image["name"], image["content_type"], image["size"], image["inline"]) == (
        "checkout-error.png",
        "image/png",
        87,
        True,
    )
    assert f'src="cid:{image["content_id"]}"' in screenshot["html"]


def test_a_duplicate_delivery_is_stored_once(day: Run) -> None:
    refund = day.ticket("Refund for returned chair")
    assert len(inbound(refund)) == 1
    assert "delivery 2: duplicate" in day.out


def test_html_is_sanitised(day: Run) -> None:
    message = day.ticket("Order A-10293 arrived damaged")["messages"][0]
    html = message["html"]
    assert "<script" not in html
    assert "onload" not in html
    assert "javascript:" not in html
    assert not re.search(r'\ssrc="https?://', html)  # remote images are not loaded
    assert 'data-remote-src="https://photos.example/u/kim/IMG_4471.jpg"' in html
    assert "two of the six boxes" in message["text"]
    assert "<" not in message["text"]


def test_languages_and_charsets_are_decoded(day: Run) -> None:
    japanese = day.ticket("注文のキャンセルについて")
    assert "株式会社サンプル商事の田中です。" in japanese["messages"][0]["text"]
    assert "Außerdem" in day.ticket("Frage zur Rechnung RE-2025-00871 – falsche Menge")["messages"][0]["text"]
    assert "reçu" in day.ticket("Commande CMD-58213")["messages"][0]["text"]
    assert "contraseña" in day.ticket("No puedo acceder")["messages"][0]["text"]


def test_spam_is_quarantined_with_its_verdicts(day: Run) -> None:
    spam = day.state["quarantine"][0]
    assert spam["ref"] == "<20250311094402.88213@mailer.claim-your-prize.example>"
    assert spam["details"]["verdicts"]["spam"] == "FAIL"
    assert not any("You have won" in (t["subject"] or "") for t in day.state["tickets"])


# -- refusals and errors ------------------------------------------------------------------------

RAW = "From: Ann <ann@example.org>\r\nTo: support@support.example.com\r\nSubject: Hi\r\n\r\nHello there\r\n"


def test_bad_order_and_missing_zone_exit_2(tmp_path: Path) -> None:
    scenario = write(
        tmp_path / "s.jsonl",
        {"at": "2025-03-11T09:00:00Z", "tick": {}},
        {"at": "2025-03-11T08:00:00Z", "tick": {}},
        {"at": "2025-03-11T10:00:00", "tick": {}},
    )
    run = simulate(scenario, out_file=tmp_path / "state.json")
    assert run.code == 2
    assert (
        "line 2 (tick step): at 2025-03-11T08:00:00+00:00 is earlier than the previous step's (line 1"
        in run.err
    )
    assert 'line 3 (tick step): "at" needs a zone' in run.err
    assert run.out == ""


def test_until_before_the_first_step_exits_2(tmp_path: Path) -> None:
    scenario = write(tmp_path / "s.jsonl", {"at": "2025-03-11T08:00:00Z", "tick": {}})
    run = simulate(scenario, "--until", "2025-03-11T07:00:00Z", out_file=tmp_path / "state.json")
    assert run.code == 2
    assert "is before the first step" in run.err


def test_a_bad_config_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "helpdesk.yaml"
    config.write_text("email:\n  max_inline_body_bytes: 10\n", encoding="utf-8")
    scenario = write(tmp_path / "s.jsonl", {"at": "2025-03-11T08:00:00Z", "email": {"raw": RAW}})
    run = simulate(scenario, "--config", config, out_file=tmp_path / "state.json")
    assert run.code == 2
    assert "max_inline_body_bytes" in run.err


def test_the_config_reaches_the_functions_and_large_bodies_are_read_back(tmp_path: Path) -> None:
    # Given a config that keeps bodies over 1000 bytes in S3, and a long mail
    config = tmp_path / "helpdesk.yaml"
    config.write_text("version: 1\nemail:\n  max_inline_body_bytes: 1000\n", encoding="utf-8")
    long_text = "\r\n".join(f"Line {i}: the scanner in room {i} does not turn on." for i in range(60))
    scenario = write(tmp_path / "s.jsonl", {"at": "2025-03-11T08:00:00Z", "email": {"raw": RAW + long_text}})
    # When simulated with --config
    run = simulate(scenario, "--config", config, out_file=tmp_path / "state.json")
    # Then the body went to S3 (the config applied) and the state has the whole text
    assert run.code == 0, run.err
    text = run.state["tickets"][0]["messages"][0]["text"]
    assert "Line 59: the scanner in room 59" in text
    assert run.state["simulation"]["config"] == str(config)


def test_recipients_no_rule_accepts_are_rejected_like_ses(tmp_path: Path) -> None:
    scenario = write(
        tmp_path / "s.jsonl",
        {"at": "2025-03-11T08:00:00Z", "email": {"raw": RAW, "recipients": ["sales@elsewhere.example"]}},
    )
    run = simulate(scenario, out_file=tmp_path / "state.json")
    assert run.code == 0
    assert "rejected by SES" in run.out
    assert run.state["tickets"] == []
    assert run.state["ses_rejections"][0]["recipients"] == ["sales@elsewhere.example"]


def test_schedules_fire_between_steps_and_their_writes_reach_stream_consumers(tmp_path: Path) -> None:
    # Given the test stack: Ticker every 20 minutes and nightly (02:30 Berlin), writing ORDER# items
    scenario = write(
        tmp_path / "s.jsonl",
        {"at": "2025-03-11T00:50:00Z", "tick": {}},
        {"at": "2025-03-11T01:20:00Z", "tick": {}},
        {"at": "2025-03-11T03:00:00Z", "tick": {}},
    )
    # When simulated until 01:35 (the last step is after it), strictly
    run = simulate(
        scenario,
        "--template",
        TEST_TEMPLATE,
        "--until",
        "2025-03-11T01:35:00Z",
        "--strict",
        out_file=tmp_path / "state.json",
    )
    # Then the schedules fired in time order, and each write was pumped to the filtered consumer
    fired = [(r["at"], r["trigger"], r["ok"]) for r in run.state["scheduled_runs"]]
    assert fired == [
        ("2025-03-11T01:10:00.000Z", "Every20Minutes", True),
        ("2025-03-11T01:15:00.000Z", "Once", False),
        ("2025-03-11T01:30:00.000Z", "Every20Minutes", True),
        ("2025-03-11T01:30:00.000Z", "Nightly", True),
    ]
    # And the failed one-off run went to the function's dead-letter queue, which --strict reports
    (dead,) = run.state["dead_letters"]
    assert (dead["function"], dead["attempts"], dead["error_type"]) == ("OneOff", 1, "ValueError")
    assert dead["destination"].endswith(":helpdesk-failuresqueue")
    assert run.code == 1
    assert "1 event(s) ended in dead letters (--strict)" in run.err
    consumers = run.state["simulation"]["stream_consumers"]
    assert consumers["FilteredConsumer.Orders"]["delivered"] == 3
    assert run.state["simulation"]["steps_not_run"][0]["line"] == 3
    assert "1 step(s) after --until were not run" in run.out
    assert run.state["simulation"]["ended_at"] == "2025-03-11T01:35:00.000Z"
