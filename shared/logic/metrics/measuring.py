"""How a ticket is measured: the calendar its business time counts in and the zone its days are in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from shared.logic.calendar import Calendar
from shared.models.metrics import Anchor, Pause, Segment


@dataclass(frozen=True)
class Measuring:
    """The ticket's calendar (business time) and the reports' settings (days, next issue window)."""

    calendar: Calendar
    calendar_name: str
    timezone: str = "UTC"
    next_issue_days: float = 7

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def day(self, at: datetime) -> date:
        """The local date `at` counts on in the reports' time zone."""
        return at.astimezone(self.zone).date()

    def business_seconds(self, start: datetime, stop: datetime) -> float:
        return self.calendar.business_time_between(start, stop).total_seconds()

    def segment(
        self,
        start: Anchor,
        stop: Anchor | None,
        pauses: Sequence[Pause] = (),
        agent: str | None = None,
        counted: bool = True,
    ) -> Segment:
        """A segment with its calendar and business seconds (less its pauses) once stopped and counted."""
        if stop is None or not counted:
            return Segment(start=start, stop=stop, pauses=list(pauses), agent=agent, counted=counted)
        paused = sum((p.stop - p.start).total_seconds() for p in pauses)
        paused_business = sum(self.business_seconds(p.start, p.stop) for p in pauses)
        return Segment(
            start=start,
            stop=stop,
            pauses=list(pauses),
            calendar_seconds=max((stop.at - start.at).total_seconds() - paused, 0.0),
            business_seconds=max(self.business_seconds(start.at, stop.at) - paused_business, 0.0),
            agent=agent,
            day=self.day(stop.at),
        )
