"""Identifiers: time-ordered, URL-safe ids for tickets, messages and events, and ticket numbers."""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from shared import clock

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def _b32(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def new_id(prefix: str, at: datetime | None = None) -> str:
    """A ULID-style id (48-bit millisecond time + 80 random bits) with a kind prefix, e.g. `tkt_...`."""
    moment = at or clock.now()
    millis = int(moment.timestamp() * 1000)
    return f"{prefix}_{_b32(millis, 10)}{_b32(int.from_bytes(os.urandom(10), 'big'), 16)}"


BLOCK_LIFETIME = timedelta(seconds=60)
"""How long a reserved block of ticket numbers may be used: a number is taken at most this long after
its block was reserved, so numbers rise with the time they were taken to within this (decision 121)."""
RATE_WINDOW = timedelta(seconds=10)
"""The recent past a process's rate of new tickets is measured over, to size its next block."""
BLOCK_SECONDS = 30
"""A block holds about this many seconds of the recent rate (half its lifetime: a rate that halves
still uses it up)."""
MAX_BLOCK = 100
"""The largest block: bounds the numbers lost when a process stops with a block in hand."""


class NumberCounter(Protocol):
    """The one ticket counter: numbers are reserved from it in blocks and unused ones put back."""

    def reserve_ticket_numbers(self, start: int, count: int) -> int:
        """Atomically reserve the next `count` numbers (the first ever is `start`); the last one."""
        ...

    def release_ticket_numbers(self, first: int, last: int) -> bool:
        """Put back the unused `first`..`last` if nothing was reserved after them (the counter is
        still at `last`); whether they were."""
        ...


@dataclass
class _Block:
    next: int
    last: int
    reserved_at: datetime


@dataclass
class NumberBlocks:
    """Ticket numbers for one process, taken from blocks it reserves on the counter (decision 121).

    A block is sized to the process's recent rate (1 when it is quiet, so a small desk's numbers
    stay consecutive, up to `MAX_BLOCK` under load) and used for at most `BLOCK_LIFETIME`; what is
    left of an expired block is put back when nothing was reserved after it, else skipped. Numbers
    are unique (each comes from one reservation, and a number is put back only unused and with its
    block abandoned). If n < m, n's block was reserved no later than m's, so n was taken at most
    `BLOCK_LIFETIME` after m was.
    """

    block: _Block | None = None
    taken: deque[datetime] = field(default_factory=deque)

    def take(self, counter: NumberCounter, start: int) -> int:
        """The next ticket number (the first ever is `start`)."""
        now = clock.now()
        while self.taken and not now - RATE_WINDOW < self.taken[0] <= now:
            self.taken.popleft()
        block = self.block
        if block is not None and not (block.next <= block.last and self._fresh(block, now)):
            if block.next <= block.last:
                counter.release_ticket_numbers(block.next, block.last)
            block = None
        if block is None:
            size = block_size(len(self.taken))
            last = counter.reserve_ticket_numbers(start, size)
            block = _Block(last - size + 1, last, now)
            self.block = block
        number = block.next
        block.next += 1
        self.taken.append(now)
        return number

    @staticmethod
    def _fresh(block: _Block, now: datetime) -> bool:
        return block.reserved_at <= now < block.reserved_at + BLOCK_LIFETIME


def block_size(recent: int) -> int:
    """The size of the next block after `recent` numbers taken in the last `RATE_WINDOW`: about
    `BLOCK_SECONDS` of that rate, at least 1 and at most `MAX_BLOCK`."""
    wanted = -(-recent * BLOCK_SECONDS // int(RATE_WINDOW.total_seconds()))
    return max(1, min(MAX_BLOCK, wanted))
