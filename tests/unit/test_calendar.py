"""Business-hours math: a table of cases across zones, DST, holidays, split and overnight shifts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from shared.logic.calendar import CalendarError, build_calendar

WEEKDAYS_9_17 = {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


BERLIN = build_calendar("Europe/Berlin", WEEKDAYS_9_17, holidays=[date(2026, 12, 25)])
NEW_YORK = build_calendar("America/New_York", WEEKDAYS_9_17)
SPLIT = build_calendar("UTC", {"mon": ["08:00-12:00", "13:00-17:00"]})
NIGHT = build_calendar("UTC", {"fri": ["22:00-06:00"]})
ALWAYS = build_calendar("UTC")


@pytest.mark.parametrize(
    ("calendar", "at", "expected"),
    [
        (BERLIN, "2026-03-02T08:00:00", True),  # Monday 09:00 in Berlin (UTC+1)
        (BERLIN, "2026-03-02T07:59:00", False),
        (BERLIN, "2026-03-02T16:00:00", False),  # 17:00 local: closed (end exclusive)
        (BERLIN, "2026-03-07T10:00:00", False),  # Saturday
        (BERLIN, "2026-12-25T10:00:00", False),  # holiday
        (SPLIT, "2026-03-02T12:30:00", False),  # lunch break
        (SPLIT, "2026-03-02T13:00:00", True),
        (NIGHT, "2026-03-07T03:00:00", True),  # Friday's shift runs into Saturday morning
        (NIGHT, "2026-03-07T06:00:00", False),
        (ALWAYS, "2026-03-08T03:00:00", True),
    ],
)
def test_is_open(calendar, at: str, expected: bool) -> None:
    assert calendar.is_open(utc(at)) is expected


@pytest.mark.parametrize(
    ("calendar", "start", "hours", "due"),
    [
        # 2 business hours from Friday 16:00 Berlin -> Monday 10:00 Berlin (UTC+1)
        (BERLIN, "2026-03-06T15:00:00", 2, "2026-03-09T09:00:00"),
        # before opening: the clock starts at 09:00
        (BERLIN, "2026-03-02T05:00:00", 1, "2026-03-02T09:00:00"),
        # across the spring DST change (Berlin 2026-03-29): Friday 16:00 CET + 2h -> Monday 10:00 CEST = 08:00Z
        (BERLIN, "2026-03-27T15:00:00", 2, "2026-03-30T08:00:00"),
        # New York's DST starts 2026-03-08: Friday 16:00 EST + 2h -> Monday 10:00 EDT = 14:00Z
        (NEW_YORK, "2026-03-06T21:00:00", 2, "2026-03-09T14:00:00"),
        # split shift: 11:00 + 3h -> 12:00 then 13:00-15:00
        (SPLIT, "2026-03-02T11:00:00", 3, "2026-03-02T15:00:00"),
        # holiday skipped: Thu 24 Dec 16:00 + 2h -> (25th closed) Fri 26th 10:00 local
        (BERLIN, "2026-12-24T15:00:00", 2, "2026-12-28T09:00:00"),
        (ALWAYS, "2026-03-07T23:00:00", 2, "2026-03-08T01:00:00"),
        (NIGHT, "2026-03-06T21:00:00", 3, "2026-03-07T01:00:00"),
    ],
)
def test_add_business_time(calendar, start: str, hours: float, due: str) -> None:
    assert calendar.add_business_time(utc(start), timedelta(hours=hours)) == utc(due)


def test_holiday_on_friday_26th_is_also_skipped_with_country_holidays() -> None:
    germany = build_calendar("Europe/Berlin", WEEKDAYS_9_17, holiday_country="DE")
    assert not germany.is_open(utc("2026-12-25T10:00:00"))
    assert not germany.is_open(utc("2026-12-26T10:00:00"))  # a Saturday anyway
    assert not germany.is_open(utc("2026-10-03T10:00:00"))  # German Unity Day (a Saturday in 2026)
    assert not germany.is_open(utc("2026-05-01T08:00:00"))  # Labour Day, a Friday


def test_country_holidays_count_in_a_replayed_past_year() -> None:
    # Given a German calendar built today, and a ticket replayed from 2019
    germany = build_calendar("Europe/Berlin", WEEKDAYS_9_17, holiday_country="DE")
    # When 3 business hours are added from Tuesday 31 December 2019, 16:00 in Berlin
    due = germany.add_business_time(utc("2019-12-31T15:00:00"), timedelta(hours=3))
    # Then New Year's Day 2020 is skipped: 1 hour on the 31st, 2 hours on Thursday the 2nd
    assert due == utc("2020-01-02T10:00:00")
    assert not germany.is_open(utc("2019-10-03T10:00:00"))  # German Unity Day 2019, a Thursday


def test_country_holidays_count_across_a_new_year_far_from_now() -> None:
    # Given a German calendar built today
    germany = build_calendar("Europe/Berlin", WEEKDAYS_9_17, holiday_country="DE")
    # When a due time runs from Monday 31 December 2035, 16:00 in Berlin, into 2036
    due = germany.add_business_time(utc("2035-12-31T15:00:00"), timedelta(hours=3))
    # Then New Year's Day 2036 (a Tuesday) is skipped: the due time is Wednesday the 2nd
    assert due == utc("2036-01-02T10:00:00")
    assert germany.next_open(utc("2036-01-01T10:00:00")) == utc("2036-01-02T08:00:00")


def test_unknown_holiday_country_is_refused() -> None:
    with pytest.raises(CalendarError, match="no public holidays known"):
        build_calendar("UTC", WEEKDAYS_9_17, holiday_country="QQ")


def test_business_time_between_counts_only_open_time() -> None:
    assert BERLIN.business_time_between(utc("2026-03-06T15:00:00"), utc("2026-03-09T09:00:00")) == timedelta(
        hours=2
    )
    assert BERLIN.business_time_between(utc("2026-03-09T09:00:00"), utc("2026-03-06T15:00:00")) == timedelta(
        0
    )


def test_next_open() -> None:
    assert BERLIN.next_open(utc("2026-03-07T10:00:00")) == utc("2026-03-09T08:00:00")
    assert BERLIN.next_open(utc("2026-03-09T10:00:00")) == utc("2026-03-09T10:00:00")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"timezone": "UTC", "hours": {"funday": ["09:00-10:00"]}}, "unknown weekday"),
        ({"timezone": "UTC", "hours": {"mon": ["9 to 5"]}}, "not HH:MM-HH:MM"),
        ({"timezone": "UTC", "hours": {"mon": ["09:00-09:00"]}}, "empty"),
    ],
)
def test_bad_calendars_are_refused(kwargs, message: str) -> None:
    with pytest.raises(CalendarError, match=message):
        build_calendar(**kwargs)
