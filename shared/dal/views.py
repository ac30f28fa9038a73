"""The views agents work from: each ticket is an entry in the view partitions it belongs to
(`VIEW#<scope>#<view>`, sorted by the entry's sort value), and each partition keeps its count.

Which views a ticket belongs to is the logic's (shared/logic/views.py); this module stores it so
that stream records applied twice, or an older one retried after a newer one, never count twice:

- each ticket has a view state (`TICKET#<id>` / `VIEWS`): the partitions it is in, each entry's sort
  key, and the sequence number of the stream record that put it there;
- a change is one transaction: puts of every entry the ticket should have, deletes of those it had
  under another key or in partitions it left, the new state, conditional on its sequence number
  being newer than the stored one, and the counts of the partitions it entered (`ADD 1`) and left
  (`ADD -1`). A record older than the state is skipped before anything is written, and one whose
  state lost the race writes nothing. A change over 100 items (a team change of a ticket with many
  tags) writes its entries first in transactions of 100 (writing an entry again changes nothing),
  then the state and counts;
- the state is written only if it is still the one the change was computed against (its sequence
  number and entries as read, or absent): the counts are that state's differences, so a change
  computed against a state someone else replaced meanwhile (a newer record, or a rebuild) writes
  nothing and is computed again. No BatchWriteItem: no function of ours may write unconditionally in
  bulk (tests/unit/test_template_security.py).

An entry is written only when its sort key or the summary it shows changed: the state keeps a
digest of the summary its entries show (`shown`), so a change that moves nothing and shows nothing
new writes no entry, only the state (decision 125).

A slice is one Query of a partition (`E#` entries, forwards or backwards, strictly after a position,
one more than asked); the position need not be an entry of that partition (a view reads many
partitions from one position, decision 126). Counts are one BatchGetItem per 100 partitions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from shared.dal.base import Table, cancellation_codes, raise_if_permanent, ticket_pk
from shared.dal.items import MAX_BATCH_GET, ViewCountItem, ViewEntryItem, ViewStateItem

ENTRY_PREFIX = "E#"
ENTRY_END = "E$"
"""Sorts after every entry key (`$` follows `#`)."""
MAX_TRANSACTION = 100
"""Most items DynamoDB takes in one TransactWriteItems."""


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
class ViewState:
    seq: int
    """The stream record (sequence number) the state is as of."""
    entries: dict[str, str]
    """Partition -> the sort key of the ticket's entry there."""
    shown: str | None = None
    """A digest of the summary the entries show (None: not known, a state written before it was
    kept: every entry is written again)."""


@dataclass(frozen=True)
class ViewChanges:
    """A ticket's new place in the views, against its state before."""

    ticket_id: str
    seq: int
    entries: list[ViewEntry]
    """Every entry the ticket has now (written again: their summaries change with the ticket)."""
    stale: list[tuple[str, str]]
    """(partition, sort key) of entries it had that are no longer its own."""
    counts: dict[str, int]
    """Partition -> +1 entered, -1 left."""
    before: ViewState | None
    stored: frozenset[tuple[str, str]] = frozenset()
    """(partition, sort key) of entries already stored as they should be (their key and summary
    did not change, or a rebuild read them): not written again."""
    shown: str | None = None
    """The digest of the summary the entries show now."""

    @property
    def writes(self) -> list[ViewEntry]:
        """The entries to write: every entry but those already stored as they should be."""
        return [e for e in self.entries if (e.partition, e.sk) not in self.stored]

    @property
    def state(self) -> ViewState:
        return ViewState(self.seq, {e.partition: e.sk for e in self.entries}, self.shown)


@dataclass(frozen=True)
class ViewSlice:
    entries: list[ViewEntry]
    last: str | None
    """The last entry's key when more follow in the partition (where the next slice starts)."""


class ViewIndex(Protocol):
    def view_state(self, ticket_id: str) -> ViewState | None: ...

    def apply_view_changes(self, changes: ViewChanges) -> bool:
        """False when the state is no longer the one the changes were computed against (nothing
        but idempotent entry writes done, nothing counted)."""
        ...

    def view_entries(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], ViewEntry]:
        """The entries of those (partition, sort key) that are stored (strongly consistent)."""
        ...

    def view_slice(self, partition: str, limit: int, ascending: bool, after: str | None = None) -> ViewSlice:
        """At most `limit` entries of the partition in its order, strictly after the sort key
        `after` (any `E#` position, an entry of this partition or not)."""
        ...

    def view_counts(self, partitions: Sequence[str]) -> dict[str, int]: ...


def entry_item(entry: ViewEntry) -> ViewEntryItem:
    return ViewEntryItem(pk=entry.partition, sk=entry.sk, ticket_id=entry.ticket_id, summary=entry.summary)


def entry_from_item(item: ViewEntryItem) -> ViewEntry:
    sort = str(item.sk).removeprefix(ENTRY_PREFIX).rsplit("#", 1)[0]
    return ViewEntry(str(item.pk), sort, str(item.ticket_id), dict(item.summary or {}))


def state_from_item(item: ViewStateItem) -> ViewState:
    entries = {str(k): str(v) for k, v in dict(item.entries or {}).items()}
    return ViewState(int(item.seq), entries, str(item.shown) if item.shown else None)


def state_item(ticket_id: str, state: ViewState) -> ViewStateItem:
    return ViewStateItem(
        pk=ticket_pk(ticket_id), sk="VIEWS", seq=state.seq, entries=state.entries, shown=state.shown
    )


class DynamoViews(Table):
    """ViewIndex on the table."""

    def view_state(self, ticket_id: str) -> ViewState | None:
        try:
            return state_from_item(ViewStateItem.get(ticket_pk(ticket_id), "VIEWS", consistent_read=True))
        except DoesNotExist:
            return None

    def apply_view_changes(self, changes: ViewChanges) -> bool:
        item = state_item(changes.ticket_id, changes.state)
        before = changes.before
        as_read = (
            ViewStateItem.seq.does_not_exist()
            if before is None
            else (ViewStateItem.seq == before.seq)
            & (ViewStateItem.entries == before.entries)
            & (
                ViewStateItem.shown.does_not_exist()
                if before.shown is None
                else ViewStateItem.shown == before.shown
            )
        )
        counts = sorted(changes.counts.items())
        writes: list[tuple[str, ViewEntryItem]] = [
            ("delete", ViewEntryItem(pk=p, sk=sk)) for p, sk in changes.stale
        ]
        writes += [("save", entry_item(entry)) for entry in changes.writes]
        if len(writes) + len(counts) + 1 > MAX_TRANSACTION:  # entries first, then state and counts
            for start in range(0, len(writes), MAX_TRANSACTION):
                self._transact_views(writes[start : start + MAX_TRANSACTION], [], None)
            writes = []
        return self._transact_views(writes, counts, (item, as_read))

    def _transact_views(
        self,
        writes: list[tuple[str, ViewEntryItem]],
        counts: list[tuple[str, int]],
        state: tuple[ViewStateItem, Any] | None,
    ) -> bool:
        """One transaction: entry writes (writing one again changes nothing), then the state if
        still as read, with the counts. False when it was not (nothing written)."""
        try:
            with TransactWrite(connection=self.connection) as transaction:
                for kind, entry in writes:
                    if kind == "delete":
                        transaction.delete(entry)
                    else:
                        transaction.save(entry)
                if state is not None:
                    transaction.save(state[0], condition=state[1])
                for partition, delta in counts:
                    transaction.update(
                        ViewCountItem(pk=partition, sk="COUNT"),
                        actions=[ViewCountItem.total.add(delta), ViewCountItem.entity.set("view_count")],
                    )
        except TransactWriteError as exc:
            raise_if_permanent(exc)
            if "ConditionalCheckFailed" not in cancellation_codes(exc):
                raise
            return False  # a newer record, this one retried, or a rebuild, stored its state first
        return True

    def view_slice(self, partition: str, limit: int, ascending: bool, after: str | None = None) -> ViewSlice:
        condition: Condition
        if after is None:
            condition = ViewEntryItem.sk.startswith(ENTRY_PREFIX)
        elif ascending:  # a key condition, not ExclusiveStartKey: `after` may be no item of this partition
            condition = ViewEntryItem.sk.between(after, ENTRY_END)
        else:
            condition = ViewEntryItem.sk.between(ENTRY_PREFIX, after)
        asked = limit + (1 if after is None else 2)  # one more to know more follow, one for `after`
        items = [
            item
            for item in ViewEntryItem.query(
                partition, condition, scan_index_forward=ascending, limit=asked, page_size=asked
            )
            if item.sk != after  # BETWEEN is inclusive: the position itself is not after it
        ][: limit + 1]
        page = items[:limit]
        return ViewSlice([entry_from_item(i) for i in page], str(page[-1].sk) if len(items) > limit else None)

    def view_entries(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], ViewEntry]:
        unique = list(dict.fromkeys(keys))
        found: dict[tuple[str, str], ViewEntry] = {}
        for start in range(0, len(unique), MAX_BATCH_GET):
            for item in ViewEntryItem.batch_get(unique[start : start + MAX_BATCH_GET], consistent_read=True):
                found[(str(item.pk), str(item.sk))] = entry_from_item(item)
        return found

    def view_counts(self, partitions: Sequence[str]) -> dict[str, int]:
        counts = dict.fromkeys(partitions, 0)
        unique = list(counts)
        for start in range(0, len(unique), MAX_BATCH_GET):
            keys = [(p, "COUNT") for p in unique[start : start + MAX_BATCH_GET]]
            for item in ViewCountItem.batch_get(keys):
                counts[str(item.pk)] = max(int(item.total or 0), 0)
        return counts
