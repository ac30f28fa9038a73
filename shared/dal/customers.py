"""Customers and their merges: the customer item, consent changes, and merges that re-point
identities and move tickets in one transaction."""

from __future__ import annotations

from typing import Protocol

from shared import clock
from shared.dal.base import Table, parse_or_none, ticket_pk
from shared.dal.items import (
    CustomerItem,
    TicketItem,
)
from shared.dal.pointers import Pointer
from shared.models.ticket import (
    ConsentRecord,
    Customer,
    Identity,
    MergeRecord,
)


def customer_to_item(customer: Customer) -> CustomerItem:
    return CustomerItem(
        pk=f"CUSTOMER#{customer.id}",
        sk="CUSTOMER",
        id=customer.id,
        name=customer.name,
        identities=[i.model_dump(mode="json") for i in customer.identities],
        opted_out=list(customer.opted_out),
        consent=[c.model_dump(mode="json") for c in customer.consent],
        merged_into=customer.merged_into,
        tier=customer.tier,
        fields=dict(customer.fields),
        merges=[m.model_dump(mode="json") for m in customer.merges],
        created_at=clock.iso(customer.created_at),
    )


def customer_from_item(item: CustomerItem) -> Customer:
    created = parse_or_none(item.created_at)
    assert created is not None
    return Customer(
        id=item.id,
        name=item.name,
        identities=[Identity.model_validate(i) for i in (item.identities or [])],
        opted_out=list(item.opted_out or []),
        consent=[ConsentRecord.model_validate(c) for c in (item.consent or [])],
        merged_into=item.merged_into,
        tier=item.tier,
        fields=dict(item.fields or {}),
        merges=[MergeRecord.model_validate(m) for m in (item.merges or [])],
        created_at=created,
    )


class CustomerStore(Protocol):
    def get_customer(self, customer_id: str) -> Customer | None: ...

    def record_consent(
        self, customer: Customer, dedupe: Pointer, new_pointers: list[Pointer], exists: bool
    ) -> None: ...

    def save_merge(
        self, customers: list[Customer], identity_owner: dict[str, str], ticket_owner: dict[str, str]
    ) -> None: ...


class DynamoCustomers(Table):
    """CustomerStore on the table."""

    def get_customer(self, customer_id: str) -> Customer | None:
        try:
            return customer_from_item(CustomerItem.get(f"CUSTOMER#{customer_id}", "CUSTOMER"))
        except CustomerItem.DoesNotExist:
            return None

    def record_consent(
        self, customer: Customer, dedupe: Pointer, new_pointers: list[Pointer], exists: bool
    ) -> None:
        """Store a customer's consent change once (keyed by the provider's message id)."""
        at = clock.iso(customer.consent[-1].at) if customer.consent else clock.iso(customer.created_at)
        item = customer_to_item(customer)
        condition = CustomerItem.pk.exists() if exists else CustomerItem.pk.does_not_exist()
        self._write([(item, condition)], [dedupe, *new_pointers], at)

    def save_merge(
        self, customers: list[Customer], identity_owner: dict[str, str], ticket_owner: dict[str, str]
    ) -> None:
        """Save merged/unmerged customers, re-point identities and move tickets, in one transaction."""
        at = clock.iso(clock.now())
        puts = [(customer_to_item(c), CustomerItem.pk.exists()) for c in customers]
        upserts = [
            Pointer("identity", key, customer_id=customer_id) for key, customer_id in identity_owner.items()
        ]
        moves = [
            (
                TicketItem(pk=ticket_pk(ticket_id), sk="TICKET"),
                [
                    TicketItem.customer_id.set(customer_id),
                    TicketItem.gsi1pk.set(f"CUSTOMER#{customer_id}"),
                ],
                TicketItem.pk.exists(),
            )
            for ticket_id, customer_id in ticket_owner.items()
        ]
        self._write(puts, [], at, upserts=upserts, extra_updates=moves)
