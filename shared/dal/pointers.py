"""Pointers: lookup items (`PTR#<kind>#<value>`) that lead from an outside key (a message id, an
address, a conversation) to a ticket, a customer or a message."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from shared.dal.items import (
    MAX_BATCH_GET,
    PointerItem,
)


@dataclass(frozen=True)
class Pointer:
    """A lookup key that leads to a ticket or customer: `PTR#<kind>#<value>`."""

    kind: str
    value: str
    ticket_id: str | None = None
    customer_id: str | None = None
    message_id: str | None = None
    direction: str | None = None
    last_inbound_at: str | None = None
    created_at: str | None = None
    """When the pointer was (last) written; set by the store."""

    @property
    def key(self) -> str:
        return pointer_key(self.kind, self.value)


MAX_KEY_VALUE_BYTES = 512
"""Longest pointer value (UTF-8 bytes) kept readable in its key; DynamoDB allows 2048 for a whole
partition key. Longer values, and values that are not valid Unicode, are keyed by their SHA-256."""


def pointer_key(kind: str, value: str) -> str:
    """The partition key of a pointer: the value itself while it fits, else its digest (the same
    value always gives the same key, so lookups find what writes stored)."""
    try:
        encoded = value.encode("utf-8")
    except UnicodeEncodeError:
        encoded = b""
    if (value and not encoded) or len(encoded) > MAX_KEY_VALUE_BYTES:
        digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
        return f"PTR#{kind}#sha256:{digest}"
    return f"PTR#{kind}#{value}"


def pointer_item(pointer: Pointer, at: str) -> PointerItem:
    return PointerItem(
        pk=pointer.key,
        sk="PTR",
        kind=pointer.kind,
        ticket_id=pointer.ticket_id,
        customer_id=pointer.customer_id,
        message_id=pointer.message_id,
        direction=pointer.direction,
        last_inbound_at=pointer.last_inbound_at,
        created_at=at,
    )


def never_back(pointer: Pointer) -> Any:
    """The condition of an upsert carrying `last_inbound_at`: it may only move forward, so a late
    delivery of an older message loses (ConflictError; the caller re-reads and keeps the later time)."""
    if pointer.last_inbound_at is None:
        return None
    return (
        PointerItem.pk.does_not_exist()
        | PointerItem.last_inbound_at.does_not_exist()
        | (PointerItem.last_inbound_at <= pointer.last_inbound_at)
    )


class PointerReads(Protocol):
    def get_pointers(self, pointers: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Pointer]: ...


class DynamoPointers:
    """PointerReads on the table."""

    def get_pointers(self, pointers: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Pointer]:
        """Fetch pointers by (kind, value) in as few BatchGetItem calls as possible (one for <=100)."""
        wanted = {pointer_key(kind, value): (kind, value) for kind, value in pointers}
        found: dict[tuple[str, str], Pointer] = {}
        keys = list(wanted)
        for start in range(0, len(keys), MAX_BATCH_GET):
            chunk = [(key, "PTR") for key in keys[start : start + MAX_BATCH_GET]]
            for item in PointerItem.batch_get(chunk):
                kind, value = wanted[item.pk]
                found[(kind, value)] = Pointer(
                    kind=kind,
                    value=value,
                    ticket_id=item.ticket_id,
                    customer_id=item.customer_id,
                    message_id=item.message_id,
                    direction=item.direction,
                    last_inbound_at=item.last_inbound_at,
                    created_at=item.created_at,
                )
        return found
