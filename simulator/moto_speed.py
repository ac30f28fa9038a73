"""moto made to cost what a request touches, not what the table holds, with the same results.

moto's TransactWriteItems deep-copies every table it names before it starts, to put it back if the
transaction is cancelled. The copy holds every item and every stream record ever written, so each
transaction costs the whole table: a simulated day of a few dozen tickets (each change projected
into views, search and report aggregates by transactions) grew to minutes and gigabytes, and a
week was out of reach. `item_level_rollback` copies only the items the transaction names, and the
length of each table's stream, and on a cancellation puts those items back and drops the stream
records written meanwhile: the table and its stream end as moto's own rollback leaves them.

moto also sorts every item of the table for each Query, comparing `DynamoType`s in Python (a cast
per comparison). `fast_item_order` sorts by the keys' plain values instead: the same order, a
fraction of the time; and `partition_queries` gives a Query on the table only its partition's
items (moto keeps them by partition key already), and a Query on an index the items unsorted (it
sorts its matches itself): a Query then costs its partition, or one pass over the table, not a sort
of the whole table.

moto's JSON serializer writes each DynamoDB `AttributeValue` of an answer member by member, looking
each of its ten members up through its alias rules: a month of simulated traffic spent most of its
time serializing stream records and Query answers. `plain_attribute_values` copies an attribute
value that is already in wire form (as moto's items give them), base64-encoding binary values as
moto does; anything else still goes through moto's serializer. The answers are the same
(tests/unit/test_moto_speed.py compares them).

`faster_moto` applies all of them.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import types
from collections.abc import Iterator
from typing import Any
from unittest import mock

_WALK: contextvars.ContextVar[Any] = contextvars.ContextVar("moto_speed_walk", default=None)
"""Within a Query: the partition key whose items the walk is given, or `_INDEX` (every item,
unsorted)."""
_INDEX = object()


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
        walk = _WALK.get()
        if walk is not None and walk is not _INDEX:
            return list(table.items.get(walk, {}).values())
        items: list[Any] = []
        for hash_set in table.items.values():
            if table.range_key_attr:
                items.extend(hash_set.values())
            else:
                items.append(hash_set)
        return items if walk is _INDEX else sorted(items, key=_key_values)

    with mock.patch.object(Table, "all_items", all_items):
        yield


@contextlib.contextmanager
def partition_queries() -> Iterator[None]:
    """Within it (and `fast_item_order`), a Query on the table walks its partition only, and one on
    an index walks the items unsorted; range keys of strings and binary compare as plain values.
    What a Query answers is unchanged."""
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    original_query = Table.query
    original_lt = DynamoType.__lt__

    def query(table: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        # moto passes index_name eighth, by position (models/__init__.py DynamoDBBackend.query)
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        on_table = index_name is None and hash_key is not None and table.range_key_attr
        token = _WALK.set(hash_key if on_table else _INDEX)
        try:
            return original_query(table, hash_key, *args, **kwargs)
        finally:
            _WALK.reset(token)

    def less(self: Any, other: Any) -> bool:
        if self.type == other.type and self.type in ("S", "B"):
            return bool(self.value < other.value)
        return bool(original_lt(self, other))

    with mock.patch.object(Table, "query", query), mock.patch.object(DynamoType, "__lt__", less):
        yield


_SCALARS = {"S": str, "N": str, "BOOL": bool, "NULL": bool}


@contextlib.contextmanager
def plain_attribute_values() -> Iterator[None]:
    """Within it, moto's JSON serializer copies DynamoDB attribute values already in wire form."""
    from moto.core.serialize import JSONSerializer

    original = JSONSerializer._serialize_type_structure

    def structure(serializer: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if key and shape.name == "AttributeValue":
            wire = _wire(serializer, value)
            if wire is not None:
                serialized[serializer.get_serialized_name(shape, key)] = wire
                return
        original(serializer, serialized, value, shape, key)

    with mock.patch.object(JSONSerializer, "_serialize_type_structure", structure):
        yield


def _wire(serializer: Any, value: Any) -> dict[str, Any] | None:
    """`value` as moto's serializer writes it, or None if it is not a plain attribute value."""
    if type(value) is not dict or len(value) != 1:
        return None
    [(kind, inner)] = value.items()
    if kind in _SCALARS:
        return {kind: inner} if type(inner) is _SCALARS[kind] else None
    if kind == "B" and isinstance(inner, str | bytes):
        return {kind: serializer._base64(inner)}
    if kind in ("SS", "NS", "BS") and type(inner) is list:
        wanted = (str, bytes) if kind == "BS" else (str,)
        if not all(isinstance(v, wanted) for v in inner):
            return None
        return {kind: [serializer._base64(v) for v in inner] if kind == "BS" else list(inner)}
    if kind in ("M", "L"):
        parts = inner.values() if type(inner) is dict else inner if type(inner) is list else None
        wires = [_wire(serializer, v) for v in parts] if parts is not None else [None]
        if any(w is None for w in wires):
            return None
        return {kind: dict(zip(inner, wires, strict=True)) if kind == "M" else wires}
    return None


def _key_values(item: Any) -> tuple[Any, ...]:
    hash_key = item.hash_key.cast_value
    return (hash_key, item.range_key.cast_value) if item.range_key else (hash_key,)


@contextlib.contextmanager
def faster_moto() -> Iterator[None]:
    """All: transactions, queries and answers at the cost of what they touch, results unchanged."""
    with item_level_rollback(), fast_item_order(), partition_queries(), plain_attribute_values():
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
