"""Use cases for SMS and social channels: messages join their conversation's ticket; consent is recorded."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

from shared import clock
from shared.dal.base import DuplicateError
from shared.dal.pointers import Pointer
from shared.dal.repository import TicketRepository
from shared.dal.tickets import AppendWrite, NewTicketWrite, TicketChanges
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
from shared.logic.customers import customer_attributes, identity_key, suggestion_event
from shared.logic.ingest_email import MAX_ATTEMPTS, IngestResult
from shared.logic.quarantine import quarantine_input
from shared.logic.sla_service import after_customer_message
from shared.logic.survey import csat_rating
from shared.models.config import HelpdeskConfig
from shared.models.inbound import ConsentAction, ConsentEvent, DeliveryReceipt, InboundMessage
from shared.models.ticket import (
    Attachment,
    ConsentRecord,
    Customer,
    Direction,
    Message,
    Ticket,
    TicketEvent,
    TicketStatus,
)

OPEN_STATUSES = {TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING, TicketStatus.ON_HOLD}


@dataclass
class ChatContext:
    repository: TicketRepository
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
    for attempt in range(MAX_ATTEMPTS):
        try:
            return _ingest_once(message, ctx)
        except DuplicateError as exc:
            return IngestResult(outcome="duplicate", reason=str(exc))
        except ConflictError:
            if attempt == MAX_ATTEMPTS - 1:
                raise
        except PermanentWriteError as exc:
            return _quarantine_refused(message, raw, exc, ctx)
    raise AssertionError("unreachable")  # pragma: no cover


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


def _ingest_once(inbound: InboundMessage, ctx: ChatContext) -> IngestResult:
    now = inbound.sent_at
    sender_key = identity_key(inbound.sender.kind.value, inbound.sender.value) if inbound.sender else None
    wanted = [("inbound", inbound.dedupe_key), ("conversation", inbound.conversation_key)]
    if sender_key:
        wanted.append(("identity", sender_key))
    found = ctx.repository.get_pointers(wanted)
    if ("inbound", inbound.dedupe_key) in found:
        return IngestResult(outcome="duplicate", reason="message already received")

    conversation = found.get(("conversation", inbound.conversation_key))
    current = (
        ctx.repository.get_ticket(conversation.ticket_id) if conversation and conversation.ticket_id else None
    )
    identity = found.get(("identity", sender_key)) if sender_key else None
    customer_id = identity.customer_id if identity else None

    new_customer: Customer | None = None
    customer_pointers: list[Pointer] = []
    if customer_id is None:
        customer_id = current.customer_id if current else new_id("cus", now)
        if current is None:
            identities = [inbound.sender] if inbound.sender else []
            tier, fields = customer_attributes(identities, ctx.config)
            new_customer = Customer(
                id=customer_id,
                name=clip(repair(inbound.sender_name), NAME_MAX_BYTES) if inbound.sender_name else None,
                identities=identities,
                tier=tier,
                fields=fields,
                created_at=now,
            )
        if sender_key:
            customer_pointers.append(Pointer("identity", sender_key, customer_id=customer_id))

    window = timedelta(hours=ctx.config.chat.reopen_resolved_within_hours)
    join, reopen, reason = False, False, "new conversation"
    if current is not None:
        if current.status in OPEN_STATUSES:
            join, reason = True, "conversation open"
        elif current.status == TicketStatus.RESOLVED and (
            current.resolved_at is None or now - current.resolved_at <= window
        ):
            join, reopen, reason = True, True, "conversation resolved recently"
        else:
            reason = f"conversation {current.status.value} earlier: new ticket"

    bounder = Bounder()
    flags = [*(["public"] if inbound.public else []), *inbound.flags]
    author = bounder.text(inbound.sender.value if inbound.sender else "unknown")
    # the latest message's time, whatever order deliveries come in (the DAL refuses to move it back)
    latest = clock.iso(now)
    if conversation is not None and conversation.last_inbound_at and conversation.last_inbound_at > latest:
        latest = conversation.last_inbound_at
    conversation_pointer = Pointer(
        "conversation",
        inbound.conversation_key,
        customer_id=customer_id,
        last_inbound_at=latest,
    )
    text = bounder.text(_text(inbound))
    attachments, omitted = _attachments(inbound, bounder)
    headers = bounder.headers(
        {k: v for k, v in {**inbound.metadata, "kind": inbound.kind.value}.items() if v}
    )
    if omitted is not None:
        headers["omitted_attachments"] = omitted
    external_id, provider_id = bounder.text(inbound.provider_message_id), bounder.text(inbound.dedupe_key)
    flags += bounder.flags

    def build_message(ticket_id: str) -> Message:
        return Message(
            id=new_id("msg", now),
            ticket_id=ticket_id,
            direction=Direction.INBOUND,
            channel=inbound.channel,
            at=now,
            author=author,
            external_id=external_id,
            provider_id=provider_id,
            text=text,
            flags=flags,
            attachments=attachments,
            headers=headers,
        )

    dedupe = Pointer("inbound", inbound.dedupe_key)
    ref = Pointer("ref", f"{inbound.channel.value}:{inbound.provider_message_id}", direction="inbound")
    if join and current is not None:
        message = build_message(current.id)
        events = [
            TicketEvent(
                at=now,
                type="message_threaded",
                data={"message_id": message.id, "method": "conversation", "reason": reason},
            )
        ]
        suggested = suggestion_event(message.text, [inbound.sender] if inbound.sender else [], now)
        if suggested is not None:
            events.append(suggested)
        rating = csat_rating(message.text) if current.status == TicketStatus.RESOLVED else None
        reopens = reopen and rating is None
        changes = TicketChanges(
            updated_at=max(now, current.updated_at),
            # a late delivery of an older message never moves the latest time back (Meta's 24 hours)
            last_inbound_at=now if current.last_inbound_at is None or now > current.last_inbound_at else None,
            sla=after_customer_message(ctx.config, current, now, reopens=reopens),
        )
        if rating is not None:
            events.append(TicketEvent(at=now, type="csat", data={"rating": rating, "message_id": message.id}))
        if reopens:
            changes.status = TicketStatus.OPEN.value
            changes.clear_resolved_at = True
            events.append(TicketEvent(at=now, type="reopened", data={"from_status": current.status.value}))
        ctx.repository.append_message(
            AppendWrite(
                ticket_id=current.id,
                expected_version=current.version,
                changes=changes,
                message=message,
                events=events,
                pointers=[
                    Pointer(dedupe.kind, dedupe.value, ticket_id=current.id, message_id=message.id),
                    Pointer(
                        ref.kind, ref.value, ticket_id=current.id, message_id=message.id, direction="inbound"
                    ),
                    *customer_pointers,
                ],
                new_customer=new_customer,
                upserts=[Pointer(**{**conversation_pointer.__dict__, "ticket_id": current.id})],
            )
        )
        return IngestResult(
            outcome="threaded",
            ticket_id=current.id,
            ticket_number=current.number,
            message_id=message.id,
            reason=reason,
            flags=flags,
        )

    group_id: str | None = None
    group_members: list[str] = []
    if new_customer is None:
        others = [
            t
            for t in ctx.repository.list_customer_tickets(customer_id)
            if t.status in OPEN_STATUSES and t.channel != inbound.channel
        ]
        if others:
            group_id = next((t.group_id for t in others if t.group_id), None) or new_id("grp", now)
            group_members = [t.id for t in others if t.group_id != group_id]

    number = ctx.repository.next_ticket_number(ctx.config.tickets.number_start)
    ticket_id = new_id("tkt", now)
    message = build_message(ticket_id)
    ticket = Ticket(
        id=ticket_id,
        number=number,
        channel=inbound.channel,
        subject=None,
        customer_id=customer_id,
        flags=flags,
        group_id=group_id,
        linked_ticket_id=current.id if current is not None else None,
        inbox=inbound.recipient,
        preview=clip(message.text, RULES_PREVIEW_MAX_BYTES),
        created_at=now,
        updated_at=now,
        last_inbound_at=now,
    )
    events = [TicketEvent(at=now, type="created", data={"message_id": message.id, "reason": reason})]
    if current is not None:
        events.append(TicketEvent(at=now, type="linked", data={"ticket_id": current.id}))
    if group_id:
        events.append(TicketEvent(at=now, type="grouped", data={"group_id": group_id, "with": group_members}))
    suggested = suggestion_event(message.text, [inbound.sender] if inbound.sender else [], now)
    if suggested is not None:
        events.append(suggested)
    ctx.repository.create_ticket(
        NewTicketWrite(
            ticket=ticket,
            message=message,
            events=events,
            pointers=[
                Pointer(dedupe.kind, dedupe.value, ticket_id=ticket_id, message_id=message.id),
                Pointer(ref.kind, ref.value, ticket_id=ticket_id, message_id=message.id, direction="inbound"),
                Pointer("number", str(number), ticket_id=ticket_id),
                *customer_pointers,
            ],
            new_customer=new_customer,
            upserts=[Pointer(**{**conversation_pointer.__dict__, "ticket_id": ticket_id})],
            group_members=group_members,
        )
    )
    return IngestResult(
        outcome="created",
        ticket_id=ticket_id,
        ticket_number=number,
        message_id=message.id,
        reason=reason,
        flags=flags,
    )


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
