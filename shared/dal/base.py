"""What every aggregate's store shares: the table binding, one conditional transaction, and the
classification of DynamoDB's refusals into retryable and permanent."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.transactions import TransactWrite

from shared import clock
from shared.dal.items import (
    PointerItem,
    TicketItem,
    bind_table,
)
from shared.dal.pointers import Pointer, never_back, pointer_item
from shared.errors import ConflictError, HelpdeskError, PermanentWriteError


class DuplicateError(HelpdeskError):
    """The inbound message was stored before (its dedupe key or message reference exists)."""


def iso_or_none(value: datetime | None) -> str | None:
    return clock.iso(value) if value is not None else None


def parse_or_none(value: str | None) -> datetime | None:
    return clock.parse_iso(value) if value else None


def ticket_pk(ticket_id: str) -> str:
    return f"TICKET#{ticket_id}"


def cancellation_codes(exc: TransactWriteError) -> list[str | None]:
    reasons = exc.cancellation_reasons or []
    return [reason.code if reason is not None and reason.code != "None" else None for reason in reasons]


RETRYABLE_CANCELLATIONS = frozenset(
    {"ConditionalCheckFailed", "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)
"""Cancellation reasons another try can get past: a lost race, a conflicting transaction, throttling.
Every other reason (ValidationError, ItemCollectionSizeLimitExceeded, ...) is permanent."""


PERMANENT_RESPONSE_CODES = frozenset(
    {"ValidationException", "SerializationException", "ItemCollectionSizeLimitExceededException"}
)
"""Whole-request errors DynamoDB gives for input it will never accept (an item over 400 KB, a key
over its size limit, a string that is not valid UTF-8)."""


def permanent_reason(exc: PynamoDBException) -> str | None:
    """Why DynamoDB refused a write for good, or None when another try may succeed."""
    code = exc.cause_response_code
    if code in PERMANENT_RESPONSE_CODES:
        return f"{code}: {(exc.cause_response_message or '')[:300]}"
    if isinstance(exc, TransactWriteError):
        refused = [
            f"{reason.code}: {(reason.message or '')[:300]}"
            for reason in exc.cancellation_reasons or []
            if reason is not None and reason.code not in (None, "None", *RETRYABLE_CANCELLATIONS)
        ]
        if refused:
            return "; ".join(refused)
    return None


def raise_if_permanent(exc: PynamoDBException) -> None:
    reason = permanent_reason(exc)
    if reason is not None:
        raise PermanentWriteError(f"DynamoDB refused the write: {reason}") from exc


class Table:
    """The single table, bound once per process; the stores of every aggregate extend it."""

    def __init__(self, table_name: str, region: str, host: str | None = None) -> None:
        bind_table(table_name, region, host)
        self.table_name = table_name

    @property
    def connection(self) -> Connection:
        return TicketItem._get_connection().connection

    def _write(
        self,
        puts: Iterable[tuple[Any, Any]],
        pointers: Sequence[Pointer],
        at: str,
        update: tuple[TicketItem, list[Any], Any] | None = None,
        duplicate_pointer_kinds: frozenset[str] = frozenset({"inbound", "ref"}),
        upserts: Sequence[Pointer] = (),
        extra_updates: Sequence[tuple[Any, list[Any], Any]] = (),
    ) -> None:
        # PynamoDB sends puts before updates: `operations` names each item in that order, so a
        # cancellation reason can be traced to the item it concerns.
        operations: list[str] = []
        try:
            with TransactWrite(connection=self.connection) as transaction:
                for pointer in pointers:
                    transaction.save(pointer_item(pointer, at), condition=PointerItem.pk.does_not_exist())
                    operations.append(pointer.kind)
                for pointer in upserts:
                    transaction.save(pointer_item(pointer, at), condition=never_back(pointer))
                    operations.append("upsert")
                for item, condition in puts:
                    transaction.save(item, condition=condition)
                    operations.append("put")
                for item, actions, condition in extra_updates:
                    transaction.update(item, actions=actions, condition=condition)
                    operations.append("update")
                if update is not None:
                    item, actions, condition = update
                    transaction.update(item, actions=actions, condition=condition)
                    operations.append("ticket")
        except UnicodeEncodeError as exc:  # a lone surrogate: no encoding can send it
            raise PermanentWriteError(f"a value is not valid Unicode text: {exc}") from exc
        except TransactWriteError as exc:
            raise_if_permanent(exc)
            codes = cancellation_codes(exc)
            failed = [operations[i] for i, code in enumerate(codes) if code == "ConditionalCheckFailed"]
            if failed and all(kind in duplicate_pointer_kinds for kind in failed):
                raise DuplicateError(f"already stored ({', '.join(failed)})") from exc
            raise ConflictError(f"concurrent write ({', '.join(failed) or 'transaction'})") from exc


def partition_page(
    model: Any, partition: str, prefix: str, limit: int, forward: bool, after: str | None = None
) -> tuple[list[Any], str | None]:
    """One page of a partition's items whose sort key starts with `prefix`, after the sort key
    `after`: at most `limit` items (one more is asked for to know whether another page follows),
    and the last one's sort key when it does."""
    start = {"pk": {"S": partition}, "sk": {"S": after}} if after is not None else None
    items = list(
        model.query(
            partition,
            model.sk.startswith(prefix),
            scan_index_forward=forward,
            last_evaluated_key=start,
            limit=limit + 1,
            page_size=limit + 1,
        )
    )
    page = items[:limit]
    return page, (str(page[-1].sk) if len(items) > limit else None)
