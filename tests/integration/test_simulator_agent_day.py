"""`helpdesk simulate` on the agent-day example: an agent's day replayed through the agent API's
routes (api steps), with route_ticket keeping the views from the stream between steps."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.simulator_cli import Run as BaseRun
from tests.integration.simulator_cli import run_cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "agent-day"


@dataclass
class Run(BaseRun):
    def body(self, line: int) -> Any:
        (found,) = [r for r in self.state["api_responses"] if r["step"] == line]
        return found["status"], json.loads(found["body"]) if found["body"] else None

    def ticket(self, number: int) -> dict[str, Any]:
        found: dict[str, Any] = next(t for t in self.state["tickets"] if t["number"] == number)
        return found


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Run:
    out = tmp_path_factory.mktemp("agent-day") / "state.json"
    return run_cli(Run, EXAMPLE / "scenario.jsonl", "--config", EXAMPLE / "helpdesk.yaml", out_file=out)


def numbers(page: dict[str, Any]) -> list[int]:
    return [t["number"] for t in page["tickets"]]


def test_the_day_runs_and_every_request_is_answered(day: Run) -> None:
    assert day.code == 0, day.err
    assert [r["status"] for r in day.state["api_responses"] if r["kind"] == "api"] == [
        201, 200, 200, 200, 200, 202, 200, 200, 200, 200,
    ]  # fmt: skip


def test_the_agent_works_her_view_and_merges_the_duplicate(day: Run) -> None:
    # alice's "mine" holds both of Jane's tickets, newest first
    status, mine = day.body(8)
    assert (status, numbers(mine), mine["count"]) == (200, [2, 1], 2)
    # she merges the second into the first: #2 is closed, its message in #1's conversation
    status, merged = day.body(10)
    assert (status, merged["moved"], merged["source"]["ticket"]["status"]) == (200, 1, "closed")
    (merge,) = [e for e in day.ticket(2)["events"] if e["type"] == "merged"]
    assert (merge["into"], merge["by"]) == (day.ticket(1)["id"], "alice")
    texts = [m["text"] for m in day.ticket(1)["messages"] if m["direction"] == "inbound"]
    assert any("asks for" in t for t in texts)


def test_a_canned_response_is_previewed_then_sent_with_its_actions(day: Run) -> None:
    status, preview = day.body(11)
    assert status == 200
    assert preview["text"].startswith("Hello Jane Doe,\n\nthank you for writing about ticket #1.")
    assert preview["text"].endswith("Alice")
    status, applied = day.body(12)
    assert (status, applied["reply"]["to"]) == (202, "jane.doe@customer.example")
    assert applied["changes"] == {"status": ["new", "pending"], "tags": [[], ["printer"]]}
    sent = [m for m in day.ticket(1)["messages"] if m["direction"] == "outbound" and not m["automatic"]]
    assert [m["text"] for m in sent] == [preview["text"]]


def test_a_supervisor_reassigns_and_the_views_follow(day: Run) -> None:
    assert day.body(13)[1]["ticket"]["assignee"] == "alice"
    status, mine = day.body(14)
    assert (status, numbers(mine)) == (200, [3, 1])  # #2 left every open view when merged
    status, views = day.body(15)
    counts = {v["name"]: v["count"] for v in views["views"]}
    assert (counts["mine"], counts["open"], counts["waiting"], counts["status:closed"]) == (0, 2, 1, 1)
    status, actions = day.body(17)
    kinds = [a["event"]["type"] for a in actions["actions"]]
    # newest first, as sam reads alice's: the macro's events and its reply as sent share a moment
    # (the send runs in the same step: any order), then the merge
    assert (sorted(kinds[:3]), kinds[3:]) == (["macro_applied", "message_sent", "updated"], ["merged"])
