"""Keeping inbound input we cannot turn into a ticket, with the reason, so nothing is lost."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from shared.dal.base import DuplicateError
from shared.dal.pointers import Pointer
from shared.dal.quarantine import QuarantineWrites
from shared.ids import new_id
from shared.logic.bounds import clip, repair
from shared.models.ticket import Channel, QuarantineEntry
from shared.observability import logger, metrics

QUARANTINED_METRIC = "InputQuarantined"
"""The metric every new quarantine entry adds 1 to; the template's QuarantineAlarm watches it."""
MAX_INLINE_RAW_BYTES = 100_000
"""Raw input kept on the quarantine entry itself (UTF-8 bytes); longer input is kept whole in parts."""
RAW_PART_BYTES = 300_000
"""Size of one stored part of a long raw input (a DynamoDB item holds at most 400 KB)."""
MAX_RAW_PARTS = 11
"""Parts written with the entry in one transaction (4 MB at most): 3.3 MB, more than a webhook body."""


def split_raw(raw: str) -> tuple[list[str], bool]:
    """`raw` cut into parts of at most RAW_PART_BYTES, between characters; True when it had to be cut
    short because it is longer than MAX_RAW_PARTS parts."""
    parts: list[str] = []
    rest = raw
    while rest and len(parts) < MAX_RAW_PARTS:
        part = clip(rest, RAW_PART_BYTES)
        parts.append(part)
        rest = rest[len(part) :]
    return parts, bool(rest)


def quarantine_input(
    repository: QuarantineWrites,
    *,
    channel: Channel,
    reason: str,
    ref: str,
    at: datetime,
    raw: str | None,
    dedupe_key: str,
    details: dict[str, Any] | None = None,
    raw_key: str | None = None,
    inbound_key: str | None = None,
) -> bool:
    """Record a quarantine entry holding the raw input, once per key.

    The raw input is kept whole: on the entry when short, else its first 100,000 bytes on the entry
    (`raw_truncated`) and all of it in parts (`raw_parts`, read back with
    `repository.quarantined_raw`; `raw_complete` is False only past MAX_RAW_PARTS parts). `raw_key`
    names a copy kept in S3 instead. With `inbound_key` the entry takes the input's own dedupe key
    (`inbound` pointer), so a redelivery of that input is recognised as a duplicate.

    Returns False when the same input was quarantined before.
    """
    kept: dict[str, Any] = {}
    parts: list[str] = []
    if raw is not None:
        text = repair(raw)
        inline = clip(text, MAX_INLINE_RAW_BYTES)
        kept.update({"raw": inline, "raw_truncated": inline != text})
        if inline != text:
            parts, cut = split_raw(text)
            kept.update({"raw_parts": len(parts), "raw_complete": not cut})
        if text != raw:
            kept["raw_repaired"] = True
    entry = QuarantineEntry(
        id=new_id("qtn", at),
        reason=reason,
        at=at,
        ref=clip(repair(ref), 1_000),
        channel=channel,
        raw_key=raw_key,
        details={**(details or {}), **kept},
    )
    pointer = Pointer("inbound", inbound_key or f"quarantine#{dedupe_key}")
    try:
        repository.quarantine(entry, pointer, parts)
    except DuplicateError:
        return False
    # every new entry is counted: the quarantine alarm (template.yaml) tells a person to look
    metrics.add_metric(name=QUARANTINED_METRIC, unit=MetricUnit.Count, value=1)
    logger.warning("input quarantined", quarantine_id=entry.id, reason=reason, channel=channel.value)
    return True
