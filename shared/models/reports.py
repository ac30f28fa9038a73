"""The figures a report answers with (GET /reports, the digests, the simulator's `report`).

Plain data, no I/O: `shared.logic.reports` computes them from per-day aggregates; docs/metrics.md
defines each figure.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

Dimension = Literal["team", "agent", "channel", "inbox", "tag", "tier", "priority"]
GroupBy = Literal["none", "day", "week", "team", "agent", "channel", "inbox", "tag", "tier", "priority"]
DIMENSIONS: tuple[Dimension, ...] = ("team", "agent", "channel", "inbox", "tag", "tier", "priority")
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
