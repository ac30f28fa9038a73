"""The one ingest pipeline: every channel's inbound message is stored by the same steps.

A channel contributes what only it knows through an `InboundAdapter` (see docs/adding-a-channel.md):
the pointer keys to read (its deduplication keys, threading keys and the sender's identity), how a
duplicate or a held message is recognised, which ticket the message joins, and how its message,
customer and new ticket look. The pipeline runs the rest once for every channel:

    read every pointer at once -> screen (duplicate, held) -> identify the customer -> find the
    thread -> build the message and events -> one conditional write (append or create) -> result

Lost races are retried (`MAX_ATTEMPTS`); a write DynamoDB refuses for good is handed back to the
channel, which quarantines the input (`write-rejected`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from shared.dal.base import DuplicateError
from shared.dal.customers import CustomerStore
from shared.dal.pointers import Pointer, PointerReads
from shared.dal.quarantine import QuarantineWrites
from shared.dal.tickets import AppendWrite, NewTicketWrite, TicketChanges, TicketStore
from shared.errors import ConflictError, PermanentWriteError
from shared.ids import new_id
from shared.logic.bounds import Bounder
from shared.logic.customers import suggestion_event
from shared.logic.sla_service import after_customer_message
from shared.logic.survey import csat_rating
from shared.models.config import HelpdeskConfig
from shared.models.ticket import (
    Channel,
    Customer,
    Identity,
    Message,
    Ticket,
    TicketEvent,
    TicketStatus,
)

MAX_ATTEMPTS = 4
"""Passes over one message when a write loses a race (a conflict on the ticket or a key)."""

OPEN_STATUSES = frozenset({TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING, TicketStatus.ON_HOLD})

Outcome = Literal["created", "threaded", "quarantined", "duplicate"]
Key = tuple[str, str]
"""A pointer's (kind, value), as the repository reads it."""
Found = dict[Key, Pointer]


class IngestStores(PointerReads, TicketStore, CustomerStore, QuarantineWrites, Protocol):
    """What ingestion reads and writes: pointers, tickets, customers, and the quarantine for what
    a channel refuses."""


@dataclass
class IngestResult:
    outcome: Outcome
    ticket_id: str | None = None
    ticket_number: int | None = None
    message_id: str | None = None
    reason: str = ""
    flags: list[str] = field(default_factory=list)


@dataclass
class Thread:
    """The channel's answer to "which ticket?": join `ticket`, or open a new ticket.

    `event_data` is recorded on the `message_threaded` or `created` event after the message id;
    `customer_id` is the customer a conversation already belongs to, used when no identity
    pointer names the sender.
    """

    ticket: Ticket | None
    reason: str
    event_data: dict[str, object]
    reopen: bool = False
    linked_ticket_id: str | None = None
    customer_id: str | None = None


@dataclass(frozen=True)
class ChannelRules:
    """How a channel's messages differ in the steps the pipeline itself runs (the defaults suit a chat)."""

    rereads_after_duplicate: bool = False
    """A key refused by the write may belong to another message (an email's Message-ID): read again
    instead of calling the message a duplicate at once."""
    groups_across_channels: bool = False
    """A new ticket joins the customer's tickets open on other channels in one group."""
    reopen_clears_closed: bool = False
    """The channel may reopen a closed ticket, so a reopen clears `closed_at` too."""
    reopen_names_author: bool = False
    """The `reopened` event names the message's author (`by`)."""


class InboundAdapter(Protocol):
    """What only a channel knows about one inbound message (one adapter per message and pass)."""

    rules: ChannelRules
    at: datetime
    channel: Channel

    def lookups(self) -> list[Key]:
        """Every pointer the message needs, read in one request: dedupe, threading and identity keys."""
        ...

    def identity_keys(self) -> list[Key]:
        """The sender's identity pointers, preferred first; the first is written for a new customer."""
        ...

    def identities(self) -> list[Identity]:
        """The sender's identities, known to the customer suggestions."""
        ...

    def screen(self, found: Found) -> IngestResult | None:
        """A duplicate, or a message held before threading (quarantined); None to go on."""
        ...

    def find_thread(
        self, found: Found, customer_id: str | None, repository: IngestStores
    ) -> Thread | IngestResult:
        """The ticket the message joins, or a new one; or a result when the channel holds it instead."""
        ...

    def prepare(self, bounder: Bounder) -> None:
        """Bound and store what the message carries before its customer and message are built."""
        ...

    def new_customer(self, customer_id: str, bounder: Bounder) -> Customer | None:
        """The customer the sender becomes, or None when this message makes no customer."""
        ...

    def message(self, ticket_id: str, bounder: Bounder) -> Message:
        """The stored message on `ticket_id`."""
        ...

    def reading(self, message: Message) -> str:
        """The text read for identity suggestions and survey ratings."""
        ...

    def extra_events(self) -> list[TicketEvent]:
        """The channel's own events, recorded after the suggestions."""
        ...

    def pointers(self, ticket_id: str, message_id: str) -> list[Pointer]:
        """The keys the message writes (must not exist yet): its dedupe keys and references."""
        ...

    def upserts(self, ticket_id: str, customer_id: str | None) -> list[Pointer]:
        """Pointers written whatever they held (a conversation's current ticket)."""
        ...

    def join_changes(self, ticket: Ticket, message: Message, changes: TicketChanges) -> None:
        """The channel's own changes to a ticket the message joins (participants, flags)."""
        ...

    def new_ticket(self, draft: NewTicket) -> Ticket:
        """The ticket the message opens."""
        ...

    def refused(self, repository: IngestStores, error: PermanentWriteError) -> IngestResult:
        """Keep a message DynamoDB refused for good (quarantine `write-rejected`)."""
        ...


@dataclass(frozen=True)
class NewTicket:
    """What the pipeline decided for a ticket a message opens; the channel fills in the rest."""

    ticket_id: str
    number: int
    message: Message
    customer_id: str
    thread: Thread
    group_id: str | None
    bounder: Bounder


@dataclass
class CustomerChoice:
    """The customer the message is stored for: known, or created by this write with its pointer."""

    customer_id: str | None
    new_customer: Customer | None = None
    pointers: list[Pointer] = field(default_factory=list)


def ingest(
    open_adapter: Callable[[], InboundAdapter], repository: IngestStores, config: HelpdeskConfig
) -> IngestResult:
    """Store one inbound message exactly once: on the ticket its channel finds, or on a new ticket.

    Each pass opens a fresh adapter. A lost race (a conflict, or a key another delivery wrote first)
    is retried; a message DynamoDB refuses for good goes back to its channel to be quarantined.
    """
    for attempt in range(MAX_ATTEMPTS):
        adapter = open_adapter()
        last = attempt == MAX_ATTEMPTS - 1
        try:
            return _ingest_once(adapter, repository, config)
        except DuplicateError as exc:
            if last or not adapter.rules.rereads_after_duplicate:
                return IngestResult(outcome="duplicate", reason=str(exc))
        except ConflictError:
            if last:
                raise
        except PermanentWriteError as exc:
            return adapter.refused(repository, exc)
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class _Pass:
    """One pass over a message: its channel's adapter and the ports every step uses."""

    adapter: InboundAdapter
    repository: IngestStores
    config: HelpdeskConfig


def _ingest_once(adapter: InboundAdapter, repository: IngestStores, config: HelpdeskConfig) -> IngestResult:
    found = repository.get_pointers(adapter.lookups())
    screened = adapter.screen(found)
    if screened is not None:
        return screened
    owner = known_customer(found, adapter.identity_keys())
    thread = adapter.find_thread(found, owner, repository)
    if isinstance(thread, IngestResult):
        return thread
    bounder = Bounder()
    adapter.prepare(bounder)
    customer = identify(adapter, owner, thread, bounder)
    run = _Pass(adapter, repository, config)
    if thread.ticket is not None:
        return _join(run, thread.ticket, thread, customer, bounder)
    return _open(run, thread, customer, bounder)


def known_customer(found: Found, identity_keys: list[Key]) -> str | None:
    """The customer the first identity pointer found names (the current key before older forms)."""
    owner = next((pointer for key in identity_keys if (pointer := found.get(key)) is not None), None)
    return owner.customer_id if owner else None


def identify(adapter: InboundAdapter, owner: str | None, thread: Thread, bounder: Bounder) -> CustomerChoice:
    """The known customer; else the conversation's customer or a new one, with the sender's pointer."""
    if owner is not None:
        return CustomerChoice(owner)
    new_customer: Customer | None = None
    customer_id = thread.customer_id
    if customer_id is None:
        new_customer = adapter.new_customer(new_id("cus", adapter.at), bounder)
        customer_id = new_customer.id if new_customer is not None else None
    keys = adapter.identity_keys()
    pointers = [Pointer(*keys[0], customer_id=customer_id)] if keys and customer_id is not None else []
    return CustomerChoice(customer_id, new_customer, pointers)


def _suggested(adapter: InboundAdapter, message: Message) -> list[TicketEvent]:
    if message.automatic:
        return []
    suggested = suggestion_event(adapter.reading(message), adapter.identities(), adapter.at)
    return [suggested] if suggested is not None else []


def _join(
    run: _Pass, ticket: Ticket, thread: Thread, customer: CustomerChoice, bounder: Bounder
) -> IngestResult:
    """Append the message to `ticket` with the ticket's changes, in one write guarded by its version."""
    adapter = run.adapter
    message = adapter.message(ticket.id, bounder)
    threaded = TicketEvent(
        at=adapter.at, type="message_threaded", data={"message_id": message.id, **thread.event_data}
    )
    events = [threaded, *_suggested(adapter, message), *adapter.extra_events()]
    changes, reply_events = join_changes(adapter, ticket, message, thread, run.config)
    adapter.join_changes(ticket, message, changes)
    run.repository.append_message(
        AppendWrite(
            ticket_id=ticket.id,
            expected_version=ticket.version,
            changes=changes,
            message=message,
            events=[*events, *reply_events],
            pointers=[*adapter.pointers(ticket.id, message.id), *customer.pointers],
            new_customer=customer.new_customer,
            upserts=adapter.upserts(ticket.id, customer.customer_id),
        )
    )
    return IngestResult("threaded", ticket.id, ticket.number, message.id, thread.reason, message.flags)


def join_changes(
    adapter: InboundAdapter, ticket: Ticket, message: Message, thread: Thread, config: HelpdeskConfig
) -> tuple[TicketChanges, list[TicketEvent]]:
    """What a customer's message changes on the ticket it joins, and the rating and reopen events.

    An automatic message (an auto-reply, a bounce) moves neither the latest inbound time nor the SLA.
    A message on a resolved ticket that reads as a survey rating is a rating, not a reopen.
    """
    at = adapter.at
    changes = TicketChanges(updated_at=max(at, ticket.updated_at))
    rating = csat_rating(adapter.reading(message)) if ticket.status == TicketStatus.RESOLVED else None
    reopens = thread.reopen and rating is None
    if not message.automatic:
        if ticket.last_inbound_at is None or at > ticket.last_inbound_at:
            # a late delivery of an older message never moves the time of the latest one back
            changes.last_inbound_at = at
        changes.sla = after_customer_message(config, ticket, at, reopens=reopens)
    events: list[TicketEvent] = []
    if rating is not None:
        events.append(TicketEvent(at=at, type="csat", data={"rating": rating, "message_id": message.id}))
    if reopens:
        changes.status = TicketStatus.OPEN.value
        changes.clear_resolved_at = True
        changes.clear_closed_at = adapter.rules.reopen_clears_closed
        data = {"from_status": ticket.status.value}
        if adapter.rules.reopen_names_author:
            data["by"] = message.author
        events.append(TicketEvent(at=at, type="reopened", data=data))
    return changes, events


def _open(run: _Pass, thread: Thread, customer: CustomerChoice, bounder: Bounder) -> IngestResult:
    """Open a new ticket with the message, its number and its keys, in one write."""
    adapter, repository = run.adapter, run.repository
    customer_id = customer.customer_id
    assert customer_id is not None  # only a message that must join (a bounce) has no customer
    group_id, group_members = (
        cross_channel_group(adapter, customer_id, repository)
        if adapter.rules.groups_across_channels and customer.new_customer is None
        else (None, [])
    )
    number = repository.next_ticket_number(run.config.tickets.number_start)
    ticket_id = new_id("tkt", adapter.at)
    message = adapter.message(ticket_id, bounder)
    ticket = adapter.new_ticket(NewTicket(ticket_id, number, message, customer_id, thread, group_id, bounder))
    repository.create_ticket(
        NewTicketWrite(
            ticket=ticket,
            message=message,
            events=_created_events(adapter, message, thread, group_id, group_members),
            pointers=[
                *adapter.pointers(ticket_id, message.id),
                Pointer("number", str(number), ticket_id=ticket_id),
                *customer.pointers,
            ],
            new_customer=customer.new_customer,
            upserts=adapter.upserts(ticket_id, customer_id),
            group_members=group_members,
        )
    )
    return IngestResult("created", ticket_id, number, message.id, thread.reason, message.flags)


def _created_events(
    adapter: InboundAdapter, message: Message, thread: Thread, group_id: str | None, members: list[str]
) -> list[TicketEvent]:
    at = adapter.at
    events = [TicketEvent(at=at, type="created", data={"message_id": message.id, **thread.event_data})]
    if thread.linked_ticket_id:
        events.append(TicketEvent(at=at, type="linked", data={"ticket_id": thread.linked_ticket_id}))
    if group_id:
        events.append(TicketEvent(at=at, type="grouped", data={"group_id": group_id, "with": members}))
    return [*events, *_suggested(adapter, message), *adapter.extra_events()]


def cross_channel_group(
    adapter: InboundAdapter, customer_id: str, repository: IngestStores
) -> tuple[str | None, list[str]]:
    """The group a new ticket shares with the customer's tickets open on other channels, and the
    tickets that join it now (those not in it yet); no group when there are none."""
    others = [
        ticket
        for ticket in repository.list_customer_tickets(customer_id)
        if ticket.status in OPEN_STATUSES and ticket.channel != adapter.channel
    ]
    if not others:
        return None, []
    group_id = next((t.group_id for t in others if t.group_id), None) or new_id("grp", adapter.at)
    return group_id, [t.id for t in others if t.group_id != group_id]
