"""A mergeable, subtractable quantile sketch of durations (DDSketch's log buckets, integer counts).

A duration of `x` seconds (x >= 1) falls in bucket `k = ceil(log(x) / log(gamma))` with
`gamma = (1 + alpha) / (1 - alpha)`; a bucket answers with `2 * gamma**k / (gamma + 1)`, which is
within `alpha` (relative) of every value of the bucket. Durations under one second count in the
zero bucket and answer 0. Counts are integers and the sum is kept in whole milliseconds, so adding,
removing and merging are exact: merging two sketches equals the sketch of both sets of values, and
removing a value that was added gives back the sketch before it (docs/decisions.md, 93).

No I/O: `to_item` and `from_item` give the plain map a DynamoDB item holds, keyed by bucket, so an
aggregate's buckets can also be changed in place with `ADD`.
"""

from __future__ import annotations

import math
import sys
from array import array
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from pydantic import BaseModel, Field

DEFAULT_ALPHA = 0.01
"""Relative accuracy: a quantile is within 1% of the exact value (for durations of 1 s and more)."""
MIN_SECONDS = 1.0
"""Durations below this answer 0 (what a helpdesk report shows for under a second)."""


class SketchError(ValueError):
    """Sketches of different accuracies combined, or a value removed that was never added."""


class DurationSketch(BaseModel):
    """Counts of durations (seconds) per logarithmic bucket, with their exact count and sum."""

    alpha: float = Field(default=DEFAULT_ALPHA, gt=0, lt=1)
    zeros: int = 0
    """Durations under MIN_SECONDS."""
    buckets: dict[int, int] = Field(default_factory=dict)
    """Bucket index -> how many durations fell in it (never zero: empty buckets are dropped)."""
    sum_ms: int = 0
    """The durations' exact sum, in whole milliseconds (each rounded once, when added)."""

    @property
    def gamma(self) -> float:
        return (1 + self.alpha) / (1 - self.alpha)

    @property
    def count(self) -> int:
        return self.zeros + sum(self.buckets.values())

    def key(self, seconds: float) -> int | None:
        """The bucket of a duration (None: the zero bucket)."""
        if not math.isfinite(seconds) or seconds < 0:
            raise SketchError(f"a duration is a finite number of seconds >= 0, not {seconds!r}")
        if seconds < MIN_SECONDS:
            return None
        return math.ceil(math.log(seconds) / math.log(self.gamma))

    def bucket_value(self, key: int) -> float:
        """What a bucket answers: the value within `alpha` of all of its durations."""
        return 2 * self.gamma**key / (self.gamma + 1)

    def add(self, seconds: float, times: int = 1) -> DurationSketch:
        """Count a duration `times` times (in place; returns the sketch)."""
        self._change(self.key(seconds), times)
        self.sum_ms += times * round(seconds * 1000)
        return self

    def remove(self, seconds: float, times: int = 1) -> DurationSketch:
        """Take back a duration added before; SketchError if it is not there."""
        self._change(self.key(seconds), -times)
        self.sum_ms -= times * round(seconds * 1000)
        return self

    def _change(self, key: int | None, delta: int) -> None:
        current = self.zeros if key is None else self.buckets.get(key, 0)
        if current + delta < 0:
            raise SketchError(f"bucket {key} holds {current} durations: {-delta} cannot be removed")
        if key is None:
            self.zeros = current + delta
        elif current + delta == 0:
            self.buckets.pop(key, None)
        else:
            self.buckets[key] = current + delta

    def merge(self, other: DurationSketch) -> DurationSketch:
        """Add all durations of `other` (in place)."""
        self._same_accuracy(other)
        self.zeros += other.zeros
        self.sum_ms += other.sum_ms
        for key, count in other.buckets.items():
            self._change(key, count)
        return self

    def subtract(self, other: DurationSketch) -> DurationSketch:
        """Take back all durations of `other`, added before (in place); SketchError if not all are here."""
        self._same_accuracy(other)
        if other.zeros > self.zeros or any(self.buckets.get(k, 0) < c for k, c in other.buckets.items()):
            raise SketchError("the sketch to subtract holds durations this one does not")
        self.zeros -= other.zeros
        self.sum_ms -= other.sum_ms
        for key, count in other.buckets.items():
            self._change(key, -count)
        return self

    def _same_accuracy(self, other: DurationSketch) -> None:
        if other.alpha != self.alpha:
            raise SketchError(f"sketches of accuracy {self.alpha} and {other.alpha} cannot be combined")

    def quantile(self, q: float) -> float | None:
        """The duration at quantile `q` (0..1) by lower nearest rank: of n sorted durations, the one
        at index floor(q * (n - 1)), within `alpha` (relative). None when empty."""
        if not 0 <= q <= 1:
            raise SketchError(f"a quantile is between 0 and 1, not {q!r}")
        count = self.count
        if count == 0:
            return None
        rank = math.floor(q * (count - 1))
        if rank < self.zeros:
            return 0.0
        seen = self.zeros
        for key in sorted(self.buckets):
            seen += self.buckets[key]
            if seen > rank:
                return self.bucket_value(key)
        raise AssertionError("unreachable: the counts add up to count")

    def mean(self) -> float | None:
        """The exact mean of the durations (to the millisecond), None when empty."""
        count = self.count
        return self.sum_ms / 1000 / count if count else None

    def to_item(self) -> dict[str, Any]:
        """A plain map for a DynamoDB item: `a` accuracy, `z` zeros, `s` sum (ms), `b` bucket counts."""
        return {
            "a": str(self.alpha),
            "z": self.zeros,
            "s": self.sum_ms,
            "b": {str(key): count for key, count in sorted(self.buckets.items())},
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> DurationSketch:
        """The sketch `to_item` wrote (numbers may come back as Decimal)."""
        buckets = {int(key): int(count) for key, count in dict(item.get("b") or {}).items() if int(count)}
        return cls(
            alpha=float(item.get("a", DEFAULT_ALPHA)),
            zeros=int(item.get("z", 0)),
            sum_ms=int(item.get("s", 0)),
            buckets=buckets,
        )


FIELD_BITS = 64
"""A sealed sketch keeps each bucket's count in a 64-bit field of one integer (decision 112)."""
FIELD_BYTES = FIELD_BITS // 8


@dataclass(frozen=True, slots=True)
class SealedSketch:
    """A sketch as the sealed report items keep it: its buckets from `low` up as consecutive 64-bit
    fields of one integer (bucket `low + i` in bits `64 i` to `64 i + 63`), so that adding many
    sealed sketches is adding integers, whatever the number of buckets. (A plain dataclass: a
    report reads thousands of them.)"""

    zeros: int = 0
    sum_ms: int = 0
    low: int = 0
    fields: int = 0

    @classmethod
    def of(cls, sketch: DurationSketch) -> SealedSketch:
        """The sketch sealed (its accuracy must be the aggregates' default; no negative counts)."""
        if sketch.alpha != DEFAULT_ALPHA:
            raise SketchError(f"only sketches of accuracy {DEFAULT_ALPHA} are sealed, not {sketch.alpha}")
        if sketch.zeros < 0 or any(count < 0 for count in sketch.buckets.values()):
            raise SketchError("a sketch with a negative count cannot be sealed")
        if not sketch.buckets:
            return cls(zeros=sketch.zeros, sum_ms=sketch.sum_ms)
        low = min(sketch.buckets)
        if low < 0:
            raise SketchError(f"bucket {low} is below the lowest a duration of a second or more has")
        fields = 0
        for key, count in sketch.buckets.items():
            fields |= count << (FIELD_BITS * (key - low))
        return cls(zeros=sketch.zeros, sum_ms=sketch.sum_ms, low=low, fields=fields)

    @property
    def span(self) -> int:
        """How many buckets the fields cover (the lowest to the highest with a duration)."""
        return (self.fields.bit_length() + FIELD_BITS - 1) // FIELD_BITS

    def planes(self) -> tuple[int, bytes]:
        """The fields as byte planes: `width` (1 to 8) planes of `span` bytes each, plane `j` the
        `j`-th byte of every bucket's count, `width` the fewest bytes the largest count needs. Most
        counts fit a byte, so a sealed sketch stores one or two bytes per bucket, not eight."""
        span = self.span
        raw = self.fields.to_bytes(span * FIELD_BYTES, "little")
        width = (
            max((max(raw[j::FIELD_BYTES], default=0) and j + 1) for j in range(FIELD_BYTES)) if span else 0
        )
        return width, b"".join(raw[j::FIELD_BYTES] for j in range(width))

    @classmethod
    def from_planes(
        cls, zeros: int, sum_ms: int, low: int, span: int, width: int, raw: bytes
    ) -> SealedSketch:
        """The sketch `planes` gave (raw is its `width * span` bytes), with no Python loop per bucket."""
        if len(raw) != width * span or not 0 <= width <= FIELD_BYTES:
            raise SketchError(f"{len(raw)} bytes are not {width} planes of {span} buckets")
        fields = bytearray(span * FIELD_BYTES)
        for j in range(width):
            fields[j::FIELD_BYTES] = raw[j * span : (j + 1) * span]
        return cls(zeros=zeros, sum_ms=sum_ms, low=low, fields=int.from_bytes(fields, "little"))


class SketchSum:
    """The sum of many sketches, sealed and not, computed at the cost of one integer addition per
    sealed sketch; `sketch()` gives the result. Unsealed sketches may hold negative counts (what a
    late change took out of a sealed day), as long as the sum has none."""

    def __init__(self) -> None:
        self.zeros = 0
        self.sum_ms = 0
        self.fields = 0
        self.loose: dict[int, int] = {}

    def add(self, sketch: DurationSketch) -> None:
        if sketch.alpha != DEFAULT_ALPHA:
            raise SketchError(f"sketches of accuracy {DEFAULT_ALPHA} and {sketch.alpha} cannot be combined")
        self.zeros += sketch.zeros
        self.sum_ms += sketch.sum_ms
        for key, count in sketch.buckets.items():
            self.loose[key] = self.loose.get(key, 0) + count

    def add_sealed(self, sealed: SealedSketch) -> None:
        self.zeros += sealed.zeros
        self.sum_ms += sealed.sum_ms
        self.fields += sealed.fields << (FIELD_BITS * sealed.low)

    def _counts(self) -> array[int]:
        """Every bucket's count, by bucket (index = bucket), loose changes included; SketchError if
        one comes out negative. C-speed: no Python loop over the buckets but the loose ones."""
        size = (self.fields.bit_length() + FIELD_BITS - 1) // FIELD_BITS
        counts = array("q", self.fields.to_bytes(size * FIELD_BYTES, "little"))
        if sys.byteorder != "little":
            counts.byteswap()
        top = max(self.loose, default=-1) + 1
        if top > len(counts):
            counts.extend([0] * (top - len(counts)))
        for key, count in self.loose.items():
            counts[key] += count
        if self.zeros < 0 or (counts and min(counts) < 0):
            raise SketchError("the sketches add up to a negative count: a change was taken out twice")
        return counts

    def sketch(self) -> DurationSketch:
        """The sum as a sketch; SketchError if a count comes out negative."""
        counts = self._counts()
        buckets = {key: count for key, count in enumerate(counts) if count}
        return DurationSketch(zeros=self.zeros, sum_ms=self.sum_ms, buckets=buckets)

    def summary(self, quantiles: Sequence[float]) -> tuple[int, list[float | None], float | None]:
        """The sum's count, its quantiles and its mean, exactly as `sketch()` would answer them
        (`DurationSketch.quantile`, `mean`), without building the sketch: the ranks are found by
        bisecting the running totals of the counts."""
        counts = self._counts()
        running = list(accumulate(counts))
        total = self.zeros + (running[-1] if running else 0)
        if total == 0:
            return 0, [None for _ in quantiles], None
        gamma = DurationSketch().gamma
        found: list[float | None] = []
        for q in quantiles:
            rank = math.floor(q * (total - 1))
            if rank < self.zeros:
                found.append(0.0)
            else:
                key = bisect_right(running, rank - self.zeros)
                found.append(2 * gamma**key / (gamma + 1))
        return total, found, self.sum_ms / 1000 / total
