"""ReportStore and TicketHistoryReads in memory: the ledger items, the per-day aggregates changed by
`ADD` in the same chunked conditional transactions as on DynamoDB, the dimension values written
before them when not known yet, the report clock items written in turn."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from functools import cached_property

from shared import clock
from shared.dal.base import ticket_pk
from shared.dal.items import EventItem, LedgerItem, MessageItem, ReportClockItem, SealedDayItem, TicketItem
from shared.dal.reports import (
    LEDGER_SK,
    LedgerStep,
    ReportOp,
    ReportWriteMemory,
    StoredLedger,
    TicketHistory,
    apply_in_chunks,
    clock_key,
    clock_keys,
    dimension_key,
    pack,
    unpack,
)
from shared.dal.tickets import event_from_item, message_from_item, ticket_from_item
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
from tests.fakes.table import (
    Change,
    Condition,
    Item,
    MemoryStore,
    absent,
    always,
    as_model,
    delete_op,
    put_op,
    update_op,
)


def _op_change(op: ReportOp) -> Change:
    def edit(item: Item) -> None:
        item["entity"] = "report_day"
        item["v"] = int(item.get("v", 0)) + 1
        for name, number in op.adds.items():
            item[name] = int(item.get(name, 0)) + number

    return update_op((op.pk, op.sk), "report", always, edit)


def _value_change(dimension: str, value: str) -> Change:
    def edit(item: Item) -> None:
        item.update(entity="report_dimension", dimension=dimension, value=value)

    return update_op(dimension_key(dimension, value), "value", always, edit)


def _ledger_condition(step: LedgerStep) -> Condition:
    if step.index == 0:
        if step.fresh:
            return absent
        return lambda item: (
            item is not None and int(item.get("rev", 0)) == step.rev and not item.get("pending")
        )
    return lambda item: (
        item is not None and int(item.get("rev", 0)) == step.rev and item.get("step") == step.index
    )


def _ledger_change(ticket_id: str, step: LedgerStep) -> Change:
    def edit(item: Item) -> None:
        item["entity"] = "ledger"
        if step.final:
            item.update(ledger=pack(step.ledger), version=step.ledger.version, rev=step.rev + 1)
            item.pop("pending", None)
            item.pop("step", None)
        else:
            item["step"] = step.index + 1
            if step.index == 0:
                item.update(pending=pack(step.ledger), rev=step.rev)

    return update_op((ticket_pk(ticket_id), LEDGER_SK), "ledger", _ledger_condition(step), edit)


class MemoryReports(MemoryStore):
    """ReportStore and TicketHistoryReads on the in-memory table."""

    @cached_property
    def report_memory(self) -> ReportWriteMemory:
        return ReportWriteMemory()

    def record_report_freshness(self, stream_at: datetime, processed_at: datetime) -> None:
        memory, second = self.report_memory, stream_at.replace(microsecond=0)
        if not memory.clock_due(second):
            return
        at = clock.iso(second)
        pk, sk = clock_key(memory.next_clock)
        item = ReportClockItem(pk=pk, sk=sk, stream_at=at, processed_at=clock.iso(processed_at))

        def newer(current: Item | None) -> bool:
            return current is None or str(current["stream_at"]) < at

        self.table.transact([put_op(item, "clock", newer)])
        memory.clock_written(second)

    def report_freshness(self) -> Freshness:
        items = [item for key in clock_keys() if (item := self.table.get(key)) is not None]
        if not items:
            return Freshness()
        item = max(items, key=lambda i: str(i["stream_at"]))
        stream_at = clock.parse_iso(str(item["stream_at"]))
        processed_at = clock.parse_iso(str(item["processed_at"]))
        return Freshness(stream_at, max(0.0, (processed_at - stream_at).total_seconds()))

    def stored_ledger(self, ticket_id: str) -> StoredLedger | None:
        item = self.table.get((ticket_pk(ticket_id), LEDGER_SK))
        if item is None:
            return None
        model = as_model(LedgerItem, item)
        return StoredLedger(
            unpack(model.ledger), int(model.rev or 0), unpack(model.pending), int(model.step or 0)
        )

    def apply_ledger(
        self,
        ticket_id: str,
        stored: StoredLedger | None,
        ledger: MetricLedger,
        deltas: Sequence[ReportDelta],
        values: Sequence[tuple[str, str]],
    ) -> bool:
        unknown = self.report_memory.unknown_values(values, self.dimension_values)
        for dimension, value in unknown:
            self.table.transact([_value_change(dimension, value)])
        self.report_memory.values_written(unknown)
        return apply_in_chunks(
            stored, ledger, deltas, values, lambda ops, step: self._transact_chunk(ticket_id, ops, step)
        )

    def _transact_chunk(self, ticket_id: str, ops: list[ReportOp], step: LedgerStep) -> bool:
        changes = [_op_change(op) for op in ops]
        return not self.table.transact([*changes, _ledger_change(ticket_id, step)])

    def report_days(self, dimension: str, value: str, first: date, last: date) -> list[ReportDay]:
        return [read for read, _, _ in self._days(dimension, value, first, last)]

    def _days(
        self, dimension: str, value: str, first: date, last: date
    ) -> list[tuple[ReportDay, Item | None, int]]:
        """Per day: the sum of its items, its live item and its sealed item's `rev` (0: none)."""
        days: dict[date, tuple[ReportDay, Item | None, int]] = {}
        for item in self.table.partition(report_pk(dimension, value), "DAY#"):
            sk = str(item["sk"])
            if not day_sk(first) <= sk <= sealed_sk(last):
                continue
            day = date.fromisoformat(sk.removeprefix("DAY#").removesuffix(SEALED_SUFFIX))
            read, live, rev = days.get(day, (ReportDay(dimension, value, day), None, 0))
            if sk.endswith(SEALED_SUFFIX):
                part = sealed_day(dimension, value, day, bytes(item["blob"]))
                days[day] = (combined(part, read), live, int(item["rev"]))
            else:
                numbers = {k: v for k, v in item.items() if isinstance(v, int) and not isinstance(v, bool)}
                part = report_day_from_attributes(dimension, value, day, numbers)
                days[day] = (combined(read, part), item, rev)
        return [days[day] for day in sorted(days)]

    def seal_days(self, dimension: str, value: str, first: date, last: date) -> SealOutcome:
        outcome = SealOutcome()
        pk = report_pk(dimension, value)
        for read, live, rev in self._days(dimension, value, first, last):
            if live is None:
                continue
            sealed = SealedDayItem(pk=pk, sk=sealed_sk(read.day), blob=seal(read), rev=rev + 1)
            version = live.get("v")

            def unchanged(item: Item | None, version: object = version) -> bool:
                return item is not None and item.get("v") == version

            def same_rev(item: Item | None, rev: int = rev) -> bool:
                return int(item["rev"]) == rev if item is not None else rev == 0

            failed = self.table.transact(
                [delete_op((pk, day_sk(read.day)), "live", unchanged), put_op(sealed, "sealed", same_rev)]
            )
            if failed:
                outcome.contended += 1
            else:
                outcome.sealed += 1
        return outcome

    def dimension_values(self, dimension: str) -> list[str]:
        pk, _ = dimension_key(dimension, "")
        return sorted(str(item["value"]) for item in self.table.partition(pk, "VALUE#"))

    def ticket_history(self, ticket_id: str) -> TicketHistory | None:
        pk = ticket_pk(ticket_id)
        item = self.table.get((pk, "TICKET"))
        if item is None:
            return None
        events = [event_from_item(as_model(EventItem, i)) for i in self.table.partition(pk, "EVENT#")]
        messages = [message_from_item(as_model(MessageItem, i)) for i in self.table.partition(pk, "MSG#")]
        return TicketHistory(ticket_from_item(as_model(TicketItem, item)), events, messages)
