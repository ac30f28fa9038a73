"""DeadlineIndex in memory: the `SLADUE#<shard>` and `UNROUTED` partitions of gsi2."""

from __future__ import annotations

from datetime import datetime

from shared import clock
from shared.dal.items import TicketItem
from shared.dal.tickets import UNROUTED, ticket_from_item
from shared.models.ticket import Ticket
from tests.fakes.table import Item, MemoryStore, as_model, equals, update_op
from tests.fakes.tickets import ticket_key


class MemoryDeadlines(MemoryStore):
    """DeadlineIndex on the in-memory table."""

    def due_tickets(self, shard: int, now: datetime, limit: int = 100) -> list[Ticket]:
        items = self.table.query_index("gsi2", f"SLADUE#{shard}", at_most=f"{clock.iso(now)}#~")
        return [ticket_from_item(as_model(TicketItem, item)) for item in items[:limit]]

    def unrouted_tickets(self, created_before: datetime, limit: int = 100) -> list[Ticket]:
        items = self.table.query_index("gsi2", UNROUTED, at_most=f"{clock.iso(created_before)}#~")
        return [ticket_from_item(as_model(TicketItem, item)) for item in items[:limit]]

    def drop_unrouted(self, ticket_id: str) -> bool:
        def leave(item: Item) -> None:
            item["gsi2pk"] = item["gsi2sk"] = None

        return not self.table.transact(
            [update_op(ticket_key(ticket_id), "ticket", equals("gsi2pk", UNROUTED), leave)]
        )
