"""route_new_ticket on the in-memory stores: which agent a new ticket goes to under each team
strategy, what happens when nobody is free, and what is stored (see tests/fakes)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared import clock
from shared.config import parse_config
from shared.dal.agents import AgentLive, RoutingChanges
from shared.dal.queues import QueueEntry, queue_key
from shared.dal.tickets import sla_shard
from shared.logic.route_ticket import RouteOutcome, RoutingContext, route_new_ticket
from shared.models.ticket import Sla, Ticket, TicketEvent
from tests.fakes import MemoryRepository
from tests.fakes.deadlines import all_unrouted, due_in
from tests.fakes.seeds import email_ticket

CREATED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOW = CREATED + timedelta(minutes=1)

CONFIG = """
teams:
  - {id: support, strategy: least_loaded}
  - {id: rota, strategy: round_robin}
  - {id: overflow}
agents:
  - {id: alice, teams: [support, rota], capacity: {email: 10, sms: 1, social: 1}}
  - {id: bob, teams: [support, rota], capacity: {email: 2, sms: 1, social: 1}}
  - {id: olga, teams: [overflow], capacity: {email: 1, sms: 1, social: 1}}
routing:
  default_team: support
  rules:
    - {name: rota, when: {keywords: [rota]}, then: {team: rota}}
    - {name: spill, when: {keywords: [spill]}, then: {team: support, fallback_team: overflow, priority: high}}
"""


TRIED_BOTH = [
    {"rule": "rota", "why_not": "not keyword of ['rota']"},
    {"rule": "spill", "why_not": "not keyword of ['spill']"},
]


def new_ticket(repo: MemoryRepository, ticket_id: str, subject: str = "Printer") -> Ticket:
    return email_ticket(repo, ticket_id, CREATED, customer_id=f"c-{ticket_id}", subject=subject)


def holding(
    repo: MemoryRepository, agent: str, tickets: int, last_assigned: datetime, batch: str = ""
) -> None:
    """`agent` online, holding `tickets` more email tickets, the last one given at `last_assigned`."""
    repo.set_presence(agent, "online", ["support", "rota"], CREATED)
    for index in range(tickets):
        held = new_ticket(repo, f"held-{agent}-{batch}{index}")
        changes = RoutingChanges(team="support", priority="normal", tags=[], skills=[])
        repo.claim(held.id, agent, "email", None, changes, [], last_assigned)


@pytest.fixture
def repo() -> MemoryRepository:
    return MemoryRepository()


@pytest.fixture
def ctx(repo: MemoryRepository) -> RoutingContext:
    return RoutingContext(repository=repo, config=parse_config(CONFIG))


def considered(*rows: tuple[str, str, str | None]) -> list[dict[str, Any]]:
    return [{"agent": agent, "load": load, "skipped": skipped} for agent, load, skipped in rows]


def test_least_loaded_compares_load_relative_to_capacity(repo: MemoryRepository, ctx: RoutingContext) -> None:
    # alice holds 3 of 10 (0.3), bob 1 of 2 (0.5): bob holds fewer tickets, alice is less loaded
    holding(repo, "alice", 3, CREATED - timedelta(hours=1))
    holding(repo, "bob", 1, CREATED - timedelta(hours=2))
    ticket = new_ticket(repo, "t1")

    outcome = route_new_ticket(ticket, ctx, NOW)

    data = {
        "rule": None,
        "reasons": ["no rule matched: default team"],
        "rules_tried": TRIED_BOTH,
        "team": "support",
        "strategy": "least_loaded",
        "considered": considered(("alice", "3/10", None), ("bob", "1/2", None)),
        "agent": "alice",
    }
    assert outcome == RouteOutcome("t1", "assigned", "support", "alice", data)
    assert repo.get_ticket("t1") == ticket.model_copy(
        update={
            "team": "support",
            "assignee": "alice",
            "load_holder": "alice",
            "updated_at": NOW,
            "sla": Sla(),
        }
    )
    assert repo.list_events("t1") == [TicketEvent(at=NOW, type="routed", data=data)]
    assert {a.id: a.load["email"] for a in repo.get_agents(["alice", "bob"]).values()} == {
        "alice": 4,
        "bob": 1,
    }
    assert repo.get_agents(["alice"])["alice"].last_assigned_at == clock.iso(NOW)
    assert "t1" not in [t.id for t in all_unrouted(repo, NOW)]  # routed: out of the unrouted index


def test_round_robin_gives_the_ticket_to_whoever_waited_longest(
    repo: MemoryRepository, ctx: RoutingContext
) -> None:
    # least loaded would pick alice (0.3 against 0.5); bob was given a ticket longer ago
    holding(repo, "alice", 3, CREATED - timedelta(minutes=10))
    holding(repo, "bob", 1, CREATED - timedelta(hours=2))
    ticket = new_ticket(repo, "t1", subject="rota question")

    outcome = route_new_ticket(ticket, ctx, NOW)

    assert outcome == RouteOutcome(
        "t1",
        "assigned",
        "rota",
        "bob",
        {
            "rule": "rota",
            "reasons": ["keyword of ['rota']"],
            "rules_tried": [],
            "team": "rota",
            "strategy": "round_robin",
            "considered": considered(("alice", "3/10", None), ("bob", "1/2", None)),
            "agent": "bob",
        },
    )
    stored = repo.get_ticket("t1")
    assert stored is not None
    assert (stored.team, stored.assignee, stored.load_holder) == ("rota", "bob", "bob")
    assert repo.get_agents(["bob"])["bob"].load["email"] == 2


def test_nobody_free_queues_the_ticket_with_why_each_agent_was_skipped(
    repo: MemoryRepository, ctx: RoutingContext
) -> None:
    holding(repo, "bob", 2, CREATED)  # at capacity exactly
    repo.set_presence("alice", "away", ["support", "rota"], CREATED)
    ticket = new_ticket(repo, "t1")

    outcome = route_new_ticket(ticket, ctx, NOW)

    key = queue_key("normal", NOW, "t1")
    data = {
        "rule": None,
        "reasons": ["no rule matched: default team"],
        "rules_tried": TRIED_BOTH,
        "team": "support",
        "strategy": "least_loaded",
        "considered": considered(
            ("alice", "0/10", "presence away"), ("bob", "2/2", "at capacity (2/2 email)")
        ),
        "why": "no free agent",
    }
    assert outcome == RouteOutcome("t1", "queued", "support", None, {"queue_key": key})
    assert repo.list_queue("support") == [QueueEntry("support", "t1", "normal", "email", NOW, key)]
    assert repo.list_events("t1") == [TicketEvent(at=NOW, type="queued", data=data)]
    assert repo.get_ticket("t1") == ticket.model_copy(
        update={"team": "support", "queued_at": NOW, "updated_at": NOW, "sla": Sla()}
    )
    assert "t1" not in [t.id for t in all_unrouted(repo, NOW)]
    assert route_new_ticket(ticket, ctx, NOW) == RouteOutcome(
        "t1", "already", "support"
    )  # redelivered record
    assert len(repo.list_queue("support")) == 1


def test_the_rules_fallback_team_takes_the_ticket_when_its_own_team_is_full(
    repo: MemoryRepository, ctx: RoutingContext
) -> None:
    repo.set_presence("olga", "online", ["overflow"], CREATED)
    ticket = new_ticket(repo, "t1", subject="spill over")

    outcome = route_new_ticket(ticket, ctx, NOW)

    assert (outcome.outcome, outcome.team, outcome.agent) == ("assigned", "overflow", "olga")
    assert outcome.details["fallback_from"] == "support"
    assert outcome.details["considered_fallback"] == considered(("olga", "0/1", None))
    stored = repo.get_ticket("t1")
    assert stored is not None
    assert (stored.team, stored.assignee, stored.priority) == ("overflow", "olga", "high")


class StalePresence(MemoryRepository):
    """Agents read as they were before another router's claim landed: the claim must lose."""

    def __init__(self, stale: dict[str, AgentLive]) -> None:
        super().__init__()
        self.stale = stale

    def get_agents(self, agent_ids: Sequence[str]) -> dict[str, AgentLive]:
        live = super().get_agents(agent_ids)
        return {agent_id: self.stale.get(agent_id, state) for agent_id, state in live.items()}


def test_a_claim_lost_to_another_router_moves_on_to_the_next_agent() -> None:
    repo = StalePresence({})
    holding(repo, "alice", 4, CREATED - timedelta(hours=1))  # 4/10 against bob's 1/2: alice first
    holding(repo, "bob", 1, CREATED - timedelta(hours=2))
    repo.stale = {"alice": repo.get_agents(["alice"])["alice"]}
    holding(repo, "alice", 6, CREATED, batch="late-")  # other routers filled alice meanwhile
    ticket = new_ticket(repo, "t1")
    ctx = RoutingContext(repository=repo, config=parse_config(CONFIG))

    outcome = route_new_ticket(ticket, ctx, NOW)

    assert (outcome.outcome, outcome.agent) == ("assigned", "bob")
    assert outcome.details["lost_claims"] == ["alice"]
    assert {a.id: a.load["email"] for a in MemoryRepository.get_agents(repo, ["alice", "bob"]).values()} == {
        "alice": 10,
        "bob": 2,
    }


def test_a_ticket_assigned_already_is_left_alone(repo: MemoryRepository, ctx: RoutingContext) -> None:
    ticket = new_ticket(repo, "t1").model_copy(update={"assignee": "bob", "team": "support"})

    assert route_new_ticket(ticket, ctx, NOW) == RouteOutcome("t1", "already", "support", "bob")
    assert repo.list_events("t1") == []


def test_without_any_team_the_decision_is_recorded_once_and_the_ticket_leaves_the_unrouted_index(
    repo: MemoryRepository,
) -> None:
    ctx = RoutingContext(repository=repo, config=parse_config("agents: []"))
    ticket = new_ticket(repo, "t1")

    first = route_new_ticket(ticket, ctx, NOW)
    again = route_new_ticket(ticket, ctx, NOW)

    data = {
        "rule": None,
        "reasons": ["no rule matched: default team"],
        "rules_tried": [],
        "team": None,
        "why": "no team configured",
    }
    assert first == again == RouteOutcome("t1", "no_team")
    assert repo.list_events("t1") == [TicketEvent(at=NOW, type="queued", data=data)]
    assert all_unrouted(repo, NOW) == []
    assert repo.get_ticket("t1") == ticket


def test_an_sla_policy_puts_the_routed_ticket_in_the_due_index(repo: MemoryRepository) -> None:
    text = (
        CONFIG + "sla:\n  sweep_shards: 2\n  policies:\n    - {name: email, first_response: {minutes: 60}}\n"
    )
    ctx = RoutingContext(repository=repo, config=parse_config(text))
    repo.set_presence("bob", "online", ["support"], CREATED)
    ticket = new_ticket(repo, "t1")

    outcome = route_new_ticket(ticket, ctx, NOW)

    assert (outcome.outcome, outcome.agent) == ("assigned", "bob")
    warn, due = CREATED + timedelta(minutes=48), CREATED + timedelta(minutes=60)  # warning at 0.8
    assert [t.id for t in due_in(repo, sla_shard("t1", 2), warn)] == ["t1"]  # the earlier deadline
    assert due_in(repo, sla_shard("t1", 2), warn - timedelta(milliseconds=1)) == []
    assert all_unrouted(repo, NOW) == []
    stored = repo.get_ticket("t1")
    assert stored is not None
    assert stored.sla.policy == "email"
    assert [(t.name, t.warn_at, t.due_at) for t in stored.sla.targets] == [("first_response", warn, due)]
