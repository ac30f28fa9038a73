"""Handle time from the agents' presence on a ticket (docs/metrics.md, "Agent handle time"): each
agent's viewing and composing spans, overlaps counted once, cut at their replies."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from itertools import pairwise

from shared.logic.metrics.measuring import Measuring
from shared.logic.work_spans import Worked
from shared.models.metrics import Anchor, Pause, Segment

Piece = tuple[datetime, datetime]


def merged(spans: Iterable[Worked]) -> dict[str, list[Piece]]:
    """Per agent, the union of their spans (viewing and composing alike): overlapping or touching
    spans of one agent make one piece."""
    found: dict[str, list[Piece]] = {}
    for span in sorted(spans, key=lambda s: (s.agent, s.start, s.stop)):
        pieces = found.setdefault(span.agent, [])
        if pieces and span.start <= pieces[-1][1]:
            pieces[-1] = (pieces[-1][0], max(pieces[-1][1], span.stop))
        else:
            pieces.append((span.start, span.stop))
    return found


def between(pieces: Sequence[Piece], after: datetime | None, until: datetime | None) -> list[Piece]:
    """The parts of the pieces after `after` (None: from the first) and up to `until` (None: all)."""
    found = []
    for start, stop in pieces:
        start = start if after is None else max(start, after)
        stop = stop if until is None else min(stop, until)
        if start < stop:
            found.append((start, stop))
    return found


def presence_segment(
    measuring: Measuring, pieces: Sequence[Piece], agent: str, stop: Anchor | None
) -> Segment:
    """A segment from the agent's first piece to `stop` (None: running) whose pauses (`away`) are
    the gaps between the pieces and after the last: its seconds are the pieces' seconds."""
    start = Anchor(at=pieces[0][0], kind="presence", ref=agent)
    if stop is None:
        return measuring.segment(start, None, agent=agent)
    gaps = [(a[1], b[0]) for a, b in pairwise(pieces)]
    gaps.append((pieces[-1][1], stop.at))
    away = [Pause(start=s, stop=e, why="away") for s, e in gaps if s < e]
    return measuring.segment(start, stop, away, agent=agent)


def unanswered(
    measuring: Measuring,
    work: Mapping[str, Sequence[Piece]],
    answered: Mapping[str, datetime],
    closed: Anchor | None,
) -> list[Segment]:
    """Each agent's presence after their last reply on the ticket (all of it without one): while
    the ticket is open a running segment (counted nowhere: a reply may still come); once resolved,
    closed or merged, the pieces up to that stop, counted on its day (presence after it is not)."""
    found = []
    for agent in sorted(work):
        pieces = between(work[agent], answered.get(agent), closed.at if closed is not None else None)
        if pieces:
            found.append(presence_segment(measuring, pieces, agent, closed))
    return found
