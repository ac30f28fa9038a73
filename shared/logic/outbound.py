"""Outbound use cases: acknowledgements, agent replies and notes, and sending through the outbox.

Every message to a customer is first recorded in the outbox under an idempotency key, then sent
by auto_followup from the stream, once. Automatic messages pass the loop guards first.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared import clock
from shared.channels.outbound import Sender, SendError
from shared.channels.sms import segments
from shared.channels.social_outbound import (
    HEADER_WHATSAPP_TEMPLATE,
    HEADER_WHATSAPP_TEMPLATE_PARAMS,
    META_CHANNELS,
    messaging_window,
)
from shared.dal.outbox import GuardRaceError
from shared.dal.pointers import Pointer
from shared.dal.repository import TicketRepository
from shared.errors import ConflictError
from shared.ids import new_id
from shared.logic import sla as sla_math
from shared.logic import templates
from shared.logic.agent_actions import (
    IdempotencyKeyReusedError,
    InvalidRequestError,
    check_idempotency_key,
    check_text,
)
from shared.logic.calendar import parse_interval
from shared.logic.routing import calendar_for
from shared.logic.sla_service import after_agent_reply, policy_calendar
from shared.models.config import HelpdeskConfig
from shared.models.outbound import OutboundKind, OutboundMessage
from shared.models.ticket import Customer, Direction, Message, Ticket, TicketEvent

MAX_SMS_CHARACTERS = 1600
"""The most one SMS send may carry (SNS Publish and SendTextMessage alike), split into segments."""
SHORT_CHANNELS = {"sms", "messenger", "instagram", "whatsapp", "x"}
INTERVAL_KINDS = frozenset({"ack", "update", "reminder", "ooo"})
"""Automatic messages held back within `followups.min_interval_minutes` of the customer's last one;
the others answer an agent's action or a resolution and always go out."""
RECENT_AUTOMATIC = "the customer got an automatic message less than the minimum interval ago"


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
    token = ticket_token(ticket, ctx)
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
    return passing_guard(ticket, customer, last_auto, ctx, now, kind)


def passing_guard(
    ticket: Ticket,
    customer: Customer | None,
    last_auto: Pointer | None,
    ctx: OutboundContext,
    now: datetime,
    kind: str = "ack",
) -> str | None:
    """The guards that lift with time: the minimum interval since the customer's last automatic
    message (`last_auto`), and SMS quiet hours in the customer's time zone. None: they pass."""
    interval = timedelta(minutes=ctx.config.followups.min_interval_minutes)
    recent = bool(
        last_auto is not None
        and last_auto.created_at
        and now - clock.parse_iso(last_auto.created_at) < interval
    )
    if recent and kind in INTERVAL_KINDS:
        return RECENT_AUTOMATIC
    quiet = ctx.config.followups.sms_quiet_hours
    zone = customer.fields.get("timezone") if customer is not None else None
    if ticket.channel.value == "sms" and quiet and zone and in_quiet_hours(quiet, zone, now):
        return "SMS quiet hours in the customer's time zone"
    return None


def in_quiet_hours(quiet: str, zone: str, now: datetime) -> bool:
    """Whether `now` falls in the `HH:MM-HH:MM` quiet hours in the zone (an unknown zone: never)."""
    from zoneinfo import ZoneInfo

    start, end = parse_interval(quiet)
    try:
        local = now.astimezone(ZoneInfo(zone)).time()
    except (ValueError, KeyError):  # an unknown zone on the customer: quiet hours cannot apply
        return False
    return (start <= local or local < end) if end <= start else (start <= local < end)


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
    if addressing["channel"] in META_CHANNELS and reason is None:
        window = messaging_window(addressing["channel"], ticket.last_inbound_at, now, automatic=True)
        if not window.allowed:
            reason = window.reason
    language = _language(ticket, ctx)
    base, promised = _ack_context(ticket, customer, language, ctx, now, due)
    context = {**base, **(extra or {})}
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
        promised_due_at=promised if kind == "ack" else None,
        **{
            **addressing,
            "subject": templates.render(kind, "subject", language, context) if not short else None,
        },
    )
    guards = [] if reason else [Pointer("lastauto", ticket.customer_id, customer_id=ticket.customer_id)]
    # the interval guard read above is re-checked in the write, so two automatic messages for one
    # customer processed at once cannot both pass it
    since = now - timedelta(minutes=ctx.config.followups.min_interval_minutes)
    try:
        queued = ctx.repository.put_outbound(outbound, guards, since if kind in INTERVAL_KINDS else None)
    except GuardRaceError:
        reason = RECENT_AUTOMATIC
        outbound = outbound.model_copy(update={"status": "suppressed", "error": reason})
        queued = ctx.repository.put_outbound(outbound, [])
    if not queued:
        return None, "already queued"
    if reason:
        ctx.repository.add_events(
            ticket.id,
            [TicketEvent(at=now, type="followup_suppressed", data={"kind": kind, "why": reason})],
            Pointer("inbound", f"suppressed#{key}"),
        )
        return None, reason
    return outbound, "queued"


def _language(ticket: Ticket, ctx: OutboundContext) -> str:
    """The language to write to the customer in: the ticket's, else detected from what they wrote,
    else the configured default."""
    language = ticket.language
    if language is None and ctx.detect_language is not None:
        language = ctx.detect_language(f"{ticket.subject or ''}\n{ticket.preview}")
    return str(language or ctx.config.followups.default_language)


def ticket_token(ticket: Ticket, ctx: OutboundContext) -> str:
    """The ticket's token for subjects, e.g. `[#42]` (prefix from `email.subject_token_prefix`)."""
    return f"[{ctx.config.email.subject_token_prefix}{ticket.number}]"


def promised_due(ticket: Ticket) -> datetime | None:
    """When the ticket's first response is due as routing planned it (None: no policy sets one)."""
    first = ticket.sla.target("first_response")
    return first.due_at if first is not None else None


def ready_to_acknowledge(before: Ticket | None, after: Ticket, config: HelpdeskConfig) -> bool:
    """Whether this write of a ticket (`before` None: its creation) is when to acknowledge it.

    The acknowledgement promises the ticket's first-response due time, which routing plans with the
    rule's SLA policy, priority and team calendar: so it waits until routing has given the ticket a
    team. Only a helpdesk without teams, which routing never plans, acknowledges at creation."""
    if before is None:
        return not config.teams
    return before.team is None and after.team is not None


def _customer_zone(customer: Customer | None) -> str | None:
    """The customer's time zone (their `timezone` field), if it is one we know."""
    from zoneinfo import ZoneInfo

    zone = customer.fields.get("timezone") if customer is not None else None
    if not zone:
        return None
    try:
        ZoneInfo(zone)
    except (ValueError, KeyError):
        return None
    return zone


def _ack_context(
    ticket: Ticket,
    customer: Customer | None,
    language: str,
    ctx: OutboundContext,
    now: datetime,
    due_at: datetime | None = None,
) -> tuple[dict[str, Any], datetime]:
    """The template context of an automatic message, and the time its `expected` phrase promises:
    `due_at`, else the ticket's planned first-response due time, else a day from now. Times are
    shown in the customer's time zone when known, else in the zone of the ticket's calendar."""
    policy = ctx.config.sla_policy(ticket.sla.policy) if ticket.sla.policy else None
    if ticket.sla.calendar and ticket.sla.calendar in ctx.config.calendars:
        name = ticket.sla.calendar  # the calendar routing planned the SLA in
        calendar = calendar_for(ctx.config, name)
    else:
        calendar, name = policy_calendar(ctx.config, policy, ticket.team)
    timezone = _customer_zone(customer) or ctx.config.calendars[name].timezone
    closed_now = not calendar.is_open(now)
    promised = due_at or promised_due(ticket) or now + timedelta(days=1)
    opens = calendar.next_open(now) if closed_now else None
    context = {
        "customer_name": (customer.name if customer and customer.name else ""),
        "ticket": {
            "number": ticket.number,
            "token": ticket_token(ticket, ctx),
            "subject": ticket.subject or "",
            "channel": CHANNEL_NAMES.get(ticket.channel.value, ticket.channel.value),
        },
        "expected": templates.expected_phrase(language, promised, timezone),
        "closed_now": closed_now,
        "opens_at": templates.expected_phrase(language, opens, timezone, from_time=True) if opens else "",
        "transcript": "",
    }
    return context, promised


IDENTITY_KINDS: dict[str, str] = {
    "email": "email",
    "sms": "phone",
    "whatsapp": "phone",
    "messenger": "messenger",
    "instagram": "instagram",
    "x": "x",
}
"""The kind of customer identity that addresses a message on each channel."""


def _topic(ticket: Ticket) -> str:
    """What the ticket is about, for an email subject: its subject, else its first line."""
    if ticket.subject:
        return ticket.subject
    lines = (ticket.preview or "").strip().splitlines()
    line = lines[0] if lines else ""
    return line if len(line) <= 60 else line[:59].rstrip() + "…"


def _reply_addressing(
    ticket: Ticket, channel: str, customer: Customer | None, ctx: OutboundContext
) -> tuple[dict[str, Any], datetime | None]:
    """Addressing of an agent's reply on `channel`, and when the customer last wrote there.

    On the ticket's own channel: to the last customer message. By email on another channel's
    ticket: to the customer's email identity, with the ticket's token in the subject and the
    plus-addressed Reply-To, so the answer threads back here. On another SMS or social channel: as
    in the customer's latest conversation there (our number or account, and Meta's window)."""
    if channel == ticket.channel.value:
        addressing = _addressing(ticket, ctx.repository.list_messages(ticket.id), ctx)
        if not addressing["to"]:
            raise InvalidRequestError(f"ticket {ticket.number} has no customer message to answer")
        return addressing, ticket.last_inbound_at
    kind = IDENTITY_KINDS[channel]
    addresses = [i.value for i in customer.identities if i.kind.value == kind] if customer else []
    if not addresses:
        raise InvalidRequestError(
            f"the customer of ticket {ticket.number} has no {kind} identity on record, so the reply "
            f"cannot go by {channel}"
        )
    if channel == "email":
        token = ticket_token(ticket, ctx)
        return {
            "to": addresses[0],
            "channel": "email",
            "from_address": _from_address(ctx),
            "reply_to": _plus_address(ctx, ticket.number),
            "subject": f"Re: {token} {_topic(ticket)}".strip(),
        }, None
    conversations = [
        t
        for t in ctx.repository.list_customer_tickets(ticket.customer_id)
        if t.channel.value == channel and t.inbox and "public" not in t.flags
    ]
    latest = max(conversations, key=lambda t: t.last_inbound_at or t.created_at, default=None)
    if latest is None:
        ours = "numbers" if channel == "sms" else "accounts"
        raise InvalidRequestError(
            f"the customer of ticket {ticket.number} has never written to us by {channel}, so we do "
            f"not know which of our {ours} to answer from"
        )
    addressing = _addressing(latest, ctx.repository.list_messages(latest.id), ctx)
    if not addressing["to"]:
        raise InvalidRequestError(
            f"the customer's {channel} conversation (ticket {latest.number}) has no address to answer"
        )
    return addressing, latest.last_inbound_at


def template_parameter(text: str, limit: int) -> str:
    """The agent's text as a WhatsApp template parameter: one line (parameters may hold no line
    breaks, tabs or runs of spaces) of at most `limit` characters, cut at a word with an ellipsis."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    space = cut.rfind(" ")
    if flat[limit - 1] != " " and space > (limit * 2) // 3:  # mid-word: back to a nearby boundary
        cut = cut[:space]
    return cut.rstrip() + "…"


def _window_check(
    ticket: Ticket,
    addressing: dict[str, Any],
    last_inbound_at: datetime | None,
    text: str,
    ctx: OutboundContext,
    now: datetime,
) -> tuple[str, str | None]:
    """The text to send and the WhatsApp template it goes in (None: free-form), or refuse a reply
    Meta would not deliver: beyond 7 days on Messenger and Instagram, or after 24 hours on WhatsApp
    without a configured template."""
    channel = addressing["channel"]
    if channel not in META_CHANNELS:
        return text, None
    if channel != "whatsapp":
        window = messaging_window(channel, last_inbound_at, now, automatic=False)
        if not window.allowed:
            raise InvalidRequestError(f"the reply cannot go out on {channel}: {window.reason}")
        return text, None
    language = _language(ticket, ctx)
    configured = ctx.config.outbound.whatsapp_reply_templates
    template = configured.get(language) or configured.get(ctx.config.followups.default_language)
    window = messaging_window(channel, last_inbound_at, now, automatic=False, template=template is not None)
    if not window.allowed:
        if last_inbound_at is None:
            why = "the customer has never written to us on WhatsApp"
        else:
            hours = int((now - last_inbound_at).total_seconds() // 3600)
            why = (
                f"the customer last wrote {hours} hours ago, outside WhatsApp's 24-hour customer "
                "service window"
            )
        raise InvalidRequestError(
            f"the reply cannot go out on WhatsApp: {why}, so only an approved template may be sent, "
            f"and none is configured for replies in {language!r} (outbound.whatsapp_reply_templates)"
        )
    if window.mode != "template" or template is None:
        return text, None
    return template_parameter(text, ctx.config.outbound.whatsapp_reply_text_limit), template


def request_digest(text: str, channel: str | None) -> str:
    """What an agent asked to send, as a digest: a retry with the same Idempotency-Key must match it."""
    canonical = json.dumps({"text": text, "channel": channel}, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def reply_key(ticket: Ticket, agent: str, idempotency_key: str) -> str:
    """The outbox key of an agent's reply: the client's Idempotency-Key, scoped to its ticket and agent."""
    return f"reply#{ticket.id}#{agent}#{idempotency_key}"


def _retried(earlier: OutboundMessage, digest: str) -> OutboundMessage:
    if earlier.request_digest != digest:
        raise IdempotencyKeyReusedError(
            "this Idempotency-Key was already used for another reply on this ticket: "
            "send a new key for a new reply"
        )
    return earlier


def agent_reply(
    ticket: Ticket,
    text: str,
    agent: str,
    ctx: OutboundContext,
    now: datetime,
    idempotency_key: str | None = None,
    channel: str | None = None,
) -> OutboundMessage:
    """Queue an agent's public reply on the ticket's channel, or on another `channel` of the same
    customer; refuse one the channel would not deliver or the outbox could not store.

    With an `idempotency_key` the reply is queued once: a retry with the same text and channel
    gets the reply stored the first time, another request with the key is refused."""
    check_text(text)
    key = None
    digest = request_digest(text, channel)
    if idempotency_key is not None:
        check_idempotency_key(idempotency_key)
        key = reply_key(ticket, agent, idempotency_key)
        earlier = ctx.repository.get_outbound(key)
        if earlier is not None:
            return _retried(earlier, digest)
    wanted = channel or ticket.channel.value
    if wanted not in IDENTITY_KINDS:
        raise InvalidRequestError(f"unknown channel {wanted!r}: one of {', '.join(IDENTITY_KINDS)}")
    other = wanted != ticket.channel.value
    customer = ctx.repository.get_customer(ticket.customer_id) if other or wanted == "sms" else None
    addressing, last_inbound_at = _reply_addressing(ticket, wanted, customer, ctx)
    if wanted == "sms" and customer is not None and "sms" in customer.opted_out:
        raise InvalidRequestError(
            "the customer opted out of SMS (STOP); they must opt in (START) before we text them"
        )
    if wanted == "sms" and len(text) > MAX_SMS_CHARACTERS:
        raise InvalidRequestError(
            f"an SMS reply has at most {MAX_SMS_CHARACTERS:,} characters (SNS and End User Messaging "
            f"refuse longer ones); this one has {len(text):,}: shorten it or answer by email"
        )
    text, template = _window_check(ticket, addressing, last_inbound_at, text, ctx, now)
    if template is not None:
        addressing["headers"] = {
            **addressing.get("headers", {}),
            HEADER_WHATSAPP_TEMPLATE: template,
            HEADER_WHATSAPP_TEMPLATE_PARAMS: json.dumps([text], ensure_ascii=False),
        }
    short = wanted in SHORT_CHANNELS
    outbound = OutboundMessage(
        key=key or new_id("out", now),
        ticket_id=ticket.id,
        kind="reply",
        text=text,
        html=None if short else templates.render_html(text),
        created_at=now,
        automatic=False,
        author=agent,
        segments=segments(text)[1] if wanted == "sms" else None,
        template=template,
        request_digest=digest,
        **addressing,
    )
    if not ctx.repository.put_outbound(outbound, []):  # the same key queued meanwhile
        earlier = ctx.repository.get_outbound(outbound.key)
        if earlier is None:
            raise ConflictError(f"outbox {outbound.key} changed meanwhile")
        return _retried(earlier, digest)
    return outbound


def add_note(ticket: Ticket, text: str, agent: str, ctx: OutboundContext, now: datetime) -> Message:
    """An internal note: on the ticket for agents, never sent, does not satisfy an SLA."""
    check_text(text)
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

    Returns sent, failed, retry, unknown or skipped (already taken by another delivery of the
    record). A transient failure (nothing was delivered) is retried later, up to
    `outbound.max_send_attempts` attempts in all; then, like a permanent one, it fails for good and
    flags the ticket `delivery_failed`. One whose outcome is unknown (the provider may have
    delivered it) is never resent: it fails and flags the ticket `delivery_unknown`.
    """
    message = ctx.repository.get_outbound(key)
    if message is None or not ctx.repository.start_sending(key, now):
        return "skipped"
    sender = ctx.senders.get(message.channel)
    try:
        if sender is None:
            raise SendError(f"no sender for channel {message.channel} yet", permanent=True)
        provider_id = sender.send(message)
    except SendError as exc:
        attempt = message.attempts + 1
        if exc.outcome == "unknown":
            _delivery_unknown(message, str(exc), attempt, ctx, now)
            return "unknown"
        permanent, error = exc.permanent, str(exc)
        if not permanent and attempt >= ctx.config.outbound.max_send_attempts:
            permanent, error = True, f"gave up after {attempt} attempts; the last failed with: {exc}"
        event = TicketEvent(
            at=now,
            type="delivery_failed" if permanent else "delivery_retry",
            data={"kind": message.kind, "key": key, "error": error, "attempt": attempt},
        )
        ctx.repository.outbound_failed(message, error, permanent, [event])
        return "failed" if permanent else "retry"
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
        headers={
            "kind": message.kind,
            "to": message.to,
            **({"template": message.template} if message.template else {}),
        },
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


def _delivery_unknown(
    message: OutboundMessage, reason: str, attempt: int, ctx: OutboundContext, now: datetime
) -> None:
    """A send whose outcome is unknown (the provider may have delivered it): failed, never resent,
    with a `delivery_unknown` event and flag on the ticket for an agent to check."""
    error = (
        f"send outcome unknown: {reason}; not resent, since the {message.channel} provider may have "
        "delivered it: check with the customer"
    )
    event = TicketEvent(
        at=now,
        type="delivery_unknown",
        data={
            "kind": message.kind,
            "key": message.key,
            "error": error,
            "attempt": attempt,
            "channel": message.channel,
            "to": message.to,
        },
    )
    ctx.repository.outbound_failed(message, error, True, [event], flag="delivery_unknown")


def flag_unknown_sends(repository: TicketRepository, config: HelpdeskConfig, now: datetime) -> int:
    """Sends claimed longer than `outbound.sending_timeout_minutes` ago without a result (the
    sending function died between the claim and the result) become failed, with a
    `delivery_unknown` event and flag on the ticket for an agent to check. They are not resent: the
    provider may have delivered them, and no channel lets us ask or resend idempotently (see
    decisions.md). Returns how many were marked; a send another sweep marked first is not counted."""
    timeout = config.outbound.sending_timeout_minutes
    marked = 0
    for stuck in repository.stuck_sending(now - timedelta(minutes=timeout)):
        message = stuck.message
        error = (
            f"send outcome unknown: claimed for sending at {clock.iso(stuck.claimed_at)} (attempt "
            f"{message.attempts}) with no result after {timeout} minutes; not resent, since the "
            f"{message.channel} provider may have delivered it: check with the customer"
        )
        event = TicketEvent(
            at=now,
            type="delivery_unknown",
            data={
                "kind": message.kind,
                "key": message.key,
                "error": error,
                "attempt": message.attempts,
                "channel": message.channel,
                "to": message.to,
            },
        )
        if repository.outbound_unknown(stuck, error, [event]):
            marked += 1
    return marked


def redeliver_pending(repository: TicketRepository, config: HelpdeskConfig, now: datetime) -> tuple[int, int]:
    """Messages still pending `outbound.pending_redelivery_minutes` after they were queued: Lambda
    gave up on their stream record (its retries or record age ran out, the batch went to the
    failure queue), so nothing will send them. Each is written again, which the stream delivers as
    a new record, up to `outbound.max_redeliveries` times; then it fails for good and its ticket is
    flagged `delivery_failed`. Sending stays once-only: a send starts with the pending→sending
    claim. Returns (redelivered, failed)."""
    wait = config.outbound.pending_redelivery_minutes
    limit = config.outbound.max_redeliveries
    redelivered = failed = 0
    for stale in repository.stale_pending(now - timedelta(minutes=wait)):
        message = stale.message
        if stale.redeliveries < limit:
            redelivered += repository.redeliver_pending(stale, now)
            continue
        error = (
            f"never sent: still pending {wait} minutes after each of {limit} redeliveries of its "
            f"stream record (auto_followup keeps failing on it: see its logs and failure queue)"
        )
        event = TicketEvent(
            at=now,
            type="delivery_failed",
            data={"kind": message.kind, "key": message.key, "error": error, "attempt": message.attempts},
        )
        failed += repository.pending_failed(stale, error, [event])
    return redelivered, failed


def on_resolution(ticket: Ticket, ctx: OutboundContext, now: datetime) -> list[str]:
    """After resolution: the satisfaction survey and, for SMS and social conversations, a transcript
    by email when we know the customer's address. Returns what was queued or why not."""
    results: list[str] = []
    # the same moment however often the stream delivers the change: keys that never repeat a message
    finished = clock.iso(ticket.resolved_at or ticket.closed_at or ticket.updated_at)
    if ctx.config.followups.csat:
        _, why = queue_automatic(ticket, "csat", f"csat#{ticket.id}#{finished}", ctx, now)
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
            lines = transcript_lines(ticket, customer, ctx)
            _, why = queue_automatic(
                ticket,
                "transcript",
                f"transcript#{ticket.id}#{finished}",
                ctx,
                now,
                extra={"transcript": transcript_text(lines)},
                to_email=address,
            )
            results.append(f"transcript: {why}")
    return results


CHANNEL_NAMES = {
    "sms": "SMS",
    "whatsapp": "WhatsApp",
    "messenger": "Messenger",
    "instagram": "Instagram",
    "x": "X",
    "email": "email",
}
"""How templates name a channel (`ticket.channel`): as its makers write it."""

TRANSCRIPT_NAMES = {
    "en": ("You", "Support team"),
    "de": ("Sie", "Support-Team"),
    "fr": ("Vous", "Équipe support"),
    "es": ("Usted", "Equipo de soporte"),
}
"""Per language: how a transcript names the customer when we have no name for them, and automatic
messages."""


def transcript_lines(ticket: Ticket, customer: Customer | None, ctx: OutboundContext) -> list[str]:
    """The conversation as the customer reads it: local time (the ticket's calendar, zone named), who
    wrote (the customer's name, the agent's name, or the support team for automatic messages) and
    what; internal notes left out."""
    from zoneinfo import ZoneInfo

    facts = sla_math.SlaFacts(
        ticket.channel.value, "public" in ticket.flags, ticket.priority.value, ticket.team, None
    )
    policy = sla_math.select_policy(ctx.config, facts, ticket.sla.policy)
    _, calendar_name = policy_calendar(ctx.config, policy, ticket.team)
    zone = ZoneInfo(ctx.config.calendars[calendar_name].timezone)
    you, team = TRANSCRIPT_NAMES.get(_language(ticket, ctx), TRANSCRIPT_NAMES["en"])
    customer_name = (customer.name if customer and customer.name else None) or you
    lines = []
    for message in ctx.repository.list_messages(ticket.id):
        if message.direction == Direction.NOTE:
            continue
        if message.direction == Direction.INBOUND:
            who = customer_name
        elif message.automatic or message.author == "helpdesk":
            who = team
        else:
            agent = ctx.config.agent(message.author)
            who = agent.name if agent is not None and agent.name else message.author
        local = message.at.astimezone(zone)
        lines.append(f"{local.strftime('%Y-%m-%d %H:%M')} {local.tzname()} · {who}: {message.text.strip()}")
    return lines


TRANSCRIPT_LIMIT = 60_000
"""Characters of conversation in a transcript: with the HTML part, the outbox item stays well
under DynamoDB's 400 KB item limit however long the conversation was."""


def transcript_text(lines: list[str], limit: int = TRANSCRIPT_LIMIT) -> str:
    """The conversation's lines, the most recent kept whole when it is too long: earlier lines give
    way to a `[…]` marker, and a single line longer than the limit is cut at its end."""
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        if size + len(line) + 1 > limit:
            if not kept:  # even the last message alone is too long: keep its beginning
                kept.append(line[: max(limit - 2, 0)] + " …")
            return "\n".join(["[…]", *reversed(kept)])
        kept.append(line)
        size += len(line) + 1
    return "\n".join(reversed(kept))
