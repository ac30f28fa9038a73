"""Schedule expressions and the simulated clock's timetable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from simulator.clock import ScheduleError, SimClock, Timetable, parse_cron_field, parse_expression
from simulator.resources import FunctionSpec, Trigger

T0 = datetime(2025, 3, 11, 7, 0, tzinfo=UTC)


def fires(expression: str, start: datetime, count: int, zone: str = "UTC") -> list[datetime]:
    schedule = parse_expression(expression, anchor=start, zone=zone)
    moments, moment = [], start
    for _ in range(count):
        upcoming = schedule.next_after(moment)
        if upcoming is None:
            break
        moments.append(upcoming)
        moment = upcoming
    return moments


def at(hour: int, minute: int = 0, day: int = 11) -> datetime:
    return datetime(2025, 3, day, hour, minute, tzinfo=UTC)


def test_rate_counts_from_the_anchor() -> None:
    assert fires("rate(5 minutes)", T0, 3) == [at(7, 5), at(7, 10), at(7, 15)]
    assert fires("rate(1 hour)", T0, 2) == [at(8), at(9)]
    assert fires("rate(1 day)", T0, 1) == [at(7, day=12)]


def test_rate_after_an_arbitrary_moment() -> None:
    schedule = parse_expression("rate(15 minutes)", anchor=T0)
    assert schedule.next_after(at(7, 31)) == at(7, 45)
    assert schedule.next_after(at(7, 45)) == at(8, 0)


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("rate(5 minute)", "requires the unit 'minutes'"),
        ("rate(1 minutes)", "requires the unit 'minute'"),
        ("rate(0 minutes)", "positive"),
        ("rate(2 weeks)", "unknown rate unit"),
        ("rate(five minutes)", "rate is written"),
        ("every 5 minutes", "not a schedule expression"),
    ],
)
def test_bad_rates_are_refused(expression: str, problem: str) -> None:
    with pytest.raises(ScheduleError, match=problem):
        parse_expression(expression, anchor=T0)


def test_cron_minute_and_hour_fields() -> None:
    assert fires("cron(0/15 8-9 * * ? *)", T0, 9) == [
        at(8, 0),
        at(8, 15),
        at(8, 30),
        at(8, 45),
        at(9, 0),
        at(9, 15),
        at(9, 30),
        at(9, 45),
        at(8, day=12),
    ]
    assert fires("cron(5,35 */6 * * ? *)", T0, 3) == [at(12, 5), at(12, 35), at(18, 5)]


def test_cron_days_months_and_weekdays() -> None:
    # 2025-03-11 is a Tuesday: weekdays only skips the weekend of the 15th/16th
    weekdays = fires("cron(0 9 ? * MON-FRI *)", T0, 5)
    assert [d.day for d in weekdays] == [11, 12, 13, 14, 17]
    assert fires("cron(30 2 1 * ? *)", T0, 1) == [datetime(2025, 4, 1, 2, 30, tzinfo=UTC)]
    assert fires("cron(0 0 ? JAN 1 2026)", T0, 1) == [datetime(2026, 1, 4, tzinfo=UTC)]  # first Sunday
    assert fires("cron(0 0 1 1 ? 2024)", T0, 1) == []  # only in the past


def test_cron_in_a_time_zone_follows_daylight_saving() -> None:
    # Europe/Berlin switches to summer time on 2025-03-30: 02:30 local becomes 00:30 UTC
    start = datetime(2025, 3, 28, tzinfo=UTC)
    assert fires("cron(30 2 * * ? *)", start, 4, zone="Europe/Berlin") == [
        datetime(2025, 3, 28, 1, 30, tzinfo=UTC),
        datetime(2025, 3, 29, 1, 30, tzinfo=UTC),
        # 2025-03-30 02:30 does not exist in Berlin
        datetime(2025, 3, 31, 0, 30, tzinfo=UTC),
        datetime(2025, 4, 1, 0, 30, tzinfo=UTC),
    ]


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("cron(0 9 * * *)", "6 fields"),
        ("cron(0 9 * * MON *)", "exactly one of day-of-month and day-of-week"),
        ("cron(0 9 ? * ? *)", "exactly one of day-of-month and day-of-week"),
        ("cron(0 9 L * ? *)", "L, W or #"),
        ("cron(0 9 ? * 6#3 *)", "L, W or #"),
        ("cron(61 9 * * ? *)", "outside 0-59"),
        ("cron(0 24 * * ? *)", "outside 0-23"),
        ("cron(0 5-2 * * ? *)", "runs backwards"),
    ],
)
def test_cron_the_simulator_cannot_run_is_refused(expression: str, problem: str) -> None:
    with pytest.raises(ScheduleError, match=problem):
        parse_expression(expression, anchor=T0)


def test_cron_field_names_and_steps() -> None:
    assert parse_cron_field("MON-WED,FRI", 1, 7, "day-of-week", {"MON": 2, "WED": 4, "FRI": 6}) == {
        2,
        3,
        4,
        6,
    }
    assert parse_cron_field("10/20", 0, 59, "minutes") == {10, 30, 50}


def test_at_fires_once_in_its_zone() -> None:
    assert fires("at(2025-03-11T09:00:00)", T0, 3, zone="Europe/Paris") == [at(8)]
    with pytest.raises(ScheduleError, match="unknown time zone"):
        parse_expression("at(2025-03-11T09:00:00)", anchor=T0, zone="Mars/Olympus")


def spec(name: str, *triggers: Trigger) -> FunctionSpec:
    return FunctionSpec(
        logical_id=name, code_dir=Path("."), handler="app.handler", environment={}, triggers=list(triggers)
    )


def test_timetable_yields_firings_in_time_order_between_two_moments() -> None:
    # Given two scheduled functions and a disabled schedule
    functions = {
        "Sweeper": spec("Sweeper", Trigger("Every10", "Schedule", {"Schedule": "rate(10 minutes)"})),
        "Report": spec(
            "Report",
            Trigger("Hourly", "ScheduleV2", {"ScheduleExpression": "cron(0 * * * ? *)"}),
            Trigger("Off", "ScheduleV2", {"ScheduleExpression": "rate(1 minute)", "State": "DISABLED"}),
        ),
    }
    timetable = Timetable(functions, anchor=at(7, 45))
    # When the clock moves to 08:10
    due = [(moment, entry.label) for moment, entry in timetable.due(at(8, 10))]
    # Then each firing comes once, earliest first
    assert due == [
        (at(7, 55), "Sweeper.Every10"),
        (at(8, 0), "Report.Hourly"),
        (at(8, 5), "Sweeper.Every10"),
    ]
    assert [label for _, label in ((m, e.label) for m, e in timetable.due(at(8, 15)))] == ["Sweeper.Every10"]


def test_timetable_refuses_what_it_cannot_run() -> None:
    bad = {"F": spec("F", Trigger("E", "Schedule", {"Schedule": "rate(5 minutes)", "InputTransformer": {}}))}
    with pytest.raises(ScheduleError, match="F event E: InputTransformer"):
        Timetable(bad, anchor=T0)


def test_sim_clock_never_goes_back() -> None:
    clock = SimClock(T0)
    clock.set(T0 + timedelta(minutes=1))
    with pytest.raises(ValueError, match="cannot go back"):
        clock.set(T0)


def test_schedule_every_thins_frequent_schedules_and_leaves_rarer_ones() -> None:
    # Given a one-minute sweeper and an hourly report, fired at most every 15 minutes
    functions = {
        "Sweeper": spec("Sweeper", Trigger("Sweep", "ScheduleV2", {"ScheduleExpression": "rate(1 minute)"})),
        "Report": spec(
            "Report", Trigger("Hourly", "ScheduleV2", {"ScheduleExpression": "cron(5 * * * ? *)"})
        ),
    }
    timetable = Timetable(functions, anchor=at(7, 0), min_gap=timedelta(minutes=15))
    due = [(moment, entry.label) for moment, entry in timetable.due(at(8, 10))]
    # Then the sweeper fires on its own grid, 15 minutes apart; the hourly report as before
    assert [m for m, label in due if label == "Sweeper.Sweep"] == [
        at(7, 1),
        at(7, 16),
        at(7, 31),
        at(7, 46),
        at(8, 1),
    ]
    assert [m for m, label in due if label == "Report.Hourly"] == [at(7, 5), at(8, 5)]


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("15m", 900), ("1h", 3600)])
def test_schedule_every_reads_seconds_minutes_and_hours(text: str, seconds: int) -> None:
    from simulator.cli import _interval

    assert _interval(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["15", "0m", "-5m", "1.5h", "m", "15d"])
def test_schedule_every_refuses_what_is_not_an_interval(text: str) -> None:
    import argparse

    from simulator.cli import _interval

    with pytest.raises(argparse.ArgumentTypeError, match="whole number"):
        _interval(text)
