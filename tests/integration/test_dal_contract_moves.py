"""The data layer's contract for moving messages between tickets (merge, unmerge, split): the same
tests on DynamoDB (moto) and on the in-memory fakes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.dal.base import DuplicateError
from shared.dal.pointers import Pointer
from shared.dal.ticket_moves import MOVES_PER_TRANSACTION, MergeWrite, Move, SplitWrite, UnmergeWrite
from shared.dal.tickets import NewTicketWrite, SlaWrite
from shared.errors import ConflictError
from shared.models.ticket import Sla, Ticket, TicketMerge, TicketStatus
from tests.fakes.deadlines import all_unrouted
from tests.integration.test_dal_contract import T0, Repository, _moto, event, message, ms, repo, ticket

__all__ = ["_moto", "repo"]  # the fixtures, shared with test_dal_contract

LATER = T0 + timedelta(hours=1)


def two_tickets(repo: Repository) -> tuple[Ticket, Ticket]:
    a = ticket("ta", number=1, status="open", load_holder="alice", assignee="alice", participants=["max@x"])
    b = ticket("tb", number=2)
    repo.create_ticket(NewTicketWrite(ticket=a, message=message("ta", "ma")))
    repo.create_ticket(NewTicketWrite(ticket=b, message=message("tb", "mb", at=T0 + timedelta(seconds=1))))
    return a, b


def merge_write(a: Ticket, b: Ticket, **fields: object) -> MergeWrite:
    moved = message("tb", "ma", merged_from=["ta"], moved_at=LATER)
    values: dict[str, object] = {
        "source": a,
        "target": b,
        "merge": TicketMerge(into="tb", at=LATER, by="alice", status=TicketStatus.OPEN, sla=a.sla),
        "sla": None,
        "load_stale": True,
        "source_events": [event("merged", LATER, into="tb")],
        "target_events": [event("merged_from", LATER, ticket_id="ta")],
        "moves": [Move("ta", moved)],
    }
    return MergeWrite(**(values | fields))  # type: ignore[arg-type]


def test_a_merge_moves_messages_and_links_the_tickets_once(repo: Repository) -> None:
    a, b = two_tickets(repo)
    repo.merge_tickets(merge_write(a, b))
    source, target = repo.get_ticket("ta"), repo.get_ticket("tb")
    assert source is not None
    assert target is not None
    assert (source.status, source.merged_into, source.closed_at, source.version) == (
        TicketStatus.CLOSED,
        "tb",
        ms(LATER),
        2,
    )
    assert source.merge is not None
    assert (source.merge.into, source.merge.status, source.merge.by) == ("tb", TicketStatus.OPEN, "alice")
    assert (target.merged_from, target.version, target.participants) == (["ta"], 2, ["max@x"])
    assert [m.id for m in repo.list_messages("ta")] == []
    moved = repo.list_messages("tb")
    assert [(m.id, m.ticket_id, m.merged_from) for m in moved] == [("ma", "tb", ["ta"]), ("mb", "tb", [])]
    assert moved[0].moved_at == ms(LATER)
    assert [e.type for e in repo.list_events("ta")] == ["merged"]
    assert [e.type for e in repo.list_events("tb")] == ["merged_from"]
    # the same write again is refused by the versions: nothing is written twice
    with pytest.raises(ConflictError):
        repo.merge_tickets(merge_write(a, b))
    assert [e.type for e in repo.list_events("ta")] == ["merged"]


def test_a_merge_on_a_stale_version_of_the_target_writes_nothing(repo: Repository) -> None:
    a, b = two_tickets(repo)
    before = repo.get_ticket("ta")
    with pytest.raises(ConflictError):
        repo.merge_tickets(merge_write(a, b.model_copy(update={"version": 5})))
    assert repo.get_ticket("ta") == before
    assert [m.id for m in repo.list_messages("ta")] == ["ma"]
    assert repo.list_events("tb") == []


def test_an_unmerge_restores_the_ticket_and_moves_back(repo: Repository) -> None:
    a, b = two_tickets(repo)
    repo.merge_tickets(merge_write(a, b))
    source, target = repo.get_ticket("ta"), repo.get_ticket("tb")
    assert source is not None
    assert target is not None
    assert source.merge is not None
    restored = source.merge.model_copy(update={"undone_at": LATER, "undone_by": "alice"})
    back = message("ta", "ma", merged_from=[], moved_at=LATER)
    write = UnmergeWrite(
        source=source,
        target=target,
        restored=restored,
        sla=SlaWrite(Sla(), None, 4),
        load_stale=True,
        source_events=[event("unmerged", LATER)],
        target_events=[event("unmerged_from", LATER)],
        moves=[Move("tb", back)],
    )
    repo.unmerge_tickets(write)
    now = repo.get_ticket("ta")
    assert now is not None
    assert (now.status, now.merged_into, now.closed_at, now.version) == (TicketStatus.OPEN, None, None, 3)
    assert now.merge is not None
    assert now.merge.undone_by == "alice"
    assert [m.id for m in repo.list_messages("ta")] == ["ma"]
    assert [m.id for m in repo.list_messages("tb")] == ["mb"]
    target_now = repo.get_ticket("tb")
    assert target_now is not None
    assert target_now.merged_from == []
    with pytest.raises(ConflictError):  # once only
        repo.unmerge_tickets(write)


def test_an_unmerge_puts_a_ticket_never_routed_back_in_the_unrouted_index(repo: Repository) -> None:
    a, b = ticket("ta", number=1), ticket("tb", number=2)
    repo.create_ticket(NewTicketWrite(ticket=a, message=message("ta", "ma")))
    repo.create_ticket(NewTicketWrite(ticket=b, message=message("tb", "mb", at=T0 + timedelta(seconds=1))))
    assert [t.id for t in all_unrouted(repo, LATER, 10)] == ["ta", "tb"]
    repo.merge_tickets(merge_write(a, b))
    assert [t.id for t in all_unrouted(repo, LATER, 10)] == ["tb"]
    source, target = repo.get_ticket("ta"), repo.get_ticket("tb")
    assert source is not None
    assert target is not None
    assert source.merge is not None
    write = UnmergeWrite(
        source=source,
        target=target,
        restored=source.merge.model_copy(update={"undone_at": LATER, "undone_by": "alice"}),
        sla=SlaWrite(Sla(), None, 4),
        load_stale=False,
        source_events=[],
        target_events=[],
        unrouted=True,
    )
    repo.unmerge_tickets(write)
    assert [t.id for t in all_unrouted(repo, LATER, 10)] == ["ta", "tb"]


def test_remaining_messages_move_in_chunks_and_moving_again_changes_nothing(repo: Repository) -> None:
    a, _ = two_tickets(repo)
    count = MOVES_PER_TRANSACTION + 5
    for index in range(count):
        repo.add_message("ta", message("ta", f"m{index:03d}", at=T0 + timedelta(minutes=index + 1)), [])
    moves = [Move("ta", m.model_copy(update={"ticket_id": "tb"})) for m in repo.list_messages("ta")]
    repo.move_messages(moves)
    repo.move_messages(moves)  # a retry
    assert repo.list_messages("ta") == []
    assert len(repo.list_messages("tb")) == count + 2
    assert a.id == "ta"


def split_write(original: Ticket, **fields: object) -> SplitWrite:
    new = ticket("tn", number=7, created_at=LATER, updated_at=LATER, linked_ticket_id="ta")
    moved = message("tn", "m2", at=T0 + timedelta(minutes=1), external_id="<m2@x>", moved_at=LATER)
    values: dict[str, object] = {
        "original": original,
        "ticket": new,
        "move": Move("ta", moved),
        "original_events": [event("split", LATER)],
        "ticket_events": [event("split_from", LATER)],
        "marker": Pointer("split", "m2", ticket_id="tn", message_id="m2"),
        "number": Pointer("number", "7", ticket_id="tn"),
        "repoint": Pointer("ref", "<m2@x>", ticket_id="ta", message_id="m2"),
    }
    return SplitWrite(**(values | fields))  # type: ignore[arg-type]


def test_a_split_creates_the_ticket_with_the_message_once(repo: Repository) -> None:
    original = ticket("ta", number=1)
    second = message("ta", "m2", at=T0 + timedelta(minutes=1), external_id="<m2@x>")
    ref = Pointer("ref", "<m2@x>", ticket_id="ta", message_id="m2", direction="inbound")
    repo.create_ticket(NewTicketWrite(ticket=original, message=message("ta", "m1")))
    repo.add_message("ta", second, [])
    repo.create_ticket(
        NewTicketWrite(ticket=ticket("tz", number=9), message=message("tz", "mz"), pointers=[ref])
    )  # the ref pointer, as ingestion left it
    repo.split_message(split_write(original))
    new = repo.get_ticket("tn")
    assert new is not None
    assert (new.linked_ticket_id, new.number) == ("ta", 7)
    assert [m.id for m in repo.list_messages("tn")] == ["m2"]
    assert [m.id for m in repo.list_messages("ta")] == ["m1"]
    found = repo.get_pointers([("ref", "<m2@x>"), ("number", "7"), ("split", "m2")])
    assert {key: p.ticket_id for key, p in found.items()} == {
        ("ref", "<m2@x>"): "tn",
        ("number", "7"): "tn",
        ("split", "m2"): "tn",
    }
    current = repo.get_ticket("ta")
    assert current is not None
    assert current.version == 2
    assert [e.type for e in repo.list_events("tn")] == ["split_from"]
    # the same split again: its marker exists, nothing else is written
    with pytest.raises(DuplicateError):
        repo.split_message(split_write(current))
    assert [e.type for e in repo.list_events("ta")] == ["split"]
