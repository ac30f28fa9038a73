"""The quarantine: inputs refused for good, kept with their raw form and the reason, listed for
review and released once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pynamodb.exceptions import UpdateError

from shared import clock
from shared.dal.base import Table, parse_or_none
from shared.dal.items import (
    QuarantineItem,
    QuarantinePartItem,
)
from shared.dal.pointers import Pointer
from shared.models.ticket import (
    QuarantineEntry,
)


@dataclass(frozen=True)
class QuarantineQuery:
    """Which quarantine entries to list: all filters optional; `after` is the last entry seen
    (its time in ISO form and id), from the previous page's cursor."""

    limit: int
    reason: str | None = None
    channel: str | None = None
    released: bool | None = None
    after: tuple[str, str] | None = None


@dataclass(frozen=True)
class QuarantinePage:
    entries: list[QuarantineEntry]
    after: tuple[str, str] | None
    """The last entry of this page (time, id) when another page follows."""


def quarantine_from_item(item: QuarantineItem) -> QuarantineEntry:
    at = parse_or_none(item.at)
    assert at is not None
    return QuarantineEntry(
        id=item.id,
        reason=item.reason,
        at=at,
        ref=item.ref,
        channel=item.channel,
        raw_key=item.raw_key,
        details=dict(item.details or {}),
        released_by=item.released_by,
        released_at=parse_or_none(item.released_at),
        released_ticket_id=item.released_ticket_id,
    )


def quarantine_item(entry: QuarantineEntry) -> QuarantineItem:
    """The item of a quarantine entry, listed by time (`gsi1`) and by reason (`gsi2`)."""
    return QuarantineItem(
        pk=f"QUARANTINE#{entry.id}",
        sk="QUARANTINE",
        id=entry.id,
        reason=entry.reason,
        at=clock.iso(entry.at),
        ref=entry.ref,
        channel=entry.channel.value,
        raw_key=entry.raw_key,
        details=entry.details,
        gsi1pk="QUARANTINE",
        gsi1sk=f"{clock.iso(entry.at)}#{entry.id}",
        gsi2pk=f"QUARANTINE#{entry.reason}",
        gsi2sk=f"{clock.iso(entry.at)}#{entry.id}",
    )


class QuarantineWrites(Protocol):
    def quarantine(self, entry: QuarantineEntry, dedupe: Pointer, raw_parts: Sequence[str] = ()) -> None: ...


class QuarantineReview(Protocol):
    def get_quarantine(self, entry_id: str) -> QuarantineEntry | None: ...

    def list_quarantine_page(self, query: QuarantineQuery) -> QuarantinePage: ...

    def claim_release(self, entry_id: str, by: str, at: datetime) -> bool: ...

    def record_released_ticket(self, entry_id: str, ticket_id: str) -> None: ...


class DynamoQuarantine(Table):
    """QuarantineWrites and QuarantineReview on the table."""

    def quarantine(self, entry: QuarantineEntry, dedupe: Pointer, raw_parts: Sequence[str] = ()) -> None:
        """Keep an entry once (keyed by `dedupe`), with the parts of a raw input too long for it."""
        item = quarantine_item(entry)
        parts = [
            (QuarantinePartItem(pk=f"QUARANTINE#{entry.id}", sk=f"RAW#{index:03d}", text=text), None)
            for index, text in enumerate(raw_parts)
        ]
        self._write([(item, None), *parts], [dedupe], clock.iso(entry.at))

    def quarantined_raw(self, entry: QuarantineEntry) -> str | None:
        """The whole raw input of a quarantine entry (joined from its parts when it has them)."""
        if not entry.details.get("raw_parts"):
            raw = entry.details.get("raw")
            return raw if isinstance(raw, str) else None
        items = QuarantinePartItem.query(f"QUARANTINE#{entry.id}", QuarantinePartItem.sk.startswith("RAW#"))
        return "".join(item.text for item in items)

    def list_quarantine(self) -> list[QuarantineEntry]:
        return [quarantine_from_item(item) for item in QuarantineItem.listing.query("QUARANTINE")]

    def get_quarantine(self, entry_id: str) -> QuarantineEntry | None:
        try:
            return quarantine_from_item(QuarantineItem.get(f"QUARANTINE#{entry_id}", "QUARANTINE"))
        except QuarantineItem.DoesNotExist:
            return None

    def list_quarantine_page(self, query: QuarantineQuery) -> QuarantinePage:
        """One page of quarantine entries, newest first: a Query on the reason's `gsi2` partition
        when a reason is given, else on `gsi1` (`QUARANTINE`); channel and released state filter."""
        conditions: list[Any] = []
        if query.channel is not None:
            conditions.append(QuarantineItem.channel == query.channel)
        if query.released is True:
            conditions.append(QuarantineItem.released_at.exists())
        elif query.released is False:
            conditions.append(QuarantineItem.released_at.does_not_exist())
        condition = None
        for part in conditions:
            condition = part if condition is None else condition & part
        start: dict[str, dict[str, Any]] | None = None
        if query.after is not None:
            at, entry_id = query.after
            sort = {"S": f"{at}#{entry_id}"}
            start = {"pk": {"S": f"QUARANTINE#{entry_id}"}, "sk": {"S": "QUARANTINE"}}
            if query.reason is not None:
                start |= {"gsi2pk": {"S": f"QUARANTINE#{query.reason}"}, "gsi2sk": sort}
            else:
                start |= {"gsi1pk": {"S": "QUARANTINE"}, "gsi1sk": sort}
        index = QuarantineItem.by_reason if query.reason is not None else QuarantineItem.listing
        partition = f"QUARANTINE#{query.reason}" if query.reason is not None else "QUARANTINE"
        # one more than asked: a next cursor is given only when there is a next entry
        items = list(
            index.query(
                partition,
                filter_condition=condition,
                scan_index_forward=False,
                last_evaluated_key=start,
                limit=query.limit + 1,
                page_size=query.limit + 1,
            )
        )
        entries = [quarantine_from_item(item) for item in items[: query.limit]]
        after = (clock.iso(entries[-1].at), entries[-1].id) if len(items) > query.limit else None
        return QuarantinePage(entries=entries, after=after)

    def claim_release(self, entry_id: str, by: str, at: datetime) -> bool:
        """Record who released an entry and when, once: False when it was released before."""
        item = QuarantineItem(pk=f"QUARANTINE#{entry_id}", sk="QUARANTINE")
        try:
            item.update(
                actions=[QuarantineItem.released_by.set(by), QuarantineItem.released_at.set(clock.iso(at))],
                condition=QuarantineItem.pk.exists() & QuarantineItem.released_at.does_not_exist(),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def record_released_ticket(self, entry_id: str, ticket_id: str) -> None:
        """Note the ticket a released entry became part of (the same one on every retry)."""
        item = QuarantineItem(pk=f"QUARANTINE#{entry_id}", sk="QUARANTINE")
        item.update(
            actions=[QuarantineItem.released_ticket_id.set(ticket_id)],
            condition=QuarantineItem.released_at.exists(),
        )
