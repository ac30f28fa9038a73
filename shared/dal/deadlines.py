"""The SLA deadline index and the unrouted index: `gsi2` partitions of ticket items, read by the
sweeper to find the tickets whose next deadline has come and those no routing decision reached."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pynamodb.exceptions import UpdateError

from shared import clock
from shared.dal.base import ticket_pk
from shared.dal.items import (
    TicketItem,
)
from shared.dal.tickets import UNROUTED, ticket_from_item
from shared.models.ticket import (
    Ticket,
)


class DeadlineIndex(Protocol):
    def due_tickets(self, shard: int, now: datetime, limit: int = 100) -> list[Ticket]: ...

    def unrouted_tickets(self, created_before: datetime, limit: int = 100) -> list[Ticket]: ...

    def drop_unrouted(self, ticket_id: str) -> bool: ...


class DynamoDeadlines:
    """DeadlineIndex on the table."""

    def due_tickets(self, shard: int, now: datetime, limit: int = 100) -> list[Ticket]:
        """Tickets of one due-index shard whose next SLA deadline has come (reads only those)."""
        return [
            ticket_from_item(item)
            for item in TicketItem.sla_due.query(
                f"SLADUE#{shard}", TicketItem.gsi2sk <= f"{clock.iso(now)}#~", limit=limit
            )
        ]

    def unrouted_tickets(self, created_before: datetime, limit: int = 100) -> list[Ticket]:
        """Tickets created at or before `created_before` that no routing decision has reached yet
        (reads only those: the partition holds tickets between their creation and their routing)."""
        return [
            ticket_from_item(item)
            for item in TicketItem.sla_due.query(
                UNROUTED, TicketItem.gsi2sk <= f"{clock.iso(created_before)}#~", limit=limit
            )
        ]

    def drop_unrouted(self, ticket_id: str) -> bool:
        """Take a ticket out of the unrouted index; False when it was not in it (any more)."""
        try:
            TicketItem(pk=ticket_pk(ticket_id), sk="TICKET").update(
                actions=[TicketItem.gsi2pk.remove(), TicketItem.gsi2sk.remove()],
                condition=TicketItem.gsi2pk == UNROUTED,
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True
