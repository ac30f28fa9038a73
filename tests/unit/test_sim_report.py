"""The simulator's report period, the digest it makes of it, and the tickets it lists as breaching."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from shared.logic.digest import HEADLINES
from shared.models.config import HelpdeskConfig
from shared.models.reports import Report
from simulator.report import breaching_tickets, digest_of_period, headline_figures, simulated_period

CONFIG = HelpdeskConfig.model_validate(
    {
        "reports": {
            "timezone": "Europe/Berlin",
            "digests": [{"team": "all", "to": ["boss@example.com"], "weekly": True}],
        }
    }
)


def test_the_period_is_the_local_days_of_the_run() -> None:
    # Given a run from Sunday 23:30 UTC (Monday 00:30 in Berlin) to Tuesday 22:59 UTC (23:59 there)
    start, end = datetime(2025, 3, 9, 23, 30, tzinfo=UTC), datetime(2025, 3, 11, 22, 59, tzinfo=UTC)
    # Then the period is Monday to Tuesday in Berlin, but Sunday to Tuesday in UTC
    assert simulated_period(start, end, "Europe/Berlin") == (date(2025, 3, 10), date(2025, 3, 11))
    assert simulated_period(start, end, "UTC") == (date(2025, 3, 9), date(2025, 3, 11))


def test_a_run_longer_than_a_report_reports_its_last_366_days() -> None:
    start, end = datetime(2023, 1, 1, tzinfo=UTC), datetime(2025, 3, 11, tzinfo=UTC)
    assert simulated_period(start, end, "UTC") == (date(2024, 3, 11), date(2025, 3, 11))


def test_a_period_holding_a_full_iso_week_gets_that_weeks_digest() -> None:
    # Given Wednesday 5 to Wednesday 19 March 2025: two full weeks inside (Mon 10 - Sun 16 is the last)
    run = digest_of_period(CONFIG, date(2025, 3, 5), date(2025, 3, 19))
    # Then the weekly digest of the last full week, against the week before, to the `all` addresses
    assert (run.team, run.kind, run.timezone, run.to) == (
        "all",
        "weekly",
        "Europe/Berlin",
        ("boss@example.com",),
    )
    assert (run.period.first, run.period.last) == (date(2025, 3, 10), date(2025, 3, 16))
    assert (run.previous.first, run.previous.last) == (date(2025, 3, 3), date(2025, 3, 9))


def test_a_week_exactly_monday_to_sunday_is_weekly_and_anything_shorter_daily() -> None:
    weekly = digest_of_period(CONFIG, date(2025, 3, 10), date(2025, 3, 16))
    assert (weekly.kind, weekly.period.first, weekly.period.last) == (
        "weekly",
        date(2025, 3, 10),
        date(2025, 3, 16),
    )
    # Tuesday to the next Monday: seven days, but no Monday-to-Sunday week inside
    daily = digest_of_period(CONFIG, date(2025, 3, 11), date(2025, 3, 17))
    assert (daily.kind, daily.period.first, daily.period.last) == (
        "daily",
        date(2025, 3, 17),
        date(2025, 3, 17),
    )
    assert (daily.previous.first, daily.previous.last) == (date(2025, 3, 16), date(2025, 3, 16))
    # And without a digest configured for `all`, the page is made all the same, to nobody
    assert digest_of_period(HelpdeskConfig(), date(2025, 3, 11), date(2025, 3, 11)).to == ()


def _ticket(
    number: int, status: str, *targets: tuple[str, str | None, str], subject: str | None = "S"
) -> dict[str, Any]:
    return {
        "number": number,
        "status": status,
        "subject": subject,
        "messages": [{"text": "first words"}],
        "sla": {"targets": [{"name": n, "due_at": due, "state": state} for n, due, state in targets]},
    }


def test_breaching_tickets_are_open_ones_past_a_target_not_met_most_overdue_first() -> None:
    now = datetime(2025, 3, 11, 12, 0, tzinfo=UTC)
    state = {
        "tickets": [
            _ticket(1, "open", ("first_response", "2025-03-11T11:30:00.000Z", "breached")),
            _ticket(2, "resolved", ("resolution", "2025-03-10T08:00:00.000Z", "breached")),  # done
            _ticket(3, "open", ("first_response", "2025-03-11T09:00:00.000Z", "met")),  # met in time
            _ticket(
                4,
                "pending",
                ("first_response", "2025-03-11T11:00:00.000Z", "breached"),
                ("resolution", "2025-03-10T12:00:00.000Z", "pending"),
                subject=None,
            ),
            _ticket(5, "new", ("first_response", "2025-03-11T13:00:00.000Z", "pending")),  # not due yet
        ]
    }
    found = breaching_tickets(state, now)
    assert [(t.number, t.target, t.overdue_minutes, t.subject) for t in found] == [
        (4, "resolution", 24 * 60, "first words"),  # its most overdue target; no subject: its first words
        (1, "first_response", 30, "S"),
    ]


def test_headline_figures_read_the_reports_total() -> None:
    report = Report.model_validate(
        {
            "timezone": "UTC",
            "from": "2025-03-10",
            "to": "2025-03-16",
            "group_by": "day",
            "as_of": None,
            "behind_seconds": None,
            "generated_at": "2025-03-16T23:00:00Z",
            "total": {"volume": {"created": 1234, "resolved": 1000, "backlog": 234}},
            "groups": [],
        }
    )
    figures = {h.name: h.value for h in headline_figures(report)}
    assert list(figures) == [f.name for f in HEADLINES]
    assert (figures["created"], figures["resolved"], figures["backlog"]) == ("1,234", "1,000", "234")
    assert figures["first_response_median"] == "–"  # no first response in the period
