"""Quarantine review logic on plain data: cursors, filters and which entries may be released."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest

from shared.dal.quarantine import QuarantinePage, QuarantineQuery
from shared.dal.repository import TicketRepository
from shared.logic.cursors import InvalidCursorError
from shared.logic.quarantine_review import (
    NotReleasableError,
    QuarantineEntryNotFoundError,
    QuarantineListRequest,
    list_quarantine,
    release_entry,
)
from shared.models.ticket import Channel, QuarantineEntry

AT = datetime(2026, 3, 2, 9, 15, 2, 412000, tzinfo=UTC)


class FakeQuarantine:
    """Holds entries in memory and remembers the queries it was asked."""

    def __init__(self, *entries: QuarantineEntry, next_after: tuple[str, str] | None = None) -> None:
        self.entries = {e.id: e for e in entries}
        self.queries: list[QuarantineQuery] = []
        self.claims: list[str] = []
        self.next_after = next_after

    def list_quarantine_page(self, query: QuarantineQuery) -> QuarantinePage:
        self.queries.append(query)
        return QuarantinePage(entries=list(self.entries.values())[: query.limit], after=self.next_after)

    def get_quarantine(self, entry_id: str) -> QuarantineEntry | None:
        return self.entries.get(entry_id)

    def claim_release(self, entry_id: str, by: str, at: datetime) -> bool:
        self.claims.append(entry_id)
        return True


def repo(fake: FakeQuarantine) -> TicketRepository:
    return cast("TicketRepository", fake)


def entry(entry_id: str, channel: Channel, reason: str, **details: Any) -> QuarantineEntry:
    return QuarantineEntry(id=entry_id, reason=reason, at=AT, ref="r", channel=channel, details=details)


def test_a_page_cursor_leads_to_the_entry_after_the_last_one_shown() -> None:
    # Given a page that has a next one after the entry (at, qtn_2)
    fake = FakeQuarantine(
        entry("qtn_2", Channel.EMAIL, "spam"), next_after=("2026-03-02T09:15:02.412Z", "qtn_2")
    )

    # When the first page is listed and its cursor is passed back with the same filters
    first = list_quarantine(QuarantineListRequest(reason="spam", limit=1), repo(fake))
    assert first.cursor is not None
    list_quarantine(
        QuarantineListRequest(reason="spam", limit=1, channel=Channel.EMAIL, cursor=first.cursor), repo(fake)
    )

    # Then the second query starts after that entry, with the filters as plain values
    assert fake.queries[1] == QuarantineQuery(
        limit=1, reason="spam", channel="email", after=("2026-03-02T09:15:02.412Z", "qtn_2")
    )


@pytest.mark.parametrize("cursor", ["%%%", "bm90IGpzb24", "WzFd", "WyJub3QgYSB0aW1lIiwgInF0bl8xIl0"])
def test_a_cursor_we_did_not_hand_out_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursorError, match="cursor"):
        list_quarantine(QuarantineListRequest(cursor=cursor), repo(FakeQuarantine()))


def test_the_page_size_is_bounded() -> None:
    with pytest.raises(ValueError, match="limit"):
        QuarantineListRequest(limit=101)
    assert QuarantineListRequest().limit == 25


@pytest.mark.parametrize(
    ("held", "why"),
    [
        (entry("qtn_1", Channel.WHATSAPP, "malformed-json", raw="{"), "cannot be released"),
        (entry("qtn_1", Channel.SMS, "malformed-sms", raw="{"), "cannot be released"),
        (entry("qtn_1", Channel.EMAIL, "bounce-unmatched"), "no ticket to become"),
        (entry("qtn_1", Channel.EMAIL, "spam"), "not kept in S3"),
    ],
)
def test_entries_whose_input_cannot_be_ingested_again_are_refused_unclaimed(
    held: QuarantineEntry, why: str
) -> None:
    fake = FakeQuarantine(held)
    with pytest.raises(NotReleasableError, match=why):
        release_entry("qtn_1", "sam", repo(fake), None, AT)
    assert fake.claims == []


def test_an_email_quarantined_before_releases_existed_is_refused() -> None:
    old = entry("qtn_1", Channel.EMAIL, "spam").model_copy(update={"raw_key": "raw/abc"})
    with pytest.raises(NotReleasableError, match="SES notification"):
        release_entry("qtn_1", "sam", repo(FakeQuarantine(old)), None, AT)


def test_an_unknown_entry_is_not_found() -> None:
    with pytest.raises(QuarantineEntryNotFoundError):
        release_entry("qtn_missing", "sam", repo(FakeQuarantine()), None, AT)
