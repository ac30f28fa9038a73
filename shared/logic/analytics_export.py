"""Ticket events and metric ledgers as rows for Athena (docs/analytics.md; decisions 104, 105).

analytics_export turns each stream record of a batch into a row of one dataset (`events`,
`ledgers`, or `rejected` for a record that can never be read) and writes, per dataset and `dt`
partition, one gzip object of newline-delimited JSON whose key is made of the batch's first and
last sequence numbers: a batch delivered again writes the same objects with the same bytes.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel

from shared.clock import iso
from shared.logic.metrics.contributions import contributions
from shared.models.analytics import (
    Dataset,
    EventChange,
    EventRow,
    ExportObject,
    LedgerChange,
    LedgerRow,
    MeasureRow,
    RejectedRow,
)

SEQUENCE_DIGITS = 40
"""The longest sequence number DynamoDB Streams gives: padded to it, they sort as text."""


def padded(sequence: str) -> str:
    return sequence.rjust(SEQUENCE_DIGITS, "0")


@dataclass(frozen=True)
class Placed:
    """A row, its dataset and its `dt` partition (a UTC date, YYYY-MM-DD)."""

    dataset: Dataset
    dt: str
    row: BaseModel


def event_row(change: EventChange) -> Placed:
    """The `events` row of a stored history event, in the partition of the day it happened."""
    event = change.event
    by = event.data.get("by")
    row = EventRow(
        event_id=f"{change.ticket_id}/{change.sort_key.removeprefix('EVENT#')}",
        ticket_id=change.ticket_id,
        type=event.type,
        at=iso(event.at),
        actor=by if isinstance(by, str) else None,
        data=json.dumps(event.data, sort_keys=True, default=str, ensure_ascii=False),
        sequence=padded(change.position.sequence),
        written_at=iso(change.position.written_at),
    )
    return Placed("events", row.at[:10], row)


def ledger_row(change: LedgerChange) -> Placed | None:
    """The `ledgers` row of a stored ledger (or of its removal), in the partition of the day it was
    written; None while an apply in several transactions is under way (the stored ledger is then
    still the previous one, already exported), or when the item holds no ledger yet."""
    if change.pending or (change.ledger is None and not change.removed):
        return None
    written_at = iso(change.position.written_at)
    row = LedgerRow(
        ticket_id=change.ticket_id,
        sequence=padded(change.position.sequence),
        written_at=written_at,
        rev=change.rev,
        removed=change.removed,
    )
    ledger = change.ledger
    if ledger is not None:
        facts = ledger.facts
        row = row.model_copy(
            update={
                "number": ledger.number,
                "version": ledger.version,
                "timezone": ledger.timezone,
                "calendar": ledger.calendar,
                "created_day": ledger.created_day,
                "merged_into": ledger.merged_into,
                "team": facts.team,
                "agent": facts.agent,
                "channel": facts.channel,
                "inbox": facts.inbox,
                "tags": list(facts.tags),
                "tier": facts.customer_tier,
                "priority": facts.priority,
                "measures": [
                    MeasureRow(
                        day=c.day,
                        metric=c.metric,
                        agent=c.agent,
                        calendar_seconds=c.calendar_seconds,
                        business_seconds=c.business_seconds,
                    )
                    for c in contributions(ledger)
                ],
            }
        )
    return Placed("ledgers", written_at[:10], row)


def rejected_row(record: str, reason: str, event_id: str | None, at: datetime) -> Placed:
    """A record that can never become a row, kept whole with the reason (it is alarmed on)."""
    row = RejectedRow(event_id=event_id, reason=reason[:1_000], record=record, written_at=iso(at))
    return Placed("rejected", row.written_at[:10], row)


def object_key(dataset: Dataset, dt: str, first_sequence: str, last_sequence: str) -> str:
    """`<dataset>/dt=<YYYY-MM-DD>/<first>-<last>.json.gz`: the batch's sequence numbers, padded."""
    return f"{dataset}/dt={dt}/{padded(first_sequence)}-{padded(last_sequence)}.json.gz"


def export_objects(placed: Iterable[Placed], first_sequence: str, last_sequence: str) -> list[ExportObject]:
    """One object per dataset and partition of the batch's rows (in the order given), gzip with no
    timestamp, so the same rows give the same bytes."""
    lines: dict[tuple[Dataset, str], list[str]] = {}
    for item in placed:
        lines.setdefault((item.dataset, item.dt), []).append(item.row.model_dump_json())
    return [
        ExportObject(
            key=object_key(dataset, dt, first_sequence, last_sequence),
            rows=len(texts),
            body=gzip.compress(("\n".join(texts) + "\n").encode("utf-8"), mtime=0),
        )
        for (dataset, dt), texts in sorted(lines.items())
    ]
