"""Reports from the per-day aggregates: the figures of docs/metrics.md for a period, grouped.

Aggregates hold, per dimension value and local day, the counts and duration sketches of every
ticket's ledger contributions (`shared.logic.metrics.contributions`). A report reads one partition
per group, from the start of its history up to the period's last day (the backlog at the end of
the period is the sum of every earlier day's `backlog.opened` less `backlog.closed`), so the items
it reads grow with days and groups, never with tickets.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from shared.logic.agent_actions import InvalidRequestError
from shared.logic.metrics.contributions import BACKLOG_CLOSED, BACKLOG_OPENED
from shared.logic.permissions import ForbiddenActionError, Principal, Role
from shared.models.config import HelpdeskConfig
from shared.models.reports import (
    DURATIONS,
    GROUP_DIMENSIONS,
    SLA_TARGETS,
    Clock,
    DurationFigures,
    DurationStats,
    Figures,
    Freshness,
    GroupBy,
    GroupFigures,
    Rate,
    Report,
    ReportDay,
    SlaFigures,
)
from shared.models.sketch import SketchSum

MAX_DAYS = 366
"""The longest period one report covers."""
HISTORY_START = date(2000, 1, 1)
"""Where a group's history is read from (for the backlog): before any helpdesk of ours."""
CLOCK_FIELDS: dict[Clock, str] = {"cal": "calendar", "bus": "business"}


DayFigures = ReportDay
"""One group's aggregate of one local day (`shared.models.reports.ReportDay`)."""


class ReportReads(Protocol):
    def report_days(self, dimension: str, value: str, first: date, last: date) -> list[ReportDay]: ...

    def dimension_values(self, dimension: str) -> list[str]: ...


@dataclass(frozen=True)
class ReportRequest:
    first: date
    last: date
    group_by: GroupBy = "none"
    filter: tuple[str, str] | None = None
    """(dimension, value)."""


def parse_filter(text: str | None) -> tuple[str, str] | None:
    """`dimension:value` (`team:support`), or None."""
    if not text:
        return None
    dimension, sep, value = text.partition(":")
    if not sep or dimension not in GROUP_DIMENSIONS or not value:
        raise InvalidRequestError(
            f"filter: {text!r} is not dimension:value with a dimension of {', '.join(GROUP_DIMENSIONS)}"
        )
    return dimension, value


def check_request(request: ReportRequest, caller: Principal) -> None:
    """Refuse a period or grouping reports cannot answer, or one the caller may not read:
    supervisors read their teams (a `team:` filter of theirs, or grouped by team), admins all."""
    if request.last < request.first:
        raise InvalidRequestError("from: must be on or before to")
    if (request.last - request.first).days + 1 > MAX_DAYS:
        raise InvalidRequestError(f"a report covers at most {MAX_DAYS} days")
    if request.filter is not None and request.group_by in GROUP_DIMENSIONS:
        raise InvalidRequestError(
            "a filter goes with group_by none, day or week; for a filtered breakdown by "
            f"{request.group_by}, use the ticket export"
        )
    if caller.role is Role.ADMIN:
        return
    if caller.role is not Role.SUPERVISOR:
        raise ForbiddenActionError("reports are for supervisors and admins")
    own_team = (
        request.filter is not None and request.filter[0] == "team" and request.filter[1] in caller.teams
    )
    if not own_team and request.group_by != "team":
        raise ForbiddenActionError(
            "a supervisor reports on their own teams: filter team:<one of them>, or group_by team"
        )


def report_timezone(config: HelpdeskConfig, where: tuple[str, str] | None) -> str:
    """The zone a report's days are in: a team's own with `reports.days: team` and a team filter,
    else `reports.timezone` (with team days, other reports sum each ticket on its team's day)."""
    team = where[1] if where is not None and where[0] == "team" else None
    return config.day_zone(team)


def build_report(
    request: ReportRequest,
    caller: Principal,
    reads: ReportReads,
    timezone: str,
    freshness: Freshness,
    now: datetime,
    next_issue_days: float = 7,
) -> Report:
    """The report the caller asked for (checked with `check_request` first)."""
    check_request(request, caller)
    figures = _Figuring(request, now, next_issue_days)
    if request.group_by in GROUP_DIMENSIONS:
        total, groups = _by_dimension(request, caller, reads, figures)
    else:
        history = _history(reads, request.filter or ("all", "*"), request)
        total = figures(history)
        groups = [
            GroupFigures(key=key, figures=figures(days, backlog_from=history, last=last))
            for key, days, last in _by_period(history, request)
        ]
    return Report.model_validate(
        {
            "timezone": timezone,
            "from": request.first,
            "to": request.last,
            "group_by": request.group_by,
            "filter": ":".join(request.filter) if request.filter else None,
            "as_of": freshness.as_of,
            "behind_seconds": freshness.behind_seconds,
            "generated_at": now,
            "total": total,
            "groups": groups,
        }
    )


@dataclass(frozen=True)
class _Figuring:
    request: ReportRequest
    now: datetime
    next_issue_days: float

    def __call__(
        self,
        history: Iterable[DayFigures],
        backlog_from: Iterable[DayFigures] | None = None,
        last: date | None = None,
    ) -> Figures:
        return _figures(history, self.request, self.now, self.next_issue_days, backlog_from, last)


def _by_dimension(
    request: ReportRequest, caller: Principal, reads: ReportReads, figures: _Figuring
) -> tuple[Figures, list[GroupFigures]]:
    """One group per value of the dimension (a supervisor's own teams only), and the total: the
    `all` partition for an admin, the sum of their teams for a supervisor."""
    dimension = str(request.group_by)
    values = reads.dimension_values(dimension)
    if caller.role is not Role.ADMIN:
        values = [v for v in values if v in caller.teams]
    histories = {v: _history(reads, (dimension, v), request) for v in values}
    # a value every contribution has left (a ticket's team before routing) is no group
    histories = {v: h for v, h in histories.items() if any(d.counts for d in h)}
    groups = [GroupFigures(key=v, figures=figures(h)) for v, h in histories.items()]
    if caller.role is Role.ADMIN:
        return figures(_history(reads, ("all", "*"), request)), groups
    return figures([d for h in histories.values() for d in h]), groups


def _history(reads: ReportReads, partition: tuple[str, str], request: ReportRequest) -> list[DayFigures]:
    return list(reads.report_days(partition[0], partition[1], HISTORY_START, request.last))


def _by_period(
    history: Sequence[DayFigures], request: ReportRequest
) -> list[tuple[str, list[DayFigures], date]]:
    """The period's days as groups, each with its last day: each day, or each ISO week (cut at
    the period's ends). A group without activity is there too, with its own backlog."""
    if request.group_by == "none":
        return []
    keys: dict[str, list[DayFigures]] = {}
    lasts: dict[str, date] = {}
    day = request.first
    while day <= request.last:
        lasts[_period_key(day, request.group_by)] = day
        keys.setdefault(_period_key(day, request.group_by), [])
        day += timedelta(days=1)
    for item in history:
        if request.first <= item.day <= request.last:
            keys[_period_key(item.day, request.group_by)].append(item)
    return [(key, days, lasts[key]) for key, days in keys.items()]


def _period_key(day: date, group_by: str) -> str:
    if group_by == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return day.isoformat()


def _figures(
    history: Iterable[DayFigures],
    request: ReportRequest,
    now: datetime,
    next_issue_days: float,
    backlog_from: Iterable[DayFigures] | None = None,
    last: date | None = None,
) -> Figures:
    """The figures of the days within the period; the backlog at the end of `last` (the period's
    last day by default) from the whole history (`backlog_from`, else `history` itself)."""
    days = list(history)
    inside = [d for d in days if request.first <= d.day <= request.last]
    counts: Counter[str] = Counter()
    sums: dict[tuple[str, Clock], SketchSum] = {}
    for item in inside:
        counts.update(item.counts)
        for key, sketch in item.durations.items():
            sums.setdefault(key, SketchSum()).add(sketch)
        for key, sealed in item.sealed.items():
            sums.setdefault(key, SketchSum()).add_sealed(sealed)
    figures = _count_figures(counts)
    history_days = backlog_from if backlog_from is not None else days
    figures.volume.backlog = _backlog(history_days, last or request.last)
    figures.durations = {name: _durations(name, sums) for name in DURATIONS}
    # a resolution on the last day has its window open until next_issue_days later (a day's margin
    # for the time zone)
    still_open = (now.date() - request.last).days <= next_issue_days + 1
    figures.next_issue_provisional = figures.next_issue_avoidance.of > 0 and still_open
    return figures


def _backlog(history: Iterable[DayFigures], last: date) -> int:
    return sum(
        d.counts.get(BACKLOG_OPENED, 0) - d.counts.get(BACKLOG_CLOSED, 0) for d in history if d.day <= last
    )


def _durations(name: str, sums: Mapping[tuple[str, Clock], SketchSum]) -> DurationFigures:
    stats = {}
    for clock, field in CLOCK_FIELDS.items():
        total = sums.get((name, clock))
        count, (median, p90), mean = total.summary((0.5, 0.9)) if total else (0, (None, None), None)
        stats[field] = (
            DurationStats(count=count, median=median, p90=p90, mean=mean) if count else DurationStats()
        )
    return DurationFigures(**stats)


def _rate(count: int, of: int) -> Rate:
    return Rate(count=count, of=of, rate=count / of if of else None)


def _suffixed(counts: Mapping[str, int], prefix: str) -> dict[str, int]:
    return {k.removeprefix(prefix): v for k, v in sorted(counts.items()) if k.startswith(prefix) and v}


def _count_figures(counts: Counter[str]) -> Figures:
    """Every figure that is a count or a ratio of counts."""
    figures = Figures(agent_replies=counts["agent_reply"])
    volume = figures.volume
    volume.created, volume.resolved = counts["created"], counts["resolved"]
    volume.reopened, volume.merged = counts["reopened"], counts["merged"]
    for name, by_hour, by_weekday in (
        ("created", volume.created_by_hour, volume.created_by_weekday),
        ("resolved", volume.resolved_by_hour, volume.resolved_by_weekday),
    ):
        by_hour[:] = [counts[f"{name}.hour.{h}"] for h in range(24)]
        by_weekday[:] = [counts[f"{name}.weekday.{d}"] for d in range(7)]
    resolved = counts["resolved_ticket"]
    figures.one_touch = _rate(counts["one_touch"], resolved)
    figures.first_contact_resolution = _rate(counts["first_contact_resolution"], resolved)
    figures.reopen = _rate(counts["reopened_after_resolution"], counts["first_resolved"])
    figures.next_issue_avoidance = _rate(resolved - counts["next_issue.followed"], resolved)
    figures.sla = {target: _sla(counts, target) for target in SLA_TARGETS}
    figures.escalations = _suffixed(counts, "escalated.")
    figures.automatic_sent = _suffixed(counts, "auto_sent.")
    figures.handle_sources = _suffixed(counts, "handle_source.")
    figures.automatic_suppressed = _suffixed(counts, "auto_suppressed.")
    ratings = {int(k): v for k, v in _suffixed(counts, "csat_rating.").items() if k.isdigit()}
    total = sum(ratings.values())
    satisfaction = figures.satisfaction
    satisfaction.ratings = total
    satisfaction.score = sum(r * n for r, n in ratings.items()) / total if total else None
    satisfaction.positive = _rate(sum(n for r, n in ratings.items() if r >= 4), total)
    satisfaction.response = _rate(total, counts["auto_sent.csat"])
    return figures


def _sla(counts: Mapping[str, int], target: str) -> SlaFigures:
    met, breached = counts.get(f"sla.{target}.met", 0), counts.get(f"sla.{target}.breached", 0)
    return SlaFigures(
        met=met,
        breached=breached,
        open=counts.get(f"sla.{target}.open", 0),
        achievement=met / (met + breached) if met + breached else None,
    )


def _flat(prefix: str, value: object, into: dict[str, object]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flat(f"{prefix}.{key}" if prefix else str(key), inner, into)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            _flat(f"{prefix}.{index}", inner, into)
    else:
        into[prefix] = value


def report_rows(report: Report) -> list[dict[str, object]]:
    """One flat row per group (`group` first), then the total (`group` = `total`): the CSV's rows.
    Columns are dotted paths of the JSON figures (`durations.first_response.business.median`)."""
    rows = []
    for key, figures in [*((g.key, g.figures) for g in report.groups), ("total", report.total)]:
        row: dict[str, object] = {"group": key}
        _flat("", figures.model_dump(mode="json"), row)
        rows.append(row)
    return rows


def report_csv(report: Report) -> str:
    """The report as CSV (RFC 4180, CRLF line ends): a header, a row per group and the total;
    every row has every column (an escalation level or message kind absent from a group is 0)."""
    rows = report_rows(report)
    # the JSON's order, from the total (its counts are the union of the groups'), then any other
    columns = list(dict.fromkeys([*rows[-1], *(c for row in rows for c in row)]))
    counted = ("escalations.", "automatic_sent.", "automatic_suppressed.", "handle_sources.")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(
            ["" if (v := row.get(c, 0 if c.startswith(counted) else None)) is None else v for c in columns]
        )
    return out.getvalue()
