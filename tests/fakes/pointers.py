"""PointerReads in memory."""

from __future__ import annotations

from collections.abc import Sequence

from shared.dal.items import PointerItem
from shared.dal.pointers import Pointer, pointer_key
from tests.fakes.table import MemoryStore, as_model


class MemoryPointers(MemoryStore):
    """PointerReads on the in-memory table."""

    def get_pointers(self, pointers: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Pointer]:
        found: dict[tuple[str, str], Pointer] = {}
        for kind, value in pointers:
            stored = self.table.get((pointer_key(kind, value), "PTR"))
            if stored is None:
                continue
            item = as_model(PointerItem, stored)
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
