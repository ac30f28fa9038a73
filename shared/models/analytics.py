"""The rows analytics_export writes to the analytics bucket (docs/analytics.md; decisions 104, 105).

Each row is one line of newline-delimited JSON; the Glue tables of template.yaml declare the same
columns (`tests/unit/test_analytics_export.py` compares them), so Athena reads them as they are.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from shared.models.metrics import MetricLedger
from shared.models.ticket import TicketEvent

Dataset = Literal["events", "ledgers", "rejected"]
DATASETS: tuple[Dataset, ...] = ("events", "ledgers", "rejected")


class StreamPosition(BaseModel):
    """Where a stream record is: its sequence number and when DynamoDB wrote it."""

    sequence: str
    """The record's sequence number (digits; an item's changes come with increasing numbers)."""
    written_at: datetime


class EventChange(BaseModel):
    """A ticket history event stored (`TICKET#<id>` / `EVENT#...`, an INSERT)."""

    ticket_id: str
    sort_key: str
    event: TicketEvent
    position: StreamPosition


class LedgerChange(BaseModel):
    """A ticket's stored metric ledger written or removed (`TICKET#<id>` / `LEDGER`)."""

    ticket_id: str
    ledger: MetricLedger | None
    """None: no ledger stored (yet), or the item was removed."""
    removed: bool = False
    """The ledger item was removed (a rebuild from nothing starts by removing them)."""
    rev: int = 0
    pending: bool = False
    """An apply in several transactions is under way: `ledger` is still the previous one."""
    position: StreamPosition


class EventRow(BaseModel):
    """`events`: one per ticket history event; `dt` is the UTC date of `at`."""

    event_id: str
    """`<ticket id>/<the event's sort key without EVENT#>`: unique, the same in a redelivered batch."""
    ticket_id: str
    type: str
    at: str
    """ISO 8601 UTC with milliseconds (`2026-03-02T09:15:02.412Z`)."""
    actor: str | None = None
    """The agent who caused it (`data.by`), if any."""
    data: str
    """The event's data as a JSON object text (json_extract_scalar(data, '$.level'))."""
    sequence: str
    written_at: str


class MeasureRow(BaseModel):
    """One contribution of a ledger to the per-day aggregates (shared/logic/metrics/contributions.py)."""

    day: date
    """The local day (the ledger's `timezone`) it counts on."""
    metric: str
    agent: str | None = None
    """Replies and handle time: the replying agent (others count for the ticket's `agent`)."""
    calendar_seconds: float | None = None
    business_seconds: float | None = None


class LedgerRow(BaseModel):
    """`ledgers`: one per stored version of a ticket's metric ledger; `dt` is the UTC date it was
    written. A ticket's current ledger is its row with the greatest `sequence`."""

    ticket_id: str
    sequence: str
    """The stream record's sequence number, left-padded with zeros to 40 digits (sorts as text)."""
    written_at: str
    rev: int
    removed: bool = False
    """The ledger item was removed: the ticket counts nowhere until a newer row."""
    number: int | None = None
    version: int | None = None
    timezone: str | None = None
    calendar: str | None = None
    created_day: date | None = None
    merged_into: str | None = None
    team: str | None = None
    agent: str | None = None
    """The assignee."""
    channel: str | None = None
    inbox: str | None = None
    tags: list[str] = Field(default_factory=list)
    tier: str | None = None
    priority: str | None = None
    measures: list[MeasureRow] = Field(default_factory=list)


class RejectedRow(BaseModel):
    """`rejected`: a stream record that can never become a row, kept whole with the reason."""

    event_id: str | None = None
    reason: str
    record: str
    """The stream record as Lambda delivered it (JSON)."""
    written_at: str


class ExportObject(BaseModel):
    """One gzip object of newline-delimited JSON rows of one dataset and one `dt` partition."""

    key: str
    rows: int
    body: bytes
