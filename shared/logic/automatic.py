"""Automatic messages to customers: acknowledgements, periodic updates, reminders, out-of-office
notices, surveys and transcripts, queued in the outbox after the loop guards.

A message the guards hold back (an automatic sender, an opt-out, the minimum interval, SMS quiet
hours, Meta's messaging window) is recorded as suppressed, with the reason, on the ticket.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared import clock
from shared.channels.sms import segments
from shared.channels.social_outbound import META_CHANNELS, messaging_window
from shared.dal.outbox import GuardRaceError
from shared.dal.pointers import Pointer
from shared.logic import templates
from shared.logic.calendar import parse_interval
from shared.logic.outbound import (
    SHORT_CHANNELS,
    OutboundContext,
    addressing,
    customer_language,
    email_addressing,
    reply_subject,
    ticket_token,
)
from shared.logic.routing import calendar_for
from shared.logic.sla_service import policy_calendar
from shared.logic.transcript import transcript_lines, transcript_text
from shared.models.config import HelpdeskConfig
from shared.models.outbound import OutboundKind, OutboundMessage
from shared.models.ticket import Customer, Ticket, TicketEvent

INTERVAL_KINDS = frozenset({"ack", "update", "reminder", "ooo"})
"""Automatic messages held back within `followups.min_interval_minutes` of the customer's last one;
the others answer an agent's action or a resolution and always go out."""
RECENT_AUTOMATIC = "the customer got an automatic message less than the minimum interval ago"

CHANNEL_NAMES = {
    "sms": "SMS",
    "whatsapp": "WhatsApp",
    "messenger": "Messenger",
    "instagram": "Instagram",
    "x": "X",
    "email": "email",
}
"""How templates name a channel (`ticket.channel`): as its makers write it."""


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


@dataclass
class _Automatic:
    """One automatic message being queued: what its steps share."""

    ticket: Ticket
    kind: OutboundKind
    key: str
    ctx: OutboundContext
    now: datetime
    customer: Customer | None
    addressing: dict[str, Any]


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
    fields = (
        email_addressing(ticket, to_email, reply_subject(ticket, ctx), ctx)
        if to_email is not None
        else addressing(ticket, messages, ctx)
    )
    auto = _Automatic(ticket, kind, key, ctx, now, customer, fields)
    last_auto = found.get(("lastauto", ticket.customer_id))
    reason = _guard(ticket, customer, last_auto, ctx, now, kind) or _undeliverable(auto)
    return _put(auto, _compose(auto, reason, due, extra), reason)


PUBLIC_CONVERSATION = "a public comment or mention: automatic messages are not posted under it"


def _undeliverable(auto: _Automatic) -> str | None:
    """Why the message cannot reach the customer: no address, or outside Meta's messaging window."""
    channel = auto.addressing["channel"]
    if "public" in auto.ticket.flags and channel == auto.ticket.channel.value:
        # a comment or mention: an automatic answer would be posted in public under it (or sent as a
        # DM Meta refuses to a comment's author); an agent answers, in public or privately
        return PUBLIC_CONVERSATION
    if not auto.addressing["to"]:
        return "no address to answer to"
    if channel in META_CHANNELS:
        window = messaging_window(channel, auto.ticket.last_inbound_at, auto.now, automatic=True)
        if not window.allowed:
            return window.reason
    return None


def _compose(
    auto: _Automatic, reason: str | None, due: datetime | None, extra: dict[str, Any] | None
) -> OutboundMessage:
    """The message rendered from its templates in the customer's language: pending, or suppressed
    with the `reason`."""
    ticket, kind, channel = auto.ticket, auto.kind, auto.addressing["channel"]
    language = customer_language(ticket, auto.ctx)
    base, promised = _template_context(ticket, auto.customer, language, auto.ctx, auto.now, due)
    context = {**base, **(extra or {})}
    short = channel in SHORT_CHANNELS
    text = templates.render(kind, "short" if short else "email", language, context)
    return OutboundMessage(
        key=auto.key,
        ticket_id=ticket.id,
        kind=kind,
        text=text,
        html=None if short else templates.render_html(text),
        created_at=auto.now,
        automatic=True,
        status="suppressed" if reason else "pending",
        error=reason,
        segments=segments(text)[1] if channel == "sms" else None,
        promised_due_at=promised if kind == "ack" else None,
        **{
            **auto.addressing,
            "subject": templates.render(kind, "subject", language, context) if not short else None,
        },
    )


def _put(
    auto: _Automatic, outbound: OutboundMessage, reason: str | None
) -> tuple[OutboundMessage | None, str]:
    """Store the message once per key; one that passed the guards also becomes the customer's last
    automatic message. A suppressed one is recorded on the ticket with why."""
    ticket, ctx, now = auto.ticket, auto.ctx, auto.now
    guards = [] if reason else [Pointer("lastauto", ticket.customer_id, customer_id=ticket.customer_id)]
    # the interval guard read above is re-checked in the write, so two automatic messages for one
    # customer processed at once cannot both pass it
    since = now - timedelta(minutes=ctx.config.followups.min_interval_minutes)
    try:
        queued = ctx.repository.put_outbound(outbound, guards, since if auto.kind in INTERVAL_KINDS else None)
    except GuardRaceError:
        reason = RECENT_AUTOMATIC
        outbound = outbound.model_copy(update={"status": "suppressed", "error": reason})
        queued = ctx.repository.put_outbound(outbound, [])
    if not queued:
        return None, "already queued"
    if reason:
        ctx.repository.add_events(
            ticket.id,
            [TicketEvent(at=now, type="followup_suppressed", data={"kind": auto.kind, "why": reason})],
            Pointer("inbound", f"suppressed#{auto.key}"),
        )
        return None, reason
    return outbound, "queued"


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


def _template_context(
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


def on_resolution(ticket: Ticket, ctx: OutboundContext, now: datetime) -> list[str]:
    """After resolution: the satisfaction survey and, for SMS and social conversations, a transcript
    by email when we know the customer's address. Returns what was queued or why not."""
    if ticket.merged_into is not None:  # closed by a merge: the conversation goes on in the other ticket
        return ["nothing: the ticket was merged into another"]
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
