"""ViewIndex in memory: view entries, each ticket's view state, and counts changed with the state."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from shared.dal.base import ticket_pk
from shared.dal.items import ViewEntryItem, ViewStateItem
from shared.dal.views import (
    ENTRY_PREFIX,
    MAX_TRANSACTION,
    ViewChanges,
    ViewEntry,
    ViewSlice,
    ViewState,
    entry_from_item,
    entry_item,
    state_from_item,
    state_item,
)
from tests.fakes.table import (
    Item,
    MemoryStore,
    always,
    as_model,
    delete_op,
    put_op,
    update_op,
)


def _add(delta: int) -> Callable[[Item], None]:
    def edit(item: Item) -> None:
        item["entity"] = "view_count"
        item["total"] = int(item.get("total", 0)) + delta

    return edit


class MemoryViews(MemoryStore):
    """ViewIndex on the in-memory table."""

    def view_state(self, ticket_id: str) -> ViewState | None:
        item = self.table.get((ticket_pk(ticket_id), "VIEWS"))
        return state_from_item(as_model(ViewStateItem, item)) if item is not None else None

    def apply_view_changes(self, changes: ViewChanges) -> bool:
        writes = [delete_op((partition, sk)) for partition, sk in changes.stale]
        writes += [put_op(entry_item(entry)) for entry in changes.writes]
        before = changes.before
        item = state_item(changes.ticket_id, changes.state)
        as_read = put_op(
            item,
            "state",
            lambda current: (
                current is None
                if before is None
                else current is not None and state_from_item(as_model(ViewStateItem, current)) == before
            ),
        )
        counts = [
            update_op((partition, "COUNT"), "count", always, _add(delta))
            for partition, delta in sorted(changes.counts.items())
        ]
        if len(writes) + len(counts) + 1 > MAX_TRANSACTION:
            for start in range(0, len(writes), MAX_TRANSACTION):
                self.table.transact(writes[start : start + MAX_TRANSACTION])
            writes = []
        return not self.table.transact([*writes, as_read, *counts])

    def view_slice(self, partition: str, limit: int, ascending: bool, after: str | None = None) -> ViewSlice:
        items = self.table.partition(partition, ENTRY_PREFIX)
        if not ascending:
            items.reverse()
        if after is not None:
            items = [i for i in items if (str(i["sk"]) > after if ascending else str(i["sk"]) < after)]
        page = items[:limit]
        entries: list[ViewEntry] = [entry_from_item(as_model(ViewEntryItem, i)) for i in page]
        return ViewSlice(entries, str(page[-1]["sk"]) if len(items) > limit else None)

    def view_entries(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], ViewEntry]:
        found = {key: self.table.get(key) for key in keys}
        return {key: entry_from_item(as_model(ViewEntryItem, i)) for key, i in found.items() if i is not None}

    def view_counts(self, partitions: Sequence[str]) -> dict[str, int]:
        counts = {}
        for partition in partitions:
            item = self.table.get((partition, "COUNT"))
            counts[partition] = max(int(item["total"]), 0) if item is not None else 0
        return counts
