"""A ticket's history read for metrics: its status changes and open intervals, the customer's
messages, the agents' replies and assignments, each from the event or message that records it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.logic.work_spans import Worked, worked_spans
from shared.models.metrics import AnchorKind, Pause
from shared.models.ticket import Direction, Message, Ticket, TicketEvent

OPEN_STATUSES = frozenset({"new", "open", "pending", "on_hold"})
DONE_STATUSES = frozenset({"resolved", "closed"})


@dataclass(frozen=True)
class StatusChange:
    """A change of status, and what it means for the clocks (None: neither resolves nor reopens)."""

    at: datetime
    before: str
    after: str
    kind: AnchorKind | None
    source: str
    """The event type that recorded it."""


@dataclass(frozen=True)
class Interval:
    """The ticket in one status from `start` until `stop` (None: until now)."""

    start: datetime
    stop: datetime | None
    status: str
    merged: bool


@dataclass(frozen=True)
class Timeline:
    created_at: datetime
    changes: list[StatusChange]
    intervals: list[Interval]
    customer_messages: list[Message]
    """Inbound, not automatic (auto-replies, bounces), not a rating of the satisfaction survey."""
    agent_replies: list[Message]
    """Outbound and not automatic: an agent's public reply, at the time it was sent."""
    automatic: list[Message]
    assignments: list[tuple[datetime, str]]
    """(when, agent): routed to the agent or assigned by a person."""
    events: list[TicketEvent]
    work: list[Worked] = field(default_factory=list)
    """The agents' viewing and composing spans (`worked` events), by start."""

    @property
    def resolutions(self) -> list[StatusChange]:
        return [c for c in self.changes if c.kind == "resolved"]

    @property
    def reopens(self) -> list[StatusChange]:
        return [c for c in self.changes if c.kind == "reopened"]


def _new_status(event: TicketEvent) -> str | None:
    """The status an event records the ticket moving to (None: it moves none)."""
    data = event.data
    if event.type == "updated":
        change = (data.get("changes") or {}).get("status")
        return str(change[1]) if isinstance(change, list) and len(change) == 2 else None
    fixed = {"reopened": "open", "auto_resolved": "resolved", "merged": "closed"}
    if event.type in fixed:
        return fixed[event.type]
    if event.type == "unmerged" and isinstance(data.get("status"), str):
        return str(data["status"])
    return None


def _kind(before: str, after: str, source: str) -> AnchorKind | None:
    if source in ("merged", "unmerged"):
        return "merged" if source == "merged" else "unmerged"
    if before in OPEN_STATUSES and after in DONE_STATUSES:
        return "resolved"
    if before in DONE_STATUSES and after in OPEN_STATUSES:
        return "reopened"
    return None


def status_changes(events: Iterable[TicketEvent]) -> list[StatusChange]:
    """Every status change the events record, in time order, from `new` at creation."""
    current = "new"
    changes: list[StatusChange] = []
    for event in events:
        after = _new_status(event)
        if after is None or after == current:
            continue
        changes.append(StatusChange(event.at, current, after, _kind(current, after, event.type), event.type))
        current = after
    return changes


def intervals(created_at: datetime, changes: Sequence[StatusChange]) -> list[Interval]:
    """The ticket's statuses over time, from creation to now."""
    found: list[Interval] = []
    start, status, merged = created_at, "new", False
    for change in changes:
        if change.at > start:
            found.append(Interval(start, change.at, status, merged))
        start, status = max(change.at, start), change.after
        merged = change.kind == "merged" or (merged and change.kind != "unmerged")
    found.append(Interval(start, None, status, merged))
    return found


def pauses(spans: Sequence[Interval], until: datetime, answers: Sequence[datetime] = ()) -> list[Pause]:
    """What a resolution clock stopping at `until` does not count: pending on the customer (until
    the status changes or the customer writes, as the SLA resumes then), resolved or closed before a
    reopen, merged into another ticket. `answers`: when the customer wrote."""
    found: list[Pause] = []
    for span in spans:
        if span.stop is None or span.start >= until:
            continue
        stop = min(span.stop, until)
        if span.merged:
            found.append(Pause(start=span.start, stop=stop, why="merged"))
        elif span.status == "pending":
            stop = min([stop, *(at for at in answers if span.start < at < stop)])
            found.append(Pause(start=span.start, stop=stop, why="pending"))
        elif span.status in DONE_STATUSES and span.stop <= until:
            found.append(Pause(start=span.start, stop=stop, why="resolved"))
    return found


def _assignments(events: Iterable[TicketEvent]) -> list[tuple[datetime, str]]:
    found: list[tuple[datetime, str]] = []
    for event in events:
        agent: Any = None
        if event.type == "routed":
            agent = event.data.get("agent")
        elif event.type == "updated":
            change = (event.data.get("changes") or {}).get("assignee")
            agent = change[1] if isinstance(change, list) and len(change) == 2 else None
        if isinstance(agent, str) and agent:
            found.append((event.at, agent))
    return found


def read_timeline(ticket: Ticket, events: Sequence[TicketEvent], messages: Sequence[Message]) -> Timeline:
    """The ticket's history for metrics, events and messages each in time order."""
    ordered = sorted(events, key=lambda e: e.at)
    ratings = {str(e.data.get("message_id")) for e in ordered if e.type == "csat"}
    timed = sorted(messages, key=lambda m: (m.at, m.id))
    changes = status_changes(ordered)
    return Timeline(
        created_at=ticket.created_at,
        changes=changes,
        intervals=intervals(ticket.created_at, changes),
        customer_messages=[
            m for m in timed if m.direction is Direction.INBOUND and not m.automatic and m.id not in ratings
        ],
        agent_replies=[m for m in timed if m.direction is Direction.OUTBOUND and not m.automatic],
        automatic=[m for m in timed if m.direction is Direction.OUTBOUND and m.automatic],
        assignments=_assignments(ordered),
        events=ordered,
        work=worked_spans(ordered),
    )


def status_at(spans: Sequence[Interval], at: datetime) -> str:
    """The ticket's status at `at` (a change at that very moment already counts)."""
    status = spans[0].status if spans else "new"
    for span in spans:
        if span.start <= at:
            status = span.status
    return status
