"""`helpdesk simulate` on the routing example: agent and update steps through the JWT-protected agent API,
and route_ticket reacting on the stream (queues that drain, sticky VIPs, manual assignment, overflow)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.simulator_cli import Run as BaseRun
from tests.integration.simulator_cli import run_cli, write

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "routing"
SCENARIO = EXAMPLE / "scenario.jsonl"
CONFIG = EXAMPLE / "helpdesk.yaml"
STREAMS_TEMPLATE = ROOT / "tests" / "events" / "templates" / "streams.yaml"

ROUTING_HISTORY = ("created", "queued", "routed", "updated", "load_released")
GERMAN_MID = "<5f2a9c1e-lieferung@gartenbau-mueller.example>"
RAW = (
    "From: Ann <ann@example.org>\r\nTo: support@support.example.com\r\nSubject: Printer\r\n"
    "Message-ID: <p1@example.org>\r\n\r\nThe printer in room 4 jams.\r\n"
)


@dataclass
class Run(BaseRun):
    def ticket(self, number: int) -> dict[str, Any]:
        found: dict[str, Any] = next(t for t in self.state["tickets"] if t["number"] == number)
        return found

    def events(self, number: int, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.ticket(number)["events"] if e["type"] == kind]

    def routing_history(self, number: int) -> list[dict[str, Any]]:
        """The ticket's events about who handles it (acknowledgements, SLA and the like left out)."""
        return [e for e in self.ticket(number)["events"] if e["type"] in ROUTING_HISTORY]

    def agent(self, agent_id: str) -> dict[str, Any]:
        found: dict[str, Any] = next(a for a in self.state["agents"] if a["id"] == agent_id)
        return found

    def response(self, line: int) -> dict[str, Any]:
        (found,) = [r for r in self.state["api_responses"] if r["step"] == line]
        response: dict[str, Any] = found
        return response

    def routing_lines(self) -> list[str]:
        return [
            line.strip().removeprefix("routing: ") for line in self.out.splitlines() if "routing: " in line
        ]


def simulate(*args: str | Path, out_file: Path) -> Run:
    return run_cli(Run, *args, out_file=out_file)


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The example, run once through the CLI with its config, for the assertions below."""
    return simulate(SCENARIO, "--config", CONFIG, out_file=tmp_path_factory.mktemp("routing") / "state.json")


def test_the_example_runs_every_step(day: Run) -> None:
    assert day.code == 0, day.err
    assert day.err == ""
    assert sum(1 for line in day.out.splitlines() if "/22] 2025-03-17" in line) == 22
    assert day.state["dead_letters"] == []
    assert day.state["counts"]["api_responses"] == 9


def test_who_got_which_ticket(day: Run) -> None:
    final = {t["number"]: (t["team"], t["assignee"], t["status"]) for t in day.state["tickets"]}
    assert final == {
        1: ("support", "bob", "new"),  # reassigned by the supervisor
        2: ("support", "alice", "new"),  # the refund: alice has the billing skill
        3: ("support", "alice", "new"),  # the outage, first out of the queue
        4: ("support", "bob", "resolved"),  # German: bob has the de skill
        5: ("vip", "vera", "new"),
        6: ("vip", "vera", "new"),  # the same VIP customer: sticky
        7: ("vip", "victor", "new"),  # another VIP customer: least loaded
        8: ("support", "bob", "new"),  # took the capacity bob's resolved ticket gave back
        9: ("tier2", "tom", "new"),  # overflowed after 30 minutes
        10: ("support", None, "new"),  # billing, alice away: waits
    }
    priorities = {t["number"]: t["priority"] for t in day.state["tickets"]}
    assert priorities[3] == "high"
    assert {priorities[n] for n in (5, 6, 7)} == {"urgent"}
    assert day.ticket(7)["tags"] == ["vip"]  # the VIP rule outweighs the billing keyword


def test_nobody_online_queues_and_the_queue_drains_most_urgent_first(day: Run) -> None:
    # Given four tickets queued while every agent is offline
    for number in (1, 2, 3, 4):
        (queued,) = day.events(number, "queued")
        assert (queued["team"], queued["why"]) == ("support", "no free agent")
        assert {c["skipped"] for c in queued["considered"] if c["agent"] != "sam"} <= {
            "presence offline",
            "lacks skills ['billing']",
            "lacks skills ['de']",
        }
    # When alice comes online (capacity 2): the high-priority outage first, then the oldest ticket
    assert day.routing_lines()[4:6] == [
        "#3 -> alice (support, from the queue after 10 min)",
        "#1 -> alice (support, from the queue after 18 min)",
    ]
    first = day.events(3, "routed")[0]
    assert (first["at"], first["from_queue"], first["waited_seconds"]) == (
        "2025-03-17T08:20:00.000Z",
        True,
        600.0,
    )
    # Then the refund waits for a free agent with the billing skill, the German ticket for bob
    (german,) = day.events(4, "routed")
    assert (german["agent"], german["at"]) == ("bob", "2025-03-17T08:24:00.000Z")
    skipped = {c["agent"]: c["skipped"] for c in german["considered"]}
    assert skipped["alice"] == "lacks skills ['de']"


def test_rules_are_recorded_with_their_reasons(day: Run) -> None:
    (refund,) = day.events(2, "queued")
    assert (refund["rule"], refund["reasons"]) == ("billing", ["keyword of ['refund', 'invoice']"])
    assert [r["rule"] for r in refund["rules_tried"]] == ["vip", "outage"]
    (outage,) = day.events(3, "queued")
    assert outage["rule"] == "outage"
    (german,) = day.events(4, "queued")
    assert (german["rule"], german["reasons"]) == ("german", ["language de in ['de']"])
    (login,) = day.events(1, "queued")
    assert (login["rule"], login["reasons"]) == (None, ["no rule matched: default team"])
    assert day.ticket(4)["tags"] == ["german"]


def test_vip_mail_goes_to_the_vip_team_and_sticks_to_the_customers_agent(day: Run) -> None:
    (first,) = day.events(5, "routed")
    assert (first["rule"], first["team"], first["strategy"], first["agent"]) == (
        "vip",
        "vip",
        "sticky",
        "vera",
    )
    # The same customer's second ticket goes to vera although victor is less loaded
    (second,) = day.events(6, "routed")
    assert second["agent"] == "vera"
    assert {c["agent"]: (c["load"], c["skipped"]) for c in second["considered"]} == {
        "vera": ("1/3", None),
        "victor": ("0/3", None),
    }
    # Another customer of the same company has no history: the least loaded agent
    (other,) = day.events(7, "routed")
    assert other["agent"] == "victor"
    assert day.ticket(5)["customer_id"] == day.ticket(6)["customer_id"] != day.ticket(7)["customer_id"]


def test_a_supervisors_reassignment_wins_and_capacity_follows(day: Run) -> None:
    # Given sam, a supervisor, reassigning #1 from alice to bob
    response = day.response(8)
    assert (response["status"], response["kind"], response["agent"], response["supervisor"]) == (
        200,
        "update",
        "sam",
        True,
    )
    assert (response["method"], response["path"], response["route"]) == (
        "PATCH",
        "/tickets/1",
        "PATCH /tickets/{ref}",
    )
    # Then the change is recorded with who made it, alice's capacity is given back, bob's counts it
    history = day.routing_history(1)
    assert [e["type"] for e in history] == [
        "created",
        "queued",
        "routed",
        "updated",
        "load_released",
        "routed",
    ]
    updated, released, manual = history[3:]
    assert (updated["by"], updated["changes"]) == ("sam", {"assignee": ["alice", "bob"]})
    assert (released["agent"], released["why"]) == ("alice", "reassigned to bob")
    assert (manual["agent"], manual["manual"], manual["reasons"]) == (
        "bob",
        True,
        ["manual assignment wins over rules"],
    )
    # And alice's freed place goes to the refund that waited for the billing skill
    (refund,) = day.events(2, "routed")
    assert (refund["agent"], refund["at"], refund["from_queue"]) == (
        "alice",
        "2025-03-17T08:26:00.000Z",
        True,
    )


def test_resolving_gives_capacity_back_and_the_next_queued_ticket_is_assigned(day: Run) -> None:
    # Given the German ticket resolved by bob, named by its Message-ID
    response = day.response(16)
    assert response["status"] == 200
    assert response["ticket"] == GERMAN_MID
    assert response["path"] == "/tickets/%3C5f2a9c1e-lieferung%40gartenbau-mueller.example%3E"
    (released,) = day.events(4, "load_released")
    assert (released["agent"], released["why"]) == ("bob", "ticket resolved")
    # Then the oldest ticket bob may take leaves the queue; the billing one keeps waiting
    (taken,) = day.events(8, "routed")
    assert (taken["agent"], taken["at"]) == ("bob", "2025-03-17T09:05:00.000Z")
    assert day.events(9, "routed")[0]["at"] != "2025-03-17T09:05:00.000Z"


def test_a_ticket_waiting_too_long_overflows_to_the_fallback_team(day: Run) -> None:
    queued = day.events(9, "queued")
    assert [(q["at"], q["team"]) for q in queued] == [
        ("2025-03-17T09:00:00.000Z", "support"),
        ("2025-03-17T09:30:00.000Z", "tier2"),
    ]
    assert (queued[1]["from_team"], queued[1]["why"]) == ("support", "overflow after 30 min")
    (routed,) = day.events(9, "routed")
    assert (routed["team"], routed["agent"], routed["waited_seconds"]) == ("tier2", "tom", 1800.0)
    assert [e["type"] for e in day.routing_history(9)] == ["created", "queued", "queued", "routed"]
    assert "#9 queued for tier2 (overflow after 30 min, from support)" in day.routing_lines()


def test_an_agent_who_is_away_gets_no_new_tickets(day: Run) -> None:
    (queued,) = day.events(10, "queued")
    skipped = {c["agent"]: c["skipped"] for c in queued["considered"]}
    assert skipped["alice"] == "presence away"
    assert skipped["bob"] == "lacks skills ['billing']"
    assert day.routing_lines()[-1] == "#10 queued for support (no free agent)"


def test_loads_match_open_tickets_and_never_exceed_capacity(day: Run) -> None:
    agents = {a["id"]: a for a in day.state["agents"]}
    assert {a: (agents[a]["presence"], agents[a]["load"]["email"]) for a in agents} == {
        "alice": ("away", 2),
        "bob": ("online", 2),
        "sam": ("offline", 0),  # never stored: the config's default presence
        "vera": ("online", 2),
        "victor": ("online", 1),
        "tom": ("online", 1),
    }
    assert agents["sam"]["last_assigned_at"] is None
    open_held: dict[str, int] = {}
    for ticket in day.state["tickets"]:
        if ticket["assignee"] and ticket["status"] not in ("resolved", "closed"):
            open_held[ticket["assignee"]] = open_held.get(ticket["assignee"], 0) + 1
    for agent in agents.values():
        assert agent["load"]["email"] == open_held.get(agent["id"], 0), agent["id"]
        assert agent["load"]["email"] <= agent["capacity"]["email"], agent["id"]
        assert agent["load"]["sms"] == agent["load"]["social"] == 0
    # Every automatic assignment was made while the agent was under capacity
    for ticket in day.state["tickets"]:
        for routed in (e for e in ticket["events"] if e["type"] == "routed" and not e.get("manual")):
            chosen = next(c for c in routed["considered"] if c["agent"] == routed["agent"])
            held, capacity = map(int, chosen["load"].split("/"))
            assert held < capacity, (ticket["number"], routed)


def test_a_refused_request_is_recorded_and_shown(day: Run) -> None:
    response = day.response(18)
    assert (response["status"], json.loads(response["body"])) == (
        400,
        {
            "type": "urn:helpdesk:problem:invalid-request",
            "title": "The request cannot be done as asked",
            "status": 400,
            "detail": "unknown agent 'zoe'",
            "instance": "/tickets/9",
        },
    )
    assert response["function"] == "AgentApiFunction"
    assert re.search(
        r"^!\[18/22\] .*update #9 assignee zoe by sam \(supervisor\) -> 400 refused: unknown agent 'zoe'",
        day.out,
        re.M,
    )
    assert "! 1 agent API request(s) not done" in day.out
    assert "line 18: PATCH /tickets/9 -> 400" in day.out
    assert re.search(r"agent API +9  \(200: 8, 400: 1\)", day.out)
    assert day.state["webhook_responses"] == []


def test_presence_steps_go_to_the_agent_api_as_the_agent(day: Run) -> None:
    response = day.response(6)
    assert (response["kind"], response["agent"], response["supervisor"]) == ("agent", "alice", False)
    assert (response["method"], response["path"], response["route"]) == (
        "PUT",
        "/agents/alice/presence",
        "PUT /agents/{agent_id}/presence",
    )
    assert (response["status"], json.loads(response["body"])) == (200, {"agent": "alice", "status": "online"})
    assert response["error"] is None
    assert re.search(r"line 20 +agent +alice away -> 200", day.out)


def test_the_summary_shows_teams_assignees_and_agents(day: Run) -> None:
    lines = day.out.splitlines()
    header = next(line for line in lines if line.strip().startswith("#  channel"))
    assert "team" in header
    assert "assignee" in header
    row = next(line for line in lines if re.match(r"^ +9  email", line))
    assert re.search(r"tier2 +tom ", row)
    assert "Agents" in lines
    assert re.search(r"^  alice +away +2/2 +0/2 +0/2  support$", day.out, re.M)
    assert re.search(r"^  sam +offline +0/0 +0/0 +0/0  support$", day.out, re.M)
    report = day.state["counts"]
    assert report["tickets"]["by_team"] == {"support": 6, "vip": 3, "tier2": 1}
    assert report["tickets"]["assigned"] == 9
    assert report["agents"] == {"total": 6, "by_presence": {"away": 1, "online": 4, "offline": 1}}


# -- small scenarios --------------------------------------------------------------------------------
def test_a_webhook_to_a_jwt_protected_route_is_unauthorized(tmp_path: Path) -> None:
    # Given a request to the agent API without any identity (a webhook step carries none)
    scenario = write(
        tmp_path / "s.jsonl",
        {"at": "2025-03-17T08:00:00Z", "webhook": {"method": "GET", "path": "/tickets/1"}},
        {
            "at": "2025-03-17T08:01:00Z",
            "webhook": {"method": "GET", "path": "/tickets/1", "headers": {"Authorization": "Bearer forged"}},
        },
    )
    # When simulated
    run = simulate(scenario, out_file=tmp_path / "state.json")
    # Then API Gateway answers 401 without calling the function, as for a missing or invalid token
    assert run.code == 0, run.err
    statuses = [(r["status"], r["body"], r["route"]) for r in run.state["webhook_responses"]]
    assert statuses == [(401, '{"message":"Unauthorized"}', "GET /tickets/{ref}")] * 2
    assert run.state["simulation"]["invocations"].get("AgentApiFunction", {}).get("invocations", 0) == 0
    assert run.state["api_responses"] == []


def test_agent_side_refusals_come_from_the_application(tmp_path: Path) -> None:
    # Given the bundled config (alice, bob, carol online by default), a ticket and three requests
    scenario = write(
        tmp_path / "s.jsonl",
        {"at": "2025-03-17T08:00:00Z", "email": {"raw": RAW}},
        {"at": "2025-03-17T08:01:00Z", "agent": {"id": "mallory", "status": "online"}},
        {"at": "2025-03-17T08:02:00Z", "update": {"ticket": 42, "agent": "bob", "priority": "high"}},
        {
            "at": "2025-03-17T08:03:00Z",
            "update": {"ticket": "p1@example.org", "agent": "bob", "priority": "high"},
        },
        {
            "at": "2025-03-17T08:04:00Z",
            "update": {"ticket": "<p1@example.org>", "agent": "bob", "tags_add": ["hw"]},
        },
        {"at": "2025-03-17T08:05:00Z", "agent": {"id": "alice", "status": "offline"}},
    )
    # When simulated
    run = simulate(scenario, out_file=tmp_path / "state.json")
    # Then each answer is the agent API's, refusals included, and the run goes on (a Message-ID
    # without its angle brackets names the ticket too)
    assert run.code == 0, run.err
    answers = [(r["step"], r["status"]) for r in run.state["api_responses"]]
    assert answers == [(2, 403), (3, 404), (4, 200), (5, 200), (6, 200)]
    assert "is not an agent of this helpdesk" in run.response(2)["body"]
    ticket = run.ticket(1)
    assert (ticket["team"], ticket["tags"], ticket["priority"]) == ("support", ["hw"], "high")
    assert ticket["assignee"] in ("alice", "bob", "carol")
    assert run.agent("alice")["presence"] == "offline"
    assert run.agent("carol")["presence"] == "online"  # never set: the bundled default
    assert run.out.count("refused:") == 2


def test_agent_steps_need_the_agent_api(tmp_path: Path) -> None:
    scenario = write(
        tmp_path / "s.jsonl",
        {"at": "2025-03-17T08:00:00Z", "agent": {"id": "ana", "status": "online"}},
        {"at": "2025-03-17T08:01:00Z", "update": {"ticket": "<a b@x>", "agent": "ana", "status": "open"}},
    )
    run = simulate(scenario, "--template", STREAMS_TEMPLATE, out_file=tmp_path / "state.json")
    assert run.code == 2
    assert (
        "line 1 (agent step): no route of the template's HTTP APIs takes PUT /agents/ana/presence: "
        "agent steps need the agent API (PUT /agents/{agent_id}/presence)"
    ) in run.err
    assert (
        "line 2 (update step): no route of the template's HTTP APIs takes PATCH /tickets/%3Ca%20b%40x%3E"
        in run.err
    )
    assert run.out == ""


def test_agents_online_are_told_of_their_new_tickets_within_the_same_step(day: Run) -> None:
    """Agents who come online connect their UI to the live workspace (the real `$connect`, with an
    ID token of the simulator's user pool); `pushes` is what each was told, step by step."""
    pushes = day.state["pushes"]
    created_at = {
        d["ticket_number"]: i["step"]
        for i in day.state["inputs"]
        for delivery in i["deliveries"]
        for d in delivery
        if d.get("outcome") == "created"
    }
    given = [
        (agent, e["ticket"], e["step"])
        for agent, told in pushes.items()
        for e in told
        if e["type"] == "ticket.assigned" and e["data"]["to"] == agent
    ]
    # every ticket assigned to an agent who was online reached that agent's screen...
    for ticket in day.state["tickets"]:
        if ticket["assignee"] in pushes:
            assert (ticket["assignee"], ticket["number"]) in {(a, t) for a, t, _ in given}
    # ...and one routed as it arrived was told in the very step its email came in
    assert any(created_at.get(number) == step for _, number, step in given)
    # the VIP desk never hears of a ticket it cannot see: every push to vera is about a VIP ticket
    teams = {t["number"]: t["team"] for t in day.state["tickets"]}
    assert pushes["vera"]
    assert {teams[e["ticket"]] for e in pushes["vera"]} == {"vip"}
    # in order, each with the step that made it
    steps = [e["step"] for e in pushes["alice"]]
    assert steps == sorted(steps)
