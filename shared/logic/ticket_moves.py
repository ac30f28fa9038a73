"""Merging a ticket into another, undoing it, and splitting a message into a new ticket.

- **Merge** A into B (the same customer: tickets of two customers are merged by merging the customers
  first): A's messages move to B's conversation, A is closed with `merged_into` and a merge record
  (what it was before), its SLA clocks stop and its capacity is given back; B keeps its SLA. A's
  pointers are left as they are: ingestion follows `merged_into` (`threading.follow_merges`), so a
  reply to A's thread joins B, and after an unmerge A's thread leads to A again.
- **Unmerge** restores A as its merge record says and moves back the messages the merge brought to B
  (a message's `merged_from` names the merges that brought it, the latest last); messages that
  reached B through A's thread while merged stay in B. Refused while B is itself merged into another
  ticket (undo that first).
- **Split** moves one customer message of a ticket to a new ticket of the same customer on the
  message's channel, linked to the original (`linked_ticket_id`); route_ticket routes it from the
  stream like any new ticket, and the message's `ref` pointer leads to the new ticket.

Each state change is one transaction conditional on the versions read; a retried request finds the
change made and finishes moving what is left (the moves are idempotent), so nothing is duplicated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from shared.dal.base import DuplicateError
from shared.dal.conversation import ConversationReads
from shared.dal.pointers import Pointer, PointerReads
from shared.dal.ticket_moves import (
    MOVES_PER_TRANSACTION,
    MergeWrite,
    Move,
    SplitWrite,
    TicketMoves,
    UnmergeWrite,
)
from shared.dal.tickets import SlaWrite, TicketStore
from shared.errors import ConflictError, HelpdeskError
from shared.ids import new_id
from shared.logic import sla as sla_math
from shared.logic.agent_actions import StaleVersionError
from shared.logic.bounds import RULES_PREVIEW_MAX_BYTES, clip
from shared.logic.permissions import Principal, may_merge, may_split
from shared.logic.sla_service import after_change, ticket_policy
from shared.logic.ticket_reads import MessageNotFoundError, message_key
from shared.models.config import HelpdeskConfig
from shared.models.ticket import Channel, Direction, Message, Ticket, TicketEvent, TicketMerge, TicketStatus

OPEN_AGAIN = frozenset({TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING, TicketStatus.ON_HOLD})


class NotMergeableError(HelpdeskError):
    """The tickets cannot be merged as asked (the same ticket, another customer's, one merged or
    closed already)."""


class NotMergedError(HelpdeskError):
    """The ticket is not merged into another, or its merge can no longer be undone."""


class NotSplittableError(HelpdeskError):
    """The message cannot open a ticket of its own (not the customer's, or the ticket's only one)."""


class MergeRequest(BaseModel):
    """Merge the ticket into `into` (a ticket number or the id of one of its messages)."""

    model_config = ConfigDict(extra="forbid")

    into: str = Field(min_length=1, max_length=1000)
    version: int | None = Field(default=None, ge=1)
    """The version of the merged ticket the agent saw (as `If-Match` says it); a stale one is refused."""


class MoveStores(PointerReads, TicketStore, ConversationReads, TicketMoves, Protocol):
    """What merges, unmerges and splits read and write."""


class TicketReads(Protocol):
    def get_ticket(self, ticket_id: str) -> Ticket | None: ...


@dataclass(frozen=True)
class MoveContext:
    store: MoveStores
    config: HelpdeskConfig


@dataclass(frozen=True)
class Merged:
    """Both tickets after a merge or an unmerge, and how many messages moved."""

    source: Ticket
    target: Ticket
    moved: int


@dataclass(frozen=True)
class Split:
    original: Ticket
    ticket: Ticket
    message_id: str


def _moves(messages: list[Message], source: str, target: str, now: datetime, merging: bool) -> list[Move]:
    """Each message as it will be under `target`: a merge adds `source` to its `merged_from`, an
    unmerge takes the last entry off."""
    moves = []
    for message in messages:
        path = [*message.merged_from, source] if merging else message.merged_from[:-1]
        moved = message.model_copy(update={"ticket_id": target, "merged_from": path, "moved_at": now})
        moves.append(Move(source, moved))
    return moves


def _current(ticket_id: str, store: TicketReads) -> Ticket:
    ticket = store.get_ticket(ticket_id)
    assert ticket is not None  # tickets are never deleted
    return ticket


def _mergeable(source: Ticket, target: Ticket) -> None:
    if source.id == target.id:
        raise NotMergeableError(f"ticket #{source.number} cannot be merged into itself")
    if source.merged_into is not None:
        raise NotMergeableError(f"ticket #{source.number} is merged into another ticket already")
    if target.merged_into is not None:
        raise NotMergeableError(f"ticket #{target.number} is merged into another ticket: merge into that one")
    if target.status is TicketStatus.CLOSED:
        raise NotMergeableError(f"ticket #{target.number} is closed: reopen it, or merge it instead")
    if source.customer_id != target.customer_id:
        raise NotMergeableError(
            f"tickets #{source.number} and #{target.number} are of different customers: "
            "merge the customers first"
        )


def merge_ticket(
    source: Ticket, target: Ticket, version: int | None, actor: Principal, ctx: MoveContext, now: datetime
) -> Merged:
    """Merge `source` into `target` (at `version` of the source, when given)."""
    if source.merged_into == target.id:  # a retry: the merge is made, finish moving what is left
        may_merge(actor, source, target)
        return _finish(source.id, target.id, ctx.store, now, 0)
    _mergeable(source, target)
    may_merge(actor, source, target)
    if version is not None and version != source.version:
        raise StaleVersionError(
            f"the merge was asked on version {version}; "
            f"ticket #{source.number} is at version {source.version}",
            source,
        )
    store = ctx.store
    moves = _moves(store.list_messages(source.id), source.id, target.id, now, merging=True)
    data = {"by": actor.agent_id, "messages": len(moves)}
    write = MergeWrite(
        source=source,
        target=target,
        merge=_record(source, target, actor, now),
        sla=after_change(ctx.config, source, "closed", None, now),
        load_stale=source.load_holder is not None,
        source_events=[
            TicketEvent(at=now, type="merged", data={**data, "into": target.id, "number": target.number})
        ],
        target_events=[
            TicketEvent(
                at=now, type="merged_from", data={**data, "ticket_id": source.id, "number": source.number}
            )
        ],
        moves=moves[:MOVES_PER_TRANSACTION],
    )
    try:
        store.merge_tickets(write)
    except ConflictError as exc:
        current = _current(source.id, store)
        if current.merged_into != target.id:  # not a concurrent twin of this request
            raise StaleVersionError(
                f"ticket #{source.number} or #{target.number} changed meanwhile; nothing was merged", current
            ) from exc
    return _finish(source.id, target.id, store, now, len(moves))


def _record(source: Ticket, target: Ticket, actor: Principal, now: datetime) -> TicketMerge:
    return TicketMerge(
        into=target.id,
        at=now,
        by=actor.agent_id,
        status=source.status,
        resolved_at=source.resolved_at,
        closed_at=source.closed_at,
        sla=source.sla,
    )


def _finish(source_id: str, target_id: str, store: MoveStores, now: datetime, moved: int) -> Merged:
    """Move what is still under the merged ticket (past the first transaction, or recorded there
    since), then both tickets as they are."""
    left = _moves(store.list_messages(source_id), source_id, target_id, now, merging=True)
    store.move_messages(left)
    return Merged(_current(source_id, store), _current(target_id, store), max(moved, len(left)))


def _moving_back(source: Ticket, target: Ticket, store: MoveStores) -> list[Message]:
    """The messages the merge of `source` brought to `target` (and no later merge moved on)."""
    return [m for m in store.list_messages(target.id) if m.merged_from and m.merged_from[-1] == source.id]


def unmerge_ticket(source: Ticket, actor: Principal, ctx: MoveContext, now: datetime) -> Merged:
    """Undo the merge of `source` into another ticket: restore it as it was, with its messages."""
    store = ctx.store
    merge = source.merge
    if source.merged_into is None:
        if merge is None or merge.undone_at is None:
            raise NotMergedError(f"ticket #{source.number} is not merged into another ticket")
        target = _current(merge.into, store)  # a retry: finish moving what is left
        may_merge(actor, source, target)
        return _finish_unmerge(source, target, store, now, 0)
    assert merge is not None
    target = _current(source.merged_into, store)
    if target.merged_into is not None:
        raise NotMergedError(
            f"ticket #{target.number} was merged into another ticket since: undo that merge first"
        )
    may_merge(actor, source, target)
    moves = _moves(_moving_back(source, target, store), target.id, source.id, now, merging=False)
    restored = merge.model_copy(update={"undone_at": now, "undone_by": actor.agent_id})
    policy, _ = ticket_policy(ctx.config, source)
    data = {"by": actor.agent_id, "messages": len(moves), "status": merge.status.value}
    write = UnmergeWrite(
        source=source,
        target=target,
        restored=restored,
        sla=SlaWrite(merge.sla, sla_math.next_deadline(merge.sla, policy), ctx.config.sla.sweep_shards),
        load_stale=merge.status in OPEN_AGAIN and source.assignee is not None,
        unrouted=merge.status in OPEN_AGAIN and source.team is None and source.assignee is None,
        source_events=[
            TicketEvent(at=now, type="unmerged", data={**data, "from": target.id, "number": target.number})
        ],
        target_events=[
            TicketEvent(
                at=now, type="unmerged_from", data={**data, "ticket_id": source.id, "number": source.number}
            )
        ],
        moves=moves[:MOVES_PER_TRANSACTION],
    )
    try:
        store.unmerge_tickets(write)
    except ConflictError as exc:
        current = _current(source.id, store)
        if current.merged_into is not None or current.merge is None or current.merge.undone_at is None:
            raise StaleVersionError(
                f"ticket #{source.number} or #{target.number} changed meanwhile; nothing was undone", current
            ) from exc
    return _finish_unmerge(source, target, store, now, len(moves))


def _finish_unmerge(source: Ticket, target: Ticket, store: MoveStores, now: datetime, moved: int) -> Merged:
    left = _moves(_moving_back(source, target, store), target.id, source.id, now, merging=False)
    store.move_messages(left)
    return Merged(_current(source.id, store), _current(target.id, store), max(moved, len(left)))


def _splittable(ticket: Ticket, message: Message, store: MoveStores) -> None:
    if message.direction is not Direction.INBOUND:
        raise NotSplittableError("only a customer's message opens a ticket: this one is an agent's or a note")
    if ticket.merged_into is not None:
        raise NotSplittableError(f"ticket #{ticket.number} is merged into another ticket")
    if len(store.conversation_page(ticket.id, 2).entries) < 2:
        raise NotSplittableError(f"it is the only message of ticket #{ticket.number}")


def _earlier_split(ticket: Ticket, message_id: str, store: MoveStores) -> Split | None:
    """The split a retry asks again: the message's `split` pointer, if it left this ticket."""
    marker = store.get_pointers([("split", message_id)]).get(("split", message_id))
    made = store.get_ticket(marker.ticket_id) if marker is not None and marker.ticket_id else None
    if made is None or made.linked_ticket_id != ticket.id:
        return None
    return Split(_current(ticket.id, store), made, message_id)


def split_message(
    ticket: Ticket, message_ref: str, actor: Principal, ctx: MoveContext, now: datetime
) -> Split:
    """Move one customer message of `ticket` to a new ticket, linked to it, for routing."""
    may_split(actor, ticket)
    store = ctx.store
    key = message_key(message_ref)
    message_id = key.rsplit("#", 1)[-1]
    number: int | None = None
    for _ in range(3):  # a message landing on the ticket meanwhile changes its version: read again
        message = store.get_message(ticket.id, key)
        if message is None:
            earlier = _earlier_split(ticket, message_id, store)
            if earlier is not None:
                return earlier
            raise MessageNotFoundError(f"no message {message_ref!r} on ticket #{ticket.number}")
        _splittable(ticket, message, store)
        number = number or store.next_ticket_number(ctx.config.tickets.number_start)
        write = _split_write(ticket, message, number, actor, store, now)
        try:
            store.split_message(write)
            return Split(_current(ticket.id, store), write.ticket, message.id)
        except DuplicateError:
            continue  # split by a twin of this request: the next pass finds it
        except ConflictError:
            ticket = _current(ticket.id, store)
    raise ConflictError(f"ticket #{ticket.number} keeps changing; nothing was split")


def _split_write(
    original: Ticket, message: Message, number: int, actor: Principal, store: MoveStores, now: datetime
) -> SplitWrite:
    same_channel = message.channel == original.channel
    ticket = Ticket(
        id=new_id("tkt", now),
        number=number,
        channel=message.channel,
        subject=message.subject or (original.subject if same_channel else None),
        customer_id=original.customer_id,
        flags=list(dict.fromkeys(message.flags)),
        linked_ticket_id=original.id,
        created_at=now,
        updated_at=now,
        last_inbound_at=message.at,
        participants=list(original.participants) if message.channel is Channel.EMAIL else [],
        inbox=original.inbox if same_channel else None,
        preview=clip(message.text, RULES_PREVIEW_MAX_BYTES),
    )
    moved = message.model_copy(update={"ticket_id": ticket.id, "moved_at": now})
    by = actor.agent_id
    return SplitWrite(
        original=original,
        ticket=ticket,
        move=Move(original.id, moved),
        original_events=[
            TicketEvent(
                at=now,
                type="split",
                data={"by": by, "message_id": message.id, "into": ticket.id, "number": number},
            )
        ],
        ticket_events=[
            TicketEvent(
                at=now,
                type="split_from",
                data={
                    "by": by,
                    "message_id": message.id,
                    "ticket_id": original.id,
                    "number": original.number,
                },
            )
        ],
        marker=Pointer("split", message.id, ticket_id=ticket.id, message_id=message.id),
        number=Pointer("number", str(number), ticket_id=ticket.id),
        repoint=_ref_pointer(message, store),
    )


def _ref_pointer(message: Message, store: MoveStores) -> Pointer | None:
    """The message's `ref` pointer, if it names this message (another may hold a reused id)."""
    if not message.external_id:
        return None
    value = message.external_id
    if message.channel is not Channel.EMAIL:
        value = f"{message.channel.value}:{value}"
    found = store.get_pointers([("ref", value)]).get(("ref", value))
    return found if found is not None and found.message_id == message.id else None
