"""Team queues: tickets waiting for an agent, one partition per team, most urgent and longest
waiting first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared import clock


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
