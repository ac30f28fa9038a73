"""An agent's public replies, queued in the outbox on the ticket's channel or another channel of
the same customer, and internal notes, which stay on the ticket."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any

from shared.channels.sms import segments
from shared.channels.social_outbound import (
    HEADER_PUBLIC_REPLY_TO,
    HEADER_WHATSAPP_TEMPLATE,
    HEADER_WHATSAPP_TEMPLATE_PARAMS,
    META_CHANNELS,
    messaging_window,
)
from shared.dal.outbox import ReplyLockMovedError
from shared.dal.tickets import Mention
from shared.errors import ConflictError
from shared.ids import new_id
from shared.logic import templates
from shared.logic.agent_actions import (
    IdempotencyKeyReusedError,
    InvalidRequestError,
    check_idempotency_key,
    check_text,
)
from shared.logic.outbound import (
    SHORT_CHANNELS,
    OutboundContext,
    addressing,
    customer_language,
    email_addressing,
    ticket_token,
)
from shared.logic.reply_lock import ReplyGuard, check_collisions, lock_pointer, raced
from shared.logic.social_replies import check_public_text, public_addressing
from shared.models.config import HelpdeskConfig
from shared.models.outbound import OutboundMessage
from shared.models.ticket import Customer, Direction, Message, Ticket, TicketEvent

MAX_SMS_CHARACTERS = 1600
"""The most one SMS send may carry (SNS Publish and SendTextMessage alike), split into segments."""

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

    On the ticket's own channel: to the last customer message; on a public ticket, in public under
    the customer's latest comment or post. By email on another channel's
    ticket: to the customer's email identity, with the ticket's token in the subject and the
    plus-addressed Reply-To, so the answer threads back here. On another SMS or social channel: as
    in the customer's latest conversation there (our number or account, and Meta's window)."""
    if channel == ticket.channel.value and "public" in ticket.flags:  # under the comment, in public
        return public_addressing(ticket, ctx.repository.list_messages(ticket.id)), ticket.last_inbound_at
    if channel == ticket.channel.value:
        fields = addressing(ticket, ctx.repository.list_messages(ticket.id), ctx)
        if not fields["to"]:
            raise InvalidRequestError(f"ticket {ticket.number} has no customer message to answer")
        return fields, ticket.last_inbound_at
    kind = IDENTITY_KINDS[channel]
    addresses = [i.value for i in customer.identities if i.kind.value == kind] if customer else []
    if not addresses:
        raise InvalidRequestError(
            f"the customer of ticket {ticket.number} has no {kind} identity on record, so the reply "
            f"cannot go by {channel}"
        )
    if channel == "email":
        subject = f"Re: {ticket_token(ticket, ctx)} {_topic(ticket)}".strip()
        return email_addressing(ticket, addresses[0], subject, ctx), None
    return _latest_conversation_addressing(ticket, channel, ctx)


def _latest_conversation_addressing(
    ticket: Ticket, channel: str, ctx: OutboundContext
) -> tuple[dict[str, Any], datetime | None]:
    """Addressing as in the customer's latest conversation on another SMS or social channel."""
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
    fields = addressing(latest, ctx.repository.list_messages(latest.id), ctx)
    if not fields["to"]:
        raise InvalidRequestError(
            f"the customer's {channel} conversation (ticket {latest.number}) has no address to answer"
        )
    return fields, latest.last_inbound_at


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
    fields: dict[str, Any],
    last_inbound_at: datetime | None,
    text: str,
    ctx: OutboundContext,
    now: datetime,
) -> tuple[str, str | None]:
    """The text to send and the WhatsApp template it goes in (None: free-form), or refuse a reply
    Meta would not deliver: beyond 7 days on Messenger and Instagram, or after 24 hours on WhatsApp
    without a configured template."""
    channel = fields["channel"]
    if HEADER_PUBLIC_REPLY_TO in fields.get("headers", {}):  # a comment or post: no messaging window
        check_public_text(channel, text)
        return text, None
    if channel not in META_CHANNELS:
        return text, None
    if channel != "whatsapp":
        window = messaging_window(channel, last_inbound_at, now, automatic=False)
        if not window.allowed:
            raise InvalidRequestError(f"the reply cannot go out on {channel}: {window.reason}")
        return text, None
    language = customer_language(ticket, ctx)
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


def _reply_channel(ticket: Ticket, channel: str | None) -> str:
    """The channel the reply goes on: the one asked for, else the ticket's."""
    wanted = channel or ticket.channel.value
    if wanted not in IDENTITY_KINDS:
        raise InvalidRequestError(f"unknown channel {wanted!r}: one of {', '.join(IDENTITY_KINDS)}")
    return wanted


def _check_sms(channel: str, customer: Customer | None, text: str) -> None:
    """Refuse an SMS to a customer who opted out, or longer than one send may carry."""
    if channel != "sms":
        return
    if customer is not None and "sms" in customer.opted_out:
        raise InvalidRequestError(
            "the customer opted out of SMS (STOP); they must opt in (START) before we text them"
        )
    if len(text) > MAX_SMS_CHARACTERS:
        raise InvalidRequestError(
            f"an SMS reply has at most {MAX_SMS_CHARACTERS:,} characters (SNS and End User Messaging "
            f"refuse longer ones); this one has {len(text):,}: shorten it or answer by email"
        )


def _with_template(fields: dict[str, Any], template: str, parameter: str) -> dict[str, Any]:
    """The addressing of a reply that goes in an approved WhatsApp template, with its one parameter."""
    headers = {
        **fields.get("headers", {}),
        HEADER_WHATSAPP_TEMPLATE: template,
        HEADER_WHATSAPP_TEMPLATE_PARAMS: json.dumps([parameter], ensure_ascii=False),
    }
    return {**fields, "headers": headers}


def _put_reply(
    ticket: Ticket, outbound: OutboundMessage, digest: str, ctx: OutboundContext, expected: str | None
) -> OutboundMessage:
    """Store the reply once per key, as the ticket's reply lock if that still names `expected`; the
    same key queued meanwhile answers as a retry would."""
    lock = lock_pointer(ticket.id, outbound)
    try:
        queued = ctx.repository.put_reply(outbound, lock, expected)
    except ReplyLockMovedError:
        raise raced(ctx.repository, ticket.id, outbound.author) from None
    if not queued:
        earlier = ctx.repository.get_outbound(outbound.key)
        if earlier is None:
            raise ConflictError(f"outbox {outbound.key} changed meanwhile")
        return _retried(earlier, digest)
    return outbound


def agent_reply(
    ticket: Ticket,
    text: str,
    agent: str,
    ctx: OutboundContext,
    now: datetime,
    idempotency_key: str | None = None,
    channel: str | None = None,
    digest: str | None = None,
    guard: ReplyGuard | None = None,
) -> OutboundMessage:
    """Queue an agent's public reply on the ticket's channel, or on another `channel` of the same
    customer; refuse one the channel would not deliver or the outbox could not store.

    With an `idempotency_key` the reply is queued once: a retry with the same text and channel
    gets the reply stored the first time, another request with the key is refused. `digest` names
    what was asked when it is not the text itself (a macro: its id, `request_digest` of text and
    channel by default). The reply lock (`guard`, decision 108) refuses a reply that would cross
    another agent's, or what the customer said or was told since the agent's screen last showed."""
    check_text(text)
    key = None
    digest = digest or request_digest(text, channel)
    if idempotency_key is not None:
        check_idempotency_key(idempotency_key)
        key = reply_key(ticket, agent, idempotency_key)
        earlier = ctx.repository.get_outbound(key)
        if earlier is not None:
            return _retried(earlier, digest)
    wanted = _reply_channel(ticket, channel)
    expected = check_collisions(ctx.repository, ticket.id, agent, guard or ReplyGuard())
    other = wanted != ticket.channel.value
    customer = ctx.repository.get_customer(ticket.customer_id) if other or wanted == "sms" else None
    fields, last_inbound_at = _reply_addressing(ticket, wanted, customer, ctx)
    _check_sms(wanted, customer, text)
    text, template = _window_check(ticket, fields, last_inbound_at, text, ctx, now)
    if template is not None:
        fields = _with_template(fields, template, text)
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
        **fields,
    )
    return _put_reply(ticket, outbound, digest, ctx, expected)


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
    named = mentioned(text, ctx.config, agent)
    data: dict[str, object] = {"by": agent, "message_id": note.id}
    if named:
        data["mentions"] = named
    event = TicketEvent(at=now, type="note_added", data=data)
    excerpt = " ".join(text.split())[:MENTION_EXCERPT]
    mentions = [Mention(a, ticket.id, ticket.number, note.id, agent, now, excerpt) for a in named]
    ctx.repository.add_message(ticket.id, note, [event], mentions)
    return note


MENTION_EXCERPT = 140
"""How much of a note a mention shows."""
_MENTION = re.compile(r"(?<![\w@.])@([A-Za-z0-9][A-Za-z0-9_.-]{0,63})")


def mentioned(text: str, config: HelpdeskConfig, author: str) -> list[str]:
    """The agents a note names (`@alice`), each once, in order: agents of the config, not its author."""
    found = dict.fromkeys(match.group(1).rstrip(".-") for match in _MENTION.finditer(text))
    return [name for name in found if name != author and config.agent(name) is not None]
