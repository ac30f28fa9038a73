"""The conversation channels of the ingest pipeline (SMS and social): a message joins its
conversation's ticket; consent keywords and delivery receipts are recorded."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

from shared import clock
from shared.dal.base import DuplicateError
from shared.dal.pointers import Pointer
from shared.dal.tickets import TicketChanges
from shared.errors import ConflictError, PermanentWriteError
from shared.ids import new_id
from shared.logic.bounds import (
    HEADER_VALUE_MAX_BYTES,
    MAX_ATTACHMENTS,
    NAME_MAX_BYTES,
    RULES_PREVIEW_MAX_BYTES,
    Bounder,
    clip,
    repair,
)
from shared.logic.customers import customer_attributes, identity_key
from shared.logic.ingest_pipeline import (
    MAX_ATTEMPTS,
    OPEN_STATUSES,
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
from shared.logic.threading import follow_merges
from shared.models.config import HelpdeskConfig
from shared.models.inbound import ConsentAction, ConsentEvent, DeliveryReceipt, InboundMessage
from shared.models.ticket import (
    Attachment,
    ConsentRecord,
    Customer,
    Direction,
    Identity,
    Message,
    Ticket,
    TicketEvent,
    TicketStatus,
)


@dataclass
class ChatContext:
    repository: IngestStores
    config: HelpdeskConfig


def _attachments(message: InboundMessage, bounder: Bounder) -> tuple[list[Attachment], str | None]:
    """The first MAX_ATTACHMENTS attachments, and the listing of those left out."""
    kept = [
        Attachment(
            name=bounder.text(a.filename or a.title or a.type, NAME_MAX_BYTES, "name_truncated"),
            content_type=bounder.text(a.mime_type or a.type, NAME_MAX_BYTES, "name_truncated"),
            size=0,
            url=bounder.optional(a.url, HEADER_VALUE_MAX_BYTES, "headers_truncated"),
            media_id=bounder.optional(a.media_id, NAME_MAX_BYTES, "name_truncated"),
        )
        for a in message.attachments[:MAX_ATTACHMENTS]
    ]
    left = message.attachments[MAX_ATTACHMENTS:]
    return kept, bounder.omitted([a.filename or a.title or a.url or a.type for a in left])


def _text(message: InboundMessage) -> str:
    """The message's text as the customer sent it (its length is bounded by DynamoDB: a message too
    long to store is quarantined whole)."""
    if message.text:
        return message.text
    if message.postback_payload:
        return f"[postback] {message.postback_payload}"
    captions = [a.caption for a in message.attachments if a.caption]
    return "\n".join(captions)


def ingest_message(message: InboundMessage, ctx: ChatContext, raw: str | None = None) -> IngestResult:
    """Store one SMS or social message exactly once, on its conversation's ticket or a new one.

    A message joins the conversation's ticket while it is open; after it is resolved, within
    `chat.reopen_resolved_within_hours` it reopens it; later, or after closing, it opens a new
    ticket linked to the old one. A customer's tickets open at once on several channels share a
    `group_id`.

    A message DynamoDB refuses for good (too large, a value it cannot store) is quarantined
    (`write-rejected`) with `raw`, the input as received (the SNS message, the webhook body), or
    else the parsed message; a redelivery of it is then a duplicate.
    """
    return ingest(lambda: ConversationInbound(message, ctx, raw), ctx.repository, ctx.config)


def _quarantine_refused(
    message: InboundMessage, raw: str | None, error: PermanentWriteError, ctx: ChatContext
) -> IngestResult:
    kept = quarantine_input(
        ctx.repository,
        channel=message.channel,
        reason="write-rejected",
        ref=message.dedupe_key,
        at=message.sent_at,
        raw=raw if raw is not None else json.dumps(message.model_dump(mode="json")),
        dedupe_key=message.dedupe_key,
        inbound_key=message.dedupe_key,
        details={
            "error": clip(repair(str(error)), 2_000),
            "provider_message_id": clip(repair(message.provider_message_id), NAME_MAX_BYTES),
            "conversation_key": clip(repair(message.conversation_key), NAME_MAX_BYTES),
        },
    )
    if not kept:
        return IngestResult(outcome="duplicate", reason="message already quarantined")
    return IngestResult(outcome="quarantined", reason="write-rejected")


class ConversationInbound:
    """One SMS or social message on its way through the ingest pipeline: threads are conversations.

    Any channel whose parser produces an `InboundMessage` rides on this adapter: its dedupe key is
    `InboundMessage.dedupe_key`, its threading key `InboundMessage.conversation_key`.
    """

    rules = ChannelRules(groups_across_channels=True)

    def __init__(self, inbound: InboundMessage, ctx: ChatContext, raw: str | None) -> None:
        self.inbound, self.ctx, self.raw = inbound, ctx, raw
        self.channel = inbound.channel
        self.at = inbound.sent_at
        sender = inbound.sender
        self.sender_key = identity_key(sender.kind.value, sender.value) if sender else None
        self.conversation: Pointer | None = None
        self.flags: list[str] = []
        self.text = ""
        self.author = ""
        self.attachments: list[Attachment] = []
        self.headers: dict[str, str] = {}
        self.external_id = self.provider_id = ""

    def lookups(self) -> list[Key]:
        return [
            ("inbound", self.inbound.dedupe_key),
            ("conversation", self.inbound.conversation_key),
            *self.identity_keys(),
        ]

    def identity_keys(self) -> list[Key]:
        return [("identity", self.sender_key)] if self.sender_key else []

    def identities(self) -> list[Identity]:
        return [self.inbound.sender] if self.inbound.sender else []

    def screen(self, found: Found) -> IngestResult | None:
        if ("inbound", self.inbound.dedupe_key) in found:
            return IngestResult(outcome="duplicate", reason="message already received")
        return None

    def find_thread(
        self, found: Found, customer_id: str | None, repository: IngestStores
    ) -> Thread | IngestResult:
        """The conversation's ticket while it is open, or resolved within the reopen window;
        else a new ticket, linked to the conversation's earlier one."""
        self.conversation = conversation = found.get(("conversation", self.inbound.conversation_key))
        current = (
            repository.get_ticket(conversation.ticket_id) if conversation and conversation.ticket_id else None
        )
        if current is not None:  # merged into another ticket: the conversation continues there
            current = follow_merges(current, repository)
        if current is None:
            return Thread(None, "new conversation", {"reason": "new conversation"})
        window = timedelta(hours=self.ctx.config.chat.reopen_resolved_within_hours)
        if current.status in OPEN_STATUSES:
            reason, reopen = "conversation open", False
        elif current.status == TicketStatus.RESOLVED and (
            current.resolved_at is None or self.at - current.resolved_at <= window
        ):
            reason, reopen = "conversation resolved recently", True
        else:
            reason = f"conversation {current.status.value} earlier: new ticket"
            return Thread(
                None, reason, {"reason": reason}, linked_ticket_id=current.id, customer_id=current.customer_id
            )
        data: dict[str, object] = {"method": "conversation", "reason": reason}
        return Thread(current, reason, data, reopen=reopen, customer_id=current.customer_id)

    def prepare(self, bounder: Bounder) -> None:
        """The message's text, attachments, headers and ids, repaired and clipped, and its flags."""
        inbound = self.inbound
        self.flags = [*(["public"] if inbound.public else []), *inbound.flags]
        self.author = bounder.text(inbound.sender.value if inbound.sender else "unknown")
        self.text = bounder.text(_text(inbound))
        self.attachments, omitted = _attachments(inbound, bounder)
        self.headers = bounder.headers(
            {k: v for k, v in {**inbound.metadata, "kind": inbound.kind.value}.items() if v}
        )
        if omitted is not None:
            self.headers["omitted_attachments"] = omitted
        self.external_id, self.provider_id = (
            bounder.text(inbound.provider_message_id),
            bounder.text(inbound.dedupe_key),
        )
        self.flags += bounder.flags

    def new_customer(self, customer_id: str, bounder: Bounder) -> Customer | None:
        inbound = self.inbound
        identities = self.identities()
        tier, fields = customer_attributes(identities, self.ctx.config)
        return Customer(
            id=customer_id,
            name=clip(repair(inbound.sender_name), NAME_MAX_BYTES) if inbound.sender_name else None,
            identities=identities,
            tier=tier,
            fields=fields,
            created_at=self.at,
        )

    def message(self, ticket_id: str, bounder: Bounder) -> Message:
        return Message(
            id=new_id("msg", self.at),
            ticket_id=ticket_id,
            direction=Direction.INBOUND,
            channel=self.channel,
            at=self.at,
            author=self.author,
            external_id=self.external_id,
            provider_id=self.provider_id,
            text=self.text,
            flags=self.flags,
            attachments=self.attachments,
            headers=self.headers,
        )

    def reading(self, message: Message) -> str:
        return message.text

    def extra_events(self) -> list[TicketEvent]:
        return []

    def pointers(self, ticket_id: str, message_id: str) -> list[Pointer]:
        """The message's dedupe key, and its provider id as a reference (receipts find it by it)."""
        inbound = self.inbound
        return [
            Pointer("inbound", inbound.dedupe_key, ticket_id=ticket_id, message_id=message_id),
            Pointer(
                "ref",
                f"{inbound.channel.value}:{inbound.provider_message_id}",
                ticket_id=ticket_id,
                message_id=message_id,
                direction="inbound",
            ),
        ]

    def upserts(self, ticket_id: str, customer_id: str | None) -> list[Pointer]:
        """The conversation's pointer, now at `ticket_id`, with the latest message's time, whatever
        order deliveries come in (the DAL refuses to move it back)."""
        latest = clock.iso(self.at)
        conversation = self.conversation
        if (
            conversation is not None
            and conversation.last_inbound_at
            and conversation.last_inbound_at > latest
        ):
            latest = conversation.last_inbound_at
        return [
            Pointer(
                "conversation",
                self.inbound.conversation_key,
                ticket_id=ticket_id,
                customer_id=customer_id,
                last_inbound_at=latest,
            )
        ]

    def join_changes(self, ticket: Ticket, message: Message, changes: TicketChanges) -> None:
        return None  # a conversation's ticket keeps its own flags and has no participants

    def new_ticket(self, draft: NewTicket) -> Ticket:
        message, at = draft.message, self.at
        return Ticket(
            id=draft.ticket_id,
            number=draft.number,
            channel=self.channel,
            subject=None,
            customer_id=draft.customer_id,
            flags=self.flags,
            group_id=draft.group_id,
            linked_ticket_id=draft.thread.linked_ticket_id,
            inbox=self.inbound.recipient,
            preview=clip(message.text, RULES_PREVIEW_MAX_BYTES),
            created_at=at,
            updated_at=at,
            last_inbound_at=at,
        )

    def refused(self, repository: IngestStores, error: PermanentWriteError) -> IngestResult:
        return _quarantine_refused(self.inbound, self.raw, error, self.ctx)


@dataclass
class ConsentResult:
    outcome: str
    customer_id: str | None = None
    opted_out: list[str] | None = None


def record_consent(event: ConsentEvent, ctx: ChatContext) -> ConsentResult:
    """Record an SMS keyword (STOP, START, HELP...) on the customer, exactly once."""
    for attempt in range(MAX_ATTEMPTS):
        try:
            return _consent_once(event, ctx)
        except DuplicateError:
            return ConsentResult(outcome="duplicate")
        except ConflictError:
            if attempt == MAX_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _consent_once(event: ConsentEvent, ctx: ChatContext) -> ConsentResult:
    sender_key = identity_key(event.sender.kind.value, event.sender.value)
    found = ctx.repository.get_pointers([("inbound", event.dedupe_key), ("identity", sender_key)])
    if ("inbound", event.dedupe_key) in found:
        return ConsentResult(outcome="duplicate")
    identity = found.get(("identity", sender_key))
    customer = (
        ctx.repository.get_customer(identity.customer_id) if identity and identity.customer_id else None
    )
    exists = customer is not None
    new_pointers: list[Pointer] = []
    if customer is None:
        customer = Customer(id=new_id("cus", event.at), identities=[event.sender], created_at=event.at)
        new_pointers.append(Pointer("identity", sender_key, customer_id=customer.id))
    opted_out = list(customer.opted_out)
    channel = event.channel.value
    if event.action == ConsentAction.OPT_OUT and channel not in opted_out:
        opted_out.append(channel)
    elif event.action == ConsentAction.OPT_IN and channel in opted_out:
        opted_out.remove(channel)
    record = ConsentRecord(at=event.at, channel=channel, action=event.action.value, keyword=event.keyword)
    updated = customer.model_copy(update={"opted_out": opted_out, "consent": [*customer.consent, record]})
    ctx.repository.record_consent(updated, Pointer("inbound", event.dedupe_key), new_pointers, exists)
    return ConsentResult(outcome=event.action.value, customer_id=updated.id, opted_out=opted_out)


def record_receipt(receipt: DeliveryReceipt, ctx: ChatContext) -> str:
    """Record a provider's delivery/read/failure report on the ticket of the message(s) it concerns.

    Returns `recorded`, `duplicate` or `unmatched` (a receipt for a message we do not know).
    """
    wanted = [("ref", f"{receipt.channel.value}:{mid}") for mid in receipt.message_ids]
    if not receipt.message_ids and receipt.customer:  # a watermark covers the conversation's messages
        wanted.append(("conversation", f"{receipt.channel.value}:{receipt.account}:{receipt.customer}"))
    found = ctx.repository.get_pointers(wanted)
    ticket_ids = [
        p.ticket_id for p in found.values() if p.ticket_id and (p.kind != "ref" or p.direction == "outbound")
    ]
    if not ticket_ids:
        return "unmatched"
    event = TicketEvent(
        at=receipt.at,
        type="delivery_status",
        data={
            "channel": receipt.channel.value,
            "status": receipt.status.value,
            "message_ids": receipt.message_ids,
            "watermark": clock.iso(receipt.watermark) if receipt.watermark else None,
            "errors": [e.model_dump(mode="json") for e in receipt.errors],
        },
    )
    try:
        ctx.repository.add_events(ticket_ids[0], [event], Pointer("inbound", f"receipt#{receipt.dedupe_key}"))
    except DuplicateError:
        return "duplicate"
    return "recorded"
