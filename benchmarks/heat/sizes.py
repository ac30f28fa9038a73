"""DynamoDB item sizes and capacity units, by the rules of the DynamoDB developer guide.

Item size ("DynamoDB item sizes and formats",
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html): the
sum over attributes of the UTF-8 bytes of the name plus the value's size. A string is its UTF-8
bytes; a number 1 byte per two significant digits (leading and trailing zeros trimmed) plus 1; a
binary value its raw bytes; null and Boolean 1 byte; a list or map 3 bytes plus its elements, each
element 1 byte more (a map element's size includes its name). Sets are counted as the sum of their
members (the guide gives no overhead for them).

Capacity ("DynamoDB read and write operations",
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html): a
write unit per 1 KB of the item, rounded up (for an update, the larger of the item before and after);
a read unit per 4 KB (a Query or Scan page: its items' total, rounded up once), half for an
eventually consistent read; transactional reads and writes cost double. A global secondary index
entry is the item's projected attributes, its table and index keys, and 100 bytes of overhead; a
write to the table costs the index a put, a delete, both (the index key changed) or an update (a
projected attribute changed), and nothing when the item is in the index neither before nor after
("Provisioned throughput considerations for Global Secondary Indexes").
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
INDEX_ENTRY_OVERHEAD = 100
MAX_ITEM_BYTES = 400 * 1024

Item = Mapping[str, Mapping[str, Any]]
"""An item in the wire format: {"name": {"S": "value"}}."""


def number_size(text: str) -> int:
    """Bytes of a number: 1 per two significant digits, plus 1."""
    digits = text.lstrip("+-").lower()
    if "e" in digits:  # scientific notation: the mantissa's digits are the significant ones
        digits = digits.split("e", 1)[0]
    digits = digits.replace(".", "").lstrip("0").rstrip("0")
    return math.ceil(max(1, len(digits)) / 2) + 1


def _binary_len(value: Any) -> int:
    if isinstance(value, bytes | bytearray):
        return len(value)
    return len(base64.b64decode(value))  # the wire form is base64 text


def value_size(value: Mapping[str, Any]) -> int:
    """Bytes of one attribute value (without its name)."""
    [(kind, content)] = value.items()
    if kind == "S":
        return len(str(content).encode("utf-8"))
    if kind == "N":
        return number_size(str(content))
    if kind == "B":
        return _binary_len(content)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(s).encode("utf-8")) for s in content)
    if kind == "NS":
        return sum(number_size(str(n)) for n in content)
    if kind == "BS":
        return sum(_binary_len(b) for b in content)
    if kind == "L":
        return 3 + sum(value_size(element) + 1 for element in content)
    if kind == "M":
        return 3 + sum(
            len(name.encode("utf-8")) + value_size(element) + 1 for name, element in content.items()
        )
    raise ValueError(f"unknown attribute type {kind!r}")


def item_size(item: Item | None) -> int:
    """Bytes of an item (0 for no item)."""
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def write_units(size: int, transactional: bool = False) -> int:
    """Write units of one write of an item of `size` bytes (at least one)."""
    units = max(1, math.ceil(size / WRITE_UNIT_BYTES))
    return units * 2 if transactional else units


def read_units(size: int, consistent: bool = False, transactional: bool = False) -> float:
    """Read units of one read of `size` bytes (an item, or a Query page's total; at least one 4 KB step)."""
    steps = max(1, math.ceil(size / READ_UNIT_BYTES))
    if transactional:
        return float(steps * 2)
    return float(steps) if consistent else steps / 2


def batch_read_units(sizes: Iterable[int], consistent: bool = False) -> float:
    """BatchGetItem: each item rounded up to 4 KB on its own, then summed."""
    return sum(read_units(size, consistent) for size in sizes)


@dataclass(frozen=True)
class IndexSpec:
    """A global secondary index: its key attributes and projection."""

    name: str
    hash_key: str
    range_key: str | None
    projection: str = "ALL"
    non_key_attributes: tuple[str, ...] = ()


@dataclass(frozen=True)
class IndexWrite:
    """One write a table write costs an index: on which of its partitions, how many units."""

    partition: str
    units: int
    kind: str
    """`put`, `delete` or `update`."""


def _key_value(item: Item | None, name: str | None) -> str | None:
    if not item or name is None or name not in item:
        return None
    [(_, content)] = item[name].items()
    return str(content)


def index_entry(item: Item | None, index: IndexSpec, table_keys: tuple[str, ...]) -> dict[str, Any] | None:
    """The item's entry in the index (its projected attributes), or None when it is not in it."""
    if item is None or index.hash_key not in item or (index.range_key and index.range_key not in item):
        return None
    keys = {index.hash_key, *table_keys, *([index.range_key] if index.range_key else [])}
    if index.projection == "ALL":
        return dict(item)
    names = keys | (set(index.non_key_attributes) if index.projection == "INCLUDE" else set())
    return {name: value for name, value in item.items() if name in names}


def index_entry_size(entry: Mapping[str, Any] | None) -> int:
    return 0 if entry is None else item_size(entry) + INDEX_ENTRY_OVERHEAD


def index_writes(
    before: Item | None, after: Item | None, index: IndexSpec, table_keys: tuple[str, ...]
) -> list[IndexWrite]:
    """The writes a change of an item from `before` to `after` costs the index."""
    old = index_entry(before, index, table_keys)
    new = index_entry(after, index, table_keys)
    old_key = (_key_value(old, index.hash_key), _key_value(old, index.range_key))
    new_key = (_key_value(new, index.hash_key), _key_value(new, index.range_key))
    writes: list[IndexWrite] = []
    if old is not None and new is not None and old_key == new_key:
        if old != new:
            size = max(index_entry_size(old), index_entry_size(new))
            writes.append(IndexWrite(str(new_key[0]), write_units(size), "update"))
        return writes
    if old is not None:
        writes.append(IndexWrite(str(old_key[0]), write_units(index_entry_size(old)), "delete"))
    if new is not None:
        writes.append(IndexWrite(str(new_key[0]), write_units(index_entry_size(new)), "put"))
    return writes


def python_item(item: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A plain Python mapping as a wire item (str, int, Decimal, float, bool, None, bytes, list, dict)."""
    return {name: _wire(value) for name, value in item.items()}


def _wire(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float | Decimal):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bytes):
        return {"B": value}
    if isinstance(value, list):
        return {"L": [_wire(v) for v in value]}
    if isinstance(value, dict):
        return {"M": {k: _wire(v) for k, v in value.items()}}
    raise TypeError(f"no DynamoDB type for {type(value).__name__}")
