"""Which aggregate items a ledger's contributions go to, and what a ledger change adds to each.

Each contribution counts in the `all` item of its day and in one item per dimension of the ticket's
facts (one per tag; the agent is the contribution's own when it names one, else the assignee; a
missing value is `none`). A ticket's change takes out what its old ledger put in and puts in its new
ledger's, as net `ADD`s per item and attribute (shared/models/reports.py names the attributes), so
an aggregate is always the exact sum of the stored ledgers (decision 95).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

from shared.logic.metrics.contributions import Contribution, contributions
from shared.models.metrics import MetricLedger
from shared.models.reports import (
    ALL_VALUE,
    CLOCKS,
    NONE_VALUE,
    ReportDay,
    ReportDelta,
    ReportKey,
    count_attribute,
    duration_attribute,
)
from shared.models.sketch import DurationSketch

_BUCKETS = DurationSketch()
"""The aggregates' bucket mapping (the default accuracy, decision 93)."""


def dimension_values(ledger: MetricLedger, contribution: Contribution) -> list[tuple[str, str]]:
    """(dimension, value) of every item the contribution counts in."""
    facts = ledger.facts
    return [
        ("all", ALL_VALUE),
        ("team", facts.team or NONE_VALUE),
        ("agent", contribution.agent or facts.agent or NONE_VALUE),
        ("channel", facts.channel or NONE_VALUE),
        ("inbox", facts.inbox or NONE_VALUE),
        *(("tag", tag) for tag in (facts.tags or [NONE_VALUE])),
        ("tier", facts.customer_tier or NONE_VALUE),
        ("priority", facts.priority or NONE_VALUE),
    ]


def keyed(ledger: MetricLedger | None) -> Counter[tuple[ReportKey, Contribution]]:
    """Every (item, contribution) the ledger adds (a multiset: repeats are real counts)."""
    found: Counter[tuple[ReportKey, Contribution]] = Counter()
    if ledger is None:
        return found
    for contribution in contributions(ledger):
        for dimension, value in dimension_values(ledger, contribution):
            found[(ReportKey(dimension, value, contribution.day), contribution)] += 1
    return found


def attributes(contribution: Contribution) -> dict[str, int]:
    """What one contribution adds to an item: its count, and its durations' sketch buckets and sums."""
    adds = {count_attribute(contribution.metric): 1}
    seconds = (contribution.calendar_seconds, contribution.business_seconds)
    for clock, value in zip(CLOCKS, seconds, strict=True):
        if value is None:
            continue
        bucket = _BUCKETS.key(value)
        part = "z" if bucket is None else f"b{bucket}"
        adds[duration_attribute(contribution.metric, clock, part)] = 1
        adds[duration_attribute(contribution.metric, clock, "ms")] = round(value * 1000)
    return adds


def _accumulate(
    totals: dict[ReportKey, Counter[str]],
    found: Iterable[tuple[tuple[ReportKey, Contribution], int]],
    sign: int,
) -> None:
    for (key, contribution), times in found:
        for name, number in attributes(contribution).items():
            totals[key][name] += sign * times * number


def report_deltas(old: MetricLedger | None, new: MetricLedger | None) -> list[ReportDelta]:
    """The net `ADD`s that take the aggregates from holding `old` to holding `new` (by item, sorted;
    items and attributes whose changes cancel out are left out)."""
    before, after = keyed(old), keyed(new)
    totals: dict[ReportKey, Counter[str]] = defaultdict(Counter)
    _accumulate(totals, (before - after).items(), -1)
    _accumulate(totals, (after - before).items(), 1)
    deltas = []
    for key in sorted(totals):
        adds = {name: number for name, number in sorted(totals[key].items()) if number != 0}
        if adds:
            deltas.append(ReportDelta(key, adds))
    return deltas


def new_dimension_values(old: MetricLedger | None, new: MetricLedger | None) -> list[tuple[str, str]]:
    """(dimension, value) pairs `new` counts in and `old` did not (a report enumerates them)."""
    seen = {(key.dimension, key.value) for key, _ in keyed(old)}
    return sorted({(key.dimension, key.value) for key, _ in keyed(new)} - seen)


def aggregate(ledgers: Iterable[MetricLedger]) -> dict[ReportKey, ReportDay]:
    """The aggregate items of a set of ledgers, summed in memory (what the table holds for them)."""
    days: dict[ReportKey, ReportDay] = {}
    for ledger in ledgers:
        for (key, contribution), times in keyed(ledger).items():
            day = days.setdefault(key, ReportDay(key.dimension, key.value, key.day))
            day.counts[contribution.metric] = day.counts.get(contribution.metric, 0) + times
            seconds = (contribution.calendar_seconds, contribution.business_seconds)
            for clock, value in zip(CLOCKS, seconds, strict=True):
                if value is not None:
                    sketch = day.durations.setdefault((contribution.metric, clock), DurationSketch())
                    sketch.add(value, times)
    return days
