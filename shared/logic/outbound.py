"""What every message to a customer shares: the context of the outbound use cases, how a message
on a ticket is addressed, and the language it is written in.

Every message to a customer is first recorded in the outbox under an idempotency key, then sent
by auto_followup from the stream, once. The use cases live beside this module: `automatic`
(acknowledgements, follow-ups, surveys and transcripts, after the loop guards), `agent_replies`
(an agent's replies and notes) and `outbound_send` (the send pass and the sweeps of sends that
never finished).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from shared import clock
from shared.channels.outbound import Sender
from shared.dal.agents import Presence
from shared.dal.customers import CustomerStore
from shared.dal.outbox import Outbox
from shared.dal.pointers import PointerReads
from shared.dal.tickets import TicketStore
from shared.models.config import HelpdeskConfig
from shared.models.ticket import Direction, Message, Ticket

SHORT_CHANNELS = {"sms", "messenger", "instagram", "whatsapp", "x"}
"""Channels that carry plain short text: no HTML part, no subject."""


class OutboundStores(PointerReads, TicketStore, CustomerStore, Presence, Outbox, Protocol):
    """What sending reads and writes: the ticket, its customer and pointers (addressing, guards),
    agents' presence (out-of-office notices), and the outbox."""


@dataclass
class OutboundContext:
    repository: OutboundStores
    config: HelpdeskConfig
    support_addresses: list[str]
    support_domain: str
    senders: dict[str, Sender] = field(default_factory=dict)
    detect_language: Any = None


def from_address(ctx: OutboundContext) -> str:
    """The address our email goes out from: `followups.from_address`, else the first support address."""
    return ctx.config.followups.from_address or (ctx.support_addresses[0] if ctx.support_addresses else "")


def plus_address(ctx: OutboundContext, number: int) -> str:
    """The ticket's plus address (`support+42@…`): a Reply-To that threads the answer back to it."""
    local, _, host = from_address(ctx).partition("@")
    return f"{local}+{number}@{host or ctx.support_domain}"


def ticket_token(ticket: Ticket, ctx: OutboundContext) -> str:
    """The ticket's token for subjects, e.g. `[#42]` (prefix from `email.subject_token_prefix`)."""
    return f"[{ctx.config.email.subject_token_prefix}{ticket.number}]"


def reply_subject(ticket: Ticket, ctx: OutboundContext) -> str:
    """The ticket's subject with its token, added as `Re: [#42] …` when it is not there yet."""
    token = ticket_token(ticket, ctx)
    subject = ticket.subject or ""
    return subject if token in subject else f"Re: {token} {subject}".strip()


def email_addressing(ticket: Ticket, to: str, subject: str, ctx: OutboundContext) -> dict[str, Any]:
    """An email about the ticket to `to`, with the plus-addressed Reply-To that threads the answer back."""
    return {
        "to": to,
        "channel": "email",
        "from_address": from_address(ctx),
        "reply_to": plus_address(ctx, ticket.number),
        "subject": subject,
    }


def _last_inbound(messages: list[Message]) -> Message | None:
    inbound = [m for m in messages if m.direction == Direction.INBOUND and not m.automatic]
    return inbound[-1] if inbound else None


def addressing(ticket: Ticket, messages: list[Message], ctx: OutboundContext) -> dict[str, Any]:
    """To, from and threading headers for a message on the ticket's channel: to the customer's last
    message (`messages` are the ticket's)."""
    last = _last_inbound(messages)
    fields: dict[str, Any] = {"to": last.author if last else "", "channel": ticket.channel.value}
    if ticket.channel.value == "email":
        ids = [m.external_id for m in messages if m.external_id and m.channel.value == "email"]
        fields.update(
            from_address=from_address(ctx),
            reply_to=plus_address(ctx, ticket.number),
            in_reply_to=last.external_id if last else None,
            references=ids[-10:],
            subject=reply_subject(ticket, ctx),
        )
    else:
        fields["from_address"] = ticket.inbox
        if ticket.last_inbound_at is not None:  # Meta's messaging window counts from it
            fields["headers"] = {"last_inbound_at": clock.iso(ticket.last_inbound_at)}
    return fields


def customer_language(ticket: Ticket, ctx: OutboundContext) -> str:
    """The language to write to the customer in: the ticket's, else detected from what they wrote,
    else the configured default."""
    language = ticket.language
    if language is None and ctx.detect_language is not None:
        language = ctx.detect_language(f"{ticket.subject or ''}\n{ticket.preview}")
    return str(language or ctx.config.followups.default_language)
