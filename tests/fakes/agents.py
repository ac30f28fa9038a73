"""Presence and Assignments in memory: agents' live state, claims under capacity, team queues."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from shared import clock
from shared.dal.agents import AgentLive, AlreadyRoutedError, ClaimLostError, RoutingChanges, agent_live
from shared.dal.items import AgentItem, QueueItem
from shared.dal.queues import QueueEntry, queue_entry_from_item, queue_item, queue_key
from shared.errors import ConflictError
from shared.models.ticket import TicketEvent
from tests.fakes.table import (
    Condition,
    Item,
    MemoryStore,
    always,
    as_model,
    both,
    delete_op,
    equals,
    exists,
    lacks,
    put_op,
    update_op,
)
from tests.fakes.tickets import event_puts, set_sla, ticket_key


def agent_key(agent_id: str) -> tuple[str, str]:
    return (f"AGENT#{agent_id}", "AGENT")


def queue_key_of(entry: QueueEntry) -> tuple[str, str]:
    return (f"QUEUE#{entry.team}", entry.key)


def set_routing(item: Item, ticket_id: str, changes: RoutingChanges, at: datetime) -> None:
    """`_routing_actions`, plus the policy alone when no SLA is written."""
    item.update(
        team=changes.team,
        priority=changes.priority,
        tags=list(changes.tags),
        skills=list(changes.skills),
        updated_at=clock.iso(at),
    )
    if changes.language is not None:
        item["language"] = changes.language
    set_sla(item, ticket_id, changes.sla)
    if changes.sla_policy is not None and changes.sla is None:
        item["sla_policy"] = changes.sla_policy


def under_capacity(load: str, capacity: int) -> Condition:
    """`presence = online AND (load < capacity OR attribute_not_exists(load))`."""

    def holds(item: Item | None) -> bool:
        if item is None or item.get("presence") != "online":
            return False
        return item.get(load) is None or int(item[load]) < capacity

    return holds


def unassigned(item: Item | None) -> bool:
    """An automatic claim's ticket condition: the ticket exists and nobody has it."""
    return item is not None and item.get("assignee") is None


class MemoryAgents(MemoryStore):
    """Presence and Assignments on the in-memory table."""

    def get_agents(self, agent_ids: Sequence[str]) -> dict[str, AgentLive]:
        found: dict[str, AgentLive] = {}
        for agent_id in dict.fromkeys(agent_ids):
            item = self.table.get(agent_key(agent_id))
            if item is not None:
                found[agent_id] = agent_live(as_model(AgentItem, item))
        return found

    def set_presence(
        self, agent_id: str, presence: str, teams: list[str], at: datetime, until: datetime | None = None
    ) -> None:
        def edit(item: Item) -> None:
            item.update(
                id=agent_id,
                entity="agent",
                presence=presence,
                teams=list(teams),
                presence_changed_at=clock.iso(at),
            )
            if presence == "online":
                item["away_since"] = item["away_until"] = None
            else:
                item["away_since"] = item.get("away_since") or clock.iso(at)
                item["away_until"] = clock.iso(until) if until else None

        self.table.transact([update_op(agent_key(agent_id), "agent", always, edit)])

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
        load = f"load_{group}"

        def take(item: Item) -> None:
            item[load] = int(item.get(load) or 0) + 1
            item["last_assigned_at"] = clock.iso(at)

        def assign(item: Item) -> None:
            set_routing(item, ticket_id, changes, at)
            item.update(assignee=agent_id, load_holder=agent_id, queued_at=None)

        agent_condition = under_capacity(load, capacity) if capacity is not None else exists
        ticket_condition = unassigned if capacity is not None else exists
        changes_ = [
            update_op(agent_key(agent_id), "agent", agent_condition, take),
            update_op(ticket_key(ticket_id), "ticket", ticket_condition, assign),
            *event_puts(ticket_id, events),
        ]
        if dequeue is not None:
            changes_.append(delete_op(queue_key_of(dequeue), "queue", exists))
        failed = set(self.table.transact(changes_))
        if "ticket" in failed or "queue" in failed:
            raise AlreadyRoutedError(f"ticket {ticket_id} was routed meanwhile")
        if "agent" in failed:
            raise ClaimLostError(f"agent {agent_id} is no longer free")

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

        def queue(item: Item) -> None:
            set_routing(item, ticket_id, changes, at)
            item["queued_at"] = clock.iso(at)

        failed = self.table.transact(
            [
                put_op(queue_item(entry)),
                update_op(
                    ticket_key(ticket_id), "ticket", both(exists, lacks("assignee", "queued_at")), queue
                ),
                *event_puts(ticket_id, events),
            ]
        )
        if failed:
            raise AlreadyRoutedError(f"ticket {ticket_id} was routed meanwhile")
        return entry

    def release(
        self, ticket_id: str, agent_id: str, group: str, events: list[TicketEvent], at: datetime
    ) -> None:
        load = f"load_{group}"

        def give_back(item: Item) -> None:
            item[load] = int(item[load]) - 1

        def clear(item: Item) -> None:
            item["load_holder"] = item["load_stale"] = None

        failed = self.table.transact(
            [
                update_op(
                    agent_key(agent_id),
                    "agent",
                    lambda i: i is not None and int(i.get(load) or 0) > 0,
                    give_back,
                ),
                update_op(ticket_key(ticket_id), "ticket", equals("load_holder", agent_id), clear),
                *event_puts(ticket_id, events),
            ]
        )
        if failed:
            raise AlreadyRoutedError(f"load of {ticket_id} was released before")

    def clear_stale(self, ticket_id: str) -> None:
        def clear(item: Item) -> None:
            item["load_stale"] = None

        if self.table.transact([update_op(ticket_key(ticket_id), "ticket", exists, clear)]):
            raise ConflictError(f"ticket {ticket_id} is gone")

    def list_queue(self, team: str, limit: int = 25) -> list[QueueEntry]:
        items = self.table.partition(f"QUEUE#{team}")
        return [queue_entry_from_item(as_model(QueueItem, item)) for item in items[:limit]]

    def drop_queued(self, entry: QueueEntry) -> None:
        self.table.transact([delete_op(queue_key_of(entry))])

    def move_queued(
        self, entry: QueueEntry, to_team: str, events: list[TicketEvent], at: datetime
    ) -> QueueEntry:
        moved = QueueEntry(
            team=to_team,
            ticket_id=entry.ticket_id,
            priority=entry.priority,
            channel=entry.channel,
            queued_at=entry.queued_at,
            key=entry.key,
        )

        def move(item: Item) -> None:
            item.update(team=to_team, updated_at=clock.iso(at))

        failed = self.table.transact(
            [
                delete_op(queue_key_of(entry), "queue", exists),
                put_op(queue_item(moved)),
                update_op(ticket_key(entry.ticket_id), "ticket", lacks("assignee"), move),
                *event_puts(entry.ticket_id, events),
            ]
        )
        if failed:
            raise AlreadyRoutedError(f"ticket {entry.ticket_id} left the queue meanwhile")
        return moved
