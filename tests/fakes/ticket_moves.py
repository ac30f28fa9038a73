"""TicketMoves in memory: merges, unmerges and splits as `shared.dal.ticket_moves` writes them, one
all-or-nothing transaction each, and the idempotent moves of the remaining messages."""

from __future__ import annotations

from collections.abc import Sequence

from shared import clock
from shared.dal.base import DuplicateError, ticket_pk
from shared.dal.pointers import pointer_item, pointer_key
from shared.dal.ticket_moves import (
    MOVES_PER_TRANSACTION,
    MergeWrite,
    Move,
    SplitWrite,
    UnmergeWrite,
    merged_participants,
)
from shared.dal.tickets import message_to_item, ticket_to_item, unrouted_keys
from shared.errors import ConflictError
from shared.models.ticket import Ticket
from tests.fakes.table import (
    Change,
    Condition,
    Item,
    MemoryStore,
    absent,
    always,
    both,
    delete_op,
    equals,
    exists,
    lacks,
    put_op,
    update_op,
)
from tests.fakes.tickets import event_puts, set_sla, ticket_key


def move_ops(moves: Sequence[Move], must_exist: bool = False) -> list[Change]:
    changes: list[Change] = []
    for move in moves:
        changes.append(put_op(message_to_item(move.message), "message"))
        changes.append(
            delete_op((ticket_pk(move.source), move.key), "moved", exists if must_exist else always)
        )
    return changes


def target_op(
    target: Ticket, merged_from: list[str], at: str, participants: list[str] | None = None
) -> Change:
    def edit(item: Item) -> None:
        if participants is not None:
            item["participants"] = list(participants)
        item["merged_from"] = list(merged_from) or None
        item["updated_at"] = at
        item["version"] = target.version + 1

    condition: Condition = both(equals("version", target.version), lacks("merged_into"))
    return update_op(ticket_key(target.id), "target", condition, edit)


class MemoryTicketMoves(MemoryStore):
    """TicketMoves on the in-memory table."""

    def merge_tickets(self, write: MergeWrite) -> None:
        at = clock.iso(write.merge.at)
        source = write.source

        def edit(item: Item) -> None:
            item.update(status="closed", closed_at=at, merged_into=write.target.id, updated_at=at)
            item["merge"] = write.merge.model_dump(mode="json")
            item["version"] = source.version + 1
            if write.load_stale:
                item["load_stale"] = True
            if write.sla is None:
                item["gsi2pk"] = item["gsi2sk"] = item["gsi3pk"] = item["gsi3sk"] = None
            set_sla(item, source.id, write.sla)

        changes = [
            *event_puts(source.id, write.source_events),
            *event_puts(write.target.id, write.target_events),
            *move_ops(write.moves),
            update_op(ticket_key(source.id), "source", equals("version", source.version), edit),
            target_op(
                write.target,
                [*write.target.merged_from, source.id],
                at,
                merged_participants(source, write.target),
            ),
        ]
        self._transact(changes)

    def unmerge_tickets(self, write: UnmergeWrite) -> None:
        before = write.restored
        at = clock.iso(before.undone_at or clock.now())
        source, target = write.source, write.target

        def edit(item: Item) -> None:
            item.update(status=before.status.value, merged_into=None, updated_at=at)
            item["merge"] = before.model_dump(mode="json")
            item["version"] = source.version + 1
            item["resolved_at"] = clock.iso(before.resolved_at) if before.resolved_at else None
            item["closed_at"] = clock.iso(before.closed_at) if before.closed_at else None
            if write.load_stale:
                item["load_stale"] = True
            if write.unrouted:
                item["sla"] = write.sla.sla.model_dump(mode="json")
                item["gsi3pk"], item["gsi3sk"] = unrouted_keys(source)
            else:
                set_sla(item, source.id, write.sla)

        condition = both(equals("version", source.version), equals("merged_into", target.id))
        changes = [
            *event_puts(source.id, write.source_events),
            *event_puts(target.id, write.target_events),
            *move_ops(write.moves),
            update_op(ticket_key(source.id), "source", condition, edit),
            target_op(target, [t for t in target.merged_from if t != source.id], at),
        ]
        self._transact(changes)

    def split_message(self, write: SplitWrite) -> None:
        at = clock.iso(write.ticket.created_at)
        new = ticket_to_item(write.ticket)
        new.gsi3pk, new.gsi3sk = unrouted_keys(write.ticket)
        original = write.original

        def bump(item: Item) -> None:
            item["updated_at"] = at
            item["version"] = original.version + 1

        changes = [
            put_op(pointer_item(write.marker, at), "split", absent),
            put_op(pointer_item(write.number, at), "number", absent),
            put_op(new, "ticket", absent),
            *event_puts(write.ticket.id, write.ticket_events),
            *event_puts(original.id, write.original_events),
            *move_ops([write.move], must_exist=True),
            update_op(ticket_key(original.id), "original", equals("version", original.version), bump),
        ]
        if write.repoint is not None:

            def repoint(item: Item) -> None:
                item["ticket_id"] = write.ticket.id

            key = (pointer_key(write.repoint.kind, write.repoint.value), "PTR")
            changes.append(update_op(key, "ref", equals("message_id", write.move.message.id), repoint))
        self._transact(changes, duplicate="split")

    def move_messages(self, moves: Sequence[Move]) -> None:
        for start in range(0, len(moves), MOVES_PER_TRANSACTION):
            self._transact(move_ops(moves[start : start + MOVES_PER_TRANSACTION]))

    def _transact(self, changes: list[Change], duplicate: str | None = None) -> None:
        failed = self.table.transact(changes)
        if duplicate is not None and duplicate in failed:
            raise DuplicateError(f"already done ({duplicate})")
        if failed:
            raise ConflictError(f"changed meanwhile ({', '.join(failed)})")
