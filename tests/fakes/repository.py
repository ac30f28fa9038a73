"""MemoryRepository: every in-memory store on one shared table, a `TicketRepository`."""

from __future__ import annotations

from shared.dal.customers import customer_from_item
from shared.dal.items import CustomerItem, TicketItem
from shared.dal.repository import TicketRepository
from shared.dal.tickets import ticket_from_item
from shared.models.ticket import Customer, Ticket
from tests.fakes.agents import MemoryAgents
from tests.fakes.audit import MemoryAudit
from tests.fakes.conversation import MemoryConversation
from tests.fakes.customers import MemoryCustomers
from tests.fakes.deadlines import MemoryDeadlines
from tests.fakes.deliveries import MemoryDeliveries
from tests.fakes.live import MemoryLive, MemoryViewers
from tests.fakes.macros import MemoryMacros
from tests.fakes.outbox import MemoryOutbox
from tests.fakes.pointers import MemoryPointers
from tests.fakes.quarantine import MemoryQuarantine
from tests.fakes.reports import MemoryReports
from tests.fakes.search import MemorySearch
from tests.fakes.table import as_model
from tests.fakes.ticket_moves import MemoryTicketMoves
from tests.fakes.tickets import MemoryTickets
from tests.fakes.views import MemoryViews


class MemoryRepository(
    MemoryPointers,
    MemoryTickets,
    MemoryCustomers,
    MemoryDeadlines,
    MemoryAgents,
    MemoryOutbox,
    MemoryQuarantine,
    MemoryAudit,
    MemoryConversation,
    MemoryMacros,
    MemoryViews,
    MemoryTicketMoves,
    MemorySearch,
    MemoryReports,
    MemoryDeliveries,
    MemoryLive,
    MemoryViewers,
):
    """Every store on one in-memory table (`DynamoRepository`'s counterpart for unit tests)."""

    def scan_tickets(self) -> list[Ticket]:
        items = [
            i for (_, sk), i in self.table.items.items() if sk == "TICKET" and i.get("entity") == "ticket"
        ]
        return sorted((ticket_from_item(as_model(TicketItem, i)) for i in items), key=lambda t: t.number)

    def scan_customers(self) -> list[Customer]:
        items = [
            i for (_, sk), i in self.table.items.items() if sk == "CUSTOMER" and i.get("entity") == "customer"
        ]
        customers = [customer_from_item(as_model(CustomerItem, i)) for i in items]
        return sorted(customers, key=lambda c: (c.created_at, c.id))


def _satisfies(repository: MemoryRepository) -> TicketRepository:
    """mypy checks here that MemoryRepository is a TicketRepository, without a cast."""
    return repository
