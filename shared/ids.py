"""Identifiers: time-ordered, URL-safe ids for tickets, messages and events."""

from __future__ import annotations

import os
from datetime import datetime

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
