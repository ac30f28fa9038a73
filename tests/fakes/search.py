"""SearchIndex in memory: search entries and each ticket's search state, changed in one transaction."""

from __future__ import annotations

from collections.abc import Sequence

from shared.dal.base import ticket_pk
from shared.dal.items import SearchEntryItem, SearchStateItem, TicketItem
from shared.dal.search import (
    ENTRY_PREFIX,
    MAX_TRANSACTION,
    Key,
    SearchChanges,
    SearchSlice,
    SearchState,
    hit_from_key,
    state_from_item,
    state_item,
)
from shared.dal.tickets import ticket_from_item
from shared.models.ticket import Ticket
from tests.fakes.table import Change, Item, MemoryStore, as_model, delete_op, put_op


class MemorySearch(MemoryStore):
    """SearchIndex on the in-memory table."""

    def search_state(self, ticket_id: str) -> SearchState | None:
        item = self.table.get((ticket_pk(ticket_id), "SEARCH"))
        return state_from_item(as_model(SearchStateItem, item)) if item is not None else None

    def search_states(self, ticket_ids: Sequence[str]) -> dict[str, SearchState]:
        states = {t: self.search_state(t) for t in ticket_ids}
        return {t: s for t, s in states.items() if s is not None}

    def search_entries_stored(self, keys: Sequence[Key]) -> frozenset[Key]:
        return frozenset(key for key in keys if self.table.get(key) is not None)

    def apply_search_changes(self, changes: SearchChanges) -> bool:
        writes: list[Change] = [delete_op(key) for key in changes.deletes]
        writes += [
            put_op(SearchEntryItem(pk=p, sk=sk, ticket_id=changes.ticket_id)) for p, sk in changes.puts
        ]
        expected = changes.before.version if changes.before is not None else None

        def unchanged(current: Item | None) -> bool:
            return (
                (current is None)
                if expected is None
                else (current is not None and int(current["version"]) == expected)
            )

        state = put_op(state_item(changes.ticket_id, changes.after), "state", unchanged)
        if len(writes) + 1 > MAX_TRANSACTION:
            for start in range(0, len(writes), MAX_TRANSACTION):
                self.table.transact(writes[start : start + MAX_TRANSACTION])
            writes = []
        return not self.table.transact([*writes, state])

    def search_slice(self, partition: str, limit: int, after: str | None = None) -> SearchSlice:
        items = self.table.partition(partition, ENTRY_PREFIX)
        items.reverse()
        if after is not None:
            items = [i for i in items if str(i["sk"]) < after]
        page = items[:limit]
        hits = [hit_from_key(partition, str(i["sk"])) for i in page]
        return SearchSlice(hits, str(page[-1]["sk"]) if len(items) > limit else None)

    def search_tickets(self, ticket_ids: Sequence[str]) -> dict[str, Ticket]:
        tickets: dict[str, Ticket] = {}
        for ticket_id in ticket_ids:
            item = self.table.get((ticket_pk(ticket_id), "TICKET"))
            if item is not None:
                tickets[ticket_id] = ticket_from_item(as_model(TicketItem, item))
        return tickets
