"""The views agents work from: each ticket is an entry in the view partitions it belongs to
(`VIEW#<scope>#<view>`, sorted by the entry's sort value), and each partition keeps its count.

Which views a ticket belongs to is the logic's (shared/logic/views.py); this module stores the
changes it computes, so that a retried change never counts twice:

- an entry **added** to a partition is a transaction of the entry's conditional Put and the count's
  `ADD 1`; an entry **removed**, of its conditional Delete and `ADD -1`. A retry finds the condition
  false, and the transaction is cancelled whole: nothing counts twice.
- an entry **moved** (same partition, new sort value or summary) is an unconditional Delete and Put
  in a BatchWriteItem: the count does not change, and a retry writes the same items again.

A page is one Query of a partition (`E#` entries, forwards or backwards, one more than asked);
counts are one BatchGetItem.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from shared.dal.base import Table, cancellation_codes, raise_if_permanent
from shared.dal.items import MAX_BATCH_GET, ViewCountItem, ViewEntryItem

ENTRY_PREFIX = "E#"


@dataclass(frozen=True)
class ViewEntry:
    partition: str
    """`VIEW#<scope>#<view>`."""
    sort: str
    """What the view sorts on (an ISO time), before the ticket id in the entry's key."""
    ticket_id: str
    summary: dict[str, Any] = field(compare=False, hash=False)

    @property
    def sk(self) -> str:
        return f"{ENTRY_PREFIX}{self.sort}#{self.ticket_id}"


@dataclass(frozen=True)
class ViewChanges:
    added: list[ViewEntry] = field(default_factory=list)
    removed: list[ViewEntry] = field(default_factory=list)
    moved: list[tuple[ViewEntry, ViewEntry]] = field(default_factory=list)
    """(before, after) in the same partition: a new sort value or summary."""

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.moved)


@dataclass(frozen=True)
class ViewSlice:
    entries: list[ViewEntry]
    last: str | None
    """The last entry's key when more follow in the partition (where the next slice starts)."""


class ViewIndex(Protocol):
    def apply_view_changes(self, changes: ViewChanges) -> None: ...

    def view_slice(
        self, partition: str, limit: int, ascending: bool, after: str | None = None
    ) -> ViewSlice: ...

    def view_counts(self, partitions: Sequence[str]) -> dict[str, int]: ...


def entry_item(entry: ViewEntry) -> ViewEntryItem:
    return ViewEntryItem(pk=entry.partition, sk=entry.sk, ticket_id=entry.ticket_id, summary=entry.summary)


def entry_from_item(item: ViewEntryItem) -> ViewEntry:
    sort = str(item.sk).removeprefix(ENTRY_PREFIX).rsplit("#", 1)[0]
    return ViewEntry(str(item.pk), sort, str(item.ticket_id), dict(item.summary or {}))


class DynamoViews(Table):
    """ViewIndex on the table."""

    def apply_view_changes(self, changes: ViewChanges) -> None:
        for entry in changes.added:
            self._count_once(entry, +1)
        for entry in changes.removed:
            self._count_once(entry, -1)
        if changes.moved:
            with ViewEntryItem.batch_write() as batch:
                for before, after in changes.moved:
                    if before.sk != after.sk:
                        batch.delete(ViewEntryItem(pk=before.partition, sk=before.sk))
                    batch.save(entry_item(after))

    def _count_once(self, entry: ViewEntry, delta: int) -> None:
        item = entry_item(entry)
        counter = ViewCountItem(pk=entry.partition, sk="COUNT")
        try:
            with TransactWrite(connection=self.connection) as transaction:
                if delta > 0:
                    transaction.save(item, condition=ViewEntryItem.pk.does_not_exist())
                else:
                    transaction.delete(item, condition=ViewEntryItem.pk.exists())
                transaction.update(
                    counter, actions=[ViewCountItem.total.add(delta), ViewCountItem.entity.set("view_count")]
                )
        except TransactWriteError as exc:
            raise_if_permanent(exc)
            if "ConditionalCheckFailed" not in cancellation_codes(exc):
                raise
            # added (or removed) before: a retried change, already counted

    def view_slice(self, partition: str, limit: int, ascending: bool, after: str | None = None) -> ViewSlice:
        start = {"pk": {"S": partition}, "sk": {"S": after}} if after is not None else None
        items = list(
            ViewEntryItem.query(
                partition,
                ViewEntryItem.sk.startswith(ENTRY_PREFIX),
                scan_index_forward=ascending,
                last_evaluated_key=start,
                limit=limit + 1,
                page_size=limit + 1,
            )
        )
        page = items[:limit]
        return ViewSlice([entry_from_item(i) for i in page], str(page[-1].sk) if len(items) > limit else None)

    def view_counts(self, partitions: Sequence[str]) -> dict[str, int]:
        counts = dict.fromkeys(partitions, 0)
        unique = list(counts)
        for start in range(0, len(unique), MAX_BATCH_GET):
            keys = [(p, "COUNT") for p in unique[start : start + MAX_BATCH_GET]]
            for item in ViewCountItem.batch_get(keys):
                counts[str(item.pk)] = max(int(item.total or 0), 0)
        return counts
