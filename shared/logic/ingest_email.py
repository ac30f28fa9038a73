"""Use case: an email SES received becomes a ticket message, joins its ticket, or is quarantined."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from shared import clock
from shared.channels.email.addresses import legacy_keys
from shared.dal.base import DuplicateError
from shared.dal.pointers import Pointer
from shared.dal.repository import TicketRepository
from shared.dal.tickets import AppendWrite, NewTicketWrite, TicketChanges
from shared.errors import ConflictError, PermanentWriteError
from shared.ids import new_id
from shared.logic.bounds import (
    MAX_ATTACHMENTS,
    NAME_MAX_BYTES,
    PREVIEW_MAX_BYTES,
    RULES_PREVIEW_MAX_BYTES,
    SUBJECT_MAX_BYTES,
    Bounder,
    clip,
    repair,
)
from shared.logic.customers import customer_attributes, suggestion_event
from shared.logic.email_identity import Dmarc, resolve_sender
from shared.logic.quarantine import quarantine_input
from shared.logic.sla_service import after_customer_message
from shared.logic.survey import csat_rating
from shared.logic.threading import (
    Candidate,
    ThreadDecision,
    decide_thread,
    is_ours,
    normalize_message_id,
    participants_of,
    plus_token,
    reference_chain,
    subject_token,
)
from shared.models.config import HelpdeskConfig
from shared.models.email import EmailAddress, ParsedEmail
from shared.models.events import SesNotification
from shared.models.ticket import (
    Attachment,
    Channel,
    Customer,
    Direction,
    Identity,
    IdentityKind,
    Message,
    QuarantineEntry,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from shared.storage import BlobStore

MAX_ATTEMPTS = 4
PREVIEW_CHARS = 4000
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")

Outcome = Literal["created", "threaded", "quarantined", "duplicate"]


@dataclass
class EmailContext:
    """What the use case needs besides the email: ports and the helpdesk's own addresses."""

    repository: TicketRepository
    blobs: BlobStore
    config: HelpdeskConfig
    support_addresses: list[str]
    support_domain: str


@dataclass(frozen=True)
class Release:
    """An explicit override of a quarantine verdict: a supervisor released entry `entry_id`, held for
    `reason`. The verdict checks still run and are recorded; the override is recorded beside them."""

    entry_id: str
    reason: str
    by: str
    at: datetime

    def as_event_data(self) -> dict[str, str]:
        return {"entry_id": self.entry_id, "reason": self.reason, "by": self.by, "at": clock.iso(self.at)}


@dataclass
class IngestResult:
    outcome: Outcome
    ticket_id: str | None = None
    ticket_number: int | None = None
    message_id: str | None = None
    reason: str = ""
    flags: list[str] = field(default_factory=list)


def _verdict(notification: SesNotification, name: str) -> str:
    verdict = getattr(notification.receipt, f"{name}_verdict")
    return verdict.status if verdict is not None else "PASS"


def _dmarc(notification: SesNotification) -> Dmarc:
    # no verdict is not a pass: a relay is trusted only on an explicit PASS
    verdict = notification.receipt.dmarc_verdict
    return Dmarc(verdict.status if verdict is not None else "NONE", notification.receipt.dmarc_policy)


def _quarantine_reason(notification: SesNotification, config: HelpdeskConfig) -> str | None:
    if config.email.quarantine_virus and _verdict(notification, "virus") == "FAIL":
        return "virus"
    if config.email.quarantine_spam and _verdict(notification, "spam") == "FAIL":
        return "spam"
    if _dmarc(notification).quarantines:
        return "dmarc"  # a forged From: its domain asks to reject or quarantine such mail
    return None


def _verdict_flags(notification: SesNotification) -> list[str]:
    flags = []
    for name in ("dmarc", "spf", "dkim"):
        if _verdict(notification, name) == "FAIL":
            flags.append(f"{name}_fail")
    return flags


def parse_or_fallback(raw: bytes, notification: SesNotification) -> tuple[ParsedEmail, bool]:
    """Parse the raw MIME; if the parser itself fails, keep what SES told us and flag it unparsed."""
    from shared.channels.email import parse_email

    try:
        return parse_email(raw), False
    except Exception as exc:
        common = notification.mail.common_headers
        sender = (common.from_[0] if common.from_ else notification.mail.source) or ""
        match = re.search(r"[^\s<>\"]+@[^\s<>\"]+", sender)
        text = raw.decode("utf-8", errors="replace")
        return (
            ParsedEmail(
                message_id=normalize_message_id(common.message_id or ""),
                subject=common.subject or "",
                from_=EmailAddress(address=match.group(0)) if match else None,
                from_header=sender,
                full_text=text,
                text=text[:PREVIEW_CHARS],
                defects=[f"parser failed: {type(exc).__name__}: {exc}"],
            ),
            True,
        )


def _inbox(notification: SesNotification, parsed: ParsedEmail, ctx: EmailContext) -> str:
    """Which of our addresses the customer wrote to (plus tags removed)."""
    candidates = [*notification.receipt.recipients, *(a.address for a in [*parsed.to, *parsed.cc])]
    for address in candidates:
        local, _, host = address.strip().lower().partition("@")
        if host and is_ours(address, ctx.support_addresses, ctx.support_domain):
            return f"{local.partition('+')[0]}@{host}"
    return ctx.support_addresses[0].lower()


def _attachment_key(ses_id: str, index: int, name: str) -> str:
    safe = _UNSAFE_NAME.sub("_", name).strip("._") or "file"
    return f"attachments/{ses_id}/{index:03d}-{safe[:120]}"


def _store_attachments(
    parsed: ParsedEmail, ses_id: str, blobs: BlobStore, bounder: Bounder
) -> tuple[list[Attachment], str | None]:
    """The first MAX_ATTACHMENTS attachments, stored in S3, and the listing of those left out (they
    stay in the raw mail)."""
    stored = []
    for index, part in enumerate(parsed.attachments[:MAX_ATTACHMENTS]):
        key = _attachment_key(ses_id, index, part.name)
        blobs.put(key, part.data, part.content_type, {"name": part.name.encode("utf-8").hex()[:1800]})
        stored.append(
            Attachment(
                name=bounder.text(part.name, NAME_MAX_BYTES, "name_truncated"),
                content_type=part.content_type,
                size=part.size,
                key=key,
                content_id=part.content_id,
                inline=part.disposition == "inline",
            )
        )
    omitted = bounder.omitted([part.name for part in parsed.attachments[MAX_ATTACHMENTS:]])
    return stored, omitted


def _build_message(
    parsed: ParsedEmail,
    notification: SesNotification,
    ticket_id: str,
    author: str,
    attachments: list[Attachment],
    flags: list[str],
    ctx: EmailContext,
    bounder: Bounder,
    omitted: str | None,
) -> Message:
    at = notification.mail.timestamp
    ses_id = notification.mail.message_id
    text: str = bounder.text(parsed.text)
    full_text: str | None = bounder.text(parsed.full_text)
    html: str | None = bounder.optional(parsed.html)
    body_key: str | None = None
    size = len(text.encode()) + len((full_text or "").encode()) + len((html or "").encode())
    if size > ctx.config.email.max_inline_body_bytes:
        body_key = f"bodies/{ses_id}.json"
        body = json.dumps({"text": text, "full_text": full_text, "html": html}).encode()
        ctx.blobs.put(body_key, body, "application/json")
        text, full_text, html = clip(text, PREVIEW_MAX_BYTES), None, None
    headers = dict(parsed.headers)
    if parsed.from_header:
        headers["from"] = parsed.from_header
    if parsed.reply_to:  # shown beside From: where we answer is decided in email_identity
        headers["reply-to"] = ", ".join(a.address for a in parsed.reply_to)
    headers["to"] = ", ".join(a.address for a in parsed.to)
    if parsed.cc:
        headers["cc"] = ", ".join(a.address for a in parsed.cc)
    headers["recipients"] = ", ".join(notification.receipt.recipients)
    headers = bounder.headers(headers)
    if omitted is not None:
        headers["omitted_attachments"] = omitted
    return Message(
        id=new_id("msg", at),
        ticket_id=ticket_id,
        direction=Direction.INBOUND,
        channel=Channel.EMAIL,
        at=at,
        author=author,
        external_id=bounder.optional(parsed.message_id),
        provider_id=ses_id,
        subject=bounder.text(parsed.subject, SUBJECT_MAX_BYTES, "subject_truncated") or None,
        text=text,
        full_text=full_text,
        html=html,
        body_key=body_key,
        raw_key=notification.receipt.action.object_key,
        automatic=parsed.automatic or parsed.bounce,
        flags=[*flags, *(f for f in bounder.flags if f not in flags)],
        attachments=attachments,
        headers=headers,
    )


def content_digest(parsed: ParsedEmail) -> str:
    """What makes two deliveries the same email: its headers of record, bodies and attachments
    (SES-added trace headers differ between deliveries of one email, so the raw bytes cannot)."""
    content = {
        "message_id": parsed.message_id,
        "from": parsed.from_header,
        "to": [a.address for a in parsed.to],
        "cc": [a.address for a in parsed.cc],
        "date": parsed.date.isoformat() if parsed.date else None,
        "subject": parsed.subject,
        "in_reply_to": parsed.in_reply_to,
        "references": parsed.references,
        "text": parsed.full_text,
        "html": parsed.html,
        "attachments": [[a.name, hashlib.sha256(a.data).hexdigest()] for a in parsed.attachments],
    }
    encoded = json.dumps(content, sort_keys=True).encode()  # ASCII: lone surrogates are escaped
    return hashlib.sha256(encoded).hexdigest()


def _inbound_key(ses_id: str, release: Release | None) -> str:
    """The dedupe key of this ingest: the SES message, or the release of its quarantine entry
    (the SES message's own key is held by the entry)."""
    return f"release#{release.entry_id}" if release is not None else f"email#{ses_id}"


def _pointers_for_message(
    parsed: ParsedEmail, inbound_key: str, digest: str, ticket_id: str, message_id: str, reused: bool
) -> list[Pointer]:
    """The dedupe keys of the email (its SES delivery or release, its content) and, unless another
    message holds it already, its Message-ID reference for threading."""
    pointers = [
        Pointer("inbound", inbound_key, ticket_id=ticket_id, message_id=message_id),
        Pointer("inbound", f"email-content#{digest}", ticket_id=ticket_id, message_id=message_id),
    ]
    if parsed.message_id and not reused:
        pointers.append(
            Pointer("ref", parsed.message_id, ticket_id=ticket_id, message_id=message_id, direction="inbound")
        )
    return pointers


def ingest_email(
    notification: SesNotification, raw: bytes, ctx: EmailContext, release: Release | None = None
) -> IngestResult:
    """Store one received email exactly once: quarantine, new ticket or message on its ticket.

    Retries on lost races (another delivery or message touching the same ticket or customer);
    a second delivery of the same SES notification, or another delivery of the same content,
    returns `duplicate` and writes nothing. An email DynamoDB refuses for good is quarantined
    (`write-rejected`, the raw mail kept in S3) instead of being retried.
    With `release`, a quarantined email is ingested once more despite its verdict: it is never
    quarantined again, is flagged `released`, and a mail that failed DMARC opens a new ticket.
    """
    for attempt in range(MAX_ATTEMPTS):
        try:
            return _ingest_once(notification, raw, ctx, release)
        except DuplicateError as exc:
            # another delivery wrote one of our keys first: the next pass reads what it stored
            # (the same email: a duplicate; another email with this Message-ID: a new message)
            if attempt == MAX_ATTEMPTS - 1:
                return IngestResult(outcome="duplicate", reason=str(exc))
        except ConflictError:
            if attempt == MAX_ATTEMPTS - 1:
                raise
        except PermanentWriteError as exc:
            return _quarantine_refused(notification, raw, exc, ctx)
    raise AssertionError("unreachable")  # pragma: no cover


def _quarantine_refused(
    notification: SesNotification, raw: bytes, error: PermanentWriteError, ctx: EmailContext
) -> IngestResult:
    """Keep an email DynamoDB refused: its raw mail stays in S3 (or, from an SNS action, on the entry)."""
    ses_id = notification.mail.message_id
    common = notification.mail.common_headers
    raw_key = notification.receipt.action.object_key
    kept = quarantine_input(
        ctx.repository,
        channel=Channel.EMAIL,
        reason="write-rejected",
        ref=ses_id,
        at=notification.mail.timestamp,
        raw=None if raw_key else raw.decode("utf-8", errors="replace"),
        raw_key=raw_key,
        dedupe_key=f"email#{ses_id}",
        inbound_key=f"email#{ses_id}",
        details={
            "ses_message_id": ses_id,
            "error": clip(repair(str(error)), 2_000),
            "from": clip(repair(", ".join(common.from_) or notification.mail.source or ""), NAME_MAX_BYTES),
            "subject": clip(repair(common.subject or ""), SUBJECT_MAX_BYTES),
        },
    )
    if not kept:
        return IngestResult(outcome="duplicate", reason="SES notification already quarantined")
    return IngestResult(outcome="quarantined", reason="write-rejected")


def _ingest_once(
    notification: SesNotification, raw: bytes, ctx: EmailContext, release: Release | None = None
) -> IngestResult:
    ses_id = notification.mail.message_id
    now = notification.mail.timestamp
    quarantine = _quarantine_reason(notification, ctx.config)
    if release is not None:
        quarantine = None  # a supervisor's recorded override (Release), not a weaker check
    inbound_key = _inbound_key(ses_id, release)
    parsed, unparsed = parse_or_fallback(raw, notification)

    identity = resolve_sender(parsed, _dmarc(notification), ctx.config.email.relay_senders)
    if identity.source == "relay-reply-to" and (parsed.automatic_reason or "").startswith("sender:"):
        # a form's `noreply@` address says nothing about the person it writes for
        parsed = parsed.model_copy(update={"automatic": False, "automatic_reason": None})
    sender = identity.key
    sender_keys = [sender, *legacy_keys(sender)] if sender else []
    chain = reference_chain(parsed)
    number_token = subject_token(parsed.subject, ctx.config.email.subject_token_prefix)
    recipients = [*notification.receipt.recipients, *(a.address for a in [*parsed.to, *parsed.cc])]
    plus_number = plus_token(recipients, ctx.support_addresses, ctx.support_domain)
    bounced = [m for m in (normalize_message_id(v) for v in parsed.bounced_message_ids) if m]

    digest = content_digest(parsed)
    wanted: list[tuple[str, str]] = [("inbound", inbound_key), ("inbound", f"email-content#{digest}")]
    if parsed.message_id:
        wanted.append(("ref", parsed.message_id))
    wanted += [("ref", ref) for _, ref in chain]
    wanted += [("ref", ref) for ref in bounced]
    for number in {number_token, plus_number} - {None}:
        wanted.append(("number", str(number)))
    wanted += [("identity", f"email#{key}") for key in sender_keys]
    found = ctx.repository.get_pointers(list(dict.fromkeys(wanted)))

    if (done := found.get(("inbound", inbound_key))) is not None:
        if release is not None:
            return IngestResult(
                outcome="duplicate",
                ticket_id=done.ticket_id,
                message_id=done.message_id,
                reason="quarantine entry already released",
            )
        return IngestResult(outcome="duplicate", reason="SES notification already processed")
    same = found.get(("inbound", f"email-content#{digest}"))
    if same is not None:
        return IngestResult(
            outcome="duplicate", ticket_id=same.ticket_id, reason="same email already received"
        )
    # A Message-ID another message holds already, with other content: a new message, flagged.
    reused = parsed.message_id is not None and ("ref", parsed.message_id) in found

    if quarantine is not None:
        entry = QuarantineEntry(
            id=new_id("qtn", now),
            reason=quarantine,
            at=now,
            ref=clip(repair(parsed.message_id or ses_id), NAME_MAX_BYTES),
            channel=Channel.EMAIL,
            raw_key=notification.receipt.action.object_key,
            details={
                "ses_message_id": ses_id,
                "from": clip(repair(parsed.from_header or notification.mail.source or ""), NAME_MAX_BYTES),
                "subject": clip(repair(parsed.subject), SUBJECT_MAX_BYTES),
                "verdicts": {n: _verdict(notification, n) for n in ("spam", "virus", "spf", "dkim", "dmarc")},
                "dmarc_policy": notification.receipt.dmarc_policy,
                "sender": identity.as_event_data(),
                # what a release needs to ingest it again; the raw mail itself stays in S3
                "notification": notification.model_dump(mode="json", by_alias=True, exclude={"content"}),
            },
        )
        ctx.repository.quarantine(entry, Pointer("inbound", f"email#{ses_id}"))
        return IngestResult(outcome="quarantined", reason=quarantine)

    candidates: list[Candidate] = []
    if parsed.bounce:
        candidates += [
            Candidate(p.ticket_id, "bounce", ref)
            for ref in bounced
            if (p := found.get(("ref", ref))) is not None and p.ticket_id
        ]
    candidates += [
        Candidate(p.ticket_id, method, ref)
        for method, ref in chain
        if (p := found.get(("ref", ref))) is not None and p.ticket_id
    ]
    for method, number in (("subject-token", number_token), ("plus-address", plus_number)):
        pointer = found.get(("number", str(number))) if number is not None else None
        if pointer is not None and pointer.ticket_id:
            candidates.append(Candidate(pointer.ticket_id, method, str(number)))  # type: ignore[arg-type]

    # the current key first; pointers written before keys used the IDNA form still count
    owner = next(
        (p for key in sender_keys if (p := found.get(("identity", f"email#{key}"))) is not None), None
    )
    customer_id = owner.customer_id if owner else None
    tickets: dict[str, Ticket] = {}
    for candidate_id in dict.fromkeys(c.ticket_id for c in candidates):
        ticket = ctx.repository.get_ticket(candidate_id)
        if ticket is not None:
            tickets[candidate_id] = ticket
        break  # the strongest candidate decides; weaker ones only matter if it is missing
    if release is not None and _dmarc(notification).failed:
        # its From is forged as far as we know: it opens a ticket of its own, whatever it refers to
        decision = ThreadDecision(
            None, None, None, "released from quarantine: a mail that failed DMARC never joins a ticket"
        )
    elif parsed.bounce:
        # a bounce comes from a mailer, never from the customer: accept it for our own message
        decision = (
            ThreadDecision(candidates[0].ticket_id, "bounce", candidates[0].ref, "bounce of our message")
            if candidates and candidates[0].method == "bounce" and candidates[0].ticket_id in tickets
            else ThreadDecision(None, None, None, "bounce of no message of ours")
        )
    else:
        decision = decide_thread(
            candidates,
            tickets,
            sender,
            customer_id,
            now,
            timedelta(days=ctx.config.email.reopen_closed_within_days),
            automatic=parsed.automatic,
            verified=identity.verified,
        )

    if parsed.bounce and decision.ticket_id is None:
        entry = QuarantineEntry(
            id=new_id("qtn", now),
            reason="bounce-unmatched",
            at=now,
            ref=clip(repair(parsed.message_id or ses_id), NAME_MAX_BYTES),
            channel=Channel.EMAIL,
            raw_key=notification.receipt.action.object_key,
            details={
                "ses_message_id": ses_id,
                "from": clip(repair(parsed.from_header), NAME_MAX_BYTES),
                "subject": clip(repair(parsed.subject), SUBJECT_MAX_BYTES),
            },
        )
        ctx.repository.quarantine(entry, Pointer("inbound", f"email#{ses_id}"))
        return IngestResult(outcome="quarantined", reason="bounce-unmatched")

    flags = _verdict_flags(notification) + identity.flags
    if release is not None:
        flags.append("released")
    released = (
        [TicketEvent(at=now, type="released_from_quarantine", data=release.as_event_data())]
        if release is not None
        else []
    )
    if unparsed:
        flags.append("unparsed")
    if parsed.bounce:
        flags.append("bounce")
    elif parsed.automatic:
        flags.append("automatic")
    if reused:
        flags.append("message_id_reused")
    bounder = Bounder()
    attachments, omitted = _store_attachments(parsed, ses_id, ctx.blobs, bounder)
    author = identity.answer_to or notification.mail.source or "unknown"
    participants = participants_of(parsed, ctx.support_addresses, ctx.support_domain)

    new_customer: Customer | None = None
    customer_pointers: list[Pointer] = []
    if customer_id is None and not parsed.bounce:
        customer_name = identity.customer.name if identity.customer else None
        customer_id = new_id("cus", now)
        identities = [Identity(kind=IdentityKind.EMAIL, value=sender)] if sender else []
        tier, fields = customer_attributes(identities, ctx.config)
        new_customer = Customer(
            id=customer_id,
            name=bounder.optional(customer_name or None, NAME_MAX_BYTES),
            identities=identities,
            tier=tier,
            fields=fields,
            created_at=now,
        )
        if sender:
            customer_pointers.append(Pointer("identity", f"email#{sender}", customer_id=customer_id))

    known = [Identity(kind=IdentityKind.EMAIL, value=sender)] if sender else []
    if decision.ticket_id is not None:
        ticket = tickets[decision.ticket_id]
        message = _build_message(
            parsed, notification, ticket.id, author, attachments, flags, ctx, bounder, omitted
        )
        flags = message.flags
        events = [
            TicketEvent(
                at=now,
                type="message_threaded",
                data={
                    "message_id": message.id,
                    "method": decision.method,
                    "ref": decision.ref,
                    "reason": decision.reason,
                    "automatic": message.automatic,
                    "sender": identity.as_event_data(),
                },
            )
        ]
        suggested = None if message.automatic else suggestion_event(parsed.text, known, now)
        if suggested is not None:
            events.append(suggested)
        events += released
        changes = TicketChanges(updated_at=max(now, ticket.updated_at))
        if not message.automatic:
            if ticket.last_inbound_at is None or now > ticket.last_inbound_at:
                # a late delivery of an older email never moves the time of the latest one back
                changes.last_inbound_at = now
            merged = list(dict.fromkeys([*ticket.participants, *participants]))
            if merged != ticket.participants:
                changes.participants = merged
        ticket_flags = list(dict.fromkeys([*ticket.flags, *(f for f in flags if f != "automatic")]))
        if ticket_flags != ticket.flags:
            changes.flags = ticket_flags
        rating = csat_rating(parsed.text) if ticket.status == TicketStatus.RESOLVED else None
        reopens = decision.reopen and rating is None
        if not message.automatic:
            changes.sla = after_customer_message(ctx.config, ticket, now, reopens=reopens)
        if rating is not None:
            events.append(TicketEvent(at=now, type="csat", data={"rating": rating, "message_id": message.id}))
        if reopens:
            changes.status = TicketStatus.OPEN.value
            changes.clear_resolved_at = True
            changes.clear_closed_at = True
            events.append(
                TicketEvent(at=now, type="reopened", data={"from_status": ticket.status.value, "by": author})
            )
        ctx.repository.append_message(
            AppendWrite(
                ticket_id=ticket.id,
                expected_version=ticket.version,
                changes=changes,
                message=message,
                events=events,
                pointers=[
                    *_pointers_for_message(parsed, inbound_key, digest, ticket.id, message.id, reused),
                    *customer_pointers,
                ],
                new_customer=new_customer,
            )
        )
        return IngestResult(
            outcome="threaded",
            ticket_id=ticket.id,
            ticket_number=ticket.number,
            message_id=message.id,
            reason=decision.reason,
            flags=flags,
        )

    assert customer_id is not None
    number = ctx.repository.next_ticket_number(ctx.config.tickets.number_start)
    ticket_id = new_id("tkt", now)
    message = _build_message(
        parsed, notification, ticket_id, author, attachments, flags, ctx, bounder, omitted
    )
    flags = message.flags
    ticket = Ticket(
        id=ticket_id,
        number=number,
        channel=Channel.EMAIL,
        subject=message.subject,
        customer_id=customer_id,
        flags=list(dict.fromkeys(flags)),
        linked_ticket_id=decision.linked_ticket_id,
        created_at=now,
        updated_at=now,
        last_inbound_at=None if message.automatic else now,
        participants=participants,
        inbox=_inbox(notification, parsed, ctx),
        preview=clip(
            message.text if message.body_key is None else bounder.text(parsed.text), RULES_PREVIEW_MAX_BYTES
        ),
    )
    events = [
        TicketEvent(
            at=now,
            type="created",
            data={
                "message_id": message.id,
                "reason": decision.reason,
                "rejected": decision.rejected,
                "sender": identity.as_event_data(),
            },
        )
    ]
    if decision.linked_ticket_id:
        events.append(TicketEvent(at=now, type="linked", data={"ticket_id": decision.linked_ticket_id}))
    suggested = None if message.automatic else suggestion_event(parsed.text, known, now)
    if suggested is not None:
        events.append(suggested)
    events += released
    pointers = [
        *_pointers_for_message(parsed, inbound_key, digest, ticket_id, message.id, reused),
        Pointer("number", str(number), ticket_id=ticket_id),
        *customer_pointers,
    ]
    ctx.repository.create_ticket(
        NewTicketWrite(
            ticket=ticket, message=message, events=events, pointers=pointers, new_customer=new_customer
        )
    )
    return IngestResult(
        outcome="created",
        ticket_id=ticket_id,
        ticket_number=number,
        message_id=message.id,
        reason=decision.reason,
        flags=flags,
    )
