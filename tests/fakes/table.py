"""The one in-memory table every fake store shares: items by key, their secondary indexes, and
transactions that check every condition before applying any change.

Items are kept as DynamoDB would keep them: the attributes the store's own item mapping writes
(`shared.dal` builds the pynamodb item, its serialised form is stored), read back through the same
mapping. Only the storage, the conditions and the indexes are imitated here."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pynamodb.models import Model

from shared.dal.base import DuplicateError
from shared.dal.pointers import Pointer, pointer_item
from shared.errors import ConflictError, PermanentWriteError

Key = tuple[str, str]
Item = dict[str, Any]
Condition = Callable[[Item | None], bool]
Apply = Callable[[Item | None], Item | None]
M = TypeVar("M", bound=Model)


def always(_: Item | None) -> bool:
    return True


def exists(item: Item | None) -> bool:
    return item is not None


def absent(item: Item | None) -> bool:
    return item is None


def lacks(*names: str) -> Condition:
    """`attribute_not_exists` of every name (a missing item lacks them all)."""
    return lambda item: item is None or all(item.get(name) is None for name in names)


def both(first: Condition, second: Condition) -> Condition:
    """Both conditions (`AND`)."""
    return lambda item: first(item) and second(item)


def equals(name: str, value: Any) -> Condition:
    """`name = value` (false on a missing item or attribute)."""
    return lambda item: item is not None and item.get(name) == value


def stored(model: Model) -> Item:
    """The attributes a put of `model` leaves in the table (serialised and read back, None dropped)."""
    raw = model.serialize()
    values = type(model).from_raw_data(raw).attribute_values
    return {name: value for name, value in values.items() if value is not None}


def as_model(cls: type[M], item: Item) -> M:
    """An item read back as its pynamodb class, the way a GetItem or Query would build it."""
    return cls(_user_instantiated=False, **copy.deepcopy(item))


def key_of(model: Model) -> Key:
    values = model.attribute_values
    return (str(values["pk"]), str(values["sk"]))


MAX_ITEM_BYTES = 400 * 1024
"""DynamoDB's item size limit."""


def value_size(value: Any) -> int:
    """A stored value's size as DynamoDB (and moto) count it: strings in UTF-8 bytes, numbers by
    their digits, JSON attributes as their JSON text (approximate, exact enough far from the limit)."""
    if isinstance(value, bool):
        return 1
    if isinstance(value, int | float):
        return len(str(value))
    if isinstance(value, list):
        return sum(value_size(element) for element in value)
    if isinstance(value, dict):
        return len(json.dumps(value).encode("utf-8", "surrogatepass"))
    return len(str(value).encode("utf-8", "surrogatepass"))


def _texts(value: Any) -> Iterator[str]:
    """The strings DynamoDB receives as text: not those inside a JSON attribute (a dict here), which
    pynamodb sends as ASCII JSON with every non-ASCII character escaped."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for element in value:
            yield from _texts(element)


def refuse_permanently(item: Item) -> None:
    """What `Table._write` reports as a PermanentWriteError: text that is not valid Unicode (a lone
    surrogate) and an item over 400 KB."""
    for text in (text for value in item.values() for text in _texts(value)):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise PermanentWriteError(f"a value is not valid Unicode text: {exc}") from exc
    size = sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())
    if size > MAX_ITEM_BYTES:
        raise PermanentWriteError(
            "DynamoDB refused the write: ValidationException: Item size has exceeded the maximum allowed size"
        )


@dataclass
class Change:
    """One operation of a transaction: its item, a label for errors, its condition and its effect."""

    key: Key
    label: str
    condition: Condition
    apply: Apply


def put_op(model: Model, label: str = "put", condition: Condition = always) -> Change:
    item = stored(model)
    return Change(key_of(model), label, condition, lambda _: copy.deepcopy(item))


def update_op(key: Key, label: str, condition: Condition, edit: Callable[[Item], None]) -> Change:
    """An UpdateItem: `edit` changes a copy of the item (a new one, keys only, when it is missing,
    as DynamoDB creates an item an update's condition lets through)."""

    def apply(current: Item | None) -> Item:
        item = copy.deepcopy(current) if current is not None else {"pk": key[0], "sk": key[1]}
        edit(item)
        return {name: value for name, value in item.items() if value is not None}

    return Change(key, label, condition, apply)


def delete_op(key: Key, label: str = "delete", condition: Condition = always) -> Change:
    return Change(key, label, condition, lambda _: None)


@dataclass
class MemoryTable:
    """The items of the single table, by (pk, sk)."""

    items: dict[Key, Item] = field(default_factory=dict)

    def get(self, key: Key) -> Item | None:
        item = self.items.get(key)
        return copy.deepcopy(item) if item is not None else None

    def transact(self, changes: Sequence[Change]) -> list[str]:
        """Apply all changes or none: the labels of the failed conditions (empty: applied).
        PermanentWriteError when an item would be one DynamoDB never stores (nothing is applied)."""
        failed = [change.label for change in changes if not change.condition(self.items.get(change.key))]
        if failed:
            return failed
        staged: dict[Key, Item | None] = {}
        for change in changes:
            staged[change.key] = change.apply(
                staged[change.key] if change.key in staged else self.items.get(change.key)
            )
        for item in staged.values():
            if item is not None:
                refuse_permanently(item)
        for key, result in staged.items():
            if result is None:
                self.items.pop(key, None)
            else:
                self.items[key] = result
        return []

    def partition(self, pk: str, prefix: str = "") -> list[Item]:
        """The items of one partition whose sort key starts with `prefix`, in sort key order."""
        found = [item for (p, s), item in self.items.items() if p == pk and s.startswith(prefix)]
        return [copy.deepcopy(item) for item in sorted(found, key=lambda item: str(item["sk"]))]

    def query_index(
        self,
        index: str,
        pk: str,
        *,
        at_most: str | None = None,
        below: str | None = None,
        newest_first: bool = False,
    ) -> list[Item]:
        """A Query of `gsi1` or `gsi2`: the items of partition `pk` (sparse: only items with both
        keys), by sort key, optionally at most `at_most` or strictly before `below` in query order."""
        hash_name, range_name = f"{index}pk", f"{index}sk"
        found = [
            item
            for item in self.items.values()
            if item.get(hash_name) == pk
            and item.get(range_name) is not None
            and (at_most is None or str(item[range_name]) <= at_most)
        ]
        found.sort(key=lambda item: str(item[range_name]), reverse=newest_first)
        if below is not None:
            found = [
                item
                for item in found
                if (str(item[range_name]) < below if newest_first else str(item[range_name]) > below)
            ]
        return [copy.deepcopy(item) for item in found]


def never_back(pointer: Pointer) -> Condition:
    """`shared.dal.pointers.never_back`: a pointer's `last_inbound_at` may only move forward."""
    latest = pointer.last_inbound_at
    if latest is None:
        return always
    return lambda item: (
        item is None or item.get("last_inbound_at") is None or str(item["last_inbound_at"]) <= latest
    )


class MemoryStore:
    """What every fake store shares: the table, and `Table._write`'s one conditional transaction."""

    def __init__(self, table: MemoryTable | None = None) -> None:
        self.table = table if table is not None else MemoryTable()

    def _write(
        self,
        puts: Iterable[Change],
        pointers: Sequence[Pointer],
        at: str,
        update: Change | None = None,
        duplicate_pointer_kinds: frozenset[str] = frozenset({"inbound", "ref"}),
        upserts: Sequence[Pointer] = (),
        extra_updates: Sequence[Change] = (),
    ) -> None:
        """All or nothing: DuplicateError when only pointers of `duplicate_pointer_kinds` existed,
        ConflictError for any other failed condition."""
        changes = [put_op(pointer_item(p, at), p.kind, absent) for p in pointers]
        changes += [put_op(pointer_item(p, at), "upsert", never_back(p)) for p in upserts]
        changes += [*puts, *extra_updates]
        if update is not None:
            changes.append(update)
        failed = self.table.transact(changes)
        if failed and all(kind in duplicate_pointer_kinds for kind in failed):
            raise DuplicateError(f"already stored ({', '.join(failed)})")
        if failed:
            raise ConflictError(f"concurrent write ({', '.join(failed)})")
