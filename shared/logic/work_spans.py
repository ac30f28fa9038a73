"""An agent's time on a ticket, from the presence their UI reports (decision 113): each time an agent
stops viewing or composing, the span becomes a `worked` event of the ticket's history, which the
metric ledger reads as handle time (docs/metrics.md, "Agent handle time").

Pure functions of plain data: the viewer as stored, a tickets-stream record of a viewer item.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from shared import clock
from shared.dal.live import VIEWER_REFRESH, Viewer, WorkWrite
from shared.models.ticket import TicketEvent

WORK_EVENT = "worked"
"""The ticket event of one finished span of an agent's presence on it."""
MAX_WORK_SPANS = 200
"""Spans kept per ticket: a UI that flips its state every second cannot make a ticket's history (and
every ledger computation of it) grow without bound; spans beyond are dropped (logged, counted)."""
TTL_SERVICE = "dynamodb.amazonaws.com"
"""The `userIdentity.principalId` of a stream record whose item DynamoDB's TTL deleted."""

Ended = Literal["changed", "left", "lapsed"]


@dataclass(frozen=True)
class WorkSpan:
    """An agent viewing or composing on a ticket from `start` to `stop`, and how it ended: another
    state replaced it, the UI said `left` (or the connection closed), or the UI stopped confirming."""

    ticket_id: str
    agent: str
    state: str
    start: datetime
    stop: datetime
    ended: Ended

    @property
    def key(self) -> str:
        """The same for every stream record that ends this span (a retry, a redelivery)."""
        text = f"{self.agent}\n{self.state}\n{clock.iso(self.start)}"
        return hashlib.sha256(text.encode()).hexdigest()[:20]


def viewer_since(stored: Viewer | None, state: str, now: datetime) -> datetime | None:
    """When the state the UI confirms began, to be written with it; None: nothing to write (the same
    state, confirmed less than VIEWER_REFRESH ago). A new state, or one after a lapse (the UI
    stopped confirming, the TTL has not removed the item yet), begins now."""
    if stored is None or stored.state != state or stored.until <= now:
        return now
    if stored.at > now - VIEWER_REFRESH:
        return None
    return stored.since


@dataclass(frozen=True)
class _Image:
    agent: str
    state: str
    since: datetime
    at: datetime
    until: datetime


def _image(image: Mapping[str, Any] | None) -> _Image | None:
    if not image or "state" not in image or "at" not in image:
        return None
    at = clock.parse_iso(image["at"]["S"])
    since = image.get("since", {}).get("S")
    return _Image(
        agent=image["agent_id"]["S"],
        state=image["state"]["S"],
        since=clock.parse_iso(since) if since else at,  # an item written before spans were kept
        at=at,
        until=datetime.fromtimestamp(int(image["expires_at"]["N"]), UTC),
    )


def _removed_by_ttl(record: Mapping[str, Any]) -> bool:
    identity = record.get("userIdentity") or {}
    return identity.get("type") == "Service" and identity.get("principalId") == TTL_SERVICE


def ended_span(record: Mapping[str, Any]) -> WorkSpan | None:
    """The span a tickets-stream record of a viewer item ends, if it ends one: a new state (or the
    same one begun again after a lapse) ends the old one when the new one begins; a removal by the
    UI or the connection's close ends it then; a removal by the TTL, or anything after the old state
    lapsed, ends it at its last recorded confirmation (`at`): time nobody confirmed is not counted."""
    raw = record["dynamodb"]
    old, new = _image(raw.get("OldImage")), _image(raw.get("NewImage"))
    if old is None:
        return None
    seconds = raw.get("ApproximateCreationDateTime")
    happened = new.since if new is not None else datetime.fromtimestamp(float(seconds or 0), UTC)
    lapsed = _removed_by_ttl(record) or old.until < happened
    if new is not None and not lapsed and (new.state, new.since) == (old.state, old.since):
        return None  # a confirmation of the same state
    stop = old.at if lapsed else max(happened, old.at)
    if stop <= old.since:
        return None
    ended: Ended = "lapsed" if lapsed else "changed" if new is not None else "left"
    ticket_id = raw["Keys"]["pk"]["S"].removeprefix("TICKET#")
    return WorkSpan(ticket_id, old.agent, old.state, old.since, stop, ended)


def work_event(span: WorkSpan) -> TicketEvent:
    """The span as the ticket's history keeps it (at its stop)."""
    data = {
        "agent": span.agent,
        "state": span.state,
        "start": clock.iso(span.start),
        "stop": clock.iso(span.stop),
        "ended": span.ended,
    }
    return TicketEvent(at=span.stop, type=WORK_EVENT, data=data)


@dataclass(frozen=True)
class Worked:
    """A span of an agent's presence, as the ledger reads it from the ticket's history."""

    agent: str
    start: datetime
    stop: datetime
    state: str


def worked_spans(events: Iterable[TicketEvent]) -> list[Worked]:
    """The spans the ticket's `worked` events record, by start (a malformed one is skipped)."""
    found = []
    for event in events:
        if event.type != WORK_EVENT:
            continue
        data = event.data
        try:
            start, stop = clock.parse_iso(str(data["start"])), clock.parse_iso(str(data["stop"]))
        except (KeyError, ValueError):
            continue
        if isinstance(data.get("agent"), str) and start < stop:
            found.append(Worked(str(data["agent"]), start, stop, str(data.get("state"))))
    return sorted(found, key=lambda w: (w.start, w.stop, w.agent))


class WorkLog(Protocol):
    def record_work(self, ticket_id: str, event: TicketEvent, key: str, cap: int) -> WorkWrite: ...


def keep_work_span(record: Mapping[str, Any], log: WorkLog) -> tuple[WorkSpan, WorkWrite] | None:
    """Keep the span a viewer's stream record ends as the ticket's `worked` event, once (a retried
    or redelivered record finds it written), up to MAX_WORK_SPANS per ticket. None: it ends none."""
    span = ended_span(record)
    if span is None:
        return None
    return span, log.record_work(span.ticket_id, work_event(span), span.key, MAX_WORK_SPANS)
