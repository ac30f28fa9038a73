"""Seeding the stores for unit tests: a ticket as ingestion creates it."""

from __future__ import annotations

from datetime import datetime

from shared.dal.tickets import NewTicketWrite, TicketStore
from shared.models.ticket import Channel, Direction, Message, Ticket


def email_ticket(
    store: TicketStore,
    ticket_id: str,
    at: datetime,
    *,
    number: int = 1000,
    customer_id: str = "c1",
    subject: str = "Printer",
    author: str = "x",
    external_id: str | None = None,
) -> Ticket:
    """Create a new email ticket with its first inbound message at `at`, and return it."""
    ticket = Ticket(
        id=ticket_id,
        number=number,
        channel=Channel.EMAIL,
        customer_id=customer_id,
        subject=subject,
        created_at=at,
        updated_at=at,
    )
    first = Message(
        id=f"m-{ticket_id}",
        ticket_id=ticket_id,
        direction=Direction.INBOUND,
        channel=Channel.EMAIL,
        at=at,
        author=author,
        external_id=external_id,
    )
    store.create_ticket(NewTicketWrite(ticket=ticket, message=first))
    return ticket
