"""The digests: config, which are due, their periods, the headline changes and the page's content."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from shared.config import parse_config
from shared.errors import ConfigError
from shared.logic.charts import BarChart, Series, bar_chart, nice_ticks
from shared.logic.digest import (
    BreachingTicket,
    Period,
    change,
    digest_periods,
    digest_run,
    digests_due,
    format_duration,
    headlines,
    render_digest,
)
from shared.models.config import DigestConfig
from tests.unit.digest_traffic import reports, weekly_run

CONFIG = parse_config(
    """
calendars:
  default: {timezone: UTC}
  berlin: {timezone: Europe/Berlin}
  la: {timezone: America/Los_Angeles}
teams: [{id: support, name: First-level support, calendar: berlin}, {id: us, calendar: la}]
reports:
  timezone: Europe/London
  digests:
    - {team: support, to: [lead@example.com], daily: true, weekly: true, hour: 7}
    - {team: us, to: [boss@example.com, ops@example.com], hour: 7}
    - {team: all, to: [ceo@example.com], daily: false, weekly: true, hour: 6}
"""
)
MONDAY_0600_UTC = datetime(2026, 3, 9, 6, 0, tzinfo=UTC)


# -- config ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("digests", "message"),
    [
        ("[{team: sales, to: [a@example.com]}]", "unknown team 'sales'"),
        ("[{team: all, to: [a@example.com]}, {team: all, to: [b@example.com]}]", "more than one digest"),
        ("[{team: all, to: [not-an-address]}]", "is not an email address"),
        ("[{team: all, to: []}]", "reports.digests.0.to"),
        ("[{team: all, to: [a@example.com], daily: false}]", "set `daily`, `weekly` or both"),
        ("[{team: all, to: [a@example.com], hour: 24}]", "reports.digests.0.hour"),
    ],
)
def test_digest_config_names_the_problem(digests: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config(f"reports: {{digests: {digests}}}")


# -- periods and runs ----------------------------------------------------------------------------


def test_a_daily_digest_covers_yesterday_in_the_teams_zone() -> None:
    # 06:00 UTC on Monday 9 March is 07:00 Monday in Berlin, 23:00 Sunday in Los Angeles
    assert digest_periods("daily", MONDAY_0600_UTC, "Europe/Berlin") == (
        Period(date(2026, 3, 8), date(2026, 3, 8)),
        Period(date(2026, 3, 7), date(2026, 3, 7)),
    )
    assert digest_periods("daily", MONDAY_0600_UTC, "America/Los_Angeles")[0] == Period(
        date(2026, 3, 7), date(2026, 3, 7)
    )


def test_a_weekly_digest_covers_the_last_full_iso_week() -> None:
    this_week = (Period(date(2026, 3, 2), date(2026, 3, 8)), Period(date(2026, 2, 23), date(2026, 3, 1)))
    assert digest_periods("weekly", MONDAY_0600_UTC, "Europe/Berlin") == this_week
    # still Sunday in Los Angeles: the week of 2 March is not over there
    assert digest_periods("weekly", MONDAY_0600_UTC, "America/Los_Angeles")[0] == Period(
        date(2026, 2, 23), date(2026, 3, 1)
    )


def test_digests_are_due_at_their_local_hour_and_weekly_ones_on_mondays() -> None:
    due = digests_due(CONFIG, MONDAY_0600_UTC)  # 07:00 Berlin, 06:00 London, 23:00 Los Angeles
    assert [(r.team, r.kind, r.period.first) for r in due] == [
        ("support", "daily", date(2026, 3, 8)),
        ("support", "weekly", date(2026, 3, 2)),
        ("all", "weekly", date(2026, 3, 2)),
    ]
    assert due[0].team_name == "First-level support"
    assert due[2].team_name == "All teams"
    assert due[2].timezone == "Europe/London"
    assert due[0].to == ("lead@example.com",)
    # a Tuesday: the daily ones only; Los Angeles' 07:00 is 15:00 UTC
    tuesday_la = digests_due(CONFIG, datetime(2026, 3, 10, 14, 0, tzinfo=UTC))
    assert [(r.team, r.kind, r.period.first) for r in tuesday_la] == [("us", "daily", date(2026, 3, 9))]
    assert digests_due(CONFIG, datetime(2026, 3, 9, 5, 0, tzinfo=UTC)) == []


def test_a_run_asks_for_its_team_by_day_and_names_its_page() -> None:
    run = digest_run(CONFIG, "support", "weekly", MONDAY_0600_UTC)
    current, previous = run.requests()
    assert (current.first, current.last, current.group_by, current.filter) == (
        date(2026, 3, 2),
        date(2026, 3, 8),
        "day",
        ("team", "support"),
    )
    assert (previous.first, previous.last) == (date(2026, 2, 23), date(2026, 3, 1))
    assert run.key == "digests/support/weekly/2026-03-02.html"
    assert digest_run(CONFIG, "all", "weekly", MONDAY_0600_UTC).requests()[0].filter is None
    with pytest.raises(ValueError, match="no digest"):
        digest_run(parse_config(""), "support", "daily", MONDAY_0600_UTC)


# -- changes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "previous", "unit", "better", "expected"),
    [
        (12, 10, "count", 1, ("▲", "+20.0 %", "good")),
        (8, 10, "duration", -1, ("▼", "-20.0 %", "good")),
        (12, 10, "count", -1, ("▲", "+20.0 %", "bad")),
        (12, 10, "count", 0, ("▲", "+20.0 %", "neutral")),
        (5, 0, "count", -1, ("▲", "new", "bad")),
        (0, 0, "count", 1, ("=", "0.0 %", "neutral")),
        (10, 10, "count", 1, ("=", "0.0 %", "neutral")),
        (None, 10, "duration", -1, ("", "n/a", "neutral")),
        (600, None, "duration", -1, ("", "n/a", "neutral")),
        (0.75, 0.5, "rate", 1, ("▲", "+25.0 pts", "good")),
        (0.5, 0.0, "rate", 1, ("▲", "+50.0 pts", "good")),
    ],
)
def test_a_change_has_an_arrow_a_percent_and_a_tone(current, previous, unit, better, expected) -> None:
    found = change(current, previous, unit, better)
    assert (found.arrow, found.text, found.tone) == expected


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (45, "45 s"), (720, "12 min"), (3 * 3600 + 300, "3 h 05 min"), (52 * 3600, "2 d 4 h")],
)
def test_durations_read_as_people_say_them(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


# -- the page ------------------------------------------------------------------------------------


def test_the_headlines_are_the_reports_figures_with_their_change() -> None:
    current, previous = reports(weekly_run())
    found = {h.name: h for h in headlines(current.total, previous.total)}
    assert list(found) == [
        "created",
        "resolved",
        "backlog",
        "first_response_median",
        "first_response_p90",
        "full_resolution_median",
        "sla_achievement",
        "csat_score",
        "fcr_rate",
    ]
    created_now, created_before = current.total.volume.created, previous.total.volume.created
    assert found["created"].value == str(created_now)
    expected = f"{(created_now - created_before) / created_before * 100:+.1f} %"
    assert found["created"].change.text == expected
    assert found["backlog"].value == str(current.total.volume.backlog)
    sla = current.total.sla["first_response"]
    assert found["sla_achievement"].value == f"{sla.met / (sla.met + sla.breached) * 100:.1f} %"
    median = current.total.durations["first_response"].business.median
    assert median is not None
    assert found["first_response_median"].value == format_duration(median)
    assert found["csat_score"].value == f"{current.total.satisfaction.score:.2f}"


def test_the_page_text_and_subject_carry_the_figures_and_escape_what_people_wrote() -> None:
    run = weekly_run()
    current, previous = reports(run)
    breaching = [
        BreachingTicket(42, "Refund <script>alert(1)</script>", "resolution", 190),
        BreachingTicket(7, "Where is my order?", "first_response", 35),
    ]
    digest = render_digest(replace(run, team_name="Support & <Co>"), current, previous, breaching)
    volume = current.total.volume
    assert digest.subject == (
        f"Support & <Co>: weekly digest for 2026-W10 (2 Mar – 8 Mar 2026): "
        f"{volume.created} created, {volume.resolved} resolved, backlog {volume.backlog}"
    )
    assert "<script>" not in digest.html
    assert "Refund &lt;script&gt;alert(1)&lt;/script&gt;" in digest.html
    assert "Support &amp; &lt;Co&gt;: weekly digest" in digest.html
    assert "#42 Refund <script>alert(1)</script>: resolution, overdue by 3 h 10 min" in digest.text
    assert f"Created: {volume.created} (" in digest.text
    assert digest.html.count('<svg xmlns="http://www.w3.org/2000/svg"') == 2
    # nothing to fetch: no URL but the SVG namespace
    assert re.findall(r"(?:src|href)=", digest.html) == []
    assert re.findall(r"https?://[^\"]+", digest.html) == ["http://www.w3.org/2000/svg"] * 2


def test_a_digest_without_breaches_says_so_and_a_report_of_another_period_is_refused() -> None:
    run = weekly_run()
    current, previous = reports(run)
    digest = render_digest(run, current, previous, [])
    assert "No ticket is past an SLA target." in digest.html
    assert "No ticket is past an SLA target." in digest.text
    with pytest.raises(ValueError, match="the report covers"):
        render_digest(run, previous, previous, [])


# -- charts --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("top", "ticks"),
    [(0, [0, 1]), (3, [0, 1, 2, 3]), (8, [0, 2, 4, 6, 8]), (41, [0, 10, 20, 30, 40, 50]), (0.4, [0, 1])],
)
def test_axis_ticks_are_round_and_reach_the_top(top: float, ticks: list[float]) -> None:
    assert nice_ticks(top) == ticks


def test_a_bar_chart_draws_a_bar_per_category_and_series_scaled_to_the_axis() -> None:
    chart = BarChart(
        "Created & resolved",
        ["Mon", "Tue", "Wed"],
        [Series("created", [4, 8, 0], "#000"), Series("resolved", [2, 2, 1], "#111")],
        faded=frozenset({0}),
    )
    svg = str(bar_chart(chart))
    bars = re.findall(r'<rect class="bar"[^>]*data-value="([\d.]+)"[^>]*height="([\d.]+)"', svg)
    assert [float(value) for value, _ in bars] == [4, 2, 8, 2, 0, 1]
    heights = [float(h) for _, h in bars]
    assert heights[2] == max(heights)  # 8 is the top of the axis
    assert heights[0] == pytest.approx(heights[2] / 2, abs=0.1)
    assert heights[4] == 0
    assert svg.count('fill-opacity="0.45"') == 2  # Monday's two bars
    assert "Created &amp; resolved" in svg


def test_a_digests_days_are_the_days_the_aggregates_count_in() -> None:
    # 03:00 UTC on Wednesday 11 March: 20:00 Tuesday in Los Angeles, 03:00 Wednesday in London
    evening = CONFIG.model_copy(
        update={
            "reports": CONFIG.reports.model_copy(
                update={"digests": [DigestConfig(team="us", to=["boss@example.com"], hour=20)]}
            )
        }
    )
    at = datetime(2026, 3, 11, 3, 0, tzinfo=UTC)
    # reporting days (London): the last whole London day is Tuesday
    [run] = digests_due(evening, at)
    assert (run.timezone, run.period.first) == ("Europe/London", date(2026, 3, 10))
    # team days: the team's own yesterday, Monday in Los Angeles
    team_days = evening.model_copy(update={"reports": evening.reports.model_copy(update={"days": "team"})})
    [run] = digests_due(team_days, at)
    assert (run.timezone, run.period.first) == ("America/Los_Angeles", date(2026, 3, 9))
