"""The one source of "now": real UTC time, or a simulated clock set by the local simulator."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

_override: Callable[[], datetime] | None = None


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    if _override is not None:
        return _override()
    return datetime.now(UTC)


def set_clock(source: Callable[[], datetime] | None) -> None:
    """Replace the clock (the simulator's simulated time); None restores real time."""
    global _override
    _override = source


def iso(value: datetime) -> str:
    """ISO 8601 in UTC with millisecond precision and a Z suffix; sorts lexically in time order."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_iso(value: str) -> datetime:
    """Parse an ISO 8601 timestamp (Z or offset) into an aware UTC datetime."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
