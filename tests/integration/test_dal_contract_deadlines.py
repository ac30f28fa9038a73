"""The deadline and unrouted index contract (decision 117), on moto and on the in-memory fake:
keys written only when a deadline moves, shards paged with a cursor, legacy `gsi2` entries moved
to `gsi3`, and (moto) an index entry whose ticket already moved on is skipped, not acted on."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from shared import clock
from shared.dal.items import TicketItem
from shared.dal.repository import DynamoRepository
from shared.dal.tickets import UNROUTED_SHARDS, TicketUpdate, sla_shard
from shared.logic.sla_index import migrate_deadline_index
from shared.models.config import HelpdeskConfig
from simulator.template import REGION
from tests.fakes import MemoryRepository
from tests.fakes.deadlines import all_unrouted, due_in
from tests.integration.test_dal_contract import (  # noqa: F401 - _moto: the module's moto backend
    T0,
    TABLE,
    Repository,
    _fresh_table,
    _moto,
    create,
    ms,
    sla_write,
)


@pytest.fixture(params=["dynamo", "memory"])
def store(request: pytest.FixtureRequest) -> Iterator[Repository]:
    """As test_dal_contract's `repo`: each test on moto and on the fake."""
    clock.set_clock(lambda: T0)
    if request.param == "memory":
        yield MemoryRepository()
    else:
        _fresh_table(*request.getfixturevalue("_moto"))
        yield DynamoRepository(TABLE, REGION)
    clock.set_clock(None)


def keys(store: Repository, ticket_id: str) -> dict[str, Any]:
    """The ticket item's index attributes as stored."""
    if isinstance(store, MemoryRepository):
        item = store.table.get((f"TICKET#{ticket_id}", "TICKET")) or {}
    else:
        item = TicketItem.get(f"TICKET#{ticket_id}", "TICKET").attribute_values
    return {name: item.get(name) for name in ("gsi2pk", "gsi2sk", "gsi3pk", "gsi3sk")}


def make_legacy(store: Repository, ticket_id: str, pk: str, sk: str) -> None:
    """Index the ticket as before decision 117: `gsi2` keys only."""
    if isinstance(store, MemoryRepository):
        item = store.table.items[(f"TICKET#{ticket_id}", "TICKET")]
        item.update(gsi2pk=pk, gsi2sk=sk, gsi3pk=None, gsi3sk=None)
        return
    TicketItem(pk=f"TICKET#{ticket_id}", sk="TICKET").update(
        actions=[
            TicketItem.gsi2pk.set(pk),
            TicketItem.gsi2sk.set(sk),
            TicketItem.gsi3pk.remove(),
            TicketItem.gsi3sk.remove(),
        ]
    )


def test_a_deadline_that_did_not_move_leaves_the_index_keys_untouched(store: Repository) -> None:
    # Given a ticket indexed under its deadline at minute 10
    first = create(store, "t1")
    store.update_ticket(first, TicketUpdate(sla=sla_write("t1", T0 + timedelta(minutes=10))), [], T0)
    indexed = keys(store, "t1")
    assert indexed["gsi3pk"] == f"SLADUE#{sla_shard('t1', 4)}"

    # When its SLA changes but the write says the deadline did not move
    ticket = store.get_ticket("t1")
    assert ticket is not None
    unmoved = replace(sla_write("t1", T0 + timedelta(minutes=20)), moved=False)
    store.update_ticket(ticket, TicketUpdate(sla=unmoved), [], T0)

    # Then the SLA is written and the index keys are as they were
    stored = store.get_ticket("t1")
    assert stored is not None
    assert stored.sla == unmoved.sla
    assert keys(store, "t1") == indexed

    # And a moved deadline rewrites them
    store.update_ticket(stored, TicketUpdate(sla=sla_write("t1", T0 + timedelta(minutes=20))), [], T0)
    assert [t.id for t in due_in(store, sla_shard("t1", 4), T0 + timedelta(minutes=20))] == ["t1"]
    assert due_in(store, sla_shard("t1", 4), T0 + timedelta(minutes=19)) == []


def test_a_shard_is_paged_with_a_cursor_until_it_is_empty(store: Repository) -> None:
    ids = [f"t{i}" for i in range(5)]
    for i, ticket_id in enumerate(ids):
        ticket = create(store, ticket_id)
        deadline = T0 + timedelta(minutes=i)
        store.update_ticket(ticket, TicketUpdate(sla=sla_write(ticket_id, deadline, shards=1)), [], T0)
    now = T0 + timedelta(minutes=10)

    pages, after = [], None
    while True:
        page = store.due_tickets(0, now, 2, after)
        pages.append([t.id for t in page.tickets])
        if page.cursor is None:
            break
        after = page.cursor

    assert pages == [["t0", "t1"], ["t2", "t3"], ["t4"]]
    assert store.due_tickets(0, now, 2, after).entries == 1  # the cursor of the last full page


def test_unrouted_tickets_spread_over_the_unrouted_shards(store: Repository) -> None:
    ids = [f"u{i}" for i in range(6)]
    for ticket_id in ids:
        create(store, ticket_id)
    shards = {sla_shard(t, UNROUTED_SHARDS) for t in ids}

    found = {s: [t.id for t in store.unrouted_tickets(s, T0 + timedelta(minutes=1)).tickets] for s in shards}

    assert sorted(t for ts in found.values() for t in ts) == ids
    assert all(sla_shard(t, UNROUTED_SHARDS) == s for s, ts in found.items() for t in ts)


def test_legacy_entries_move_to_their_sharded_keys(store: Repository) -> None:
    # Given a ticket due in the legacy SLADUE#1 and one in the legacy UNROUTED partition
    due_at = ms(T0 + timedelta(minutes=5))
    create(store, "t1", team="support")
    create(store, "t2")
    make_legacy(
        store, "t1", "SLADUE#1", f"{due_at.isoformat(timespec='milliseconds').replace('+00:00', 'Z')}#t1"
    )
    make_legacy(store, "t2", "UNROUTED", f"{keys(store, 't2')['gsi3sk']}")
    config = HelpdeskConfig()
    shard = sla_shard("t1", config.sla.sweep_shards)
    assert due_in(store, shard, T0 + timedelta(hours=1)) == []
    assert all_unrouted(store, T0 + timedelta(hours=1)) == []

    # When the migration has counted, then moved them
    dry = migrate_deadline_index(store, config, dry_run=True)
    assert sum(dry.moved.values()) == 2
    assert all_unrouted(store, T0 + timedelta(hours=1)) == []
    done = migrate_deadline_index(store, config)

    # Then they are in gsi3 at their shards, out of gsi2, and a second run has nothing to do
    assert (done.moved["gsi2 SLADUE#1"], done.moved["gsi2 UNROUTED"]) == (1, 1)
    assert [t.id for t in due_in(store, shard, T0 + timedelta(hours=1))] == ["t1"]
    assert [t.id for t in all_unrouted(store, T0 + timedelta(hours=1))] == ["t2"]
    assert keys(store, "t1")["gsi2pk"] is None
    assert sum(migrate_deadline_index(store, config).moved.values()) == 0


def test_a_changed_shard_count_moves_entries_to_their_new_shard(store: Repository) -> None:
    ids = [f"t{i}" for i in range(6)]
    for ticket_id in ids:
        ticket = create(store, ticket_id)
        store.update_ticket(ticket, TicketUpdate(sla=sla_write(ticket_id, T0, shards=2)), [], T0)

    report = migrate_deadline_index(
        store, HelpdeskConfig.model_validate({"sla": {"sweep_shards": 3}}), previous_shards=2
    )

    assert sum(report.moved.values()) == sum(1 for t in ids if sla_shard(t, 3) != sla_shard(t, 2))
    found = sorted(t.id for s in range(3) for t in due_in(store, s, T0 + timedelta(minutes=1)))
    assert found == ids
    assert all(keys(store, t)["gsi3pk"] == f"SLADUE#{sla_shard(t, 3)}" for t in ids)


def test_an_index_entry_whose_ticket_moved_on_is_counted_stale_not_returned(
    store: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not isinstance(store, DynamoRepository):
        pytest.skip("the fake's index never lags its table")
    # Given two due tickets, and an index that still shows t2 at minute 1 though it moved to a day on
    for ticket_id in ("t1", "t2"):
        ticket = create(store, ticket_id)
        store.update_ticket(
            ticket, TicketUpdate(sla=sla_write(ticket_id, T0 + timedelta(minutes=1), 1)), [], T0
        )
    lagging = [TicketItem.deadlines.query("SLADUE#0")]
    stored = store.get_ticket("t2")
    assert stored is not None
    store.update_ticket(stored, TicketUpdate(sla=sla_write("t2", T0 + timedelta(days=1), 1)), [], T0)
    old_entries = list(lagging[0])
    monkeypatch.setattr(TicketItem.deadlines, "query", lambda *a, **k: iter(old_entries))

    # When the shard is read at minute 2
    page = store.due_tickets(0, T0 + timedelta(minutes=2))

    # Then only t1 comes back; t2's stale entry is counted
    assert ([t.id for t in page.tickets], page.entries, page.stale) == (["t1"], 2, 1)
