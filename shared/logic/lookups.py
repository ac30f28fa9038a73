"""Finding a customer and their tickets from what an agent has at hand: an email address, a phone
number or a social account, written the way people write them.

The value is keyed as ingestion keys identities (an address by `address_key`, a number in E.164),
so `Jane@Example.COM` finds the customer whose mail came from `jane@example.com`, and
`(425) 555-0182` the one who texted from `+14255550182`.
"""

from __future__ import annotations

from typing import Protocol

from shared.channels.email.addresses import address_key, is_addr_spec
from shared.channels.sms import InvalidPhoneNumberError, normalize_phone
from shared.dal.customers import CustomerStore
from shared.dal.pointers import PointerReads
from shared.dal.tickets import TicketStore
from shared.errors import HelpdeskError
from shared.logic.customers import identity_key
from shared.models.ticket import Customer, IdentityKind, Ticket

MAX_MERGE_HOPS = 5
"""How many `merged_into` links a lookup follows to the surviving customer."""


class InvalidIdentityError(HelpdeskError):
    """The value cannot be an identity of that kind (HTTP 400)."""


class LookupStores(PointerReads, CustomerStore, TicketStore, Protocol):
    """What a lookup reads: the identity pointer, the customer, their tickets."""


def identity_value(kind: IdentityKind, value: str, default_region: str | None) -> str:
    """The value as identities of `kind` are stored."""
    text = value.strip()
    if kind is IdentityKind.EMAIL:
        if not is_addr_spec(text):
            raise InvalidIdentityError(f"not an email address: {value!r}")
        return address_key(text)
    if kind is IdentityKind.PHONE:
        try:
            return normalize_phone(text, default_region, strict=False)
        except InvalidPhoneNumberError as exc:
            raise InvalidIdentityError(str(exc)) from exc
    if not text:
        raise InvalidIdentityError(f"an empty {kind.value} account")
    return text


def find_customer(
    kind: IdentityKind, value: str, repository: LookupStores, default_region: str | None = None
) -> Customer | None:
    """The customer with this identity (the survivor when they were merged), or None."""
    key = identity_key(kind.value, identity_value(kind, value, default_region))
    pointer = repository.get_pointers([("identity", key)]).get(("identity", key))
    if pointer is None or pointer.customer_id is None:
        return None
    customer = repository.get_customer(pointer.customer_id)
    for _ in range(MAX_MERGE_HOPS):
        if customer is None or customer.merged_into is None:
            break
        customer = repository.get_customer(customer.merged_into)
    return customer


def customer_tickets(customer: Customer, repository: LookupStores) -> list[Ticket]:
    """The customer's tickets, newest first."""
    return sorted(repository.list_customer_tickets(customer.id), key=lambda t: t.created_at, reverse=True)
