"""Merging tickets, undoing a merge and splitting a message into a new ticket (in-memory stores)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.config import parse_config
from shared.dal.pointers import Pointer
from shared.dal.ticket_moves import MOVES_PER_TRANSACTION
from shared.dal.tickets import AppendWrite, NewTicketWrite, TicketChanges
from shared.logic.agent_actions import StaleVersionError
from shared.logic.permissions import ForbiddenActionError, Principal, Role
from shared.logic.threading import follow_merges
from shared.logic.ticket_moves import (
    MoveContext,
    NotMergeableError,
    NotMergedError,
    NotSplittableError,
    merge_ticket,
    split_message,
    unmerge_ticket,
)
from shared.logic.ticket_reads import MessageNotFoundError, message_ref
from shared.models.ticket import Channel, Direction, Message, Ticket, TicketStatus
from tests.fakes import MemoryRepository
from tests.fakes.deadlines import all_unrouted

CREATED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOW = CREATED + timedelta(hours=2)
CONFIG = parse_config(
    """
teams:
  - {id: support}
  - {id: billing}
agents:
  - {id: alice, teams: [support]}
  - {id: sam, teams: [support, billing]}
"""
)
ALICE = Principal("alice", Role.AGENT, frozenset({"support"}))
SAM = Principal("sam", Role.SUPERVISOR, frozenset({"support", "billing"}))


@pytest.fixture
def repo() -> MemoryRepository:
    return MemoryRepository()


@pytest.fixture
def ctx(repo: MemoryRepository) -> MoveContext:
    return MoveContext(store=repo, config=CONFIG)


def ticket(repo: MemoryRepository, ticket_id: str, number: int, messages: int = 1, **fields: Any) -> Ticket:
    """A ticket of customer c1 in team support with `messages` inbound emails, a minute apart."""
    made = Ticket.model_validate(
        {"id": ticket_id, "number": number, "channel": "email", "customer_id": "c1", "team": "support"}
        | {"created_at": CREATED, "updated_at": CREATED, **fields}
    )
    first, *rest = [message(ticket_id, i) for i in range(messages)]
    pointers = [Pointer("number", str(number), ticket_id=ticket_id), ref_pointer(first)]
    repo.create_ticket(NewTicketWrite(ticket=made, message=first, pointers=pointers))
    version = made.version
    for later in rest:
        repo.append_message(
            AppendWrite(ticket_id, version, TicketChanges(), later, pointers=[ref_pointer(later)])
        )
        version += 1
    stored = repo.get_ticket(ticket_id)
    assert stored is not None
    return stored


def message(ticket_id: str, index: int) -> Message:
    return Message(
        id=f"m-{ticket_id}-{index:03d}",
        ticket_id=ticket_id,
        direction=Direction.INBOUND,
        channel=Channel.EMAIL,
        at=CREATED + timedelta(minutes=index),
        author="jane@customer.example",
        external_id=f"<{ticket_id}-{index}@customer.example>",
        text=f"message {index} of {ticket_id}",
    )


def ref_pointer(m: Message) -> Pointer:
    return Pointer("ref", m.external_id or "", ticket_id=m.ticket_id, message_id=m.id, direction="inbound")


def ids(repo: MemoryRepository, ticket_id: str) -> list[str]:
    return [m.id for m in repo.list_messages(ticket_id)]


def types(repo: MemoryRepository, ticket_id: str) -> list[str]:
    return [e.type for e in repo.list_events(ticket_id)]


def current(repo: MemoryRepository, ticket_id: str) -> Ticket:
    found = repo.get_ticket(ticket_id)
    assert found is not None
    return found


# -- merging --------------------------------------------------------------------------------------


def test_a_merge_moves_the_messages_closes_the_source_and_tells_both_tickets(
    repo: MemoryRepository, ctx: MoveContext
) -> None:
    # Given A (2 messages, held by alice, open) and B (1 message) of the same customer
    a = ticket(repo, "ta", 501, messages=2, status="open", assignee="alice", load_holder="alice")
    a = a.model_copy(update={"participants": ["jane@customer.example", "max@customer.example"]})
    b = ticket(repo, "tb", 502, participants=["jane@customer.example"])
    # When alice merges A into B
    merged = merge_ticket(a, b, a.version, ALICE, ctx, NOW)
    # Then B's conversation has all three messages, A none
    assert ids(repo, "tb") == ["m-ta-000", "m-tb-000", "m-ta-001"]
    assert ids(repo, "ta") == []
    assert all(
        m.merged_from == ["ta"] and m.ticket_id == "tb" for m in repo.list_messages("tb") if m.id[2:4] == "ta"
    )
    # And A is closed, linked to B, its capacity to give back, its merge record kept
    source = merged.source
    assert (source.status, source.merged_into, source.closed_at) == (TicketStatus.CLOSED, "tb", NOW)
    assert source.merge is not None
    assert (source.merge.status, source.merge.by) == (TicketStatus.OPEN, "alice")
    assert repo.table.get(("TICKET#ta", "TICKET"))["load_stale"] is True  # type: ignore[index]
    assert (merged.target.merged_from, merged.target.version, merged.moved) == (["ta"], b.version + 1, 2)
    # And whoever took part in A may write to B
    assert merged.target.participants == ["jane@customer.example", "max@customer.example"]
    # And both histories say it, with who did it
    merged_event = repo.list_events("ta")[-1]
    assert (merged_event.type, merged_event.data["into"], merged_event.data["by"]) == (
        "merged",
        "tb",
        "alice",
    )
    assert repo.list_events("tb")[-1].data == {"by": "alice", "messages": 2, "ticket_id": "ta", "number": 501}


def test_a_merge_asked_twice_is_made_once(repo: MemoryRepository, ctx: MoveContext) -> None:
    a, b = ticket(repo, "ta", 501, messages=2), ticket(repo, "tb", 502)
    first = merge_ticket(a, b, None, ALICE, ctx, NOW)
    # When the same request comes again (with the tickets as the retry reads them)
    again = merge_ticket(current(repo, "ta"), current(repo, "tb"), None, ALICE, ctx, NOW)
    assert (again.source, again.target) == (first.source, first.target)
    assert ids(repo, "tb") == ["m-ta-000", "m-tb-000", "m-ta-001"]
    assert types(repo, "ta").count("merged") == 1
    assert types(repo, "tb").count("merged_from") == 1


def test_a_merge_on_a_stale_version_writes_nothing(repo: MemoryRepository, ctx: MoveContext) -> None:
    a, b = ticket(repo, "ta", 501, messages=2), ticket(repo, "tb", 502)
    with pytest.raises(StaleVersionError) as refused:
        merge_ticket(a, b, a.version - 1, ALICE, ctx, NOW)
    assert refused.value.current == a
    assert ids(repo, "ta") == ["m-ta-000", "m-ta-001"]
    assert current(repo, "ta").merged_into is None


def test_a_merge_that_loses_a_race_writes_nothing(repo: MemoryRepository, ctx: MoveContext) -> None:
    # Given B changed after the agent read it
    a, b = ticket(repo, "ta", 501), ticket(repo, "tb", 502)
    repo.append_message(AppendWrite("tb", b.version, TicketChanges(), message("tb", 1)))
    with pytest.raises(StaleVersionError):
        merge_ticket(a, b, None, ALICE, ctx, NOW)
    assert ids(repo, "ta") == ["m-ta-000"]
    assert "merged" not in types(repo, "ta")


@pytest.mark.parametrize(
    ("source_fields", "target_fields", "why"),
    [
        ({}, {"customer_id": "c2"}, "different customers"),
        ({}, {"status": "closed"}, "is closed"),
        ({}, {"merged_into": "tz"}, "merged into another ticket"),
    ],
)
def test_tickets_that_cannot_be_merged_are_refused(
    repo: MemoryRepository,
    ctx: MoveContext,
    source_fields: dict[str, Any],
    target_fields: dict[str, Any],
    why: str,
) -> None:
    a, b = ticket(repo, "ta", 501, **source_fields), ticket(repo, "tb", 502, **target_fields)
    with pytest.raises(NotMergeableError, match=why):
        merge_ticket(a, b, None, ALICE, ctx, NOW)
    with pytest.raises(NotMergeableError, match="itself"):
        merge_ticket(a, a, None, ALICE, ctx, NOW)


def test_a_long_ticket_is_moved_in_transactions_under_the_limit(
    repo: MemoryRepository, ctx: MoveContext
) -> None:
    count = MOVES_PER_TRANSACTION * 2 + 3
    a, b = ticket(repo, "ta", 501, messages=count), ticket(repo, "tb", 502)
    merged = merge_ticket(a, b, None, ALICE, ctx, NOW)
    assert merged.moved == count
    assert ids(repo, "ta") == []
    assert len(ids(repo, "tb")) == count + 1


def test_merging_across_teams_takes_a_supervisor_of_the_source_s_team(
    repo: MemoryRepository, ctx: MoveContext
) -> None:
    a = ticket(repo, "ta", 501)
    b = ticket(repo, "tb", 502, team="billing", assignee="alice")  # alice sees it: it is hers
    with pytest.raises(ForbiddenActionError, match="supervisor of team 'support'"):
        merge_ticket(a, b, None, ALICE, ctx, NOW)
    assert merge_ticket(a, b, None, SAM, ctx, NOW).source.merged_into == "tb"


def test_a_reply_to_the_merged_ticket_s_thread_leads_to_the_survivor(
    repo: MemoryRepository, ctx: MoveContext
) -> None:
    a, b, c = ticket(repo, "ta", 501), ticket(repo, "tb", 502), ticket(repo, "tc", 503)
    merge_ticket(a, b, None, ALICE, ctx, NOW)
    merge_ticket(current(repo, "tb"), c, None, ALICE, ctx, NOW)
    assert follow_merges(current(repo, "ta"), repo).id == "tc"
    assert follow_merges(c, repo).id == "tc"


# -- undoing a merge --------------------------------------------------------------------------------


def test_an_unmerge_restores_the_ticket_and_takes_its_messages_back(
    repo: MemoryRepository, ctx: MoveContext
) -> None:
    a = ticket(repo, "ta", 501, messages=2, status="pending", assignee="alice")
    b = ticket(repo, "tb", 502)
    merge_ticket(a, b, None, ALICE, ctx, NOW)
    # Given a reply that reached B through A's thread while merged
    b_now = current(repo, "tb")
    repo.append_message(AppendWrite("tb", b_now.version, TicketChanges(), message("tb", 5)))
    # When alice undoes the merge
    later = NOW + timedelta(minutes=5)
    undone = unmerge_ticket(current(repo, "ta"), ALICE, ctx, later)
    # Then A is as it was, with its own messages; the later reply stays in B
    source = undone.source
    assert (source.status, source.merged_into, source.closed_at) == (TicketStatus.PENDING, None, None)
    assert source.merge is not None
    assert (source.merge.undone_at, source.merge.undone_by) == (later, "alice")
    assert ids(repo, "ta") == ["m-ta-000", "m-ta-001"]
    assert all(m.merged_from == [] and m.ticket_id == "ta" for m in repo.list_messages("ta"))
    assert ids(repo, "tb") == ["m-tb-000", "m-tb-005"]
    assert undone.target.merged_from == []
    assert types(repo, "ta")[-1] == "unmerged"
    assert types(repo, "tb")[-1] == "unmerged_from"
    assert repo.table.get(("TICKET#ta", "TICKET"))["load_stale"] is True  # type: ignore[index]
    # And asked again, nothing more happens
    again = unmerge_ticket(current(repo, "ta"), ALICE, ctx, later)
    assert again.source == current(repo, "ta")
    assert types(repo, "ta").count("unmerged") == 1


def test_an_unmerge_is_refused_while_the_survivor_is_merged_elsewhere(
    repo: MemoryRepository, ctx: MoveContext
) -> None:
    a, b, c = ticket(repo, "ta", 501), ticket(repo, "tb", 502), ticket(repo, "tc", 503)
    merge_ticket(a, b, None, ALICE, ctx, NOW)
    merge_ticket(current(repo, "tb"), c, None, ALICE, ctx, NOW)
    with pytest.raises(NotMergedError, match="undo that merge first"):
        unmerge_ticket(current(repo, "ta"), ALICE, ctx, NOW)
    # Undone in the reverse order, each ticket gets its own messages back
    unmerge_ticket(current(repo, "tb"), ALICE, ctx, NOW)
    assert ids(repo, "tc") == ["m-tc-000"]
    assert ids(repo, "tb") == ["m-ta-000", "m-tb-000"]
    unmerge_ticket(current(repo, "ta"), ALICE, ctx, NOW)
    assert ids(repo, "ta") == ["m-ta-000"]
    assert ids(repo, "tb") == ["m-tb-000"]


def test_an_unmerged_ticket_no_routing_reached_waits_for_routing_again(
    repo: MemoryRepository, ctx: MoveContext
) -> None:
    a, b = ticket(repo, "ta", 501, team=None), ticket(repo, "tb", 502)
    assert repo.table.get(("TICKET#ta", "TICKET"))["gsi3pk"].startswith("UNROUTED#")  # type: ignore[index]
    merge_ticket(a, b, None, ALICE, ctx, NOW)
    assert repo.table.get(("TICKET#ta", "TICKET")).get("gsi3pk") is None  # type: ignore[union-attr]
    unmerge_ticket(current(repo, "ta"), ALICE, ctx, NOW)
    assert all_unrouted(repo, NOW, 10) == [current(repo, "ta")]


def test_a_ticket_never_merged_cannot_be_unmerged(repo: MemoryRepository, ctx: MoveContext) -> None:
    with pytest.raises(NotMergedError, match="not merged"):
        unmerge_ticket(ticket(repo, "ta", 501), ALICE, ctx, NOW)


# -- splitting --------------------------------------------------------------------------------------


def ref_of(repo: MemoryRepository, ticket_id: str, message_id: str) -> str:
    entries = repo.conversation_page(ticket_id, 100).entries
    return message_ref(next(e.key for e in entries if e.message.id == message_id))


def test_a_split_moves_the_message_to_a_new_linked_ticket(repo: MemoryRepository, ctx: MoveContext) -> None:
    original = ticket(repo, "ta", 501, messages=3)
    ref = ref_of(repo, "ta", "m-ta-001")
    split = split_message(original, ref, ALICE, ctx, NOW)
    new = split.ticket
    assert (new.customer_id, new.channel, new.linked_ticket_id, new.status) == (
        "c1",
        Channel.EMAIL,
        "ta",
        TicketStatus.NEW,
    )
    assert new.team is None
    assert new.number == CONFIG.tickets.number_start
    assert ids(repo, new.id) == ["m-ta-001"]
    assert ids(repo, "ta") == ["m-ta-000", "m-ta-002"]
    assert repo.get_ticket(new.id) == new
    assert split.original.version == original.version + 1
    assert repo.table.get((f"TICKET#{new.id}", "TICKET"))["gsi3pk"].startswith("UNROUTED#")  # type: ignore[index]
    # And the message's id and the new number lead to the new ticket
    found = repo.get_pointers([("ref", "<ta-1@customer.example>"), ("number", str(new.number))])
    assert {p.ticket_id for p in found.values()} == {new.id}
    assert types(repo, "ta")[-1] == "split"
    assert types(repo, new.id) == ["split_from"]
    assert repo.list_events(new.id)[0].data["by"] == "alice"
    # And asked again, the same ticket answers, and nothing more is written
    again = split_message(current(repo, "ta"), ref, ALICE, ctx, NOW)
    assert again.ticket == new
    assert types(repo, "ta").count("split") == 1


def test_a_ticket_s_only_message_or_an_agent_s_is_not_split(repo: MemoryRepository, ctx: MoveContext) -> None:
    only = ticket(repo, "ta", 501)
    with pytest.raises(NotSplittableError, match="only message"):
        split_message(only, ref_of(repo, "ta", "m-ta-000"), ALICE, ctx, NOW)
    note = message("ta", 1).model_copy(update={"direction": Direction.NOTE})
    repo.add_message("ta", note, [])
    with pytest.raises(NotSplittableError, match="customer's message"):
        split_message(only, ref_of(repo, "ta", note.id), ALICE, ctx, NOW)
    with pytest.raises(MessageNotFoundError):
        split_message(only, "bm90LWEta2V5", ALICE, ctx, NOW)
