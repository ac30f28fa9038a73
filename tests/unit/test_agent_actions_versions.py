"""A ticket change names the version it was made on: a stale one, or one that loses a race, is
refused with the ticket as it is now, and nothing is written (in-memory stores)."""

from __future__ import annotations

from datetime import datetime

import pytest

from shared.dal.tickets import TicketUpdate
from shared.logic.agent_actions import AgentContext, StaleVersionError, TicketChangeRequest, update_ticket
from shared.models.ticket import Ticket, TicketEvent
from tests.fakes import MemoryRepository
from tests.unit.test_agent_actions import NOW, ctx, repo, stored_ticket

__all__ = ["ctx", "repo"]  # the fixtures, shared with test_agent_actions


def test_a_change_on_the_current_version_is_applied_and_moves_the_version(
    repo: MemoryRepository, ctx: AgentContext
) -> None:
    stored_ticket(repo)
    changed = update_ticket("1001", TicketChangeRequest(status="open", version=1), "alice", ctx, NOW)
    assert (changed.status.value, changed.version) == ("open", 2)
    assert changed == repo.get_ticket("t1")


def test_a_change_on_a_stale_version_is_refused_with_the_current_ticket(
    repo: MemoryRepository, ctx: AgentContext
) -> None:
    # Given a ticket bob changed after alice read it at version 1
    stored_ticket(repo)
    now = update_ticket("1001", TicketChangeRequest(priority="high"), "bob", ctx, NOW)
    events = repo.list_events("t1")
    # When alice's change made on version 1 arrives
    with pytest.raises(StaleVersionError) as refused:
        update_ticket("1001", TicketChangeRequest(status="pending", version=1), "alice", ctx, NOW)
    # Then nothing is written, and the error carries the ticket as bob left it
    assert refused.value.current == now == repo.get_ticket("t1")
    assert refused.value.current.version == 2
    assert "version 1" in str(refused.value)
    assert repo.list_events("t1") == events


def test_a_change_that_loses_a_race_is_refused_with_the_winner_s_ticket(
    repo: MemoryRepository, ctx: AgentContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given bob's change lands between alice's read and her write
    stored_ticket(repo)
    write = repo.update_ticket

    def racing(ticket: Ticket, changes: TicketUpdate, events: list[TicketEvent], at: datetime) -> None:
        monkeypatch.setattr(repo, "update_ticket", write)
        write(ticket, TicketUpdate(tags=["urgent"]), [], at)
        write(ticket, changes, events, at)

    monkeypatch.setattr(repo, "update_ticket", racing)
    # When alice's write is made (naming no version: the store's condition still holds)
    with pytest.raises(StaleVersionError) as refused:
        update_ticket("1001", TicketChangeRequest(status="open"), "alice", ctx, NOW)
    # Then it is refused with the ticket as bob left it
    current = repo.get_ticket("t1")
    assert current is not None
    assert refused.value.current == current
    assert (current.version, current.tags, current.status.value) == (2, ["urgent"], "new")
