"""DeadlineIndex in memory: the `SLADUE#<shard>` and `UNROUTED#<shard>` partitions of gsi3 (keys
only: a page reads the keys, then the tickets)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from shared import clock
from shared.dal.deadlines import DeadlineIndex, IndexPage, index_partition
from shared.dal.items import TicketItem
from shared.dal.tickets import SLA_DUE, UNROUTED, UNROUTED_SHARDS, sla_shard, ticket_from_item
from shared.models.ticket import Ticket
from tests.fakes.table import Item, MemoryStore, always, as_model, update_op
from tests.fakes.tickets import ticket_key


class MemoryDeadlines(MemoryStore):
    """DeadlineIndex on the in-memory table."""

    def _page(self, partition: str, cutoff: datetime, limit: int, after: str | None) -> IndexPage:
        upper = f"{clock.iso(cutoff)}#~"
        entries = self.table.query_index("gsi3", partition, at_most=upper, below=after)[:limit]
        return IndexPage(
            tickets=[ticket_from_item(as_model(TicketItem, item)) for item in entries],
            entries=len(entries),
            cursor=str(entries[-1]["gsi3sk"]) if entries and len(entries) >= limit else None,
        )

    def due_tickets(self, shard: int, now: datetime, limit: int = 100, after: str | None = None) -> IndexPage:
        return self._page(index_partition(SLA_DUE, shard), now, limit, after)

    def unrouted_tickets(
        self, shard: int, created_before: datetime, limit: int = 100, after: str | None = None
    ) -> IndexPage:
        return self._page(index_partition(UNROUTED, shard), created_before, limit, after)

    def has_entries(self, family: str, shard: int, cutoff: datetime) -> bool:
        upper = f"{clock.iso(cutoff)}#~"
        return bool(self.table.query_index("gsi3", index_partition(family, shard), at_most=upper))

    def drop_unrouted(self, ticket_id: str) -> bool:
        def leave(item: Item) -> None:
            item["gsi3pk"] = item["gsi3sk"] = None

        def unrouted(item: Item | None) -> bool:
            return item is not None and str(item.get("gsi3pk") or "").startswith(f"{UNROUTED}#")

        return not self.table.transact([update_op(ticket_key(ticket_id), "ticket", unrouted, leave)])

    def move_entries(
        self, partition: str, legacy: bool, shards: int, dry_run: bool = False
    ) -> tuple[int, int]:
        index = "gsi2" if legacy else "gsi3"
        family = partition.split("#", 1)[0]
        count = UNROUTED_SHARDS if family == UNROUTED else shards
        moved = left = 0
        for entry in self.table.query_index(index, partition):
            sort_key = str(entry[f"{index}sk"])
            ticket_id = sort_key.rpartition("#")[2]
            target = index_partition(family, sla_shard(ticket_id, count))
            if not legacy and target == partition:
                left += 1
                continue
            moved += 1
            if not dry_run:
                self.table.transact(
                    [update_op(ticket_key(ticket_id), "move", always, _mover(target, sort_key))]
                )
        return moved, left


def _mover(target: str, sort_key: str) -> Callable[[Item], None]:
    def move(item: Item) -> None:
        item["gsi2pk"] = item["gsi2sk"] = None
        item["gsi3pk"], item["gsi3sk"] = target, sort_key

    return move


def all_unrouted(index: DeadlineIndex, created_before: datetime, limit: int = 100) -> list[Ticket]:
    """The tickets of every unrouted shard created at or before `created_before`, oldest first
    (for asserts: the sweep reads one shard a task)."""
    found = [
        ticket
        for shard in range(UNROUTED_SHARDS)
        for ticket in index.unrouted_tickets(shard, created_before, 1_000).tickets
    ]
    return sorted(found, key=lambda t: (t.created_at, t.id))[:limit]


def due_in(index: DeadlineIndex, shard: int, now: datetime, limit: int = 100) -> list[Ticket]:
    """The due tickets of one shard, every page (for asserts)."""
    found: list[Ticket] = []
    after: str | None = None
    while True:
        page = index.due_tickets(shard, now, limit, after)
        found += page.tickets
        if page.cursor is None:
            return found
        after = page.cursor
