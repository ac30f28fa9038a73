"""The ingest pipeline's own rules, with a stub channel and an in-memory repository: which pass
runs, when a refused key is a duplicate, when a conflict gives up, and who keeps a refused write."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.config import load_config
from shared.dal.base import DuplicateError
from shared.dal.pointers import Pointer
from shared.dal.repository import TicketRepository
from shared.dal.tickets import NewTicketWrite, TicketChanges
from shared.errors import ConflictError, PermanentWriteError
from shared.logic.bounds import Bounder
from shared.logic.ingest_pipeline import (
    MAX_ATTEMPTS,
    ChannelRules,
    Found,
    IngestResult,
    Key,
    NewTicket,
    Thread,
    ingest,
)
from shared.models.ticket import Channel, Customer, Direction, Identity, Message, Ticket, TicketEvent

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@dataclass
class Repository:
    """Pointers and tickets in memory; `create_ticket` raises each of `failures` once, in order."""

    failures: list[Exception] = field(default_factory=list)
    created: list[NewTicketWrite] = field(default_factory=list)
    reads: int = 0

    def get_pointers(self, pointers: list[Key]) -> dict[Key, Pointer]:
        self.reads += 1
        return {}

    def next_ticket_number(self, start: int) -> int:
        return start + len(self.created)

    def create_ticket(self, write: NewTicketWrite) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.created.append(write)


@dataclass
class Channelish:
    """A stub channel: every message opens a ticket for a new customer."""

    rules: ChannelRules
    at: datetime = AT
    channel: Channel = Channel.SMS
    refusals: list[PermanentWriteError] = field(default_factory=list)

    def lookups(self) -> list[Key]:
        return [("inbound", "stub:1"), *self.identity_keys()]

    def identity_keys(self) -> list[Key]:
        return [("identity", "phone#+15550100")]

    def identities(self) -> list[Identity]:
        return []

    def screen(self, found: Found) -> IngestResult | None:
        return None

    def find_thread(self, found: Found, customer_id: str | None, repository: Any) -> Thread | IngestResult:
        return Thread(None, "new", {"reason": "new"})

    def prepare(self, bounder: Bounder) -> None:
        return None

    def new_customer(self, customer_id: str, bounder: Bounder) -> Customer | None:
        return Customer(id=customer_id, created_at=self.at)

    def message(self, ticket_id: str, bounder: Bounder) -> Message:
        return Message(
            id="msg-1",
            ticket_id=ticket_id,
            direction=Direction.INBOUND,
            channel=self.channel,
            at=self.at,
            author="+15550100",
            text="hello",
        )

    def reading(self, message: Message) -> str:
        return message.text

    def extra_events(self) -> list[TicketEvent]:
        return []

    def pointers(self, ticket_id: str, message_id: str) -> list[Pointer]:
        return [Pointer("inbound", "stub:1", ticket_id=ticket_id, message_id=message_id)]

    def upserts(self, ticket_id: str, customer_id: str | None) -> list[Pointer]:
        return []

    def join_changes(self, ticket: Ticket, message: Message, changes: TicketChanges) -> None:
        return None

    def new_ticket(self, draft: NewTicket) -> Ticket:
        return Ticket(
            id=draft.ticket_id,
            number=draft.number,
            channel=self.channel,
            customer_id=draft.customer_id,
            created_at=self.at,
            updated_at=self.at,
        )

    def refused(self, repository: TicketRepository, error: PermanentWriteError) -> IngestResult:
        self.refusals.append(error)
        return IngestResult(outcome="quarantined", reason="write-rejected")


def run(rules: ChannelRules, repository: Repository) -> tuple[IngestResult, list[Channelish]]:
    opened: list[Channelish] = []

    def open_adapter() -> Channelish:
        adapter = Channelish(rules)
        opened.append(adapter)
        return adapter

    result = ingest(open_adapter, repository, load_config())  # type: ignore[arg-type]
    return result, opened


def test_a_message_opens_a_ticket_with_its_keys_its_number_and_its_new_customer() -> None:
    repository = Repository()

    result, opened = run(ChannelRules(), repository)

    assert len(opened) == 1
    assert result.outcome == "created"
    assert result.reason == "new"
    assert result.message_id == "msg-1"
    [write] = repository.created
    assert result.ticket_id == write.ticket.id
    assert result.ticket_number == write.ticket.number
    assert write.new_customer is not None
    assert write.ticket.customer_id == write.new_customer.id
    assert [(p.kind, p.value) for p in write.pointers] == [
        ("inbound", "stub:1"),
        ("number", str(write.ticket.number)),
        ("identity", "phone#+15550100"),
    ]
    assert write.pointers[2].customer_id == write.new_customer.id
    assert [e.type for e in write.events] == ["created"]
    assert write.events[0].data == {"message_id": "msg-1", "reason": "new"}


def test_a_refused_key_is_a_duplicate_at_once_unless_the_channel_reads_again() -> None:
    at_once = Repository(failures=[DuplicateError("inbound key exists")])
    result, opened = run(ChannelRules(), at_once)
    assert (result.outcome, result.reason, len(opened)) == ("duplicate", "inbound key exists", 1)
    assert at_once.created == []

    again = Repository(failures=[DuplicateError("ref exists")])
    result, opened = run(ChannelRules(rereads_after_duplicate=True), again)
    assert (result.outcome, len(opened), again.reads) == ("created", 2, 2)


def test_a_channel_that_reads_again_calls_it_a_duplicate_after_the_last_pass() -> None:
    repository = Repository(failures=[DuplicateError(f"pass {n}") for n in range(MAX_ATTEMPTS)])

    result, opened = run(ChannelRules(rereads_after_duplicate=True), repository)

    assert (result.outcome, result.reason) == ("duplicate", f"pass {MAX_ATTEMPTS - 1}")
    assert len(opened) == MAX_ATTEMPTS
    assert repository.created == []


def test_a_lost_race_is_retried_with_a_fresh_adapter_and_given_up_after_the_last_pass() -> None:
    once = Repository(failures=[ConflictError("version moved")])
    result, opened = run(ChannelRules(), once)
    assert (result.outcome, len(opened)) == ("created", 2)
    assert opened[0] is not opened[1]

    always = Repository(failures=[ConflictError(f"pass {n}") for n in range(MAX_ATTEMPTS)])
    with pytest.raises(ConflictError, match=f"pass {MAX_ATTEMPTS - 1}"):
        run(ChannelRules(), always)
    assert always.reads == MAX_ATTEMPTS


def test_a_write_refused_for_good_goes_back_to_the_channel_and_is_not_retried() -> None:
    error = PermanentWriteError("item over 400 KB")
    repository = Repository(failures=[error])

    result, opened = run(ChannelRules(), repository)

    assert (result.outcome, result.reason) == ("quarantined", "write-rejected")
    assert len(opened) == 1
    assert opened[0].refusals == [error]
    assert repository.created == []
