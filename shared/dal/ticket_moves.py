"""Moving messages between tickets: merging a ticket into another, undoing it, and splitting a
message into a new ticket.

The state change of each is one transaction conditional on the versions of the tickets it touches
(and, for a split, on the new ticket and its `split` pointer not existing), so a retry or a lost
race never applies it twice. A message moves as a put under its new ticket and a delete under the
old one in the same transaction, so it is never in both conversations or in neither. DynamoDB takes
at most 100 items in a transaction: the state change carries the first MOVES_PER_TRANSACTION
messages, and `move_messages` moves the rest, the same way, in transactions of that size; those
writes are idempotent (the same put and delete again change nothing), so the use case completes an
interrupted move by running it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from shared import clock
from shared.dal.base import DuplicateError, Table, cancellation_codes, raise_if_permanent, ticket_pk
from shared.dal.items import MessageItem, PointerItem, TicketItem
from shared.dal.pointers import Pointer, pointer_item, pointer_key
from shared.dal.tickets import (
    SlaWrite,
    event_items,
    message_to_item,
    no_deadline_actions,
    sla_actions,
    ticket_to_item,
    unrouted_actions,
    unrouted_keys,
)
from shared.errors import ConflictError
from shared.models.ticket import Message, Ticket, TicketEvent, TicketMerge

MOVES_PER_TRANSACTION = 45
"""Messages moved by one transaction: two items each (put and delete), with room for the two
tickets, their events and pointers under DynamoDB's 100 items."""


@dataclass(frozen=True)
class Move:
    """A message leaving `source` for `message.ticket_id` (already set to the new ticket)."""

    source: str
    message: Message

    @property
    def key(self) -> str:
        return f"MSG#{clock.iso(self.message.at)}#{self.message.id}"


@dataclass
class MergeWrite:
    """`source` merged into `target`: the source closed with its merge record, the target told."""

    source: Ticket
    target: Ticket
    merge: TicketMerge
    sla: SlaWrite | None
    load_stale: bool
    source_events: list[TicketEvent]
    target_events: list[TicketEvent]
    moves: list[Move] = field(default_factory=list)
    """At most MOVES_PER_TRANSACTION."""


@dataclass
class UnmergeWrite:
    """`source` taken back out of `target`: restored as its merge record says."""

    source: Ticket
    target: Ticket
    restored: TicketMerge
    """The source's merge record, with `undone_at` and `undone_by`."""
    sla: SlaWrite
    load_stale: bool
    source_events: list[TicketEvent]
    target_events: list[TicketEvent]
    moves: list[Move] = field(default_factory=list)
    unrouted: bool = False
    """No routing decision had reached it: it goes back to the `UNROUTED` index for the sweeper."""


@dataclass
class SplitWrite:
    """A message of `original` moved to the new ticket `ticket` (its first message)."""

    original: Ticket
    ticket: Ticket
    move: Move
    original_events: list[TicketEvent]
    ticket_events: list[TicketEvent]
    marker: Pointer
    """`split#<message id>`: must not exist (one split per message), leads to the new ticket."""
    number: Pointer
    repoint: Pointer | None = None
    """The message's `ref` pointer, re-pointed to the new ticket if it still names this message."""


class TicketMoves(Protocol):
    def merge_tickets(self, write: MergeWrite) -> None: ...

    def unmerge_tickets(self, write: UnmergeWrite) -> None: ...

    def split_message(self, write: SplitWrite) -> None: ...

    def move_messages(self, moves: Sequence[Move]) -> None: ...


def move_items(move: Move) -> tuple[MessageItem, MessageItem]:
    """The put under the new ticket and the key deleted under the old one."""
    return message_to_item(move.message), MessageItem(pk=ticket_pk(move.source), sk=move.key)


def _ticket(ticket_id: str) -> TicketItem:
    return TicketItem(pk=ticket_pk(ticket_id), sk="TICKET")


def merge_actions(write: MergeWrite, at: datetime) -> list[Any]:
    """The source's side of a merge: closed, linked, clocks stopped, capacity to give back."""
    actions: list[Any] = [
        TicketItem.status.set("closed"),
        TicketItem.closed_at.set(clock.iso(at)),
        TicketItem.merged_into.set(write.target.id),
        TicketItem.merge.set(write.merge.model_dump(mode="json")),
        TicketItem.updated_at.set(clock.iso(at)),
        TicketItem.version.set(write.source.version + 1),
    ]
    if write.load_stale:
        actions.append(TicketItem.load_stale.set(True))
    actions += sla_actions(write.source.id, write.sla)
    if write.sla is None:  # no clock to stop, but nothing to watch on a closed ticket either
        actions += no_deadline_actions()
    return actions


def unmerge_actions(write: UnmergeWrite, at: datetime) -> list[Any]:
    """The source's side of an unmerge: its status, times and SLA as they were before the merge."""
    before = write.restored
    actions: list[Any] = [
        TicketItem.status.set(before.status.value),
        TicketItem.merged_into.remove(),
        TicketItem.merge.set(before.model_dump(mode="json")),
        TicketItem.updated_at.set(clock.iso(at)),
        TicketItem.version.set(write.source.version + 1),
        TicketItem.resolved_at.set(clock.iso(before.resolved_at))
        if before.resolved_at
        else TicketItem.resolved_at.remove(),
        TicketItem.closed_at.set(clock.iso(before.closed_at))
        if before.closed_at
        else TicketItem.closed_at.remove(),
    ]
    if write.load_stale:
        actions.append(TicketItem.load_stale.set(True))
    if write.unrouted:  # no policy was planned yet: only the SLA's follow-up times to restore
        return [
            *actions,
            TicketItem.sla.set(write.sla.sla.model_dump(mode="json")),
            *unrouted_actions(write.source),
        ]
    return actions + sla_actions(write.source.id, write.sla)


def target_actions(
    target: Ticket, merged_from: list[str], at: datetime, participants: list[str] | None = None
) -> list[Any]:
    """The other ticket's side: the tickets merged into it, its version (and, on a merge, the
    merged ticket's participants, whose replies now join it)."""
    actions: list[Any] = [
        TicketItem.merged_from.set(merged_from) if merged_from else TicketItem.merged_from.remove(),  # type: ignore[arg-type]
        TicketItem.updated_at.set(clock.iso(at)),
        TicketItem.version.set(target.version + 1),
    ]
    if participants is not None:
        actions.append(TicketItem.participants.set(participants))  # type: ignore[arg-type]
    return actions


@dataclass
class _Transaction:
    """The operations of one transaction, each named so a cancellation reason finds its item."""

    saves: list[tuple[Any, Any, str]] = field(default_factory=list)
    deletes: list[tuple[Any, Any, str]] = field(default_factory=list)
    updates: list[tuple[Any, list[Any], Any, str]] = field(default_factory=list)

    def events(self, ticket_id: str, events: Sequence[TicketEvent]) -> None:
        self.saves += [(item, None, "event") for item in event_items(ticket_id, events)]

    def moves(self, moves: Sequence[Move], must_exist: bool = False) -> None:
        for move in moves:
            put, gone = move_items(move)
            self.saves.append((put, None, "message"))
            self.deletes.append((gone, MessageItem.pk.exists() if must_exist else None, "moved"))


def merged_participants(source: Ticket, target: Ticket) -> list[str] | None:
    """The target's participants with the source's added (None: nothing to add)."""
    added = [p for p in source.participants if p not in target.participants]
    return [*target.participants, *added] if added else None


class DynamoTicketMoves(Table):
    """TicketMoves on the table."""

    def merge_tickets(self, write: MergeWrite) -> None:
        at = write.merge.at
        source, target = write.source, write.target
        transaction = _Transaction()
        transaction.events(source.id, write.source_events)
        transaction.events(target.id, write.target_events)
        transaction.moves(write.moves)
        transaction.updates += [
            (_ticket(source.id), merge_actions(write, at), TicketItem.version == source.version, "source"),
            (
                _ticket(target.id),
                target_actions(
                    target, [*target.merged_from, source.id], at, merged_participants(source, target)
                ),
                (TicketItem.version == target.version) & TicketItem.merged_into.does_not_exist(),
                "target",
            ),
        ]
        self._transact(transaction)

    def unmerge_tickets(self, write: UnmergeWrite) -> None:
        at = write.restored.undone_at or clock.now()
        source, target = write.source, write.target
        rest = [t for t in target.merged_from if t != source.id]
        transaction = _Transaction()
        transaction.events(source.id, write.source_events)
        transaction.events(target.id, write.target_events)
        transaction.moves(write.moves)
        transaction.updates += [
            (
                _ticket(source.id),
                unmerge_actions(write, at),
                (TicketItem.version == source.version) & (TicketItem.merged_into == target.id),
                "source",
            ),
            (
                _ticket(target.id),
                target_actions(target, rest, at),
                (TicketItem.version == target.version) & TicketItem.merged_into.does_not_exist(),
                "target",
            ),
        ]
        self._transact(transaction)

    def split_message(self, write: SplitWrite) -> None:
        at = write.ticket.created_at
        new = ticket_to_item(write.ticket)
        new.gsi3pk, new.gsi3sk = unrouted_keys(write.ticket)  # route_ticket routes it
        transaction = _Transaction()
        transaction.saves += [
            (pointer_item(write.marker, clock.iso(at)), PointerItem.pk.does_not_exist(), "split"),
            (pointer_item(write.number, clock.iso(at)), PointerItem.pk.does_not_exist(), "number"),
            (new, TicketItem.pk.does_not_exist(), "ticket"),
        ]
        transaction.events(write.ticket.id, write.ticket_events)
        transaction.events(write.original.id, write.original_events)
        transaction.moves([write.move], must_exist=True)
        original = write.original
        transaction.updates.append(
            (
                _ticket(original.id),
                [TicketItem.updated_at.set(clock.iso(at)), TicketItem.version.set(original.version + 1)],
                TicketItem.version == original.version,
                "original",
            )
        )
        if write.repoint is not None:
            pointer = PointerItem(pk=pointer_key(write.repoint.kind, write.repoint.value), sk="PTR")
            transaction.updates.append(
                (
                    pointer,
                    [PointerItem.ticket_id.set(write.ticket.id)],
                    PointerItem.message_id == write.move.message.id,
                    "ref",
                )
            )
        self._transact(transaction, duplicate="split")

    def move_messages(self, moves: Sequence[Move]) -> None:
        for start in range(0, len(moves), MOVES_PER_TRANSACTION):
            transaction = _Transaction()
            transaction.moves(moves[start : start + MOVES_PER_TRANSACTION])
            self._transact(transaction)

    def _transact(self, transaction: _Transaction, duplicate: str | None = None) -> None:
        """Write all or nothing: DuplicateError when the `duplicate` operation's condition failed
        (its marker exists: done before), ConflictError for any other failed condition."""
        # PynamoDB sends deletes, then puts, then updates: the names follow that order
        names = [name for *_, name in transaction.deletes]
        names += [name for *_, name in transaction.saves]
        names += [name for *_, name in transaction.updates]
        try:
            with TransactWrite(connection=self.connection) as write:
                for item, condition, _ in transaction.saves:
                    write.save(item, condition=condition)
                for item, condition, _ in transaction.deletes:
                    write.delete(item, condition=condition)
                for item, actions, condition, _ in transaction.updates:
                    write.update(item, actions=actions, condition=condition)
        except TransactWriteError as exc:
            raise_if_permanent(exc)
            codes = cancellation_codes(exc)
            failed = [
                names[i]
                for i, code in enumerate(codes)
                if code == "ConditionalCheckFailed" and i < len(names)
            ]
            if duplicate is not None and duplicate in failed:  # its marker exists: done before
                raise DuplicateError(f"already done ({duplicate})") from exc
            raise ConflictError(f"changed meanwhile ({', '.join(failed) or 'transaction'})") from exc
