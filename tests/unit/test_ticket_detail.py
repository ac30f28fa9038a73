"""The ticket detail an agent opens: SLA time left, the routing reason, the customer, the group,
and the messaging window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.dal.pointers import Pointer
from shared.dal.tickets import NewTicketWrite
from shared.logic.ticket_detail import TargetView, WindowView, ticket_detail
from shared.models.ticket import (
    Channel,
    Customer,
    Direction,
    Identity,
    IdentityKind,
    Message,
    Sla,
    SlaTarget,
    Ticket,
    TicketEvent,
)
from tests.fakes import MemoryRepository

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def store(repo: MemoryRepository, ticket: Ticket, customer: Customer | None = None) -> None:
    first = Message(
        id=f"m-{ticket.id}",
        ticket_id=ticket.id,
        direction=Direction.INBOUND,
        channel=ticket.channel,
        at=ticket.created_at,
        author="x",
    )
    repo.create_ticket(NewTicketWrite(ticket=ticket, message=first, new_customer=customer))


def ticket(ticket_id: str, channel: Channel, hours_ago: float, **fields: object) -> Ticket:
    at = NOW - timedelta(hours=hours_ago)
    return Ticket.model_validate(
        {
            "id": ticket_id,
            "number": 1000 + len(ticket_id),
            "channel": channel,
            "customer_id": "c1",
            "created_at": at,
            "updated_at": at,
            "last_inbound_at": at,
            **fields,
        }
    )


def test_the_detail_shows_sla_time_left_the_routing_reason_the_customer_and_the_group() -> None:
    repo = MemoryRepository()
    jane = Customer(
        id="c1",
        name="Jane",
        identities=[Identity(kind=IdentityKind.PHONE, value="+14255550182")],
        created_at=NOW,
    )
    sla = Sla(
        policy="standard",
        targets=[
            SlaTarget(name="first_response", due_at=NOW + timedelta(minutes=30), state="pending"),
            SlaTarget(name="next_response", due_at=NOW - timedelta(minutes=5), state="breached"),
            SlaTarget(name="resolution", state="paused", remaining_seconds=3600.0),
        ],
    )
    main = ticket("t1", Channel.MESSENGER, 2, group_id="g1", sla=sla)
    store(repo, main, jane)
    store(repo, ticket("t22", Channel.EMAIL, 5, group_id="g1"))
    store(repo, ticket("t333", Channel.SMS, 1, group_id="g1"))
    store(repo, ticket("t4444", Channel.SMS, 1))  # the customer's, but not in the group
    repo.add_events(
        "t1",
        [TicketEvent(at=NOW - timedelta(hours=1), type="routed", data={"team": "support", "agent": "alice"})],
        Pointer("inbound", "route-t1"),
    )

    detail = ticket_detail(main, repo, NOW)

    assert detail.ticket == main
    assert detail.sla == [
        TargetView("first_response", "pending", NOW + timedelta(minutes=30), 1800.0, True),
        TargetView("next_response", "breached", NOW - timedelta(minutes=5), -300.0, True),
        TargetView("resolution", "paused", None, 3600.0, True),
    ]
    assert detail.routing == {
        "type": "routed",
        "at": (NOW - timedelta(hours=1)).isoformat(),
        "team": "support",
        "agent": "alice",
    }
    assert detail.customer is not None
    assert (detail.customer.name, detail.customer.identities) == ("Jane", jane.identities)
    assert [t.id for t in detail.grouped] == ["t333", "t22"]
    assert detail.window == WindowView(
        True, "response", "the customer last wrote 2h 0m ago, inside Meta's 24-hour standard messaging window"
    )


def test_a_messenger_ticket_silent_for_eight_days_cannot_be_answered_now_and_email_has_no_window() -> None:
    repo = MemoryRepository()
    old = ticket("t1", Channel.MESSENGER, 8 * 24)
    store(repo, old)
    mail = ticket("t2", Channel.EMAIL, 8 * 24)
    store(repo, mail)

    closed = ticket_detail(old, repo, NOW)

    assert closed.window is not None
    assert (closed.window.allowed, closed.window.mode) == (False, "closed")
    assert "beyond the 7-day human agent window" in closed.window.reason
    assert closed.routing is None
    assert closed.grouped == []
    assert ticket_detail(mail, repo, NOW).window is None
