"""The data layer's contract: the same tests on the DynamoDB stores (on a moto table built from
template.yaml) and on the in-memory fakes of `tests.fakes`. A fake that disagrees is wrong."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from pynamodb.exceptions import UpdateError

from shared import clock
from shared.dal.agents import AgentLive, AlreadyRoutedError, ClaimLostError, RoutingChanges
from shared.dal.audit import AuditPage
from shared.dal.base import DuplicateError
from shared.dal.conversation import ConversationPage
from shared.dal.items import OutboxItem, TicketItem, reset_connections
from shared.dal.outbox import (
    OUTBOX_PENDING,
    OUTBOX_RETRY,
    OUTBOX_SENDING,
    OUTBOX_SHARDS,
    REPLY_LOCK,
    GuardRaceError,
    ReplyLockMovedError,
    outbox_item,
    outbox_partition,
)
from shared.dal.pointers import Pointer
from shared.dal.quarantine import QuarantineQuery
from shared.dal.queues import QueueEntry
from shared.dal.repository import DynamoRepository
from shared.dal.tickets import AppendWrite, NewTicketWrite, SlaWrite, TicketChanges, TicketUpdate, sla_shard
from shared.dal.views import ViewChanges, ViewEntry
from shared.errors import ConflictError, PermanentWriteError
from shared.models.macros import Macro, MacroActions
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
from tests.fakes.deadlines import all_unrouted, due_in
from tests.fakes.table import put_op

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


@pytest.mark.parametrize(
    ("text", "why"),
    [("\U0001f600" * 110_000, "Item size"), ("broken \udc80 text", "")],
    ids=["over-400-kb", "lone-surrogate"],
)
def test_an_item_dynamodb_never_stores_is_a_permanent_error_and_writes_nothing(
    repo: Repository, text: str, why: str
) -> None:
    create(repo)

    with pytest.raises(PermanentWriteError) as create_refused:
        repo.create_ticket(
            NewTicketWrite(
                ticket=ticket("t2"),
                message=message("t2", "m2", text=text),
                pointers=[Pointer("inbound", "k2")],
            )
        )
    with pytest.raises(PermanentWriteError) as append_refused:
        repo.append_message(
            AppendWrite(
                ticket_id="t1",
                expected_version=1,
                changes=TicketChanges(status="open"),
                message=message(message_id="m3", text=text),
            )
        )

    assert why in str(create_refused.value)
    assert why in str(append_refused.value)
    assert not isinstance(create_refused.value, ConflictError)
    assert repo.get_ticket("t2") is None
    assert repo.get_pointers([("inbound", "k2")]) == {}
    assert [m.id for m in repo.list_messages("t1")] == ["m-t1"]
    assert repo.get_ticket("t1") == ticket(created_at=ms(T0), updated_at=ms(T0))


def test_a_lone_surrogate_inside_a_json_attribute_is_stored_escaped(repo: Repository) -> None:
    headers = {"X-Broken": "a \udc80 b"}

    repo.create_ticket(NewTicketWrite(ticket=ticket(), message=message(headers=headers)))

    assert [m.headers for m in repo.list_messages("t1")] == [headers]


def test_an_outbox_item_over_400_kb_is_a_permanent_error(repo: Repository) -> None:
    with pytest.raises(PermanentWriteError) as refused:
        repo.put_outbound(outbound(text="\U0001f600" * 50_000, kind="reply", automatic=False), [])

    assert "Item size" in str(refused.value)
    assert repo.get_outbound("k1") is None


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


def test_ticket_numbers_are_reserved_in_blocks_and_put_back_only_from_the_top(repo: Repository) -> None:
    # Given a block of five reserved from the start, then one more
    assert repo.reserve_ticket_numbers(1000, 5) == 1004
    assert repo.reserve_ticket_numbers(1000, 1) == 1005
    # Then the first block's rest cannot be put back (reserved after), the last number can
    assert repo.release_ticket_numbers(1003, 1004) is False
    assert repo.release_ticket_numbers(1005, 1005) is True
    assert repo.last_ticket_number() == 1004
    assert repo.reserve_ticket_numbers(1000, 2) == 1006


def _another_process(repo: Repository) -> Repository:
    """A second store on the same table, with its own blocks (another Lambda container)."""
    return (
        MemoryRepository(repo.table)
        if isinstance(repo, MemoryRepository)
        else DynamoRepository(TABLE, REGION)
    )


def test_processes_taking_numbers_together_never_take_one_twice(repo: Repository) -> None:
    # Given two processes taking numbers in turns, fast enough to grow their blocks, then pausing
    other = _another_process(repo)
    moment = [T0]
    clock.set_clock(lambda: moment[0])
    taken: list[int] = []
    for step in range(60):
        moment[0] += timedelta(seconds=0.2 if step < 50 else 70)
        taken.append((repo if step % 3 else other).next_ticket_number(1000))
    # Then every number was taken once, and the counter is at or past all of them
    assert len(set(taken)) == len(taken) == 60
    assert min(taken) == 1000
    assert repo.last_ticket_number() >= max(taken)


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


def test_an_append_to_a_changed_or_missing_ticket_or_with_a_stored_reference_writes_nothing(
    repo: Repository,
) -> None:
    create(repo)
    repo.append_message(
        AppendWrite(
            ticket_id="t1",
            expected_version=1,
            changes=TicketChanges(),
            message=message(message_id="m2"),
            pointers=[Pointer("ref", "r2", ticket_id="t1")],
        )
    )

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
    stored = repo.get_ticket("t1")
    assert stored is not None
    assert (stored.status, stored.version) == ("new", 2)


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


# Customers -----------------------------------------------------------------------------------


def test_consent_is_recorded_once_for_a_new_or_an_existing_customer(repo: Repository) -> None:
    record = ConsentRecord(at=T0 + timedelta(seconds=1), channel="sms", action="opt_out", keyword="STOP")
    opted_out = customer(consent=[record], opted_out=["sms"])

    repo.record_consent(
        opted_out, Pointer("inbound", "sms#1"), [Pointer("identity", "phone#+1555", customer_id="c1")], False
    )
    with pytest.raises(DuplicateError):
        repo.record_consent(opted_out, Pointer("inbound", "sms#1"), [], True)
    with pytest.raises(ConflictError):  # said to exist, but it does not
        repo.record_consent(customer("c2"), Pointer("inbound", "sms#2"), [], True)
    with pytest.raises(ConflictError):  # said to be new, but it exists
        repo.record_consent(customer(), Pointer("inbound", "sms#3"), [], False)

    # consent records are JSON on the item: their times keep microseconds
    assert repo.get_customer("c1") == opted_out.model_copy(update={"created_at": ms(T0)})
    assert repo.get_customer("c2") is None
    assert repo.get_pointers([("identity", "phone#+1555"), ("inbound", "sms#2"), ("inbound", "sms#3")]) == {
        ("identity", "phone#+1555"): Pointer(
            "identity", "phone#+1555", customer_id="c1", created_at=clock.iso(record.at)
        )
    }


def test_a_merge_saves_customers_repoints_identities_and_moves_tickets(repo: Repository) -> None:
    for c in (customer("c1"), customer("c2")):
        repo.record_consent(c, Pointer("inbound", f"seed#{c.id}"), [], False)
    create(repo, "t1", customer_id="c2")

    repo.save_merge(
        [customer("c1", name="Jane Merged"), customer("c2", merged_into="c1")],
        {"email#c2@customer.example": "c1"},
        {"t1": "c1"},
    )

    assert repo.get_customer("c1") == customer("c1", name="Jane Merged", created_at=ms(T0))
    assert repo.get_customer("c2") == customer("c2", merged_into="c1", created_at=ms(T0))
    assert [t.id for t in repo.list_customer_tickets("c1")] == ["t1"]
    assert repo.list_customer_tickets("c2") == []
    moved = repo.get_ticket("t1")
    assert moved is not None
    assert moved.customer_id == "c1"
    assert moved.version == 1
    pointer = repo.get_pointers([("identity", "email#c2@customer.example")])
    assert pointer[("identity", "email#c2@customer.example")].customer_id == "c1"

    with pytest.raises(ConflictError):  # a customer that does not exist: nothing moves
        repo.save_merge([customer("c1", name="X"), customer("c9")], {}, {"t1": "c2"})
    with pytest.raises(ConflictError):  # a ticket that does not exist
        repo.save_merge([customer("c1", name="Y")], {}, {"t9": "c1"})
    assert repo.get_customer("c9") is None
    assert repo.get_customer("c1") == customer("c1", name="Jane Merged", created_at=ms(T0))
    assert [t.id for t in repo.list_customer_tickets("c1")] == ["t1"]
    assert repo.get_ticket("t9") is None


# The SLA deadline index and the unrouted index ------------------------------------------------


def test_a_ticket_without_team_or_assignee_is_unrouted_until_routed_or_dropped(repo: Repository) -> None:
    create(repo, "t2", created_at=T0 + timedelta(minutes=2))
    create(repo, "t1")
    create(repo, "t3", created_at=T0 + timedelta(minutes=1), team="support")
    create(repo, "t4", created_at=T0 + timedelta(minutes=1), assignee="a1")

    assert [t.id for t in all_unrouted(repo, T0 + timedelta(minutes=5))] == ["t1", "t2"]
    assert [t.id for t in all_unrouted(repo, T0 + timedelta(minutes=5), limit=1)] == ["t1"]
    assert [t.id for t in all_unrouted(repo, ms(T0))] == ["t1"]  # at the creation time exactly
    assert all_unrouted(repo, ms(T0) - timedelta(milliseconds=1)) == []

    assert repo.drop_unrouted("t1") is True
    assert repo.drop_unrouted("t1") is False
    assert repo.drop_unrouted("t3") is False
    assert repo.drop_unrouted("t9") is False
    assert repo.get_ticket("t9") is None
    assert [t.id for t in all_unrouted(repo, T0 + timedelta(minutes=5))] == ["t2"]


def test_due_tickets_come_by_shard_in_deadline_order_up_to_now(repo: Repository) -> None:
    ids = [f"t{i}" for i in range(8)]
    for i, ticket_id in enumerate(ids):
        create(repo, ticket_id)
        repo.append_message(
            AppendWrite(
                ticket_id=ticket_id,
                expected_version=1,
                changes=TicketChanges(sla=sla_write(ticket_id, T0 + timedelta(minutes=10 - i), shards=2)),
                message=message(ticket_id, f"m{i}"),
            )
        )
    shard = {ticket_id: sla_shard(ticket_id, 2) for ticket_id in ids}
    now = T0 + timedelta(minutes=8)
    expected = {
        s: [
            t
            for t in reversed(ids)
            if shard[t] == s and ms(T0 + timedelta(minutes=10 - ids.index(t))) <= ms(now)
        ]
        for s in (0, 1)
    }

    assert {s: [t.id for t in due_in(repo, s, now)] for s in (0, 1)} == expected
    assert [t.id for t in repo.due_tickets(0, now, limit=1).tickets] == expected[0][:1]
    assert all_unrouted(repo, T0 + timedelta(days=1)) == []  # their SLA keys replaced the entry
    due = due_in(repo, shard["t0"], T0 + timedelta(minutes=10))[-1]
    # the SLA is kept as written (its JSON keeps microseconds), only the index key is in milliseconds
    assert (due.id, due.sla) == ("t0", sla_write("t0", T0 + timedelta(minutes=10)).sla)

    stored = repo.get_ticket("t0")
    assert stored is not None
    repo.update_ticket(stored, TicketUpdate(sla=sla_write("t0", None)), [], T0)  # nothing left to watch
    assert "t0" not in [t.id for s in (0, 1) for t in due_in(repo, s, T0 + timedelta(days=1))]
    unwatched = repo.get_ticket("t0")
    assert unwatched is not None
    assert unwatched.sla.policy == "standard"


# Agents: presence ----------------------------------------------------------------------------


def test_an_absence_lasts_from_leaving_online_until_coming_back(repo: Repository) -> None:
    back = T0 + timedelta(hours=8)

    repo.set_presence("a1", "away", ["support"], T0, until=back)
    repo.set_presence("a1", "offline", ["support", "billing"], T0 + timedelta(hours=1))
    away = repo.get_agents(["a1", "a1", "a9"])
    repo.set_presence("a1", "online", ["support"], T0 + timedelta(hours=2))
    online = repo.get_agents(["a1"])

    assert away == {
        "a1": AgentLive(
            id="a1",
            presence="offline",
            load={"email": 0, "sms": 0, "social": 0},
            last_assigned_at="",
            teams=["support", "billing"],
            away_since=ms(T0),
            away_until=None,
        )
    }
    assert online == {
        "a1": AgentLive(
            id="a1",
            presence="online",
            load={"email": 0, "sms": 0, "social": 0},
            last_assigned_at="",
            teams=["support"],
        )
    }
    repo.set_presence("a1", "away", ["support"], T0 + timedelta(hours=3), until=back)
    assert repo.get_agents(["a1"])["a1"].away_since == ms(T0 + timedelta(hours=3))
    assert repo.get_agents(["a1"])["a1"].away_until == ms(back)


# Agents: claims, queues and releases -----------------------------------------------------------


def test_a_claim_assigns_the_ticket_and_takes_one_unit_of_capacity(repo: Repository) -> None:
    create(repo)
    repo.set_presence("a1", "online", ["support"], T0)
    at = T0 + timedelta(minutes=1)

    repo.claim("t1", "a1", "email", 2, routing(language="en", sla_policy="gold"), [event("assigned", at)], at)

    stored = repo.get_ticket("t1")
    assert stored == ticket(
        created_at=ms(T0),
        updated_at=ms(at),
        team="support",
        assignee="a1",
        load_holder="a1",
        tags=["printer"],
        skills=["hardware"],
        language="en",
        sla=Sla(policy="gold"),
    )
    live = repo.get_agents(["a1"])["a1"]
    assert (live.load, live.last_assigned_at) == ({"email": 1, "sms": 0, "social": 0}, clock.iso(at))
    assert repo.list_events("t1") == [event("assigned", ms(at))]
    assert all_unrouted(repo, T0 + timedelta(days=1)) == [stored]  # routing alone keeps the entry


def test_a_claim_is_lost_when_the_agent_is_full_or_not_online_and_changes_nothing(repo: Repository) -> None:
    create(repo)
    create(repo, "t2")
    repo.set_presence("a1", "online", ["support"], T0)
    repo.claim("t2", "a1", "email", 1, routing(), [], T0)
    repo.set_presence("a2", "away", ["support"], T0)

    with pytest.raises(ClaimLostError):
        repo.claim("t1", "a1", "email", 1, routing(), [event("assigned")], T0)  # at capacity exactly
    with pytest.raises(ClaimLostError):
        repo.claim("t1", "a2", "email", 5, routing(), [], T0)
    with pytest.raises(ClaimLostError):
        repo.claim("t1", "a9", "email", 5, routing(), [], T0)  # never stored
    with pytest.raises(ClaimLostError):
        repo.claim("t1", "a9", "email", None, routing(), [], T0)  # even by hand

    assert repo.get_ticket("t1") == ticket(created_at=ms(T0), updated_at=ms(T0))
    assert repo.list_events("t1") == []
    assert repo.get_agents(["a1", "a2", "a9"]).keys() == {"a1", "a2"}
    assert repo.get_agents(["a1"])["a1"].load["email"] == 1
    repo.claim("t1", "a1", "sms", 1, routing(), [], T0)  # another capacity group
    assert repo.get_agents(["a1"])["a1"].load == {"email": 1, "sms": 1, "social": 0}


def test_an_assigned_ticket_is_already_routed_unless_assigned_by_hand(repo: Repository) -> None:
    create(repo, assignee="a0")
    repo.set_presence("a1", "online", ["support"], T0)
    repo.set_presence("a2", "offline", ["support"], T0)

    with pytest.raises(AlreadyRoutedError):
        repo.claim("t1", "a1", "email", 3, routing(), [], T0)
    with pytest.raises(AlreadyRoutedError):
        repo.claim("t9", "a1", "email", 3, routing(), [], T0)
    assert repo.get_agents(["a1"])["a1"].load["email"] == 0
    assert repo.get_ticket("t9") is None

    repo.claim("t1", "a2", "email", None, routing(), [], T0)  # by hand: no capacity, any presence
    stored = repo.get_ticket("t1")
    assert stored is not None
    assert (stored.assignee, stored.load_holder) == ("a2", "a2")
    assert repo.get_agents(["a2"])["a2"].load["email"] == 1


def test_queued_tickets_wait_by_priority_then_time_and_a_claim_takes_them_out(repo: Repository) -> None:
    plan = [
        ("t1", "normal", 0),
        ("t2", "urgent", 3),
        ("t3", "low", 1),
        ("t4", "normal", 2),
        ("t5", "high", 4),
    ]
    entries = {}
    for ticket_id, priority, minute in plan:
        create(repo, ticket_id)
        at = T0 + timedelta(minutes=minute)
        entries[ticket_id] = repo.enqueue(
            ticket_id, "email", routing(priority=priority), [event("queued", at)], at
        )

    queue = repo.list_queue("support")
    assert [e.ticket_id for e in queue] == ["t2", "t5", "t1", "t4", "t3"]
    assert [e.ticket_id for e in repo.list_queue("support", limit=2)] == ["t2", "t5"]
    assert queue[0] == QueueEntry(
        "support", "t2", "urgent", "email", ms(T0 + timedelta(minutes=3)), entries["t2"].key
    )
    assert entries["t2"].queued_at == T0 + timedelta(minutes=3)
    queued = repo.get_ticket("t2")
    assert queued is not None
    assert (queued.team, queued.priority, queued.queued_at, queued.assignee) == (
        "support",
        "urgent",
        ms(T0 + timedelta(minutes=3)),
        None,
    )
    with pytest.raises(AlreadyRoutedError):  # queued already
        repo.enqueue("t2", "email", routing(), [], T0)

    repo.set_presence("a1", "online", ["support"], T0)
    repo.claim("t2", "a1", "email", 5, routing(priority="urgent"), [], T0, dequeue=queue[0])
    with pytest.raises(AlreadyRoutedError):  # the entry is gone: another claim took it
        repo.claim("t2", "a1", "email", None, routing(), [], T0, dequeue=queue[0])

    assert [e.ticket_id for e in repo.list_queue("support")] == ["t5", "t1", "t4", "t3"]
    claimed = repo.get_ticket("t2")
    assert claimed is not None
    assert (claimed.queued_at, claimed.assignee) == (None, "a1")
    assert repo.get_agents(["a1"])["a1"].load["email"] == 1


def test_enqueueing_an_assigned_ticket_is_already_routed(repo: Repository) -> None:
    create(repo, assignee="a1")

    with pytest.raises(AlreadyRoutedError):
        repo.enqueue("t1", "email", routing(), [event("queued")], T0)

    assert repo.list_queue("support") == []
    assert repo.list_events("t1") == []


def test_a_queued_ticket_moves_to_another_team_keeping_its_place_and_can_be_dropped(repo: Repository) -> None:
    create(repo)
    create(repo, "t2")
    entry = repo.enqueue("t1", "email", routing(priority="high"), [], T0)
    other = repo.enqueue("t2", "email", routing(), [], T0)
    at = T0 + timedelta(minutes=5)

    moved = repo.move_queued(entry, "billing", [event("escalated", at)], at)

    assert moved == QueueEntry("billing", "t1", "high", "email", T0, entry.key)
    assert repo.list_queue("billing") == [QueueEntry("billing", "t1", "high", "email", ms(T0), entry.key)]
    assert [e.ticket_id for e in repo.list_queue("support")] == ["t2"]
    stored = repo.get_ticket("t1")
    assert stored is not None
    assert (stored.team, stored.updated_at) == ("billing", ms(at))
    assert repo.list_events("t1") == [event("escalated", ms(at))]
    with pytest.raises(AlreadyRoutedError):  # it left the support queue already
        repo.move_queued(entry, "sales", [], at)

    repo.set_presence("a1", "online", ["support"], T0)
    repo.claim("t2", "a1", "email", None, routing(), [], T0)
    with pytest.raises(AlreadyRoutedError):  # assigned meanwhile
        repo.move_queued(other, "billing", [], at)
    assert [e.ticket_id for e in repo.list_queue("support")] == ["t2"]

    repo.drop_queued(other)
    repo.drop_queued(other)  # dropping twice is harmless
    assert repo.list_queue("support") == []


def test_capacity_is_given_back_once_by_the_holder(repo: Repository) -> None:
    create(repo)
    repo.set_presence("a1", "online", ["support"], T0)
    repo.claim("t1", "a1", "social", 2, routing(), [], T0)
    repo.set_status("t1", "resolved", T0, expected_version=1)

    repo.release("t1", "a1", "social", [event("released")], T0)
    with pytest.raises(AlreadyRoutedError):
        repo.release("t1", "a1", "social", [event("released")], T0)

    stored = repo.get_ticket("t1")
    assert stored is not None
    assert (stored.load_holder, stored.assignee) == (None, "a1")
    assert repo.get_agents(["a1"])["a1"].load == {"email": 0, "sms": 0, "social": 0}
    assert repo.list_events("t1") == [event("released", ms(T0))]

    create(repo, "t2")
    repo.claim("t2", "a1", "email", 2, routing(), [], T0)
    with pytest.raises(AlreadyRoutedError):  # not the holder
        repo.release("t2", "a2", "email", [], T0)
    with pytest.raises(AlreadyRoutedError):  # the holder, but nothing of that group is held
        repo.release("t2", "a1", "sms", [], T0)
    assert repo.get_agents(["a1"])["a1"].load["email"] == 1


def test_clearing_the_stale_mark_needs_the_ticket(repo: Repository) -> None:
    create(repo)

    repo.clear_stale("t1")
    with pytest.raises(ConflictError):
        repo.clear_stale("t9")

    assert repo.get_ticket("t1") == ticket(created_at=ms(T0), updated_at=ms(T0))
    assert repo.get_ticket("t9") is None


def stale_mark(repo: Repository, ticket_id: str) -> bool | None:
    """The ticket item's `load_stale` (route_ticket's stream filter reads it; no read model does)."""
    if isinstance(repo, MemoryRepository):
        item = repo.table.get((f"TICKET#{ticket_id}", "TICKET"))
        assert item is not None
        return item.get("load_stale")
    mark: bool | None = TicketItem.get(f"TICKET#{ticket_id}", "TICKET").load_stale
    return mark


def test_the_capacity_recount_mark_is_set_by_releasing_changes_and_cleared_by_a_release(
    repo: Repository,
) -> None:
    create(repo)
    repo.set_presence("a1", "online", ["support"], T0)
    repo.claim("t1", "a1", "email", 2, routing(), [], T0)
    assert stale_mark(repo, "t1") is None

    repo.set_status("t1", "pending", T0, expected_version=1)
    assert stale_mark(repo, "t1") is None
    repo.set_status("t1", "closed", T0, expected_version=2)
    assert stale_mark(repo, "t1") is True
    repo.release("t1", "a1", "email", [], T0)
    assert stale_mark(repo, "t1") is None

    current = repo.get_ticket("t1")
    assert current is not None
    repo.update_ticket(current, TicketUpdate(assignee="a2", load_stale=True), [], T0)
    assert stale_mark(repo, "t1") is True
    repo.clear_stale("t1")
    assert stale_mark(repo, "t1") is None


# The outbox ----------------------------------------------------------------------------------


def outbound(key: str = "k1", at: datetime = T0, **fields: Any) -> OutboundMessage:
    values: dict[str, Any] = {
        "key": key,
        "ticket_id": "t1",
        "channel": "email",
        "kind": "ack",
        "to": "jane@customer.example",
        "text": "We got your message",
        "created_at": at,
    }
    return OutboundMessage(**(values | fields))


def test_a_message_is_queued_once_per_key_with_its_guards(repo: Repository) -> None:
    guard = Pointer("lastauto", "c1", customer_id="c1")

    assert repo.put_outbound(outbound(), [guard]) is True
    assert repo.put_outbound(outbound(text="again"), [guard]) is False
    assert repo.put_outbound(outbound("k2", status="suppressed", error="opted out"), []) is True

    assert repo.get_outbound("k1") == outbound(created_at=T0)
    assert repo.get_outbound("k9") is None
    assert repo.list_outbound() == [outbound(), outbound("k2", status="suppressed", error="opted out")]
    assert [s.message.key for s in repo.stale_pending(T0 + timedelta(days=1))] == [
        "k1"
    ]  # not the suppressed one
    assert repo.get_pointers([("lastauto", "c1")])[("lastauto", "c1")].created_at == clock.iso(T0)


def test_a_reply_is_queued_only_while_the_reply_lock_names_what_was_read(repo: Repository) -> None:
    def lock(reply: OutboundMessage) -> Pointer:
        return Pointer(REPLY_LOCK, "t1", ticket_id="t1", message_id=reply.key, direction=reply.author)

    first = outbound("r1", kind="reply", author="alice")
    second = outbound("r2", T0 + timedelta(seconds=1), kind="reply", author="bob")
    racer = outbound("r3", T0 + timedelta(seconds=2), kind="reply", author="carol")

    assert repo.put_reply(first, lock(first), None) is True
    # a put that read "no reply yet" after the first took the lock loses, and stores nothing
    with pytest.raises(ReplyLockMovedError):
        repo.put_reply(racer, lock(racer), None)
    assert repo.put_reply(second, lock(second), "r1") is True
    with pytest.raises(ReplyLockMovedError):
        repo.put_reply(racer, lock(racer), "r1")
    # the same key again is a retry: False, the lock unchanged
    assert repo.put_reply(second, lock(second), "r1") is False

    assert repo.get_outbound("r3") is None
    assert [o.key for o in repo.list_outbound()] == ["r1", "r2"]
    assert repo.get_pointers([(REPLY_LOCK, "t1")])[(REPLY_LOCK, "t1")].message_id == "r2"


def test_of_two_messages_guarded_since_the_same_read_only_the_first_is_queued(repo: Repository) -> None:
    earlier, later = T0 - timedelta(hours=1), T0 + timedelta(minutes=1)
    repo.put_outbound(outbound("k0", earlier), [Pointer("lastauto", "c1", customer_id="c1")])

    assert (
        repo.put_outbound(outbound("k1"), [Pointer("lastauto", "c1", customer_id="c1")], guard_since=T0)
        is True
    )
    with pytest.raises(GuardRaceError):
        repo.put_outbound(
            outbound("k2", later), [Pointer("lastauto", "c1", customer_id="c1")], guard_since=earlier
        )
    assert repo.put_outbound(outbound("k1"), [], guard_since=T0) is False

    assert repo.get_outbound("k2") is None
    assert repo.get_pointers([("lastauto", "c1")])[("lastauto", "c1")].created_at == clock.iso(T0)


def test_a_pending_message_is_taken_for_sending_once_and_marked_sent(repo: Repository) -> None:
    create(repo)
    repo.put_outbound(outbound(), [])
    claimed = T0 + timedelta(seconds=5)

    assert repo.start_sending("k1", claimed) is True
    assert repo.start_sending("k1", claimed) is False
    assert repo.start_sending("k9", claimed) is False
    assert repo.get_outbound("k9") is None
    assert repo.get_outbound("k1") == outbound(attempts=1)  # "sending" reads as pending
    assert repo.stale_pending(T0 + timedelta(days=1)) == []
    stuck = repo.stuck_sending(claimed)
    assert [(s.message.key, s.claimed_at, s.claim) for s in stuck] == [
        ("k1", ms(claimed), f"{clock.iso(claimed)}#k1")
    ]
    assert repo.stuck_sending(ms(claimed) - timedelta(milliseconds=1)) == []

    sent = outbound(attempts=1, provider_id="ses-9")
    stored = message(message_id="o1", direction=Direction.OUTBOUND, at=claimed)
    current = repo.get_ticket("t1")
    assert current is not None
    repo.outbound_sent(
        sent,
        stored,
        [Pointer("ref", "<o1@x>", ticket_id="t1", message_id="o1", direction="outbound")],
        [event("sent", claimed)],
        current,
        sla_write("t1", T0 + timedelta(hours=1)),
    )

    assert repo.get_outbound("k1") == outbound(status="sent", attempts=1, provider_id="ses-9")
    assert repo.stuck_sending(T0 + timedelta(days=1)) == []
    assert [m.id for m in repo.list_messages("t1")] == ["m-t1", "o1"]
    assert repo.list_events("t1") == [event("sent", ms(claimed))]
    after = repo.get_ticket("t1")
    assert after is not None
    assert (after.version, after.sla) == (2, sla_write("t1", T0 + timedelta(hours=1)).sla)
    assert [t.id for t in due_in(repo, sla_shard("t1", 4), T0 + timedelta(hours=1))] == ["t1"]
    assert repo.get_pointers([("ref", "<o1@x>")])[("ref", "<o1@x>")].message_id == "o1"

    with pytest.raises(ConflictError):  # not sending any more
        repo.outbound_sent(sent, None, [], [], None, None)


def test_a_send_recorded_against_a_changed_ticket_is_a_conflict(repo: Repository) -> None:
    current = create(repo)
    repo.put_outbound(outbound(), [])
    repo.start_sending("k1", T0)
    repo.set_status("t1", "pending", T0, expected_version=1)

    with pytest.raises(ConflictError):
        repo.outbound_sent(outbound(), message(message_id="o1"), [], [], current, sla_write("t1", None))

    assert repo.get_outbound("k1") == outbound(attempts=1)
    assert [m.id for m in repo.list_messages("t1")] == ["m-t1"]


def test_a_failed_send_is_retried_after_a_backoff_and_requeued(repo: Repository) -> None:
    create(repo)
    repo.put_outbound(outbound(), [])
    repo.start_sending("k1", T0)

    repo.outbound_failed(outbound(attempts=1), "throttled", False, [event("send_failed")])
    with pytest.raises(ConflictError):  # not sending any more
        repo.outbound_failed(outbound(attempts=1), "again", False, [])

    assert repo.get_outbound("k1") == outbound(status="retry", attempts=1, error="throttled")
    assert repo.requeue_due_outbound(T0 + timedelta(minutes=2) - timedelta(milliseconds=1)) == 0
    assert repo.requeue_due_outbound(T0 + timedelta(minutes=2)) == 1
    assert repo.requeue_due_outbound(T0 + timedelta(minutes=2)) == 0
    assert repo.get_outbound("k1") == outbound(attempts=1, error="throttled")
    stale = repo.stale_pending(T0 + timedelta(minutes=2))
    assert [(s.message.key, s.since, s.redeliveries) for s in stale] == [
        ("k1", ms(T0 + timedelta(minutes=2)), 0)
    ]
    assert repo.list_events("t1") == [event("send_failed", ms(T0))]


def test_a_permanent_failure_fails_the_message_and_flags_the_ticket_once(repo: Repository) -> None:
    create(repo)
    for key in ("k1", "k2"):
        repo.put_outbound(outbound(key), [])
        repo.start_sending(key, T0)

    repo.outbound_failed(outbound("k1", attempts=1), "x" * 1200, True, [event("send_failed")])
    repo.outbound_failed(outbound("k2", attempts=1), "bounced", True, [], flag="delivery_failed")

    assert repo.get_outbound("k1") == outbound(status="failed", attempts=1, error="x" * 1000)
    assert repo.stuck_sending(T0 + timedelta(days=1)) == []
    assert repo.requeue_due_outbound(T0 + timedelta(days=1)) == 0
    stored = repo.get_ticket("t1")
    assert stored is not None
    assert stored.flags == ["delivery_failed"]


def test_a_stale_pending_message_is_redelivered_once_per_sighting_then_given_up(repo: Repository) -> None:
    create(repo)
    repo.put_outbound(outbound(), [])
    stale = repo.stale_pending(T0)[0]
    assert (stale.since, stale.redeliveries, stale.index_key) == (ms(T0), 0, f"{clock.iso(T0)}#k1")
    later = T0 + timedelta(minutes=10)

    assert repo.redeliver_pending(stale, later) is True
    assert repo.redeliver_pending(stale, later) is False  # its index key moved on
    assert repo.stale_pending(T0) == []
    again = repo.stale_pending(later)[0]
    assert (again.since, again.redeliveries) == (ms(later), 1)

    assert repo.pending_failed(stale, "lost", []) is False
    assert repo.pending_failed(again, "never claimed", [event("send_failed", later)]) is True
    assert repo.pending_failed(again, "never claimed", []) is False

    assert repo.get_outbound("k1") == outbound(status="failed", error="never claimed")
    assert repo.stale_pending(T0 + timedelta(days=1)) == []
    stored = repo.get_ticket("t1")
    assert stored is not None
    assert stored.flags == ["delivery_failed"]
    assert repo.list_events("t1") == [event("send_failed", ms(later))]


def test_a_send_without_a_result_is_marked_unknown_once(repo: Repository) -> None:
    create(repo)
    repo.put_outbound(outbound(), [])
    repo.start_sending("k1", T0)
    stuck = repo.stuck_sending(T0)[0]

    assert repo.outbound_unknown(stuck, "no result", [event("delivery_unknown")]) is True
    assert repo.outbound_unknown(stuck, "no result", []) is False

    assert repo.get_outbound("k1") == outbound(status="failed", attempts=1, error="no result")
    stored = repo.get_ticket("t1")
    assert stored is not None
    assert stored.flags == ["delivery_unknown"]
    assert repo.list_events("t1") == [event("delivery_unknown", ms(T0))]


def outbox_index(repo: Repository, key: str) -> tuple[str | None, str | None, str | None]:
    """An outbox item's gsi1 and gsi2 partition keys and its status, as stored."""
    if isinstance(repo, MemoryRepository):
        found = repo.table.get((f"OUTBOX#{key}", "OUTBOX"))
        assert found is not None
        return found.get("gsi1pk"), found.get("gsi2pk"), found.get("status")
    item = OutboxItem.get(f"OUTBOX#{key}", "OUTBOX")
    return item.gsi1pk, item.gsi2pk, item.status


def put_before_sharding(repo: Repository, message: OutboundMessage) -> None:
    """An outbox item as written before decision 119: in the gsi1 listing, on the unsharded key."""
    item = outbox_item(message)
    item.gsi1pk, item.gsi1sk = "OUTBOX", f"{clock.iso(message.created_at)}#{message.key}"
    item.gsi2pk = OUTBOX_PENDING
    if isinstance(repo, MemoryRepository):
        assert repo.table.transact([put_op(item)]) == []
    else:
        item.save()


def test_each_state_of_a_message_is_indexed_on_the_shard_its_key_hashes_to(repo: Repository) -> None:
    create(repo)
    keys = [f"k{n}" for n in range(40)]
    for key in keys:
        repo.put_outbound(outbound(key), [])

    # the shards are spread (40 keys over 32 shards land on many of them), and stable per key
    assert len({outbox_partition(OUTBOX_PENDING, key) for key in keys}) > OUTBOX_SHARDS // 2
    assert outbox_index(repo, "k1") == (None, outbox_partition(OUTBOX_PENDING, "k1"), "pending")
    repo.start_sending("k1", T0)
    assert outbox_index(repo, "k1") == (None, outbox_partition(OUTBOX_SENDING, "k1"), "sending")
    repo.outbound_failed(outbound("k1", attempts=1), "throttled", False, [])
    assert outbox_index(repo, "k1") == (None, outbox_partition(OUTBOX_RETRY, "k1"), "retry")
    assert (
        outbox_partition(OUTBOX_RETRY, "k1").rpartition("#")[2]
        == outbox_partition(OUTBOX_PENDING, "k1").rpartition("#")[2]
    )


def test_a_pass_reads_every_shard_a_page_at_a_time_oldest_first(repo: Repository) -> None:
    keys = [f"k{n:02}" for n in range(30)]
    for n, key in enumerate(keys):
        repo.put_outbound(outbound(key, T0 + timedelta(seconds=n)), [])

    first = repo.stale_pending(T0 + timedelta(days=1), limit=12)
    assert len(first) == 12
    assert [s.since for s in first] == sorted(s.since for s in first)
    for stale in first:
        assert repo.redeliver_pending(stale, T0 + timedelta(days=2)) is True
    rest = repo.stale_pending(T0 + timedelta(days=1), limit=100)

    assert sorted(s.message.key for s in first + rest) == keys  # every shard read, none twice


def test_items_queued_before_the_shards_are_still_found_and_move_onto_their_shard(
    repo: Repository,
) -> None:
    create(repo)
    put_before_sharding(repo, outbound("old1"))
    put_before_sharding(repo, outbound("old2"))
    later = T0 + timedelta(minutes=20)

    [stale_old1, stale_old2] = repo.stale_pending(T0)
    assert repo.redeliver_pending(stale_old1, later) is True
    assert outbox_index(repo, "old1") == ("OUTBOX", outbox_partition(OUTBOX_PENDING, "old1"), "pending")
    assert repo.start_sending("old2", later) is True  # the claim also leaves the dropped listing
    assert outbox_index(repo, "old2") == (None, outbox_partition(OUTBOX_SENDING, "old2"), "sending")
    assert [s.message.key for s in repo.stuck_sending(later)] == ["old2"]
    assert stale_old2.message.key == "old2"
    assert sorted(o.key for o in repo.list_outbound()) == ["old1", "old2"]


def test_a_paced_channel_gives_out_its_rate_of_send_slots_a_second(repo: Repository) -> None:
    keys = [f"k{n}" for n in range(400)]
    second, next_second = T0.replace(microsecond=0), T0.replace(microsecond=0) + timedelta(seconds=1)

    taken = [
        key for key in keys if repo.take_send_slot("email", key, second + timedelta(milliseconds=5), 250)
    ]

    # 250 a second across its 3 pace shards (each its share), however the keys hash
    assert len(taken) == 250
    assert repo.take_send_slot("email", "k0", second + timedelta(milliseconds=900), 250) is False
    assert repo.take_send_slot("email", "k0", next_second, 250) is True  # a new second
    assert repo.take_send_slot("sms", "k0", second, 250) is True  # another channel's pace


def test_a_deferred_message_waits_with_the_retries_without_an_attempt(repo: Repository) -> None:
    repo.put_outbound(outbound(), [])

    assert repo.defer_outbound("k1", T0 + timedelta(seconds=1)) is True
    assert repo.defer_outbound("k1", T0 + timedelta(seconds=1)) is False  # not pending any more
    assert repo.start_sending("k1", T0) is False

    assert repo.get_outbound("k1") == outbound(status="retry")
    assert outbox_index(repo, "k1") == (None, outbox_partition(OUTBOX_RETRY, "k1"), "retry")
    assert repo.requeue_due_outbound(T0) == 0
    assert repo.requeue_due_outbound(T0 + timedelta(seconds=1)) == 1
    assert repo.start_sending("k1", T0 + timedelta(seconds=2)) is True


# The quarantine ------------------------------------------------------------------------------


def entry(
    entry_id: str, minute: int, reason: str = "unparseable", channel: Channel = Channel.EMAIL
) -> QuarantineEntry:
    return QuarantineEntry(
        id=entry_id,
        reason=reason,
        at=T0 + timedelta(minutes=minute),
        ref=f"ref-{entry_id}",
        channel=channel,
        details={"raw": "x"},
    )


def test_an_entry_is_quarantined_once(repo: Repository) -> None:
    repo.quarantine(entry("q1", 0), Pointer("inbound", "email#1"))
    with pytest.raises(DuplicateError):
        repo.quarantine(entry("q2", 1), Pointer("inbound", "email#1"))

    assert repo.get_quarantine("q1") == entry("q1", 0).model_copy(update={"at": ms(T0)})
    assert repo.get_quarantine("q2") is None


def test_quarantine_pages_come_newest_first_with_a_cursor_and_filters(repo: Repository) -> None:
    plan = [
        ("q1", 1, "unparseable", Channel.EMAIL),
        ("q2", 2, "too_large", Channel.EMAIL),
        ("q3", 3, "unparseable", Channel.SMS),
        ("q4", 4, "unparseable", Channel.EMAIL),
        ("q5", 5, "too_large", Channel.SMS),
    ]
    for entry_id, minute, reason, channel in plan:
        repo.quarantine(entry(entry_id, minute, reason, channel), Pointer("inbound", entry_id))
    assert repo.claim_release("q4", "agent-1", T0) is True

    def ids(query: QuarantineQuery) -> tuple[list[str], tuple[str, str] | None]:
        page = repo.list_quarantine_page(query)
        return [e.id for e in page.entries], page.after

    first = ids(QuarantineQuery(limit=2))
    assert first == (["q5", "q4"], (clock.iso(T0 + timedelta(minutes=4)), "q4"))
    assert ids(QuarantineQuery(limit=2, after=first[1])) == (
        ["q3", "q2"],
        (clock.iso(T0 + timedelta(minutes=2)), "q2"),
    )
    assert ids(QuarantineQuery(limit=2, after=(clock.iso(T0 + timedelta(minutes=2)), "q2"))) == (["q1"], None)
    assert ids(QuarantineQuery(limit=5)) == (["q5", "q4", "q3", "q2", "q1"], None)
    assert ids(QuarantineQuery(limit=10, reason="unparseable")) == (["q4", "q3", "q1"], None)
    assert ids(
        QuarantineQuery(limit=1, reason="unparseable", after=(clock.iso(T0 + timedelta(minutes=4)), "q4"))
    ) == (
        ["q3"],
        (clock.iso(T0 + timedelta(minutes=3)), "q3"),
    )
    assert ids(QuarantineQuery(limit=10, channel="sms")) == (["q5", "q3"], None)
    assert ids(QuarantineQuery(limit=1, channel="email")) == (
        ["q4"],
        (clock.iso(T0 + timedelta(minutes=4)), "q4"),
    )
    assert ids(QuarantineQuery(limit=10, released=True)) == (["q4"], None)
    assert ids(QuarantineQuery(limit=10, released=False, reason="unparseable", channel="email")) == (
        ["q1"],
        None,
    )
    assert ids(QuarantineQuery(limit=10, reason="other")) == ([], None)


def test_an_entry_is_released_once_and_then_notes_its_ticket(repo: Repository) -> None:
    repo.quarantine(entry("q1", 0), Pointer("inbound", "q1"))
    at = T0 + timedelta(hours=1)

    assert repo.claim_release("q1", "agent-1", at) is True
    assert repo.claim_release("q1", "agent-2", at) is False
    assert repo.claim_release("q9", "agent-1", at) is False
    repo.record_released_ticket("q1", "t7")

    assert repo.get_quarantine("q1") == entry("q1", 0).model_copy(
        update={"at": ms(T0), "released_by": "agent-1", "released_at": ms(at), "released_ticket_id": "t7"}
    )
    assert repo.get_quarantine("q9") is None


def test_noting_the_ticket_of_an_unreleased_entry_fails(repo: Repository) -> None:
    repo.quarantine(entry("q1", 0), Pointer("inbound", "q1"))

    with pytest.raises(UpdateError):  # pynamodb's own error, not a domain error (reported)
        repo.record_released_ticket("q1", "t7")

    assert repo.get_quarantine("q1") == entry("q1", 0).model_copy(update={"at": ms(T0)})


def test_a_ticket_that_does_not_exist_is_not_queued(repo: Repository) -> None:
    with pytest.raises(AlreadyRoutedError):
        repo.enqueue("t9", "email", routing(), [], T0)

    assert repo.list_queue("support") == []
    assert repo.get_ticket("t9") is None


# What only the simulator and the tests read (not in a Protocol) -------------------------------


def test_scans_list_every_ticket_by_number_and_every_customer_by_creation(repo: Repository) -> None:
    create(repo, "t2", number=1002)
    create(repo, "t1", number=1001)
    for c in (customer("c2", created_at=T0 + timedelta(hours=1)), customer("c1")):
        repo.record_consent(c, Pointer("inbound", f"seed#{c.id}"), [], False)

    assert [t.id for t in repo.scan_tickets()] == ["t1", "t2"]
    assert [c.id for c in repo.scan_customers()] == ["c1", "c2"]


def test_a_long_raw_input_is_kept_in_parts_and_joined_back(repo: Repository) -> None:
    long = entry("q1", 0).model_copy(update={"details": {"raw": "abc", "raw_parts": 2}})
    repo.quarantine(long, Pointer("inbound", "q1"), raw_parts=["first part, ", "second part"])
    repo.quarantine(entry("q2", 1), Pointer("inbound", "q2"))

    assert repo.quarantined_raw(long) == "first part, second part"
    assert repo.quarantined_raw(entry("q2", 1)) == "x"
    assert [e.id for e in repo.list_quarantine()] == ["q1", "q2"]


# AuditLog -----------------------------------------------------------------------------------------


def test_an_agents_actions_are_paged_newest_first_across_tickets_and_nobody_elses_are(
    repo: Repository,
) -> None:
    create(repo, "t1")
    create(repo, "t2")
    dedupe = iter(range(100))
    for minute, (ticket_id, by) in enumerate(
        [("t1", "alice"), ("t2", "alice"), ("t1", "bob"), ("t2", "alice"), ("t1", "alice")], start=1
    ):
        at = T0 + timedelta(minutes=minute)
        repo.add_events(
            ticket_id,
            [event("updated", at, by=by, changes={"minute": minute}), event("routed", at, agent=by)],
            Pointer("inbound", f"audit#{next(dedupe)}"),
        )

    first = repo.agent_actions("alice", limit=3)
    second = repo.agent_actions("alice", limit=3, after=first.after)

    assert [(a.ticket_id, a.event.data["changes"]["minute"]) for a in first.actions] == [
        ("t1", 5),
        ("t2", 4),
        ("t2", 2),
    ]
    assert first.after is not None
    assert [(a.ticket_id, a.event.type, a.event.at) for a in second.actions] == [
        ("t1", "updated", ms(T0 + timedelta(minutes=1)))
    ]
    assert second.after is None
    assert [a.event.data["by"] for a in repo.agent_actions("bob", limit=10).actions] == ["bob"]
    assert repo.agent_actions("carol", limit=10) == AuditPage(actions=[], after=None)


def test_a_customers_reopening_names_its_author_but_is_no_agents_action(repo: Repository) -> None:
    create(repo, "t1")
    repo.add_events("t1", [event("reopened", by="jane@customer.example")], Pointer("inbound", "reopen"))

    assert repo.agent_actions("jane@customer.example", limit=10).actions == []
    assert [e.type for e in repo.list_events("t1")][-1] == "reopened"


# ConversationReads --------------------------------------------------------------------------------


def test_a_conversation_is_paged_newest_first_without_html_and_a_message_is_read_whole(
    repo: Repository,
) -> None:
    create(repo, "t1")  # its first message m-t1 at T0
    html = "<p>Gr\u00fc\u00dfe</p>" * 10
    for minute in range(1, 5):
        repo.add_message(
            "t1",
            message(
                "t1", f"m{minute + 1}", T0 + timedelta(minutes=minute), html=html, full_text="Hello\n> old"
            ),
            [],
        )

    first = repo.conversation_page("t1", limit=3)
    second = repo.conversation_page("t1", limit=3, before=first.before)

    assert [e.message.id for e in first.entries] == ["m5", "m4", "m3"]
    assert all(e.message.html is None and e.message.full_text is None for e in first.entries)
    assert [e.html_bytes for e in first.entries] == [len(html.encode())] * 3
    assert first.entries[0].message.text == "Hello"
    assert [e.message.id for e in second.entries] == ["m2", "m-t1"]
    assert second.entries[-1].html_bytes is None
    assert second.before is None
    whole = repo.get_message("t1", first.entries[0].key)
    assert whole is not None
    assert (whole.id, whole.html, whole.full_text) == ("m5", html, "Hello\n> old")
    assert repo.get_message("t1", "MSG#nope") is None
    assert repo.get_message("t1", "TICKET") is None
    assert repo.conversation_page("t9", limit=3) == ConversationPage(entries=[], before=None)


# MacroStore ---------------------------------------------------------------------------------------


def macro(macro_id: str, title: str, version: int = 1, team: str = "support") -> Macro:
    return Macro(
        id=macro_id,
        team=team,
        title=title,
        body="Hello {{ customer_name }}",
        actions=MacroActions(status="pending", tags_add=["waiting"]),
        version=version,
        created_at=T0,
        updated_at=T0 + timedelta(minutes=version),
        updated_by="alice",
    )


def test_macros_are_saved_once_per_id_and_replaced_only_at_the_version_seen(repo: Repository) -> None:
    repo.save_macro(macro("m1", "refund"), expected_version=None)
    repo.save_macro(macro("m2", "Apology"), expected_version=None)
    repo.save_macro(macro("m3", "other team", team="billing"), expected_version=None)

    with pytest.raises(ConflictError):
        repo.save_macro(macro("m1", "again"), expected_version=None)
    with pytest.raises(ConflictError):
        repo.save_macro(macro("m1", "stale", version=2), expected_version=5)
    repo.save_macro(macro("m1", "Refund", version=2), expected_version=1)

    assert [(m.id, m.title, m.version) for m in repo.list_macros("support")] == [
        ("m2", "Apology", 1),
        ("m1", "Refund", 2),
    ]
    assert repo.get_macro("support", "m1") == macro("m1", "Refund", version=2).model_copy(
        update={"updated_at": ms(T0 + timedelta(minutes=2)), "created_at": ms(T0)}
    )
    assert repo.get_macro("billing", "m1") is None


def test_a_macro_is_deleted_only_at_the_version_seen(repo: Repository) -> None:
    repo.save_macro(macro("m1", "Refund"), expected_version=None)

    with pytest.raises(ConflictError):
        repo.delete_macro("support", "m1", expected_version=2)
    assert repo.get_macro("support", "m1") is not None
    repo.delete_macro("support", "m1", expected_version=1)

    assert repo.get_macro("support", "m1") is None
    with pytest.raises(ConflictError):
        repo.delete_macro("support", "m1", expected_version=1)


# -- views ----------------------------------------------------------------------------------------


def _view_changes(repo: Repository, ticket_id: str, seq: int, placed: dict[str, str]) -> ViewChanges:
    """The ticket in `placed` (partition -> sort value), against its stored state."""
    before = repo.view_state(ticket_id)
    entries = [ViewEntry(p, sort, ticket_id, {"id": ticket_id, "seq": seq}) for p, sort in placed.items()]
    new = {e.partition: e.sk for e in entries}
    old = before.entries if before is not None else {}
    stale = [(p, sk) for p, sk in old.items() if new.get(p) != sk]
    counts = {p: 1 for p in new if p not in old} | {p: -1 for p in old if p not in new}
    return ViewChanges(ticket_id, seq, entries, stale, counts, before)


def test_view_changes_are_stored_with_their_state_and_counted_once(repo: Repository) -> None:
    assert repo.view_state("tkt_1") is None
    first = _view_changes(repo, "tkt_1", 10, {"VIEW#a#open": "2026-03-02T09:00:00.000Z", "VIEW#a#x": "1"})
    assert repo.apply_view_changes(first) is True
    assert repo.apply_view_changes(first) is False  # the same record again: nothing counted
    second = _view_changes(repo, "tkt_1", 11, {"VIEW#a#open": "2026-03-02T09:05:00.000Z"})
    assert repo.apply_view_changes(second) is True

    state = repo.view_state("tkt_1")
    assert state is not None
    assert (state.seq, state.entries) == (11, {"VIEW#a#open": "E#2026-03-02T09:05:00.000Z#tkt_1"})
    assert repo.view_counts(["VIEW#a#open", "VIEW#a#x", "VIEW#a#none"]) == {
        "VIEW#a#open": 1,
        "VIEW#a#x": 0,
        "VIEW#a#none": 0,
    }
    (entry,) = repo.view_slice("VIEW#a#open", 10, ascending=False).entries
    assert (entry.sort, entry.summary) == ("2026-03-02T09:05:00.000Z", {"id": "tkt_1", "seq": 11})
    assert repo.view_slice("VIEW#a#x", 10, ascending=False).entries == []


def test_a_view_slice_pages_in_either_order(repo: Repository) -> None:
    for n in range(5):
        repo.apply_view_changes(
            _view_changes(repo, f"tkt_{n}", 1, {"VIEW#a#open": f"2026-03-02T09:0{n}:00.000Z"})
        )

    newest = repo.view_slice("VIEW#a#open", 2, ascending=False)
    assert [e.ticket_id for e in newest.entries] == ["tkt_4", "tkt_3"]
    assert newest.last is not None
    rest = repo.view_slice("VIEW#a#open", 5, ascending=False, after=newest.last)
    assert ([e.ticket_id for e in rest.entries], rest.last) == (["tkt_2", "tkt_1", "tkt_0"], None)
    oldest = repo.view_slice("VIEW#a#open", 3, ascending=True)
    assert [e.ticket_id for e in oldest.entries] == ["tkt_0", "tkt_1", "tkt_2"]
    assert repo.view_counts(["VIEW#a#open"]) == {"VIEW#a#open": 5}


def test_a_view_slice_reads_on_from_a_position_that_is_no_entry_of_its_partition(repo: Repository) -> None:
    # Given a partition of five entries (the COUNT item sorts before them, nothing after)
    for n in range(5):
        repo.apply_view_changes(
            _view_changes(repo, f"tkt_{n}", 1, {"VIEW#a#open#3": f"2026-03-02T09:0{n}:00.000Z"})
        )
    # When it is read from a position another shard's page ended at, Then strictly after it
    between = "E#2026-03-02T09:02:00.000Z#tkt_9"  # after tkt_2's key, before tkt_3's
    down = repo.view_slice("VIEW#a#open#3", 10, ascending=False, after=between)
    assert ([e.ticket_id for e in down.entries], down.last) == (["tkt_2", "tkt_1", "tkt_0"], None)
    up = repo.view_slice("VIEW#a#open#3", 1, ascending=True, after=between)
    assert [e.ticket_id for e in up.entries] == ["tkt_3"]
    assert up.last == up.entries[0].sk
    # And from an entry's own key, without it
    exact = repo.view_slice("VIEW#a#open#3", 10, ascending=True, after=up.entries[0].sk)
    assert [e.ticket_id for e in exact.entries] == ["tkt_4"]
    assert repo.view_slice("VIEW#a#open#3", 10, ascending=True, after="E#2027").entries == []


def test_a_view_state_keeps_the_digest_of_what_its_entries_show(repo: Repository) -> None:
    placed = _view_changes(repo, "tkt_1", 1, {"VIEW#a#open#0": "2026-03-02T09:00:00.000Z"})
    assert repo.apply_view_changes(replace(placed, shown="abc123"))
    state = repo.view_state("tkt_1")
    assert state is not None
    assert state.shown == "abc123"
    # a change computed against the state with another digest is refused (it was replaced meanwhile)
    stale = _view_changes(repo, "tkt_1", 2, {"VIEW#a#open#0": "2026-03-02T09:00:00.000Z"})
    assert not repo.apply_view_changes(replace(stale, before=replace(state, shown="other")))
    assert repo.apply_view_changes(replace(stale, shown="def456"))
    assert repo.view_state("tkt_1") == replace(state, seq=2, shown="def456")
