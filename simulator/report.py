"""The simulated period's report (what `GET /reports` answers an admin), its digest and its headline
figures, made at the end of a run from the aggregates route_ticket kept (decision 106).

Plain data in and out: the runner fetches the reports, this module says which ones and what to make
of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.logic.digest import (
    HEADLINES,
    BreachingTicket,
    DigestKind,
    DigestRun,
    digest_periods,
    format_value,
)
from shared.logic.reports import MAX_DAYS
from shared.models.config import HelpdeskConfig
from shared.models.reports import Report

ALL_TEAMS = "all"
MAX_BREACHING = 10
"""The digest lists at most this many tickets breaching."""
DONE = ("resolved", "closed")
"""Statuses whose SLA targets no longer run."""


@dataclass(frozen=True)
class Headline:
    """A headline figure of the period: its label and its value in words (`3 h 05 min`)."""

    name: str
    label: str
    value: str


def simulated_period(start: datetime, end: datetime, timezone: str) -> tuple[date, date]:
    """The local days (in the reporting `timezone`) from the first step to where the clock ended;
    at most the last MAX_DAYS of them, as one report covers no more."""
    zone = ZoneInfo(timezone)
    first, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    return max(first, last - timedelta(days=MAX_DAYS - 1)), last


def _local_midnight(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def digest_of_period(config: HelpdeskConfig, first: date, last: date) -> DigestRun:
    """The digest for all teams a scheduled run would make just after the simulated period: the
    weekly one when the period holds a full ISO week (the last such week), else the daily one of
    its last day; in `reports.timezone`, to the addresses the config gives `all` (if any)."""
    timezone = config.reports.timezone
    sunday = last - timedelta(days=(last.weekday() + 1) % 7)
    weekly = sunday - timedelta(days=6) >= first
    # the Monday after that week, or the day after the period: when the digest would be made
    made_on = sunday + timedelta(days=1) if weekly else last + timedelta(days=1)
    kind: DigestKind = "weekly" if weekly else "daily"
    period, previous = digest_periods(kind, _local_midnight(made_on, timezone), timezone)
    configured = next((d for d in config.reports.digests if d.team == ALL_TEAMS), None)
    to = tuple(configured.to) if configured is not None else ()
    return DigestRun(ALL_TEAMS, "All teams", kind, timezone, to, period, previous)


def _overdue(ticket: dict[str, Any], now: datetime) -> tuple[str, int] | None:
    """The ticket's most overdue SLA target not met (name, minutes past its due time), if any."""
    overdue = []
    for target in ticket["sla"]["targets"]:
        if target["state"] in ("met", "paused") or not target["due_at"]:
            continue
        due = datetime.fromisoformat(target["due_at"].replace("Z", "+00:00"))
        if due < now:
            overdue.append((int((now - due).total_seconds() // 60), target["name"]))
    if not overdue:
        return None
    minutes, name = max(overdue)
    return name, minutes


def breaching_tickets(state: dict[str, Any], now: datetime) -> list[BreachingTicket]:
    """The open tickets of the state past an SLA target at `now`, the most overdue first (at most
    MAX_BREACHING): what the SLA index gives the scheduled digest."""
    found = []
    for ticket in state["tickets"]:
        if ticket["status"] in DONE:
            continue
        overdue = _overdue(ticket, now)
        if overdue is not None:
            subject = ticket["subject"] or next((m["text"] for m in ticket["messages"]), "") or ""
            found.append(BreachingTicket(ticket["number"], subject[:120], overdue[0], overdue[1]))
    found.sort(key=lambda t: (-t.overdue_minutes, t.number))
    return found[:MAX_BREACHING]


def headline_figures(report: Report) -> list[Headline]:
    """The digest's headline figures of the report's whole period, without a comparison."""
    return [Headline(f.name, f.label, format_value(f.read(report.total), f.unit)) for f in HEADLINES]
