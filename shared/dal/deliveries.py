"""Scheduled deliveries (digest emails, range alerts): one marker item per delivery key, claimed
before the send and settled after it, so a retried or repeated schedule run sends each at most once
and sends again only what never left (decision 100).

States: `sending` (claimed; in the sparse `DELIVERYSENDING` partition of gsi2 by claim time until
settled), `sent`, `retry` (a transient failure released the claim: the next run claims it again),
`failed` (refused for good) and `unknown` (the provider may have sent it; never sent again)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from pynamodb.exceptions import DoesNotExist, UpdateError

from shared import clock
from shared.dal.base import Table, raise_if_permanent
from shared.dal.items import DeliveryItem

DELIVERY_SENDING = "DELIVERYSENDING"
"""gsi2 partition of deliveries claimed and not yet settled, by claim time."""

DeliveryState = Literal["sending", "sent", "retry", "failed", "unknown"]
Settled = Literal["sent", "retry", "failed", "unknown"]


@dataclass(frozen=True)
class Delivery:
    key: str
    state: DeliveryState
    claimed_at: datetime
    attempts: int
    detail: str | None = None


def delivery_pk(key: str) -> str:
    return f"DELIVERY#{key}"


def delivery_from_item(item: DeliveryItem) -> Delivery:
    state: DeliveryState = item.state  # type: ignore[assignment]
    return Delivery(
        str(item.key), state, clock.parse_iso(item.claimed_at), int(item.attempts or 0), item.detail
    )


class DeliveryMarks(Protocol):
    def claim_delivery(self, key: str, at: datetime, expires: datetime) -> bool:
        """Claim `key` for sending at `at`: True when it was never claimed or a transient failure
        released it; False when it is sent, failed, unknown or being sent."""
        ...

    def settle_delivery(self, key: str, claimed_at: datetime, state: Settled, detail: str | None) -> bool:
        """Record the outcome of the claim made at `claimed_at`; False when that claim is no longer
        the item's (settled meanwhile, e.g. as unknown by a later run)."""
        ...

    def get_delivery(self, key: str) -> Delivery | None:
        """The delivery as stored (strongly consistent), or None."""
        ...

    def stuck_deliveries(self, claimed_before: datetime, limit: int = 100) -> list[Delivery]:
        """Deliveries claimed at or before `claimed_before` and never settled (reads only those)."""
        ...


class DynamoDeliveries(Table):
    """DeliveryMarks on the table."""

    def claim_delivery(self, key: str, at: datetime, expires: datetime) -> bool:
        stamp = clock.iso(at)
        try:
            DeliveryItem(pk=delivery_pk(key), sk="DELIVERY").update(
                actions=[
                    DeliveryItem.entity.set("delivery"),
                    DeliveryItem.key.set(key),
                    DeliveryItem.state.set("sending"),
                    DeliveryItem.claimed_at.set(stamp),
                    DeliveryItem.attempts.add(1),
                    DeliveryItem.expires_at.set(int(expires.timestamp())),
                    DeliveryItem.gsi2pk.set(DELIVERY_SENDING),
                    DeliveryItem.gsi2sk.set(f"{stamp}#{key}"),
                ],
                condition=DeliveryItem.pk.does_not_exist() | (DeliveryItem.state == "retry"),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise_if_permanent(exc)
            raise
        return True

    def settle_delivery(self, key: str, claimed_at: datetime, state: Settled, detail: str | None) -> bool:
        actions: list[Any] = [
            DeliveryItem.state.set(state),
            DeliveryItem.settled_at.set(clock.iso(clock.now())),
            DeliveryItem.gsi2pk.remove(),
            DeliveryItem.gsi2sk.remove(),
        ]
        actions.append(DeliveryItem.detail.set(detail) if detail else DeliveryItem.detail.remove())
        try:
            DeliveryItem(pk=delivery_pk(key), sk="DELIVERY").update(
                actions=actions,
                condition=(DeliveryItem.state == "sending")
                & (DeliveryItem.claimed_at == clock.iso(claimed_at)),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise_if_permanent(exc)
            raise
        return True

    def get_delivery(self, key: str) -> Delivery | None:
        try:
            item = DeliveryItem.get(delivery_pk(key), "DELIVERY", consistent_read=True)
        except DoesNotExist:
            return None
        return delivery_from_item(item)

    def stuck_deliveries(self, claimed_before: datetime, limit: int = 100) -> list[Delivery]:
        return [
            delivery_from_item(item)
            for item in DeliveryItem.sending.query(
                DELIVERY_SENDING, DeliveryItem.gsi2sk <= f"{clock.iso(claimed_before)}#~", limit=limit
            )
        ]
