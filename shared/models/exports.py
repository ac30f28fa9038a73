"""The row-per-ticket export of the reports API and its jobs (docs/reports.md, "Ticket export and
drill-down"; decision 102): one row per ticket created in the period, with the figures its metric
ledger gives, and the asynchronous export of any number of rows to S3."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.models.metrics import DurationName, Segment

EXPORT_MEASURES: tuple[DurationName, ...] = (
    "first_response",
    "next_response",
    "first_resolution",
    "full_resolution",
    "handle",
)
EXPORT_TARGETS = ("first_response", "next_response", "periodic_update", "resolution")


class MeasureSeconds(BaseModel):
    """One measure of one ticket: the sum of its counted segments (None: no segment counted yet)."""

    calendar: float | None = None
    business: float | None = None
    segments: int = 0
    """Counted segments (next response and handle time may have several)."""


class TicketRow(BaseModel):
    """One ticket of an export: its dimensions as the report figures count them (the ledger's facts),
    its times in the reporting time zone, its measures and outcomes."""

    number: int
    ticket_id: str
    channel: str
    team: str | None = None
    agent: str | None = None
    inbox: str | None = None
    priority: str
    tags: list[str] = Field(default_factory=list)
    tier: str | None = None
    status: str
    created_at: datetime
    """In the reporting time zone (with its offset)."""
    created_day: date
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    """The latest resolution, if the ticket is resolved or closed now."""
    measured: bool = True
    """False: the ticket's ledger is not stored yet (the stream is behind): no measure or outcome."""
    measures: dict[str, MeasureSeconds] = Field(default_factory=dict)
    sla: dict[str, str] = Field(default_factory=dict)
    """Per target of its SLA: met, breached or open."""
    reopens: int = 0
    agent_replies: int = 0
    first_contact_resolution: bool = False
    satisfaction: int | None = None
    """The latest rating (1 to 5)."""
    merged_into: str | None = None
    segments: dict[str, list[Segment]] | None = None
    """With `segments=true` only: every measure's segments (start, stop, pauses, day counted on)."""


class TicketRows(BaseModel):
    """`GET /reports/tickets`: the tickets created from `from` to `to` that the caller may read."""

    model_config = ConfigDict(populate_by_name=True)

    timezone: str
    from_: date = Field(alias="from")
    to: date
    filter: str | None = None
    numbers: tuple[int, int] | None = None
    """The ticket numbers walked (None: no ticket in the period)."""
    count: int
    rows: list[TicketRow]


ExportStatus = Literal["queued", "running", "done", "failed"]


class ExportRequest(BaseModel):
    """`POST /reports/exports`: the period and the filter of the export."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    from_: date = Field(alias="from", description="The first local day, YYYY-MM-DD")
    to: date = Field(description="The last local day, YYYY-MM-DD")
    filter: str | None = Field(
        default=None,
        min_length=3,
        max_length=200,
        pattern=r"^(team|agent|channel|inbox|tag|tier|priority):.+$",
        description="One dimension's value the rows are limited to (`team:support`)",
    )


class ExportPart(BaseModel):
    """One CSV object of a finished export (each with the header), in order."""

    key: str
    rows: int
    last_number: int
    """The last ticket number the part holds (a retried worker walks on from the next)."""


class ExportJob(BaseModel):
    """An export job as stored: who asked what, and how far it got."""

    id: str
    requested_by: str
    role: str
    teams: list[str] = Field(default_factory=list)
    """The caller's teams when asked (a supervisor's rows are limited to them)."""
    request: ExportRequest
    digest: str
    """What was asked (a retry under the same Idempotency-Key must ask the same)."""
    status: ExportStatus = "queued"
    created_at: datetime
    updated_at: datetime
    numbers: tuple[int, int] | None = None
    """The ticket numbers the worker walks, fixed on its first run (a retry walks the same)."""
    parts: list[ExportPart] = Field(default_factory=list)
    """The parts written so far (a retried worker goes on after the last)."""
    rows: int = 0
    rev: int = 0
    """Every save adds one, conditionally on the one read: two runs of a job never both go on."""
    attempts: int = 0
    """Runs of the worker so far (the last one allowed marks the job failed if it fails)."""
    reason: str | None = None
    """Why it failed."""


class ExportLink(BaseModel):
    url: str
    rows: int


class ExportAnswer(BaseModel):
    """`POST /reports/exports` and `GET /reports/exports/{id}`: the job's state, and once done a
    pre-signed GET link per part (valid `expires_in` seconds)."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    status: ExportStatus
    from_: date = Field(alias="from")
    to: date
    filter: str | None = None
    requested_by: str
    created_at: datetime
    updated_at: datetime
    rows: int = 0
    links: list[ExportLink] = Field(default_factory=list)
    expires_in: int | None = None
    reason: str | None = None
