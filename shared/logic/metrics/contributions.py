"""What a ledger adds to the per-day aggregates, and what changes when a ticket's ledger changes.

A contribution is one count (or one duration) on one local day; the aggregates are their sums per
day and dimension (the ledger's facts; replies and handle time for the replying agent). When a
ticket's ledger changes, `difference` gives what to take out and what to put in (decision 92).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from shared.models.metrics import MetricLedger, Segment


@dataclass(frozen=True, order=True)
class Contribution:
    day: date
    metric: str
    """A duration measure (`first_response`...), a happening (`created`, `escalated.2`,
    `auto_sent.ack`), an outcome (`one_touch`, `sla.resolution.breached`, `next_issue.followed`), the
    source of a handle segment (`handle_source.presence`)."""
    agent: str | None = None
    """Replies and handle time: the replying agent (others count for the ticket's assignee)."""
    calendar_seconds: float | None = None
    business_seconds: float | None = None


def _durations(ledger: MetricLedger) -> list[Contribution]:
    found = []
    for measure in ledger.durations:
        for s in measure.segments:
            if not s.counted or s.day is None:
                continue
            found.append(Contribution(s.day, measure.name, s.agent, s.calendar_seconds, s.business_seconds))
            if measure.name == "handle":  # which source measured it: reports say so
                found.append(Contribution(s.day, f"{HANDLE_SOURCE}{handle_source(s)}", s.agent))
    return found


HANDLE_SOURCE = "handle_source."
"""A count per handle segment: `handle_source.presence` or `handle_source.claim`."""


def handle_source(segment: Segment) -> str:
    """`presence` for a handle segment measured from the agent's viewing and composing, `claim` for
    one from claim or assignment (or the wait's start) to the reply."""
    return "presence" if segment.start.kind == "presence" else "claim"


BY_HOUR = ("created", "resolved")
"""Volume by hour of day and weekday."""


def _happenings(ledger: MetricLedger) -> list[Contribution]:
    found = []
    for happening in ledger.happenings:
        metric = happening.name if happening.detail is None else f"{happening.name}.{happening.detail}"
        found.append(Contribution(happening.day, metric, happening.agent))
        if happening.name in BY_HOUR:
            found.append(Contribution(happening.day, f"{happening.name}.hour.{happening.hour}"))
            found.append(Contribution(happening.day, f"{happening.name}.weekday.{happening.weekday}"))
    return found


def _outcomes(ledger: MetricLedger) -> list[Contribution]:
    outcomes = ledger.outcomes
    found = [Contribution(ledger.created_day, f"sla.{o.target}.{o.outcome}") for o in ledger.sla]
    if outcomes.first_resolved_day is not None and ledger.merged_into is None:
        found.append(Contribution(outcomes.first_resolved_day, "first_resolved"))
        if outcomes.reopened:
            found.append(Contribution(outcomes.first_resolved_day, "reopened_after_resolution"))
    day = outcomes.resolved_day
    if day is None:
        return found
    found.append(Contribution(day, "resolved_ticket"))
    flags = {"one_touch": outcomes.one_touch, "first_contact_resolution": outcomes.first_contact_resolution}
    found += [Contribution(day, name) for name, held in flags.items() if held]
    if outcomes.next_issue is not None and outcomes.next_issue.next_ticket_id is not None:
        found.append(Contribution(day, "next_issue.followed"))
    return found


BACKLOG_OPENED = "backlog.opened"
BACKLOG_CLOSED = "backlog.closed"
"""A span of being open starts and ends: the backlog at the end of a day is the sum of `opened`
less `closed` over every day up to it."""


def _backlog(ledger: MetricLedger) -> list[Contribution]:
    zone = ZoneInfo(ledger.timezone)
    found = []
    for span in ledger.open_spans:
        found.append(Contribution(span.start.astimezone(zone).date(), BACKLOG_OPENED))
        if span.stop is not None:
            found.append(Contribution(span.stop.astimezone(zone).date(), BACKLOG_CLOSED))
    return found


def contributions(ledger: MetricLedger) -> list[Contribution]:
    """Everything the ledger adds to the aggregates, sorted (a multiset: repeats are real counts)."""
    parts = [*_durations(ledger), *_happenings(ledger), *_outcomes(ledger), *_backlog(ledger)]
    return sorted(parts, key=_key)


def _key(contribution: Contribution) -> tuple[date, str, str, float, float]:
    return (
        contribution.day,
        contribution.metric,
        contribution.agent or "",
        contribution.calendar_seconds or 0.0,
        contribution.business_seconds or 0.0,
    )


def difference(
    old: MetricLedger | None, new: MetricLedger | None
) -> tuple[list[Contribution], list[Contribution]]:
    """What to remove and what to add when a ticket's ledger goes from `old` to `new` (None: none)."""
    before = Counter(contributions(old) if old is not None else [])
    after = Counter(contributions(new) if new is not None else [])
    removed = sorted((before - after).elements(), key=_key)
    added = sorted((after - before).elements(), key=_key)
    return removed, added
