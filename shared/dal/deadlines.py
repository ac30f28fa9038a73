"""The SLA deadline index and the unrouted index: keys-only, sharded `gsi3` partitions of ticket
items (`SLADUE#<shard>` by next deadline, `UNROUTED#<shard>` by creation; decision 117). A reader
takes a page of keys from one partition, then the tickets themselves in one consistent
BatchGetItem, and keeps only those whose item is still indexed under a key the page may read: the
index lags its table, so an entry can name a deadline that has already moved."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pynamodb.exceptions import UpdateError

from shared import clock
from shared.dal.base import ticket_pk
from shared.dal.items import MAX_BATCH_GET, TicketItem
from shared.dal.tickets import SLA_DUE, UNROUTED, UNROUTED_SHARDS, sla_shard, ticket_from_item
from shared.models.ticket import Ticket


@dataclass
class IndexPage:
    """Tickets of one page of a deadline or unrouted partition, oldest key first."""

    tickets: list[Ticket] = field(default_factory=list)
    entries: int = 0
    """Index entries the page read (tickets plus stale entries)."""
    cursor: str | None = None
    """The last key read when the partition may hold more up to the cutoff (None: it is empty)."""

    @property
    def stale(self) -> int:
        """Entries whose ticket had moved on (another deadline, routed, gone)."""
        return self.entries - len(self.tickets)


class DeadlineIndex(Protocol):
    def due_tickets(
        self, shard: int, now: datetime, limit: int = 100, after: str | None = None
    ) -> IndexPage: ...

    def unrouted_tickets(
        self, shard: int, created_before: datetime, limit: int = 100, after: str | None = None
    ) -> IndexPage: ...

    def drop_unrouted(self, ticket_id: str) -> bool: ...

    def has_entries(self, family: str, shard: int, cutoff: datetime) -> bool: ...


class DeadlineMigrationStore(Protocol):
    def move_entries(
        self, partition: str, legacy: bool, shards: int, dry_run: bool = False
    ) -> tuple[int, int]: ...


def index_partition(family: str, shard: int) -> str:
    return f"{family}#{shard}"


def _start_key(partition: str, after: str | None) -> dict[str, Any] | None:
    """The Query's ExclusiveStartKey for the entry `after` (its sort key ends with the ticket id)."""
    if after is None:
        return None
    ticket_id = after.rpartition("#")[2]
    return {
        "pk": {"S": ticket_pk(ticket_id)},
        "sk": {"S": "TICKET"},
        "gsi3pk": {"S": partition},
        "gsi3sk": {"S": after},
    }


def _read_page(partition: str, cutoff: datetime, limit: int, after: str | None) -> IndexPage:
    """Keys of up to `limit` entries at or before `cutoff`, then the tickets still indexed there."""
    upper = f"{clock.iso(cutoff)}#~"
    keys = [
        (item.pk, str(item.gsi3sk))
        for item in TicketItem.deadlines.query(
            partition,
            TicketItem.gsi3sk <= upper,
            limit=limit,
            page_size=min(limit, MAX_BATCH_GET),
            last_evaluated_key=_start_key(partition, after),
        )
    ]
    found: list[TicketItem] = []
    for start in range(0, len(keys), MAX_BATCH_GET):
        chunk = [(pk, "TICKET") for pk, _ in keys[start : start + MAX_BATCH_GET]]
        found += TicketItem.batch_get(chunk, consistent_read=True)
    current = [
        item
        for item in found
        if item.gsi3pk == partition and item.gsi3sk is not None and item.gsi3sk <= upper
    ]
    current.sort(key=lambda item: str(item.gsi3sk))
    return IndexPage(
        tickets=[ticket_from_item(item) for item in current],
        entries=len(keys),
        cursor=keys[-1][1] if keys and len(keys) >= limit else None,
    )


class DynamoDeadlines:
    """DeadlineIndex on the table."""

    def due_tickets(self, shard: int, now: datetime, limit: int = 100, after: str | None = None) -> IndexPage:
        """A page of one due-index shard: tickets whose next SLA deadline has come."""
        return _read_page(index_partition(SLA_DUE, shard), now, limit, after)

    def unrouted_tickets(
        self, shard: int, created_before: datetime, limit: int = 100, after: str | None = None
    ) -> IndexPage:
        """A page of one unrouted shard: tickets created at or before `created_before` that no
        routing decision has reached yet."""
        return _read_page(index_partition(UNROUTED, shard), created_before, limit, after)

    def has_entries(self, family: str, shard: int, cutoff: datetime) -> bool:
        """Whether one shard of `family` (`SLADUE`, `UNROUTED`) holds an entry at or before
        `cutoff`: a one-key Query (half a read unit), so the sweep skips empty shards."""
        upper = f"{clock.iso(cutoff)}#~"
        query = TicketItem.deadlines.query(
            index_partition(family, shard), TicketItem.gsi3sk <= upper, limit=1, page_size=1
        )
        return next(iter(query), None) is not None

    def drop_unrouted(self, ticket_id: str) -> bool:
        """Take a ticket out of the unrouted index; False when it was not in it (any more)."""
        try:
            TicketItem(pk=ticket_pk(ticket_id), sk="TICKET").update(
                actions=[TicketItem.gsi3pk.remove(), TicketItem.gsi3sk.remove()],
                condition=TicketItem.gsi3pk.startswith(f"{UNROUTED}#"),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def move_entries(
        self, partition: str, legacy: bool, shards: int, dry_run: bool = False
    ) -> tuple[int, int]:
        """Move every entry of one partition (paged) to the keys its ticket has now (decision 117):
        from a legacy `gsi2` partition (`SLADUE#<n>`, `UNROUTED`) to `gsi3`, or between `gsi3`
        shards when `sla.sweep_shards` changed. How many were moved (or would be) and how many were
        left (already at their keys, or changed meanwhile: each move is conditional on the entry
        it read, and the live code writes `gsi3` and drops `gsi2`)."""
        index = TicketItem.legacy_deadlines if legacy else TicketItem.deadlines
        family = partition.split("#", 1)[0]
        count = UNROUTED_SHARDS if family == UNROUTED else shards
        moved = left = 0
        for item in index.query(partition):
            sort_key = str(item.gsi2sk if legacy else item.gsi3sk)
            target = index_partition(family, sla_shard(sort_key.rpartition("#")[2], count))
            stays = not legacy and target == partition
            if stays or dry_run:
                moved, left = (moved, left + 1) if stays else (moved + 1, left)
                continue
            if _move(item.pk, partition, sort_key, target, legacy):
                moved += 1
            else:
                left += 1
        return moved, left


def _move(pk: str, partition: str, sort_key: str, target: str, legacy: bool) -> bool:
    """One entry to `target` (same sort key), if it is still where it was read."""
    actions: list[Any]
    if legacy:
        actions = [TicketItem.gsi3pk.set(target), TicketItem.gsi3sk.set(sort_key)]
        actions += [TicketItem.gsi2pk.remove(), TicketItem.gsi2sk.remove()]
        condition = (TicketItem.gsi2pk == partition) & (TicketItem.gsi2sk == sort_key)
    else:
        actions = [TicketItem.gsi3pk.set(target)]
        condition = (TicketItem.gsi3pk == partition) & (TicketItem.gsi3sk == sort_key)
    try:
        TicketItem(pk=pk, sk="TICKET").update(actions=actions, condition=condition)
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True
