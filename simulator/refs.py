"""Scenario REFs: which ticket a `reply`, `note` or `update` step means.

A REF is a ticket number (a JSON number) or the external id of any message of the ticket: an
email's Message-ID with its angle brackets, an SMS inboundMessageId, a platform message id. A
string of digits (or `#42`) that is no message id is taken as a ticket number.
"""

from __future__ import annotations

import re
from typing import Protocol

from shared.dal.pointers import Pointer
from shared.errors import TicketNotFoundError
from shared.models.ticket import Message, Ticket

_NUMBER = re.compile(r"^#?\s*(\d{1,12})$")


class RefLookup(Protocol):
    """The repository reads REF resolution needs (DynamoRepository has them)."""

    def get_pointers(self, pointers: list[tuple[str, str]]) -> dict[tuple[str, str], Pointer]: ...

    def get_ticket(self, ticket_id: str) -> Ticket | None: ...

    def scan_tickets(self) -> list[Ticket]: ...

    def list_messages(self, ticket_id: str) -> list[Message]: ...


def _by_number(repository: RefLookup, number: int) -> Ticket | None:
    pointer = repository.get_pointers([("number", str(number))]).get(("number", str(number)))
    return repository.get_ticket(pointer.ticket_id) if pointer and pointer.ticket_id else None


def _by_external_id(repository: RefLookup, ref: str) -> Ticket | None:
    candidates = [ref]
    if "@" in ref and not ref.startswith("<"):
        candidates.append(f"<{ref.strip()}>")  # a Message-ID written without its brackets
    found = repository.get_pointers([("ref", c) for c in candidates])
    for candidate in candidates:
        pointer = found.get(("ref", candidate))
        if pointer is not None and pointer.ticket_id:
            return repository.get_ticket(pointer.ticket_id)
    # Channels may key their messages differently: fall back to the messages themselves.
    for ticket in repository.scan_tickets():
        if any(
            m.external_id in candidates or m.provider_id in candidates
            for m in repository.list_messages(ticket.id)
        ):
            return ticket
    return None


def resolve_ref(repository: RefLookup, ref: int | str) -> Ticket:
    """The ticket a REF names; TicketNotFoundError says what was looked for."""
    if isinstance(ref, bool):
        raise TicketNotFoundError(f"not a ticket reference: {ref!r}")
    if isinstance(ref, int):
        ticket = _by_number(repository, ref)
        if ticket is None:
            raise TicketNotFoundError(f"no ticket has number {ref}")
        return ticket
    text = ref.strip()
    if not text:
        raise TicketNotFoundError("empty ticket reference")
    ticket = _by_external_id(repository, text)
    if ticket is not None:
        return ticket
    match = _NUMBER.match(text)
    if match:
        ticket = _by_number(repository, int(match.group(1)))
        if ticket is not None:
            return ticket
    raise TicketNotFoundError(f"no ticket has a message with external id {text!r} (nor that number)")
