"""Keeping inbound input we cannot turn into a ticket, with the reason, so nothing is lost."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.dal.repository import DuplicateError, Pointer, TicketRepository
from shared.ids import new_id
from shared.models.ticket import Channel, QuarantineEntry

MAX_KEPT_CHARS = 100_000


def quarantine_input(
    repository: TicketRepository,
    *,
    channel: Channel,
    reason: str,
    ref: str,
    at: datetime,
    raw: str,
    dedupe_key: str,
    details: dict[str, Any] | None = None,
) -> bool:
    """Record a quarantine entry holding the raw input (first 100,000 characters); once per key.

    Returns False when the same input was quarantined before.
    """
    entry = QuarantineEntry(
        id=new_id("qtn", at),
        reason=reason,
        at=at,
        ref=ref,
        channel=channel,
        details={**(details or {}), "raw": raw[:MAX_KEPT_CHARS], "raw_truncated": len(raw) > MAX_KEPT_CHARS},
    )
    try:
        repository.quarantine(entry, Pointer("inbound", f"quarantine#{dedupe_key}"))
    except DuplicateError:
        return False
    return True
