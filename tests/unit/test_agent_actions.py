"""Agents' changes on the in-memory stores: what is stored, what is recorded with who made it, and
when the router is told to recount capacity (the `load_stale` mark no read model shows)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.config import parse_config
from shared.dal.agents import AgentLive, RoutingChanges
from shared.dal.pointers import Pointer
from shared.dal.tickets import NewTicketWrite
from shared.errors import TicketNotFoundError
from shared.logic.agent_actions import (
    AgentContext,
    InvalidRequestError,
    PermissionDeniedError,
    PresenceRequest,
    TicketChangeRequest,
    set_presence,
    update_ticket,
)
from shared.models.ticket import Channel, Direction, Message, Priority, Ticket, TicketEvent, TicketStatus
from tests.fakes import MemoryRepository

CREATED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOW = CREATED + timedelta(hours=1)

CONFIG = """
teams:
  - {id: support}
agents:
  - {id: alice, teams: [support]}
  - {id: bob, teams: [support]}
followups: {pending_reminder_hours: 24}
"""


@pytest.fixture
def repo() -> MemoryRepository:
    return MemoryRepository()


@pytest.fixture
def ctx(repo: MemoryRepository) -> AgentContext:
    return AgentContext(repository=repo, config=parse_config(CONFIG))


def stored_ticket(repo: MemoryRepository, held_by: str | None = None, **fields: object) -> Ticket:
    """Ticket #1001 (t1), with Message-ID <m1@customer.example>; `held_by`: routed to that agent."""
    ticket = Ticket.model_validate(
        {"id": "t1", "number": 1001, "channel": "email", "customer_id": "c1", "created_at": CREATED}
        | {"updated_at": CREATED, **fields}
    )
    first = Message(
        id="m1", ticket_id="t1", direction=Direction.INBOUND, channel=Channel.EMAIL, at=CREATED, author="x"
    )
    pointers = [
        Pointer("number", "1001", ticket_id="t1"),
        Pointer("ref", "<m1@customer.example>", ticket_id="t1"),
    ]
    repo.create_ticket(NewTicketWrite(ticket=ticket, message=first, pointers=pointers))
    if held_by is not None:
        repo.set_presence(held_by, "online", ["support"], CREATED)
        repo.claim(
            "t1", held_by, "email", 5, RoutingChanges("support", "normal", list(ticket.tags), []), [], CREATED
        )
    current = repo.get_ticket("t1")
    assert current is not None
    return current


def presence(status: str, until: datetime | None = None) -> PresenceRequest:
    """A presence request as the API body gives it (the return time in ISO 8601 text)."""
    return PresenceRequest.model_validate({"status": status, "until": until.isoformat() if until else None})


def load_stale(repo: MemoryRepository) -> bool:
    """Whether the ticket item carries the mark route_ticket's stream filter looks for."""
    item = repo.table.get(("TICKET#t1", "TICKET"))
    assert item is not None
    return bool(item.get("load_stale"))


@pytest.mark.parametrize(
    ("held_by", "request_", "stale"),
    [
        ("alice", TicketChangeRequest(assignee="bob"), True),  # alice's capacity goes back
        ("alice", TicketChangeRequest(assignee=""), True),
        ("alice", TicketChangeRequest(status="resolved"), True),
        ("alice", TicketChangeRequest(status="closed"), True),
        ("alice", TicketChangeRequest(status="pending"), False),  # still held
        ("alice", TicketChangeRequest(priority="high"), False),
        (None, TicketChangeRequest(assignee="bob"), True),  # bob's capacity must count it
        (None, TicketChangeRequest(status="resolved"), False),  # nobody held it
    ],
)
def test_the_router_is_told_to_recount_capacity_only_when_the_holder_or_an_open_state_changes(
    repo: MemoryRepository, ctx: AgentContext, held_by: str | None, request_: TicketChangeRequest, stale: bool
) -> None:
    stored_ticket(repo, held_by)

    update_ticket("1001", request_, "alice", ctx, NOW)

    assert load_stale(repo) is stale


def test_a_change_is_stored_and_recorded_with_who_made_it_and_what_it_was_before(
    repo: MemoryRepository, ctx: AgentContext
) -> None:
    before = stored_ticket(repo, "alice", tags=["a", "b"])
    change = TicketChangeRequest(
        status="open", priority="urgent", assignee="bob", tags_add=["c", "a"], tags_remove=["b"]
    )

    returned = update_ticket("#1001", change, "alice", ctx, NOW)

    recorded = {
        "status": ["new", "open"],
        "priority": ["normal", "urgent"],
        "assignee": ["alice", "bob"],
        "tags": [["a", "b"], ["a", "c"]],
    }
    expected = before.model_copy(
        update={
            "status": TicketStatus.OPEN,
            "priority": Priority.URGENT,
            "assignee": "bob",
            "tags": ["a", "c"],
            "updated_at": NOW,
            "version": before.version + 1,
        }
    )
    assert returned == expected == repo.get_ticket("t1")
    assert expected.load_holder == "alice"  # until the router gives her capacity back
    assert repo.list_events("t1") == [
        TicketEvent(at=NOW, type="updated", data={"by": "alice", "changes": recorded})
    ]


def test_pending_schedules_the_reminder_and_reopening_clears_the_resolution(
    repo: MemoryRepository, ctx: AgentContext
) -> None:
    stored_ticket(repo)

    pending = update_ticket("<m1@customer.example>", TicketChangeRequest(status="pending"), "bob", ctx, NOW)
    resolved = update_ticket("m1@customer.example", TicketChangeRequest(status="resolved"), "bob", ctx, NOW)
    reopened = update_ticket("1001", TicketChangeRequest(status="open"), "bob", ctx, NOW + timedelta(hours=1))

    assert (pending.sla.reminder_at, pending.sla.auto_resolve_at) == (NOW + timedelta(hours=24), None)
    assert (resolved.status, resolved.resolved_at, resolved.sla.reminder_at) == ("resolved", NOW, None)
    assert (reopened.status, reopened.resolved_at, reopened.closed_at, reopened.version) == (
        "open",
        None,
        None,
        4,
    )


def test_no_change_returns_the_ticket_and_writes_nothing(repo: MemoryRepository, ctx: AgentContext) -> None:
    before = stored_ticket(repo, tags=["a"])

    returned = update_ticket(
        "1001", TicketChangeRequest(status="new", tags_add=["a"], assignee=""), "bob", ctx, NOW
    )

    assert returned == before == repo.get_ticket("t1")
    assert repo.list_events("t1") == []


@pytest.mark.parametrize(
    ("ref", "request_", "actor", "error"),
    [
        ("1001", TicketChangeRequest(assignee="nobody"), "alice", InvalidRequestError),
        ("1001", TicketChangeRequest(status="open"), "mallory", PermissionDeniedError),
        ("1002", TicketChangeRequest(status="open"), "alice", TicketNotFoundError),
        ("<m2@customer.example>", TicketChangeRequest(status="open"), "alice", TicketNotFoundError),
    ],
)
def test_a_refused_change_writes_nothing(
    repo: MemoryRepository,
    ctx: AgentContext,
    ref: str,
    request_: TicketChangeRequest,
    actor: str,
    error: type[Exception],
) -> None:
    before = stored_ticket(repo)

    with pytest.raises(error):
        update_ticket(ref, request_, actor, ctx, NOW)

    assert repo.get_ticket("t1") == before
    assert repo.list_events("t1") == []


def test_presence_is_stored_with_the_return_time_and_a_supervisor_may_set_anyones(
    repo: MemoryRepository, ctx: AgentContext
) -> None:
    back = NOW + timedelta(days=3)

    set_presence("alice", presence("away", back), "alice", False, ctx, NOW)
    set_presence("bob", presence("online"), "alice", True, ctx, NOW)

    assert repo.get_agents(["alice", "bob"]) == {
        "alice": AgentLive(
            id="alice",
            presence="away",
            load={"email": 0, "sms": 0, "social": 0},
            last_assigned_at="",
            teams=["support"],
            away_since=NOW,
            away_until=back,
        ),
        "bob": AgentLive(
            id="bob",
            presence="online",
            load={"email": 0, "sms": 0, "social": 0},
            last_assigned_at="",
            teams=["support"],
        ),
    }


@pytest.mark.parametrize(
    ("agent", "request_", "actor", "supervisor", "error"),
    [
        ("bob", presence("away"), "alice", False, PermissionDeniedError),
        ("alice", presence("away"), "mallory", True, PermissionDeniedError),
        ("nobody", presence("away"), "alice", True, InvalidRequestError),
        (
            "alice",
            presence("online", NOW + timedelta(hours=1)),
            "alice",
            False,
            InvalidRequestError,
        ),
        ("alice", presence("away", NOW), "alice", False, InvalidRequestError),
        (
            "alice",
            presence("away", NOW + timedelta(days=60, seconds=1)),
            "alice",
            False,
            InvalidRequestError,
        ),
    ],
)
def test_a_refused_presence_is_not_stored(
    repo: MemoryRepository,
    ctx: AgentContext,
    agent: str,
    request_: PresenceRequest,
    actor: str,
    supervisor: bool,
    error: type[Exception],
) -> None:
    with pytest.raises(error):
        set_presence(agent, request_, actor, supervisor, ctx, NOW)

    assert repo.get_agents(["alice", "bob", "nobody"]) == {}
