"""The duration measures of one ticket: first and next response, first and full resolution, and
agent handle time, each as the segments that made it (docs/metrics.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from shared.logic.metrics.measuring import Measuring
from shared.logic.metrics.timeline import DONE_STATUSES, StatusChange, Timeline, pauses, status_at
from shared.logic.metrics.work import Piece, between, merged, presence_segment, unanswered
from shared.models.metrics import Anchor, DurationMeasure, Segment
from shared.models.ticket import Message

_ORDER = {"change": 0, "customer": 1, "reply": 2}
"""At one instant a status change comes first (a reopen and its message share their time), then
the customer's message, then the reply."""


def _anchor(message: Message, kind: str) -> Anchor:
    return Anchor(
        at=message.at, kind="agent_reply" if kind == "reply" else "customer_message", ref=message.id
    )


def _change_anchor(change: StatusChange) -> Anchor:
    assert change.kind is not None
    return Anchor(at=change.at, kind=change.kind, ref=change.source)


@dataclass
class _Walk:
    """The response clocks while the conversation is read in time order."""

    measuring: Measuring
    timeline: Timeline
    created: Anchor
    first_reply: Message | None = None
    wait: Anchor | None = None
    """A next-response wait: the customer's first message after our last reply."""
    ended_by: Anchor | None = None
    """The resolution (or merge) during the wait: a reply before a reopen still ends it."""
    last_reply: Anchor | None = None
    next_response: list[Segment] = field(default_factory=list)
    handle: list[Segment] = field(default_factory=list)
    work: dict[str, list[Piece]] = field(default_factory=dict)
    """Each agent's presence on the ticket, overlaps merged."""
    answered: dict[str, datetime] = field(default_factory=dict)
    """Each agent's latest reply so far: their presence up to it is counted."""

    def on_change(self, change: StatusChange) -> None:
        if change.kind in ("resolved", "merged") and self.wait is not None and self.ended_by is None:
            self.ended_by = _change_anchor(change)
        elif change.kind in ("reopened", "unmerged"):
            self._drop_wait()

    def _drop_wait(self) -> None:
        if self.wait is not None and self.ended_by is not None:
            self.next_response.append(self.measuring.segment(self.wait, self.ended_by, counted=False))
            self.wait, self.ended_by = None, None

    def on_customer(self, message: Message) -> None:
        if message.at < self.created.at or status_at(self.timeline.intervals, message.at) in DONE_STATUSES:
            return  # before the ticket (merged in), or on a resolved ticket without reopening it
        if self.first_reply is not None and self.wait is None:
            self.wait = _anchor(message, "customer")

    def on_reply(self, message: Message) -> None:
        if message.at < self.created.at:
            return
        reply = _anchor(message, "reply")
        waited_from = self.wait or (self.created if self.first_reply is None else self.last_reply)
        assert waited_from is not None
        self.handle.append(self._handle(message, reply, waited_from))
        if self.first_reply is None:
            self.first_reply = message
        elif self.wait is not None:
            self.next_response.append(self.measuring.segment(self.wait, reply, agent=message.author))
            self.wait, self.ended_by = None, None
        self.last_reply = reply

    def _handle(self, message: Message, reply: Anchor, waited_from: Anchor) -> Segment:
        """The reply's handle segment: the agent's presence since their previous reply when they
        have some, else from their claim (or the wait's start) to the reply."""
        agent = message.author
        pieces = between(self.work.get(agent, []), self.answered.get(agent), message.at)
        self.answered[agent] = message.at
        if pieces:
            return presence_segment(self.measuring, pieces, agent, reply)
        return self.measuring.segment(self._handle_start(message, waited_from), reply, agent=agent)

    def _handle_start(self, message: Message, waited_from: Anchor) -> Anchor:
        """The later of the wait's start and the replying agent's last claim or assignment."""
        claims = [
            at for at, agent in self.timeline.assignments if agent == message.author and at <= message.at
        ]
        if claims and max(claims) > waited_from.at:
            return Anchor(at=max(claims), kind="assigned", ref=message.author)
        return waited_from


def _walk(timeline: Timeline, measuring: Measuring) -> _Walk:
    walk = _Walk(measuring, timeline, Anchor(at=timeline.created_at, kind="created"))
    walk.work = merged(timeline.work)
    items: list[tuple[datetime, int, object]] = [
        *((c.at, _ORDER["change"], c) for c in timeline.changes),
        *((m.at, _ORDER["customer"], m) for m in timeline.customer_messages),
        *((m.at, _ORDER["reply"], m) for m in timeline.agent_replies),
    ]
    for _, order, item in sorted(items, key=lambda entry: (entry[0], entry[1])):
        if isinstance(item, StatusChange):
            walk.on_change(item)
        elif isinstance(item, Message) and order == _ORDER["customer"]:
            walk.on_customer(item)
        elif isinstance(item, Message):
            walk.on_reply(item)
    return walk


def _closed_now(timeline: Timeline) -> Anchor | None:
    """What stopped the ticket if it is resolved, closed or merged now (None: it is open)."""
    last = timeline.intervals[-1]
    if last.status not in DONE_STATUSES and not last.merged:
        return None
    stops = [c for c in timeline.changes if c.kind in ("resolved", "merged")]
    return _change_anchor(stops[-1]) if stops else Anchor(at=last.start, kind="resolved")


def response_measures(timeline: Timeline, measuring: Measuring) -> list[DurationMeasure]:
    """First and next response times and handle time: clocks that stop at an agent's reply."""
    walk = _walk(timeline, measuring)
    closed = _closed_now(timeline)
    if walk.first_reply is not None:
        first = measuring.segment(
            walk.created, _anchor(walk.first_reply, "reply"), agent=walk.first_reply.author
        )
    else:
        first = measuring.segment(walk.created, closed, counted=closed is None)
    if walk.wait is not None:
        ended = walk.ended_by or closed
        walk.next_response.append(measuring.segment(walk.wait, ended, counted=ended is None))
    handle = [*walk.handle, *unanswered(measuring, walk.work, walk.answered, closed)]
    return [
        DurationMeasure(name="first_response", segments=[first]),
        DurationMeasure(name="next_response", segments=walk.next_response),
        DurationMeasure(name="handle", segments=handle),
    ]


def merged_away_handle(timeline: Timeline, measuring: Measuring) -> list[DurationMeasure]:
    """A ticket merged into another keeps only its agents' presence before the merge as handle
    time (its replies moved with its conversation and count on the other ticket)."""
    segments = unanswered(measuring, merged(timeline.work), {}, _closed_now(timeline))
    return [DurationMeasure(name="handle", segments=segments)] if segments else []


def resolution_measures(timeline: Timeline, measuring: Measuring) -> list[DurationMeasure]:
    """First and full resolution time, from creation, less time pending, resolved before a reopen
    or merged away; the full one only while the ticket is resolved or closed."""
    created = Anchor(at=timeline.created_at, kind="created")
    resolutions = timeline.resolutions
    answers = [m.at for m in timeline.customer_messages]
    first = [measuring.segment(created, None)]
    if resolutions:
        stop = _change_anchor(resolutions[0])
        first = [measuring.segment(created, stop, pauses(timeline.intervals, stop.at, answers))]
    full = [measuring.segment(created, None)]
    if timeline.intervals[-1].status in DONE_STATUSES and resolutions:
        stop = _change_anchor(resolutions[-1])
        full = [measuring.segment(created, stop, pauses(timeline.intervals, stop.at, answers))]
    return [
        DurationMeasure(name="first_resolution", segments=first),
        DurationMeasure(name="full_resolution", segments=full),
    ]
