"""Capacity units per (table or index, partition key, simulated second), counted at the client.

`Recorder.install()` wraps botocore's `BaseClient._make_api_call` (which boto3 and PynamoDB both go
through) for the DynamoDB operations that read or write items. For a write, the items it names are
read from moto's backend just before and just after the call: the same old and new images the
table's stream records. From them come the table's write units (the larger of the two, 1 KB steps,
doubled in a transaction) and each global secondary index's writes by its projection
(`sizes.index_writes`). A write refused by its condition still costs the table its units (DynamoDB
charges a failed conditional write); a cancelled transaction costs the table its units, its
indexes nothing. Reads are sized by the full items read (a projection does not make a read cheaper):
GetItem, BatchGetItem and TransactGetItems per item; a Query or Scan page by its items' total,
rounded up once; items a filter dropped count at the page's mean item size.

The second is the simulated clock's (`shared.clock`), so the buckets are simulated time.
"""

from __future__ import annotations

import contextlib
import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from benchmarks.heat.sizes import (
    IndexSpec,
    Item,
    batch_read_units,
    index_writes,
    item_size,
    read_units,
    write_units,
)

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
READS = {"GetItem", "BatchGetItem", "TransactGetItems", "Query", "Scan"}
SCAN_PARTITION = "(whole table)"


@dataclass
class Usage:
    """What one partition key consumed in one second."""

    wcu: float = 0.0
    rcu: float = 0.0
    writes: int = 0
    reads: int = 0
    items_read: int = 0
    """Items Query and Scan pages returned."""


@dataclass
class TableSpec:
    name: str
    hash_key: str
    range_key: str | None
    indexes: list[IndexSpec]

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.hash_key, *([self.range_key] if self.range_key else []))


@dataclass
class BiggestItem:
    size: int
    partition: str
    sort_key: str | None


@dataclass
class Recorder:
    """Buckets of units by (resource, partition, second); `resource` is a table, or `table/index`."""

    now: Callable[[], datetime]
    backend: Callable[[], Any]
    """moto's DynamoDB backend of the simulated account and region."""
    usage: dict[tuple[str, str, int], Usage] = field(default_factory=lambda: defaultdict(Usage))
    biggest: dict[tuple[str, str], BiggestItem] = field(default_factory=dict)
    """The largest item seen, by (table, item kind): the kind is the sort key's prefix."""
    operations: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    failed_writes: int = 0
    paused: bool = False
    """While True, calls go through uncounted (the simulator reading its final state)."""
    _tables: dict[str, TableSpec | None] = field(default_factory=dict)
    _busy: bool = False

    # -- installing ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def install(self) -> Iterator[Recorder]:
        original = BaseClient._make_api_call  # type: ignore[attr-defined]
        recorder = self

        def recorded(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            if (
                recorder._busy
                or recorder.paused
                or client.meta.service_model.service_name != "dynamodb"
                or (operation not in WRITES and operation not in READS)
            ):
                return original(client, operation, params)
            recorder._busy = True
            try:
                return recorder._call(lambda: original(client, operation, params), operation, params)
            finally:
                recorder._busy = False

        BaseClient._make_api_call = recorded  # type: ignore[attr-defined]
        try:
            yield self
        finally:
            BaseClient._make_api_call = original  # type: ignore[attr-defined]

    # -- tables -------------------------------------------------------------------------------
    def table(self, name: str) -> TableSpec | None:
        if name not in self._tables:
            self._tables[name] = self._describe(name)
        return self._tables[name]

    def _describe(self, name: str) -> TableSpec | None:
        try:
            table = self.backend().get_table(name)
        except Exception:
            return None
        indexes = []
        for index in table.global_indexes:
            schema = {k["KeyType"]: k["AttributeName"] for k in index.schema}
            projection = index.projection or {}
            indexes.append(
                IndexSpec(
                    index.name,
                    schema["HASH"],
                    schema.get("RANGE"),
                    projection.get("ProjectionType", "ALL"),
                    tuple(projection.get("NonKeyAttributes", ())),
                )
            )
        return TableSpec(name, table.hash_key_attr, table.range_key_attr, indexes)

    def _item(self, table: str, key: Mapping[str, Any]) -> Item | None:
        found = self.backend().get_item(table, dict(key))
        if found is None:
            return None
        attributes: Item = found.to_json()["Attributes"]
        return attributes

    def _key_of(self, spec: TableSpec, item: Mapping[str, Any]) -> dict[str, Any] | None:
        if any(k not in item for k in spec.keys):
            return None
        return {k: item[k] for k in spec.keys}

    # -- counting -----------------------------------------------------------------------------
    def _second(self) -> int:
        return int(self.now().timestamp())

    def add(
        self, resource: str, partition: str, *, wcu: float = 0.0, rcu: float = 0.0, items: int = 0
    ) -> None:
        usage = self.usage[(resource, partition, self._second())]
        usage.wcu += wcu
        usage.rcu += rcu
        usage.writes += 1 if wcu else 0
        usage.reads += 1 if rcu else 0
        usage.items_read += items

    def _call(self, call: Callable[[], Any], operation: str, params: dict[str, Any]) -> Any:
        self.operations[operation] += 1
        if operation in WRITES:
            return self._write(call, operation, params)
        response = call()
        self._read(operation, params, response)
        return response

    def _targets(
        self, operation: str, params: dict[str, Any]
    ) -> list[tuple[str, dict[str, Any], Item | None]]:
        """(table, key, item put) of each item a write names."""
        targets: list[tuple[str, dict[str, Any], Item | None]] = []

        def add(table: str, key: Mapping[str, Any] | None, put: Item | None) -> None:
            spec = self.table(table)
            if spec is None:
                return
            if key is None and put is not None:
                key = self._key_of(spec, put)
            if key is not None:
                targets.append((table, dict(key), put))

        if operation == "PutItem":
            add(params["TableName"], None, params["Item"])
        elif operation in ("UpdateItem", "DeleteItem"):
            add(params["TableName"], params["Key"], None)
        elif operation == "TransactWriteItems":
            for entry in params["TransactItems"]:
                [(kind, body)] = entry.items()
                add(body["TableName"], body.get("Key"), body.get("Item") if kind == "Put" else None)
        else:  # BatchWriteItem
            for table, requests in params["RequestItems"].items():
                for request in requests:
                    if "PutRequest" in request:
                        add(table, None, request["PutRequest"]["Item"])
                    else:
                        add(table, request["DeleteRequest"]["Key"], None)
        return targets

    def _write(self, call: Callable[[], Any], operation: str, params: dict[str, Any]) -> Any:
        targets = self._targets(operation, params)
        before = [self._item(table, key) for table, key, _ in targets]
        transactional = operation == "TransactWriteItems"
        try:
            response = call()
        except ClientError:
            self.failed_writes += 1
            for (table, key, put), old in zip(targets, before, strict=True):
                spec = self.table(table)
                assert spec is not None
                size = max(item_size(old), item_size(put))
                self.add(table, _text(key[spec.hash_key]), wcu=write_units(size, transactional))
            raise
        for (table, key, _), old in zip(targets, before, strict=True):
            new = self._item(table, key)
            spec = self.table(table)
            assert spec is not None
            partition = _text(key[spec.hash_key])
            self.add(table, partition, wcu=write_units(max(item_size(old), item_size(new)), transactional))
            if new is not None:
                self._note_size(spec, new)
            for index in spec.indexes:
                for write in index_writes(old, new, index, spec.keys):
                    self.add(f"{table}/{index.name}", write.partition, wcu=write.units)
        return response

    def _note_size(self, spec: TableSpec, item: Item) -> None:
        sort_key = _text(item[spec.range_key]) if spec.range_key and spec.range_key in item else None
        kind = item_kind(sort_key or "") or item_kind(_text(item[spec.hash_key]))
        size = item_size(item)
        known = self.biggest.get((spec.name, kind))
        if known is None or size > known.size:
            self.biggest[(spec.name, kind)] = BiggestItem(size, _text(item[spec.hash_key]), sort_key)

    def _full_size(self, spec: TableSpec, item: Mapping[str, Any]) -> int:
        key = self._key_of(spec, item)
        full = self._item(spec.name, key) if key is not None else None
        return item_size(full if full is not None else item)

    def _read(self, operation: str, params: dict[str, Any], response: dict[str, Any]) -> None:
        if operation == "GetItem":
            spec = self.table(params["TableName"])
            if spec is None:
                return
            size = item_size(self._item(spec.name, params["Key"]))
            units = read_units(size, consistent=bool(params.get("ConsistentRead")))
            self.add(spec.name, _text(params["Key"][spec.hash_key]), rcu=units)
        elif operation == "BatchGetItem":
            for table, request in params["RequestItems"].items():
                spec = self.table(table)
                if spec is None:
                    continue
                for key in request["Keys"]:
                    size = item_size(self._item(table, key))
                    units = batch_read_units([size], consistent=bool(request.get("ConsistentRead")))
                    self.add(table, _text(key[spec.hash_key]), rcu=units)
        elif operation == "TransactGetItems":
            for entry in params["TransactItems"]:
                body = entry["Get"]
                spec = self.table(body["TableName"])
                if spec is None:
                    continue
                size = item_size(self._item(spec.name, body["Key"]))
                self.add(
                    spec.name, _text(body["Key"][spec.hash_key]), rcu=read_units(size, transactional=True)
                )
        else:
            self._page(operation, params, response)

    def _page(self, operation: str, params: dict[str, Any], response: dict[str, Any]) -> None:
        spec = self.table(params["TableName"])
        if spec is None:
            return
        items = response.get("Items") or []
        sizes = [self._full_size(spec, item) for item in items]
        dropped = max(
            0, int(response.get("ScannedCount", len(items))) - int(response.get("Count", len(items)))
        )
        if dropped and sizes:
            sizes.append(round(dropped * sum(sizes) / len(sizes)))
        index_name = params.get("IndexName")
        resource = f"{spec.name}/{index_name}" if index_name else spec.name
        if operation == "Scan":
            partition = SCAN_PARTITION
        else:
            hash_key = spec.hash_key
            if index_name:
                hash_key = next(i.hash_key for i in spec.indexes if i.name == index_name)
            partition = query_partition(params, hash_key)
        units = read_units(sum(sizes), consistent=bool(params.get("ConsistentRead")))
        self.add(resource, partition, rcu=units, items=len(items))


_EQUALS = re.compile(r"([#\w.]+)\s*=\s*(:[\w]+)")


def query_partition(params: Mapping[str, Any], hash_key: str) -> str:
    """The partition key value a Query's key condition names."""
    names = params.get("ExpressionAttributeNames") or {}
    values = params.get("ExpressionAttributeValues") or {}
    for name, placeholder in _EQUALS.findall(params.get("KeyConditionExpression", "")):
        if names.get(name, name) == hash_key and placeholder in values:
            return _text(values[placeholder])
    for name, condition in (params.get("KeyConditions") or {}).items():
        if name == hash_key:
            return _text(condition["AttributeValueList"][0])
    return "(unknown)"


def _text(value: Mapping[str, Any]) -> str:
    [(_, content)] = value.items()
    return str(content)


_KIND = re.compile(r"^([A-Za-z_]+)")


def item_kind(sort_key: str) -> str:
    """`MSG#2026-...#msg_1` -> `MSG`, `TICKET` -> `TICKET`: what kind of item a key names ("" when it
    starts with no letter, e.g. a time)."""
    match = _KIND.match(sort_key)
    return match.group(1) if match else ""
