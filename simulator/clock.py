"""Simulated time: the clock the functions read, and the schedules that fire as it moves.

Schedule expressions follow EventBridge (rules and Scheduler): `rate(5 minutes)`, six-field
`cron(minutes hours day-of-month month day-of-week year)`, and Scheduler's one-time `at(...)`.
Anything the simulator cannot evaluate is refused with a ScheduleError naming the expression.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared import clock as shared_clock
from simulator.resources import FunctionSpec, Trigger


class ScheduleError(ValueError):
    """A schedule expression or setting the simulator cannot evaluate."""


class SimClock:
    """The simulation's "now"; installed as the application's clock while a simulation runs."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the simulated clock needs an aware start time")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        """Move to `moment`; time never goes backwards."""
        moment = moment.astimezone(UTC)
        if moment < self._now:
            raise ValueError(f"the clock cannot go back from {self._now.isoformat()} to {moment.isoformat()}")
        self._now = moment

    def install(self) -> None:
        shared_clock.set_clock(self.now)

    def uninstall(self) -> None:
        shared_clock.set_clock(None)


class Expression(Protocol):
    @property
    def text(self) -> str: ...

    def next_after(self, moment: datetime) -> datetime | None:
        """The first firing time strictly after `moment` (aware UTC), or None when there is none."""


_RATE = re.compile(r"^rate\(\s*(\d+)\s+([a-z]+)\s*\)$")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class Rate:
    """`rate(n unit)`: every n units, counted from the anchor (when the schedule was created)."""

    text: str
    period: timedelta
    anchor: datetime

    def next_after(self, moment: datetime) -> datetime:
        if moment < self.anchor:
            return self.anchor + self.period
        elapsed = (moment - self.anchor) // self.period
        return self.anchor + (elapsed + 1) * self.period


def parse_rate(text: str, anchor: datetime) -> Rate:
    match = _RATE.match(text.strip())
    if not match:
        raise ScheduleError(f"{text!r}: a rate is written rate(<n> <minute(s)|hour(s)|day(s)>)")
    value, unit = int(match.group(1)), match.group(2)
    singular = unit.removesuffix("s")
    if singular not in _UNITS:
        raise ScheduleError(f"{text!r}: unknown rate unit {unit!r} (minute(s), hour(s) or day(s))")
    if value < 1:
        raise ScheduleError(f"{text!r}: the rate value must be a positive integer")
    if (value == 1) != (unit == singular):
        expected = singular if value == 1 else f"{singular}s"
        raise ScheduleError(f"{text!r}: AWS requires the unit {expected!r} for the value {value}")
    return Rate(text=text, period=timedelta(seconds=value * _UNITS[singular]), anchor=anchor)


_MONTHS = {
    name: i
    for i, name in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1
    )
}
_WEEKDAYS = {name: i for i, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}


def parse_cron_field(
    text: str, low: int, high: int, label: str, names: dict[str, int] | None = None
) -> frozenset[int]:
    """One cron field (`*`, `5`, `1-5`, `*/15`, `10/5`, `MON-FRI`, `1,3,5`) as the set of values it allows."""

    def value(token: str) -> int:
        upper = token.upper()
        if names and upper in names:
            return names[upper]
        if not token.isdigit():
            if re.search(r"[LW#]", upper):
                raise ScheduleError(
                    f"cron {label} field: {token!r} uses L, W or #, which the simulator does not support"
                )
            raise ScheduleError(f"cron {label} field: {token!r} is not a value between {low} and {high}")
        number = int(token)
        if not low <= number <= high:
            raise ScheduleError(f"cron {label} field: {number} is outside {low}-{high}")
        return number

    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise ScheduleError(f"cron {label} field: empty item in {text!r}")
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ScheduleError(f"cron {label} field: bad step {step_text!r} in {part!r}")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = value(first), value(last)
            if start > end:
                raise ScheduleError(f"cron {label} field: range {base!r} runs backwards")
        else:
            start = value(base)
            end = high if step_text else start
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    """`cron(minutes hours day-of-month month day-of-week year)`, evaluated in `zone`."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int] | None
    """None: any day of the month (`*` or `?`)."""
    months: frozenset[int]
    days_of_week: frozenset[int] | None
    """AWS numbering, 1 = Sunday ... 7 = Saturday; None: any day of the week."""
    years: frozenset[int] | None
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))

    def _day_matches(self, day: date) -> bool:
        if day.month not in self.months or (self.years is not None and day.year not in self.years):
            return False
        if self.days_of_month is not None and day.day not in self.days_of_month:
            return False
        aws_weekday = (day.weekday() + 1) % 7 + 1
        return self.days_of_week is None or aws_weekday in self.days_of_week

    def next_after(self, moment: datetime) -> datetime | None:
        local = moment.astimezone(self.zone)
        day = local.date()
        last_day = date(min(max(self.years) if self.years else day.year + 5, 9998), 12, 31)
        while day <= last_day:
            if self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        wall = datetime.combine(day, time(hour, minute), tzinfo=self.zone)
                        utc = wall.astimezone(UTC)
                        if utc.astimezone(self.zone).replace(tzinfo=None) != wall.replace(tzinfo=None):
                            continue  # a wall time skipped by a daylight-saving change
                        if utc > moment:
                            return utc
            day += timedelta(days=1)
        return None


def parse_cron(text: str, zone: ZoneInfo) -> Cron:
    inner = text.strip()
    if not (inner.startswith("cron(") and inner.endswith(")")):
        raise ScheduleError(f"{text!r}: a cron expression is written cron(<6 fields>)")
    fields = inner[5:-1].split()
    if len(fields) != 6:
        raise ScheduleError(
            f"{text!r}: AWS cron has 6 fields (minutes hours day-of-month month day-of-week year), "
            f"got {len(fields)}"
        )
    minutes, hours, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise ScheduleError(f"{text!r}: exactly one of day-of-month and day-of-week must be '?'")
    try:
        return Cron(
            text=text,
            minutes=parse_cron_field(minutes, 0, 59, "minutes"),
            hours=parse_cron_field(hours, 0, 23, "hours"),
            days_of_month=None if dom in {"?", "*"} else parse_cron_field(dom, 1, 31, "day-of-month"),
            months=parse_cron_field(month, 1, 12, "month", _MONTHS),
            days_of_week=None if dow in {"?", "*"} else parse_cron_field(dow, 1, 7, "day-of-week", _WEEKDAYS),
            years=None if year == "*" else parse_cron_field(year, 1970, 2199, "year"),
            zone=zone,
        )
    except ScheduleError as exc:
        raise ScheduleError(f"{text!r}: {exc}") from None


@dataclass(frozen=True)
class At:
    """Scheduler's one-time `at(yyyy-mm-ddThh:mm:ss)`, in the schedule's zone."""

    text: str
    when: datetime

    def next_after(self, moment: datetime) -> datetime | None:
        return self.when if self.when > moment else None


def parse_expression(text: str, anchor: datetime, zone: str = "UTC") -> Expression:
    """Parse a schedule expression; rates count from `anchor`, cron and at() use `zone`."""
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone {zone!r}") from None
    stripped = text.strip()
    if stripped.startswith("rate("):
        return parse_rate(stripped, anchor)
    if stripped.startswith("cron("):
        return parse_cron(stripped, tz)
    if stripped.startswith("at(") and stripped.endswith(")"):
        try:
            wall = datetime.fromisoformat(stripped[3:-1].strip())
        except ValueError:
            raise ScheduleError(f"{text!r}: at() takes yyyy-mm-ddThh:mm:ss") from None
        if wall.tzinfo is not None:
            raise ScheduleError(
                f"{text!r}: at() takes a local time without zone (see ScheduleExpressionTimezone)"
            )
        return At(text=text, when=wall.replace(tzinfo=tz).astimezone(UTC))
    raise ScheduleError(f"{text!r}: not a schedule expression (rate(...), cron(...) or at(...))")


def _parse_date(value: Any, label: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise ScheduleError(f"{label} {value!r} is not an ISO 8601 timestamp") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


@dataclass
class ScheduledTrigger:
    """A function's Schedule (EventBridge rule) or ScheduleV2 (EventBridge Scheduler) event."""

    function: FunctionSpec
    trigger: Trigger
    kind: Literal["Schedule", "ScheduleV2"]
    expression: Expression
    start: datetime | None = None
    end: datetime | None = None
    next_fire: datetime | None = None
    min_gap: timedelta | None = None
    """Fire at most this often (`--schedule-every`): the schedule's next time at least this long
    after the last firing."""

    @property
    def label(self) -> str:
        return f"{self.function.logical_id}.{self.trigger.name}"

    def advance(self, after: datetime, fired: bool = False) -> None:
        moment = after
        if fired and self.min_gap is not None:
            moment = after + self.min_gap - timedelta(microseconds=1)
        if self.start is not None and moment < self.start:
            moment = self.start - timedelta(microseconds=1)
        upcoming = self.expression.next_after(moment)
        if upcoming is not None and self.end is not None and upcoming > self.end:
            upcoming = None
        self.next_fire = upcoming


def scheduled_trigger(function: FunctionSpec, trigger: Trigger, anchor: datetime) -> ScheduledTrigger | None:
    """The schedule of one trigger (None when it is disabled); ScheduleError for what cannot run."""
    props = trigger.properties
    where = f"{function.logical_id} event {trigger.name}"
    if trigger.type == "Schedule":
        if props.get("Enabled") is False or str(props.get("State", "ENABLED")).upper() == "DISABLED":
            return None
        for unsupported in ("InputPath", "InputTransformer"):
            if unsupported in props:
                raise ScheduleError(f"{where}: {unsupported} is not supported by the simulator (use Input)")
        text = props.get("Schedule")
        zone = "UTC"
        start = end = None
    else:
        if str(props.get("State", "ENABLED")).upper() == "DISABLED":
            return None
        text = props.get("ScheduleExpression")
        zone = str(props.get("ScheduleExpressionTimezone") or "UTC")
        start = _parse_date(props.get("StartDate"), f"{where}: StartDate")
        end = _parse_date(props.get("EndDate"), f"{where}: EndDate")
    if not isinstance(text, str):
        raise ScheduleError(f"{where}: no schedule expression")
    try:
        expression = parse_expression(text, anchor, zone)
    except ScheduleError as exc:
        raise ScheduleError(f"{where}: {exc}") from None
    kind: Literal["Schedule", "ScheduleV2"] = "Schedule" if trigger.type == "Schedule" else "ScheduleV2"
    entry = ScheduledTrigger(function, trigger, kind, expression, start=start, end=end)
    entry.advance(anchor)
    return entry


class Timetable:
    """Every scheduled trigger of a deployment; yields firings in time order as the clock moves."""

    def __init__(
        self, functions: dict[str, FunctionSpec], anchor: datetime, min_gap: timedelta | None = None
    ) -> None:
        self.entries: list[ScheduledTrigger] = []
        for function in functions.values():
            for trigger in function.triggers:
                if trigger.type in {"Schedule", "ScheduleV2"}:
                    entry = scheduled_trigger(function, trigger, anchor)
                    if entry is not None:
                        entry.min_gap = min_gap
                        self.entries.append(entry)

    def due(self, until: datetime) -> Iterator[tuple[datetime, ScheduledTrigger]]:
        """Firings at or before `until`, earliest first (ties in template order)."""
        while True:
            pending = [e for e in self.entries if e.next_fire is not None and e.next_fire <= until]
            if not pending:
                return
            entry = min(pending, key=lambda e: e.next_fire or until)
            moment = entry.next_fire
            assert moment is not None
            entry.advance(moment, fired=True)
            yield moment, entry
