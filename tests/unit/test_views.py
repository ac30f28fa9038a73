"""The views agents work from: which views a ticket is in, what a change does to them (counted
once however often it is applied), and pages merged over the caller's teams, on the in-memory table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.logic.permissions import ForbiddenActionError, Principal, Role
from shared.logic.views import InvalidViewError, changes_for, entries_of, project, read_view, view_counts
from shared.models.config import HelpdeskConfig
from shared.models.ticket import Channel, Priority, Sla, SlaTarget, Ticket, TicketStatus
from tests.fakes.repository import MemoryRepository

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CONFIG = HelpdeskConfig.model_validate(
    {
        "teams": [{"id": "support"}, {"id": "billing"}, {"id": "sales"}],
        "agents": [
            {"id": "alice", "teams": ["support", "billing"]},
            {"id": "bob", "teams": ["support"]},
            {"id": "carol", "teams": ["sales"]},
        ],
    }
)
ALICE = Principal("alice", Role.AGENT, frozenset({"support", "billing"}))
BOB = Principal("bob", Role.AGENT, frozenset({"support"}))
ADMIN = Principal("carol", Role.ADMIN, frozenset({"sales"}))


def ticket(number: int, minutes: int = 0, **changes: object) -> Ticket:
    base = Ticket(
        id=f"tkt_{number:026d}",
        number=number,
        channel=Channel.EMAIL,
        subject=f"Ticket {number}",
        customer_id="cus_1",
        team="support",
        inbox="support@support.example.com",
        created_at=T0,
        updated_at=T0 + timedelta(minutes=minutes),
    )
    return base.model_copy(update=changes)


def partitions(t: Ticket) -> set[str]:
    """The views of the ticket's entries (one shard: every partition is `<view>#0`)."""
    assert all(e.partition.endswith("#0") for e in entries_of(t))
    return {e.partition.removesuffix("#0") for e in entries_of(t)}


def test_an_open_unassigned_ticket_is_in_its_teams_working_views() -> None:
    t = ticket(1, tags=["printer", "vip"], priority=Priority.HIGH)

    assert partitions(t) == {
        "VIEW#support#recent",
        "VIEW#support#status:new",
        "VIEW#support#open",
        "VIEW#support#unassigned",
        "VIEW#support#priority:high",
        "VIEW#support#channel:email",
        "VIEW#support#inbox:support@support.example.com",
        "VIEW#support#tag:printer",
        "VIEW#support#tag:vip",
    }


def test_an_assigned_ticket_is_its_agents_and_a_solved_one_only_in_recent_and_its_status() -> None:
    assigned = ticket(1, assignee="bob", status=TicketStatus.OPEN)
    assert "VIEW#@bob#mine" in partitions(assigned)
    assert "VIEW#support#unassigned" not in partitions(assigned)

    solved = assigned.model_copy(update={"status": TicketStatus.RESOLVED})
    assert partitions(solved) == {"VIEW#support#recent", "VIEW#support#status:resolved"}
    assert partitions(ticket(2, team=None)) >= {"VIEW#-#open", "VIEW#-#unassigned"}


def test_a_ticket_with_an_sla_target_not_met_is_breaching_by_its_soonest_due_time() -> None:
    sla = Sla(
        targets=[
            SlaTarget(name="first_response", state="met", due_at=T0 + timedelta(hours=1)),
            SlaTarget(name="resolution", state="pending", due_at=T0 + timedelta(hours=8)),
            SlaTarget(name="next_response", state="breached", due_at=T0 + timedelta(hours=2)),
        ]
    )
    (entry,) = [e for e in entries_of(ticket(1, sla=sla)) if e.partition.endswith("#breaching#0")]
    assert entry.sort == "2026-03-02T11:00:00.000Z"  # the breached one: overdue first


def test_a_change_rewrites_the_tickets_entries_and_counts_only_the_views_it_enters_or_leaves() -> None:
    store = MemoryRepository()
    before = ticket(1, tags=["printer"])
    project(before.id, before, 1, store)
    after = ticket(1, 5, tags=["printer"], status=TicketStatus.RESOLVED)

    changes = changes_for(after.id, after, 2, store.view_state(after.id))

    assert {e.partition for e in changes.entries} == {
        "VIEW#support#recent#0",
        "VIEW#support#status:resolved#0",
    }
    assert changes.counts == {"VIEW#support#status:resolved#0": 1} | dict.fromkeys(
        {f"{p}#0" for p in partitions(before) - {"VIEW#support#recent"}}, -1
    )
    assert ("VIEW#support#recent#0", "E#2026-03-02T09:00:00.000Z#" + before.id) in changes.stale


def test_a_record_applied_twice_or_an_older_one_after_a_newer_counts_nothing_twice() -> None:
    store = MemoryRepository()
    first, second = ticket(1), ticket(1, 3, status=TicketStatus.OPEN, assignee="bob")
    # the stream delivers records again after a failure: a batch retried from an earlier record
    # applies a newer record first, then the older one and the newer one again
    for seq, t in [(1, first), (2, second), (1, first), (2, second), (2, second)]:
        project(t.id, t, seq, store)

    counts = view_counts(BOB, CONFIG, None, store)
    assert (counts["open"], counts["mine"], counts["unassigned"], counts["status:new"]) == (1, 1, 0, 0)
    assert counts["status:open"] == counts["recent"] == 1
    assert [t["assignee"] for t in read_view(BOB, CONFIG, "mine", None, 10, None, store).tickets] == ["bob"]


def test_a_ticket_that_is_gone_leaves_every_view() -> None:
    store = MemoryRepository()
    t = ticket(1, tags=["a"])
    project(t.id, t, 1, store)
    project(t.id, None, 2, store)
    assert view_counts(BOB, CONFIG, None, store) == dict.fromkeys(view_counts(BOB, CONFIG, None, store), 0)
    assert [k for k in store.table.items if k[0].startswith("VIEW#") and k[1] != "COUNT"] == []


def fill(store: MemoryRepository) -> list[Ticket]:
    tickets = [
        ticket(1, 1),
        ticket(2, 2, team="billing"),
        ticket(3, 3, team=None),
        ticket(4, 4, team="sales"),
        ticket(5, 5),
        ticket(6, 6, team="billing", status=TicketStatus.CLOSED),
        ticket(7, 7, team=None),
    ]
    for seq, t in enumerate(tickets, start=1):
        project(t.id, t, seq, store)
    return tickets


def test_a_view_merges_the_callers_teams_and_the_shared_inbox_a_page_at_a_time() -> None:
    store = MemoryRepository()
    fill(store)

    seen: list[int] = []
    cursor = None
    while True:
        page = read_view(ALICE, CONFIG, "open", None, 2, cursor, store)
        assert len(page.tickets) <= 2
        assert page.count == 5
        seen += [t["number"] for t in page.tickets]
        cursor = page.cursor
        if cursor is None:
            break

    assert seen == [7, 5, 3, 2, 1]  # newest update first; sales' #4 is not Alice's; #6 is closed
    assert [t["number"] for t in read_view(BOB, CONFIG, "open", None, 10, None, store).tickets] == [
        7,
        5,
        3,
        1,
    ]
    assert read_view(ADMIN, CONFIG, "recent", None, 10, None, store).count == 7
    assert [t["number"] for t in read_view(ALICE, CONFIG, "open", "billing", 10, None, store).tickets] == [2]


def test_a_view_refuses_another_teams_scope_and_names_it_does_not_have() -> None:
    store = MemoryRepository()
    with pytest.raises(ForbiddenActionError):
        read_view(BOB, CONFIG, "open", "billing", 10, None, store)
    for name in ("everything", "status:lost", "priority:", "tag:" + "x" * 201):
        with pytest.raises(InvalidViewError):
            read_view(BOB, CONFIG, name, None, 10, None, store)
    assert read_view(BOB, CONFIG, "waiting", None, 10, None, store).view == "status:pending"


statuses = st.sampled_from(list(TicketStatus))
states = st.tuples(
    statuses,
    st.sampled_from([None, "alice", "bob"]),
    st.sampled_from(["support", "billing", None]),
    st.lists(st.sampled_from(["a", "b", "c"]), max_size=3, unique=True),
    st.sampled_from(list(Priority)),
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 3), states), min_size=1, max_size=12), st.randoms(use_true_random=False)
)
def test_the_views_always_hold_exactly_the_entries_of_the_tickets_as_they_are(steps, random) -> None:  # type: ignore[no-untyped-def]
    # Given tickets changing, their stream records, and deliveries of them with retries: each
    # record is applied, and some again later, after newer ones (a batch retried), some only then
    records: list[tuple[int, Ticket]] = []
    current: dict[int, Ticket] = {}
    for seq, (number, (status, assignee, team, tags, priority)) in enumerate(steps, start=1):
        current[number] = ticket(
            number, seq, status=status, assignee=assignee, team=team, tags=tags, priority=priority
        )
        records.append((seq, current[number]))
    deliveries: list[tuple[int, Ticket] | None] = list(records)
    for index in sorted(random.sample(range(len(records)), k=len(records) // 2), reverse=True):
        if random.random() < 0.5:
            deliveries[index] = None  # its first attempt failed before writing: only the retry counts
        deliveries.insert(random.randint(index + 1, len(deliveries)), records[index])
    store = MemoryRepository()
    for delivery in deliveries:
        if delivery is not None:
            project(delivery[1].id, delivery[1], delivery[0], store)

    # Then every view holds exactly the entries of the tickets as they are, and counts them
    expected: dict[str, set[str]] = {}
    for t in current.values():
        for e in entries_of(t):
            expected.setdefault(e.partition, set()).add(e.sk)
    stored = {p: {str(i["sk"]) for i in store.table.partition(p, "E#")} for p in expected}
    assert stored == expected
    counts = store.view_counts(list(expected))
    assert counts == {p: len(keys) for p, keys in expected.items()}
    leftovers = {pk for (pk, sk) in store.table.items if pk.startswith("VIEW#") and sk != "COUNT"} - set(
        expected
    )
    assert leftovers == set()
    zero = {pk for (pk, sk), item in store.table.items.items() if sk == "COUNT" and pk not in expected}
    assert store.view_counts(sorted(zero)) == dict.fromkeys(sorted(zero), 0)
