"""Queues and capacity on the in-memory stores: a freed agent takes the most urgent waiting ticket,
a manual reassignment moves the capacity it holds, an agent coming online drains the queue and
forgets entries of tickets assigned by hand (see tests/fakes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.config import parse_config
from shared.dal.queues import QueueEntry, queue_key
from shared.dal.tickets import TicketUpdate
from shared.logic.route_ticket import (
    RouteOutcome,
    RoutingContext,
    on_presence,
    release_load,
    route_new_ticket,
)
from shared.models.ticket import Priority, Ticket, TicketEvent
from tests.fakes import MemoryRepository
from tests.fakes.seeds import email_ticket

CREATED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

CONFIG = """
teams:
  - {id: support}
agents:
  - {id: alice, teams: [support], capacity: {email: 1, sms: 1, social: 1}}
  - {id: bob, teams: [support], capacity: {email: 1, sms: 1, social: 1}}
routing:
  rules:
    - {name: urgent, when: {keywords: [outage]}, then: {team: support, priority: urgent}}
"""


@pytest.fixture
def repo() -> MemoryRepository:
    return MemoryRepository()


@pytest.fixture
def ctx(repo: MemoryRepository) -> RoutingContext:
    return RoutingContext(repository=repo, config=parse_config(CONFIG))


def arrive(
    repo: MemoryRepository, ctx: RoutingContext, ticket_id: str, minute: int, subject: str = "Printer"
) -> RouteOutcome:
    """A new ticket created and routed `minute` minutes after CREATED."""
    at = CREATED + timedelta(minutes=minute)
    ticket = email_ticket(repo, ticket_id, at, number=1000 + minute, subject=subject)
    return route_new_ticket(ticket, ctx, at)


def current(repo: MemoryRepository, ticket_id: str) -> Ticket:
    ticket = repo.get_ticket(ticket_id)
    assert ticket is not None
    return ticket


def loads(repo: MemoryRepository) -> dict[str, int]:
    return {agent.id: agent.load["email"] for agent in repo.get_agents(["alice", "bob"]).values()}


def considered(alice: tuple[str, str | None], bob: tuple[str, str | None]) -> list[dict[str, Any]]:
    return [
        {"agent": "alice", "load": alice[0], "skipped": alice[1]},
        {"agent": "bob", "load": bob[0], "skipped": bob[1]},
    ]


def test_a_resolved_ticket_frees_its_agent_for_the_most_urgent_waiting_ticket(
    repo: MemoryRepository, ctx: RoutingContext
) -> None:
    repo.set_presence("alice", "online", ["support"], CREATED)
    assert arrive(repo, ctx, "t1", 0).agent == "alice"
    assert arrive(repo, ctx, "t2", 1).outcome == "queued"
    assert arrive(repo, ctx, "t3", 2, subject="outage").outcome == "queued"  # urgent, waiting less
    resolved_at = CREATED + timedelta(minutes=30)
    repo.set_status("t1", "resolved", resolved_at, expected_version=1)

    outcomes = release_load(current(repo, "t1"), ctx, resolved_at)

    drained = {
        "team": "support",
        "strategy": "least_loaded",
        "from_queue": True,
        "waited_seconds": 28 * 60.0,
        "considered": considered(("0/1", None), ("0/1", "presence offline")),
        "rule": None,
        "reasons": ["queue drained"],
        "agent": "alice",
    }
    assert outcomes == [
        RouteOutcome("t1", "released", "support", "alice"),
        RouteOutcome("t3", "assigned", "support", "alice", drained),
    ]
    assert loads(repo) == {"alice": 1}  # bob was never stored
    assert current(repo, "t1").load_holder is None
    assert "load_stale" not in (repo.table.get(("TICKET#t1", "TICKET")) or {})  # the recount is done
    assert repo.list_events("t1")[-1] == TicketEvent(
        at=resolved_at, type="load_released", data={"agent": "alice", "why": "ticket resolved"}
    )
    taken = current(repo, "t3")
    assert (taken.assignee, taken.load_holder, taken.queued_at, taken.priority) == (
        "alice",
        "alice",
        None,
        Priority.URGENT,
    )
    at = CREATED + timedelta(minutes=1)
    assert repo.list_queue("support") == [
        QueueEntry("support", "t2", "normal", "email", at, queue_key("normal", at, "t2"))
    ]
    assert release_load(current(repo, "t1"), ctx, resolved_at) == []  # a redelivered record: released once


def test_a_manual_reassignment_moves_the_capacity_to_the_new_assignee(
    repo: MemoryRepository, ctx: RoutingContext
) -> None:
    repo.set_presence("alice", "online", ["support"], CREATED)
    arrive(repo, ctx, "t1", 0)
    at = CREATED + timedelta(minutes=10)
    repo.update_ticket(current(repo, "t1"), TicketUpdate(assignee="bob", load_stale=True), [], at)

    outcomes = release_load(current(repo, "t1"), ctx, at)

    assert outcomes == [RouteOutcome("t1", "released", "support", "alice")]
    assert loads(repo) == {"alice": 0, "bob": 1}  # bob counted although offline: a person chose him
    moved = current(repo, "t1")
    assert (moved.assignee, moved.load_holder) == ("bob", "bob")
    # two writes in the same millisecond: their events are in the order of their random write ids
    assert sorted(((e.type, e.data) for e in repo.list_events("t1")[1:]), key=lambda e: e[0]) == [
        ("load_released", {"agent": "alice", "why": "reassigned to bob"}),
        (
            "routed",
            {
                "agent": "bob",
                "manual": True,
                "team": "support",
                "reasons": ["manual assignment wins over rules"],
            },
        ),
    ]
    assert repo.get_agents(["bob"])["bob"].presence == "offline"  # his configured default, now stored


def test_an_agent_coming_online_drains_the_queue_and_forgets_tickets_assigned_by_hand(
    repo: MemoryRepository, ctx: RoutingContext
) -> None:
    arrive(repo, ctx, "t1", 0)
    arrive(repo, ctx, "t2", 1)
    at = CREATED + timedelta(minutes=5)
    repo.update_ticket(current(repo, "t1"), TicketUpdate(assignee="alice", load_stale=True), [], at)
    repo.set_presence("bob", "online", ["support"], at)

    outcomes = on_presence("bob", ctx, at)

    assert [(o.ticket_id, o.outcome, o.agent) for o in outcomes] == [("t2", "assigned", "bob")]
    assert outcomes[0].details["waited_seconds"] == 4 * 60.0
    assert repo.list_queue("support") == []
    assert current(repo, "t1").assignee == "alice"
    assert loads(repo) == {"bob": 1}
    assert on_presence("bob", ctx, at) == []
