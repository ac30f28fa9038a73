"""Reports from per-day aggregates: figures, groupings, the backlog, who may read what, and CSV."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime

import pytest

from shared.config import parse_config
from shared.logic.agent_actions import InvalidRequestError
from shared.logic.metrics.contributions import contributions
from shared.logic.permissions import ForbiddenActionError, Principal, Role
from shared.logic.reports import ReportRequest, build_report, parse_filter, report_csv, report_timezone
from shared.models.metrics import MetricLedger
from shared.models.reports import Clock, Freshness, ReportDay
from shared.models.sketch import DurationSketch
from tests.unit.test_metrics_ledger import Story

MONDAY, TUESDAY = date(2026, 3, 2), date(2026, 3, 3)
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
ADMIN = Principal("ada", Role.ADMIN, frozenset())
SUPPORT_LEAD = Principal("sam", Role.SUPERVISOR, frozenset({"support"}))


class Aggregates:
    """Ledgers summed per dimension value and day, as the stream-fed aggregates hold them."""

    def __init__(self, ledgers: Sequence[MetricLedger]) -> None:
        self.days: dict[tuple[str, str], dict[date, ReportDay]] = defaultdict(dict)
        for ledger in ledgers:
            for c in contributions(ledger):
                facts = ledger.facts
                keys = [
                    ("all", "*"),
                    ("team", facts.team or "none"),
                    ("agent", c.agent or facts.agent or "none"),
                ]
                keys += [("channel", facts.channel)] + [("tag", tag) for tag in facts.tags]
                for key in keys:
                    item = self.days[key].setdefault(c.day, ReportDay(key[0], key[1], c.day))
                    item.counts[c.metric] = item.counts.get(c.metric, 0) + 1
                    clocks: tuple[tuple[Clock, float | None], ...] = (
                        ("cal", c.calendar_seconds),
                        ("bus", c.business_seconds),
                    )
                    for clock, value in clocks:
                        if value is not None:
                            item.durations.setdefault((c.metric, clock), DurationSketch()).add(value)
        self.reads: list[tuple[str, str]] = []

    def report_days(self, dimension: str, value: str, first: date, last: date) -> list[ReportDay]:
        self.reads.append((dimension, value))
        days = self.days.get((dimension, value), {})
        return [days[d] for d in sorted(days) if first <= d <= last]

    def dimension_values(self, dimension: str) -> list[str]:
        return sorted(value for dim, value in self.days if dim == dimension)


def week() -> Aggregates:
    """Three support tickets and one billing ticket over Monday and Tuesday (Europe/Berlin)."""
    answered = (
        Story("Mon 08:30", "t1")
        .routed("Mon 08:31", "alice")
        .reply("Mon 10:00", "alice")
        .set_status("Mon 10:05", "resolved")
    )
    reopened = (
        Story("Mon 09:00", "t2")
        .routed("Mon 09:01", "bob")
        .reply("Mon 09:30", "bob")
        .set_status("Mon 09:40", "resolved")
        .customer("Tue 10:00", reopens=True)
    )
    waiting = Story("Tue 11:00", "t3")
    billing = Story("Tue 11:30", "t4", team="billing")
    return Aggregates([s.ledger() for s in (answered, reopened, waiting, billing)])


def report(aggregates: Aggregates, caller: Principal = ADMIN, **request: object):
    asked = ReportRequest(first=MONDAY, last=TUESDAY, **request)  # type: ignore[arg-type]
    return build_report(asked, caller, aggregates, "Europe/Berlin", Freshness(NOW, 2.5), NOW)


def test_a_report_by_day_counts_volume_backlog_and_rates_from_the_aggregates() -> None:
    # When an admin asks for Monday and Tuesday by day
    result = report(week(), group_by="day")

    # Then each day has its volume and the backlog at its end
    monday, tuesday = result.groups
    assert (monday.key, monday.figures.volume.created, monday.figures.volume.backlog) == ("2026-03-02", 2, 0)
    assert (tuesday.key, tuesday.figures.volume.created, tuesday.figures.volume.backlog) == (
        "2026-03-03",
        2,
        3,
    )
    assert tuesday.figures.volume.reopened == 1
    assert monday.figures.volume.created_by_hour[8:10] == [1, 1]
    assert monday.figures.volume.created_by_weekday[0] == 2
    # And the total: first response median of 30 and 90 minutes is 30 (lower nearest rank, 1 %)
    total = result.total
    first = total.durations["first_response"].calendar
    assert first.count == 2
    assert first.median == pytest.approx(30 * 60, rel=0.01)
    assert first.p90 == pytest.approx(30 * 60, rel=0.01)
    assert first.mean == pytest.approx(60 * 60)
    assert total.durations["first_response"].business.count == 2
    # resolved twice on Monday, one of them reopened; one-touch counts the ticket still resolved
    assert (total.reopen.count, total.reopen.of, total.reopen.rate) == (1, 2, 0.5)
    assert (total.one_touch.count, total.one_touch.of) == (1, 1)
    assert total.agent_replies == 2
    assert (result.as_of, result.behind_seconds) == (NOW, 2.5)


def test_a_supervisor_groups_by_team_and_sees_only_their_teams() -> None:
    aggregates = week()
    result = report(aggregates, SUPPORT_LEAD, group_by="team")
    assert [g.key for g in result.groups] == ["support"]
    assert result.total.volume.created == 3  # billing's ticket is not theirs
    assert ("team", "billing") not in aggregates.reads
    # an admin gets every team and the total of all tickets
    everything = report(week(), group_by="team")
    assert [g.key for g in everything.groups] == ["billing", "support"]
    assert everything.total.volume.created == 4


def test_a_filter_reads_one_partition_and_groups_it_by_week() -> None:
    result = report(week(), SUPPORT_LEAD, group_by="week", filter=parse_filter("team:support"))
    [week_10] = result.groups
    assert (week_10.key, week_10.figures.volume.created, result.filter) == ("2026-W10", 3, "team:support")


@pytest.mark.parametrize(
    ("caller", "request_", "error"),
    [
        (Principal("al", Role.AGENT, frozenset({"support"})), {}, ForbiddenActionError),
        (SUPPORT_LEAD, {}, ForbiddenActionError),
        (SUPPORT_LEAD, {"filter": ("team", "billing")}, ForbiddenActionError),
        (SUPPORT_LEAD, {"group_by": "agent"}, ForbiddenActionError),
        (ADMIN, {"group_by": "agent", "filter": ("team", "support")}, InvalidRequestError),
        (ADMIN, {"first": TUESDAY, "last": MONDAY}, InvalidRequestError),
        (ADMIN, {"first": date(2025, 1, 1), "last": date(2026, 1, 2)}, InvalidRequestError),
    ],
)
def test_reports_refuse_what_the_caller_may_not_read_or_cannot_be_answered(
    caller: Principal, request_: dict[str, object], error: type[Exception]
) -> None:
    asked = ReportRequest(**{"first": MONDAY, "last": TUESDAY, **request_})  # type: ignore[arg-type]
    with pytest.raises(error):
        build_report(asked, caller, week(), "Europe/Berlin", Freshness(), NOW)


@pytest.mark.parametrize("text", ["team", "colour:red", "team:", ":support"])
def test_a_filter_is_a_known_dimension_and_a_value(text: str) -> None:
    with pytest.raises(InvalidRequestError, match="dimension:value"):
        parse_filter(text)


def test_the_csv_has_a_row_per_group_and_the_total_with_the_json_figures() -> None:
    result = report(week(), group_by="day")
    rows = list(csv.DictReader(io.StringIO(report_csv(result))))
    assert [r["group"] for r in rows] == ["2026-03-02", "2026-03-03", "total"]
    header = list(rows[0])
    assert header[:3] == ["group", "volume.created", "volume.resolved"]
    assert header.index("volume.created_by_hour.2") < header.index("volume.created_by_hour.10")
    assert [int(r["volume.created"]) for r in rows] == [2, 2, 4]
    median = float(rows[2]["durations.first_response.calendar.median"])
    assert median == result.total.durations["first_response"].calendar.median
    assert rows[0]["durations.next_response.calendar.median"] == ""  # none: empty, not 0


def test_a_quiet_day_has_the_backlog_at_its_own_end() -> None:
    # Given activity on Monday and Tuesday only, a report to Thursday by day
    asked = ReportRequest(first=MONDAY, last=date(2026, 3, 5), group_by="day")
    result = build_report(asked, ADMIN, week(), "Europe/Berlin", Freshness(), NOW)
    # Then Wednesday and Thursday keep Tuesday's backlog, and Monday its own
    assert [(g.key, g.figures.volume.created, g.figures.volume.backlog) for g in result.groups] == [
        ("2026-03-02", 2, 0),
        ("2026-03-03", 2, 3),
        ("2026-03-04", 0, 3),
        ("2026-03-05", 0, 3),
    ]
    # and a quiet first day reads the backlog at its end, not at the period's
    quiet = ReportRequest(first=date(2026, 3, 1), last=TUESDAY, group_by="day")
    first = build_report(quiet, ADMIN, week(), "Europe/Berlin", Freshness(), NOW).groups[0]
    assert (first.key, first.figures.volume.backlog) == ("2026-03-01", 0)


def test_a_reports_days_are_the_teams_own_only_with_team_days_and_a_team_filter() -> None:
    text = """
calendars: {default: {timezone: UTC}, ny: {timezone: America/New_York}}
teams: [{id: texts, calendar: ny}]
reports: {timezone: Europe/Berlin, days: DAYS}
"""
    team_days = parse_config(text.replace("DAYS", "team"))
    assert report_timezone(team_days, ("team", "texts")) == "America/New_York"
    assert report_timezone(team_days, ("channel", "sms")) == "Europe/Berlin"
    assert report_timezone(team_days, None) == "Europe/Berlin"
    reporting_days = parse_config(text.replace("DAYS", "reporting"))
    assert report_timezone(reporting_days, ("team", "texts")) == "Europe/Berlin"
