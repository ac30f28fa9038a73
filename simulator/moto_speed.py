"""moto made to cost what a request touches, not what the table holds, with the same results.

moto's TransactWriteItems deep-copies every table it names before it starts, to put it back if the
transaction is cancelled. The copy holds every item and every stream record ever written, so each
transaction costs the whole table: a simulated day of a few dozen tickets (each change projected
into views, search and report aggregates by transactions) grew to minutes and gigabytes, and a
week was out of reach. `item_level_rollback` copies only the items the transaction names, and the
length of each table's stream, and on a cancellation puts those items back and drops the stream
records written meanwhile: the table and its stream end as moto's own rollback leaves them.

moto also sorts every item of the table for each Query on an index, comparing `DynamoType`s in
Python (a cast per comparison). `fast_item_order` sorts by the keys' plain values instead: the
same order, a fraction of the time. `faster_moto` applies both.
"""

from __future__ import annotations

import contextlib
import copy
import types
from collections.abc import Iterator
from typing import Any
from unittest import mock


@contextlib.contextmanager
def item_level_rollback() -> Iterator[None]:
    """Within it, moto's TransactWriteItems rolls back item by item (see the module docstring)."""
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    original = models.DynamoDBBackend.transact_write_items

    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    def transact(backend: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = [_saved_item(backend, entry) for entry in transact_items]
        streams = {id(t): (t, len(t.stream_shard.items)) for t, *_ in saved if t.stream_shard is not None}
        try:
            original(backend, transact_items)
        except Exception:
            for table, hash_key, range_key, before in reversed(saved):
                _put_back(table, hash_key, range_key, before)
            for table, length in streams.values():
                del table.stream_shard.items[length:]
            raise

    shim = types.SimpleNamespace(deepcopy=deepcopy)
    with (
        mock.patch.object(models, "copy", shim),
        mock.patch.object(models.DynamoDBBackend, "transact_write_items", transact),
    ):
        yield


@contextlib.contextmanager
def fast_item_order() -> Iterator[None]:
    """moto's `Table.all_items` in the same order (hash key, then range key), sorted on the keys'
    plain values: key attributes are strings, numbers or binary, one type per attribute."""
    from moto.dynamodb.models.table import Table

    def all_items(table: Any) -> list[Any]:
        items: list[Any] = []
        for hash_set in table.items.values():
            if table.range_key_attr:
                items.extend(hash_set.values())
            else:
                items.append(hash_set)
        return sorted(items, key=_key_values)

    with mock.patch.object(Table, "all_items", all_items):
        yield


def _key_values(item: Any) -> tuple[Any, ...]:
    hash_key = item.hash_key.cast_value
    return (hash_key, item.range_key.cast_value) if item.range_key else (hash_key,)


@contextlib.contextmanager
def faster_moto() -> Iterator[None]:
    """Both: transactions and index queries at the cost of what they touch, results unchanged."""
    with item_level_rollback(), fast_item_order():
        yield


def _saved_item(backend: Any, entry: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    """The table an operation of a transaction names, its key, and a copy of the item as it is."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    _, op = next(iter(entry.items()))
    table = backend.get_table(op["TableName"])
    key = op.get("Key") or op["Item"]
    hash_key = DynamoType(key[table.hash_key_attr])
    range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    return table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))


def _put_back(table: Any, hash_key: Any, range_key: Any, before: Any) -> None:
    if range_key is None:
        table.items.pop(hash_key, None)
        if before is not None:
            table.items[hash_key] = before
        return
    table.items[hash_key].pop(range_key, None)
    if before is not None:
        table.items[hash_key][range_key] = before
