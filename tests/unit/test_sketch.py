"""The duration sketch: merge is union, add then remove is identity, quantiles within alpha."""

from __future__ import annotations

import json
import math
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.models.sketch import DEFAULT_ALPHA, DurationSketch, SealedSketch, SketchError, SketchSum

BOUNDED = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# durations a helpdesk sees: sub-second to about three years, in milliseconds
DURATIONS = st.integers(min_value=0, max_value=100_000_000_000).map(lambda ms: ms / 1000)
SAMPLES = st.lists(DURATIONS, min_size=0, max_size=200)
QUANTILES = st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0]) | st.floats(0, 1)


def sketch_of(values: list[float], alpha: float = DEFAULT_ALPHA) -> DurationSketch:
    sketch = DurationSketch(alpha=alpha)
    for value in values:
        sketch.add(value)
    return sketch


def exact_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]


@BOUNDED
@given(SAMPLES, SAMPLES)
def test_merging_two_sketches_equals_the_sketch_of_both_samples(first, second) -> None:
    # Given the sketches of two samples
    merged = sketch_of(first).merge(sketch_of(second))
    # Then their merge is exactly the sketch of the union, whichever the order
    assert merged == sketch_of(first + second)
    assert merged == sketch_of(second).merge(sketch_of(first))


@BOUNDED
@given(SAMPLES, SAMPLES)
def test_adding_then_removing_values_gives_back_the_sketch_before(kept, passing) -> None:
    # Given a sketch of some values
    before = sketch_of(kept)
    # When other values are added and then removed one by one, in another order
    changed = sketch_of(kept)
    for value in passing:
        changed.add(value)
    for value in reversed(passing):
        changed.remove(value)
    # Then it is the sketch it was, bucket for bucket, sum included
    assert changed == before


@BOUNDED
@given(SAMPLES, SAMPLES)
def test_subtracting_a_contribution_undoes_its_merge(base, contribution) -> None:
    # Given an aggregate and one ticket's contribution merged into it
    aggregate = sketch_of(base).merge(sketch_of(contribution))
    # When the contribution is subtracted
    aggregate.subtract(sketch_of(contribution))
    # Then the aggregate is as before
    assert aggregate == sketch_of(base)


@BOUNDED
@given(st.lists(DURATIONS, min_size=1, max_size=300), QUANTILES)
def test_a_quantile_is_within_alpha_of_the_exact_one(values, q) -> None:
    # Given a sketch of durations
    sketch = sketch_of(values)
    # When a quantile is asked
    estimate = sketch.quantile(q)
    exact = exact_quantile(values, q)
    # Then it is within 1% of the exact lower-nearest-rank quantile (under 1 s answers 0)
    assert estimate is not None
    if exact < 1:
        assert estimate == 0.0
    else:
        assert abs(estimate - exact) <= DEFAULT_ALPHA * exact * (1 + 1e-9)


@BOUNDED
@given(st.lists(DURATIONS, min_size=1, max_size=100), st.sampled_from([0.001, 0.02, 0.05]), QUANTILES)
def test_the_guarantee_holds_for_other_accuracies(values, alpha, q) -> None:
    estimate = sketch_of(values, alpha).quantile(q)
    exact = exact_quantile(values, q)
    assert estimate is not None
    assert abs(estimate - exact) <= max(alpha * exact * (1 + 1e-9), 1.0 if exact < 1 else 0.0)


@BOUNDED
@given(SAMPLES)
def test_the_item_round_trips_through_json_and_decimals(values) -> None:
    # Given a sketch written as an item (DynamoDB gives numbers back as Decimal)
    sketch = sketch_of(values)
    item = json.loads(json.dumps(sketch.to_item()), parse_int=Decimal)
    # Then reading it gives the same sketch
    assert DurationSketch.from_item(item) == sketch


def test_the_mean_is_exact_to_the_millisecond() -> None:
    sketch = sketch_of([0.5, 60.0, 3600.25])
    assert sketch.count == 3
    assert sketch.mean() == pytest.approx((0.5 + 60 + 3600.25) / 3)


def test_an_empty_sketch_has_no_quantile_nor_mean() -> None:
    assert DurationSketch().quantile(0.5) is None
    assert DurationSketch().mean() is None


def test_removing_a_duration_never_added_is_refused() -> None:
    # Given a sketch with one hour in it
    sketch = sketch_of([3600.0])
    # Then taking back a day, or a second hour, fails and changes nothing
    with pytest.raises(SketchError):
        sketch.remove(86400.0)
    sketch.remove(3600.0)
    with pytest.raises(SketchError):
        sketch.remove(3600.0)
    assert sketch == DurationSketch()


def test_subtracting_more_than_was_merged_is_refused() -> None:
    aggregate = sketch_of([60.0])
    with pytest.raises(SketchError):
        aggregate.subtract(sketch_of([60.0, 60.0]))
    assert aggregate == sketch_of([60.0])


def test_sketches_of_different_accuracy_do_not_merge() -> None:
    with pytest.raises(SketchError):
        sketch_of([1.0]).merge(sketch_of([1.0], alpha=0.02))


def test_negative_or_infinite_durations_are_refused() -> None:
    with pytest.raises(SketchError):
        DurationSketch().add(-1.0)
    with pytest.raises(SketchError):
        DurationSketch().add(float("inf"))


def test_a_year_of_durations_at_one_percent_fits_in_a_small_item() -> None:
    # Given one duration per bucket from one second to a year (the worst case for size)
    sketch = DurationSketch()
    value = 1.0
    while value < 366 * 86400:
        sketch.add(value)
        value *= sketch.gamma
    # Then the item stays a few kilobytes (a DynamoDB item may hold 400 KB)
    assert len(sketch.buckets) < 900
    assert len(json.dumps(sketch.to_item())) < 12_000


# -- sealed sketches (decision 112) ----------------------------------------------------------------


def taken_back(sketch: DurationSketch, values: list[float]) -> DurationSketch:
    """What a live day item holds after late changes took `values` out of its sealed day: counts
    that may be negative (as `report_day_from_attributes` reads them)."""
    for value in values:
        key = sketch.key(value)
        if key is None:
            sketch.zeros -= 1
        else:
            sketch.buckets[key] = sketch.buckets.get(key, 0) - 1
        sketch.sum_ms -= round(value * 1000)
    return sketch


@BOUNDED
@given(st.lists(SAMPLES, min_size=0, max_size=6), SAMPLES, SAMPLES)
def test_sealed_and_loose_sketches_add_up_to_the_merge_of_all_of_them(sealed, loose, taken_out) -> None:
    # Given days sealed into packed integers (one of them holding values a late change took out
    # again), and live changes beside them (a live sketch with negative counts for the taken out)
    total = SketchSum()
    expected = DurationSketch()
    for values in [*sealed, taken_out]:
        day = SealedSketch.of(sketch_of(values))
        width, raw = day.planes()
        total.add_sealed(SealedSketch.from_planes(day.zeros, day.sum_ms, day.low, day.span, width, raw))
    for values in [*sealed, loose]:
        expected.merge(sketch_of(values))
    total.add(taken_back(sketch_of(loose), taken_out))
    # Then the sum is the sketch of the values still counted: the same buckets, zeros and sum
    assert total.sketch().model_dump() == expected.model_dump()


def test_a_sum_with_a_negative_count_is_refused() -> None:
    total = SketchSum()
    total.add_sealed(SealedSketch.of(sketch_of([90.0])))
    total.add(taken_back(DurationSketch(), [4000.0]))
    with pytest.raises(SketchError, match="negative"):
        total.sketch()


def test_a_sealed_sketch_takes_a_byte_or_two_per_bucket_of_its_span() -> None:
    # a minute to a month at 1 %: about 540 buckets, whatever the number of durations
    few = SealedSketch.of(sketch_of([60.0, 2_592_000.0]))
    many = SealedSketch.of(
        sketch_of([60.0 * 1.0005**n for n in range(21_000)] + [2_592_000.0]).add(3600, 300)
    )
    assert few.span == many.span <= 545
    (few_width, few_raw), (many_width, many_raw) = few.planes(), many.planes()
    assert (few_width, len(few_raw)) == (1, few.span)  # counts under 256: one byte each
    assert (many_width, len(many_raw)) == (2, 2 * many.span)  # up to 65,535: two
    assert SealedSketch.from_planes(0, 0, many.low, many.span, many_width, many_raw).fields == many.fields
    # durations under a second only: no bucket, no plane
    assert SealedSketch.of(DurationSketch().add(0.2, 3)).planes() == (0, b"")


def test_planes_of_the_wrong_size_are_refused() -> None:
    with pytest.raises(SketchError, match="planes"):
        SealedSketch.from_planes(0, 0, 10, span=4, width=1, raw=b"abc")


def test_only_sketches_of_the_aggregates_accuracy_and_without_negative_counts_are_sealed() -> None:
    with pytest.raises(SketchError, match="accuracy"):
        SealedSketch.of(DurationSketch(alpha=0.02).add(5))
    with pytest.raises(SketchError, match="negative"):
        SealedSketch.of(taken_back(DurationSketch(), [5.0]))


@BOUNDED
@given(st.lists(SAMPLES, min_size=0, max_size=4), SAMPLES, st.lists(QUANTILES, min_size=1, max_size=4))
def test_a_sums_summary_answers_what_its_sketch_answers(sealed, loose, quantiles) -> None:
    # Given sealed days and a live sketch summed
    total = SketchSum()
    for values in sealed:
        total.add_sealed(SealedSketch.of(sketch_of(values)))
    total.add(sketch_of(loose))
    # Then the count, quantiles and mean read from the sum are the sketch's, exactly
    sketch = total.sketch()
    expected = [sketch.quantile(q) for q in quantiles]
    assert total.summary(quantiles) == (sketch.count, expected, sketch.mean())
