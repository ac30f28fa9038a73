"""The search index: a ticket is an entry under each of its terms (`SEARCH#<scope>#<term>` /
`E#<created at>#<ticket id>`), in the partition of its team's scope, newest ticket first, and under
the first 3 and first 5 letters of each term (`SEARCH#<scope>#<prefix>*`, once per prefix however
many of its terms share it), so a word being typed is found without a Scan.

Which terms a ticket has is the logic's (shared/logic/search.py); this module stores them so that
stream records applied twice, or in another order, never leave an entry behind or write one twice:

- each ticket has a search state (`TICKET#<id>` / `SEARCH`): its terms, the scope and sort key its
  entries are under, the sequence number of the ticket's stream record that set the scope, and a
  version;
- a change is one transaction: puts of the entries the new state has and the old one had not,
  deletes of those it had and has no longer, and the new state, conditional on the version read. A
  change over 100 items (a team change of a ticket with many terms) writes its entries first in
  transactions of 100 (writing or deleting an entry again changes nothing), then the state. No
  BatchWriteItem (tests/unit/test_template_security.py).

Entries hold keys only: a search reads the tickets it finds (one BatchGetItem), so a ticket's
change that keeps its terms and team writes nothing here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from shared.dal.base import Table, cancellation_codes, partition_page, raise_if_permanent, ticket_pk
from shared.dal.items import MAX_BATCH_GET, SearchEntryItem, SearchStateItem, TicketItem
from shared.dal.tickets import ticket_from_item
from shared.models.ticket import Ticket

ENTRY_PREFIX = "E#"
MAX_TRANSACTION = 100
"""Most items DynamoDB takes in one TransactWriteItems."""

Key = tuple[str, str]


PREFIX_LENGTHS = (3, 5)
"""The lengths of the prefixes a term is indexed under (a term is never shorter than 2 letters)."""


def search_partition(scope: str, term: str) -> str:
    return f"SEARCH#{scope}#{term}"


def prefix_partition(scope: str, prefix: str) -> str:
    """The partition of the tickets with a term starting with `prefix` (one of PREFIX_LENGTHS long;
    `*` is never part of a term)."""
    return f"SEARCH#{scope}#{prefix}*"


def prefixes_of(terms: Sequence[str]) -> set[str]:
    return {term[:n] for term in terms for n in PREFIX_LENGTHS if len(term) >= n}


@dataclass(frozen=True)
class SearchState:
    seq: int
    """The ticket's stream record (sequence number) the scope is as of (0: none seen yet)."""
    scope: str | None
    """The scope its entries are under (None: not placed: no ticket record yet, or the ticket is gone)."""
    sort: str | None
    """What its entries sort on (the ticket's creation time), before the ticket id in their key."""
    terms: tuple[str, ...]
    version: int

    def entries(self, ticket_id: str) -> set[Key]:
        """The (partition, sort key) of every entry the state stands for."""
        if self.scope is None or self.sort is None:
            return set()
        sk = f"{ENTRY_PREFIX}{self.sort}#{ticket_id}"
        words = {(search_partition(self.scope, term), sk) for term in self.terms}
        return words | {(prefix_partition(self.scope, p), sk) for p in prefixes_of(self.terms)}


@dataclass(frozen=True)
class SearchChanges:
    """A ticket's new search state, against the one it had."""

    ticket_id: str
    before: SearchState | None
    after: SearchState
    stored: frozenset[Key] | None = None
    """The new state's entries known to be stored (a rebuild read them); None: those of `before`."""

    @property
    def puts(self) -> list[Key]:
        if self.stored is not None:
            return sorted(self.after.entries(self.ticket_id) - self.stored)
        old = self.before.entries(self.ticket_id) if self.before is not None else set()
        return sorted(self.after.entries(self.ticket_id) - old)

    @property
    def deletes(self) -> list[Key]:
        old = self.before.entries(self.ticket_id) if self.before is not None else set()
        return sorted(old - self.after.entries(self.ticket_id))


@dataclass(frozen=True)
class SearchHit:
    partition: str
    sk: str
    ticket_id: str


@dataclass(frozen=True)
class SearchSlice:
    hits: list[SearchHit]
    last: str | None
    """The last hit's key when more follow in the partition (where the next slice starts)."""


class SearchIndex(Protocol):
    def search_state(self, ticket_id: str) -> SearchState | None: ...

    def search_states(self, ticket_ids: Sequence[str]) -> dict[str, SearchState]: ...

    def apply_search_changes(self, changes: SearchChanges) -> bool:
        """False when the state changed since it was read (nothing but idempotent entries written)."""
        ...

    def search_entries_stored(self, keys: Sequence[Key]) -> frozenset[Key]:
        """Those of the (partition, sort key) that are stored (strongly consistent)."""
        ...

    def search_slice(self, partition: str, limit: int, after: str | None = None) -> SearchSlice:
        page, last = partition_page(SearchEntryItem, partition, ENTRY_PREFIX, limit, False, after)
        return SearchSlice([hit_from_key(partition, str(i.sk)) for i in page], last)

    def search_tickets(self, ticket_ids: Sequence[str]) -> dict[str, Ticket]:
        """The tickets of those ids that exist."""
        ...


def state_item(ticket_id: str, state: SearchState) -> SearchStateItem:
    return SearchStateItem(
        pk=ticket_pk(ticket_id),
        sk="SEARCH",
        seq=state.seq,
        scope=state.scope,
        sort=state.sort,
        terms=list(state.terms),
        version=state.version,
    )


def state_from_item(item: SearchStateItem) -> SearchState:
    return SearchState(
        seq=int(item.seq or 0),
        scope=item.scope,
        sort=item.sort,
        terms=tuple(str(t) for t in item.terms or []),
        version=int(item.version),
    )


def hit_from_key(partition: str, sk: str) -> SearchHit:
    return SearchHit(partition, sk, sk.rsplit("#", 1)[-1])


class DynamoSearch(Table):
    """SearchIndex on the table."""

    def search_state(self, ticket_id: str) -> SearchState | None:
        try:
            return state_from_item(SearchStateItem.get(ticket_pk(ticket_id), "SEARCH", consistent_read=True))
        except DoesNotExist:
            return None

    def search_states(self, ticket_ids: Sequence[str]) -> dict[str, SearchState]:
        unique = list(dict.fromkeys(ticket_ids))
        states: dict[str, SearchState] = {}
        for start in range(0, len(unique), MAX_BATCH_GET):
            keys = [(ticket_pk(t), "SEARCH") for t in unique[start : start + MAX_BATCH_GET]]
            for item in SearchStateItem.batch_get(keys):
                states[str(item.pk).removeprefix("TICKET#")] = state_from_item(item)
        return states

    def search_entries_stored(self, keys: Sequence[Key]) -> frozenset[Key]:
        unique = list(dict.fromkeys(keys))
        found: set[Key] = set()
        for start in range(0, len(unique), MAX_BATCH_GET):
            chunk = unique[start : start + MAX_BATCH_GET]
            found |= {(str(i.pk), str(i.sk)) for i in SearchEntryItem.batch_get(chunk, consistent_read=True)}
        return frozenset(found)

    def apply_search_changes(self, changes: SearchChanges) -> bool:
        writes: list[tuple[str, SearchEntryItem]] = [
            ("delete", SearchEntryItem(pk=p, sk=sk)) for p, sk in changes.deletes
        ]
        writes += [
            ("save", SearchEntryItem(pk=p, sk=sk, ticket_id=changes.ticket_id)) for p, sk in changes.puts
        ]
        if len(writes) + 1 > MAX_TRANSACTION:  # entries first, then the state
            for start in range(0, len(writes), MAX_TRANSACTION):
                self._transact_search(writes[start : start + MAX_TRANSACTION], None)
            writes = []
        before = changes.before
        unchanged = (
            SearchStateItem.version.does_not_exist()
            if before is None
            else SearchStateItem.version == before.version
        )
        return self._transact_search(writes, (state_item(changes.ticket_id, changes.after), unchanged))

    def _transact_search(
        self, writes: list[tuple[str, SearchEntryItem]], state: tuple[SearchStateItem, Any] | None
    ) -> bool:
        try:
            with TransactWrite(connection=self.connection) as transaction:
                for kind, entry in writes:
                    if kind == "delete":
                        transaction.delete(entry)
                    else:
                        transaction.save(entry)
                if state is not None:
                    transaction.save(state[0], condition=state[1])
        except TransactWriteError as exc:
            raise_if_permanent(exc)
            if "ConditionalCheckFailed" not in cancellation_codes(exc):
                raise
            return False  # the state changed since it was read
        return True

    def search_slice(self, partition: str, limit: int, after: str | None = None) -> SearchSlice:
        start = {"pk": {"S": partition}, "sk": {"S": after}} if after is not None else None
        items = list(
            SearchEntryItem.query(
                partition,
                SearchEntryItem.sk.startswith(ENTRY_PREFIX),
                scan_index_forward=False,
                last_evaluated_key=start,
                limit=limit + 1,
                page_size=limit + 1,
            )
        )
        page = items[:limit]
        hits = [hit_from_key(partition, str(i.sk)) for i in page]
        return SearchSlice(hits, str(page[-1].sk) if len(items) > limit else None)

    def search_tickets(self, ticket_ids: Sequence[str]) -> dict[str, Ticket]:
        unique = list(dict.fromkeys(ticket_ids))
        tickets: dict[str, Ticket] = {}
        for start in range(0, len(unique), MAX_BATCH_GET):
            keys = [(ticket_pk(t), "TICKET") for t in unique[start : start + MAX_BATCH_GET]]
            for item in TicketItem.batch_get(keys):
                ticket = ticket_from_item(item)
                tickets[ticket.id] = ticket
        return tickets
