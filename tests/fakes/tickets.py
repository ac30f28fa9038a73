"""TicketStore in memory: tickets with their messages and events, and the gsi3 keys (SLA deadline,
unrouted) their writes set, exactly as `shared.dal.tickets` sets them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from functools import cached_property

from shared import clock
from shared.dal.base import ticket_pk
from shared.dal.customers import customer_to_item
from shared.dal.items import EventItem, MessageItem, TicketItem
from shared.dal.pointers import Pointer
from shared.dal.queues import queue_item
from shared.dal.tickets import (
    AppendWrite,
    Mention,
    NewTicketWrite,
    SlaWrite,
    TicketChanges,
    TicketUpdate,
    due_keys,
    event_from_item,
    event_items,
    mention_item,
    message_from_item,
    message_to_item,
    ticket_from_item,
    ticket_to_item,
    unrouted_keys,
)
from shared.errors import ConflictError
from shared.ids import NumberBlocks
from shared.models.ticket import Message, Ticket, TicketEvent
from tests.fakes.table import (
    Change,
    Item,
    MemoryStore,
    absent,
    as_model,
    equals,
    exists,
    put_op,
    update_op,
)


def ticket_key(ticket_id: str) -> tuple[str, str]:
    return (ticket_pk(ticket_id), "TICKET")


def set_sla(item: Item, ticket_id: str, write: SlaWrite | None) -> None:
    """`sla_actions`: the SLA, its policy, and the ticket's place in the due index (or none)."""
    if write is None:
        return
    item["sla"] = write.sla.model_dump(mode="json")
    item["sla_policy"] = write.sla.policy or None
    if not write.moved:  # the index keys stay as they are (decision 117)
        return
    item["gsi2pk"] = item["gsi2sk"] = None  # the legacy keys go with any move
    if write.deadline is None:
        item["gsi3pk"] = item["gsi3sk"] = None
    else:
        item["gsi3pk"], item["gsi3sk"] = due_keys(ticket_id, write.deadline, write.shards)


def event_puts(ticket_id: str, events: Sequence[TicketEvent]) -> list[Change]:
    return [put_op(item) for item in event_items(ticket_id, events)]


def flag_op(ticket_id: str, flag: str) -> Change:
    """`flag_ticket`: append `flag` to an existing ticket's flags."""

    def edit(item: Item) -> None:
        item["flags"] = [*(item.get("flags") or []), flag]

    return update_op(ticket_key(ticket_id), "update", exists, edit)


def _apply_changes(item: Item, ticket_id: str, version: int, changes: TicketChanges) -> None:
    """The ticket side of `append_message`."""
    item["version"] = version + 1
    if changes.status is not None:
        item["status"] = changes.status
    if changes.updated_at is not None:
        item["updated_at"] = clock.iso(changes.updated_at)
    if changes.last_inbound_at is not None:
        item["last_inbound_at"] = clock.iso(changes.last_inbound_at)
    if changes.participants is not None:
        item["participants"] = list(changes.participants)
    if changes.flags is not None:
        item["flags"] = list(changes.flags)
    if changes.resolved_at is not None:
        item["resolved_at"] = clock.iso(changes.resolved_at)
    elif changes.clear_resolved_at:
        item["resolved_at"] = None
    if changes.closed_at is not None:
        item["closed_at"] = clock.iso(changes.closed_at)
    elif changes.clear_closed_at:
        item["closed_at"] = None
    set_sla(item, ticket_id, changes.sla)


def _apply_update(item: Item, ticket: Ticket, changes: TicketUpdate, at: datetime) -> None:
    """The ticket side of `update_ticket`."""
    item["updated_at"] = clock.iso(at)
    item["version"] = ticket.version + 1
    if changes.status is not None:
        item["status"] = changes.status
        if changes.status == "resolved":
            item["resolved_at"] = clock.iso(at)
        elif changes.status == "closed":
            item["closed_at"] = clock.iso(at)
        else:
            item["resolved_at"] = item["closed_at"] = None
    if changes.priority is not None:
        item["priority"] = changes.priority
    if changes.assignee is not None:
        item["assignee"] = changes.assignee
    elif changes.unassign:
        item["assignee"] = None
    if changes.tags is not None:
        item["tags"] = list(changes.tags)
    if changes.load_stale:
        item["load_stale"] = True
    if changes.team is not None:
        item["team"] = changes.team
    if changes.flags is not None:
        item["flags"] = list(changes.flags)
    if changes.custom_fields is not None:
        item["custom_fields"] = json.loads(json.dumps(changes.custom_fields))  # as JSON keeps it
    set_sla(item, ticket.id, changes.sla)
    if changes.queue is not None:
        item["queued_at"] = clock.iso(changes.queue.queued_at)


class MemoryTickets(MemoryStore):
    """TicketStore on the in-memory table."""

    def get_ticket(self, ticket_id: str) -> Ticket | None:
        item = self.table.get(ticket_key(ticket_id))
        return ticket_from_item(as_model(TicketItem, item)) if item is not None else None

    def list_messages(self, ticket_id: str) -> list[Message]:
        items = self.table.partition(ticket_pk(ticket_id), "MSG#")
        return [message_from_item(as_model(MessageItem, item)) for item in items]

    def list_events(self, ticket_id: str) -> list[TicketEvent]:
        items = self.table.partition(ticket_pk(ticket_id), "EVENT#")
        return [event_from_item(as_model(EventItem, item)) for item in items]

    def list_customer_tickets(self, customer_id: str) -> list[Ticket]:
        items = self.table.query_index("gsi1", f"CUSTOMER#{customer_id}")
        return [ticket_from_item(as_model(TicketItem, item)) for item in items]

    def last_ticket_number(self) -> int:
        counter = self.table.get(("COUNTER#tickets", "COUNTER"))
        return int(counter.get("value", 0)) if counter is not None else 0

    def current_ticket(self, ticket_id: str) -> Ticket | None:
        return self.get_ticket(ticket_id)

    def current_messages(self, ticket_id: str) -> list[Message]:
        return self.list_messages(ticket_id)

    @cached_property
    def _number_blocks(self) -> NumberBlocks:
        return NumberBlocks()

    def next_ticket_number(self, start: int) -> int:
        return self._number_blocks.take(self, start)

    def reserve_ticket_numbers(self, start: int, count: int) -> int:
        key = ("COUNTER#tickets", "COUNTER")
        counter = self.table.get(key) or {"pk": key[0], "sk": key[1]}
        counter["value"] = int(counter.get("value", start - 1)) + count
        self.table.items[key] = counter
        return int(counter["value"])

    def release_ticket_numbers(self, first: int, last: int) -> bool:
        key = ("COUNTER#tickets", "COUNTER")
        counter = self.table.get(key)
        if counter is None or int(counter.get("value", 0)) != last:
            return False
        counter["value"] = first - 1
        self.table.items[key] = counter
        return True

    def create_ticket(self, write: NewTicketWrite) -> None:
        at = clock.iso(write.message.at)
        ticket = ticket_to_item(write.ticket)
        if write.ticket.team is None and write.ticket.assignee is None:
            ticket.gsi3pk, ticket.gsi3sk = unrouted_keys(write.ticket)
        puts = [put_op(ticket, condition=absent), put_op(message_to_item(write.message))]
        puts += event_puts(write.ticket.id, write.events)
        if write.new_customer is not None:
            puts.append(put_op(customer_to_item(write.new_customer), condition=absent))
        members = write.group_members if write.ticket.group_id else []
        grouped = TicketEvent(
            at=write.message.at,
            type="grouped",
            data={"group_id": write.ticket.group_id, "with": [write.ticket.id]},
        )
        for member in members:
            puts += event_puts(member, [grouped])

        def join_group(item: Item) -> None:
            item["group_id"] = write.ticket.group_id
            item["version"] = int(item.get("version", 0)) + 1
            item["updated_at"] = at

        groups = [update_op(ticket_key(member), "update", exists, join_group) for member in members]
        self._write(puts, write.pointers, at, upserts=write.upserts, extra_updates=groups)

    def append_message(self, write: AppendWrite) -> None:
        at = clock.iso(write.message.at)
        puts = [put_op(message_to_item(write.message)), *event_puts(write.ticket_id, write.events)]
        if write.new_customer is not None:
            puts.append(put_op(customer_to_item(write.new_customer), condition=absent))
        ticket = update_op(
            ticket_key(write.ticket_id),
            "ticket",
            equals("version", write.expected_version),
            lambda item: _apply_changes(item, write.ticket_id, write.expected_version, write.changes),
        )
        self._write(puts, write.pointers, at, update=ticket, upserts=write.upserts)

    def add_message(
        self, ticket_id: str, message: Message, events: list[TicketEvent], mentions: Sequence[Mention] = ()
    ) -> None:
        puts = [put_op(message_to_item(message)), *event_puts(ticket_id, events)]
        puts += [put_op(mention_item(m)) for m in mentions]
        self._write(puts, [], clock.iso(message.at))

    def add_events(self, ticket_id: str, events: list[TicketEvent], dedupe: Pointer) -> None:
        at = clock.iso(events[0].at) if events else clock.iso(clock.now())
        self._write(event_puts(ticket_id, events), [dedupe], at)

    def set_status(self, ticket_id: str, status: str, at: datetime, expected_version: int) -> None:
        def edit(item: Item) -> None:
            item["status"] = status
            item["updated_at"] = clock.iso(at)
            item["version"] = expected_version + 1
            if status == "resolved":
                item["resolved_at"] = clock.iso(at)
            if status == "closed":
                item["closed_at"] = clock.iso(at)
            if status in {"resolved", "closed"}:
                item["load_stale"] = True

        change = update_op(ticket_key(ticket_id), "ticket", equals("version", expected_version), edit)
        if self.table.transact([change]):
            raise ConflictError(f"ticket {ticket_id} changed meanwhile")

    def update_ticket(
        self, ticket: Ticket, changes: TicketUpdate, events: list[TicketEvent], at: datetime
    ) -> None:
        puts = event_puts(ticket.id, events)
        if changes.queue is not None:
            puts.append(put_op(queue_item(changes.queue)))
        target = update_op(
            ticket_key(ticket.id),
            "ticket",
            equals("version", ticket.version),
            lambda item: _apply_update(item, ticket, changes, at),
        )
        self._write(puts, [], clock.iso(at), update=target)
