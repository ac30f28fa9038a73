"""Search: terms of a text, the index kept from ticket and message records however often and in
whatever order they come, and pages of the caller's scopes, on the in-memory table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.dal.search import MAX_TRANSACTION, SearchSlice, SearchState
from shared.dal.tickets import ticket_to_item
from shared.logic.cursors import InvalidCursorError
from shared.logic.permissions import ForbiddenActionError, Principal, Role
from shared.logic.search import (
    MAX_TERMS,
    InvalidSearchError,
    message_terms,
    project_message,
    project_ticket,
    search_tickets,
    terms_of,
)
from shared.models.config import HelpdeskConfig
from shared.models.ticket import Channel, Direction, Message, Ticket
from tests.fakes.repository import MemoryRepository
from tests.fakes.table import stored

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CONFIG = HelpdeskConfig.model_validate(
    {
        "teams": [{"id": "support"}, {"id": "billing"}],
        "agents": [{"id": "alice", "teams": ["support", "billing"]}, {"id": "bob", "teams": ["support"]}],
    }
)
ALICE = Principal("alice", Role.AGENT, frozenset({"support", "billing"}))
BOB = Principal("bob", Role.AGENT, frozenset({"support"}))


def ticket(number: int, subject: str = "", **changes: object) -> Ticket:
    base = Ticket(
        id=f"tkt_{number:026d}",
        number=number,
        channel=Channel.EMAIL,
        subject=subject or f"Ticket {number}",
        customer_id="cus_1",
        team="support",
        created_at=T0 + timedelta(minutes=number),
        updated_at=T0 + timedelta(minutes=number),
    )
    return base.model_copy(update=changes)


def message(t: Ticket, text: str, n: int = 1, **changes: object) -> Message:
    base = Message(
        id=f"msg_{t.number}_{n}",
        ticket_id=t.id,
        direction=Direction.INBOUND,
        channel=Channel.EMAIL,
        at=T0,
        author="max@example.com",
        text=text,
    )
    return base.model_copy(update=changes)


def entries(store: MemoryRepository) -> set[tuple[str, str]]:
    return {
        (pk, item["ticket_id"]) for (pk, _), item in store.table.items.items() if pk.startswith("SEARCH#")
    }


def found(store: MemoryRepository, q: str, caller: Principal = BOB, team: str | None = None) -> list[int]:
    page = search_tickets(caller, CONFIG, q, team, 10, None, store)
    return [t["number"] for t in page.tickets]


def test_terms_are_folded_split_and_kept_once_in_order_without_stop_words_or_single_letters() -> None:
    assert terms_of(["Le Café's PRINTER is on fire!", "printer x ＦＯＯ Ünïcödé 42 naïve_mode"]) == [
        "le",
        "cafe",
        "printer",
        "fire",
        "foo",
        "unicode",
        "42",
        "naive",
        "mode",
    ]
    assert terms_of(["a " + "x" * 41 + " ok \ud800 ok"]) == ["ok"]
    assert len(terms_of([" ".join(f"w{i}" for i in range(500))])) == MAX_TERMS


def test_automatic_messages_give_no_terms() -> None:
    t = ticket(1)
    assert message_terms(message(t, "We received your request", automatic=True)) == []


def test_a_ticket_is_found_by_its_subject_and_its_messages_words_in_its_teams_scope() -> None:
    store = MemoryRepository()
    t = ticket(1, "Printer on fire")
    _save(store, t)
    project_message(message(t, "The toner smells of café"), store)  # before the ticket's record
    project_ticket(t.id, t, 1, store)

    assert found(store, "printer") == found(store, "CAFE toner") == [1]
    assert found(store, "printer nothing") == []
    assert entries(store) >= {("SEARCH#support#printer", t.id), ("SEARCH#support#cafe", t.id)}


def _save(store: MemoryRepository, t: Ticket) -> None:
    store.table.items[(f"TICKET#{t.id}", "TICKET")] = stored(ticket_to_item(t))


def test_a_team_change_moves_every_entry_and_another_teams_ticket_is_never_found() -> None:
    store = MemoryRepository()
    t = ticket(1, "Wrong invoice")
    _save(store, t)
    project_ticket(t.id, t, 1, store)
    moved = t.model_copy(update={"team": "billing"})
    _save(store, moved)
    project_ticket(t.id, moved, 2, store)

    words = {"SEARCH#billing#wrong", "SEARCH#billing#invoice"}
    prefixes = {
        "SEARCH#billing#wro*",
        "SEARCH#billing#wrong*",
        "SEARCH#billing#inv*",
        "SEARCH#billing#invoi*",
    }
    assert entries(store) == {(p, t.id) for p in words | prefixes}
    assert found(store, "invoice", BOB) == []
    assert found(store, "invoice", ALICE) == [1]
    with pytest.raises(ForbiddenActionError):
        found(store, "invoice", BOB, team="billing")


def test_an_entry_a_moment_behind_its_ticket_finds_it_only_where_it_is_now() -> None:
    store = MemoryRepository()
    t = ticket(1, "Wrong invoice")
    project_ticket(t.id, t, 1, store)
    _save(store, t.model_copy(update={"team": "billing"}))  # the stream has not caught up yet
    assert found(store, "invoice", BOB) == []


def test_a_gone_ticket_leaves_the_index_and_an_older_record_changes_nothing() -> None:
    store = MemoryRepository()
    t = ticket(1, "Printer")
    project_ticket(t.id, t, 1, store)
    project_ticket(t.id, None, 3, store)
    assert project_ticket(t.id, t, 2, store) is None
    assert entries(store) == set()


def test_a_ticket_with_many_terms_moves_in_transactions_of_at_most_a_hundred() -> None:
    store = MemoryRepository()
    t = ticket(1, " ".join(f"word{i}" for i in range(150)))
    project_ticket(t.id, t, 1, store)
    changes = project_ticket(t.id, t.model_copy(update={"team": None}), 2, store)
    assert changes is not None
    assert len(changes.puts) + len(changes.deletes) > MAX_TRANSACTION
    assert {pk.split("#")[1] for pk, _ in entries(store)} == {"-"}
    # 150 words, and their prefixes: wor*, and word0* to word9*
    assert len([pk for pk, _ in entries(store) if not pk.endswith("*")]) == 150
    assert len([pk for pk, _ in entries(store) if pk.endswith("*")]) == 11


def fill(store: MemoryRepository) -> None:
    for number, team in [(1, "support"), (2, "billing"), (3, None), (4, "support"), (5, "support")]:
        t = ticket(number, "printer jam", team=team)
        _save(store, t)
        project_ticket(t.id, t, number, store)


def test_a_search_pages_over_the_callers_scopes_newest_first() -> None:
    store = MemoryRepository()
    fill(store)
    seen: list[int] = []
    cursor = None
    for _ in range(5):
        page = search_tickets(ALICE, CONFIG, "printer", None, 2, cursor, store)
        seen += [t["number"] for t in page.tickets]
        cursor = page.cursor
        if cursor is None:
            break
    assert seen == [5, 4, 3, 2, 1]
    assert found(store, "printer", BOB) == [5, 4, 3, 1]
    assert found(store, "printer", ALICE, team="-") == [3]


def test_a_search_refuses_no_words_and_a_cursor_it_did_not_hand_out() -> None:
    store = MemoryRepository()
    with pytest.raises(InvalidSearchError):
        found(store, "the a ! é")
    with pytest.raises(InvalidCursorError):
        search_tickets(BOB, CONFIG, "printer", None, 2, "bm90IGEgY3Vyc29y", store)


texts = st.lists(st.sampled_from(["printer", "fire", "toner", "invoice", "refund"]), max_size=3).map(" ".join)
records = st.one_of(
    st.tuples(st.just("ticket"), st.sampled_from(["support", "billing", None]), texts),
    st.tuples(st.just("message"), st.integers(1, 4), texts),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(records, min_size=1, max_size=10), st.randoms(use_true_random=False))
def test_the_index_holds_the_current_scope_and_every_word_however_records_come(steps, random) -> None:  # type: ignore[no-untyped-def]
    # Given the records of one ticket (seq = position), delivered in any order, some twice
    store = MemoryRepository()
    base = ticket(1)
    delivered = list(enumerate(steps, start=1))
    shuffled = delivered + random.sample(delivered, k=len(delivered) // 2)
    random.shuffle(shuffled)
    for seq, step in shuffled:
        if step[0] == "ticket":
            project_ticket(
                base.id, base.model_copy(update={"team": step[1], "subject": step[2] or None}), seq, store
            )
        else:
            project_message(message(base, step[2], step[1]), store)

    tickets = [(seq, s) for seq, s in delivered if s[0] == "ticket"]
    words = {w for _, s in delivered if s[0] == "message" for w in s[2].split()}
    if not tickets:
        assert entries(store) == set()
        return
    _, (_, team, subject) = tickets[-1]
    scope = team or "-"
    terms = {pk.removeprefix(f"SEARCH#{scope}#") for pk, _ in entries(store) if not pk.endswith("*")}
    prefixes = {pk.removeprefix(f"SEARCH#{scope}#") for pk, _ in entries(store) if pk.endswith("*")}
    subjects = {w for _, s in tickets for w in s[2].split()} | {"ticket"}
    # Then every entry is in the newest record's scope, holds the words of every message and of the
    # newest subject, and no word the ticket never had
    assert {pk.split("#")[1] for pk, _ in entries(store)} <= {scope}
    assert words | set(subject.split()) <= terms <= words | subjects
    assert prefixes == {f"{t[:n]}*" for t in terms for n in (3, 5) if len(t) >= n}


class CountingRepository(MemoryRepository):
    """The in-memory table, recording each read a search makes and how many items it asks for."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[tuple[str, int]] = []

    def search_slice(self, partition: str, limit: int, after: str | None = None) -> SearchSlice:
        self.reads.append(("slice", limit))
        return super().search_slice(partition, limit, after)

    def search_tickets(self, ticket_ids: Sequence[str]) -> dict[str, Ticket]:
        self.reads.append(("tickets", len(ticket_ids)))
        return super().search_tickets(ticket_ids)

    def search_states(self, ticket_ids: Sequence[str]) -> dict[str, SearchState]:
        self.reads.append(("states", len(ticket_ids)))
        return super().search_states(ticket_ids)


def test_a_page_reads_one_slice_per_scope_and_one_batch_of_tickets_and_of_states() -> None:
    store = CountingRepository()
    for number in range(1, 41):
        subject = "printer jam" if number % 2 else "printer"
        t = ticket(number, subject, team=[None, "support", "billing"][number % 3])
        _save(store, t)
        project_ticket(t.id, t, number, store)

    page = search_tickets(ALICE, CONFIG, "jam printer", None, 5, None, store)

    # the three scopes (support, billing, -): one slice of 5 each, then 5 tickets and 5 states
    assert sorted(store.reads) == [("slice", 5)] * 3 + [("states", 5), ("tickets", 5)]
    assert all(t["number"] % 2 for t in page.tickets)
    assert page.cursor is not None


@settings(max_examples=40, deadline=None)
@given(st.lists(records, min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_a_gone_ticket_leaves_no_entry_whatever_records_come_after(steps, random) -> None:  # type: ignore[no-untyped-def]
    # Given the records of a ticket whose last record is its removal, delivered in any order
    store = MemoryRepository()
    base = ticket(1)
    delivered = [*enumerate(steps, start=1), (len(steps) + 1, ("gone", None, ""))]
    random.shuffle(delivered)
    for seq, step in delivered:
        if step[0] == "message":
            project_message(message(base, step[2], step[1]), store)
        else:
            after = None if step[0] == "gone" else base.model_copy(update={"team": step[1]})
            project_ticket(base.id, after, seq, store)

    assert entries(store) == set()
