"""The transcript of a conversation, as the customer reads it: sent by email after an SMS or social
conversation is resolved (see `automatic.on_resolution`)."""

from __future__ import annotations

from shared.logic import sla as sla_math
from shared.logic.outbound import OutboundContext, customer_language
from shared.logic.sla_service import policy_calendar
from shared.models.ticket import Customer, Direction, Ticket

TRANSCRIPT_NAMES = {
    "en": ("You", "Support team"),
    "de": ("Sie", "Support-Team"),
    "fr": ("Vous", "Équipe support"),
    "es": ("Usted", "Equipo de soporte"),
}
"""Per language: how a transcript names the customer when we have no name for them, and automatic
messages."""

TRANSCRIPT_LIMIT = 60_000
"""Characters of conversation in a transcript: with the HTML part, the outbox item stays well
under DynamoDB's 400 KB item limit however long the conversation was."""


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
    you, team = TRANSCRIPT_NAMES.get(customer_language(ticket, ctx), TRANSCRIPT_NAMES["en"])
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
