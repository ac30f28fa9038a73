"""SLA use cases: plan targets when a ticket is routed and follow its life (the sweep is `sla_sweep`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.dal.tickets import SlaWrite
from shared.logic import sla as sla_math
from shared.logic.calendar import Calendar
from shared.logic.routing import calendar_for
from shared.models.config import HelpdeskConfig, SlaPolicyConfig
from shared.models.ticket import Sla, Ticket


def policy_calendar(
    config: HelpdeskConfig, policy: SlaPolicyConfig | None, team: str | None
) -> tuple[Calendar, str]:
    """The calendar business time counts in: the policy's, else the team's, else `default`."""
    name = policy.calendar if policy is not None and policy.calendar else None
    if name is None and team is not None and (team_config := config.team(team)) is not None:
        name = team_config.calendar
    name = name or "default"
    return calendar_for(config, name), name


def plan_for(
    config: HelpdeskConfig,
    ticket: Ticket,
    team: str | None,
    priority: str,
    customer_tier: str | None,
    named: str | None,
) -> SlaWrite | None:
    """Targets for a newly routed ticket, counted from its creation (None: no policy applies)."""
    facts = sla_math.SlaFacts(ticket.channel.value, "public" in ticket.flags, priority, team, customer_tier)
    policy = sla_math.select_policy(config, facts, named)
    if policy is None:
        return None
    calendar, name = policy_calendar(config, policy, team)
    planned = sla_math.plan(policy, ticket.created_at, calendar, name)
    return SlaWrite(planned, sla_math.next_deadline(planned, policy), config.sla.sweep_shards)


def ticket_policy(config: HelpdeskConfig, ticket: Ticket) -> tuple[SlaPolicyConfig | None, Calendar]:
    """The ticket's SLA policy (None: it has none) and the calendar its business time counts in."""
    policy = config.sla_policy(ticket.sla.policy) if ticket.sla.policy else None
    calendar, _ = policy_calendar(config, policy, ticket.team)
    return policy, calendar


def sla_write(
    config: HelpdeskConfig, ticket: Ticket, updated: Sla, policy: SlaPolicyConfig | None
) -> SlaWrite:
    """The ticket's new SLA under `policy`, its deadline index keys written only when its next
    deadline moves (decision 117): most changes (a reply's met target, a paused clock whose
    reminder was already the next moment) leave the index untouched."""
    before, _ = ticket_policy(config, ticket)
    deadline = sla_math.next_deadline(updated, policy)
    moved = deadline != sla_math.next_deadline(ticket.sla, before)
    return SlaWrite(updated, deadline, config.sla.sweep_shards, moved=moved)


def _write(config: HelpdeskConfig, ticket: Ticket, updated: Sla) -> SlaWrite | None:
    if updated == ticket.sla:
        return None
    policy, _ = ticket_policy(config, ticket)
    return sla_write(config, ticket, updated, policy)


def after_customer_message(
    config: HelpdeskConfig, ticket: Ticket, now: datetime, reopens: bool = False
) -> SlaWrite | None:
    """A customer wrote: paused clocks resume, the next-response clock starts, reminders stop.

    On a resolved or closed ticket the clocks move only if the message reopens it (a reply to the
    satisfaction survey, say, does not): then they resume with the time they had left."""
    if ticket.status.value in ("resolved", "closed") and not reopens:
        return None
    policy, calendar = ticket_policy(config, ticket)
    updated = ticket.sla.model_copy(update={"reminder_at": None, "auto_resolve_at": None})
    if ticket.sla.policy:
        updated = sla_math.on_customer_message(updated, policy, now, calendar)
    return _write(config, ticket, updated)


def after_agent_reply(config: HelpdeskConfig, ticket: Ticket, now: datetime) -> SlaWrite | None:
    """A human agent replied in public: response targets are met, the periodic update restarts."""
    if not ticket.sla.policy:
        return None
    policy, calendar = ticket_policy(config, ticket)
    return _write(config, ticket, sla_math.on_agent_reply(ticket.sla, policy, now, calendar))


def after_change(
    config: HelpdeskConfig,
    ticket: Ticket,
    status: str | None,
    priority: str | None,
    now: datetime,
    customer_tier: str | None = None,
) -> SlaWrite | None:
    """Status or priority changed: pending pauses the clocks and schedules the reminder, leaving
    pending resumes them, resolving meets the resolution target, a priority that selects another
    policy (e.g. urgent) re-plans."""
    _, calendar = ticket_policy(config, ticket)
    updated = ticket.sla
    if status == "pending":
        reminder = now + timedelta(hours=config.followups.pending_reminder_hours)
        updated = updated.model_copy(update={"reminder_at": reminder, "auto_resolve_at": None})
    elif status is not None:
        updated = updated.model_copy(update={"reminder_at": None, "auto_resolve_at": None})
    if ticket.sla.policy:
        if status == "pending":
            updated = sla_math.pause(updated, now, calendar)
        elif status in ("resolved", "closed"):
            updated = sla_math.on_resolved(updated, now, calendar)
        elif status is not None:
            updated = sla_math.resume(updated, now, calendar)
    if priority is not None:
        facts = sla_math.SlaFacts(
            ticket.channel.value, "public" in ticket.flags, priority, ticket.team, customer_tier
        )
        chosen = sla_math.select_policy(config, facts)
        if chosen is not None and chosen.name != updated.policy:
            chosen_calendar, name = policy_calendar(config, chosen, ticket.team)
            updated = sla_math.replan(updated, chosen, chosen_calendar, name, now)
            return sla_write(config, ticket, updated, chosen)
    return _write(config, ticket, updated)
