"""A ticket's metric ledger: every figure it contributes to reports, with the segments behind it.

Plain data (no I/O), computed by `shared.logic.metrics.build_ledger` from the ticket, its events and
messages; docs/metrics.md defines each measure and docs/decisions.md (92) says why it is kept.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from shared.models.ticket import TargetName

DurationName = Literal["first_response", "next_response", "first_resolution", "full_resolution", "handle"]
HappeningName = Literal[
    "created",
    "resolved",
    "reopened",
    "merged",
    "agent_reply",
    "escalated",
    "auto_sent",
    "auto_suppressed",
    "csat_rating",
]
AnchorKind = Literal[
    "created",
    "customer_message",
    "agent_reply",
    "assigned",
    "resolved",
    "reopened",
    "merged",
    "unmerged",
    "presence",
]
"""`presence`: the start of an agent's first viewing or composing span a handle segment counts."""
PauseReason = Literal["pending", "resolved", "merged", "away"]
"""`away`: a handle segment from presence leaves out the time the agent was not on the ticket."""
SlaOutcomeName = Literal["met", "breached", "open"]


class Anchor(BaseModel):
    """A moment of the ticket's history that starts or stops a clock, and what recorded it."""

    at: datetime
    kind: AnchorKind
    ref: str | None = None
    """The message id (messages), the agent (assigned, presence), or the event type (status changes)."""


class Pause(BaseModel):
    """Time a clock did not count: pending on the customer, resolved before a reopen, merged away."""

    start: datetime
    stop: datetime
    why: PauseReason


class Segment(BaseModel):
    """One measured duration: from its start to its stop anchor, less its pauses."""

    start: Anchor
    stop: Anchor | None = None
    """None: the clock still runs."""
    pauses: list[Pause] = Field(default_factory=list)
    calendar_seconds: float | None = None
    """Elapsed wall-clock seconds less the pauses (None while running or when not counted)."""
    business_seconds: float | None = None
    """Open seconds of the ticket's calendar, less the pauses' open seconds."""
    agent: str | None = None
    """Whose work it measures (handle time, replies): the replying agent."""
    day: date | None = None
    """The local date (reports' time zone) it counts on: the day of its stop."""
    counted: bool = True
    """False: the clock stopped without a value (say, resolved before any reply): no figure."""


class DurationMeasure(BaseModel):
    name: DurationName
    segments: list[Segment] = Field(default_factory=list)


class Happening(BaseModel):
    """Something counted once, on its local day, hour and weekday (volume, escalations, messages)."""

    name: HappeningName
    at: datetime
    day: date
    hour: int
    weekday: int
    """0 = Monday."""
    detail: str | None = None
    """The escalation level, the automatic message's kind, the rating."""
    agent: str | None = None


class SlaOutcome(BaseModel):
    target: TargetName
    outcome: SlaOutcomeName
    breached_at: datetime | None = None


class Span(BaseModel):
    """A time the ticket was open (new, open, pending, on hold): the backlog counts it."""

    start: datetime
    stop: datetime | None = None


class NextIssue(BaseModel):
    """Whether the customer came back with a new ticket within the window after the last resolution."""

    resolved_at: datetime
    window_ends: datetime
    next_ticket_id: str | None = None
    next_created_at: datetime | None = None


class Outcomes(BaseModel):
    """Per-ticket facts of its final resolution, counted on `resolved_day`."""

    resolved: bool = False
    """Resolved or closed now (not merged away)."""
    resolved_day: date | None = None
    first_resolved_day: date | None = None
    agent_replies: int = 0
    one_touch: bool = False
    first_contact_resolution: bool = False
    reopened: bool = False
    """Reopened at least once (reopen rate counts on the first resolution's day)."""
    csat_rating: int | None = None
    """The latest rating the customer gave."""
    next_issue: NextIssue | None = None


class TicketFacts(BaseModel):
    """The dimensions reports group and filter by, as the ticket has them now."""

    channel: str
    team: str | None = None
    agent: str | None = None
    """The assignee (replies and handle time count for the replying agent instead)."""
    inbox: str | None = None
    tags: list[str] = Field(default_factory=list)
    customer_tier: str | None = None
    priority: str = "normal"


class MetricLedger(BaseModel):
    """Everything one ticket contributes to reports, explainable down to its events and messages."""

    ticket_id: str
    number: int
    version: int
    """The ticket version it was computed from (aggregates replace a ledger by a newer one only)."""
    timezone: str
    """The reports' time zone its days, hours and weekdays are local to."""
    calendar: str
    """The calendar its business seconds count in."""
    created_day: date
    merged_into: str | None = None
    """Merged away: it counts as created and merged only; its conversation counts on the other ticket."""
    facts: TicketFacts
    durations: list[DurationMeasure] = Field(default_factory=list)
    happenings: list[Happening] = Field(default_factory=list)
    sla: list[SlaOutcome] = Field(default_factory=list)
    """Per target of its SLA, counted on `created_day`."""
    outcomes: Outcomes = Field(default_factory=Outcomes)
    open_spans: list[Span] = Field(default_factory=list)

    def duration(self, name: DurationName) -> DurationMeasure:
        return next((d for d in self.durations if d.name == name), DurationMeasure(name=name))
