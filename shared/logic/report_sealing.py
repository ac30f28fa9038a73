"""Sealing the report aggregates (decision 112): the days a run folds into their sealed items, and
the pass over every dimension value.

A live day item takes every ticket change as `ADD`s, one attribute per sketch bucket, so it grows
with the tickets of its day (up to about 740 buckets per measure and clock). Sealing moves its
content into the day's sealed item, where each sketch is one packed integer; a report then reads
and adds a sealed day at the same cost however many tickets made it. Reports read the sum of both
items, so a report answers the same before, during and after sealing, and a late change to a sealed
day (a reopening, a merge) goes to a new live item until the next seal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol

from shared.models.reports import DIMENSIONS, SealOutcome

SEAL_LAG_DAYS = 2
"""A day is sealed from its UTC date + 2: every time zone's day of that date has ended by then
(UTC-12 to UTC+14), so the pass does not contend with the writes of a day still under way."""
SEAL_WINDOW_DAYS = 7
"""How many days a run looks back over, so a late change within a week is sealed again."""


class SealStore(Protocol):
    def dimension_values(self, dimension: str) -> list[str]: ...

    def seal_days(self, dimension: str, value: str, first: date, last: date) -> SealOutcome: ...


@dataclass
class SealTotals:
    partitions: int = 0
    """Dimension values walked (one Query each)."""
    sealed: int = 0
    contended: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    """Dimension values whose days could not be sealed (a corrupt sum: a negative count), and why;
    the pass goes on with the others."""


def sealing_window(now: datetime) -> tuple[date, date]:
    """The days a scheduled run seals: the week up to the last day that has ended everywhere."""
    last = now.date() - timedelta(days=SEAL_LAG_DAYS)
    return last - timedelta(days=SEAL_WINDOW_DAYS - 1), last


def seal_reports(store: SealStore, first: date, last: date) -> SealTotals:
    """Seal every dimension value's days from `first` to `last`."""
    if first > last:
        raise ValueError(f"nothing to seal from {first} to {last}")
    totals = SealTotals()
    for dimension in DIMENSIONS:
        for value in store.dimension_values(dimension):
            totals.partitions += 1
            try:
                outcome = store.seal_days(dimension, value, first, last)
            except ValueError as exc:  # SketchError too: this value's days stay live, readable
                totals.failed[f"{dimension}:{value}"] = str(exc)
                continue
            totals.sealed += outcome.sealed
            totals.contended += outcome.contended
    return totals
