"""The reply lock: two agents never send two answers to one customer without knowing (decision 108).

Before an agent's reply is queued, what happened on the ticket since the message the agent's screen
last showed (`seen_message_id`) is checked: another agent's reply still in the outbox, an answer the
customer got that the agent has not seen, a customer message the agent has not read. Any of them
refuses the reply with what changed, unless the agent confirms. The reply is then queued together
with the ticket's reply lock (a pointer naming the ticket's latest agent reply), on condition that
the lock still names what the check read, so of two agents racing only one passes unconfirmed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from shared.dal.outbox import REPLY_LOCK
from shared.dal.pointers import Pointer
from shared.errors import HelpdeskError
from shared.logic.agent_actions import InvalidRequestError
from shared.models.outbound import OutboundMessage
from shared.models.ticket import Direction, Message

ChangeKind = Literal["reply_in_flight", "answered", "customer_wrote"]
IN_FLIGHT = frozenset({"pending", "retry"})
"""Outbox states of a reply on its way to the customer: queued or being sent (the outbox reads a
claimed one as pending), or waiting for another try after a transient failure."""
PREVIEW = 140
"""Characters of a message's text a change shows."""


@dataclass(frozen=True)
class Change:
    """One thing that happened on the ticket the replying agent has not seen."""

    kind: ChangeKind
    at: datetime
    by: str
    """The agent, or the customer's address or handle."""
    id: str
    """The message id, or the outbox key of a reply in flight."""
    preview: str

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "at": self.at.isoformat(),
            "by": self.by,
            "id": self.id,
            "preview": self.preview,
        }


class ReplyCollisionError(HelpdeskError):
    """The reply would cross what the agent has not seen; `changes` says what (409 unless confirmed)."""

    def __init__(self, message: str, changes: Sequence[Change]) -> None:
        super().__init__(message)
        self.changes = list(changes)


def lock_pointer(ticket_id: str, reply: OutboundMessage) -> Pointer:
    """The ticket's reply lock once `reply` is queued: it names the reply and its agent."""
    return Pointer(REPLY_LOCK, ticket_id, ticket_id=ticket_id, message_id=reply.key, direction=reply.author)


def _preview(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= PREVIEW else line[: PREVIEW - 1].rstrip() + "…"


def unseen_messages(messages: Sequence[Message], seen_message_id: str | None) -> list[Message]:
    """The ticket's messages after the one the agent's screen last showed (none when not given)."""
    if seen_message_id is None:
        return []
    ordered = sorted(messages, key=lambda m: (m.at, m.id))
    position = next((i for i, m in enumerate(ordered) if m.id == seen_message_id), None)
    if position is None:
        raise InvalidRequestError(f"seen_message_id: {seen_message_id} is not a message of this ticket")
    return ordered[position + 1 :]


def message_changes(unseen: Sequence[Message], agent: str) -> list[Change]:
    """Answers by other agents and customer messages among the unseen ones (notes and automatic
    messages are not answers; the agent's own replies are seen by definition)."""
    changes = []
    for message in unseen:
        kind: ChangeKind | None = None
        if message.direction == Direction.INBOUND:
            kind = "customer_wrote"
        elif message.direction == Direction.OUTBOUND and not message.automatic and message.author != agent:
            kind = "answered"
        if kind is not None:
            changes.append(Change(kind, message.at, message.author, message.id, _preview(message.text)))
    return changes


def in_flight_change(lock: Pointer | None, latest: OutboundMessage | None, agent: str) -> Change | None:
    """Another agent's reply the lock names that the outbox has not delivered yet."""
    if lock is None or latest is None or latest.author == agent or latest.status not in IN_FLIGHT:
        return None
    return Change("reply_in_flight", latest.created_at, latest.author, latest.key, _preview(latest.text))


def collision_message(changes: Sequence[Change]) -> str:
    kinds = {
        "reply_in_flight": "another agent's reply is being sent",
        "answered": "the customer got an answer you have not seen",
        "customer_wrote": "the customer wrote since the message you last saw",
    }
    said = "; ".join(dict.fromkeys(kinds[c.kind] for c in changes))
    return f"{said}: read the changes, then send again with confirm: true to send anyway"


@dataclass(frozen=True)
class ReplyGuard:
    """What the replying agent's screen showed, and whether the agent confirms sending anyway."""

    seen_message_id: str | None = None
    confirm: bool = False


class LockReads(Protocol):
    def get_pointers(self, pointers: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Pointer]: ...

    def get_outbound(self, key: str) -> OutboundMessage | None: ...

    def list_messages(self, ticket_id: str) -> list[Message]: ...


def read_lock(reads: LockReads, ticket_id: str) -> tuple[Pointer | None, OutboundMessage | None]:
    """The ticket's reply lock and the reply it names."""
    lock = reads.get_pointers([(REPLY_LOCK, ticket_id)]).get((REPLY_LOCK, ticket_id))
    latest = reads.get_outbound(lock.message_id) if lock is not None and lock.message_id else None
    return lock, latest


def check_collisions(reads: LockReads, ticket_id: str, agent: str, guard: ReplyGuard) -> str | None:
    """Refuse the reply (ReplyCollisionError) when it would cross what the agent has not seen,
    unless confirmed; the lock's reply key to queue against (None: no reply yet)."""
    lock, latest = read_lock(reads, ticket_id)
    messages = reads.list_messages(ticket_id) if guard.seen_message_id is not None else []
    changes = message_changes(unseen_messages(messages, guard.seen_message_id), agent)
    flight = in_flight_change(lock, latest, agent)
    if flight is not None:
        changes.insert(0, flight)
    if changes and not guard.confirm:
        raise ReplyCollisionError(collision_message(changes), changes)
    return lock.message_id if lock is not None else None


def raced(reads: LockReads, ticket_id: str, agent: str) -> ReplyCollisionError:
    """The refusal of a reply whose lock another reply took between the check and the put."""
    lock, latest = read_lock(reads, ticket_id)
    flight = in_flight_change(lock, latest, agent)
    changes = [flight] if flight is not None else []
    detail = (
        "another agent queued a reply on this ticket while yours was being queued; read it, then send again"
    )
    return ReplyCollisionError(detail, changes)
