"""REF resolution: a ticket number, or the external id of any message of the ticket."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from shared.dal.pointers import Pointer
from shared.errors import TicketNotFoundError
from shared.models.ticket import Channel, Direction, Message, Ticket
from simulator.refs import resolve_ref

AT = datetime(2025, 3, 11, 9, tzinfo=UTC)


class FakeRepository:
    """Tickets, their messages and the pointers ingest writes, in memory."""

    def __init__(self) -> None:
        self.tickets: dict[str, Ticket] = {}
        self.messages: dict[str, list[Message]] = {}
        self.pointers: dict[tuple[str, str], Pointer] = {}

    def add(
        self, number: int, *external_ids: str, keyed: bool = True, channel: Channel = Channel.EMAIL
    ) -> Ticket:
        ticket = Ticket(
            id=f"tkt_{number}",
            number=number,
            channel=channel,
            customer_id="cus_1",
            created_at=AT,
            updated_at=AT,
        )
        self.tickets[ticket.id] = ticket
        self.pointers[("number", str(number))] = Pointer("number", str(number), ticket_id=ticket.id)
        self.messages[ticket.id] = []
        for index, external_id in enumerate(external_ids):
            message = Message(
                id=f"msg_{number}_{index}",
                ticket_id=ticket.id,
                direction=Direction.INBOUND,
                channel=channel,
                at=AT,
                author="someone",
                external_id=external_id,
            )
            self.messages[ticket.id].append(message)
            if keyed:
                self.pointers[("ref", external_id)] = Pointer("ref", external_id, ticket_id=ticket.id)
        return ticket

    def get_pointers(self, pointers: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Pointer]:
        return {key: self.pointers[key] for key in pointers if key in self.pointers}

    def get_ticket(self, ticket_id: str) -> Ticket | None:
        return self.tickets.get(ticket_id)

    def scan_tickets(self) -> list[Ticket]:
        return list(self.tickets.values())

    def list_messages(self, ticket_id: str) -> list[Message]:
        return self.messages.get(ticket_id, [])


@pytest.fixture
def repository() -> FakeRepository:
    repo = FakeRepository()
    repo.add(1, "<first@mail.example>", "<second@mail.example>")
    repo.add(2, "<other@mail.example>")
    repo.add(3, "cae173d2-66b9-564c-8309-21f858e9fb84", keyed=False, channel=Channel.SMS)
    repo.add(4, "1234567890123", keyed=False, channel=Channel.X)
    return repo


def test_a_number_names_the_ticket(repository: FakeRepository) -> None:
    assert resolve_ref(repository, 2).number == 2


def test_any_message_id_of_the_ticket_names_it(repository: FakeRepository) -> None:
    assert resolve_ref(repository, "<second@mail.example>").number == 1
    assert resolve_ref(repository, "other@mail.example").number == 2  # brackets forgotten


def test_external_ids_without_pointers_are_found_on_the_messages(repository: FakeRepository) -> None:
    assert resolve_ref(repository, "cae173d2-66b9-564c-8309-21f858e9fb84").number == 3


def test_a_digit_string_is_an_external_id_first_then_a_number(repository: FakeRepository) -> None:
    assert resolve_ref(repository, "1234567890123").number == 4  # an X message id
    assert resolve_ref(repository, "2").number == 2
    assert resolve_ref(repository, "#1").number == 1


@pytest.mark.parametrize(
    ("ref", "problem"),
    [
        (99, "no ticket has number 99"),
        ("<unknown@mail.example>", "external id '<unknown@mail.example>'"),
        ("42", "nor that number"),
        ("  ", "empty ticket reference"),
        (True, "not a ticket reference"),
    ],
)
def test_unknown_refs_say_what_was_looked_for(
    repository: FakeRepository, ref: int | str, problem: str
) -> None:
    with pytest.raises(TicketNotFoundError, match=problem):
        resolve_ref(repository, ref)
