"""The daily and weekly digests: which are due, the periods they cover, and the page, text and
subject made from the period's report and the previous one (docs/reports.md)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from shared.logic.charts import BarChart, Series, bar_chart
from shared.logic.reports import ReportRequest
from shared.models.config import HelpdeskConfig
from shared.models.reports import DurationFigures, Figures, Report

TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "templates" / "digest"
DigestKind = Literal["daily", "weekly"]
Unit = Literal["count", "duration", "rate", "score"]
CREATED_COLOUR, RESOLVED_COLOUR = "#3465a4", "#4e9a06"


@dataclass(frozen=True)
class Period:
    first: date
    last: date

    def label(self) -> str:
        """`Mon 2 Mar 2026`, or `2026-W10 (2 Mar – 8 Mar 2026)` for more than a day."""
        if self.first == self.last:
            return f"{self.first:%a} {self.first.day} {self.first:%b %Y}"
        year, week, _ = self.first.isocalendar()
        return f"{year}-W{week:02d} ({self.first.day} {self.first:%b} – {self.last.day} {self.last:%b %Y})"


@dataclass(frozen=True)
class DigestRun:
    """One digest to make: for whom, to whom, over which period, against which previous one."""

    team: str
    """A team id, or `all`."""
    team_name: str
    kind: DigestKind
    timezone: str
    to: tuple[str, ...]
    period: Period
    previous: Period

    @property
    def key(self) -> str:
        """Where the page is kept (S3), one per team, kind and period: a run made twice finds it."""
        return f"digests/{self.team}/{self.kind}/{self.period.first.isoformat()}.html"

    def requests(self) -> tuple[ReportRequest, ReportRequest]:
        """The reports to build (by day, limited to the team): the period's and the previous one's."""
        where = None if self.team == "all" else ("team", self.team)
        return (
            ReportRequest(self.period.first, self.period.last, group_by="day", filter=where),
            ReportRequest(self.previous.first, self.previous.last, group_by="day", filter=where),
        )


def digest_periods(kind: DigestKind, now: datetime, timezone: str) -> tuple[Period, Period]:
    """The period a digest made at `now` covers, and the one before it of the same length: daily,
    yesterday in the time zone; weekly, the last full ISO week (Monday to Sunday)."""
    today = now.astimezone(ZoneInfo(timezone)).date()
    if kind == "daily":
        day = today - timedelta(days=1)
        return Period(day, day), Period(day - timedelta(days=1), day - timedelta(days=1))
    monday = today - timedelta(days=today.weekday() + 7)
    sunday = monday + timedelta(days=6)
    return Period(monday, sunday), Period(monday - timedelta(days=7), sunday - timedelta(days=7))


def digest_timezone(config: HelpdeskConfig, team: str) -> str:
    """A team's digests are sent at its calendar's local hour; those of `all` by `reports.timezone`."""
    found = config.team(team)
    if found is None:
        return config.reports.timezone
    return config.calendars[found.calendar].timezone


def period_timezone(config: HelpdeskConfig, team: str) -> str:
    """The zone a digest's days are in: the zone the aggregates count the team's days in (its own
    with `reports.days: team`, else `reports.timezone`), so its period is whole aggregate days."""
    return config.day_zone(None if team == "all" else team)


def digest_run(config: HelpdeskConfig, team: str, kind: DigestKind, now: datetime) -> DigestRun:
    """The digest of `kind` of a configured team (or `all`) made at `now`."""
    digest = next((d for d in config.reports.digests if d.team == team), None)
    if digest is None:
        raise ValueError(f"no digest is configured for {team!r}")
    timezone = period_timezone(config, team)
    found = config.team(team)
    name = "All teams" if found is None else found.name or found.id
    period, previous = digest_periods(kind, now, timezone)
    return DigestRun(team, name, kind, timezone, tuple(digest.to), period, previous)


def digests_due(config: HelpdeskConfig, now: datetime) -> list[DigestRun]:
    """The digests due in the hour of `now` (for an hourly schedule): each at its local `hour`, the
    weekly ones on Mondays."""
    runs = []
    for digest in config.reports.digests:
        local = now.astimezone(ZoneInfo(digest_timezone(config, digest.team)))
        if local.hour != digest.hour:
            continue
        if digest.daily:
            runs.append(digest_run(config, digest.team, "daily", now))
        if digest.weekly and local.weekday() == 0:
            runs.append(digest_run(config, digest.team, "weekly", now))
    return runs


# -- the headline figures and their change --------------------------------------------------------


@dataclass(frozen=True)
class BreachingTicket:
    """A ticket past an SLA target (from the SLA index): the digest lists the most overdue."""

    number: int
    subject: str
    target: str
    overdue_minutes: int


@dataclass(frozen=True)
class Change:
    arrow: str
    """`▲`, `▼`, `=`, or "" when there is nothing to compare."""
    text: str
    """`+12.5 %`, `-3.0 pts` (rates change in percentage points), `new` or `n/a`."""
    tone: Literal["good", "bad", "neutral"]


@dataclass(frozen=True)
class Headline:
    name: str
    label: str
    value: str
    change: Change


@dataclass(frozen=True)
class _Figure:
    name: str
    label: str
    unit: Unit
    better: int
    """+1 when a rise is good news, -1 when it is bad, 0 when neither."""
    read: Callable[[Figures], float | None]


def _duration(figures: Figures, name: str, quantile: Literal["median", "p90"]) -> float | None:
    return getattr(figures.durations.get(name, DurationFigures()).business, quantile)  # type: ignore[no-any-return]


def sla_achievement(figures: Figures) -> float | None:
    """Met over met and breached, every target together (None when none was decided)."""
    met = sum(s.met for s in figures.sla.values())
    decided = met + sum(s.breached for s in figures.sla.values())
    return met / decided if decided else None


HEADLINES = (
    _Figure("created", "Created", "count", 0, lambda f: f.volume.created),
    _Figure("resolved", "Resolved", "count", 1, lambda f: f.volume.resolved),
    _Figure("backlog", "Backlog at the end", "count", -1, lambda f: f.volume.backlog),
    _Figure(
        "first_response_median",
        "First response, median",
        "duration",
        -1,
        lambda f: _duration(f, "first_response", "median"),
    ),
    _Figure(
        "first_response_p90",
        "First response, 90th percentile",
        "duration",
        -1,
        lambda f: _duration(f, "first_response", "p90"),
    ),
    _Figure(
        "full_resolution_median",
        "Full resolution, median",
        "duration",
        -1,
        lambda f: _duration(f, "full_resolution", "median"),
    ),
    _Figure("sla_achievement", "SLA achievement", "rate", 1, sla_achievement),
    _Figure("csat_score", "Satisfaction score (1–5)", "score", 1, lambda f: f.satisfaction.score),
    _Figure("fcr_rate", "First contact resolution", "rate", 1, lambda f: f.first_contact_resolution.rate),
)
"""Durations in business time (each ticket's own calendar)."""


def format_duration(seconds: float) -> str:
    """`45 s`, `12 min`, `3 h 05 min`, `2 d 4 h`."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 24 * 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    hours = round(seconds / 3600)
    return f"{hours // 24} d {hours % 24} h"


def format_value(value: float | None, unit: Unit) -> str:
    if value is None:
        return "–"
    if unit == "duration":
        return format_duration(value)
    if unit == "rate":
        return f"{value * 100:.1f} %"
    if unit == "score":
        return f"{value:.2f}"
    return f"{round(value):,}"


def change(current: float | None, previous: float | None, unit: Unit, better: int) -> Change:
    """How `current` compares with `previous`: a rate by the difference in percentage points,
    anything else by the relative difference in percent; `new` after 0, `n/a` without a value."""
    if current is None or previous is None:
        return Change("", "n/a", "neutral")
    if unit == "rate":
        delta = round((current - previous) * 100, 1)
        text = f"{delta:+.1f} pts"
    elif previous == 0:
        if current == 0:
            return Change("=", "0.0 %", "neutral")
        return Change("▲", "new", "good" if better > 0 else "bad" if better < 0 else "neutral")
    else:
        delta = round((current - previous) / previous * 100, 1)
        text = f"{delta:+.1f} %"
    if delta == 0:
        return Change("=", text.replace("+", "").replace("-", ""), "neutral")
    sign = 1 if delta > 0 else -1
    tone: Literal["good", "bad", "neutral"] = (
        "neutral" if better == 0 else "good" if sign * better > 0 else "bad"
    )
    return Change("▲" if sign > 0 else "▼", text, tone)


def headlines(current: Figures, previous: Figures) -> list[Headline]:
    """The headline figures of the period, each with its change against the previous period."""
    return [
        Headline(
            f.name,
            f.label,
            format_value(f.read(current), f.unit),
            change(f.read(current), f.read(previous), f.unit, f.better),
        )
        for f in HEADLINES
    ]


# -- the page -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Digest:
    subject: str
    html: str
    """One self-contained page: inline styles and SVG, nothing to fetch."""
    text: str
    """The plain-text part of the email."""


def _days(report: Report) -> list[tuple[date, Figures]]:
    """The report's days (its groups when grouped by day, else the period as one)."""
    if report.group_by == "day" and report.groups:
        return [(date.fromisoformat(g.key), g.figures) for g in report.groups]
    return [(report.from_, report.total)]


def day_chart(current: Report, previous: Report) -> BarChart:
    """Created and resolved per day, the previous period's days first and faded."""
    days = _days(previous) + _days(current)
    return BarChart(
        title="Created and resolved per day",
        categories=[f"{d:%a} {d.day}" for d, _ in days],
        series=[
            Series("created", [f.volume.created for _, f in days], CREATED_COLOUR),
            Series("resolved", [f.volume.resolved for _, f in days], RESOLVED_COLOUR),
        ],
        faded=frozenset(range(len(_days(previous)))),
    )


def hour_chart(current: Report) -> BarChart:
    return BarChart(
        title=f"Created by hour of day ({current.timezone})",
        categories=[f"{h:02d}" for h in range(24)],
        series=[Series("created", current.total.volume.created_by_hour, CREATED_COLOUR)],
        label_every=3,
    )


def _check_periods(run: DigestRun, current: Report, previous: Report) -> None:
    for report, period in ((current, run.period), (previous, run.previous)):
        if (report.from_, report.to) != (period.first, period.last):
            raise ValueError(
                f"the report covers {report.from_}..{report.to}, the digest {period.first}..{period.last}"
            )


def digest_subject(run: DigestRun, current: Report) -> str:
    volume = current.total.volume
    backlog = "" if volume.backlog is None else f", backlog {volume.backlog:,}"
    return (
        f"{run.team_name}: {run.kind} digest for {run.period.label()}: "
        f"{volume.created:,} created, {volume.resolved:,} resolved{backlog}"
    )


@cache
def _environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    # our own templates (not operator-edited): autoescaped HTML, plain text as it is
    return Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(enabled_extensions=("html",), default=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_digest(
    run: DigestRun, current: Report, previous: Report, breaching: Sequence[BreachingTicket]
) -> Digest:
    """The digest of `run` from its period's report and the previous period's (as `run.requests()`
    asks for them), with the tickets breaching most (the most overdue first, as given)."""
    _check_periods(run, current, previous)
    subject = digest_subject(run, current)
    context = {
        "run": run,
        "subject": subject,
        "report": current,
        "headlines": headlines(current.total, previous.total),
        "charts": [(c.title, bar_chart(c)) for c in (day_chart(current, previous), hour_chart(current))],
        "sla": [
            (name, s, format_value(s.achievement, "rate"))
            for name, s in current.total.sla.items()
            if s.met or s.breached or s.open
        ],
        "breaching": [(t, format_duration(t.overdue_minutes * 60)) for t in breaching],
        "as_of": current.as_of,
        "behind": None if current.behind_seconds is None else format_duration(current.behind_seconds),
    }
    html = _environment().get_template("digest.html").render(**context)
    text = _environment().get_template("digest.txt").render(**context)
    return Digest(subject, html, text)
