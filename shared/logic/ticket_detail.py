"""What an agent sees when they open a ticket: the ticket, its SLA clocks with time left, why it
was routed where it is, the customer with identities and consent, the customer's tickets grouped
with it across channels, and whether a platform's messaging window lets a reply out now."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from shared.channels.social_outbound import META_CHANNELS, messaging_window
from shared.dal.customers import CustomerStore
from shared.dal.tickets import TicketStore
from shared.models.ticket import Customer, SlaTarget, Ticket, TicketEvent

ROUTING_EVENTS = ("routed", "queued")


class DetailStores(TicketStore, CustomerStore, Protocol):
    """What the detail reads: the ticket's history, its customer and their tickets."""


@dataclass(frozen=True)
class TargetView:
    name: str
    state: str
    due_at: datetime | None
    seconds_left: float | None
    """Until `due_at` in calendar seconds (negative: overdue); the paused remainder when paused;
    None when met or without a due time."""
    business: bool


@dataclass(frozen=True)
class WindowView:
    allowed: bool
    mode: str
    reason: str


@dataclass(frozen=True)
class TicketDetail:
    ticket: Ticket
    sla: list[TargetView]
    routing: dict[str, Any] | None
    """The latest routing decision (`routed` or `queued` event data, with its `type` and `at`)."""
    customer: Customer | None
    grouped: list[Ticket] = field(default_factory=list)
    """The customer's other tickets in the same group (across channels), newest first."""
    window: WindowView | None = None
    """For Messenger, Instagram and WhatsApp: whether an agent's reply may go out now."""


def target_view(target: SlaTarget, now: datetime) -> TargetView:
    if target.state == "paused":
        left = target.remaining_seconds
    elif target.state == "met" or target.due_at is None:
        left = None
    else:
        left = (target.due_at - now).total_seconds()
    return TargetView(target.name, target.state, target.due_at, left, target.business)


def latest_routing(events: list[TicketEvent]) -> dict[str, Any] | None:
    for event in reversed(events):
        if event.type in ROUTING_EVENTS:
            return {"type": event.type, "at": event.at.isoformat(), **event.data}
    return None


def ticket_detail(ticket: Ticket, repository: DetailStores, now: datetime) -> TicketDetail:
    customer = repository.get_customer(ticket.customer_id)
    grouped: list[Ticket] = []
    if ticket.group_id is not None:
        grouped = sorted(
            (
                t
                for t in repository.list_customer_tickets(ticket.customer_id)
                if t.group_id == ticket.group_id and t.id != ticket.id
            ),
            key=lambda t: t.created_at,
            reverse=True,
        )
    window = None
    if ticket.channel.value in META_CHANNELS:
        decision = messaging_window(ticket.channel.value, ticket.last_inbound_at, now, automatic=False)
        window = WindowView(decision.allowed, decision.mode, decision.reason)
    return TicketDetail(
        ticket=ticket,
        sla=[target_view(t, now) for t in ticket.sla.targets],
        routing=latest_routing(repository.list_events(ticket.id)),
        customer=customer,
        grouped=grouped,
        window=window,
    )
