"""Team queues: tickets waiting for an agent, one partition per team, most urgent and longest
waiting first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared import clock
from shared.dal.items import QueueItem


@dataclass(frozen=True)
class QueueEntry:
    team: str
    ticket_id: str
    priority: str
    channel: str
    queued_at: datetime
    key: str


def queue_key(priority: str, queued_at: datetime, ticket_id: str) -> str:
    rank = {"urgent": 0, "high": 1, "normal": 2, "low": 3}.get(priority, 2)
    return f"{rank}#{clock.iso(queued_at)}#{ticket_id}"


def queue_item(entry: QueueEntry) -> QueueItem:
    return QueueItem(
        pk=f"QUEUE#{entry.team}",
        sk=entry.key,
        ticket_id=entry.ticket_id,
        team=entry.team,
        priority=entry.priority,
        channel=entry.channel,
        queued_at=clock.iso(entry.queued_at),
    )


def queue_entry_from_item(item: QueueItem) -> QueueEntry:
    return QueueEntry(
        team=item.team,
        ticket_id=item.ticket_id,
        priority=item.priority,
        channel=item.channel,
        queued_at=clock.parse_iso(item.queued_at),
        key=item.sk,
    )


def queued_key(entry: QueueEntry) -> QueueItem:
    """The key of an entry's item, for a delete."""
    return QueueItem(pk=f"QUEUE#{entry.team}", sk=entry.key)
