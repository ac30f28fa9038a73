"""Use cases: review the quarantine (list, show) and release an entry into the inbox it was kept from."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.dal.quarantine import QuarantineQuery, QuarantineReview
from shared.errors import HelpdeskError
from shared.logic.cursors import decode_cursor, encode_cursor
from shared.logic.ingest_pipeline import IngestStores
from shared.models.events import SesNotification
from shared.models.ticket import Channel, QuarantineEntry

if TYPE_CHECKING:  # ingestion (the email parser) loads on the first release, not at the API's cold start
    from shared.logic.ingest_email import EmailContext

MAX_PAGE = 100
DEFAULT_PAGE = 25

# reasons whose input has nowhere to go once released: a bounce of no message of ours
UNRELEASABLE_EMAIL_REASONS = frozenset({"bounce-unmatched"})


class QuarantineEntryNotFoundError(HelpdeskError):
    """No quarantine entry has that id."""


class NotReleasableError(HelpdeskError):
    """The entry's kept input cannot be ingested again; the message says why."""


class QuarantineListRequest(BaseModel):
    """The query string of a quarantine listing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str | None = Field(default=None, min_length=1, max_length=64)
    channel: Channel | None = None
    released: bool | None = None
    cursor: str | None = Field(default=None, min_length=1, max_length=512)
    limit: int = Field(default=DEFAULT_PAGE, ge=1, le=MAX_PAGE)


@dataclass(frozen=True)
class QuarantineListing:
    entries: list[QuarantineEntry]
    cursor: str | None
    """Pass it back as `cursor` for the next page; None on the last page."""


@dataclass(frozen=True)
class ReleaseResult:
    entry: QuarantineEntry
    outcome: Literal["released", "already-released"]
    ticket_id: str
    ticket_number: int | None = None
    message_id: str | None = None


def _is_time(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _after(cursor: str) -> tuple[str, str]:
    at, entry_id = decode_cursor(cursor, 2, _is_time)
    return at, entry_id


def list_quarantine(request: QuarantineListRequest, repository: QuarantineReview) -> QuarantineListing:
    """One page of quarantine entries, newest first, with the cursor of the next page."""
    page = repository.list_quarantine_page(
        QuarantineQuery(
            limit=request.limit,
            reason=request.reason,
            channel=request.channel.value if request.channel is not None else None,
            released=request.released,
            after=_after(request.cursor) if request.cursor else None,
        )
    )
    return QuarantineListing(
        entries=page.entries, cursor=encode_cursor(page.after) if page.after is not None else None
    )


def get_entry(entry_id: str, repository: QuarantineReview) -> QuarantineEntry:
    entry = repository.get_quarantine(entry_id)
    if entry is None:
        raise QuarantineEntryNotFoundError(f"no quarantine entry {entry_id}")
    return entry


def entry_summary(entry: QuarantineEntry) -> dict[str, Any]:
    """What a listing shows of an entry: enough to choose which one to open."""
    return {
        **entry.model_dump(mode="json", exclude={"details"}),
        "from": entry.details.get("from"),
        "subject": entry.details.get("subject"),
        "released": entry.released_at is not None,
    }


def _release_blocker(entry: QuarantineEntry, email: EmailContext | None) -> str | None:
    """Why the entry's kept input cannot be ingested again, or None when it can."""
    if entry.details.get("kind") == "stream_record":
        return (
            f"a stream record the {entry.details.get('projection')} projection could not store "
            f"({entry.details.get('error')}): it is kept for diagnosis and cannot be released; once "
            "the cause is fixed, `helpdesk index rebuild` projects the ticket again"
        )
    if entry.channel != Channel.EMAIL:
        return (
            f"a {entry.channel.value} entry ({entry.reason}) keeps input its channel could not read; "
            "it is kept for diagnosis and cannot be released"
        )
    if entry.reason in UNRELEASABLE_EMAIL_REASONS:
        return f"a {entry.reason} entry is a bounce of no message of ours: it has no ticket to become"
    if not entry.raw_key:
        return "the raw mail of this entry was not kept in S3"
    if "notification" not in entry.details:
        return "this entry was quarantined before releases were recorded: it lacks its SES notification"
    if email is None:
        return "releasing email is not configured here (INBOUND_BUCKET is not set)"
    return None


class ReleaseStores(QuarantineReview, IngestStores, Protocol):
    """What a release reads and writes: the entry, then everything ingestion does."""


def release_entry(
    entry_id: str,
    by: str,
    repository: ReleaseStores,
    email: EmailContext | None,
    now: datetime,
) -> ReleaseResult:
    """Ingest a quarantined email again through `ingest_email`, overriding its verdict on the record.

    Once per entry: the first release records who released it and when (conditionally), and the
    ingest is keyed by the entry, so a second or concurrent release returns the same ticket.
    """
    entry = get_entry(entry_id, repository)
    if entry.released_ticket_id is not None:
        return ReleaseResult(entry=entry, outcome="already-released", ticket_id=entry.released_ticket_id)
    blocker = _release_blocker(entry, email)
    if blocker is not None:
        raise NotReleasableError(blocker)
    assert email is not None
    assert entry.raw_key is not None
    raw_key = entry.raw_key
    claimed = repository.claim_release(entry.id, by, now)
    entry = get_entry(entry_id, repository)  # as recorded by whichever release claimed it first
    if not claimed and entry.released_ticket_id is not None:
        return ReleaseResult(entry=entry, outcome="already-released", ticket_id=entry.released_ticket_id)
    # the release as first recorded: a retry after a crash or a racing second release repeats it
    from shared.logic.ingest_email import Release, ingest_email

    release = Release(
        entry_id=entry.id, reason=entry.reason, by=entry.released_by or by, at=entry.released_at or now
    )
    try:
        notification = SesNotification.model_validate(entry.details["notification"])
    except ValidationError as exc:
        raise NotReleasableError(f"the entry's SES notification no longer reads: {exc}") from exc
    raw = email.blobs.get(raw_key)
    result = ingest_email(notification, raw, replace(email, repository=repository), release)
    if result.ticket_id is None:  # a bounce of no message of ours: nowhere to go, even released
        raise NotReleasableError(f"the released mail did not become a ticket message: {result.reason}")
    repository.record_released_ticket(entry.id, result.ticket_id)
    return ReleaseResult(
        entry=get_entry(entry_id, repository),
        outcome="already-released" if result.outcome == "duplicate" else "released",
        ticket_id=result.ticket_id,
        ticket_number=result.ticket_number,
        message_id=result.message_id,
    )
