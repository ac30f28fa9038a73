"""The pure parts of the rebuild and of prefix search: which words a query looks for, and what a
rebuild makes of a ticket on the in-memory fakes."""

from __future__ import annotations

from shared.logic.rebuild import RebuildOptions, rebuild_indexes
from shared.logic.search import Query, holds, parse_query, project_ticket
from shared.logic.views import project, shard_of
from tests.fakes import MemoryRepository
from tests.unit.test_search import _save, ticket


def test_the_last_word_is_a_prefix_while_it_is_being_typed() -> None:
    assert parse_query("refun") == Query([], "refun")
    assert parse_query("printer jam") == Query(["printer"], "jam")
    # a space after it, a word too short or a stop word last: whole words only
    assert parse_query("refun ") == Query(["refun"], None)
    assert parse_query("printer ja") == Query(["printer", "ja"], None)
    assert parse_query("printer the") == Query(["printer"], None)


def test_a_ticket_holds_a_query_with_every_word_whole_and_one_starting_with_the_prefix() -> None:
    query = parse_query("printer refu")
    assert holds(query, ["printer", "refunded"])
    assert not holds(query, ["printers", "refunded"])
    assert not holds(query, ["printer", "fund"])


def _indexed(key: tuple[str, str]) -> bool:
    return key[0].startswith(("VIEW#", "SEARCH#")) or key[1] in ("VIEWS", "SEARCH")


def _content(item: dict[str, object]) -> dict[str, object]:
    """An item without its state's bookkeeping (the record it is as of, its version)."""
    return {k: v for k, v in item.items() if k not in ("seq", "version")}


def test_a_rebuild_restores_what_the_stream_made_and_then_finds_nothing_to_do() -> None:
    # Given two tickets the stream projected, and a table without their index (entries, counts, states)
    live = MemoryRepository()
    for number in (1, 2):
        t = ticket(number, "Refund for my order", team="support")
        _save(live, t)
        live.table.items[("PTR#number#" + str(number), "PTR")] = {
            "pk": f"PTR#number#{number}",
            "sk": "PTR",
            "kind": "number",
            "ticket_id": t.id,
        }
        project(t.id, t, number, live)
        project_ticket(t.id, t, number, live)
    live.table.items[("COUNTER#tickets", "COUNTER")] = {"pk": "COUNTER#tickets", "sk": "COUNTER", "value": 3}
    index = {k: v for k, v in live.table.items.items() if _indexed(k)}
    for key in index:
        del live.table.items[key]

    # When the index is rebuilt (number 3 has no ticket)
    report = rebuild_indexes(live, RebuildOptions())

    # Then its entries are back, and a second run finds nothing to do
    rebuilt = {k: v for k, v in live.table.items.items() if _indexed(k)}
    assert rebuilt.keys() == index.keys()
    assert all(_content(rebuilt[k]) == _content(index[k]) for k in index)
    assert (report.tickets, report.no_ticket) == (2, [3])
    again = rebuild_indexes(live, RebuildOptions(dry_run=True))
    assert dict(again.outcomes) == {("views", "in_sync"): 2, ("search", "in_sync"): 2}


def test_a_rebuild_with_another_shard_count_moves_every_entry_and_count_into_it() -> None:
    # Given a ticket the stream laid out in one shard
    live = MemoryRepository()
    t = ticket(1, "Refund for my order", team="support")
    _save(live, t)
    live.table.items[("PTR#number#1", "PTR")] = {
        "pk": "PTR#number#1",
        "sk": "PTR",
        "kind": "number",
        "ticket_id": t.id,
    }
    live.table.items[("COUNTER#tickets", "COUNTER")] = {"pk": "COUNTER#tickets", "sk": "COUNTER", "value": 1}
    project(t.id, t, 1, live)
    one = {k[0] for k in live.table.items if k[0].startswith("VIEW#") and k[1] != "COUNT"}
    assert one
    assert all(p.endswith("#0") for p in one)

    # When the views are rebuilt in 8 shards
    report = rebuild_indexes(live, RebuildOptions(indexes=["views"], view_shards=8))

    # Then the entries are in the ticket's shard of each view, none in the old layout, counts moved
    shard = shard_of(t.id, 8)
    eight = {k[0] for k in live.table.items if k[0].startswith("VIEW#") and k[1] != "COUNT"}
    assert eight == {p.removesuffix("#0") + f"#{shard}" for p in one}
    counts = {k[0]: v["total"] for k, v in live.table.items.items() if k[1] == "COUNT"}
    assert {p for p, n in counts.items() if n} == eight
    assert set(counts.values()) <= {0, 1}
    assert dict(report.outcomes) == {("views", "repaired"): 1}
    # And the stream's next record, in the same layout, finds it in place
    assert rebuild_indexes(live, RebuildOptions(indexes=["views"], view_shards=8, dry_run=True)).outcomes == {
        ("views", "in_sync"): 1
    }
