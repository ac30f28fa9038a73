"""The data layer's contract for the search index: the same tests on DynamoDB (moto) and on the
in-memory fakes."""

from __future__ import annotations

from shared.dal.search import SearchChanges, SearchState, search_partition
from tests.integration.test_dal_contract import Repository, _moto, create, repo

__all__ = ["_moto", "repo"]  # the fixtures, shared with test_dal_contract

SORT = "2026-03-02T09:00:00.000Z"


def state(scope: str | None, *terms: str, version: int = 1, seq: int = 1) -> SearchState:
    return SearchState(seq, scope, SORT, terms, version)


def test_a_change_writes_its_entries_and_state_once_and_a_stale_one_writes_no_state(repo: Repository) -> None:
    first = state("support", "printer", "fire")
    assert repo.apply_search_changes(SearchChanges("t1", None, first))
    assert repo.search_state("t1") == first
    # the same change again (a redelivery after the state was stored) is refused
    assert not repo.apply_search_changes(SearchChanges("t1", None, first))

    moved = state("billing", "printer", "fire", "toner", version=2, seq=2)
    changes = SearchChanges("t1", first, moved)
    assert changes.deletes == [
        (search_partition("support", "fir*"), f"E#{SORT}#t1"),
        (search_partition("support", "fire"), f"E#{SORT}#t1"),
        (search_partition("support", "pri*"), f"E#{SORT}#t1"),
        (search_partition("support", "print*"), f"E#{SORT}#t1"),
        (search_partition("support", "printer"), f"E#{SORT}#t1"),
    ]
    assert repo.apply_search_changes(changes)
    assert not repo.apply_search_changes(changes)  # the version it read is gone
    assert repo.search_slice(search_partition("support", "printer"), 5).hits == []
    [hit] = repo.search_slice(search_partition("billing", "toner"), 5).hits
    assert (hit.ticket_id, hit.sk) == ("t1", f"E#{SORT}#t1")
    assert repo.search_states(["t1", "t2"]) == {"t1": moved}


def test_a_change_over_a_hundred_items_is_written_whole(repo: Repository) -> None:
    terms = [f"word{i:03d}" for i in range(120)]
    first = state("support", *terms)
    assert repo.apply_search_changes(SearchChanges("t1", None, first))
    moved = state("-", *terms, version=2, seq=2)
    assert repo.apply_search_changes(SearchChanges("t1", first, moved))
    assert repo.search_slice(search_partition("support", "word000"), 5).hits == []
    assert len(repo.search_slice(search_partition("-", "word119"), 5).hits) == 1
    assert repo.search_state("t1") == moved


def test_a_slice_is_newest_first_a_page_at_a_time(repo: Repository) -> None:
    for n in range(5):
        s = SearchState(1, "support", f"2026-03-02T09:0{n}:00.000Z", ("printer",), 1)
        repo.apply_search_changes(SearchChanges(f"t{n}", None, s))
    part = search_partition("support", "printer")
    first = repo.search_slice(part, 2)
    assert [h.ticket_id for h in first.hits] == ["t4", "t3"]
    assert first.last == first.hits[-1].sk
    rest = repo.search_slice(part, 3, first.last)
    assert ([h.ticket_id for h in rest.hits], rest.last) == (["t2", "t1", "t0"], None)


def test_the_tickets_of_a_page_are_read_together_and_missing_ones_left_out(repo: Repository) -> None:
    create(repo, "t1")
    tickets = repo.search_tickets(["t1", "nope"])
    assert list(tickets) == ["t1"]
    assert tickets["t1"].id == "t1"
