"""Opaque listing cursors: what a listing hands out to come back to where a page ended.

A cursor is the base64url of a JSON list of strings (the position in the index the listing
reads). It is not secret and not signed: it holds nothing the caller may not see, and the
listing checks each part's shape before a position reaches DynamoDB, so a forged cursor is a 400
(`InvalidCursorError`), never a read elsewhere or a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any

from shared.errors import HelpdeskError


class InvalidCursorError(HelpdeskError):
    """A listing cursor that no listing of ours handed out (HTTP 400)."""


def encode_cursor(parts: Sequence[str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, size: int, *checks: Callable[[str], bool]) -> list[str]:
    """The `size` strings `cursor` holds, each passing its check (`checks[i]` for part `i`)."""
    refused = InvalidCursorError("cursor: not a cursor this listing handed out")
    try:
        value: Any = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise refused from exc
    if not (isinstance(value, list) and len(value) == size and all(isinstance(v, str) and v for v in value)):
        raise refused
    if not all(check(part) for check, part in zip(checks, value, strict=False)):
        raise refused
    return value
