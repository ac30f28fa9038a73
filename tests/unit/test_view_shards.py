"""Views in write shards (decision 126) and the writes a change skips (decision 125): a page merged
from every shard equals the unsharded view's, page after page in both orders while tickets are added
between pages; an entry is written only when its key or what it shows changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.dal.views import ViewChanges, ViewEntry
from shared.logic.permissions import Principal, Role
from shared.logic.views import changes_for, entries_of, merge_page, project, read_view, shard_of, view_counts
from shared.models.config import HelpdeskConfig
from shared.models.ticket import Channel, Ticket
from tests.fakes.repository import MemoryRepository

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SHARDED = HelpdeskConfig.model_validate(
    {"teams": [{"id": "support"}], "agents": [{"id": "bob", "teams": ["support"]}], "views": {"shards": 8}}
)
BOB = Principal("bob", Role.AGENT, frozenset({"support"}))


def ticket(number: int, minutes: int = 0, **changes: object) -> Ticket:
    base = Ticket(
        id=f"tkt_{number:026d}",
        number=number,
        channel=Channel.EMAIL,
        subject=f"Ticket {number}",
        customer_id="cus_1",
        team="support",
        created_at=T0,
        updated_at=T0 + timedelta(minutes=minutes),
    )
    return base.model_copy(update=changes)


def test_a_change_that_moves_nothing_and_shows_nothing_new_writes_no_entry() -> None:
    # Given a ticket in its views
    store = MemoryRepository()
    first = ticket(1, 5)
    project(first.id, first, 1, store)
    # When a change moves only its version (an SLA mark, a routing note), Then no entry is written
    quiet = changes_for(first.id, first.model_copy(update={"version": 7}), 2, store.view_state(first.id))
    assert quiet.writes == []
    assert quiet.stale == []
    assert quiet.counts == {}
    # And a change of what a view shows (the priority is in every summary) writes every entry again
    louder = first.model_copy(update={"subject": "Printer on fire"})
    shown = changes_for(first.id, louder, 2, store.view_state(first.id))
    assert {e.partition for e in shown.writes} == {e.partition for e in entries_of(louder)}
    # And a new update time moves every entry: new keys written, the old ones deleted
    moved = changes_for(first.id, ticket(1, 9), 2, store.view_state(first.id))
    assert len(moved.writes) == len(moved.stale) == len(entries_of(first))


def test_a_ticket_is_in_one_shard_of_every_view_and_counts_sum_over_the_shards() -> None:
    store = MemoryRepository()
    tickets = [ticket(n, n) for n in range(1, 41)]
    for t in tickets:
        project(t.id, t, 1, store, shards=8)
    assert {e.partition.rsplit("#", 1)[1] for e in entries_of(tickets[0], 8)} == {
        str(shard_of(tickets[0].id, 8))
    }
    assert len({shard_of(t.id, 8) for t in tickets}) > 4  # spread, not all in one
    assert view_counts(BOB, SHARDED, "support", store, ["open", "recent"]) == {"open": 40, "recent": 40}
    page = read_view(BOB, SHARDED, "recent", "support", 15, None, store)
    assert [t["number"] for t in page.tickets] == list(range(40, 25, -1))
    assert page.count == 40


def _add(store: MemoryRepository, partition: str, sort: str, ticket_id: str) -> None:
    entry = ViewEntry(partition, sort, ticket_id, {"id": ticket_id})
    assert store.apply_view_changes(ViewChanges(ticket_id, 1, [entry], [], {}, None))


@settings(max_examples=60, deadline=None)
@given(
    shards=st.integers(1, 6),
    scopes=st.integers(1, 3),
    first=st.lists(st.integers(0, 40), min_size=0, max_size=40),
    later=st.lists(st.lists(st.integers(0, 40), max_size=4), max_size=12),
    limit=st.integers(1, 7),
    ascending=st.booleans(),
)
def test_pages_of_the_merged_shards_are_the_unsharded_views_pages_while_tickets_arrive(
    shards: int, scopes: int, first: list[int], later: list[list[int]], limit: int, ascending: bool
) -> None:
    # Given entries spread over every shard of some scopes (sort values may tie: the key breaks it)
    store = MemoryRepository()
    names = [f"VIEW#s{s}#open#{n}" for s in range(scopes) for n in range(shards)]
    model: set[str] = set()
    counter = iter(range(10_000))

    def add(sorts: list[int]) -> None:
        for value in sorts:
            ticket_id = f"tkt_{next(counter):05d}"
            partition = names[shard_of(ticket_id, len(names))]
            _add(store, partition, f"2026-03-02T09:{value:02d}", ticket_id)
            model.add(f"E#2026-03-02T09:{value:02d}#{ticket_id}")

    add(first)
    after: str | None = None
    shown: list[str] = []
    arrivals = iter(later)
    while True:
        # When a page is read, Then it is the unsharded view's next page after the position
        page, more = merge_page(names, limit, ascending, after, store)
        beyond = sorted(
            (k for k in model if after is None or (k > after if ascending else k < after)),
            reverse=not ascending,
        )
        assert [e.sk for e in page] == beyond[:limit]
        assert more == (len(beyond) > limit)
        shown += [e.sk for e in page]
        if not more:
            break
        after = page[-1].sk
        add(next(arrivals, []))  # tickets arrive between pages, before and after the position
    # And no entry is shown twice, and every entry there from the start is shown
    assert len(shown) == len(set(shown))
    assert {k for k in model if k.split("#")[2] < f"tkt_{len(first):05d}"} <= set(shown)
