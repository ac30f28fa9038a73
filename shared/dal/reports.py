"""The per-day report aggregates, the dimension values they are kept for, and each ticket's stored
metric ledger (decision 95; the items are in docs/data-model.md).

What a ledger change adds to which item is the logic's (`shared.logic.metrics.aggregates`); this
module applies it exactly once:

- the ledger item (`TICKET#<id>` / `LEDGER`) holds the ledger the aggregates hold and a revision
  `rev`; a change is applied only against the revision it was computed from;
- a change is a list of operations (`ADD`s to aggregate items, dimension values to record), cut into
  chunks of at most 99 operations (no item twice in one chunk, at most `MAX_ACTIONS` attributes per
  operation), each written in one transaction with a conditional update of the ledger item;
- the dimension values a change records keep their places in the chunk plan (so an apply begun by
  an older release resumes at the same chunk), but are written before the first chunk, outside the
  transactions, and only those this process has not yet seen stored (`ReportWriteMemory`,
  decision 128): a value is written about once, not once per ticket;
- one chunk: the transaction also stores the new ledger and `rev + 1`. More: the first chunk's
  transaction stores the target ledger as `pending` with `step = 1`, each later chunk's advances
  `step` conditionally on it, and the last one stores the ledger and `rev + 1` and drops `pending`.
  A chunk is therefore applied once, and an apply cut short (a crash, a timeout) is finished by
  whoever reads the ledger item next (`StoredLedger.pending`, `step`): the chunks are computed again
  from the stored ledger and `pending`, which determine them.
No BatchWriteItem and no Scan (tests/unit/test_template_security.py).
"""

from __future__ import annotations

import base64
import binascii
import secrets
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Any, Protocol

from pydantic import ValidationError
from pynamodb.attributes import NumberAttribute
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from shared import clock
from shared.dal.base import Table, cancellation_codes, raise_if_permanent, ticket_pk
from shared.dal.items import (
    EventItem,
    LedgerItem,
    MessageItem,
    ReportClockItem,
    ReportDayItem,
    ReportDimensionItem,
    SealedDayItem,
    TicketItem,
)
from shared.dal.tickets import event_from_item, message_from_item, ticket_from_item
from shared.errors import InvalidEventError
from shared.models.metrics import MetricLedger
from shared.models.reports import (
    SEALED_SUFFIX,
    Freshness,
    ReportDay,
    ReportDelta,
    SealOutcome,
    combined,
    day_sk,
    report_day_from_attributes,
    report_pk,
    seal,
    sealed_day,
    sealed_sk,
)
from shared.models.ticket import Message, Ticket, TicketEvent

LEDGER_SK = "LEDGER"
MAX_TRANSACTION = 100
"""Most items DynamoDB takes in one TransactWriteItems (one of them is the ledger item)."""
MAX_ACTIONS = 80
"""Most attributes one update changes (an UpdateExpression is at most 4 KB)."""
CLOCK_SHARDS = 32
"""Report clock items, `REPORTCLOCK#<n>` / `CLOCK` (decision 127): a process writes them in turn, at
most once per stream second, and a read takes the newest of all (one BatchGetItem)."""
LEGACY_CLOCK = ("REPORTCLOCK", "CLOCK")
"""The one clock item of releases before decision 127, still read (the newest wins) until removed."""


def clock_key(shard: int) -> tuple[str, str]:
    return f"REPORTCLOCK#{shard}", "CLOCK"


def clock_keys() -> list[tuple[str, str]]:
    """Every clock item a read takes the newest of."""
    return [*(clock_key(n) for n in range(CLOCK_SHARDS)), LEGACY_CLOCK]


@dataclass
class ReportWriteMemory:
    """What this process (a Lambda container) knows it has stored, so it does not write it again:
    the newest stream second of the report clock, and each dimension's values (decisions 127, 128).
    Both only grow on the table, so knowing too little costs a repeated write, never a wrong one."""

    clock_second: datetime | None = None
    next_clock: int = field(default_factory=lambda: secrets.randbelow(CLOCK_SHARDS))
    values: dict[str, set[str]] = field(default_factory=dict)

    def clock_due(self, second: datetime) -> bool:
        """A clock write adds something: this process has not recorded this second or a newer one."""
        return self.clock_second is None or second > self.clock_second

    def clock_written(self, second: datetime) -> None:
        self.clock_second, self.next_clock = second, (self.next_clock + 1) % CLOCK_SHARDS

    def unknown_values(
        self, values: Iterable[tuple[str, str]], stored: Callable[[str], list[str]]
    ) -> list[tuple[str, str]]:
        """The values not known to be stored; a dimension's stored values are read (`stored`) the
        first time it is asked about."""
        unknown = []
        for dimension, value in values:
            known = self.values.get(dimension)
            if known is None:
                known = self.values[dimension] = set(stored(dimension))
            if value not in known:
                unknown.append((dimension, value))
        return unknown

    def values_written(self, values: Iterable[tuple[str, str]]) -> None:
        for dimension, value in values:
            self.values.setdefault(dimension, set()).add(value)


@dataclass(frozen=True)
class StoredLedger:
    """The ledger item as read: what the aggregates hold, and an apply under way, if any."""

    ledger: MetricLedger | None
    rev: int
    """Every applied change adds one; a change is applied only against the revision it read."""
    pending: MetricLedger | None = None
    """The ledger an apply in several transactions is taking the aggregates to."""
    step: int = 0
    """The next chunk of that apply."""


@dataclass(frozen=True)
class ReportOp:
    """One write of a chunk: `ADD`s to an aggregate item, or a dimension value to record."""

    pk: str
    sk: str
    adds: dict[str, int] = field(default_factory=dict)
    dimension: tuple[str, str] | None = None


@dataclass(frozen=True)
class LedgerStep:
    """The ledger item's part of one chunk's transaction."""

    rev: int
    index: int
    chunks: int
    fresh: bool
    """No ledger item was stored (the first chunk then requires that none is)."""
    ledger: MetricLedger

    @property
    def final(self) -> bool:
        return self.index == self.chunks - 1


@dataclass(frozen=True)
class TicketHistory:
    """A ticket, its events and messages, read strongly consistent."""

    ticket: Ticket
    events: list[TicketEvent]
    messages: list[Message]


def pack(ledger: MetricLedger) -> bytes:
    return zlib.compress(ledger.model_dump_json().encode("utf-8"))


def unpack(blob: bytes | None) -> MetricLedger | None:
    return MetricLedger.model_validate_json(zlib.decompress(blob)) if blob else None


def ledger_from_stream_image(image: dict[str, Any]) -> StoredLedger:
    """The ledger item of a DynamoDB stream record's NewImage (binary values in base64, as Lambda
    delivers them); InvalidEventError when a stored ledger cannot be read, ever."""
    blobs = {name: image.get(name, {}).get("B") for name in ("ledger", "pending")}
    try:
        ledger, pending = (unpack(base64.b64decode(b)) if b else None for b in blobs.values())
    except (binascii.Error, zlib.error, ValidationError) as exc:
        raise InvalidEventError(f"an unreadable stored ledger: {exc}") from exc
    rev = int(image.get("rev", {}).get("N", 0))
    step = int(image.get("step", {}).get("N", 0))
    return StoredLedger(ledger, rev, pending, step)


def dimension_key(dimension: str, value: str) -> tuple[str, str]:
    return f"REPORTDIM#{dimension}", f"VALUE#{value}"


def plan_chunks(deltas: Sequence[ReportDelta], values: Sequence[tuple[str, str]]) -> list[list[ReportOp]]:
    """The operations of a change, cut into transactions (always at least one, maybe empty: the
    ledger item is written even when no aggregate changes)."""
    ops = [ReportOp(*dimension_key(d, v), dimension=(d, v)) for d, v in values]
    for delta in deltas:
        names = list(delta.adds)
        for start in range(0, len(names), MAX_ACTIONS):
            adds = {name: delta.adds[name] for name in names[start : start + MAX_ACTIONS]}
            ops.append(ReportOp(delta.key.pk, delta.key.sk, adds))
    chunks: list[list[ReportOp]] = [[]]
    keys: list[set[tuple[str, str]]] = [set()]
    for op in ops:  # first fit: the first chunk with room that does not change the item yet
        key = (op.pk, op.sk)
        room = (i for i, c in enumerate(chunks) if len(c) < MAX_TRANSACTION - 1 and key not in keys[i])
        index = next(room, None)
        if index is None:
            chunks.append([])
            keys.append(set())
            index = len(chunks) - 1
        chunks[index].append(op)
        keys[index].add(key)
    return chunks


def apply_in_chunks(
    stored: StoredLedger | None,
    ledger: MetricLedger,
    deltas: Sequence[ReportDelta],
    values: Sequence[tuple[str, str]],
    transact: Callable[[list[ReportOp], LedgerStep], bool],
) -> bool:
    """Apply the change chunk by chunk from where a previous apply stopped, each chunk's `ADD`s one
    `transact` (False: the ledger item was not as read; stop). The dimension values are the
    caller's to write, before: they are left out of the transactions but keep their places in
    the plan, so the chunks are those an older release cut (decision 128)."""
    chunks = plan_chunks(deltas, values)
    rev = stored.rev if stored is not None else 0
    for index in range(first_step(stored, ledger), len(chunks)):
        adds = [op for op in chunks[index] if op.dimension is None]
        if not transact(adds, LedgerStep(rev, index, len(chunks), stored is None, ledger)):
            return False
    return True


def first_step(stored: StoredLedger | None, ledger: MetricLedger) -> int:
    """Where an apply of `ledger` starts: the next chunk of the same apply under way, else 0."""
    if stored is None or stored.pending is None:
        return 0
    if stored.pending != ledger:
        raise ValueError("an apply is under way to another ledger: finish it first")
    return stored.step


class ReportStore(Protocol):
    def stored_ledger(self, ticket_id: str) -> StoredLedger | None: ...

    def apply_ledger(
        self,
        ticket_id: str,
        stored: StoredLedger | None,
        ledger: MetricLedger,
        deltas: Sequence[ReportDelta],
        values: Sequence[tuple[str, str]],
    ) -> bool:
        """Take the aggregates from `stored.ledger` to `ledger` by `deltas` (their difference) and
        record `values`; continues an apply of `ledger` under way. False when the ledger item is not
        as read any more (another apply went first: read it again); nothing more is then written."""
        ...

    def report_days(self, dimension: str, value: str, first: date, last: date) -> list[ReportDay]:
        """The aggregate items of one dimension value from `first` to `last` (one Query)."""
        ...

    def dimension_values(self, dimension: str) -> list[str]:
        """Every value the dimension's aggregates were kept for, sorted (one Query)."""
        ...

    def seal_days(self, dimension: str, value: str, first: date, last: date) -> SealOutcome:
        """Fold the live items of one dimension value's days into their sealed items (decision 112);
        the aggregates read the same before and after."""
        ...

    def record_report_freshness(self, stream_at: datetime, processed_at: datetime) -> None:
        """Note that ticket changes up to `stream_at` are in the aggregates (never moves back)."""
        ...

    def report_freshness(self) -> Freshness:
        """The newest stream time recorded, and how far behind it was processed (one GetItem)."""
        ...


class TicketHistoryReads(Protocol):
    def ticket_history(self, ticket_id: str) -> TicketHistory | None:
        """The ticket, its events and messages, strongly consistent (None: no such ticket)."""
        ...


def _raw_number(value: dict[str, Any]) -> int | None:
    return int(value["N"]) if "N" in value else None


_VERSION = NumberAttribute(attr_name="v")
"""A live day item's write counter (decision 112)."""


@dataclass
class _StoredDay:
    """A day as its two items hold it: the sum (`read`), the live item's `v` (None: no live item;
    0: one written before `v` existed) and the sealed item's `rev` (0: none)."""

    read: ReportDay
    live_version: int | None = None
    sealed_rev: int = 0


def _stored_days(dimension: str, value: str, first: date, last: date, consistent: bool) -> list[_StoredDay]:
    """Each day from `first` to `last` that has a live or a sealed item (one Query: a sealed item's
    sort key follows its live item's)."""
    connection = ReportDayItem._get_connection()
    days: dict[date, _StoredDay] = {}
    start: Any = None
    while True:
        page = connection.query(
            report_pk(dimension, value),
            ReportDayItem.sk.between(day_sk(first), sealed_sk(last)),
            exclusive_start_key=start,
            consistent_read=consistent,
        )
        for raw in page.get("Items", []):
            _take(days, dimension, value, raw)
        start = page.get("LastEvaluatedKey")
        if not start:
            return [days[day] for day in sorted(days)]


def _take(days: dict[date, _StoredDay], dimension: str, value: str, raw: dict[str, Any]) -> None:
    sk = raw["sk"]["S"]
    day = date.fromisoformat(sk.removeprefix("DAY#").removesuffix(SEALED_SUFFIX))
    if sk.endswith(SEALED_SUFFIX):
        part = sealed_day(dimension, value, day, bytes(raw["blob"]["B"]))
        stored = days.setdefault(day, _StoredDay(ReportDay(dimension, value, day)))
        stored.read, stored.sealed_rev = combined(part, stored.read), int(raw["rev"]["N"])
        return
    numbers = {name: n for name, v in raw.items() if (n := _raw_number(v)) is not None}
    part = report_day_from_attributes(dimension, value, day, numbers)
    stored = days.setdefault(day, _StoredDay(ReportDay(dimension, value, day)))
    stored.read, stored.live_version = combined(stored.read, part), numbers.get("v", 0)


class DynamoReports(Table):
    """ReportStore and TicketHistoryReads on the table."""

    @cached_property
    def report_memory(self) -> ReportWriteMemory:
        return ReportWriteMemory()

    def record_report_freshness(self, stream_at: datetime, processed_at: datetime) -> None:
        """Written at most once per stream second by a process, to its next clock item (decision
        127); the stream's times are whole seconds, so the newest of the items is the newest
        batch's time all the same."""
        memory, second = self.report_memory, stream_at.replace(microsecond=0)
        if memory.clock_due(second):
            record_clock(clock_key(memory.next_clock), second, processed_at)
            memory.clock_written(second)

    def report_freshness(self) -> Freshness:
        return read_clock()

    def stored_ledger(self, ticket_id: str) -> StoredLedger | None:
        try:
            item = LedgerItem.get(ticket_pk(ticket_id), LEDGER_SK, consistent_read=True)
        except DoesNotExist:
            return None
        return StoredLedger(
            unpack(item.ledger), int(item.rev or 0), unpack(item.pending), int(item.step or 0)
        )

    def apply_ledger(
        self,
        ticket_id: str,
        stored: StoredLedger | None,
        ledger: MetricLedger,
        deltas: Sequence[ReportDelta],
        values: Sequence[tuple[str, str]],
    ) -> bool:
        memory = self.report_memory
        unknown = memory.unknown_values(values, self.dimension_values)
        for dimension, value in unknown:  # before the ADDs: a report lists every value it counts
            record_dimension_value(dimension, value)
        memory.values_written(unknown)
        return apply_in_chunks(
            stored, ledger, deltas, values, lambda ops, step: self._transact_chunk(ticket_id, ops, step)
        )

    def _transact_chunk(self, ticket_id: str, ops: list[ReportOp], step: LedgerStep) -> bool:
        try:
            with TransactWrite(connection=self.connection) as transaction:
                for op in ops:
                    transaction.update(*_op_update(op))
                item, actions, condition = _ledger_update(ticket_id, step)
                transaction.update(item, actions=actions, condition=condition)
        except TransactWriteError as exc:
            raise_if_permanent(exc)
            if "ConditionalCheckFailed" not in cancellation_codes(exc):
                raise
            return False  # another apply went first
        return True

    def report_days(self, dimension: str, value: str, first: date, last: date) -> list[ReportDay]:
        return [day.read for day in _stored_days(dimension, value, first, last, consistent=False)]

    def seal_days(self, dimension: str, value: str, first: date, last: date) -> SealOutcome:
        """Fold each live day item from `first` to `last` into its sealed item (decision 112): one
        transaction per day that deletes the live item on condition it is still the version read
        (`v`) and writes the sealed one on condition it is too (`rev`). A day written meanwhile is
        left for the next run (`contended`)."""
        outcome = SealOutcome()
        for stored in _stored_days(dimension, value, first, last, consistent=True):
            if stored.live_version is None:
                continue
            if self._seal(dimension, value, stored):
                outcome.sealed += 1
            else:
                outcome.contended += 1
        return outcome

    def _seal(self, dimension: str, value: str, stored: _StoredDay) -> bool:
        pk, day = report_pk(dimension, value), stored.read.day
        live = ReportDayItem(pk=pk, sk=day_sk(day))
        version = _VERSION == stored.live_version if stored.live_version else _VERSION.does_not_exist()  # noqa: SIM300
        sealed = SealedDayItem(pk=pk, sk=sealed_sk(day), blob=seal(stored.read), rev=stored.sealed_rev + 1)
        first = SealedDayItem.pk.does_not_exist()
        unchanged = SealedDayItem.rev == stored.sealed_rev if stored.sealed_rev else first
        try:
            with TransactWrite(connection=self.connection) as transaction:
                transaction.delete(live, condition=ReportDayItem.pk.exists() & version)
                transaction.save(sealed, condition=unchanged)
        except TransactWriteError as exc:
            raise_if_permanent(exc)
            if "ConditionalCheckFailed" not in cancellation_codes(exc):
                raise
            return False
        return True

    def dimension_values(self, dimension: str) -> list[str]:
        pk, _ = dimension_key(dimension, "")
        items = ReportDimensionItem.query(pk, ReportDimensionItem.sk.startswith("VALUE#"))
        return sorted(str(item.value) for item in items)

    def ticket_history(self, ticket_id: str) -> TicketHistory | None:
        pk = ticket_pk(ticket_id)
        try:
            ticket = ticket_from_item(TicketItem.get(pk, "TICKET", consistent_read=True))
        except DoesNotExist:
            return None
        events = EventItem.query(pk, EventItem.sk.startswith("EVENT#"), consistent_read=True)
        messages = MessageItem.query(pk, MessageItem.sk.startswith("MSG#"), consistent_read=True)
        return TicketHistory(
            ticket, [event_from_item(e) for e in events], [message_from_item(m) for m in messages]
        )


def record_dimension_value(dimension: str, value: str) -> None:
    """Note a value the dimension's aggregates are kept for (the same item however often)."""
    ReportDimensionItem(*dimension_key(dimension, value)).update(
        actions=[
            ReportDimensionItem.entity.set("report_dimension"),
            ReportDimensionItem.dimension.set(dimension),
            ReportDimensionItem.value.set(value),
        ]
    )


def _op_update(op: ReportOp) -> tuple[Any, list[Any]]:
    adds = [NumberAttribute(attr_name=name).add(number) for name, number in op.adds.items()]
    # `v` changes with every write, so sealing the item can be made conditional on what it read
    return ReportDayItem(pk=op.pk, sk=op.sk), [ReportDayItem.entity.set("report_day"), _VERSION.add(1), *adds]


def _ledger_update(ticket_id: str, step: LedgerStep) -> tuple[LedgerItem, list[Any], Any]:
    """The ledger item's update in a chunk's transaction, and its condition (decision 95)."""
    item = LedgerItem(pk=ticket_pk(ticket_id), sk=LEDGER_SK)
    if step.index == 0:
        started = LedgerItem.pk.does_not_exist() if step.fresh else LedgerItem.rev == step.rev
        condition = started & LedgerItem.pending.does_not_exist()
    else:
        condition = (LedgerItem.rev == step.rev) & (LedgerItem.step == step.index)
    actions: list[Any] = [LedgerItem.entity.set("ledger")]
    if step.final:
        actions += [
            LedgerItem.ledger.set(pack(step.ledger)),
            LedgerItem.version.set(step.ledger.version),
            LedgerItem.rev.set(step.rev + 1),
            LedgerItem.pending.remove(),
            LedgerItem.step.remove(),
        ]
    else:
        actions.append(LedgerItem.step.set(step.index + 1))
        if step.index == 0:
            actions += [LedgerItem.pending.set(pack(step.ledger)), LedgerItem.rev.set(step.rev)]
    return item, actions, condition


def record_clock(key: tuple[str, str], stream_at: datetime, processed_at: datetime) -> None:
    """Move a report clock item forward to `stream_at` (an older time changes nothing)."""
    pk, sk = key
    item = ReportClockItem(pk=pk, sk=sk, stream_at=clock.iso(stream_at), processed_at=clock.iso(processed_at))
    newer = ReportClockItem.stream_at.does_not_exist() | (ReportClockItem.stream_at < clock.iso(stream_at))
    try:
        item.save(condition=newer)
    except PutError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise


def read_clock() -> Freshness:
    """The newest of the clock items (one BatchGetItem)."""
    items = list(ReportClockItem.batch_get(clock_keys()))
    if not items:
        return Freshness()
    item = max(items, key=lambda i: str(i.stream_at))
    stream_at, processed_at = clock.parse_iso(str(item.stream_at)), clock.parse_iso(str(item.processed_at))
    return Freshness(stream_at, max(0.0, (processed_at - stream_at).total_seconds()))
