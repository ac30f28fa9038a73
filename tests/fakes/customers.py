"""CustomerStore in memory."""

from __future__ import annotations

from collections.abc import Callable

from shared import clock
from shared.dal.customers import customer_from_item, customer_to_item
from shared.dal.items import CustomerItem
from shared.dal.pointers import Pointer
from shared.models.ticket import Customer
from tests.fakes.table import Item, MemoryStore, absent, as_model, put_op, update_op
from tests.fakes.table import exists as present
from tests.fakes.tickets import ticket_key


def moved_to(customer_id: str) -> Callable[[Item], None]:
    """The ticket side of a merge: the ticket now belongs to `customer_id` (and its gsi1 key follows)."""

    def move(item: Item) -> None:
        item.update(customer_id=customer_id, gsi1pk=f"CUSTOMER#{customer_id}")

    return move


class MemoryCustomers(MemoryStore):
    """CustomerStore on the in-memory table."""

    def get_customer(self, customer_id: str) -> Customer | None:
        item = self.table.get((f"CUSTOMER#{customer_id}", "CUSTOMER"))
        return customer_from_item(as_model(CustomerItem, item)) if item is not None else None

    def record_consent(
        self, customer: Customer, dedupe: Pointer, new_pointers: list[Pointer], exists: bool
    ) -> None:
        at = clock.iso(customer.consent[-1].at) if customer.consent else clock.iso(customer.created_at)
        change = put_op(customer_to_item(customer), condition=present if exists else absent)
        self._write([change], [dedupe, *new_pointers], at)

    def save_merge(
        self, customers: list[Customer], identity_owner: dict[str, str], ticket_owner: dict[str, str]
    ) -> None:
        at = clock.iso(clock.now())
        puts = [put_op(customer_to_item(c), condition=present) for c in customers]
        upserts = [Pointer("identity", key, customer_id=owner) for key, owner in identity_owner.items()]

        moves = [
            update_op(ticket_key(ticket_id), "update", present, moved_to(owner))
            for ticket_id, owner in ticket_owner.items()
        ]
        self._write(puts, [], at, upserts=upserts, extra_updates=moves)
