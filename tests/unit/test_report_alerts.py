"""Range alerts: a day's figure above the 90th percentile of the weeks before, with enough history."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from shared.logic.permissions import Principal, Role
from shared.logic.report_alerts import (
    ALERT_FIGURES,
    alert_period,
    percentile,
    range_alert,
    report_alerts,
)
from shared.logic.reports import ReportRequest, build_report
from shared.models.reports import Freshness
from tests.unit.digest_traffic import NOW
from tests.unit.test_metrics_ledger import Story
from tests.unit.test_reports import Aggregates

BACKLOG = ALERT_FIGURES[0]
DAY = date(2026, 3, 30)
ADMIN = Principal("alerts", Role.ADMIN, frozenset())


def test_percentiles_are_of_the_lower_nearest_rank() -> None:
    values = [float(v) for v in range(1, 11)]  # 1..10
    assert percentile(values, 0.9) == 9  # index floor(0.9 * 9) = 8
    assert percentile(values, 0.1) == 1
    assert percentile([5.0], 0.9) == 5


def test_a_value_above_the_90th_percentile_raises_an_alert_with_the_usual_range() -> None:
    history = [float(v) for v in range(20, 48)]  # 28 days, 20..47: p90 = 44 (index 24), p10 = 22
    alert = range_alert("support", BACKLOG, DAY, 57, history)
    assert alert is not None
    assert (alert.value, alert.low, alert.high, alert.history_days) == (57, 22, 44, 28)
    assert alert.message == (
        "support: backlog at the end of the day on 2026-03-30 was 57, above its usual range "
        "22–44 (10th–90th percentile of the 28 days before)"
    )


def test_exactly_at_the_90th_percentile_is_still_usual() -> None:
    history = [float(v) for v in range(20, 48)]
    assert range_alert("support", BACKLOG, DAY, 44, history) is None
    assert range_alert("support", BACKLOG, DAY, 44.5, history) is not None


def test_too_little_history_raises_nothing() -> None:
    # 13 days with a value (and days without one do not count) is not a usual range yet
    history: list[float | None] = [10.0] * 13 + [None] * 15
    assert range_alert("support", BACKLOG, DAY, 1000, history) is None
    assert range_alert("support", BACKLOG, DAY, 1000, [*history, 10.0]) is not None  # the 14th


def test_a_constant_history_alerts_on_anything_above_it_and_nothing_at_it() -> None:
    history = [12.0] * 28
    assert range_alert("support", BACKLOG, DAY, 12, history) is None
    alert = range_alert("support", BACKLOG, DAY, 13, history)
    assert alert is not None
    assert (alert.low, alert.high) == (12, 12)


def test_a_day_without_a_value_raises_nothing() -> None:
    assert range_alert("support", ALERT_FIGURES[1], DAY, None, [60.0] * 28) is None


def test_duration_alerts_speak_in_minutes() -> None:
    history = [float(600 + 60 * (v % 10)) for v in range(28)]  # 10 to 19 minutes
    alert = range_alert("support", ALERT_FIGURES[1], DAY, 45 * 60, history)
    assert alert is not None
    assert "first response median (business time) on 2026-03-30 was 45 min" in alert.message
    assert "usual range 10 min–18 min" in alert.message


def _story(day: date, number: int, replied_after: int, resolved: bool) -> Story:
    story = Story(f"{day.isoformat()} 10:00", f"tkt-{day}-{number}")
    minutes = 10 * 60 + replied_after
    story.routed(f"{day.isoformat()} 10:01", "alice")
    story.reply(f"{day.isoformat()} {minutes // 60:02d}:{minutes % 60:02d}", "alice")
    if resolved:
        story.set_status(f"{day.isoformat()} 16:00", "resolved")
    return story


def test_alerts_of_a_report_by_day_take_its_last_day_against_the_weeks_before() -> None:
    # Given four weeks of a weekday ticket answered in 20 minutes and resolved the same day (the
    # backlog stays 0), then a Monday whose five tickets wait 3 hours and stay open
    first, last = alert_period(DAY)
    assert (first, last) == (DAY - timedelta(days=28), DAY)
    weekdays = [first + timedelta(days=n) for n in range(28) if (first + timedelta(days=n)).weekday() < 5]
    stories = [_story(day, 0, 20, True) for day in weekdays]
    # and on weekends a ticket resolved with no reply (no first response), so every day has an
    # aggregate (a day without one reads the period's last backlog: see docs/reports.md)
    stories += [
        Story(f"{day.isoformat()} 11:00", f"tkt-{day}").set_status(f"{day.isoformat()} 11:05", "resolved")
        for day in (first + timedelta(days=n) for n in range(28))
        if day.weekday() >= 5
    ]
    stories += [_story(DAY, n, 180, False) for n in range(5)]
    aggregates = Aggregates([s.ledger() for s in stories])
    request = ReportRequest(first, last, group_by="day", filter=("team", "support"))
    report = build_report(request, ADMIN, aggregates, "Europe/Berlin", Freshness(), NOW)

    # When the alerts are decided
    alerts = report_alerts("support", report)

    # Then both figures are above their usual range (weekends have no first response: 20 days)
    assert [(a.figure, a.value, a.high, a.history_days) for a in alerts] == [
        ("backlog", 5, 0, 28),
        ("first_response_median", pytest.approx(3 * 3600, rel=0.01), pytest.approx(20 * 60, rel=0.01), 20),
    ]
    # And with a minimum of 21 days of history, the first response says nothing yet
    assert [a.figure for a in report_alerts("support", report, min_history_days=21)] == ["backlog"]


def test_alerts_need_a_report_by_day() -> None:
    request = ReportRequest(DAY, DAY, group_by="none")
    report = build_report(request, ADMIN, Aggregates([]), "UTC", Freshness(), NOW)
    with pytest.raises(ValueError, match="grouped by day"):
        report_alerts("support", report)
