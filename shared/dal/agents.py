"""Agents, their capacity and the queues: presence, and the routing writes that claim a ticket for
an agent under capacity, queue it for a team, or give capacity back, each in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from shared import clock
from shared.dal.base import Table, cancellation_codes, parse_or_none, raise_if_permanent, ticket_pk
from shared.dal.items import (
    MAX_BATCH_GET,
    AgentItem,
    QueueItem,
    TicketItem,
)
from shared.dal.queues import QueueEntry, queue_entry_from_item, queue_item, queue_key, queued_key
from shared.dal.tickets import SlaWrite, event_items, sla_actions
from shared.errors import ConflictError, HelpdeskError
from shared.models.ticket import (
    TicketEvent,
)


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


class ClaimLostError(HelpdeskError):
    """The agent's capacity or presence changed before the claim: try the next candidate."""


class AlreadyRoutedError(HelpdeskError):
    """The ticket was assigned meanwhile (a re-delivered record or a manual assignment)."""


def agent_live(item: AgentItem) -> AgentLive:
    """An agent's live state from its item."""
    return AgentLive(
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
        away_since=parse_or_none(item.away_since)
        or (parse_or_none(item.presence_changed_at) if item.presence != "online" else None),
        away_until=parse_or_none(item.away_until),
    )


def _load_attribute(group: str) -> Any:
    return {"email": AgentItem.load_email, "sms": AgentItem.load_sms, "social": AgentItem.load_social}[group]


def _routing_actions(ticket_id: str, changes: RoutingChanges, at: datetime) -> list[Any]:
    actions: list[Any] = [
        TicketItem.team.set(changes.team),
        TicketItem.priority.set(changes.priority),
        TicketItem.tags.set(changes.tags),  # type: ignore[arg-type]
        TicketItem.skills.set(changes.skills),  # type: ignore[arg-type]
        TicketItem.updated_at.set(clock.iso(at)),
    ]
    if changes.language is not None:
        actions.append(TicketItem.language.set(changes.language))
    return actions + sla_actions(ticket_id, changes.sla)


def _take_capacity(
    agent_id: str, group: str, capacity: int | None, at: datetime
) -> tuple[Any, list[Any], Any]:
    """The agent's side of a claim: one more ticket of `group`, only while online and under
    `capacity` (None: a manual assignment, no limit)."""
    load = _load_attribute(group)
    condition = AgentItem.pk.exists()
    if capacity is not None:
        condition = (AgentItem.presence == "online") & ((load < capacity) | load.does_not_exist())
    return (
        AgentItem(pk=f"AGENT#{agent_id}", sk="AGENT"),
        [load.set((load | 0) + 1), AgentItem.last_assigned_at.set(clock.iso(at))],
        condition,
    )


def _claim_ticket(
    ticket_id: str, agent_id: str, capacity: int | None, changes: RoutingChanges, at: datetime
) -> tuple[list[Any], Any]:
    """The ticket's side of a claim: its routing fields and assignee; an automatic claim (with a
    capacity) takes only an unassigned ticket."""
    actions = [
        *_routing_actions(ticket_id, changes, at),
        TicketItem.assignee.set(agent_id),
        TicketItem.load_holder.set(agent_id),
        TicketItem.queued_at.remove(),
    ]
    if changes.sla_policy is not None and changes.sla is None:
        actions.append(TicketItem.sla_policy.set(changes.sla_policy))
    condition = TicketItem.pk.exists() & (
        TicketItem.assignee.does_not_exist() if capacity is not None else TicketItem.pk.exists()
    )
    return actions, condition


class Presence(Protocol):
    def get_agents(self, agent_ids: Sequence[str]) -> dict[str, AgentLive]: ...

    def set_presence(
        self, agent_id: str, presence: str, teams: list[str], at: datetime, until: datetime | None = None
    ) -> None: ...


class Assignments(Protocol):
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


class DynamoAgents(Table):
    """Presence and Assignments on the table."""

    def get_agents(self, agent_ids: Sequence[str]) -> dict[str, AgentLive]:
        """Live state of these agents (one BatchGetItem per 100); agents never stored are absent."""
        found: dict[str, AgentLive] = {}
        ids = list(dict.fromkeys(agent_ids))
        for start in range(0, len(ids), MAX_BATCH_GET):
            keys = [(f"AGENT#{agent_id}", "AGENT") for agent_id in ids[start : start + MAX_BATCH_GET]]
            for item in AgentItem.batch_get(keys):
                found[item.id] = agent_live(item)
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
        agent_update = _take_capacity(agent_id, group, capacity, at)
        ticket_actions, ticket_condition = _claim_ticket(ticket_id, agent_id, capacity, changes, at)
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
                    TicketItem(pk=ticket_pk(ticket_id), sk="TICKET"),
                    actions=ticket_actions,
                    condition=ticket_condition,
                )
                for item in event_items(ticket_id, events):
                    transaction.save(item)
                if dequeue is not None:
                    transaction.delete(queued_key(dequeue), condition=QueueItem.pk.exists())
        except TransactWriteError as exc:
            raise_if_permanent(exc)
            codes = cancellation_codes(exc)
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
        ticket_actions = [
            *_routing_actions(ticket_id, changes, at),
            TicketItem.queued_at.set(clock.iso(at)),
        ]
        if changes.sla_policy is not None and changes.sla is None:
            ticket_actions.append(TicketItem.sla_policy.set(changes.sla_policy))
        try:
            with TransactWrite(connection=self.connection) as transaction:
                transaction.save(queue_item(entry))
                transaction.update(
                    TicketItem(pk=ticket_pk(ticket_id), sk="TICKET"),
                    actions=ticket_actions,
                    condition=TicketItem.pk.exists()
                    & TicketItem.assignee.does_not_exist()
                    & TicketItem.queued_at.does_not_exist(),
                )
                for item in event_items(ticket_id, events):
                    transaction.save(item)
        except TransactWriteError as exc:
            raise_if_permanent(exc)
            raise AlreadyRoutedError(f"ticket {ticket_id} was routed meanwhile") from exc
        return entry

    def release(
        self, ticket_id: str, agent_id: str, group: str, events: list[TicketEvent], at: datetime
    ) -> None:
        """Give back the capacity a ticket held, once (the ticket's holder is cleared in the same write)."""
        load = _load_attribute(group)
        try:
            with TransactWrite(connection=self.connection) as transaction:
                transaction.update(
                    AgentItem(pk=f"AGENT#{agent_id}", sk="AGENT"),
                    actions=[load.set(load - 1)],
                    condition=load > 0,
                )
                transaction.update(
                    TicketItem(pk=ticket_pk(ticket_id), sk="TICKET"),
                    actions=[TicketItem.load_holder.remove(), TicketItem.load_stale.remove()],
                    condition=TicketItem.load_holder == agent_id,
                )
                for item in event_items(ticket_id, events):
                    transaction.save(item)
        except TransactWriteError as exc:
            raise_if_permanent(exc)
            raise AlreadyRoutedError(f"load of {ticket_id} was released before") from exc

    def clear_stale(self, ticket_id: str) -> None:
        try:
            TicketItem(pk=ticket_pk(ticket_id), sk="TICKET").update(
                actions=[TicketItem.load_stale.remove()], condition=TicketItem.pk.exists()
            )
        except UpdateError as exc:
            raise_if_permanent(exc)
            raise ConflictError(f"ticket {ticket_id} is gone") from exc

    def list_queue(self, team: str, limit: int = 25) -> list[QueueEntry]:
        """The team's waiting tickets, most urgent first, then longest waiting."""
        return [queue_entry_from_item(item) for item in QueueItem.query(f"QUEUE#{team}", limit=limit)]

    def drop_queued(self, entry: QueueEntry) -> None:
        """Forget a queue entry whose ticket no longer waits (assigned by hand, resolved...)."""
        queued_key(entry).delete()

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
                transaction.delete(queued_key(entry), condition=QueueItem.pk.exists())
                transaction.save(queue_item(moved))
                transaction.update(
                    TicketItem(pk=ticket_pk(entry.ticket_id), sk="TICKET"),
                    actions=[TicketItem.team.set(to_team), TicketItem.updated_at.set(clock.iso(at))],
                    condition=TicketItem.assignee.does_not_exist(),
                )
                for item in event_items(entry.ticket_id, events):
                    transaction.save(item)
        except TransactWriteError as exc:
            raise_if_permanent(exc)
            raise AlreadyRoutedError(f"ticket {entry.ticket_id} left the queue meanwhile") from exc
        return moved
