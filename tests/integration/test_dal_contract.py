"""The data layer's contract: the same tests on the DynamoDB stores (on a moto table built from
template.yaml) and on the in-memory fakes of `tests.fakes`. A fake that disagrees is wrong."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from shared import clock
from shared.dal.agents import AlreadyRoutedError, ClaimLostError, RoutingChanges
from shared.dal.base import DuplicateError
from shared.dal.items import reset_connections
from shared.dal.outbox import GuardRaceError
from shared.dal.pointers import Pointer
from shared.dal.quarantine import QuarantineQuery
from shared.dal.queues import QueueEntry
from shared.dal.repository import DynamoRepository
from shared.dal.tickets import AppendWrite, NewTicketWrite, SlaWrite, TicketChanges, TicketUpdate, sla_shard
from shared.errors import ConflictError
from shared.models.outbound import OutboundMessage
from shared.models.ticket import (
    Channel,
    ConsentRecord,
    Customer,
    Direction,
    Identity,
    IdentityKind,
    Message,
    QuarantineEntry,
    Sla,
    SlaTarget,
    Ticket,
    TicketEvent,
)
from simulator.template import REGION, Stack
from tests.fakes import MemoryRepository

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 9, 15, 2, 412_789, tzinfo=UTC)
"""Microseconds on purpose: the table keeps milliseconds, and so must the fake."""

Repository = DynamoRepository | MemoryRepository
TABLE = "contract-tickets"


@pytest.fixture(scope="module")
def _moto() -> Iterator[tuple[Any, dict[str, Any]]]:
    """One moto backend for the module and the table's definition from template.yaml. Each test
    gets the table afresh under the same name, so the stores' connection is made once."""
    stack = Stack.load(ROOT / "template.yaml")
    props = stack.resolve(stack.of_type("AWS::DynamoDB::Table")["TicketsTable"]["Properties"])
    with mock_aws():
        yield boto3.client("dynamodb", region_name=REGION), props
    reset_connections()


def _fresh_table(client: Any, props: dict[str, Any]) -> None:
    if TABLE in client.list_tables()["TableNames"]:
        client.delete_table(TableName=TABLE)
    client.create_table(
        TableName=TABLE,
        KeySchema=props["KeySchema"],
        AttributeDefinitions=props["AttributeDefinitions"],
        GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
        BillingMode=props["BillingMode"],
    )


@pytest.fixture(params=["dynamo", "memory"])
def repo(request: pytest.FixtureRequest) -> Iterator[Repository]:
    clock.set_clock(lambda: T0)
    if request.param == "memory":
        yield MemoryRepository()
    else:
        _fresh_table(*request.getfixturevalue("_moto"))
        yield DynamoRepository(TABLE, REGION)
    clock.set_clock(None)


def ms(value: datetime) -> datetime:
    """A time as the table keeps it (milliseconds)."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def ticket(ticket_id: str = "t1", **fields: Any) -> Ticket:
    values: dict[str, Any] = {
        "id": ticket_id,
        "number": 1000,
        "channel": Channel.EMAIL,
        "customer_id": "c1",
        "subject": "Printer",
        "created_at": T0,
        "updated_at": T0,
    }
    return Ticket(**(values | fields))


def message(ticket_id: str = "t1", message_id: str = "m1", at: datetime = T0, **fields: Any) -> Message:
    values: dict[str, Any] = {
        "id": message_id,
        "ticket_id": ticket_id,
        "direction": Direction.INBOUND,
        "channel": Channel.EMAIL,
        "at": at,
        "author": "jane@customer.example",
        "text": "Hello",
    }
    return Message(**(values | fields))


def event(kind: str, at: datetime = T0, **data: Any) -> TicketEvent:
    return TicketEvent(at=at, type=kind, data=data)


def customer(customer_id: str = "c1", **fields: Any) -> Customer:
    identities = [Identity(kind=IdentityKind.EMAIL, value=f"{customer_id}@customer.example")]
    values: dict[str, Any] = {"id": customer_id, "name": "Jane", "identities": identities, "created_at": T0}
    return Customer(**(values | fields))


def sla_write(ticket_id: str, deadline: datetime | None, shards: int = 4) -> SlaWrite:
    target = SlaTarget(name="first_response", due_at=deadline, minutes=60, started_at=T0)
    return SlaWrite(
        sla=Sla(policy="standard", calendar="office", targets=[target]), deadline=deadline, shards=shards
    )


def create(repo: Repository, ticket_id: str = "t1", **fields: Any) -> Ticket:
    """Store a new ticket (with its first message) and return it as stored."""
    new = ticket(ticket_id, **fields)
    repo.create_ticket(
        NewTicketWrite(ticket=new, message=message(ticket_id, f"m-{ticket_id}", new.created_at))
    )
    stored = repo.get_ticket(ticket_id)
    assert stored is not None
    return stored


def routing(team: str = "support", priority: str = "normal", **fields: Any) -> RoutingChanges:
    return RoutingChanges(team=team, priority=priority, tags=["printer"], skills=["hardware"], **fields)


# Pointers ------------------------------------------------------------------------------------


def test_pointers_are_found_by_kind_and_value_and_missing_ones_are_absent(repo: Repository) -> None:
    long_value = "x" * 600  # over the readable key limit: keyed by its digest, found all the same
    repo.create_ticket(
        NewTicketWrite(
            ticket=ticket(),
            message=message(),
            pointers=[
                Pointer("inbound", "ses-1", ticket_id="t1", message_id="m1"),
                Pointer(
                    "ref",
                    long_value,
                    ticket_id="t1",
                    direction="inbound",
                    last_inbound_at="2026-03-02T09:00:00.000Z",
                ),
            ],
        )
    )

    found = repo.get_pointers([("inbound", "ses-1"), ("ref", long_value), ("inbound", "ses-2")])

    assert found == {
        ("inbound", "ses-1"): Pointer(
            "inbound", "ses-1", ticket_id="t1", message_id="m1", created_at="2026-03-02T09:15:02.412Z"
        ),
        ("ref", long_value): Pointer(
            "ref",
            long_value,
            ticket_id="t1",
            direction="inbound",
            last_inbound_at="2026-03-02T09:00:00.000Z",
            created_at="2026-03-02T09:15:02.412Z",
        ),
    }


# Tickets -------------------------------------------------------------------------------------


def test_a_new_ticket_is_stored_with_its_message_events_and_customer_at_millisecond_precision(
    repo: Repository,
) -> None:
    new = ticket(tags=["a"], participants=["jane@customer.example"], last_inbound_at=T0)
    first = message(headers={"Message-ID": "<1@x>"}, flags=["auto"], automatic=True)
    events = [event("created", channel="email"), event("message", id="m1")]

    repo.create_ticket(NewTicketWrite(ticket=new, message=first, events=events, new_customer=customer()))

    assert repo.get_ticket("t1") == new.model_copy(
        update={"created_at": ms(T0), "updated_at": ms(T0), "last_inbound_at": ms(T0)}
    )
    assert repo.list_messages("t1") == [first.model_copy(update={"at": ms(T0)})]
    assert repo.list_events("t1") == [e.model_copy(update={"at": ms(T0)}) for e in events]
    assert repo.get_customer("c1") == customer(created_at=ms(T0))
    assert repo.get_ticket("t2") is None
    assert repo.get_customer("c2") is None
    assert repo.list_messages("t2") == []


def test_a_ticket_created_twice_is_a_conflict_and_writes_nothing(repo: Repository) -> None:
    create(repo)

    with pytest.raises(ConflictError):
        repo.create_ticket(
            NewTicketWrite(ticket=ticket(), message=message(message_id="m2"), events=[event("created")])
        )

    assert [m.id for m in repo.list_messages("t1")] == ["m-t1"]
    assert repo.list_events("t1") == []


def test_only_stored_inbound_or_ref_pointers_make_a_duplicate_and_nothing_else_is_written(
    repo: Repository,
) -> None:
    taken = [Pointer("inbound", "k1"), Pointer("ref", "r1"), Pointer("number", "1000")]
    repo.create_ticket(NewTicketWrite(ticket=ticket(), message=message(), pointers=taken))

    with pytest.raises(DuplicateError):
        repo.create_ticket(
            NewTicketWrite(
                ticket=ticket("t2"),
                message=message("t2", "m2"),
                pointers=[Pointer("inbound", "k1"), Pointer("ref", "r1"), Pointer("ref", "r2")],
                new_customer=customer("c2"),
            )
        )
    with pytest.raises(ConflictError) as number_taken:
        repo.create_ticket(
            NewTicketWrite(
                ticket=ticket("t3"), message=message("t3", "m3"), pointers=[Pointer("number", "1000")]
            )
        )
    with pytest.raises(ConflictError) as ticket_taken:
        repo.create_ticket(
            NewTicketWrite(ticket=ticket(), message=message(), pointers=[Pointer("inbound", "k1")])
        )

    assert not isinstance(number_taken.value, DuplicateError)
    assert not isinstance(ticket_taken.value, DuplicateError)
    assert repo.get_ticket("t2") is None
    assert repo.get_ticket("t3") is None
    assert repo.get_customer("c2") is None
    assert repo.get_pointers([("ref", "r2")]) == {}
    assert repo.list_messages("t2") == []


def test_an_upserted_pointer_never_goes_back_in_time(repo: Repository) -> None:
    later, earlier = "2026-03-02T10:00:00.000Z", "2026-03-02T09:00:00.000Z"
    conversation = Pointer("conversation", "sms:+1555", ticket_id="t1", last_inbound_at=later)
    repo.create_ticket(NewTicketWrite(ticket=ticket(), message=message(), upserts=[conversation]))

    with pytest.raises(ConflictError):
        repo.create_ticket(
            NewTicketWrite(
                ticket=ticket("t2"),
                message=message("t2", "m2"),
                upserts=[Pointer("conversation", "sms:+1555", ticket_id="t2", last_inbound_at=earlier)],
            )
        )
    assert repo.get_ticket("t2") is None
    assert repo.get_pointers([("conversation", "sms:+1555")])[("conversation", "sms:+1555")].ticket_id == "t1"

    repo.create_ticket(
        NewTicketWrite(
            ticket=ticket("t3"),
            message=message("t3", "m3"),
            upserts=[Pointer("conversation", "sms:+1555", ticket_id="t3", last_inbound_at=later)],
        )
    )
    assert repo.get_pointers([("conversation", "sms:+1555")])[("conversation", "sms:+1555")].ticket_id == "t3"


def test_group_members_join_the_new_tickets_group_with_an_event(repo: Repository) -> None:
    create(repo, "t0")
    later = T0 + timedelta(minutes=5)

    repo.create_ticket(
        NewTicketWrite(
            ticket=ticket(group_id="g1", created_at=later, updated_at=later),
            message=message(at=later),
            group_members=["t0"],
        )
    )

    member = repo.get_ticket("t0")
    assert member is not None
    assert (member.group_id, member.version, member.updated_at) == ("g1", 2, ms(later))
    assert repo.list_events("t0") == [event("grouped", ms(later), group_id="g1", **{"with": ["t1"]})]

    with pytest.raises(ConflictError):  # a member that does not exist: nothing is written
        repo.create_ticket(
            NewTicketWrite(
                ticket=ticket("t2", group_id="g2"), message=message("t2", "m2"), group_members=["t9"]
            )
        )
    assert repo.get_ticket("t2") is None
    assert repo.get_ticket("t9") is None


def test_customer_tickets_are_listed_in_creation_order(repo: Repository) -> None:
    create(repo, "t2", created_at=T0 + timedelta(hours=1))
    create(repo, "t1")
    create(repo, "t3", customer_id="c2")

    assert [t.id for t in repo.list_customer_tickets("c1")] == ["t1", "t2"]
    assert repo.list_customer_tickets("c9") == []


def test_ticket_numbers_start_at_the_given_number_and_count_up(repo: Repository) -> None:
    assert [repo.next_ticket_number(1000) for _ in range(3)] == [1000, 1001, 1002]
    assert repo.next_ticket_number(5) == 1003


def test_an_appended_message_changes_the_ticket_at_the_version_it_was_read(repo: Repository) -> None:
    create(repo, status="resolved", resolved_at=T0, closed_at=T0, flags=["x"])
    later = T0 + timedelta(hours=2, microseconds=999)
    changes = TicketChanges(
        status="open",
        updated_at=later,
        last_inbound_at=later,
        participants=["a@x", "b@x"],
        flags=[],
        clear_resolved_at=True,
        clear_closed_at=True,
    )
    reply = message(message_id="m2", at=later)

    repo.append_message(
        AppendWrite(
            ticket_id="t1",
            expected_version=1,
            changes=changes,
            message=reply,
            events=[event("reopened", later)],
            pointers=[Pointer("ref", "r2", ticket_id="t1")],
            new_customer=customer("c2"),
        )
    )

    stored = repo.get_ticket("t1")
    assert stored == ticket(
        created_at=ms(T0),
        updated_at=ms(later),
        status="open",
        last_inbound_at=ms(later),
        participants=["a@x", "b@x"],
        flags=[],
        version=2,
    )
    assert [m.id for m in repo.list_messages("t1")] == ["m-t1", "m2"]
    assert repo.list_events("t1") == [event("reopened", ms(later))]
    assert repo.get_customer("c2") is not None

    with pytest.raises(ConflictError):  # read at version 1, now at 2
        repo.append_message(
            AppendWrite(
                ticket_id="t1",
                expected_version=1,
                changes=TicketChanges(status="pending"),
                message=message(message_id="m3"),
            )
        )
    with pytest.raises(DuplicateError):  # the same reference again
        repo.append_message(
            AppendWrite(
                ticket_id="t1",
                expected_version=2,
                changes=TicketChanges(),
                message=message(message_id="m4"),
                pointers=[Pointer("ref", "r2")],
            )
        )
    with pytest.raises(ConflictError):
        repo.append_message(
            AppendWrite(
                ticket_id="t9", expected_version=1, changes=TicketChanges(), message=message("t9", "m5")
            )
        )
    assert [m.id for m in repo.list_messages("t1")] == ["m-t1", "m2"]
    assert repo.get_ticket("t9") is None


def test_resolved_and_closed_times_are_set_by_an_append(repo: Repository) -> None:
    create(repo)
    later = T0 + timedelta(days=1)

    repo.append_message(
        AppendWrite(
            ticket_id="t1",
            expected_version=1,
            changes=TicketChanges(status="closed", resolved_at=later, closed_at=later),
            message=message(message_id="m2", at=later, direction=Direction.OUTBOUND),
        )
    )

    stored = repo.get_ticket("t1")
    assert stored is not None
    assert (stored.status, stored.resolved_at, stored.closed_at, stored.version) == (
        "closed",
        ms(later),
        ms(later),
        2,
    )


def test_a_note_and_deduplicated_events_are_added_without_touching_the_ticket(repo: Repository) -> None:
    create(repo)
    note = message(message_id="n1", direction=Direction.NOTE, at=T0 + timedelta(minutes=1))

    repo.add_message("t1", note, [event("note", T0 + timedelta(minutes=1))])
    repo.add_events(
        "t1", [event("delivered", T0 + timedelta(minutes=2), id="m1")], Pointer("inbound", "receipt#1")
    )
    with pytest.raises(DuplicateError):
        repo.add_events(
            "t1", [event("delivered", T0 + timedelta(minutes=3))], Pointer("inbound", "receipt#1")
        )

    assert [m.id for m in repo.list_messages("t1")] == ["m-t1", "n1"]
    assert [(e.type, e.at) for e in repo.list_events("t1")] == [
        ("note", ms(T0 + timedelta(minutes=1))),
        ("delivered", ms(T0 + timedelta(minutes=2))),
    ]
    assert repo.get_ticket("t1") == create(repo, "t2").model_copy(update={"id": "t1"})


def test_set_status_checks_the_version_and_sets_resolved_or_closed_times(repo: Repository) -> None:
    create(repo)
    at = T0 + timedelta(hours=1)

    repo.set_status("t1", "resolved", at, expected_version=1)
    with pytest.raises(ConflictError):
        repo.set_status("t1", "closed", at, expected_version=1)
    repo.set_status("t1", "closed", at + timedelta(hours=1), expected_version=2)
    with pytest.raises(ConflictError):
        repo.set_status("t9", "closed", at, expected_version=1)

    stored = repo.get_ticket("t1")
    assert stored is not None
    assert (stored.status, stored.resolved_at, stored.closed_at, stored.updated_at, stored.version) == (
        "closed",
        ms(at),
        ms(at + timedelta(hours=1)),
        ms(at + timedelta(hours=1)),
        3,
    )
    assert repo.get_ticket("t9") is None


def test_an_agents_update_applies_at_the_version_seen_and_reopening_clears_the_times(
    repo: Repository,
) -> None:
    current = create(repo, assignee="a1", team="support", status="resolved", resolved_at=T0, closed_at=T0)
    at = T0 + timedelta(hours=1)
    entry = QueueEntry("billing", "t1", "high", "email", at, f"1#{clock.iso(at)}#t1")

    repo.update_ticket(
        current,
        TicketUpdate(
            status="open",
            priority="high",
            unassign=True,
            tags=["b"],
            load_stale=True,
            team="billing",
            queue=entry,
            flags=["f"],
        ),
        [event("updated", at)],
        at,
    )

    stored = repo.get_ticket("t1")
    assert stored == current.model_copy(
        update={
            "status": "open",
            "priority": "high",
            "assignee": None,
            "tags": ["b"],
            "team": "billing",
            "flags": ["f"],
            "resolved_at": None,
            "closed_at": None,
            "queued_at": ms(at),
            "updated_at": ms(at),
            "version": 2,
        }
    )
    assert repo.list_queue("billing") == [QueueEntry("billing", "t1", "high", "email", ms(at), entry.key)]
    assert repo.list_events("t1") == [event("updated", ms(at))]
    with pytest.raises(ConflictError):
        repo.update_ticket(current, TicketUpdate(assignee="a2"), [event("updated", at)], at)
    assert repo.list_events("t1") == [event("updated", ms(at))]

    assert stored is not None
    repo.update_ticket(stored, TicketUpdate(status="resolved", assignee="a2"), [], at)
    resolved = repo.get_ticket("t1")
    assert resolved is not None
    assert (resolved.status, resolved.resolved_at, resolved.closed_at, resolved.assignee) == (
        "resolved",
        ms(at),
        None,
        "a2",
    )
