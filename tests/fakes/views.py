"""ViewIndex in memory: view entries and their counts, counted once per added or removed entry."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from shared.dal.items import ViewEntryItem
from shared.dal.views import ENTRY_PREFIX, ViewChanges, ViewEntry, ViewSlice, entry_from_item, entry_item
from tests.fakes.table import (
    Item,
    MemoryStore,
    absent,
    always,
    as_model,
    delete_op,
    exists,
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

    def apply_view_changes(self, changes: ViewChanges) -> None:
        for entry, delta in [*((e, 1) for e in changes.added), *((e, -1) for e in changes.removed)]:
            key = (entry.partition, entry.sk)
            write = (
                put_op(entry_item(entry), "entry", absent) if delta > 0 else delete_op(key, "entry", exists)
            )
            self.table.transact([write, update_op((entry.partition, "COUNT"), "count", always, _add(delta))])
        for before, after in changes.moved:
            if before.sk != after.sk:
                self.table.transact([delete_op((before.partition, before.sk))])
            self.table.transact([put_op(entry_item(after))])

    def view_slice(self, partition: str, limit: int, ascending: bool, after: str | None = None) -> ViewSlice:
        items = self.table.partition(partition, ENTRY_PREFIX)
        if not ascending:
            items.reverse()
        if after is not None:
            items = [i for i in items if (str(i["sk"]) > after if ascending else str(i["sk"]) < after)]
        page = items[:limit]
        entries: list[ViewEntry] = [entry_from_item(as_model(ViewEntryItem, i)) for i in page]
        return ViewSlice(entries, str(page[-1]["sk"]) if len(items) > limit else None)

    def view_counts(self, partitions: Sequence[str]) -> dict[str, int]:
        counts = {}
        for partition in partitions:
            item = self.table.get((partition, "COUNT"))
            counts[partition] = max(int(item["total"]), 0) if item is not None else 0
        return counts
