"""Finding a customer and their tickets by an address, a number or an account, as agents write them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.dal.pointers import Pointer
from shared.dal.tickets import NewTicketWrite
from shared.logic.lookups import InvalidIdentityError, customer_tickets, find_customer
from shared.models.ticket import Channel, Customer, Direction, Identity, IdentityKind, Message, Ticket
from tests.fakes import MemoryRepository

AT = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def open_ticket(repo: MemoryRepository, ticket_id: str, customer: Customer, minutes: int, new: bool) -> None:
    at = AT + timedelta(minutes=minutes)
    ticket = Ticket(
        id=ticket_id,
        number=1000 + minutes,
        channel=Channel.EMAIL,
        customer_id=customer.id,
        subject="Hi",
        created_at=at,
        updated_at=at,
    )
    first = Message(
        id=f"m-{ticket_id}",
        ticket_id=ticket_id,
        direction=Direction.INBOUND,
        channel=Channel.EMAIL,
        at=at,
        author="x",
    )
    pointers = [
        Pointer("identity", f"{i.kind.value}#{i.value}", customer_id=customer.id) for i in customer.identities
    ]
    repo.create_ticket(
        NewTicketWrite(
            ticket=ticket,
            message=first,
            new_customer=customer if new else None,
            pointers=pointers if new else [],
        )
    )


@pytest.fixture
def repo() -> MemoryRepository:
    repo = MemoryRepository()
    jane = Customer(
        id="c1",
        identities=[
            Identity(kind=IdentityKind.EMAIL, value="jane@xn--bcher-kva.example"),
            Identity(kind=IdentityKind.PHONE, value="+14255550182"),
            Identity(kind=IdentityKind.INSTAGRAM, value="1789"),
        ],
        created_at=AT,
    )
    open_ticket(repo, "t1", jane, 0, new=True)
    open_ticket(repo, "t2", jane, 5, new=False)
    return repo


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (IdentityKind.EMAIL, "Jane@B\u00fccher.example"),
        (IdentityKind.EMAIL, " JANE@xn--bcher-kva.EXAMPLE "),
        (IdentityKind.PHONE, "+1 (425) 555-0182"),
        (IdentityKind.PHONE, "425-555-0182"),  # national form, with the default region
        (IdentityKind.INSTAGRAM, " 1789 "),
    ],
)
def test_a_customer_is_found_however_the_agent_writes_the_identity(
    repo: MemoryRepository, kind: IdentityKind, value: str
) -> None:
    customer = find_customer(kind, value, repo, default_region="US")

    assert customer is not None
    assert customer.id == "c1"
    assert [t.id for t in customer_tickets(customer, repo)] == ["t2", "t1"]


def test_an_unknown_identity_finds_nobody(repo: MemoryRepository) -> None:
    assert find_customer(IdentityKind.EMAIL, "john@example.com", repo) is None
    assert find_customer(IdentityKind.INSTAGRAM, "1790", repo) is None


def test_a_lookalike_address_is_not_the_customer(repo: MemoryRepository) -> None:
    # fullwidth letters in the domain: a different identity (decision 66)
    assert find_customer(IdentityKind.EMAIL, "jane@b\u00fccher.\uff45xample", repo) is None


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        (IdentityKind.EMAIL, "jane", "not an email address"),
        (IdentityKind.PHONE, "call me", "not a phone number"),
        (IdentityKind.PHONE, "425-555-0182", "no country code"),  # no default region
        (IdentityKind.X, "   ", "empty x account"),
    ],
)
def test_a_value_that_cannot_be_that_identity_is_a_clear_error(
    repo: MemoryRepository, kind: IdentityKind, value: str, message: str
) -> None:
    with pytest.raises(InvalidIdentityError, match=message):
        find_customer(kind, value, repo)


def test_a_merged_customer_leads_to_the_one_that_survived(repo: MemoryRepository) -> None:
    survivor = Customer(
        id="c2", identities=[Identity(kind=IdentityKind.EMAIL, value="j@x.example")], created_at=AT
    )
    open_ticket(repo, "t3", survivor, 10, new=True)
    jane = repo.get_customer("c1")
    assert jane is not None
    repo.save_merge([jane.model_copy(update={"merged_into": "c2"})], {}, {})

    found = find_customer(IdentityKind.PHONE, "+14255550182", repo)

    assert found is not None
    assert found.id == "c2"
