"""The data-access layer's front door: the stores of every aggregate on the one table.

The single-table design is divided by aggregate, one module each, every one with a small
Protocol named for what its callers need (`PointerReads`, `TicketStore`, `CustomerStore`,
`DeadlineIndex`, `Presence`, `Assignments`, `Outbox`, `QuarantineWrites`, `QuarantineReview`,
`TicketMoves`, `SearchIndex`, `ReportStore`, `DeliveryMarks`, `LiveConnections`) and its own item
mapping. A use case declares the Protocols it uses; a handler gets the DynamoDB implementation of
all of them from `get_repository()`. Every write that must not happen twice is a conditional write
inside one transaction, so retried deliveries never duplicate.
"""

from __future__ import annotations

from functools import cache
from typing import Protocol

from shared.dal.agents import Assignments, DynamoAgents, Presence
from shared.dal.audit import AuditLog, DynamoAudit
from shared.dal.conversation import ConversationReads, DynamoConversation
from shared.dal.customers import CustomerStore, DynamoCustomers, customer_from_item
from shared.dal.deadlines import DeadlineIndex, DynamoDeadlines
from shared.dal.deliveries import DeliveryMarks, DynamoDeliveries
from shared.dal.items import CustomerItem, TicketItem
from shared.dal.live import DynamoLive, DynamoViewers, LiveChanges, LiveConnections, TicketViewers
from shared.dal.macros import DynamoMacros, MacroStore
from shared.dal.outbox import DynamoOutbox, Outbox
from shared.dal.pointers import DynamoPointers, PointerReads
from shared.dal.quarantine import DynamoQuarantine, QuarantineReview, QuarantineWrites
from shared.dal.reports import DynamoReports, ReportStore, TicketHistoryReads
from shared.dal.search import DynamoSearch, SearchIndex
from shared.dal.ticket_moves import DynamoTicketMoves, TicketMoves
from shared.dal.tickets import DynamoTickets, TicketStore, TicketWalk, ticket_from_item
from shared.dal.views import DynamoViews, ViewIndex
from shared.models.ticket import Customer, Ticket


class TicketRepository(
    PointerReads,
    TicketStore,
    CustomerStore,
    DeadlineIndex,
    Presence,
    Assignments,
    Outbox,
    QuarantineWrites,
    QuarantineReview,
    AuditLog,
    ConversationReads,
    MacroStore,
    ViewIndex,
    TicketMoves,
    SearchIndex,
    ReportStore,
    TicketHistoryReads,
    TicketWalk,
    DeliveryMarks,
    LiveConnections,
    LiveChanges,
    TicketViewers,
    Protocol,
):
    """Every store together: what a handler builds once and hands to its use cases."""


class DynamoRepository(
    DynamoPointers,
    DynamoTickets,
    DynamoCustomers,
    DynamoDeadlines,
    DynamoAgents,
    DynamoOutbox,
    DynamoQuarantine,
    DynamoAudit,
    DynamoConversation,
    DynamoMacros,
    DynamoViews,
    DynamoTicketMoves,
    DynamoSearch,
    DynamoReports,
    DynamoDeliveries,
    DynamoLive,
    DynamoViewers,
):
    """Every store on the single DynamoDB table."""

    def scan_tickets(self) -> list[Ticket]:
        """Every ticket (a Scan: for the simulator's state and exports, never on a request path)."""
        tickets = [ticket_from_item(item) for item in TicketItem.scan(TicketItem.entity == "ticket")]
        return sorted(tickets, key=lambda t: t.number)

    def scan_customers(self) -> list[Customer]:
        customers = [customer_from_item(i) for i in CustomerItem.scan(CustomerItem.entity == "customer")]
        return sorted(customers, key=lambda c: (c.created_at, c.id))


@cache
def get_repository(table_name: str, region: str) -> TicketRepository:
    """The process-wide repository for a table (cached: connections are reused across invocations)."""
    return DynamoRepository(table_name, region)
