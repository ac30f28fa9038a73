"""The simulator's view of routing: decisions read from stream records, and the agents in the state."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.config import parse_config
from shared.models.ticket import TicketEvent
from simulator.activity import Activity, describe
from simulator.state import agents_state

CONFIG = parse_config(
    """
teams: [{id: support}, {id: vip}]
agents:
  - {id: alice, teams: [support], skills: [billing], capacity: {email: 2, sms: 1, social: 1}}
  - {id: bob, teams: [support, vip], default_presence: online}
"""
)
AT = "2025-03-17T08:20:00.000Z"


@dataclass
class Log:
    records: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Pump:
    streams: dict[str, Log]


def ticket_record(ticket_id: str, number: int, event_name: str = "INSERT") -> dict[str, Any]:
    return {
        "eventName": event_name,
        "dynamodb": {
            "Keys": {"pk": {"S": f"TICKET#{ticket_id}"}, "sk": {"S": "TICKET"}},
            "NewImage": {"number": {"N": str(number)}, "status": {"S": "new"}},
        },
    }


def event_record(ticket_id: str, event_type: str, data: dict[str, Any], at: str = AT) -> dict[str, Any]:
    return {
        "eventName": "INSERT",
        "dynamodb": {
            "Keys": {"pk": {"S": f"TICKET#{ticket_id}"}, "sk": {"S": f"EVENT#{at}#000#evt_x"}},
            "NewImage": {"at": {"S": at}, "type": {"S": event_type}, "data": {"S": json.dumps(data)}},
        },
    }


def test_routing_decisions_since_the_last_step_are_described_with_ticket_numbers() -> None:
    # Given a stream that already had records before the simulation's first step
    log = Log([ticket_record("t0", 9)])
    activity = Activity(Pump({"arn": log}))
    # When a step creates two tickets, queues one and routes the other, and an agent item changes
    log.records += [
        ticket_record("t1", 1),
        event_record("t1", "created", {}),
        event_record("t1", "queued", {"team": "support", "why": "no free agent"}),
        ticket_record("t2", 2),
        event_record("t2", "routed", {"agent": "alice", "team": "support", "rule": "billing"}),
        {"eventName": "MODIFY", "dynamodb": {"Keys": {"pk": {"S": "AGENT#alice"}, "sk": {"S": "AGENT"}}}},
    ]
    # Then only the routing decisions are described, in the order they were written
    assert activity.since_last() == [
        "#1 queued for support (no free agent)",
        "#2 -> alice (support, rule billing)",
    ]
    # And nothing is described twice
    assert activity.since_last() == []


def test_each_kind_of_routing_event_reads_well() -> None:
    assert describe("routed", {"agent": "bob", "manual": True, "team": "support"}, "#1") == (
        "#1 -> bob (manual assignment)"
    )
    assert describe(
        "routed", {"agent": "tom", "team": "tier2", "from_queue": True, "waited_seconds": 1800.0}, "#9"
    ) == ("#9 -> tom (tier2, from the queue after 30 min)")
    assert describe(
        "queued", {"team": "tier2", "from_team": "support", "why": "overflow after 30 min"}, "#9"
    ) == ("#9 queued for tier2 (overflow after 30 min, from support)")
    assert describe("queued", {"team": None, "why": "no team configured"}, "#4") == (
        "#4 not routed (no team configured)"
    )
    assert describe("load_released", {"agent": "bob", "why": "ticket resolved"}, "#4") == (
        "#4 gave bob's capacity back (ticket resolved)"
    )


def test_events_of_one_instant_are_ranked_in_the_order_they_were_written() -> None:
    log = Log()
    activity = Activity(Pump({"arn": log}))
    log.records += [
        event_record("t1", "updated", {"by": "sam", "changes": {"assignee": ["alice", "bob"]}}),
        event_record("t1", "load_released", {"agent": "alice", "why": "reassigned to bob"}),
        event_record("t1", "routed", {"agent": "bob", "manual": True}),
    ]
    activity.since_last()
    at = datetime(2025, 3, 17, 8, 20, tzinfo=UTC)
    events = [
        TicketEvent(at=at, type="routed", data={"agent": "bob", "manual": True}),
        TicketEvent(at=at, type="updated", data={"by": "sam", "changes": {"assignee": ["alice", "bob"]}}),
        TicketEvent(at=at, type="load_released", data={"agent": "alice", "why": "reassigned to bob"}),
    ]
    ranked = sorted(events, key=lambda e: activity.rank("t1", AT, e.type, e.data))
    assert [e.type for e in ranked] == ["updated", "load_released", "routed"]
    assert activity.rank("t1", AT, "unknown", {}) == 3  # not seen: after the known ones
    assert activity.rank("t2", AT, "routed", {}) == 0


def test_agents_merge_the_config_with_what_the_table_stores() -> None:
    # Given alice stored (online, one email ticket), bob never stored, and a stored agent the config lost
    items = [
        {"pk": "AGENT#alice", "sk": "AGENT", "id": "alice", "presence": "online", "load_email": 1},
        {"pk": "AGENT#zed", "sk": "AGENT", "id": "zed", "presence": "away", "teams": ["vip"], "load_sms": 2},
    ]
    # When the state's agents are built
    agents = agents_state(CONFIG, items)
    # Then config agents come first, with the default presence and no load until something is stored
    assert [(a["id"], a["presence"], a["load"]) for a in agents] == [
        ("alice", "online", {"email": 1, "sms": 0, "social": 0}),
        ("bob", "online", {"email": 0, "sms": 0, "social": 0}),
        ("zed", "away", {"email": 0, "sms": 2, "social": 0}),
    ]
    alice, bob, zed = agents
    assert (alice["teams"], alice["skills"], alice["capacity"]) == (
        ["support"],
        ["billing"],
        {"email": 2, "sms": 1, "social": 1},
    )
    assert bob["capacity"] == {"email": 10, "sms": 5, "social": 5}
    assert bob["last_assigned_at"] is None
    assert (zed["teams"], zed["capacity"]) == (["vip"], None)


def test_an_agent_the_config_starts_offline_stays_offline_until_stored() -> None:
    (alice, _) = agents_state(CONFIG, [])
    assert alice["presence"] == "offline"
