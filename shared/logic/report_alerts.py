"""Range alerts: a day's figure above the 90th percentile of the same figure over the weeks before
(decision 96). Pure: the caller reads a report by day and publishes the messages (alarm topic)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from shared.models.reports import DurationFigures, Figures, Report

WEEKS = 4
"""How far back the usual range looks."""
MIN_HISTORY_DAYS = 14
"""Fewer days with a value than this before the day, and no alert is raised: no usual range yet."""
LOW, HIGH = 0.1, 0.9
"""The usual range: from the 10th to the 90th percentile; above the 90th raises an alert."""


@dataclass(frozen=True)
class AlertFigure:
    name: str
    label: str
    read: Callable[[Figures], float | None]
    seconds: bool = False
    """A duration, shown in minutes."""


def _first_response_median(figures: Figures) -> float | None:
    return figures.durations.get("first_response", DurationFigures()).business.median


ALERT_FIGURES = (
    AlertFigure("backlog", "backlog at the end of the day", lambda f: f.volume.backlog),
    AlertFigure(
        "first_response_median", "first response median (business time)", _first_response_median, True
    ),
)


@dataclass(frozen=True)
class RangeAlert:
    team: str
    figure: str
    label: str
    day: date
    value: float
    low: float
    high: float
    """The usual range of the days before: their 10th and 90th percentiles."""
    history_days: int
    seconds: bool = False

    @property
    def message(self) -> str:
        """`support: backlog at the end of the day on 2026-03-30 was 57, above its usual range
        20–41 (10th–90th percentile of the 28 days before)`."""
        value, low, high = (_shown(v, self.seconds) for v in (self.value, self.low, self.high))
        return (
            f"{self.team}: {self.label} on {self.day.isoformat()} was {value}, above its usual range "
            f"{low}–{high} (10th–90th percentile of the {self.history_days} days before)"
        )


def _shown(value: float, seconds: bool) -> str:
    return f"{value / 60:.0f} min" if seconds else f"{value:g}"


def percentile(values: Sequence[float], q: float) -> float:
    """Lower nearest rank, as every percentile of docs/metrics.md: the value at index ⌊q·(n−1)⌋."""
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


def range_alert(
    team: str,
    figure: AlertFigure,
    day: date,
    value: float | None,
    history: Sequence[float | None],
    min_history_days: int = MIN_HISTORY_DAYS,
) -> RangeAlert | None:
    """An alert when `value` is above the 90th percentile of `history` (the figure on the days
    before, a day without a value left out), given at least `min_history_days` values; else None."""
    known = [v for v in history if v is not None]
    if value is None or len(known) < min_history_days:
        return None
    high = percentile(known, HIGH)
    if value <= high:
        return None
    return RangeAlert(
        team, figure.name, figure.label, day, value, percentile(known, LOW), high, len(known), figure.seconds
    )


def report_alerts(
    team: str,
    report: Report,
    figures: Sequence[AlertFigure] = ALERT_FIGURES,
    weeks: int = WEEKS,
    min_history_days: int = MIN_HISTORY_DAYS,
) -> list[RangeAlert]:
    """The alerts of the report's last day, against the `weeks` before it. The report is grouped
    by day over `alert_period(day)`; the team names the alerts."""
    by_day: Mapping[date, Figures] = {date.fromisoformat(g.key): g.figures for g in report.groups}
    if report.group_by != "day" or not by_day:
        raise ValueError("range alerts read a report grouped by day")
    day = max(by_day)
    before = [day - timedelta(days=n) for n in range(weeks * 7, 0, -1)]
    alerts = []
    for figure in figures:
        history = [figure.read(by_day[d]) if d in by_day else None for d in before]
        alert = range_alert(team, figure, day, figure.read(by_day[day]), history, min_history_days)
        if alert is not None:
            alerts.append(alert)
    return alerts


def alert_period(day: date, weeks: int = WEEKS) -> tuple[date, date]:
    """The days a report for the alerts of `day` covers: the `weeks` before it, and the day."""
    return day - timedelta(days=weeks * 7), day
