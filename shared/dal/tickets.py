"""Tickets with their messages and events: the ticket aggregate's items, the writes that create a
ticket or add to it (with the pointers and the new customer they bring), and agents' changes.

The SLA deadline and unrouted indexes are keys on the ticket item (`gsi3`, keys only, sharded;
decision 117): the writes here set them, only when the deadline moves; `deadlines.py` reads them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, Protocol

from pynamodb.exceptions import UpdateError

from shared import clock
from shared.dal.base import Table, iso_or_none, parse_or_none, raise_if_permanent, ticket_pk
from shared.dal.customers import customer_to_item
from shared.dal.items import (
    CounterItem,
    CustomerItem,
    EventItem,
    MentionItem,
    MessageItem,
    TicketItem,
)
from shared.dal.pointers import Pointer
from shared.dal.queues import QueueEntry, queue_item
from shared.errors import ConflictError
from shared.ids import NumberBlocks, new_id
from shared.models.ticket import (
    Attachment,
    Customer,
    Message,
    Sla,
    Ticket,
    TicketEvent,
    TicketMerge,
)

TICKET_COUNTER = "COUNTER#tickets"
"""The counter ticket numbers are reserved from, a block at a time (decision 121)."""


@dataclass(frozen=True)
class Mention:
    """An agent named in a note (`@alice`)."""

    agent_id: str
    ticket_id: str
    ticket_number: int
    message_id: str
    by: str
    at: datetime
    excerpt: str


def mention_item(mention: Mention) -> MentionItem:
    at = clock.iso(mention.at)
    return MentionItem(
        pk=f"MENTIONS#{mention.agent_id}",
        sk=f"{at}#{mention.ticket_id}#{mention.message_id}",
        ticket_id=mention.ticket_id,
        ticket_number=mention.ticket_number,
        message_id=mention.message_id,
        by=mention.by,
        at=at,
        excerpt=mention.excerpt,
    )


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
class SlaWrite:
    """A ticket's new SLA and its next deadline (None: nothing left to watch)."""

    sla: Sla
    deadline: datetime | None
    shards: int
    moved: bool = True
    """The next deadline differs from the one the ticket is indexed under: only then are the index
    keys written (False leaves them untouched, so the write costs the index nothing)."""


UNROUTED = "UNROUTED"
"""gsi3 partitions `UNROUTED#<shard>` of tickets no routing decision has reached yet, by creation
time: a ticket enters one when it is created and leaves it when it is first routed (its SLA keys
replace the entry) or settled without a team. One whose stream record route_ticket gave up on stays
there until a sweep worker routes it."""

UNROUTED_SHARDS = 32
"""Partitions of the unrouted index: at 5,000 new tickets/s (the 10x burst) each enters and leaves
once (two 1-WCU index writes), about 310 WCU/s a partition (decision 117)."""

SLA_DUE = "SLADUE"
"""gsi3 partitions `SLADUE#<shard>` of tickets with a deadline still to come, by that deadline."""


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
    custom_fields: dict[str, str | float | bool] | None = None
    """The ticket's custom fields, whole."""


def sla_shard(ticket_id: str, shards: int) -> int:
    """The due-index partition of a ticket (stable, spreads tickets evenly)."""
    import zlib

    return zlib.crc32(ticket_id.encode()) % max(shards, 1)


def due_keys(ticket_id: str, deadline: datetime, shards: int) -> tuple[str, str]:
    """The ticket's deadline index keys (gsi3pk, gsi3sk)."""
    return f"{SLA_DUE}#{sla_shard(ticket_id, shards)}", f"{clock.iso(deadline)}#{ticket_id}"


def unrouted_keys(ticket: Ticket) -> tuple[str, str]:
    """The ticket's unrouted index keys (gsi3pk, gsi3sk)."""
    return f"{UNROUTED}#{sla_shard(ticket.id, UNROUTED_SHARDS)}", unrouted_key(ticket)


def deadline_key_actions(ticket_id: str, write: SlaWrite) -> list[Any]:
    """Index keys for a moved deadline (an index write); the legacy gsi2 keys go with them."""
    if not write.moved:
        return []
    legacy = [TicketItem.gsi2pk.remove(), TicketItem.gsi2sk.remove()]
    if write.deadline is None:
        return [TicketItem.gsi3pk.remove(), TicketItem.gsi3sk.remove(), *legacy]
    pk, sk = due_keys(ticket_id, write.deadline, write.shards)
    return [TicketItem.gsi3pk.set(pk), TicketItem.gsi3sk.set(sk), *legacy]


def unrouted_actions(ticket: Ticket) -> list[Any]:
    """Put the ticket back in the unrouted index."""
    pk, sk = unrouted_keys(ticket)
    return [TicketItem.gsi3pk.set(pk), TicketItem.gsi3sk.set(sk)]


def no_deadline_actions() -> list[Any]:
    """Take the ticket out of both indexes (and the legacy gsi2 ones)."""
    return [
        TicketItem.gsi3pk.remove(),
        TicketItem.gsi3sk.remove(),
        TicketItem.gsi2pk.remove(),
        TicketItem.gsi2sk.remove(),
    ]


def sla_actions(ticket_id: str, write: SlaWrite | None) -> list[Any]:
    if write is None:
        return []
    actions: list[Any] = [
        TicketItem.sla.set(write.sla.model_dump(mode="json")),
        TicketItem.sla_policy.set(write.sla.policy) if write.sla.policy else TicketItem.sla_policy.remove(),
    ]
    return actions + deadline_key_actions(ticket_id, write)


def flag_ticket(ticket_id: str, flag: str) -> tuple[Any, list[Any], Any]:
    """An update appending `flag` to a ticket's flags (for agents), for a transaction."""
    return (
        TicketItem(pk=ticket_pk(ticket_id), sk="TICKET"),
        [TicketItem.flags.set(TicketItem.flags.append([flag]))],
        TicketItem.pk.exists(),
    )


def unrouted_key(ticket: Ticket) -> str:
    return f"{clock.iso(ticket.created_at)}#{ticket.id}"


def ticket_to_item(ticket: Ticket) -> TicketItem:
    return TicketItem(
        pk=ticket_pk(ticket.id),
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
        custom_fields=dict(ticket.custom_fields) or None,
        sla=ticket.sla.model_dump(mode="json"),
        sla_policy=ticket.sla.policy,
        participants=list(ticket.participants),
        inbox=ticket.inbox,
        preview=ticket.preview,
        language=ticket.language,
        skills=list(ticket.skills),
        load_holder=ticket.load_holder,
        queued_at=iso_or_none(ticket.queued_at),
        merged_into=ticket.merged_into,
        merge=ticket.merge.model_dump(mode="json") if ticket.merge is not None else None,
        merged_from=list(ticket.merged_from) or None,
        created_at=clock.iso(ticket.created_at),
        updated_at=clock.iso(ticket.updated_at),
        last_inbound_at=iso_or_none(ticket.last_inbound_at),
        resolved_at=iso_or_none(ticket.resolved_at),
        closed_at=iso_or_none(ticket.closed_at),
        version=ticket.version,
        gsi1pk=f"CUSTOMER#{ticket.customer_id}",
        gsi1sk=f"{clock.iso(ticket.created_at)}#{ticket.id}",
    )


def ticket_from_item(item: TicketItem) -> Ticket:
    created = parse_or_none(item.created_at)
    updated = parse_or_none(item.updated_at)
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
        custom_fields=dict(item.custom_fields or {}),
        sla=Sla.model_validate(
            {**(item.sla or {}), "policy": item.sla_policy or (item.sla or {}).get("policy")}
        ),
        participants=list(item.participants or []),
        inbox=item.inbox,
        preview=item.preview or "",
        language=item.language,
        skills=list(item.skills or []),
        load_holder=item.load_holder,
        queued_at=parse_or_none(item.queued_at),
        merged_into=item.merged_into,
        merge=TicketMerge.model_validate(item.merge) if item.merge else None,
        merged_from=list(item.merged_from or []),
        created_at=created,
        updated_at=updated,
        last_inbound_at=parse_or_none(item.last_inbound_at),
        resolved_at=parse_or_none(item.resolved_at),
        closed_at=parse_or_none(item.closed_at),
        version=int(item.version or 1),
    )


def message_to_item(message: Message) -> MessageItem:
    return MessageItem(
        pk=ticket_pk(message.ticket_id),
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
        html_bytes=len(message.html.encode("utf-8", "surrogatepass")) if message.html else None,
        body_key=message.body_key,
        raw_key=message.raw_key,
        automatic=1 if message.automatic else 0,
        flags=list(message.flags),
        attachments=[a.model_dump(mode="json") for a in message.attachments],
        headers=dict(message.headers),
        merged_from=list(message.merged_from) or None,
        moved_at=iso_or_none(message.moved_at),
    )


def message_from_item(item: MessageItem) -> Message:
    at = parse_or_none(item.at)
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
        merged_from=list(item.merged_from or []),
        moved_at=parse_or_none(item.moved_at),
    )


AGENT_ACTIONS = frozenset(
    {
        "updated",
        "note_added",
        "macro_applied",
        "merged",
        "unmerged",
        "split",
        "message_sent",
        "private_reply_queued",
    }
)
"""Event types an agent causes, naming them as `by`: indexed per agent for the audit trail
(`audit.py`). `message_sent` names an agent only for their own replies (sent, so at the time the
customer got them), never for automatic messages. A merge, its undoing and a split count once, on
the ticket acted on (not the other ticket's `merged_from` or `unmerged_from`, nor the new ticket
of a split). A customer's `reopened` also names its author as `by`, and is not indexed."""


def event_items(ticket_id: str, events: Sequence[TicketEvent]) -> list[EventItem]:
    """Event items of one write. Their sort key is time, then an id of the write, then the position
    in it: events written together stay together and in order, even when another write records
    events in the same millisecond."""
    if not events:
        return []
    write_id = new_id("evt", events[0].at)
    items = []
    for index, event in enumerate(events):
        item = EventItem(
            pk=ticket_pk(ticket_id),
            sk=f"EVENT#{clock.iso(event.at)}#{write_id}#{index:03d}",
            at=clock.iso(event.at),
            type=event.type,
            data=event.data,
        )
        actor = event.data.get("by")
        if event.type in AGENT_ACTIONS and isinstance(actor, str) and actor:  # in their audit trail too
            item.gsi1pk = f"ACTOR#{actor}"
            item.gsi1sk = f"{clock.iso(event.at)}#{ticket_id}#{write_id}#{index:03d}"
        items.append(item)
    return items


def event_from_item(item: EventItem) -> TicketEvent:
    at = parse_or_none(item.at)
    assert at is not None
    return TicketEvent(at=at, type=item.type, data=dict(item.data or {}))


def ticket_from_stream_image(image: dict[str, Any]) -> Ticket:
    """A ticket from a DynamoDB stream record's NewImage/OldImage (typed AttributeValue JSON)."""
    return ticket_from_item(TicketItem.from_raw_data(image))


def event_from_stream_image(image: dict[str, Any]) -> TicketEvent:
    """A history event from a DynamoDB stream record's NewImage (typed AttributeValue JSON)."""
    return event_from_item(EventItem.from_raw_data(image))


def message_from_stream_image(image: dict[str, Any]) -> Message:
    """A message from a DynamoDB stream record's NewImage/OldImage (typed AttributeValue JSON)."""
    return message_from_item(MessageItem.from_raw_data(image))


class TicketStore(Protocol):
    def get_ticket(self, ticket_id: str) -> Ticket | None: ...

    def list_messages(self, ticket_id: str) -> list[Message]: ...

    def list_events(self, ticket_id: str) -> list[TicketEvent]: ...

    def list_customer_tickets(self, customer_id: str) -> list[Ticket]: ...

    def next_ticket_number(self, start: int) -> int:
        """A new ticket's number: unique, rising with time to within a minute, not consecutive."""
        ...

    def create_ticket(self, write: NewTicketWrite) -> None: ...

    def append_message(self, write: AppendWrite) -> None: ...

    def add_message(
        self, ticket_id: str, message: Message, events: list[TicketEvent], mentions: Sequence[Mention] = ()
    ) -> None: ...

    def add_events(self, ticket_id: str, events: list[TicketEvent], dedupe: Pointer) -> None: ...

    def set_status(self, ticket_id: str, status: str, at: datetime, expected_version: int) -> None: ...

    def update_ticket(
        self, ticket: Ticket, changes: TicketUpdate, events: list[TicketEvent], at: datetime
    ) -> None: ...


class TicketWalk(Protocol):
    """What walks every ticket without a Scan: the counter's last number, and strongly consistent
    reads of a ticket and its messages (so they are at least as new as anything read before)."""

    def last_ticket_number(self) -> int:
        """The last ticket number taken (0: none yet)."""
        ...

    def current_ticket(self, ticket_id: str) -> Ticket | None: ...

    def current_messages(self, ticket_id: str) -> list[Message]: ...


class DynamoTickets(Table):
    """TicketStore and TicketWalk on the table."""

    def last_ticket_number(self) -> int:
        try:
            return int(CounterItem.get(TICKET_COUNTER, "COUNTER", consistent_read=True).value or 0)
        except CounterItem.DoesNotExist:
            return 0

    def current_ticket(self, ticket_id: str) -> Ticket | None:
        try:
            return ticket_from_item(TicketItem.get(ticket_pk(ticket_id), "TICKET", consistent_read=True))
        except TicketItem.DoesNotExist:
            return None

    def current_messages(self, ticket_id: str) -> list[Message]:
        return [
            message_from_item(item)
            for item in MessageItem.query(
                ticket_pk(ticket_id), MessageItem.sk.startswith("MSG#"), consistent_read=True
            )
        ]

    def get_ticket(self, ticket_id: str) -> Ticket | None:
        try:
            return ticket_from_item(TicketItem.get(ticket_pk(ticket_id), "TICKET"))
        except TicketItem.DoesNotExist:
            return None

    def list_messages(self, ticket_id: str) -> list[Message]:
        return [
            message_from_item(item)
            for item in MessageItem.query(ticket_pk(ticket_id), MessageItem.sk.startswith("MSG#"))
        ]

    def list_events(self, ticket_id: str) -> list[TicketEvent]:
        return [
            event_from_item(item)
            for item in EventItem.query(ticket_pk(ticket_id), EventItem.sk.startswith("EVENT#"))
        ]

    def list_customer_tickets(self, customer_id: str) -> list[Ticket]:
        return [ticket_from_item(item) for item in TicketItem.by_customer.query(f"CUSTOMER#{customer_id}")]

    @cached_property
    def _number_blocks(self) -> NumberBlocks:
        return NumberBlocks()

    def next_ticket_number(self, start: int) -> int:
        """The next ticket number (the first one is `start`), from this process's block (decision 121)."""
        return self._number_blocks.take(self, start)

    def reserve_ticket_numbers(self, start: int, count: int) -> int:
        counter = CounterItem(pk=TICKET_COUNTER, sk="COUNTER")
        try:
            counter.update(actions=[CounterItem.value.set((CounterItem.value | (start - 1)) + count)])
        except UpdateError as exc:
            raise_if_permanent(exc)
            raise ConflictError("could not take a ticket number") from exc
        return int(counter.value)

    def release_ticket_numbers(self, first: int, last: int) -> bool:
        counter = CounterItem(pk=TICKET_COUNTER, sk="COUNTER")
        try:
            counter.update(actions=[CounterItem.value.set(first - 1)], condition=CounterItem.value == last)
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False  # reserved after them: they stay unused
            raise_if_permanent(exc)
            raise ConflictError("could not put ticket numbers back") from exc
        return True

    def create_ticket(self, write: NewTicketWrite) -> None:
        at = clock.iso(write.message.at)
        ticket = ticket_to_item(write.ticket)
        if write.ticket.team is None and write.ticket.assignee is None:
            ticket.gsi3pk, ticket.gsi3sk = unrouted_keys(write.ticket)
        puts: list[tuple[Any, Any]] = [
            (ticket, TicketItem.pk.does_not_exist()),
            (message_to_item(write.message), None),
        ]
        puts += [(item, None) for item in event_items(write.ticket.id, write.events)]
        if write.new_customer is not None:
            puts.append((customer_to_item(write.new_customer), CustomerItem.pk.does_not_exist()))
        group_updates = [
            (
                TicketItem(pk=ticket_pk(member), sk="TICKET"),
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
        actions += sla_actions(write.ticket_id, changes.sla)
        target = TicketItem(pk=ticket_pk(write.ticket_id), sk="TICKET")
        condition = TicketItem.version == write.expected_version
        self._write(puts, write.pointers, at, update=(target, actions, condition), upserts=write.upserts)

    def add_message(
        self, ticket_id: str, message: Message, events: list[TicketEvent], mentions: Sequence[Mention] = ()
    ) -> None:
        """Store a message that changes nothing else on the ticket (an internal note), with the
        agents it names."""
        puts: list[tuple[Any, Any]] = [(message_to_item(message), None)]
        puts += [(item, None) for item in event_items(ticket_id, events)]
        puts += [(mention_item(m), None) for m in mentions]
        self._write(puts, [], clock.iso(message.at))

    def add_events(self, ticket_id: str, events: list[TicketEvent], dedupe: Pointer) -> None:
        """Append history entries to a ticket once (keyed by `dedupe`)."""
        at = clock.iso(events[0].at) if events else clock.iso(clock.now())
        self._write([(item, None) for item in event_items(ticket_id, events)], [dedupe], at)

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
            TicketItem(pk=ticket_pk(ticket_id), sk="TICKET").update(
                actions=actions, condition=TicketItem.version == expected_version
            )
        except UpdateError as exc:
            raise_if_permanent(exc)
            raise ConflictError(f"ticket {ticket_id} changed meanwhile") from exc

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
        if changes.custom_fields is not None:
            actions.append(TicketItem.custom_fields.set(changes.custom_fields))
        actions += sla_actions(ticket.id, changes.sla)
        puts: list[tuple[Any, Any]] = [(item, None) for item in event_items(ticket.id, events)]
        if changes.queue is not None:
            entry = changes.queue
            actions.append(TicketItem.queued_at.set(clock.iso(entry.queued_at)))
            puts.append((queue_item(entry), None))
        target = TicketItem(pk=ticket_pk(ticket.id), sk="TICKET")
        self._write(puts, [], clock.iso(at), update=(target, actions, TicketItem.version == ticket.version))
