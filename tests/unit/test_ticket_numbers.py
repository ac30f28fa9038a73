"""Ticket numbers from blocks of the one counter (decision 121): unique, short, rising with time to
within a block's lifetime, consecutive while a desk is quiet."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import clock
from shared.ids import BLOCK_LIFETIME, MAX_BLOCK, NumberBlocks, block_size

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class Counter:
    """The counter item: each reservation and release atomic, as one UpdateItem is."""

    value: int | None = None
    writes: list[str] = field(default_factory=list)

    def reserve_ticket_numbers(self, start: int, count: int) -> int:
        self.writes.append(f"reserve {count}")
        self.value = (self.value if self.value is not None else start - 1) + count
        return self.value

    def release_ticket_numbers(self, first: int, last: int) -> bool:
        self.writes.append(f"release {first}-{last}")
        if self.value != last:
            return False
        self.value = first - 1
        return True


@pytest.fixture
def now() -> Iterator[list[datetime]]:
    moment = [START]
    clock.set_clock(lambda: moment[0])
    yield moment
    clock.set_clock(None)


def test_block_sizes_follow_the_recent_rate_within_bounds() -> None:
    # Given numbers taken in the last ten seconds, When the next block is sized, Then it holds
    # about thirty seconds of that rate, at least one and at most MAX_BLOCK
    assert [block_size(n) for n in (0, 1, 2, 10, 33, 34, 1000)] == [1, 3, 6, 30, 99, 100, MAX_BLOCK]


def test_a_quiet_desk_takes_consecutive_numbers_one_reservation_each(now: list[datetime]) -> None:
    # Given one process and a ticket every minute
    counter, blocks = Counter(), NumberBlocks()
    numbers = []
    for _ in range(5):
        numbers.append(blocks.take(counter, 1000))
        now[0] += timedelta(minutes=1)
    # Then the numbers are consecutive from the start, one reservation of one number each
    assert numbers == [1000, 1001, 1002, 1003, 1004]
    assert counter.writes == ["reserve 1"] * 5


def test_under_load_one_reservation_serves_many_tickets(now: list[datetime]) -> None:
    # Given one process taking a number a second for five minutes
    counter, blocks = Counter(), NumberBlocks()
    numbers = []
    for _ in range(300):
        numbers.append(blocks.take(counter, 1))
        now[0] += timedelta(seconds=1)
    # Then they are consecutive (one process, every block used up), and the counter was written
    # for fewer than one ticket in twenty
    assert numbers == list(range(1, 301))
    assert len(counter.writes) < 300 / 20


def test_an_expired_block_is_put_back_when_nothing_was_reserved_after_it(now: list[datetime]) -> None:
    # Given a burst that grew the block, then a pause longer than a block's lifetime
    counter, blocks = Counter(), NumberBlocks()
    burst = [blocks.take(counter, 1) for _ in range(3)]  # a block of 1, then one of 3
    now[0] += BLOCK_LIFETIME
    # When the next ticket comes
    after = blocks.take(counter, 1)
    # Then the unused rest was put back and the numbers stay consecutive
    assert [*burst, after] == [1, 2, 3, 4]
    assert any(write.startswith("release") for write in counter.writes)


def test_an_expired_block_is_skipped_when_another_process_reserved_after_it(now: list[datetime]) -> None:
    # Given two processes, the first holding a grown block when the second reserves
    counter, first, second = Counter(), NumberBlocks(), NumberBlocks()
    taken = [first.take(counter, 1) for _ in range(3)]
    taken.append(second.take(counter, 1))
    now[0] += BLOCK_LIFETIME
    # When the first takes again after its block expired
    taken.append(first.take(counter, 1))
    # Then its unused numbers are left as a gap: every number is still taken once
    assert len(set(taken)) == len(taken)
    assert taken[-1] > taken[-2] > max(taken[:3])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.sampled_from([0, 0, 0, 1, 5, 30, 59, 60, 61, 600])),
        min_size=1,
        max_size=150,
    )
)
def test_concurrent_allocators_take_unique_numbers_rising_with_time(steps: list[tuple[int, int]]) -> None:
    # Given four processes taking numbers from one counter, interleaved, with time passing
    counter = Counter()
    allocators = [NumberBlocks() for _ in range(4)]
    moment = [START]
    clock.set_clock(lambda: moment[0])
    taken: dict[int, datetime] = {}
    try:
        for process, seconds in steps:
            moment[0] += timedelta(seconds=seconds)
            number = allocators[process].take(counter, 1)
            # Then no number is taken twice
            assert number not in taken
            taken[number] = moment[0]
    finally:
        clock.set_clock(None)
    # And a smaller number is never taken more than a block's lifetime after a larger one
    ordered = sorted(taken)
    latest = START
    for number in ordered:
        assert latest - taken[number] <= BLOCK_LIFETIME
        latest = max(latest, taken[number])
    # And the counter is at or past every number taken
    assert counter.value is not None
    assert counter.value >= ordered[-1]
