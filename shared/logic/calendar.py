"""Business-hours calendars: open intervals in a time zone, split shifts, overnight shifts, holidays.

Pure functions over aware datetimes. All results are UTC. Local wall-clock intervals are turned
into UTC per day, so DST changes shift them correctly (a 09:00-17:00 day stays 8 hours on a
normal day and keeps its wall-clock times across the change).
"""

from __future__ import annotations

from collections.abc import Container, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_SCAN_DAYS = 800
"""How far ahead an open interval is searched for (a calendar closed longer is treated as never open)."""


class CalendarError(ValueError):
    """A calendar that cannot be built (unknown zone, bad interval)."""


def parse_interval(text: str) -> tuple[time, time]:
    """`"09:00-17:00"` -> (09:00, 17:00); an end at or before the start runs past midnight."""
    try:
        start_text, end_text = (part.strip() for part in text.split("-", 1))
        start, end = time.fromisoformat(start_text), time.fromisoformat(end_text)
    except ValueError as exc:
        raise CalendarError(f"interval {text!r} is not HH:MM-HH:MM") from exc
    if start.tzinfo is not None or end.tzinfo is not None:
        # the calendar's `timezone` says where its hours are; an offset here would make every
        # later comparison of local times fail
        raise CalendarError(f"interval {text!r} has a UTC offset: give the calendar a timezone instead")
    if start == end and start_text != "00:00":
        raise CalendarError(f"interval {text!r} is empty")
    return start, end


@cache
def country_holidays(country: str, subdivision: str | None = None) -> Container[date]:
    """A country's (and subdivision's) public holidays of any year: each year is loaded the first
    time one of its dates is looked up, so a replayed past or a due time after New Year counts too."""
    import holidays as holiday_data

    try:
        return holiday_data.country_holidays(country, subdiv=subdivision)
    except NotImplementedError as exc:
        raise CalendarError(f"no public holidays known for {country!r}") from exc


@dataclass(frozen=True)
class Calendar:
    """Open hours per weekday (0 = Monday) in `timezone`, minus holidays (local dates): the listed
    ones and, with `holiday_country`, that country's public holidays of the year being looked at."""

    timezone: str
    weekly: dict[int, tuple[tuple[time, time], ...]] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()
    always_open: bool = False
    holiday_country: str | None = None
    holiday_subdivision: str | None = None

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except Exception as exc:
            raise CalendarError(f"unknown time zone {self.timezone!r}") from exc

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_holiday(self, day: date) -> bool:
        """Whether local date `day` is a listed holiday or a public holiday of the calendar's country."""
        if day in self.holidays:
            return True
        return self.holiday_country is not None and day in country_holidays(
            self.holiday_country, self.holiday_subdivision
        )

    def _day_intervals(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        """The open intervals that start on local date `day`, in UTC."""
        if self.is_holiday(day):
            return
        zone = self.zone
        for start, end in self.weekly.get(day.weekday(), ()):
            local_start = datetime.combine(day, start, tzinfo=zone)
            end_day = day if end > start else day + timedelta(days=1)
            local_end = datetime.combine(end_day, end, tzinfo=zone)
            utc_start, utc_end = local_start.astimezone(UTC), local_end.astimezone(UTC)
            if utc_end > utc_start:
                yield utc_start, utc_end

    def intervals(self, start: datetime, end: datetime | None = None) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals overlapping [start, end) in time order, clipped to it (end None: unbounded)."""
        start = start.astimezone(UTC)
        if self.always_open:
            yield start, end.astimezone(UTC) if end else datetime.max.replace(tzinfo=UTC)
            return
        day = start.astimezone(self.zone).date() - timedelta(days=1)
        last = (
            (end.astimezone(self.zone).date() + timedelta(days=1)) if end else day + timedelta(MAX_SCAN_DAYS)
        )
        while day <= last:
            for lo, hi in sorted(self._day_intervals(day)):
                if hi <= start or (end is not None and lo >= end):
                    continue
                yield max(lo, start), min(hi, end) if end is not None else hi
            day += timedelta(days=1)

    def is_open(self, at: datetime) -> bool:
        at = at.astimezone(UTC)
        return any(lo <= at < hi for lo, hi in self.intervals(at, at + timedelta(microseconds=1)))

    def next_open(self, at: datetime) -> datetime | None:
        """`at` if open then, else the start of the next open interval (None if none within ~2 years)."""
        for lo, _ in self.intervals(at):
            return lo
        return None

    def add_business_time(self, start: datetime, duration: timedelta) -> datetime | None:
        """The moment `duration` of open time has passed after `start` (None if the calendar never opens)."""
        remaining = duration
        if remaining <= timedelta(0):
            return start.astimezone(UTC)
        for lo, hi in self.intervals(start):
            span = hi - lo
            if span >= remaining:
                return lo + remaining
            remaining -= span
        return None

    def business_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Open time between two moments (zero when end is before start)."""
        if end <= start:
            return timedelta(0)
        return sum((hi - lo for lo, hi in self.intervals(start, end)), timedelta(0))


def build_calendar(
    timezone: str,
    hours: dict[str, list[str]] | None = None,
    holidays: list[date] | None = None,
    holiday_country: str | None = None,
    holiday_subdivision: str | None = None,
) -> Calendar:
    """A Calendar from config values; `holiday_country` adds that country's public holidays, of
    whichever year a date falls in."""
    weekly: dict[int, tuple[tuple[time, time], ...]] = {}
    for name, intervals in (hours or {}).items():
        key = name.strip().lower()[:3]
        if key not in WEEKDAYS:
            raise CalendarError(f"unknown weekday {name!r}")
        weekly[WEEKDAYS.index(key)] = tuple(parse_interval(i) for i in intervals)
    if holiday_country:
        country_holidays(holiday_country, holiday_subdivision)  # an unknown country fails here, not later
    return Calendar(
        timezone=timezone,
        weekly=weekly,
        holidays=frozenset(holidays or []),
        always_open=hours is None,
        holiday_country=holiday_country or None,
        holiday_subdivision=holiday_subdivision if holiday_country else None,
    )
