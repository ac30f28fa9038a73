"""QuarantineWrites and QuarantineReview in memory: entries newest first, by reason or all."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pynamodb.exceptions import UpdateError

from shared import clock
from shared.dal.items import QuarantineItem, QuarantinePartItem
from shared.dal.pointers import Pointer
from shared.dal.quarantine import QuarantinePage, QuarantineQuery, quarantine_from_item, quarantine_item
from shared.models.ticket import QuarantineEntry
from tests.fakes.table import Item, MemoryStore, as_model, put_op, update_op


def quarantine_key(entry_id: str) -> tuple[str, str]:
    return (f"QUARANTINE#{entry_id}", "QUARANTINE")


def matches(item: Item, query: QuarantineQuery) -> bool:
    """The query's filter: channel and released state."""
    channel_ok = query.channel is None or item.get("channel") == query.channel
    released = item.get("released_at") is not None
    return channel_ok and (query.released is None or released == query.released)


class MemoryQuarantine(MemoryStore):
    """QuarantineWrites and QuarantineReview on the in-memory table."""

    def quarantine(self, entry: QuarantineEntry, dedupe: Pointer, raw_parts: Sequence[str] = ()) -> None:
        at = clock.iso(entry.at)
        item = quarantine_item(entry)
        parts = [
            put_op(QuarantinePartItem(pk=f"QUARANTINE#{entry.id}", sk=f"RAW#{index:03d}", text=text))
            for index, text in enumerate(raw_parts)
        ]
        self._write([put_op(item), *parts], [dedupe], at)

    def quarantined_raw(self, entry: QuarantineEntry) -> str | None:
        if not entry.details.get("raw_parts"):
            raw = entry.details.get("raw")
            return raw if isinstance(raw, str) else None
        return "".join(str(item["text"]) for item in self.table.partition(f"QUARANTINE#{entry.id}", "RAW#"))

    def list_quarantine(self) -> list[QuarantineEntry]:
        items = self.table.query_index("gsi1", "QUARANTINE")
        return [quarantine_from_item(as_model(QuarantineItem, item)) for item in items]

    def get_quarantine(self, entry_id: str) -> QuarantineEntry | None:
        item = self.table.get(quarantine_key(entry_id))
        return quarantine_from_item(as_model(QuarantineItem, item)) if item is not None else None

    def list_quarantine_page(self, query: QuarantineQuery) -> QuarantinePage:
        index, partition = ("gsi2", f"QUARANTINE#{query.reason}") if query.reason else ("gsi1", "QUARANTINE")
        below = f"{query.after[0]}#{query.after[1]}" if query.after is not None else None
        items = [
            item
            for item in self.table.query_index(index, partition, below=below, newest_first=True)
            if matches(item, query)
        ][: query.limit + 1]
        entries = [quarantine_from_item(as_model(QuarantineItem, item)) for item in items[: query.limit]]
        after = (clock.iso(entries[-1].at), entries[-1].id) if len(items) > query.limit else None
        return QuarantinePage(entries=entries, after=after)

    def claim_release(self, entry_id: str, by: str, at: datetime) -> bool:
        def release(item: Item) -> None:
            item.update(released_by=by, released_at=clock.iso(at))

        def unreleased(item: Item | None) -> bool:
            return item is not None and item.get("released_at") is None

        return not self.table.transact([update_op(quarantine_key(entry_id), "update", unreleased, release)])

    def record_released_ticket(self, entry_id: str, ticket_id: str) -> None:
        def note(item: Item) -> None:
            item["released_ticket_id"] = ticket_id

        def released(item: Item | None) -> bool:
            return item is not None and item.get("released_at") is not None

        if self.table.transact([update_op(quarantine_key(entry_id), "update", released, note)]):
            # DynamoQuarantine lets pynamodb's error through here (no domain error): so does the fake
            raise UpdateError("Failed to update item: ConditionalCheckFailedException")
