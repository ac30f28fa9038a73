"""The data-access layer: the only code that talks to DynamoDB (through PynamoDB).

Use cases see `TicketRepository`, a Protocol, and get the DynamoDB implementation from
`get_repository()`. Every write that must not happen twice is a conditional write inside one
transaction, so retried deliveries never duplicate a message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Protocol

from pynamodb.connection import Connection
from pynamodb.exceptions import PynamoDBException, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from shared import clock
from shared.dal.items import (
    AgentItem,
    CounterItem,
    CustomerItem,
    EventItem,
    MessageItem,
    OutboxItem,
    PointerItem,
    QuarantineItem,
    QuarantinePartItem,
    QueueItem,
    TicketItem,
    bind_table,
)
from shared.errors import ConflictError, HelpdeskError, PermanentWriteError
from shared.ids import new_id
from shared.models.outbound import OutboundMessage
from shared.models.ticket import (
    Attachment,
    ConsentRecord,
    Customer,
    Identity,
    MergeRecord,
    Message,
    QuarantineEntry,
    Sla,
    Ticket,
    TicketEvent,
)

MAX_BATCH_GET = 100


class DuplicateError(HelpdeskError):
    """The inbound message was stored before (its dedupe key or message reference exists)."""


class GuardRaceError(HelpdeskError):
    """An outbox put lost to a concurrent one: a guard pointer was written since `guard_since`."""


@dataclass(frozen=True)
class Pointer:
    """A lookup key that leads to a ticket or customer: `PTR#<kind>#<value>`."""

    kind: str
    value: str
    ticket_id: str | None = None
    customer_id: str | None = None
    message_id: str | None = None
    direction: str | None = None
    last_inbound_at: str | None = None
    created_at: str | None = None
    """When the pointer was (last) written; set by the store."""

    @property
    def key(self) -> str:
        return pointer_key(self.kind, self.value)


MAX_KEY_VALUE_BYTES = 512
"""Longest pointer value (UTF-8 bytes) kept readable in its key; DynamoDB allows 2048 for a whole
partition key. Longer values, and values that are not valid Unicode, are keyed by their SHA-256."""


def pointer_key(kind: str, value: str) -> str:
    """The partition key of a pointer: the value itself while it fits, else its digest (the same
    value always gives the same key, so lookups find what writes stored)."""
    try:
        encoded = value.encode("utf-8")
    except UnicodeEncodeError:
        encoded = b""
    if (value and not encoded) or len(encoded) > MAX_KEY_VALUE_BYTES:
        digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
        return f"PTR#{kind}#sha256:{digest}"
    return f"PTR#{kind}#{value}"


@dataclass
class TicketChanges:
    """Changes to a ticket made together with a new message (None means unchanged)."""

    status: str | None = None
    updated_at: datetime | None = None
    last_inbound_at: datetime | None = None
    participants: list[str] | None = None
    flags: list[str] | None = None
    resolved_at: datetime | None = None
    clear_resolved_at: bool = False
    closed_at: datetime | None = None
    clear_closed_at: bool = False
    sla: SlaWrite | None = None


@dataclass
class NewTicketWrite:
    ticket: Ticket
    message: Message
    events: list[TicketEvent] = field(default_factory=list)
    pointers: list[Pointer] = field(default_factory=list)
    new_customer: Customer | None = None
    upserts: list[Pointer] = field(default_factory=list)
    """Pointers written whatever they held before (a conversation's current ticket)."""
    group_members: list[str] = field(default_factory=list)
    """Other open tickets of the customer that join the new ticket's group (if not in one yet)."""


@dataclass
class AppendWrite:
    ticket_id: str
    expected_version: int
    changes: TicketChanges
    message: Message
    events: list[TicketEvent] = field(default_factory=list)
    pointers: list[Pointer] = field(default_factory=list)
    new_customer: Customer | None = None
    upserts: list[Pointer] = field(default_factory=list)


@dataclass(frozen=True)
class AgentLive:
    """An agent's stored live state (None fields: never stored yet)."""

    id: str
    presence: str | None
    load: dict[str, int]
    last_assigned_at: str
    teams: list[str]
    away_since: datetime | None = None
    """When the current absence began (away or offline without coming online since)."""
    away_until: datetime | None = None
    """When the agent said they would be back, if they did."""


@dataclass(frozen=True)
class QueueEntry:
    team: str
    ticket_id: str
    priority: str
    channel: str
    queued_at: datetime
    key: str


@dataclass(frozen=True)
class SlaWrite:
    """A ticket's new SLA and its next deadline (None: nothing left to watch)."""

    sla: Sla
    deadline: datetime | None
    shards: int


OUTBOX_RETRY = "OUTBOXRETRY"
"""gsi2 partition of outbox items waiting for another try, by retry time."""
OUTBOX_SENDING = "OUTBOXSENDING"
"""gsi2 partition of outbox items claimed for sending and not yet sent or failed, by claim time."""
OUTBOX_PENDING = "OUTBOXPENDING"
"""gsi2 partition of outbox items waiting to be sent, by when they became pending (or were last
delivered again): one whose stream record Lambda gave up on stays here until the sweeper redelivers
it."""


UNROUTED = "UNROUTED"
"""gsi2 partition of tickets no routing decision has reached yet, by creation time: a ticket enters
it when it is created and leaves it when it is first routed (its SLA keys replace the entry) or
settled without a team. One whose stream record route_ticket gave up on stays here until the
sweeper routes it."""


@dataclass(frozen=True)
class StalePending:
    """An outbox message pending since `since` (its stream delivery may have been given up)."""

    message: OutboundMessage
    since: datetime
    redeliveries: int
    index_key: str
    """Its `OUTBOXPENDING` sort key: the write that takes it is conditional on it being unchanged."""


@dataclass(frozen=True)
class StuckSend:
    """An outbox message claimed for sending whose result was never recorded."""

    message: OutboundMessage
    claimed_at: datetime
    claim: str
    """The claim's index key: the write that resolves it is conditional on it being unchanged."""


def _flag_ticket(ticket_id: str, flag: str) -> tuple[Any, list[Any], Any]:
    """An update appending `flag` to a ticket's flags (for agents), for a transaction."""
    return (
        TicketItem(pk=_ticket_pk(ticket_id), sk="TICKET"),
        [TicketItem.flags.set(TicketItem.flags.append([flag]))],
        TicketItem.pk.exists(),
    )


def sla_shard(ticket_id: str, shards: int) -> int:
    """The due-index partition of a ticket (stable, spreads tickets evenly)."""
    import zlib

    return zlib.crc32(ticket_id.encode()) % max(shards, 1)


def _sla_actions(ticket_id: str, write: SlaWrite | None) -> list[Any]:
    if write is None:
        return []
    actions: list[Any] = [
        TicketItem.sla.set(write.sla.model_dump(mode="json")),
        TicketItem.sla_policy.set(write.sla.policy) if write.sla.policy else TicketItem.sla_policy.remove(),
    ]
    if write.deadline is None:
        actions += [TicketItem.gsi2pk.remove(), TicketItem.gsi2sk.remove()]
    else:
        actions += [
            TicketItem.gsi2pk.set(f"SLADUE#{sla_shard(ticket_id, write.shards)}"),
            TicketItem.gsi2sk.set(f"{clock.iso(write.deadline)}#{ticket_id}"),
        ]
    return actions


@dataclass
class RoutingChanges:
    """Ticket fields a routing decision sets."""

    team: str
    priority: str
    tags: list[str]
    skills: list[str]
    sla_policy: str | None = None
    language: str | None = None
    sla: SlaWrite | None = None


@dataclass
class TicketUpdate:
    """An agent's change to a ticket (None: unchanged)."""

    status: str | None = None
    priority: str | None = None
    assignee: str | None = None
    unassign: bool = False
    tags: list[str] | None = None
    load_stale: bool = False
    """Capacity accounting must follow (assignee or status changed): route_ticket picks it up."""
    sla: SlaWrite | None = None
    team: str | None = None
    queue: QueueEntry | None = None
    """Put the ticket in this queue (escalation to another team)."""
    flags: list[str] | None = None
    """The ticket's flags for agents, whole (e.g. `needs_attention` added by the sweeper)."""


class ClaimLostError(HelpdeskError):
    """The agent's capacity or presence changed before the claim: try the next candidate."""


class AlreadyRoutedError(HelpdeskError):
    """The ticket was assigned meanwhile (a re-delivered record or a manual assignment)."""


def queue_key(priority: str, queued_at: datetime, ticket_id: str) -> str:
    rank = {"urgent": 0, "high": 1, "normal": 2, "low": 3}.get(priority, 2)
    return f"{rank}#{clock.iso(queued_at)}#{ticket_id}"


@dataclass(frozen=True)
class QuarantineQuery:
    """Which quarantine entries to list: all filters optional; `after` is the last entry seen
    (its time in ISO form and id), from the previous page's cursor."""

    limit: int
    reason: str | None = None
    channel: str | None = None
    released: bool | None = None
    after: tuple[str, str] | None = None


@dataclass(frozen=True)
class QuarantinePage:
    entries: list[QuarantineEntry]
    after: tuple[str, str] | None
    """The last entry of this page (time, id) when another page follows."""


class TicketRepository(Protocol):
    def get_pointers(self, pointers: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Pointer]: ...

    def get_ticket(self, ticket_id: str) -> Ticket | None: ...

    def next_ticket_number(self, start: int) -> int: ...

    def create_ticket(self, write: NewTicketWrite) -> None: ...

    def append_message(self, write: AppendWrite) -> None: ...

    def quarantine(self, entry: QuarantineEntry, dedupe: Pointer, raw_parts: Sequence[str] = ()) -> None: ...

    def set_status(self, ticket_id: str, status: str, at: datetime, expected_version: int) -> None: ...

    def update_ticket(
        self, ticket: Ticket, changes: TicketUpdate, events: list[TicketEvent], at: datetime
    ) -> None: ...

    def due_tickets(self, shard: int, now: datetime, limit: int = 100) -> list[Ticket]: ...

    def unrouted_tickets(self, created_before: datetime, limit: int = 100) -> list[Ticket]: ...

    def drop_unrouted(self, ticket_id: str) -> bool: ...

    def put_outbound(
        self, message: OutboundMessage, guards: list[Pointer], guard_since: datetime | None = None
    ) -> bool: ...

    def get_outbound(self, key: str) -> OutboundMessage | None: ...

    def start_sending(self, key: str, at: datetime) -> bool: ...

    def outbound_sent(
        self,
        message: OutboundMessage,
        stored: Message | None,
        pointers: list[Pointer],
        events: list[TicketEvent],
        ticket: Ticket | None,
        sla: SlaWrite | None,
    ) -> None: ...

    def outbound_failed(
        self,
        message: OutboundMessage,
        error: str,
        permanent: bool,
        events: list[TicketEvent],
        flag: str = "delivery_failed",
    ) -> None: ...

    def list_outbound(self) -> list[OutboundMessage]: ...

    def requeue_due_outbound(self, now: datetime, limit: int = 100) -> int: ...

    def stuck_sending(self, claimed_before: datetime, limit: int = 100) -> list[StuckSend]: ...

    def stale_pending(self, before: datetime, limit: int = 100) -> list[StalePending]: ...

    def redeliver_pending(self, stale: StalePending, at: datetime) -> bool: ...

    def outbound_unknown(self, stuck: StuckSend, error: str, events: list[TicketEvent]) -> bool: ...

    def pending_failed(self, stale: StalePending, error: str, events: list[TicketEvent]) -> bool: ...

    def add_message(self, ticket_id: str, message: Message, events: list[TicketEvent]) -> None: ...

    def record_consent(
        self, customer: Customer, dedupe: Pointer, new_pointers: list[Pointer], exists: bool
    ) -> None: ...

    def save_merge(
        self, customers: list[Customer], identity_owner: dict[str, str], ticket_owner: dict[str, str]
    ) -> None: ...

    def add_events(self, ticket_id: str, events: list[TicketEvent], dedupe: Pointer) -> None: ...

    def get_agents(self, agent_ids: Sequence[str]) -> dict[str, AgentLive]: ...

    def set_presence(
        self, agent_id: str, presence: str, teams: list[str], at: datetime, until: datetime | None = None
    ) -> None: ...

    def claim(
        self,
        ticket_id: str,
        agent_id: str,
        group: str,
        capacity: int | None,
        changes: RoutingChanges,
        events: list[TicketEvent],
        at: datetime,
        dequeue: QueueEntry | None = None,
    ) -> None: ...

    def enqueue(
        self, ticket_id: str, channel: str, changes: RoutingChanges, events: list[TicketEvent], at: datetime
    ) -> QueueEntry: ...

    def release(
        self, ticket_id: str, agent_id: str, group: str, events: list[TicketEvent], at: datetime
    ) -> None: ...

    def clear_stale(self, ticket_id: str) -> None: ...

    def list_queue(self, team: str, limit: int = 25) -> list[QueueEntry]: ...

    def drop_queued(self, entry: QueueEntry) -> None: ...

    def move_queued(
        self, entry: QueueEntry, to_team: str, events: list[TicketEvent], at: datetime
    ) -> QueueEntry: ...

    def list_messages(self, ticket_id: str) -> list[Message]: ...

    def list_events(self, ticket_id: str) -> list[TicketEvent]: ...

    def list_customer_tickets(self, customer_id: str) -> list[Ticket]: ...

    def get_customer(self, customer_id: str) -> Customer | None: ...


def _iso(value: datetime | None) -> str | None:
    return clock.iso(value) if value is not None else None


def _dt(value: str | None) -> datetime | None:
    return clock.parse_iso(value) if value else None


def _ticket_pk(ticket_id: str) -> str:
    return f"TICKET#{ticket_id}"


def _unrouted_key(ticket: Ticket) -> str:
    return f"{clock.iso(ticket.created_at)}#{ticket.id}"


def ticket_to_item(ticket: Ticket) -> TicketItem:
    return TicketItem(
        pk=_ticket_pk(ticket.id),
        sk="TICKET",
        id=ticket.id,
        number=ticket.number,
        channel=ticket.channel.value,
        status=ticket.status.value,
        priority=ticket.priority.value,
        subject=ticket.subject,
        customer_id=ticket.customer_id,
        team=ticket.team,
        assignee=ticket.assignee,
        tags=list(ticket.tags),
        flags=list(ticket.flags),
        group_id=ticket.group_id,
        linked_ticket_id=ticket.linked_ticket_id,
        sla=ticket.sla.model_dump(mode="json"),
        sla_policy=ticket.sla.policy,
        participants=list(ticket.participants),
        inbox=ticket.inbox,
        preview=ticket.preview,
        language=ticket.language,
        skills=list(ticket.skills),
        load_holder=ticket.load_holder,
        queued_at=_iso(ticket.queued_at),
        created_at=clock.iso(ticket.created_at),
        updated_at=clock.iso(ticket.updated_at),
        last_inbound_at=_iso(ticket.last_inbound_at),
        resolved_at=_iso(ticket.resolved_at),
        closed_at=_iso(ticket.closed_at),
        version=ticket.version,
        gsi1pk=f"CUSTOMER#{ticket.customer_id}",
        gsi1sk=f"{clock.iso(ticket.created_at)}#{ticket.id}",
    )


def ticket_from_item(item: TicketItem) -> Ticket:
    created = _dt(item.created_at)
    updated = _dt(item.updated_at)
    assert created is not None
    assert updated is not None
    return Ticket(
        id=item.id,
        number=int(item.number),
        channel=item.channel,
        status=item.status,
        priority=item.priority,
        subject=item.subject,
        customer_id=item.customer_id,
        team=item.team,
        assignee=item.assignee,
        tags=list(item.tags or []),
        flags=list(item.flags or []),
        group_id=item.group_id,
        linked_ticket_id=item.linked_ticket_id,
        sla=Sla.model_validate(
            {**(item.sla or {}), "policy": item.sla_policy or (item.sla or {}).get("policy")}
        ),
        participants=list(item.participants or []),
        inbox=item.inbox,
        preview=item.preview or "",
        language=item.language,
        skills=list(item.skills or []),
        load_holder=item.load_holder,
        queued_at=_dt(item.queued_at),
        created_at=created,
        updated_at=updated,
        last_inbound_at=_dt(item.last_inbound_at),
        resolved_at=_dt(item.resolved_at),
        closed_at=_dt(item.closed_at),
        version=int(item.version or 1),
    )


def message_to_item(message: Message) -> MessageItem:
    return MessageItem(
        pk=_ticket_pk(message.ticket_id),
        sk=f"MSG#{clock.iso(message.at)}#{message.id}",
        id=message.id,
        ticket_id=message.ticket_id,
        direction=message.direction.value,
        channel=message.channel.value,
        at=clock.iso(message.at),
        author=message.author,
        external_id=message.external_id,
        provider_id=message.provider_id,
        subject=message.subject,
        text=message.text,
        full_text=message.full_text,
        html=message.html,
        body_key=message.body_key,
        raw_key=message.raw_key,
        automatic=1 if message.automatic else 0,
        flags=list(message.flags),
        attachments=[a.model_dump(mode="json") for a in message.attachments],
        headers=dict(message.headers),
    )


def message_from_item(item: MessageItem) -> Message:
    at = _dt(item.at)
    assert at is not None
    return Message(
        id=item.id,
        ticket_id=item.ticket_id,
        direction=item.direction,
        channel=item.channel,
        at=at,
        author=item.author,
        external_id=item.external_id,
        provider_id=item.provider_id,
        subject=item.subject,
        text=item.text or "",
        full_text=item.full_text,
        html=item.html,
        body_key=item.body_key,
        raw_key=item.raw_key,
        automatic=bool(item.automatic),
        flags=list(item.flags or []),
        attachments=[Attachment.model_validate(a) for a in (item.attachments or [])],
        headers=dict(item.headers or {}),
    )


def event_items(ticket_id: str, events: Sequence[TicketEvent]) -> list[EventItem]:
    """Event items of one write. Their sort key is time, then an id of the write, then the position
    in it: events written together stay together and in order, even when another write records
    events in the same millisecond."""
    if not events:
        return []
    write_id = new_id("evt", events[0].at)
    return [
        EventItem(
            pk=_ticket_pk(ticket_id),
            sk=f"EVENT#{clock.iso(event.at)}#{write_id}#{index:03d}",
            at=clock.iso(event.at),
            type=event.type,
            data=event.data,
        )
        for index, event in enumerate(events)
    ]


def event_from_item(item: EventItem) -> TicketEvent:
    at = _dt(item.at)
    assert at is not None
    return TicketEvent(at=at, type=item.type, data=dict(item.data or {}))


def customer_to_item(customer: Customer) -> CustomerItem:
    return CustomerItem(
        pk=f"CUSTOMER#{customer.id}",
        sk="CUSTOMER",
        id=customer.id,
        name=customer.name,
        identities=[i.model_dump(mode="json") for i in customer.identities],
        opted_out=list(customer.opted_out),
        consent=[c.model_dump(mode="json") for c in customer.consent],
        merged_into=customer.merged_into,
        tier=customer.tier,
        fields=dict(customer.fields),
        merges=[m.model_dump(mode="json") for m in customer.merges],
        created_at=clock.iso(customer.created_at),
    )


def customer_from_item(item: CustomerItem) -> Customer:
    created = _dt(item.created_at)
    assert created is not None
    return Customer(
        id=item.id,
        name=item.name,
        identities=[Identity.model_validate(i) for i in (item.identities or [])],
        opted_out=list(item.opted_out or []),
        consent=[ConsentRecord.model_validate(c) for c in (item.consent or [])],
        merged_into=item.merged_into,
        tier=item.tier,
        fields=dict(item.fields or {}),
        merges=[MergeRecord.model_validate(m) for m in (item.merges or [])],
        created_at=created,
    )


def quarantine_from_item(item: QuarantineItem) -> QuarantineEntry:
    at = _dt(item.at)
    assert at is not None
    return QuarantineEntry(
        id=item.id,
        reason=item.reason,
        at=at,
        ref=item.ref,
        channel=item.channel,
        raw_key=item.raw_key,
        details=dict(item.details or {}),
        released_by=item.released_by,
        released_at=_dt(item.released_at),
        released_ticket_id=item.released_ticket_id,
    )


def _pointer_item(pointer: Pointer, at: str) -> PointerItem:
    return PointerItem(
        pk=pointer.key,
        sk="PTR",
        kind=pointer.kind,
        ticket_id=pointer.ticket_id,
        customer_id=pointer.customer_id,
        message_id=pointer.message_id,
        direction=pointer.direction,
        last_inbound_at=pointer.last_inbound_at,
        created_at=at,
    )


def _never_back(pointer: Pointer) -> Any:
    """The condition of an upsert carrying `last_inbound_at`: it may only move forward, so a late
    delivery of an older message loses (ConflictError; the caller re-reads and keeps the later time)."""
    if pointer.last_inbound_at is None:
        return None
    return (
        PointerItem.pk.does_not_exist()
        | PointerItem.last_inbound_at.does_not_exist()
        | (PointerItem.last_inbound_at <= pointer.last_inbound_at)
    )


def _cancellation_codes(exc: TransactWriteError) -> list[str | None]:
    reasons = exc.cancellation_reasons or []
    return [reason.code if reason is not None and reason.code != "None" else None for reason in reasons]


RETRYABLE_CANCELLATIONS = frozenset(
    {"ConditionalCheckFailed", "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)
"""Cancellation reasons another try can get past: a lost race, a conflicting transaction, throttling.
Every other reason (ValidationError, ItemCollectionSizeLimitExceeded, ...) is permanent."""

PERMANENT_RESPONSE_CODES = frozenset(
    {"ValidationException", "SerializationException", "ItemCollectionSizeLimitExceededException"}
)
"""Whole-request errors DynamoDB gives for input it will never accept (an item over 400 KB, a key
over its size limit, a string that is not valid UTF-8)."""


def permanent_reason(exc: PynamoDBException) -> str | None:
    """Why DynamoDB refused a write for good, or None when another try may succeed."""
    code = exc.cause_response_code
    if code in PERMANENT_RESPONSE_CODES:
        return f"{code}: {(exc.cause_response_message or '')[:300]}"
    if isinstance(exc, TransactWriteError):
        refused = [
            f"{reason.code}: {(reason.message or '')[:300]}"
            for reason in exc.cancellation_reasons or []
            if reason is not None and reason.code not in (None, "None", *RETRYABLE_CANCELLATIONS)
        ]
        if refused:
            return "; ".join(refused)
    return None


def _raise_if_permanent(exc: PynamoDBException) -> None:
    reason = permanent_reason(exc)
    if reason is not None:
        raise PermanentWriteError(f"DynamoDB refused the write: {reason}") from exc


class DynamoRepository:
    """TicketRepository on the single DynamoDB table."""

    def __init__(self, table_name: str, region: str, host: str | None = None) -> None:
        bind_table(table_name, region, host)
        self.table_name = table_name

    @property
    def connection(self) -> Connection:
        return TicketItem._get_connection().connection

    # -- reads -------------------------------------------------------------------------------
    def get_pointers(self, pointers: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Pointer]:
        """Fetch pointers by (kind, value) in as few BatchGetItem calls as possible (one for <=100)."""
        wanted = {pointer_key(kind, value): (kind, value) for kind, value in pointers}
        found: dict[tuple[str, str], Pointer] = {}
        keys = list(wanted)
        for start in range(0, len(keys), MAX_BATCH_GET):
            chunk = [(key, "PTR") for key in keys[start : start + MAX_BATCH_GET]]
            for item in PointerItem.batch_get(chunk):
                kind, value = wanted[item.pk]
                found[(kind, value)] = Pointer(
                    kind=kind,
                    value=value,
                    ticket_id=item.ticket_id,
                    customer_id=item.customer_id,
                    message_id=item.message_id,
                    direction=item.direction,
                    last_inbound_at=item.last_inbound_at,
                    created_at=item.created_at,
                )
        return found

    def get_ticket(self, ticket_id: str) -> Ticket | None:
        try:
            return ticket_from_item(TicketItem.get(_ticket_pk(ticket_id), "TICKET"))
        except TicketItem.DoesNotExist:
            return None

    def get_customer(self, customer_id: str) -> Customer | None:
        try:
            return customer_from_item(CustomerItem.get(f"CUSTOMER#{customer_id}", "CUSTOMER"))
        except CustomerItem.DoesNotExist:
            return None

    def list_messages(self, ticket_id: str) -> list[Message]:
        return [
            message_from_item(item)
            for item in MessageItem.query(_ticket_pk(ticket_id), MessageItem.sk.startswith("MSG#"))
        ]

    def list_events(self, ticket_id: str) -> list[TicketEvent]:
        return [
            event_from_item(item)
            for item in EventItem.query(_ticket_pk(ticket_id), EventItem.sk.startswith("EVENT#"))
        ]

    def list_customer_tickets(self, customer_id: str) -> list[Ticket]:
        return [ticket_from_item(item) for item in TicketItem.by_customer.query(f"CUSTOMER#{customer_id}")]

    def list_quarantine(self) -> list[QuarantineEntry]:
        return [quarantine_from_item(item) for item in QuarantineItem.listing.query("QUARANTINE")]

    def scan_tickets(self) -> list[Ticket]:
        """Every ticket (a Scan: for the simulator's state and exports, never on a request path)."""
        tickets = [ticket_from_item(item) for item in TicketItem.scan(TicketItem.entity == "ticket")]
        return sorted(tickets, key=lambda t: t.number)

    def scan_customers(self) -> list[Customer]:
        customers = [customer_from_item(i) for i in CustomerItem.scan(CustomerItem.entity == "customer")]
        return sorted(customers, key=lambda c: (c.created_at, c.id))

    # -- writes ------------------------------------------------------------------------------
    def next_ticket_number(self, start: int) -> int:
        """Atomically take the next ticket number (the first one is `start`)."""
        counter = CounterItem(pk="COUNTER#tickets", sk="COUNTER")
        try:
            counter.update(actions=[CounterItem.value.set((CounterItem.value | (start - 1)) + 1)])
        except UpdateError as exc:
            _raise_if_permanent(exc)
            raise ConflictError("could not take a ticket number") from exc
        return int(counter.value)

    def _write(
        self,
        puts: Iterable[tuple[Any, Any]],
        pointers: Sequence[Pointer],
        at: str,
        update: tuple[TicketItem, list[Any], Any] | None = None,
        duplicate_pointer_kinds: frozenset[str] = frozenset({"inbound", "ref"}),
        upserts: Sequence[Pointer] = (),
        extra_updates: Sequence[tuple[Any, list[Any], Any]] = (),
    ) -> None:
        # PynamoDB sends puts before updates: `operations` names each item in that order, so a
        # cancellation reason can be traced to the item it concerns.
        operations: list[str] = []
        try:
            with TransactWrite(connection=self.connection) as transaction:
                for pointer in pointers:
                    transaction.save(_pointer_item(pointer, at), condition=PointerItem.pk.does_not_exist())
                    operations.append(pointer.kind)
                for pointer in upserts:
                    transaction.save(_pointer_item(pointer, at), condition=_never_back(pointer))
                    operations.append("upsert")
                for item, condition in puts:
                    transaction.save(item, condition=condition)
                    operations.append("put")
                for item, actions, condition in extra_updates:
                    transaction.update(item, actions=actions, condition=condition)
                    operations.append("update")
                if update is not None:
                    item, actions, condition = update
                    transaction.update(item, actions=actions, condition=condition)
                    operations.append("ticket")
        except UnicodeEncodeError as exc:  # a lone surrogate: no encoding can send it
            raise PermanentWriteError(f"a value is not valid Unicode text: {exc}") from exc
        except TransactWriteError as exc:
            _raise_if_permanent(exc)
            codes = _cancellation_codes(exc)
            failed = [operations[i] for i, code in enumerate(codes) if code == "ConditionalCheckFailed"]
            if failed and all(kind in duplicate_pointer_kinds for kind in failed):
                raise DuplicateError(f"already stored ({', '.join(failed)})") from exc
            raise ConflictError(f"concurrent write ({', '.join(failed) or 'transaction'})") from exc

    def create_ticket(self, write: NewTicketWrite) -> None:
        at = clock.iso(write.message.at)
        ticket = ticket_to_item(write.ticket)
        if write.ticket.team is None and write.ticket.assignee is None:
            ticket.gsi2pk, ticket.gsi2sk = UNROUTED, _unrouted_key(write.ticket)
        puts: list[tuple[Any, Any]] = [
            (ticket, TicketItem.pk.does_not_exist()),
            (message_to_item(write.message), None),
        ]
        puts += [(item, None) for item in event_items(write.ticket.id, write.events)]
        if write.new_customer is not None:
            puts.append((customer_to_item(write.new_customer), CustomerItem.pk.does_not_exist()))
        group_updates = [
            (
                TicketItem(pk=_ticket_pk(member), sk="TICKET"),
                [
                    TicketItem.group_id.set(write.ticket.group_id),
                    TicketItem.version.set(TicketItem.version + 1),
                    TicketItem.updated_at.set(at),
                ],
                TicketItem.pk.exists(),
            )
            for member in write.group_members
            if write.ticket.group_id
        ]
        grouped = TicketEvent(
            at=write.message.at,
            type="grouped",
            data={"group_id": write.ticket.group_id, "with": [write.ticket.id]},
        )
        puts += [
            (item, None)
            for member in write.group_members
            if write.ticket.group_id
            for item in event_items(member, [grouped])
        ]
        self._write(puts, write.pointers, at, upserts=write.upserts, extra_updates=group_updates)

    def append_message(self, write: AppendWrite) -> None:
        at = clock.iso(write.message.at)
        puts: list[tuple[Any, Any]] = [(message_to_item(write.message), None)]
        puts += [(item, None) for item in event_items(write.ticket_id, write.events)]
        if write.new_customer is not None:
            puts.append((customer_to_item(write.new_customer), CustomerItem.pk.does_not_exist()))
        changes = write.changes
        actions: list[Any] = [TicketItem.version.set(write.expected_version + 1)]
        if changes.status is not None:
            actions.append(TicketItem.status.set(changes.status))
        if changes.updated_at is not None:
            actions.append(TicketItem.updated_at.set(clock.iso(changes.updated_at)))
        if changes.last_inbound_at is not None:
            actions.append(TicketItem.last_inbound_at.set(clock.iso(changes.last_inbound_at)))
        if changes.participants is not None:
            actions.append(TicketItem.participants.set(changes.participants))  # type: ignore[arg-type]
        if changes.flags is not None:
            actions.append(TicketItem.flags.set(changes.flags))  # type: ignore[arg-type]
        if changes.resolved_at is not None:
            actions.append(TicketItem.resolved_at.set(clock.iso(changes.resolved_at)))
        elif changes.clear_resolved_at:
            actions.append(TicketItem.resolved_at.remove())
        if changes.closed_at is not None:
            actions.append(TicketItem.closed_at.set(clock.iso(changes.closed_at)))
        elif changes.clear_closed_at:
            actions.append(TicketItem.closed_at.remove())
        actions += _sla_actions(write.ticket_id, changes.sla)
        target = TicketItem(pk=_ticket_pk(write.ticket_id), sk="TICKET")
        condition = TicketItem.version == write.expected_version
        self._write(puts, write.pointers, at, update=(target, actions, condition), upserts=write.upserts)

    def update_ticket(
        self, ticket: Ticket, changes: TicketUpdate, events: list[TicketEvent], at: datetime
    ) -> None:
        """Apply an agent's change if the ticket is still at the version the agent saw."""
        actions: list[Any] = [
            TicketItem.updated_at.set(clock.iso(at)),
            TicketItem.version.set(ticket.version + 1),
        ]
        if changes.status is not None:
            actions.append(TicketItem.status.set(changes.status))
            if changes.status == "resolved":
                actions.append(TicketItem.resolved_at.set(clock.iso(at)))
            elif changes.status == "closed":
                actions.append(TicketItem.closed_at.set(clock.iso(at)))
            else:
                actions += [TicketItem.resolved_at.remove(), TicketItem.closed_at.remove()]
        if changes.priority is not None:
            actions.append(TicketItem.priority.set(changes.priority))
        if changes.assignee is not None:
            actions.append(TicketItem.assignee.set(changes.assignee))
        elif changes.unassign:
            actions.append(TicketItem.assignee.remove())
        if changes.tags is not None:
            actions.append(TicketItem.tags.set(changes.tags))  # type: ignore[arg-type]
        if changes.load_stale:
            actions.append(TicketItem.load_stale.set(True))
        if changes.team is not None:
            actions.append(TicketItem.team.set(changes.team))
        if changes.flags is not None:
            actions.append(TicketItem.flags.set(changes.flags))  # type: ignore[arg-type]
        actions += _sla_actions(ticket.id, changes.sla)
        puts: list[tuple[Any, Any]] = [(item, None) for item in event_items(ticket.id, events)]
        if changes.queue is not None:
            entry = changes.queue
            actions.append(TicketItem.queued_at.set(clock.iso(entry.queued_at)))
            puts.append(
                (
                    QueueItem(
                        pk=f"QUEUE#{entry.team}",
                        sk=entry.key,
                        ticket_id=entry.ticket_id,
                        team=entry.team,
                        priority=entry.priority,
                        channel=entry.channel,
                        queued_at=clock.iso(entry.queued_at),
                    ),
                    None,
                )
            )
        target = TicketItem(pk=_ticket_pk(ticket.id), sk="TICKET")
        self._write(puts, [], clock.iso(at), update=(target, actions, TicketItem.version == ticket.version))

    def due_tickets(self, shard: int, now: datetime, limit: int = 100) -> list[Ticket]:
        """Tickets of one due-index shard whose next SLA deadline has come (reads only those)."""
        return [
            ticket_from_item(item)
            for item in TicketItem.sla_due.query(
                f"SLADUE#{shard}", TicketItem.gsi2sk <= f"{clock.iso(now)}#~", limit=limit
            )
        ]

    def unrouted_tickets(self, created_before: datetime, limit: int = 100) -> list[Ticket]:
        """Tickets created at or before `created_before` that no routing decision has reached yet
        (reads only those: the partition holds tickets between their creation and their routing)."""
        return [
            ticket_from_item(item)
            for item in TicketItem.sla_due.query(
                UNROUTED, TicketItem.gsi2sk <= f"{clock.iso(created_before)}#~", limit=limit
            )
        ]

    def drop_unrouted(self, ticket_id: str) -> bool:
        """Take a ticket out of the unrouted index; False when it was not in it (any more)."""
        try:
            TicketItem(pk=_ticket_pk(ticket_id), sk="TICKET").update(
                actions=[TicketItem.gsi2pk.remove(), TicketItem.gsi2sk.remove()],
                condition=TicketItem.gsi2pk == UNROUTED,
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def set_status(self, ticket_id: str, status: str, at: datetime, expected_version: int) -> None:
        """Change a ticket's status (resolved/closed times follow it), if nobody changed it meanwhile."""
        actions: list[Any] = [
            TicketItem.status.set(status),
            TicketItem.updated_at.set(clock.iso(at)),
            TicketItem.version.set(expected_version + 1),
        ]
        if status == "resolved":
            actions.append(TicketItem.resolved_at.set(clock.iso(at)))
        if status == "closed":
            actions.append(TicketItem.closed_at.set(clock.iso(at)))
        if status in {"resolved", "closed"}:
            actions.append(TicketItem.load_stale.set(True))  # the router gives the agent's capacity back
        try:
            TicketItem(pk=_ticket_pk(ticket_id), sk="TICKET").update(
                actions=actions, condition=TicketItem.version == expected_version
            )
        except UpdateError as exc:
            _raise_if_permanent(exc)
            raise ConflictError(f"ticket {ticket_id} changed meanwhile") from exc

    def record_consent(
        self, customer: Customer, dedupe: Pointer, new_pointers: list[Pointer], exists: bool
    ) -> None:
        """Store a customer's consent change once (keyed by the provider's message id)."""
        at = clock.iso(customer.consent[-1].at) if customer.consent else clock.iso(customer.created_at)
        item = customer_to_item(customer)
        condition = CustomerItem.pk.exists() if exists else CustomerItem.pk.does_not_exist()
        self._write([(item, condition)], [dedupe, *new_pointers], at)

    def save_merge(
        self, customers: list[Customer], identity_owner: dict[str, str], ticket_owner: dict[str, str]
    ) -> None:
        """Save merged/unmerged customers, re-point identities and move tickets, in one transaction."""
        at = clock.iso(clock.now())
        puts = [(customer_to_item(c), CustomerItem.pk.exists()) for c in customers]
        upserts = [
            Pointer("identity", key, customer_id=customer_id) for key, customer_id in identity_owner.items()
        ]
        moves = [
            (
                TicketItem(pk=_ticket_pk(ticket_id), sk="TICKET"),
                [
                    TicketItem.customer_id.set(customer_id),
                    TicketItem.gsi1pk.set(f"CUSTOMER#{customer_id}"),
                ],
                TicketItem.pk.exists(),
            )
            for ticket_id, customer_id in ticket_owner.items()
        ]
        self._write(puts, [], at, upserts=upserts, extra_updates=moves)

    def add_events(self, ticket_id: str, events: list[TicketEvent], dedupe: Pointer) -> None:
        """Append history entries to a ticket once (keyed by `dedupe`)."""
        at = clock.iso(events[0].at) if events else clock.iso(clock.now())
        self._write([(item, None) for item in event_items(ticket_id, events)], [dedupe], at)

    # -- routing ---------------------------------------------------------------------------------
    def get_agents(self, agent_ids: Sequence[str]) -> dict[str, AgentLive]:
        """Live state of these agents (one BatchGetItem per 100); agents never stored are absent."""
        found: dict[str, AgentLive] = {}
        ids = list(dict.fromkeys(agent_ids))
        for start in range(0, len(ids), MAX_BATCH_GET):
            keys = [(f"AGENT#{agent_id}", "AGENT") for agent_id in ids[start : start + MAX_BATCH_GET]]
            for item in AgentItem.batch_get(keys):
                found[item.id] = AgentLive(
                    id=item.id,
                    presence=item.presence,
                    load={
                        "email": int(item.load_email or 0),
                        "sms": int(item.load_sms or 0),
                        "social": int(item.load_social or 0),
                    },
                    last_assigned_at=item.last_assigned_at or "",
                    teams=[str(t) for t in (item.teams or [])],
                    # items stored before `away_since` existed: the last change is the best guess
                    away_since=_dt(item.away_since)
                    or (_dt(item.presence_changed_at) if item.presence != "online" else None),
                    away_until=_dt(item.away_until),
                )
        return found

    def set_presence(
        self, agent_id: str, presence: str, teams: list[str], at: datetime, until: datetime | None = None
    ) -> None:
        """Store an agent's presence. An absence starts when they leave `online` and lasts, across
        away and offline, until they come back online; `until` is when they said they would be back."""
        actions: list[Any] = [
            AgentItem.id.set(agent_id),
            AgentItem.entity.set("agent"),
            AgentItem.presence.set(presence),
            AgentItem.teams.set(teams),  # type: ignore[arg-type]
            AgentItem.presence_changed_at.set(clock.iso(at)),
        ]
        if presence == "online":
            actions += [AgentItem.away_since.remove(), AgentItem.away_until.remove()]
        else:
            actions.append(AgentItem.away_since.set(AgentItem.away_since | clock.iso(at)))
            actions.append(
                AgentItem.away_until.set(clock.iso(until)) if until else AgentItem.away_until.remove()
            )
        AgentItem(pk=f"AGENT#{agent_id}", sk="AGENT").update(actions=actions)

    @staticmethod
    def _load_attribute(group: str) -> Any:
        return {"email": AgentItem.load_email, "sms": AgentItem.load_sms, "social": AgentItem.load_social}[
            group
        ]

    def _routing_actions(self, ticket_id: str, changes: RoutingChanges, at: datetime) -> list[Any]:
        actions: list[Any] = [
            TicketItem.team.set(changes.team),
            TicketItem.priority.set(changes.priority),
            TicketItem.tags.set(changes.tags),  # type: ignore[arg-type]
            TicketItem.skills.set(changes.skills),  # type: ignore[arg-type]
            TicketItem.updated_at.set(clock.iso(at)),
        ]
        if changes.language is not None:
            actions.append(TicketItem.language.set(changes.language))
        return actions + _sla_actions(ticket_id, changes.sla)

    def claim(
        self,
        ticket_id: str,
        agent_id: str,
        group: str,
        capacity: int | None,
        changes: RoutingChanges,
        events: list[TicketEvent],
        at: datetime,
        dequeue: QueueEntry | None = None,
    ) -> None:
        """Assign atomically: the agent's load grows only while under capacity and online
        (capacity None: a manual assignment, no limit), and only an unassigned ticket is taken."""
        load = self._load_attribute(group)
        agent_condition = AgentItem.pk.exists()
        if capacity is not None:
            agent_condition = (AgentItem.presence == "online") & ((load < capacity) | load.does_not_exist())
        agent_update = (
            AgentItem(pk=f"AGENT#{agent_id}", sk="AGENT"),
            [load.set((load | 0) + 1), AgentItem.last_assigned_at.set(clock.iso(at))],
            agent_condition,
        )
        ticket_actions = [
            *self._routing_actions(ticket_id, changes, at),
            TicketItem.assignee.set(agent_id),
            TicketItem.load_holder.set(agent_id),
            TicketItem.queued_at.remove(),
        ]
        if changes.sla_policy is not None and changes.sla is None:
            ticket_actions.append(TicketItem.sla_policy.set(changes.sla_policy))
        ticket_condition = TicketItem.pk.exists() & (
            TicketItem.assignee.does_not_exist() if capacity is not None else TicketItem.pk.exists()
        )
        # PynamoDB sends deletes, then puts, then updates: `operations` follows that order.
        operations = [
            *(["queue"] if dequeue is not None else []),
            *(["event"] * len(events)),
            "agent",
            "ticket",
        ]
        try:
            with TransactWrite(connection=self.connection) as transaction:
                transaction.update(agent_update[0], actions=agent_update[1], condition=agent_update[2])
                transaction.update(
                    TicketItem(pk=_ticket_pk(ticket_id), sk="TICKET"),
                    actions=ticket_actions,
                    condition=ticket_condition,
                )
                for item in event_items(ticket_id, events):
                    transaction.save(item)
                if dequeue is not None:
                    transaction.delete(
                        QueueItem(pk=f"QUEUE#{dequeue.team}", sk=dequeue.key), condition=QueueItem.pk.exists()
                    )
        except TransactWriteError as exc:
            _raise_if_permanent(exc)
            codes = _cancellation_codes(exc)
            failed = {operations[i] for i, code in enumerate(codes) if code == "ConditionalCheckFailed"}
            if "ticket" in failed or "queue" in failed:
                raise AlreadyRoutedError(f"ticket {ticket_id} was routed meanwhile") from exc
            if "agent" in failed:
                raise ClaimLostError(f"agent {agent_id} is no longer free") from exc
            raise ConflictError(f"claim of {ticket_id} by {agent_id} failed") from exc

    def enqueue(
        self, ticket_id: str, channel: str, changes: RoutingChanges, events: list[TicketEvent], at: datetime
    ) -> QueueEntry:
        entry = QueueEntry(
            team=changes.team,
            ticket_id=ticket_id,
            priority=changes.priority,
            channel=channel,
            queued_at=at,
            key=queue_key(changes.priority, at, ticket_id),
        )
        queue = QueueItem(
            pk=f"QUEUE#{entry.team}",
            sk=entry.key,
            ticket_id=ticket_id,
            team=entry.team,
            priority=entry.priority,
            channel=channel,
            queued_at=clock.iso(at),
        )
        ticket_actions = [
            *self._routing_actions(ticket_id, changes, at),
            TicketItem.queued_at.set(clock.iso(at)),
        ]
        if changes.sla_policy is not None and changes.sla is None:
            ticket_actions.append(TicketItem.sla_policy.set(changes.sla_policy))
        try:
            with TransactWrite(connection=self.connection) as transaction:
                transaction.save(queue)
                transaction.update(
                    TicketItem(pk=_ticket_pk(ticket_id), sk="TICKET"),
                    actions=ticket_actions,
                    condition=TicketItem.assignee.does_not_exist() & TicketItem.queued_at.does_not_exist(),
                )
                for item in event_items(ticket_id, events):
                    transaction.save(item)
        except TransactWriteError as exc:
            _raise_if_permanent(exc)
            raise AlreadyRoutedError(f"ticket {ticket_id} was routed meanwhile") from exc
        return entry

    def release(
        self, ticket_id: str, agent_id: str, group: str, events: list[TicketEvent], at: datetime
    ) -> None:
        """Give back the capacity a ticket held, once (the ticket's holder is cleared in the same write)."""
        load = self._load_attribute(group)
        try:
            with TransactWrite(connection=self.connection) as transaction:
                transaction.update(
                    AgentItem(pk=f"AGENT#{agent_id}", sk="AGENT"),
                    actions=[load.set(load - 1)],
                    condition=load > 0,
                )
                transaction.update(
                    TicketItem(pk=_ticket_pk(ticket_id), sk="TICKET"),
                    actions=[TicketItem.load_holder.remove(), TicketItem.load_stale.remove()],
                    condition=TicketItem.load_holder == agent_id,
                )
                for item in event_items(ticket_id, events):
                    transaction.save(item)
        except TransactWriteError as exc:
            _raise_if_permanent(exc)
            raise AlreadyRoutedError(f"load of {ticket_id} was released before") from exc

    def clear_stale(self, ticket_id: str) -> None:
        try:
            TicketItem(pk=_ticket_pk(ticket_id), sk="TICKET").update(
                actions=[TicketItem.load_stale.remove()], condition=TicketItem.pk.exists()
            )
        except UpdateError as exc:
            _raise_if_permanent(exc)
            raise ConflictError(f"ticket {ticket_id} is gone") from exc

    def list_queue(self, team: str, limit: int = 25) -> list[QueueEntry]:
        """The team's waiting tickets, most urgent first, then longest waiting."""
        return [
            QueueEntry(
                team=item.team,
                ticket_id=item.ticket_id,
                priority=item.priority,
                channel=item.channel,
                queued_at=clock.parse_iso(item.queued_at),
                key=item.sk,
            )
            for item in QueueItem.query(f"QUEUE#{team}", limit=limit)
        ]

    def drop_queued(self, entry: QueueEntry) -> None:
        """Forget a queue entry whose ticket no longer waits (assigned by hand, resolved...)."""
        QueueItem(pk=f"QUEUE#{entry.team}", sk=entry.key).delete()

    def move_queued(
        self, entry: QueueEntry, to_team: str, events: list[TicketEvent], at: datetime
    ) -> QueueEntry:
        """Move a waiting ticket to another team's queue, keeping its priority and waiting time."""
        moved = QueueEntry(
            team=to_team,
            ticket_id=entry.ticket_id,
            priority=entry.priority,
            channel=entry.channel,
            queued_at=entry.queued_at,
            key=entry.key,
        )
        try:
            with TransactWrite(connection=self.connection) as transaction:
                transaction.delete(
                    QueueItem(pk=f"QUEUE#{entry.team}", sk=entry.key), condition=QueueItem.pk.exists()
                )
                transaction.save(
                    QueueItem(
                        pk=f"QUEUE#{to_team}",
                        sk=entry.key,
                        ticket_id=entry.ticket_id,
                        team=to_team,
                        priority=entry.priority,
                        channel=entry.channel,
                        queued_at=clock.iso(entry.queued_at),
                    )
                )
                transaction.update(
                    TicketItem(pk=_ticket_pk(entry.ticket_id), sk="TICKET"),
                    actions=[TicketItem.team.set(to_team), TicketItem.updated_at.set(clock.iso(at))],
                    condition=TicketItem.assignee.does_not_exist(),
                )
                for item in event_items(entry.ticket_id, events):
                    transaction.save(item)
        except TransactWriteError as exc:
            _raise_if_permanent(exc)
            raise AlreadyRoutedError(f"ticket {entry.ticket_id} left the queue meanwhile") from exc
        return moved

    # -- outbox ------------------------------------------------------------------------------
    def put_outbound(
        self, message: OutboundMessage, guards: list[Pointer], guard_since: datetime | None = None
    ) -> bool:
        """Record a message to send, once per key (False: the key was queued before); `guards`
        (e.g. the customer's last automatic message) are written in the same transaction.

        With `guard_since`, each guard is written only if it is absent or was written before that
        time, so of two messages that both read the guard before either wrote it only one is
        queued: the other raises GuardRaceError. Without it the guards are overwritten."""
        item = OutboxItem(
            pk=f"OUTBOX#{message.key}",
            sk="OUTBOX",
            key=message.key,
            status=message.status,
            ticket_id=message.ticket_id,
            channel=message.channel,
            kind=message.kind,
            created_at=clock.iso(message.created_at),
            body=message.model_dump(mode="json"),
            error=message.error,  # why a suppressed one was held back
            gsi1pk="OUTBOX",
            gsi1sk=f"{clock.iso(message.created_at)}#{message.key}",
        )
        if message.status == "pending":  # until a send claims it (see stale_pending)
            item.gsi2pk = OUTBOX_PENDING
            item.gsi2sk = f"{clock.iso(message.created_at)}#{message.key}"
        at = clock.iso(message.created_at)
        if guard_since is None:
            try:
                self._write(
                    [(item, OutboxItem.pk.does_not_exist())],
                    [],
                    at,
                    upserts=guards,
                    duplicate_pointer_kinds=frozenset({"put"}),
                )
            except DuplicateError:
                return False
            return True
        since = clock.iso(guard_since)
        try:
            with TransactWrite(connection=self.connection) as transaction:
                transaction.save(item, condition=OutboxItem.pk.does_not_exist())
                for guard in guards:
                    transaction.save(
                        _pointer_item(guard, at),
                        condition=PointerItem.pk.does_not_exist() | (PointerItem.created_at <= since),
                    )
        except TransactWriteError as exc:
            _raise_if_permanent(exc)
            codes = _cancellation_codes(exc)
            if codes and codes[0] == "ConditionalCheckFailed":
                return False
            if "ConditionalCheckFailed" in codes[1:]:
                raise GuardRaceError(f"a guard of {message.key} was written after {since}") from exc
            raise ConflictError(f"concurrent write (outbox {message.key})") from exc
        return True

    def get_outbound(self, key: str) -> OutboundMessage | None:
        try:
            item = OutboxItem.get(f"OUTBOX#{key}", "OUTBOX")
        except OutboxItem.DoesNotExist:
            return None
        return _outbound_from_item(item)

    def start_sending(self, key: str, at: datetime) -> bool:
        """Take a pending message for sending (False: another delivery of the record took it).

        The claim is indexed by its time (`OUTBOXSENDING`) until the result is recorded, so the
        sweeper finds sends that never got one."""
        try:
            OutboxItem(pk=f"OUTBOX#{key}", sk="OUTBOX").update(
                actions=[
                    OutboxItem.status.set("sending"),
                    OutboxItem.attempts.set((OutboxItem.attempts | 0) + 1),
                    OutboxItem.gsi2pk.set(OUTBOX_SENDING),
                    OutboxItem.gsi2sk.set(f"{clock.iso(at)}#{key}"),
                ],
                condition=OutboxItem.status == "pending",
            )
        except UpdateError:
            return False
        return True

    def outbound_sent(
        self,
        message: OutboundMessage,
        stored: Message | None,
        pointers: list[Pointer],
        events: list[TicketEvent],
        ticket: Ticket | None,
        sla: SlaWrite | None,
    ) -> None:
        """Mark sent and keep the message on its ticket (with its ids, for threading and receipts)."""
        at = clock.iso(message.created_at)
        outbox = (
            OutboxItem(pk=f"OUTBOX#{message.key}", sk="OUTBOX"),
            [
                OutboxItem.status.set("sent"),
                OutboxItem.provider_id.set(message.provider_id or ""),
                OutboxItem.body.set(message.model_dump(mode="json")),
                OutboxItem.gsi2pk.remove(),
                OutboxItem.gsi2sk.remove(),
            ],
            OutboxItem.status == "sending",
        )
        puts: list[tuple[Any, Any]] = []
        if stored is not None:
            puts.append((message_to_item(stored), None))
        if ticket is not None:
            puts += [(item, None) for item in event_items(ticket.id, events)]
        update = None
        if ticket is not None and sla is not None:
            update = (
                TicketItem(pk=_ticket_pk(ticket.id), sk="TICKET"),
                [TicketItem.version.set(ticket.version + 1), *_sla_actions(ticket.id, sla)],
                TicketItem.version == ticket.version,
            )
        self._write(puts, [], at, update=update, upserts=pointers, extra_updates=[outbox])

    def outbound_failed(
        self,
        message: OutboundMessage,
        error: str,
        permanent: bool,
        events: list[TicketEvent],
        flag: str = "delivery_failed",
    ) -> None:
        """Back to pending for another try, or failed for good (then `flag` is set on the ticket:
        delivery_failed, or delivery_unknown when the provider may have delivered it)."""
        status = "failed" if permanent else "retry"
        puts: list[tuple[Any, Any]] = []
        if message.ticket_id:
            puts = [(item, None) for item in event_items(message.ticket_id, events)]
        actions: list[Any] = [OutboxItem.status.set(status), OutboxItem.error.set(error[:1000])]
        if not permanent:  # back off: 2, 4, 8... minutes, picked up by the sweeper's retry pass
            retry_at = clock.now() + timedelta(minutes=2 ** max(message.attempts, 1))
            actions += [
                OutboxItem.gsi2pk.set(OUTBOX_RETRY),
                OutboxItem.gsi2sk.set(f"{clock.iso(retry_at)}#{message.key}"),
            ]
        else:  # out of the sending index: the result is known
            actions += [OutboxItem.gsi2pk.remove(), OutboxItem.gsi2sk.remove()]
        outbox = (
            OutboxItem(pk=f"OUTBOX#{message.key}", sk="OUTBOX"),
            actions,
            OutboxItem.status == "sending",
        )
        extra: list[tuple[Any, list[Any], Any]] = [outbox]
        if permanent and message.ticket_id and self._lacks_flag(message.ticket_id, flag):
            extra.append(_flag_ticket(message.ticket_id, flag))
        self._write(puts, [], clock.iso(clock.now()), extra_updates=extra)

    def _lacks_flag(self, ticket_id: str, flag: str) -> bool:
        """Whether the ticket exists without `flag` (flags are a list: appending twice repeats it).
        Read only on the rare failure paths; a race at worst repeats the flag, never loses it."""
        ticket = self.get_ticket(ticket_id)
        return ticket is not None and flag not in ticket.flags

    def list_outbound(self) -> list[OutboundMessage]:
        return [_outbound_from_item(item) for item in OutboxItem.listing.query("OUTBOX")]

    def requeue_due_outbound(self, now: datetime, limit: int = 100) -> int:
        """Put messages whose retry time has come back to pending (the stream sends them again)."""
        count = 0
        for item in OutboxItem.retries.query(
            OUTBOX_RETRY, OutboxItem.gsi2sk <= f"{clock.iso(now)}#~", limit=limit
        ):
            try:
                OutboxItem(pk=item.pk, sk="OUTBOX").update(
                    actions=[
                        OutboxItem.status.set("pending"),
                        OutboxItem.gsi2pk.set(OUTBOX_PENDING),
                        OutboxItem.gsi2sk.set(f"{clock.iso(now)}#{item.key}"),
                    ],
                    condition=OutboxItem.status == "retry",
                )
                count += 1
            except UpdateError:
                continue
        return count

    @staticmethod
    def _indexed_before(partition: str, before: datetime, limit: int) -> list[tuple[OutboxItem, datetime]]:
        """Outbox items in a gsi2 partition whose indexed time is at or before `before`, with it."""
        return [
            (item, clock.parse_iso(str(item.gsi2sk).rpartition(f"#{item.key}")[0]))
            for item in OutboxItem.retries.query(
                partition, OutboxItem.gsi2sk <= f"{clock.iso(before)}#~", limit=limit
            )
        ]

    def stale_pending(self, before: datetime, limit: int = 100) -> list[StalePending]:
        """Messages pending since before `before`: no delivery of their stream record claimed them."""
        return [
            StalePending(
                message=_outbound_from_item(item),
                since=since,
                redeliveries=int(item.redeliveries or 0),
                index_key=str(item.gsi2sk),
            )
            for item, since in self._indexed_before(OUTBOX_PENDING, before, limit)
        ]

    def redeliver_pending(self, stale: StalePending, at: datetime) -> bool:
        """Write the pending message again (a MODIFY on the stream, which auto_followup's filter
        passes, so it is sent as a new record), counting the redelivery; False when it was claimed or
        redelivered meanwhile."""
        try:
            OutboxItem(pk=f"OUTBOX#{stale.message.key}", sk="OUTBOX").update(
                actions=[
                    OutboxItem.redeliveries.set(stale.redeliveries + 1),
                    OutboxItem.gsi2sk.set(f"{clock.iso(at)}#{stale.message.key}"),
                ],
                condition=(OutboxItem.status == "pending") & (OutboxItem.gsi2sk == stale.index_key),
            )
        except UpdateError:
            return False
        return True

    def stuck_sending(self, claimed_before: datetime, limit: int = 100) -> list[StuckSend]:
        """Messages claimed for sending before `claimed_before` whose result was never recorded."""
        return [
            StuckSend(message=_outbound_from_item(item), claimed_at=claimed_at, claim=str(item.gsi2sk))
            for item, claimed_at in self._indexed_before(OUTBOX_SENDING, claimed_before, limit)
        ]

    def outbound_unknown(self, stuck: StuckSend, error: str, events: list[TicketEvent]) -> bool:
        """Mark a send without a result failed and flag its ticket `delivery_unknown`, once: False
        when the claim changed meanwhile (the result came late, or another sweep took it)."""
        return self._give_up(stuck.message, "sending", stuck.claim, error, events, "delivery_unknown")

    def pending_failed(self, stale: StalePending, error: str, events: list[TicketEvent]) -> bool:
        """Give up a pending message that was never claimed however often it was delivered again:
        failed, its ticket flagged `delivery_failed`, once (False: claimed or taken meanwhile)."""
        return self._give_up(stale.message, "pending", stale.index_key, error, events, "delivery_failed")

    def _give_up(
        self,
        message: OutboundMessage,
        status: str,
        index_key: str,
        error: str,
        events: list[TicketEvent],
        flag: str,
    ) -> bool:
        """Fail a message still in `status` under the gsi2 sort key `index_key`, with its events and
        the ticket's `flag`, in one transaction."""
        puts: list[tuple[Any, Any]] = []
        if message.ticket_id:
            puts = [(item, None) for item in event_items(message.ticket_id, events)]
        outbox = (
            OutboxItem(pk=f"OUTBOX#{message.key}", sk="OUTBOX"),
            [
                OutboxItem.status.set("failed"),
                OutboxItem.error.set(error[:1000]),
                OutboxItem.gsi2pk.remove(),
                OutboxItem.gsi2sk.remove(),
            ],
            (OutboxItem.status == status) & (OutboxItem.gsi2sk == index_key),
        )
        extra: list[tuple[Any, list[Any], Any]] = [outbox]
        if message.ticket_id and self._lacks_flag(message.ticket_id, flag):
            extra.append(_flag_ticket(message.ticket_id, flag))
        try:
            self._write(puts, [], clock.iso(clock.now()), extra_updates=extra)
        except ConflictError:
            return False
        return True

    def add_message(self, ticket_id: str, message: Message, events: list[TicketEvent]) -> None:
        """Store a message that changes nothing else on the ticket (an internal note)."""
        puts: list[tuple[Any, Any]] = [(message_to_item(message), None)]
        puts += [(item, None) for item in event_items(ticket_id, events)]
        self._write(puts, [], clock.iso(message.at))

    def quarantine(self, entry: QuarantineEntry, dedupe: Pointer, raw_parts: Sequence[str] = ()) -> None:
        """Keep an entry once (keyed by `dedupe`), with the parts of a raw input too long for it."""
        item = QuarantineItem(
            pk=f"QUARANTINE#{entry.id}",
            sk="QUARANTINE",
            id=entry.id,
            reason=entry.reason,
            at=clock.iso(entry.at),
            ref=entry.ref,
            channel=entry.channel.value,
            raw_key=entry.raw_key,
            details=entry.details,
            gsi1pk="QUARANTINE",
            gsi1sk=f"{clock.iso(entry.at)}#{entry.id}",
            gsi2pk=f"QUARANTINE#{entry.reason}",
            gsi2sk=f"{clock.iso(entry.at)}#{entry.id}",
        )
        parts = [
            (QuarantinePartItem(pk=f"QUARANTINE#{entry.id}", sk=f"RAW#{index:03d}", text=text), None)
            for index, text in enumerate(raw_parts)
        ]
        self._write([(item, None), *parts], [dedupe], clock.iso(entry.at))

    def quarantined_raw(self, entry: QuarantineEntry) -> str | None:
        """The whole raw input of a quarantine entry (joined from its parts when it has them)."""
        if not entry.details.get("raw_parts"):
            raw = entry.details.get("raw")
            return raw if isinstance(raw, str) else None
        items = QuarantinePartItem.query(f"QUARANTINE#{entry.id}", QuarantinePartItem.sk.startswith("RAW#"))
        return "".join(item.text for item in items)

    # -- quarantine review -------------------------------------------------------------------
    def get_quarantine(self, entry_id: str) -> QuarantineEntry | None:
        try:
            return quarantine_from_item(QuarantineItem.get(f"QUARANTINE#{entry_id}", "QUARANTINE"))
        except QuarantineItem.DoesNotExist:
            return None

    def list_quarantine_page(self, query: QuarantineQuery) -> QuarantinePage:
        """One page of quarantine entries, newest first: a Query on the reason's `gsi2` partition
        when a reason is given, else on `gsi1` (`QUARANTINE`); channel and released state filter."""
        conditions: list[Any] = []
        if query.channel is not None:
            conditions.append(QuarantineItem.channel == query.channel)
        if query.released is True:
            conditions.append(QuarantineItem.released_at.exists())
        elif query.released is False:
            conditions.append(QuarantineItem.released_at.does_not_exist())
        condition = None
        for part in conditions:
            condition = part if condition is None else condition & part
        start: dict[str, dict[str, Any]] | None = None
        if query.after is not None:
            at, entry_id = query.after
            sort = {"S": f"{at}#{entry_id}"}
            start = {"pk": {"S": f"QUARANTINE#{entry_id}"}, "sk": {"S": "QUARANTINE"}}
            if query.reason is not None:
                start |= {"gsi2pk": {"S": f"QUARANTINE#{query.reason}"}, "gsi2sk": sort}
            else:
                start |= {"gsi1pk": {"S": "QUARANTINE"}, "gsi1sk": sort}
        index = QuarantineItem.by_reason if query.reason is not None else QuarantineItem.listing
        partition = f"QUARANTINE#{query.reason}" if query.reason is not None else "QUARANTINE"
        # one more than asked: a next cursor is given only when there is a next entry
        items = list(
            index.query(
                partition,
                filter_condition=condition,
                scan_index_forward=False,
                last_evaluated_key=start,
                limit=query.limit + 1,
                page_size=query.limit + 1,
            )
        )
        entries = [quarantine_from_item(item) for item in items[: query.limit]]
        after = (clock.iso(entries[-1].at), entries[-1].id) if len(items) > query.limit else None
        return QuarantinePage(entries=entries, after=after)

    def claim_release(self, entry_id: str, by: str, at: datetime) -> bool:
        """Record who released an entry and when, once: False when it was released before."""
        item = QuarantineItem(pk=f"QUARANTINE#{entry_id}", sk="QUARANTINE")
        try:
            item.update(
                actions=[QuarantineItem.released_by.set(by), QuarantineItem.released_at.set(clock.iso(at))],
                condition=QuarantineItem.pk.exists() & QuarantineItem.released_at.does_not_exist(),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def record_released_ticket(self, entry_id: str, ticket_id: str) -> None:
        """Note the ticket a released entry became part of (the same one on every retry)."""
        item = QuarantineItem(pk=f"QUARANTINE#{entry_id}", sk="QUARANTINE")
        item.update(
            actions=[QuarantineItem.released_ticket_id.set(ticket_id)],
            condition=QuarantineItem.released_at.exists(),
        )


class QuarantineRepository(TicketRepository, Protocol):
    """The repository as quarantine review uses it: ingest, plus reading and releasing entries."""

    def get_quarantine(self, entry_id: str) -> QuarantineEntry | None: ...

    def list_quarantine_page(self, query: QuarantineQuery) -> QuarantinePage: ...

    def claim_release(self, entry_id: str, by: str, at: datetime) -> bool: ...

    def record_released_ticket(self, entry_id: str, ticket_id: str) -> None: ...


@cache
def get_repository(table_name: str, region: str) -> TicketRepository:
    """The process-wide repository for a table (cached: connections are reused across invocations)."""
    return DynamoRepository(table_name, region)


def ticket_from_stream_image(image: dict[str, Any]) -> Ticket:
    """A ticket from a DynamoDB stream record's NewImage/OldImage (typed AttributeValue JSON)."""
    return ticket_from_item(TicketItem.from_raw_data(image))


def message_from_stream_image(image: dict[str, Any]) -> Message:
    """A message from a DynamoDB stream record's NewImage/OldImage (typed AttributeValue JSON)."""
    return message_from_item(MessageItem.from_raw_data(image))


def _outbound_from_item(item: OutboxItem) -> OutboundMessage:
    message = OutboundMessage.model_validate(item.body or {})
    return message.model_copy(
        update={
            "status": item.status if item.status != "sending" else "pending",
            "provider_id": item.provider_id,
            "error": item.error,
            "attempts": int(item.attempts or 0),
        }
    )
