"""DeliveryMarks in memory: delivery markers and the `DELIVERYSENDING` partition of gsi2."""

from __future__ import annotations

from datetime import datetime

from shared import clock
from shared.dal.deliveries import DELIVERY_SENDING, Delivery, Settled, delivery_from_item, delivery_pk
from shared.dal.items import DeliveryItem
from tests.fakes.table import Item, MemoryStore, as_model, both, equals, update_op


class MemoryDeliveries(MemoryStore):
    """DeliveryMarks on the in-memory table."""

    def claim_delivery(self, key: str, at: datetime, expires: datetime) -> bool:
        stamp = clock.iso(at)

        def claim(item: Item) -> None:
            item.update(
                entity="delivery",
                key=key,
                state="sending",
                claimed_at=stamp,
                attempts=int(item.get("attempts", 0)) + 1,
                expires_at=int(expires.timestamp()),
                gsi2pk=DELIVERY_SENDING,
                gsi2sk=f"{stamp}#{key}",
            )

        def free(item: Item | None) -> bool:
            return item is None or item.get("state") == "retry"

        return not self.table.transact([update_op((delivery_pk(key), "DELIVERY"), "claim", free, claim)])

    def settle_delivery(self, key: str, claimed_at: datetime, state: Settled, detail: str | None) -> bool:
        def settle(item: Item) -> None:
            item.update(state=state, settled_at=clock.iso(clock.now()), detail=detail or None)
            item["gsi2pk"] = item["gsi2sk"] = None

        ours = both(equals("state", "sending"), equals("claimed_at", clock.iso(claimed_at)))
        return not self.table.transact([update_op((delivery_pk(key), "DELIVERY"), "settle", ours, settle)])

    def get_delivery(self, key: str) -> Delivery | None:
        item = self.table.get((delivery_pk(key), "DELIVERY"))
        return delivery_from_item(as_model(DeliveryItem, item)) if item is not None else None

    def stuck_deliveries(self, claimed_before: datetime, limit: int = 100) -> list[Delivery]:
        items = self.table.query_index("gsi2", DELIVERY_SENDING, at_most=f"{clock.iso(claimed_before)}#~")
        return [delivery_from_item(as_model(DeliveryItem, item)) for item in items[:limit]]
