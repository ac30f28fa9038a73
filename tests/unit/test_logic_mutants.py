"""Tests that notice a change in the pure logic: each pins a boundary, a branch or a returned field
that mutation testing (`make mutation`, docs/testing.md) showed no other test exercised."""

from __future__ import annotations

import time as time_module
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

import pytest

from shared.logic.calendar import MAX_SCAN_DAYS, Calendar, CalendarError, build_calendar, parse_interval

WEEKDAYS_9_17 = {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
MONDAY = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday, before any DST change of the year


def at(day_offset: int, hour: int, minute: int = 0) -> datetime:
    """A UTC moment `day_offset` days after Monday 2026-03-02."""
    return MONDAY + timedelta(days=day_offset, hours=hour, minutes=minute)


@pytest.fixture
def host_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Switches the host's local time zone (TZ) for a test, as a developer machine may have it."""

    def switch(zone: str) -> None:
        monkeypatch.setenv("TZ", zone)
        time_module.tzset()

    yield switch
    monkeypatch.undo()
    time_module.tzset()


# -- calendar -----------------------------------------------------------------------------------


def test_a_midnight_to_midnight_interval_is_a_whole_open_day():
    assert parse_interval("00:00-00:00") == (time(0), time(0))
    calendar = build_calendar("UTC", {"mon": ["00:00-00:00"]})

    assert calendar.business_time_between(at(0, 0), at(1, 0)) == timedelta(hours=24)
    assert calendar.is_open(at(0, 23, 59))
    assert not calendar.is_open(at(1, 0))


def test_a_deadline_landing_exactly_at_closing_time_is_at_closing_time():
    calendar = build_calendar("UTC", WEEKDAYS_9_17)

    assert calendar.add_business_time(at(0, 9), timedelta(hours=8)) == at(0, 17)
    assert calendar.add_business_time(at(0, 9), timedelta(hours=8, seconds=1)) == at(1, 9, 0) + timedelta(
        seconds=1
    )


def test_zero_business_time_after_a_closed_moment_is_that_moment():
    calendar = build_calendar("UTC", WEEKDAYS_9_17)

    assert calendar.add_business_time(at(0, 20), timedelta(0)) == at(0, 20)
    assert calendar.add_business_time(at(0, 20), timedelta(seconds=-5)) == at(0, 20)


def test_next_open_at_closing_time_is_the_next_opening():
    calendar = build_calendar("UTC", WEEKDAYS_9_17)

    assert calendar.next_open(at(0, 17)) == at(1, 9)
    assert calendar.next_open(at(0, 16, 59)) == at(0, 16, 59)


def test_intervals_end_where_the_window_ends_and_skip_one_opening_there():
    calendar = build_calendar("UTC", WEEKDAYS_9_17)

    assert list(calendar.intervals(at(0, 8), at(0, 9))) == []
    assert list(calendar.intervals(at(0, 17), at(0, 18))) == []
    assert list(calendar.intervals(at(0, 8), at(1, 10))) == [(at(0, 9), at(0, 17)), (at(1, 9), at(1, 10))]


def test_a_calendar_closed_for_the_whole_scan_window_never_opens_and_the_last_day_still_counts():
    start = at(0, 12)
    every_day = {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    first_scanned = start.date() - timedelta(days=1)
    closed = [first_scanned + timedelta(days=n) for n in range(MAX_SCAN_DAYS)]
    last_day = first_scanned + timedelta(days=MAX_SCAN_DAYS)

    opens_on_last_day = build_calendar("UTC", every_day, holidays=closed)
    never = build_calendar("UTC", every_day, holidays=[*closed, last_day])

    assert opens_on_last_day.next_open(start) == datetime.combine(last_day, time(9), tzinfo=UTC)
    assert never.next_open(start) is None
    assert never.add_business_time(start, timedelta(minutes=1)) is None


def test_full_weekday_names_are_accepted_and_unknown_ones_refused():
    calendar = build_calendar("UTC", {"Monday": ["09:00-17:00"], " TUESDAY ": ["10:00-11:00"]})

    assert calendar.weekly == {0: ((time(9), time(17)),), 1: ((time(10), time(11)),)}
    with pytest.raises(CalendarError, match="Mo"):
        build_calendar("UTC", {"Mo": ["09:00-17:00"]})


def test_without_hours_a_calendar_is_always_open_and_with_hours_only_then():
    always = build_calendar("UTC")
    office = build_calendar("UTC", WEEKDAYS_9_17)

    assert always.always_open is True
    assert always.is_open(at(5, 3))
    assert office.always_open is False
    assert office.is_open(at(0, 10))
    assert not office.is_open(at(5, 10))


def test_explicit_holidays_are_kept_when_a_country_is_set():
    calendar = build_calendar(
        "Europe/Berlin",
        WEEKDAYS_9_17,
        holidays=[date(2026, 3, 2)],
        holiday_country="DE",
        years=range(2026, 2027),
    )

    assert date(2026, 3, 2) in calendar.holidays  # ours
    assert date(2026, 12, 25) in calendar.holidays  # the country's
    assert not calendar.is_open(at(0, 10))


def test_regional_holidays_come_from_the_subdivision():
    bavaria = build_calendar(
        "Europe/Berlin",
        WEEKDAYS_9_17,
        holiday_country="DE",
        holiday_subdivision="BY",
        years=range(2026, 2027),
    )
    germany = build_calendar("Europe/Berlin", WEEKDAYS_9_17, holiday_country="DE", years=range(2026, 2027))

    assert date(2026, 1, 6) in bavaria.holidays  # Epiphany: Bavaria only
    assert date(2026, 1, 6) not in germany.holidays


def test_country_holidays_span_last_year_to_two_years_ahead_by_default():
    year = datetime.now(UTC).year

    calendar = build_calendar("Europe/Berlin", WEEKDAYS_9_17, holiday_country="DE")

    christmases = {y: date(y, 12, 25) in calendar.holidays for y in range(year - 2, year + 4)}
    assert christmases == {
        year - 2: False,
        year - 1: True,
        year: True,
        year + 1: True,
        year + 2: True,
        year + 3: False,
    }


def test_an_unknown_holiday_country_names_the_country():
    with pytest.raises(CalendarError, match="'ZZ'"):
        build_calendar("UTC", WEEKDAYS_9_17, holiday_country="ZZ")


@pytest.mark.parametrize("host", ["Pacific/Kiritimati", "Etc/GMT+12", "Asia/Tokyo"])
@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Etc/GMT+12", "America/Los_Angeles", "UTC"])
def test_results_are_utc_and_do_not_depend_on_the_hosts_time_zone(host_zone, host: str, zone: str):
    # A shift that runs past midnight into the next day, so that the day an interval starts on
    # matters; always_open covers the unbounded path.
    weekly = {d: ["12:00-11:59"] for d in ("mon", "wed")}
    calendars = [build_calendar(zone, weekly), Calendar(timezone=zone, always_open=True)]
    moments = [at(0, h) for h in range(0, 72, 5)]

    def observe() -> list[object]:
        seen: list[object] = []
        for calendar in calendars:
            for moment in moments:
                seen.append(calendar.is_open(moment))
                seen.append(calendar.next_open(moment))
                seen.append(calendar.add_business_time(moment, timedelta(hours=30)))
                seen.append(calendar.add_business_time(moment, timedelta(0)))
                seen.append(calendar.business_time_between(moment, moment + timedelta(hours=20)))
                seen.extend(calendar.intervals(moment, moment + timedelta(hours=40)))
        return seen

    host_zone("UTC")
    expected = observe()
    host_zone(host)
    observed = observe()

    assert observed == expected
    for value in observed:
        moments_in = value if isinstance(value, tuple) else (value,)
        for moment in moments_in:
            if isinstance(moment, datetime):
                assert moment.utcoffset() == timedelta(0)
