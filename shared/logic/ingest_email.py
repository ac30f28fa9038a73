"""The email channel of the ingest pipeline: an email SES received becomes a ticket message, joins
its ticket, or is quarantined.

What only email knows lives here (`EmailInbound`): SES verdicts and DMARC quarantine, who the
sender is (email_identity), threading by references, subject token and plus-address (threading),
bounces, attachments and large bodies stored in S3, and releases from quarantine. The steps every
channel shares run in shared/logic/ingest_pipeline.py.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared import clock
from shared.channels.email.addresses import legacy_keys
from shared.dal.pointers import Pointer
from shared.dal.tickets import TicketChanges
from shared.errors import PermanentWriteError
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
from shared.logic.customers import customer_attributes
from shared.logic.email_identity import Dmarc, resolve_sender
from shared.logic.ingest_pipeline import (
    ChannelRules,
    Found,
    IngestResult,
    IngestStores,
    Key,
    NewTicket,
    Thread,
    ingest,
)
from shared.logic.quarantine import quarantine_input
from shared.logic.threading import (
    Candidate,
    Method,
    ThreadDecision,
    decide_thread,
    follow_merges,
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
)
from shared.storage import BlobStore

PREVIEW_CHARS = 4000
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_VERDICTS = ("spam", "virus", "spf", "dkim", "dmarc")


@dataclass
class EmailContext:
    """What the use case needs besides the email: ports and the helpdesk's own addresses."""

    repository: IngestStores
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
    return ingest(lambda: EmailInbound(notification, raw, ctx, release), ctx.repository, ctx.config)


@dataclass(frozen=True)
class EmailKeys:
    """The keys an email is threaded by, strongest first: bounced ids, its reference chain, the
    ticket numbers of its subject token and plus-address."""

    chain: list[tuple[Method, str]]
    bounced: list[str]
    number_token: int | None
    plus_number: int | None

    @classmethod
    def of(cls, parsed: ParsedEmail, notification: SesNotification, ctx: EmailContext) -> EmailKeys:
        recipients = [*notification.receipt.recipients, *(a.address for a in [*parsed.to, *parsed.cc])]
        return cls(
            chain=reference_chain(parsed),
            bounced=[m for m in (normalize_message_id(v) for v in parsed.bounced_message_ids) if m],
            number_token=subject_token(parsed.subject, ctx.config.email.subject_token_prefix),
            plus_number=plus_token(recipients, ctx.support_addresses, ctx.support_domain),
        )

    def lookups(self) -> list[Key]:
        wanted: list[Key] = [("ref", ref) for _, ref in self.chain]
        wanted += [("ref", ref) for ref in self.bounced]
        wanted += [("number", str(number)) for number in {self.number_token, self.plus_number} - {None}]
        return wanted

    def candidates(self, found: Found, bounce: bool) -> list[Candidate]:
        """The tickets the keys found, in threading order (bounced ids count only for a bounce)."""
        refs: list[tuple[Method, str]] = [("bounce", ref) for ref in self.bounced] if bounce else []
        refs += self.chain
        numbers: list[tuple[Method, int | None]] = [
            ("subject-token", self.number_token),
            ("plus-address", self.plus_number),
        ]
        keyed = [(method, ("ref", ref), ref) for method, ref in refs]
        keyed += [(method, ("number", str(n)), str(n)) for method, n in numbers if n is not None]
        return [
            Candidate(pointer.ticket_id, method, ref)
            for method, key, ref in keyed
            if (pointer := found.get(key)) is not None and pointer.ticket_id
        ]


class EmailInbound:
    """One email on its way through the ingest pipeline (one per pass): what only email knows."""

    rules = ChannelRules(rereads_after_duplicate=True, reopen_clears_closed=True, reopen_names_author=True)
    channel = Channel.EMAIL

    def __init__(
        self, notification: SesNotification, raw: bytes, ctx: EmailContext, release: Release | None
    ) -> None:
        self.notification, self.raw, self.ctx, self.release = notification, raw, ctx, release
        self.ses_id = notification.mail.message_id
        self.at = notification.mail.timestamp
        self.inbound_key = _inbound_key(self.ses_id, release)
        self.parsed, self.unparsed = parse_or_fallback(raw, notification)
        self.identity = resolve_sender(self.parsed, _dmarc(notification), ctx.config.email.relay_senders)
        if self.identity.source == "relay-reply-to" and (self.parsed.automatic_reason or "").startswith(
            "sender:"
        ):
            # a form's `noreply@` address says nothing about the person it writes for
            self.parsed = self.parsed.model_copy(update={"automatic": False, "automatic_reason": None})
        self.sender = self.identity.key
        self.sender_keys = [self.sender, *legacy_keys(self.sender)] if self.sender else []
        self.keys = EmailKeys.of(self.parsed, notification, ctx)
        self.digest = content_digest(self.parsed)
        self.reused = False
        self.flags: list[str] = []
        self.attachments: list[Attachment] = []
        self.omitted: str | None = None

    # -- reading the keys -------------------------------------------------------------------------

    def lookups(self) -> list[Key]:
        wanted: list[Key] = [("inbound", self.inbound_key), ("inbound", f"email-content#{self.digest}")]
        if self.parsed.message_id:
            wanted.append(("ref", self.parsed.message_id))
        wanted += self.keys.lookups()
        wanted += self.identity_keys()
        return list(dict.fromkeys(wanted))

    def identity_keys(self) -> list[Key]:
        # the current key first; pointers written before keys used the IDNA form still count
        return [("identity", f"email#{key}") for key in self.sender_keys]

    def identities(self) -> list[Identity]:
        return [Identity(kind=IdentityKind.EMAIL, value=self.sender)] if self.sender else []

    def screen(self, found: Found) -> IngestResult | None:
        """A delivery or content already stored is a duplicate; a bad verdict is quarantined."""
        if (done := found.get(("inbound", self.inbound_key))) is not None:
            if self.release is not None:
                return IngestResult(
                    outcome="duplicate",
                    ticket_id=done.ticket_id,
                    message_id=done.message_id,
                    reason="quarantine entry already released",
                )
            return IngestResult(outcome="duplicate", reason="SES notification already processed")
        same = found.get(("inbound", f"email-content#{self.digest}"))
        if same is not None:
            return IngestResult(
                outcome="duplicate", ticket_id=same.ticket_id, reason="same email already received"
            )
        # a release is a supervisor's recorded override (Release), not a weaker check
        reason = _quarantine_reason(self.notification, self.ctx.config) if self.release is None else None
        if reason is not None:
            return self._quarantine(reason, self._verdict_details())
        return None

    # -- threading --------------------------------------------------------------------------------

    def find_thread(
        self, found: Found, customer_id: str | None, repository: IngestStores
    ) -> Thread | IngestResult:
        # A Message-ID another message holds already, with other content: a new message, flagged.
        self.reused = self.parsed.message_id is not None and ("ref", self.parsed.message_id) in found
        candidates = self.keys.candidates(found, self.parsed.bounce)
        tickets = _strongest_ticket(candidates, repository)
        decision = self._decide(candidates, tickets, customer_id)
        if self.parsed.bounce and decision.ticket_id is None:
            return self._quarantine("bounce-unmatched", self._bounce_details())
        sender = self.identity.as_event_data()
        if decision.ticket_id is None:
            data: dict[str, object] = {
                "reason": decision.reason,
                "rejected": decision.rejected,
                "sender": sender,
            }
            return Thread(None, decision.reason, data, linked_ticket_id=decision.linked_ticket_id)
        data = {
            "method": decision.method,
            "ref": decision.ref,
            "reason": decision.reason,
            "automatic": self.parsed.automatic or self.parsed.bounce,
            "sender": sender,
        }
        return Thread(tickets[decision.ticket_id], decision.reason, data, reopen=decision.reopen)

    def _decide(
        self, candidates: list[Candidate], tickets: dict[str, Ticket], customer_id: str | None
    ) -> ThreadDecision:
        if self.release is not None and _dmarc(self.notification).failed:
            # its From is forged as far as we know: it opens a ticket of its own, whatever it refers to
            return ThreadDecision(
                None, None, None, "released from quarantine: a mail that failed DMARC never joins a ticket"
            )
        if self.parsed.bounce:
            # a bounce comes from a mailer, never from the customer: accept it for our own message
            first = candidates[0] if candidates else None
            if first is not None and first.method == "bounce" and first.ticket_id in tickets:
                return ThreadDecision(first.ticket_id, "bounce", first.ref, "bounce of our message")
            return ThreadDecision(None, None, None, "bounce of no message of ours")
        return decide_thread(
            candidates,
            tickets,
            self.sender,
            customer_id,
            self.at,
            timedelta(days=self.ctx.config.email.reopen_closed_within_days),
            automatic=self.parsed.automatic,
            verified=self.identity.verified,
        )

    # -- quarantine -------------------------------------------------------------------------------

    def _quarantine(self, reason: str, details: dict[str, object]) -> IngestResult:
        entry = QuarantineEntry(
            id=new_id("qtn", self.at),
            reason=reason,
            at=self.at,
            ref=clip(repair(self.parsed.message_id or self.ses_id), NAME_MAX_BYTES),
            channel=Channel.EMAIL,
            raw_key=self.notification.receipt.action.object_key,
            details=details,
        )
        self.ctx.repository.quarantine(entry, Pointer("inbound", f"email#{self.ses_id}"))
        return IngestResult(outcome="quarantined", reason=reason)

    def _verdict_details(self) -> dict[str, object]:
        notification = self.notification
        return {
            "ses_message_id": self.ses_id,
            "from": clip(repair(self.parsed.from_header or notification.mail.source or ""), NAME_MAX_BYTES),
            "subject": clip(repair(self.parsed.subject), SUBJECT_MAX_BYTES),
            "verdicts": {name: _verdict(notification, name) for name in _VERDICTS},
            "dmarc_policy": notification.receipt.dmarc_policy,
            "sender": self.identity.as_event_data(),
            # what a release needs to ingest it again; the raw mail itself stays in S3
            "notification": notification.model_dump(mode="json", by_alias=True, exclude={"content"}),
        }

    def _bounce_details(self) -> dict[str, object]:
        return {
            "ses_message_id": self.ses_id,
            "from": clip(repair(self.parsed.from_header), NAME_MAX_BYTES),
            "subject": clip(repair(self.parsed.subject), SUBJECT_MAX_BYTES),
        }

    def refused(self, repository: IngestStores, error: PermanentWriteError) -> IngestResult:
        return _quarantine_refused(self.notification, self.raw, error, self.ctx)

    # -- the message, its customer and its ticket -------------------------------------------------

    def prepare(self, bounder: Bounder) -> None:
        """The message's flags, and its attachments stored in S3 (before the customer's name is
        bounded, so the flags keep their order)."""
        parsed = self.parsed
        flags = _verdict_flags(self.notification) + self.identity.flags
        if self.release is not None:
            flags.append("released")
        if self.unparsed:
            flags.append("unparsed")
        if parsed.bounce:
            flags.append("bounce")
        elif parsed.automatic:
            flags.append("automatic")
        if self.reused:
            flags.append("message_id_reused")
        self.flags = flags
        self.attachments, self.omitted = _store_attachments(parsed, self.ses_id, self.ctx.blobs, bounder)

    def new_customer(self, customer_id: str, bounder: Bounder) -> Customer | None:
        if self.parsed.bounce:
            return None  # a bounce speaks for a mailer, not for a customer
        customer = self.identity.customer
        identities = self.identities()
        tier, fields = customer_attributes(identities, self.ctx.config)
        return Customer(
            id=customer_id,
            name=bounder.optional((customer.name if customer else None) or None, NAME_MAX_BYTES),
            identities=identities,
            tier=tier,
            fields=fields,
            created_at=self.at,
        )

    def message(self, ticket_id: str, bounder: Bounder) -> Message:
        parsed = self.parsed
        text, full_text, html, body_key = self._body(bounder)
        return Message(
            id=new_id("msg", self.at),
            ticket_id=ticket_id,
            direction=Direction.INBOUND,
            channel=Channel.EMAIL,
            at=self.at,
            author=self.identity.answer_to or self.notification.mail.source or "unknown",
            external_id=bounder.optional(parsed.message_id),
            provider_id=self.ses_id,
            subject=bounder.text(parsed.subject, SUBJECT_MAX_BYTES, "subject_truncated") or None,
            text=text,
            full_text=full_text,
            html=html,
            body_key=body_key,
            raw_key=self.notification.receipt.action.object_key,
            automatic=parsed.automatic or parsed.bounce,
            flags=[*self.flags, *(f for f in bounder.flags if f not in self.flags)],
            attachments=self.attachments,
            headers=self._headers(bounder),
        )

    def _body(self, bounder: Bounder) -> tuple[str, str | None, str | None, str | None]:
        """Text, full text and HTML; a body too large to keep on the item goes to S3 (`body_key`),
        leaving a preview of its text."""
        text: str = bounder.text(self.parsed.text)
        full_text: str | None = bounder.text(self.parsed.full_text)
        html: str | None = bounder.optional(self.parsed.html)
        size = len(text.encode()) + len((full_text or "").encode()) + len((html or "").encode())
        if size <= self.ctx.config.email.max_inline_body_bytes:
            return text, full_text, html, None
        body_key = f"bodies/{self.ses_id}.json"
        body = json.dumps({"text": text, "full_text": full_text, "html": html}).encode()
        self.ctx.blobs.put(body_key, body, "application/json")
        return clip(text, PREVIEW_MAX_BYTES), None, None, body_key

    def _headers(self, bounder: Bounder) -> dict[str, str]:
        parsed = self.parsed
        headers = dict(parsed.headers)
        if parsed.from_header:
            headers["from"] = parsed.from_header
        if parsed.reply_to:  # shown beside From: where we answer is decided in email_identity
            headers["reply-to"] = ", ".join(a.address for a in parsed.reply_to)
        headers["to"] = ", ".join(a.address for a in parsed.to)
        if parsed.cc:
            headers["cc"] = ", ".join(a.address for a in parsed.cc)
        headers["recipients"] = ", ".join(self.notification.receipt.recipients)
        headers = bounder.headers(headers)
        if self.omitted is not None:
            headers["omitted_attachments"] = self.omitted
        return headers

    def reading(self, message: Message) -> str:
        return self.parsed.text

    def extra_events(self) -> list[TicketEvent]:
        if self.release is None:
            return []
        return [TicketEvent(at=self.at, type="released_from_quarantine", data=self.release.as_event_data())]

    def pointers(self, ticket_id: str, message_id: str) -> list[Pointer]:
        return _pointers_for_message(
            self.parsed, self.inbound_key, self.digest, ticket_id, message_id, self.reused
        )

    def upserts(self, ticket_id: str, customer_id: str | None) -> list[Pointer]:
        return []

    def join_changes(self, ticket: Ticket, message: Message, changes: TicketChanges) -> None:
        """A customer's email adds its participants; every email adds its flags (but `automatic`)."""
        if not message.automatic:
            participants = participants_of(self.parsed, self.ctx.support_addresses, self.ctx.support_domain)
            merged = list(dict.fromkeys([*ticket.participants, *participants]))
            if merged != ticket.participants:
                changes.participants = merged
        ticket_flags = list(dict.fromkeys([*ticket.flags, *(f for f in message.flags if f != "automatic")]))
        if ticket_flags != ticket.flags:
            changes.flags = ticket_flags

    def new_ticket(self, draft: NewTicket) -> Ticket:
        message, at = draft.message, self.at
        preview = message.text if message.body_key is None else draft.bounder.text(self.parsed.text)
        return Ticket(
            id=draft.ticket_id,
            number=draft.number,
            channel=Channel.EMAIL,
            subject=message.subject,
            customer_id=draft.customer_id,
            flags=list(dict.fromkeys(message.flags)),
            linked_ticket_id=draft.thread.linked_ticket_id,
            created_at=at,
            updated_at=at,
            last_inbound_at=None if message.automatic else at,
            participants=participants_of(self.parsed, self.ctx.support_addresses, self.ctx.support_domain),
            inbox=_inbox(self.notification, self.parsed, self.ctx),
            preview=clip(preview, RULES_PREVIEW_MAX_BYTES),
        )


def _strongest_ticket(candidates: list[Candidate], repository: IngestStores) -> dict[str, Ticket]:
    """The strongest candidate's ticket, or the one it was merged into, by the candidate's id (weaker
    candidates only matter if it is missing)."""
    for candidate_id in dict.fromkeys(c.ticket_id for c in candidates):
        ticket = repository.get_ticket(candidate_id)
        if ticket is None:
            return {}
        # a ticket merged into another: the message joins the survivor (decision 87)
        survivor = follow_merges(ticket, repository)
        return {candidate_id: survivor, survivor.id: survivor}
    return {}


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
