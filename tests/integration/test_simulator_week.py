"""The support-week example end to end: a week of traffic, its report (GET /reports) and its digest.

The expected figures are counted from the scenario file itself: the tickets its inputs open (a mail
with no In-Reply-To, a first text from a number, a first Messenger message from a sender), its
resolutions, the customer messages that reach a resolved ticket (a rating, or else a reopen).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from email import message_from_string
from pathlib import Path
from statistics import mean
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shared.logic.survey import csat_rating
from simulator.runner import DEFAULT_TEMPLATE
from tests.integration.simulator_cli import Run, run_cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "support-week"
REPORTING_ZONE = ZoneInfo("Europe/Berlin")  # the example config's reports.timezone


@dataclass
class Expected:
    """What the scenario does, counted from its steps."""

    opened_on: Counter[date] = field(default_factory=Counter)
    """Tickets opened per local day of the reporting time zone."""
    channel: dict[str, str] = field(default_factory=dict)
    """Ticket REF -> its channel."""
    resolved: int = 0
    reopened: int = 0
    ratings: list[int] = field(default_factory=list)
    replied: set[str] = field(default_factory=set)
    """Tickets an agent replied to."""
    done: set[str] = field(default_factory=set)
    """Tickets resolved at the end."""

    def customer_message(self, ref: str, text: str) -> None:
        if ref not in self.done:
            return
        rating = csat_rating(text)
        if rating is not None:
            self.ratings.append(rating)
        else:
            self.reopened += 1
            self.done.discard(ref)


def _opening(expected: Expected, step: dict[str, Any], by_sender: dict[str, str]) -> tuple[str, str] | None:
    """The (REF, text) of a customer's message, after opening its ticket if it is the first."""
    at = datetime.fromisoformat(step["at"].replace("Z", "+00:00")).astimezone(REPORTING_ZONE).date()
    if "email" in step:
        mail = message_from_string(step["email"]["raw"])
        text = str(mail.get_payload()).strip()
        if mail["In-Reply-To"]:
            return str(mail["In-Reply-To"]), text
        sender, ref, channel = str(mail["Message-ID"]), str(mail["Message-ID"]), "email"
    elif "sms" in step:
        sender, ref, channel = step["sms"]["originationNumber"], step["sms"]["inboundMessageId"], "sms"
        text = step["sms"]["messageBody"]
    else:
        (entry,) = json.loads(step["webhook"]["body"])["entry"]
        (item,) = entry["messaging"]
        sender, ref, channel = item["sender"]["id"], item["message"]["mid"], "messenger"
        text = item["message"]["text"]
    if sender in by_sender:
        return by_sender[sender], text
    by_sender[sender] = ref
    expected.opened_on[at] += 1
    expected.channel[ref] = channel
    return None


def expected_of(scenario: Path) -> Expected:
    expected = Expected()
    by_sender: dict[str, str] = {}
    for line in scenario.read_text(encoding="utf-8").splitlines():
        step = json.loads(line)
        if {"email", "sms", "webhook"} & set(step):
            message = _opening(expected, step, by_sender)
            if message is not None:
                expected.customer_message(*message)
        elif "reply" in step:
            expected.replied.add(step["reply"]["ticket"])
        elif "update" in step and step["update"].get("status") == "resolved":
            expected.resolved += 1
            expected.done.add(step["update"]["ticket"])
    return expected


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The example, run once. The two every-minute schedules (the SLA sweeper, the queue overflow)
    fire every 30 minutes instead, which saves 19,000 invocations. No figure checked here depends on
    them: agents are online, so nothing waits in a queue, and no SLA outcome is checked (a breach is
    recorded by the sweep, so a reply up to 30 minutes late could still meet its target here)."""
    here = tmp_path_factory.mktemp("week")
    text = DEFAULT_TEMPLATE.read_text(encoding="utf-8").replace("rate(1 minute)", "rate(30 minutes)")
    root = DEFAULT_TEMPLATE.parent
    text = text.replace("CodeUri: functions/", f"CodeUri: {root}/functions/")
    text = text.replace("ContentUri: shared/", f"ContentUri: {root}/shared/")
    template = here / "template.yaml"
    template.write_text(text, encoding="utf-8")
    return run_cli(
        Run,
        EXAMPLE / "scenario.jsonl",
        "--config",
        EXAMPLE / "helpdesk.yaml",
        "--template",
        template,
        "--digest-dir",
        here / "out",
        "--quiet",
        out_file=here / "state.json",
    )


def test_the_generated_scenario_is_the_committed_one(tmp_path: Path) -> None:
    # Given the generator and its seed, when it is run again, then it writes the committed file
    import runpy

    generator = runpy.run_path(str(EXAMPLE / "make_scenario.py"))
    written = generator["support_week"](generator["random"].Random(generator["SEED"])).write(
        tmp_path / "s.jsonl"
    )
    assert written.read_text(encoding="utf-8") == (EXAMPLE / "scenario.jsonl").read_text(encoding="utf-8")


def test_the_report_covers_the_week_by_day(week: Run) -> None:
    assert week.code == 0, week.err
    report = week.state["report"]
    assert (report["timezone"], report["from"], report["to"], report["group_by"]) == (
        "Europe/Berlin",
        "2025-03-10",
        "2025-03-16",
        "day",
    )
    assert [g["key"] for g in report["groups"]] == [f"2025-03-{day}" for day in range(10, 17)]


def test_the_report_counts_what_the_scenario_did(week: Run) -> None:
    expected = expected_of(EXAMPLE / "scenario.jsonl")
    report = week.state["report"]
    volume = report["total"]["volume"]
    created = sum(expected.opened_on.values())
    assert created == len(week.state["tickets"])  # every input that opens a ticket did
    assert volume["created"] == created
    assert {g["key"]: g["figures"]["volume"]["created"] for g in report["groups"]} == {
        day.isoformat(): expected.opened_on[day] for day in sorted(expected.opened_on)
    }
    assert volume["resolved"] == expected.resolved
    assert volume["reopened"] == expected.reopened > 0
    assert volume["backlog"] == created - len(expected.done)
    satisfaction = report["total"]["satisfaction"]
    assert satisfaction["ratings"] == len(expected.ratings) > 0
    assert satisfaction["score"] == pytest.approx(mean(expected.ratings))
    # And a first response for every ticket an agent answered whose reply went out: email and SMS
    # (Meta is not simulated, so a Messenger reply fails to send and answers nobody)
    sent = {r for r in expected.replied if expected.channel[r] != "messenger"}
    assert report["total"]["durations"]["first_response"]["calendar"]["count"] == len(sent)


def test_the_run_prints_the_headline_figures_and_writes_the_weekly_digest(
    week: Run, tmp_path_factory: pytest.TempPathFactory
) -> None:
    volume = week.state["report"]["total"]["volume"]
    lines = week.out.splitlines()
    start = lines.index("Report 2025-03-10 to 2025-03-16 (Europe/Berlin, all teams)")
    headlines = dict(line.strip().split("  ", 1) for line in lines[start + 1 : start + 10])
    assert headlines["Created"].strip() == str(volume["created"])
    assert headlines["Resolved"].strip() == str(volume["resolved"])
    assert headlines["Backlog at the end"].strip() == str(volume["backlog"])
    digest = week.state["digest"]
    assert (digest["team"], digest["kind"], digest["from"], digest["to"]) == (
        "all",
        "weekly",
        "2025-03-10",
        "2025-03-16",
    )
    assert f"{volume['created']} created, {volume['resolved']} resolved" in digest["subject"]
    [written] = [line for line in lines if line.strip().startswith("digest ")]
    page = Path(written.split(None, 1)[1]).read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") or page.lstrip().lower().startswith("<!doctype html>")
    assert page.count("<svg") == 2
    for label in ("Created", "Resolved", "Backlog at the end", "First response, median"):
        assert label in page
