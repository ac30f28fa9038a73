"""Outbound use cases: acknowledgements, agent replies and notes, and sending through the outbox.

Every message to a customer is first recorded in the outbox under an idempotency key, then sent
by auto_followup from the stream, once. Automatic messages pass the loop guards first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared import clock
from shared.channels.outbound import Sender, SendError
from shared.channels.sms import segments
from shared.dal.repository import Pointer, TicketRepository
from shared.errors import ConflictError
from shared.ids import new_id
from shared.logic import sla as sla_math
from shared.logic import templates
from shared.logic.calendar import parse_interval
from shared.logic.sla_service import after_agent_reply, policy_calendar
from shared.models.config import HelpdeskConfig
from shared.models.outbound import OutboundKind, OutboundMessage
from shared.models.ticket import Customer, Direction, Message, Ticket, TicketEvent

SHORT_CHANNELS = {"sms", "messenger", "instagram", "whatsapp", "x"}


@dataclass
class OutboundContext:
    repository: TicketRepository
    config: HelpdeskConfig
    support_addresses: list[str]
    support_domain: str
    senders: dict[str, Sender] = field(default_factory=dict)
    detect_language: Any = None


def _from_address(ctx: OutboundContext) -> str:
    return ctx.config.followups.from_address or (ctx.support_addresses[0] if ctx.support_addresses else "")


def _plus_address(ctx: OutboundContext, number: int) -> str:
    local, _, host = _from_address(ctx).partition("@")
    return f"{local}+{number}@{host or ctx.support_domain}"


def _last_inbound(messages: list[Message]) -> Message | None:
    inbound = [m for m in messages if m.direction == Direction.INBOUND and not m.automatic]
    return inbound[-1] if inbound else None


def _subject(ticket: Ticket, ctx: OutboundContext) -> str:
    token = f"[{ctx.config.email.subject_token_prefix}{ticket.number}]"
    subject = ticket.subject or ""
    return subject if token in subject else f"Re: {token} {subject}".strip()


def _addressing(ticket: Ticket, messages: list[Message], ctx: OutboundContext) -> dict[str, Any]:
    """To, from and threading headers for a message on the ticket's channel."""
    last = _last_inbound(messages)
    fields: dict[str, Any] = {"to": last.author if last else "", "channel": ticket.channel.value}
    if ticket.channel.value == "email":
        ids = [m.external_id for m in messages if m.external_id and m.channel.value == "email"]
        fields.update(
            from_address=_from_address(ctx),
            reply_to=_plus_address(ctx, ticket.number),
            in_reply_to=last.external_id if last else None,
            references=ids[-10:],
            subject=_subject(ticket, ctx),
        )
    else:
        fields["from_address"] = ticket.inbox
        if ticket.last_inbound_at is not None:  # Meta's messaging window counts from it
            fields["headers"] = {"last_inbound_at": clock.iso(ticket.last_inbound_at)}
    return fields


def _guard(
    ticket: Ticket,
    customer: Customer | None,
    last_auto: Pointer | None,
    ctx: OutboundContext,
    now: datetime,
    kind: str = "ack",
) -> str | None:
    """Why an automatic message must not go out, or None."""
    if {"automatic", "bounce"} & set(ticket.flags):
        return "the customer's message was automatic (auto-reply, list or bounce)"
    if customer is not None and ticket.channel.value in customer.opted_out and kind != "transcript":
        return f"the customer opted out of {ticket.channel.value}"
    interval = timedelta(minutes=ctx.config.followups.min_interval_minutes)
    recent = bool(
        last_auto is not None
        and last_auto.created_at
        and now - clock.parse_iso(last_auto.created_at) < interval
    )
    if recent and kind in ("ack", "update", "reminder", "ooo"):  # answers to an agent's action always go out
        return "the customer got an automatic message less than the minimum interval ago"
    quiet = ctx.config.followups.sms_quiet_hours
    zone = customer.fields.get("timezone") if customer is not None else None
    if ticket.channel.value == "sms" and quiet and zone:
        from zoneinfo import ZoneInfo

        start, end = parse_interval(quiet)
        try:
            local = now.astimezone(ZoneInfo(zone)).time()
        except (ValueError, KeyError):  # an unknown zone on the customer: quiet hours cannot apply
            return None
        in_quiet = (start <= local or local < end) if end <= start else (start <= local < end)
        if in_quiet:
            return "SMS quiet hours in the customer's time zone"
    return None


def acknowledge(ticket: Ticket, ctx: OutboundContext, now: datetime) -> tuple[OutboundMessage | None, str]:
    """Queue the acknowledgement of a new ticket: its number and when we will answer, in the
    customer's language and business-hours aware; or say why none goes out."""
    if not ctx.config.followups.acknowledge:
        return None, "acknowledgements are off"
    queued, why = queue_automatic(ticket, "ack", f"ack#{ticket.id}", ctx, now)
    return queued, "already acknowledged" if why == "already queued" else why


def queue_automatic(
    ticket: Ticket,
    kind: OutboundKind,
    key: str,
    ctx: OutboundContext,
    now: datetime,
    due: datetime | None = None,
    extra: dict[str, Any] | None = None,
    to_email: str | None = None,
) -> tuple[OutboundMessage | None, str]:
    """Queue an automatic message of `kind` on the ticket's channel (or by email to `to_email`),
    after the loop guards; suppressed ones are recorded with the reason."""
    customer = ctx.repository.get_customer(ticket.customer_id)
    found = ctx.repository.get_pointers([("lastauto", ticket.customer_id)])
    messages = ctx.repository.list_messages(ticket.id)
    reason = _guard(ticket, customer, found.get(("lastauto", ticket.customer_id)), ctx, now, kind)
    addressing = _addressing(ticket, messages, ctx)
    if to_email is not None:
        addressing = {
            "to": to_email,
            "channel": "email",
            "from_address": _from_address(ctx),
            "reply_to": _plus_address(ctx, ticket.number),
            "subject": _subject(ticket, ctx),
        }
    if not addressing["to"]:
        reason = reason or "no address to answer to"
    if addressing["channel"] in {"messenger", "instagram", "whatsapp"} and reason is None:
        from shared.channels.social_outbound import messaging_window

        window = messaging_window(addressing["channel"], ticket.last_inbound_at, now, automatic=True)
        if not window.allowed:
            reason = window.reason
    language = ticket.language
    if language is None and ctx.detect_language is not None:
        language = ctx.detect_language(f"{ticket.subject or ''}\n{ticket.preview}")
    language = language or ctx.config.followups.default_language
    context = {**_ack_context(ticket, customer, language, ctx, now, due), **(extra or {})}
    short = addressing["channel"] in SHORT_CHANNELS
    text = templates.render(kind, "short" if short else "email", language, context)
    outbound = OutboundMessage(
        key=key,
        ticket_id=ticket.id,
        kind=kind,
        text=text,
        html=None if short else templates.render_html(text),
        created_at=now,
        automatic=True,
        status="suppressed" if reason else "pending",
        error=reason,
        segments=segments(text)[1] if addressing["channel"] == "sms" else None,
        **{
            **addressing,
            "subject": templates.render(kind, "subject", language, context) if not short else None,
        },
    )
    guards = [] if reason else [Pointer("lastauto", ticket.customer_id, customer_id=ticket.customer_id)]
    if not ctx.repository.put_outbound(outbound, guards):
        return None, "already queued"
    if reason:
        ctx.repository.add_events(
            ticket.id,
            [TicketEvent(at=now, type="followup_suppressed", data={"kind": kind, "why": reason})],
            Pointer("inbound", f"suppressed#{key}"),
        )
        return None, reason
    return outbound, "queued"


def _ack_context(
    ticket: Ticket,
    customer: Customer | None,
    language: str,
    ctx: OutboundContext,
    now: datetime,
    due_at: datetime | None = None,
) -> dict[str, Any]:
    facts = sla_math.SlaFacts(
        ticket.channel.value, "public" in ticket.flags, ticket.priority.value, ticket.team, None
    )
    policy = sla_math.select_policy(ctx.config, facts, ticket.sla.policy)
    calendar, name = policy_calendar(ctx.config, policy, ticket.team)
    timezone = ctx.config.calendars[name].timezone
    closed_now = not calendar.is_open(now)
    first = policy.first_response if policy is not None else None
    if due_at is not None:
        expected = templates.expected_phrase(language, due_at, timezone)
    elif first is not None:
        due = sla_math.start_target(
            "first_response", first, now, calendar, policy.warning_at if policy else 0.8
        )
        expected = templates.expected_phrase(language, due.due_at or now, timezone)
    else:
        expected = templates.expected_phrase(language, now + timedelta(days=1), timezone)
    opens = calendar.next_open(now) if closed_now else None
    return {
        "customer_name": (customer.name if customer and customer.name else ""),
        "ticket": {"number": ticket.number, "subject": ticket.subject or "", "channel": ticket.channel.value},
        "expected": expected,
        "closed_now": closed_now,
        "opens_at": templates.expected_phrase(language, opens, timezone, from_time=True) if opens else "",
        "transcript": "",
    }


def agent_reply(
    ticket: Ticket, text: str, agent: str, ctx: OutboundContext, now: datetime, key: str | None = None
) -> OutboundMessage:
    """Queue an agent's public reply on the ticket's channel (sent once, even if retried)."""
    messages = ctx.repository.list_messages(ticket.id)
    addressing = _addressing(ticket, messages, ctx)
    if not addressing["to"]:
        from shared.logic.agent_actions import InvalidRequestError

        raise InvalidRequestError(f"ticket {ticket.number} has no customer message to answer")
    short = ticket.channel.value in SHORT_CHANNELS
    outbound = OutboundMessage(
        key=key or new_id("out", now),
        ticket_id=ticket.id,
        kind="reply",
        text=text,
        html=None if short else templates.render_html(text),
        created_at=now,
        automatic=False,
        author=agent,
        segments=segments(text)[1] if ticket.channel.value == "sms" else None,
        **addressing,
    )
    ctx.repository.put_outbound(outbound, [])
    return outbound


def add_note(ticket: Ticket, text: str, agent: str, ctx: OutboundContext, now: datetime) -> Message:
    """An internal note: on the ticket for agents, never sent, does not satisfy an SLA."""
    note = Message(
        id=new_id("msg", now),
        ticket_id=ticket.id,
        direction=Direction.NOTE,
        channel=ticket.channel,
        at=now,
        author=agent,
        text=text,
    )
    event = TicketEvent(at=now, type="note_added", data={"by": agent, "message_id": note.id})
    ctx.repository.add_message(ticket.id, note, [event])
    return note


def send_outbound(key: str, ctx: OutboundContext, now: datetime) -> str:
    """Send one outbox message through its channel's sender, once; keep it on the ticket.

    Returns sent, failed, retry or skipped (already taken by another delivery of the record).
    """
    message = ctx.repository.get_outbound(key)
    if message is None or not ctx.repository.start_sending(key):
        return "skipped"
    sender = ctx.senders.get(message.channel)
    try:
        if sender is None:
            raise SendError(f"no sender for channel {message.channel} yet", permanent=True)
        provider_id = sender.send(message)
    except SendError as exc:
        event = TicketEvent(
            at=now,
            type="delivery_failed" if exc.permanent else "delivery_retry",
            data={"kind": message.kind, "key": key, "error": str(exc), "attempt": message.attempts + 1},
        )
        ctx.repository.outbound_failed(message, str(exc), exc.permanent, [event])
        return "failed" if exc.permanent else "retry"
    sent = message.model_copy(update={"provider_id": provider_id, "status": "sent"})
    stored = Message(
        id=new_id("msg", now),
        ticket_id=message.ticket_id or "",
        direction=Direction.OUTBOUND,
        channel=message.channel,
        at=now,
        author=message.author,
        external_id=provider_id,
        provider_id=provider_id,
        subject=message.subject,
        text=message.text,
        html=message.html,
        automatic=message.automatic,
        headers={"kind": message.kind, "to": message.to},
    )
    ref = provider_id if message.channel == "email" else f"{message.channel}:{provider_id}"
    for attempt in range(3):
        ticket = ctx.repository.get_ticket(message.ticket_id) if message.ticket_id else None
        sla = (
            after_agent_reply(ctx.config, ticket, now)
            if ticket is not None and not message.automatic
            else None
        )
        events = [
            TicketEvent(
                at=now,
                type="message_sent",
                data={"kind": message.kind, "message_id": stored.id, "to": message.to},
            )
        ]
        pointers = [
            Pointer("ref", ref, ticket_id=message.ticket_id, message_id=stored.id, direction="outbound")
        ]
        try:
            ctx.repository.outbound_sent(sent, stored if ticket else None, pointers, events, ticket, sla)
            return "sent"
        except ConflictError:
            if attempt == 2:
                raise
    return "sent"


def on_resolution(ticket: Ticket, ctx: OutboundContext, now: datetime) -> list[str]:
    """After resolution: the satisfaction survey and, for SMS and social conversations, a transcript
    by email when we know the customer's address. Returns what was queued or why not."""
    results: list[str] = []
    if ctx.config.followups.csat:
        _, why = queue_automatic(ticket, "csat", f"csat#{ticket.id}#{ticket.resolved_at or now}", ctx, now)
        results.append(f"csat: {why}")
    if ctx.config.followups.transcripts and ticket.channel.value != "email":
        customer = ctx.repository.get_customer(ticket.customer_id)
        address = (
            next((i.value for i in customer.identities if i.kind.value == "email"), None)
            if customer
            else None
        )
        if address is None:
            results.append("transcript: no email address known")
        else:
            lines = [
                f"{m.at.strftime('%Y-%m-%d %H:%M')} {m.author}: {m.text}"
                for m in ctx.repository.list_messages(ticket.id)
                if m.direction != Direction.NOTE
            ]
            _, why = queue_automatic(
                ticket,
                "transcript",
                f"transcript#{ticket.id}#{ticket.resolved_at or now}",
                ctx,
                now,
                extra={"transcript": "\n".join(lines)},
                to_email=address,
            )
            results.append(f"transcript: {why}")
    return results


_RATING = re.compile(
    r"^\s*([1-5])(?:\s*(?:/\s*5|stars?|sterne?|étoiles?|estrellas?))?\s*(?:[-–,:;!]|\.?\s*(?:\n|$))",
    re.IGNORECASE,
)


def csat_rating(text: str) -> int | None:
    """The 1-5 rating at the start of a customer's reply to the satisfaction survey, if any."""
    match = _RATING.match(text or "")
    return int(match.group(1)) if match else None
