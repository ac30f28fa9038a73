"""An agent confirms or rejects an identity the message text suggested (an email address or phone
number written in a message, `identity_suggested` on the ticket).

Confirming links the identity to the ticket's customer: mail or messages from it find this customer
from then on. It is the agent's judgement, never automatic (anyone can type an address), so only an
identity suggested on this very ticket can be confirmed; one that is another customer's already is
refused with that customer's id, for the agent to merge the two customers instead. Each decision is
an event on the ticket with who took it, written once however often it is asked.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from shared.dal.base import DuplicateError
from shared.dal.customers import CustomerStore
from shared.dal.pointers import Pointer, PointerReads
from shared.dal.tickets import TicketStore
from shared.errors import HelpdeskError
from shared.logic.agent_actions import InvalidRequestError
from shared.logic.customers import identity_key
from shared.models.ticket import Customer, Identity, Ticket, TicketEvent

Decision = Literal["confirmed", "rejected"]


class IdentityTakenError(HelpdeskError):
    """The identity is another customer's: merge the customers instead (HTTP 409)."""

    def __init__(self, message: str, owner: str) -> None:
        super().__init__(message)
        self.owner = owner


class SuggestionStores(PointerReads, CustomerStore, TicketStore, Protocol):
    """What deciding a suggestion reads and writes: the ticket's events, the identity's pointer and
    the customer."""


@dataclass(frozen=True)
class SuggestionOutcome:
    decision: Decision
    identity: Identity
    customer: Customer


def _suggested(ticket: Ticket, identity: Identity, store: SuggestionStores) -> None:
    wanted = {"kind": identity.kind.value, "value": identity.value}
    for event in store.list_events(ticket.id):
        if event.type == "identity_suggested" and wanted in event.data.get("identities", []):
            return
    raise InvalidRequestError(
        f"{identity.kind.value} {identity.value!r} was not suggested on ticket {ticket.number}"
    )


def _customer(ticket: Ticket, store: SuggestionStores) -> Customer:
    customer = store.get_customer(ticket.customer_id)
    if customer is None:
        raise InvalidRequestError(f"ticket {ticket.number} has no customer")
    return customer


def decide_suggestion(
    ticket: Ticket, identity: Identity, decision: Decision, actor: str, store: SuggestionStores, now: datetime
) -> SuggestionOutcome:
    """Confirm (link to the ticket's customer) or reject a suggested identity, once."""
    _suggested(ticket, identity, store)
    customer = _customer(ticket, store)
    key = identity_key(identity.kind.value, identity.value)
    if decision == "confirmed" and identity not in customer.identities:
        owner = store.get_pointers([("identity", key)]).get(("identity", key))
        if owner is not None and owner.customer_id not in (None, customer.id):
            raise IdentityTakenError(
                f"{identity.kind.value} {identity.value!r} is customer {owner.customer_id}'s: merge them",
                str(owner.customer_id),
            )
        linked = customer.model_copy(update={"identities": [*customer.identities, identity]})
        once = Pointer("inbound", f"identity-confirmed#{customer.id}#{key}")
        pointer = Pointer("identity", key, customer_id=customer.id)
        with contextlib.suppress(DuplicateError):  # confirmed by an earlier try of this request
            store.record_consent(linked, once, [pointer], exists=True)
        customer = linked
    event = TicketEvent(
        at=now,
        type=f"identity_{decision}",
        data={"by": actor, "identity": identity.model_dump(mode="json"), "customer_id": customer.id},
    )
    with contextlib.suppress(DuplicateError):  # decided before: the event is there already
        store.add_events(ticket.id, [event], Pointer("inbound", f"identity-{decision}#{ticket.id}#{key}"))
    return SuggestionOutcome(decision, identity, customer)
