"""The per-day report aggregates as the table keeps them: one item per dimension value and local day,
whose counts and duration sketches are flat numeric attributes changed with DynamoDB `ADD`.

Attribute names (docs/data-model.md, docs/metrics.md "How a figure is stored"):
- `c#<metric>`: how many contributions of the metric (every contribution counts one);
- `d#<metric>#<clock>#z`: durations under one second (the sketch's zero bucket);
- `d#<metric>#<clock>#ms`: the durations' exact sum in whole milliseconds;
- `d#<metric>#<clock>#b<k>`: durations in the sketch's bucket `k` (decision 93),
with `<clock>` `cal` (calendar seconds) or `bus` (business seconds of the ticket's calendar). A
duration metric's sketch holds `c#<metric>` durations: its zeros plus its buckets.

No I/O: `shared.dal.reports` reads and writes the items, `shared.logic.metrics.aggregates` says what
a ledger adds to which item. Below them, the figures a report answers with (`Report`), which
`shared.logic.reports` computes from the items; docs/metrics.md defines each figure.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Final, Literal

from pydantic import BaseModel, Field

from shared.models.sketch import DurationSketch, SealedSketch, SketchSum

Dimension = Literal["all", "team", "agent", "channel", "inbox", "tag", "tier", "priority"]
DIMENSIONS: Final[tuple[Dimension, ...]] = (
    "all",
    "team",
    "agent",
    "channel",
    "inbox",
    "tag",
    "tier",
    "priority",
)
ALL_VALUE: Final = "*"
"""The one value of the `all` dimension."""
NONE_VALUE: Final = "none"
"""The value of a dimension the ticket has none of (no team, no tags, no tier...)."""

Clock = Literal["cal", "bus"]
CLOCKS: Final[tuple[Clock, ...]] = ("cal", "bus")

COUNT_PREFIX: Final = "c#"
DURATION_PREFIX: Final = "d#"


def report_pk(dimension: str, value: str) -> str:
    return f"REPORT#{dimension}#{value}"


def day_sk(day: date) -> str:
    return f"DAY#{day.isoformat()}"


def count_attribute(metric: str) -> str:
    return f"{COUNT_PREFIX}{metric}"


def duration_attribute(metric: str, clock: Clock, part: str) -> str:
    """`part`: `z` (zeros), `ms` (sum) or `b<k>` (bucket k)."""
    return f"{DURATION_PREFIX}{metric}#{clock}#{part}"


@dataclass(frozen=True)
class Freshness:
    """How current the aggregates are: the stream time of the newest ticket change they include,
    and how far behind the stream they were when it was projected."""

    as_of: datetime | None = None
    behind_seconds: float | None = None


@dataclass(frozen=True, order=True)
class ReportKey:
    """One aggregate item: a dimension's value on a local day."""

    dimension: str
    value: str
    day: date

    @property
    def pk(self) -> str:
        return report_pk(self.dimension, self.value)

    @property
    def sk(self) -> str:
        return day_sk(self.day)


@dataclass(frozen=True)
class ReportDelta:
    """What one ticket's change adds to one aggregate item (negative: taken out), by attribute."""

    key: ReportKey
    adds: dict[str, int]


@dataclass
class ReportDay:
    """One aggregate item read back: counts per metric, and a sketch per (metric, clock)."""

    dimension: str
    value: str
    day: date
    counts: dict[str, int] = field(default_factory=dict)
    durations: dict[tuple[str, Clock], DurationSketch] = field(default_factory=dict)
    """The live item's sketches (after the day was sealed, a late change's; counts may be negative)."""
    sealed: dict[tuple[str, Clock], SealedSketch] = field(default_factory=dict)
    """The sealed item's sketches (decision 112); `counts` already includes the sealed counts."""

    @property
    def key(self) -> ReportKey:
        return ReportKey(self.dimension, self.value, self.day)

    def sketch(self, metric: str, clock: Clock) -> DurationSketch:
        """The metric's durations in that clock, sealed and live (an empty sketch when it has none)."""
        return self.unsealed().durations.get((metric, clock)) or DurationSketch()

    def unsealed(self) -> ReportDay:
        """The same day with its sealed and live sketches added up into plain sketches."""
        if not self.sealed:
            return self
        sums: dict[tuple[str, Clock], SketchSum] = {}
        for key, sketch in self.durations.items():
            sums.setdefault(key, SketchSum()).add(sketch)
        for key, sealed in self.sealed.items():
            sums.setdefault(key, SketchSum()).add_sealed(sealed)
        durations = {key: total.sketch() for key, total in sorted(sums.items())}
        durations = {key: s for key, s in durations.items() if s.count or s.sum_ms}
        return ReportDay(self.dimension, self.value, self.day, dict(self.counts), durations)


def _sketch_part(sketch: DurationSketch, part: str, number: int) -> None:
    if part == "z":
        sketch.zeros += number
    elif part == "ms":
        sketch.sum_ms += number
    elif part.startswith("b") and number:
        sketch.buckets[int(part[1:])] = sketch.buckets.get(int(part[1:]), 0) + number


def report_day_from_attributes(
    dimension: str, value: str, day: date, attributes: Mapping[str, int | float | str]
) -> ReportDay:
    """The counts and sketches an item's attributes hold (zeros left out: an attribute whose
    contributions were all taken out again stays at 0); other attributes are ignored."""
    found = ReportDay(dimension, value, day)
    for name, raw in sorted(attributes.items()):
        if name.startswith(COUNT_PREFIX) and int(raw):
            found.counts[name.removeprefix(COUNT_PREFIX)] = int(raw)
        elif name.startswith(DURATION_PREFIX):
            metric, clock, part = name.removeprefix(DURATION_PREFIX).rsplit("#", 2)
            if clock in CLOCKS:
                sketch = found.durations.setdefault((metric, clock), DurationSketch())
                _sketch_part(sketch, part, int(raw))
    found.durations = {k: s for k, s in found.durations.items() if s.zeros or s.buckets or s.sum_ms}
    return found


@dataclass
class SealOutcome:
    """What one sealing pass did: days sealed, and days written while they were sealed (left)."""

    sealed: int = 0
    contended: int = 0


SEALED_SUFFIX: Final = "#S"
"""A sealed day's sort key is its live item's plus this (`DAY#<date>#S`, decision 112)."""


def sealed_sk(day: date) -> str:
    return f"{day_sk(day)}{SEALED_SUFFIX}"


def seal(day: ReportDay) -> bytes:
    """A day's counts and sketches (sealed and live together) as a sealed item's `blob`: zlib of a
    4-byte little-endian header length, the header (JSON `{"c": counts, "d": {"<metric>#<clock>":
    [zeros, sum_ms, low, span, width]}}`) and each sketch's byte planes in the header's order
    (`SealedSketch.planes`). ValueError when a count is negative (the aggregates would not be a
    sum of ledgers)."""
    plain = day.unsealed()
    if any(number < 0 for number in plain.counts.values()):
        raise ValueError(f"{day.key}: a count is negative, {plain.counts}")
    sketches: dict[str, list[int]] = {}
    planes = []
    for (metric, clock), sketch in sorted(plain.durations.items()):
        sealed = SealedSketch.of(sketch)
        width, raw = sealed.planes()
        sketches[f"{metric}#{clock}"] = [sealed.zeros, sealed.sum_ms, sealed.low, sealed.span, width]
        planes.append(raw)
    counts = {name: number for name, number in sorted(plain.counts.items()) if number}
    header = json.dumps({"c": counts, "d": sketches}, separators=(",", ":")).encode()
    return zlib.compress(len(header).to_bytes(4, "little") + header + b"".join(planes), 6)


def sealed_day(dimension: str, value: str, day: date, blob: bytes) -> ReportDay:
    """The day a sealed item's `blob` holds (its sketches left sealed)."""
    data = memoryview(zlib.decompress(blob))
    size = int.from_bytes(data[:4], "little")
    header = json.loads(bytes(data[4 : 4 + size]))
    found = ReportDay(dimension, value, day, counts={k: int(n) for k, n in header.get("c", {}).items()})
    offset = 4 + size
    for name, (zeros, sum_ms, low, span, width) in header.get("d", {}).items():
        metric, clock = name.rsplit("#", 1)
        raw = bytes(data[offset : offset + width * span])
        offset += width * span
        if clock in CLOCKS:
            found.sealed[(metric, clock)] = SealedSketch.from_planes(zeros, sum_ms, low, span, width, raw)
    return found


def combined(sealed: ReportDay, live: ReportDay) -> ReportDay:
    """A day read from both its items: counts added, live sketches and sealed ones side by side."""
    counts = dict(sealed.counts)
    for name, number in live.counts.items():
        counts[name] = counts.get(name, 0) + number
    counts = {name: number for name, number in counts.items() if number}
    durations = dict(live.durations)
    return ReportDay(sealed.dimension, sealed.value, sealed.day, counts, durations, dict(sealed.sealed))


# -- the figures a report answers with (GET /reports, the digests, the simulator's `report`) ------

GroupDimension = Literal["team", "agent", "channel", "inbox", "tag", "tier", "priority"]
"""What a report groups or filters by (every dimension but `all`)."""
GroupBy = Literal["none", "day", "week", "team", "agent", "channel", "inbox", "tag", "tier", "priority"]
GROUP_DIMENSIONS: tuple[GroupDimension, ...] = (
    "team",
    "agent",
    "channel",
    "inbox",
    "tag",
    "tier",
    "priority",
)
DURATIONS = ("first_response", "next_response", "first_resolution", "full_resolution", "handle")
SLA_TARGETS = ("first_response", "next_response", "periodic_update", "resolution")


class DurationStats(BaseModel):
    """Durations in seconds: how many, the median and 90th percentile (lower nearest rank, within
    1 % from the sketch), and the exact mean; None when there are none."""

    count: int = 0
    median: float | None = None
    p90: float | None = None
    mean: float | None = None


class DurationFigures(BaseModel):
    calendar: DurationStats = Field(default_factory=DurationStats)
    business: DurationStats = Field(default_factory=DurationStats)
    """In the open hours of each ticket's own calendar."""


class Rate(BaseModel):
    """`count` of `of`, and their ratio (None when `of` is 0)."""

    count: int = 0
    of: int = 0
    rate: float | None = None


class Volume(BaseModel):
    created: int = 0
    resolved: int = 0
    reopened: int = 0
    merged: int = 0
    backlog: int | None = None
    """Tickets open at the end of the period (None when the history before it was not read)."""
    created_by_hour: list[int] = Field(default_factory=lambda: [0] * 24)
    created_by_weekday: list[int] = Field(default_factory=lambda: [0] * 7)
    """Monday first."""
    resolved_by_hour: list[int] = Field(default_factory=lambda: [0] * 24)
    resolved_by_weekday: list[int] = Field(default_factory=lambda: [0] * 7)


class SlaFigures(BaseModel):
    met: int = 0
    breached: int = 0
    open: int = 0
    achievement: float | None = None
    """met / (met + breached); open tickets are not decided yet."""


class Satisfaction(BaseModel):
    ratings: int = 0
    score: float | None = None
    """The mean rating (1 to 5)."""
    positive: Rate = Field(default_factory=Rate)
    """Ratings of 4 and 5 over all ratings."""
    response: Rate = Field(default_factory=Rate)
    """Ratings over surveys sent."""


class Figures(BaseModel):
    """Every figure of docs/metrics.md for one group over the period."""

    volume: Volume = Field(default_factory=Volume)
    durations: dict[str, DurationFigures] = Field(default_factory=dict)
    handle_sources: dict[str, int] = Field(default_factory=dict)
    """How many handle time figures each source measured: `presence` (the agents' viewing and
    composing) and `claim` (claim or assignment to reply)."""
    agent_replies: int = 0
    one_touch: Rate = Field(default_factory=Rate)
    first_contact_resolution: Rate = Field(default_factory=Rate)
    reopen: Rate = Field(default_factory=Rate)
    next_issue_avoidance: Rate = Field(default_factory=Rate)
    next_issue_provisional: bool = False
    """Some resolutions' windows had not closed when the report was made: the rate may still fall."""
    sla: dict[str, SlaFigures] = Field(default_factory=dict)
    escalations: dict[str, int] = Field(default_factory=dict)
    """By level."""
    satisfaction: Satisfaction = Field(default_factory=Satisfaction)
    automatic_sent: dict[str, int] = Field(default_factory=dict)
    automatic_suppressed: dict[str, int] = Field(default_factory=dict)


class GroupFigures(BaseModel):
    key: str
    """The group: a day (`2026-03-02`), an ISO week (`2026-W10`), a dimension's value, or `all`."""
    figures: Figures


class Report(BaseModel):
    timezone: str
    from_: date = Field(alias="from")
    to: date
    group_by: GroupBy
    filter: str | None = None
    """`dimension:value` the figures are limited to, if any."""
    as_of: datetime | None
    """The time of the newest ticket change the aggregates include (None: none yet)."""
    behind_seconds: float | None
    """How far the aggregates were behind the tickets stream when they last changed."""
    generated_at: datetime
    total: Figures
    groups: list[GroupFigures]

    model_config = {"populate_by_name": True}
