"""SLA use cases: plan targets when a ticket is routed, follow its life, sweep what is due."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from shared.dal.repository import QueueEntry, SlaWrite, TicketRepository, TicketUpdate, queue_key
from shared.errors import ConflictError
from shared.logic import sla as sla_math
from shared.logic.calendar import Calendar
from shared.logic.routing import calendar_for
from shared.models.config import HelpdeskConfig, SlaPolicyConfig
from shared.models.ticket import Sla, Ticket, TicketEvent

NEEDS_ATTENTION = "needs_attention"
"""The flag on a ticket an agent must look at: it would otherwise wait on a customer who was never told."""


class Notifier(Protocol):
    def notify(self, subject: str, message: dict[str, Any]) -> None: ...


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


def _context(config: HelpdeskConfig, ticket: Ticket) -> tuple[SlaPolicyConfig | None, Calendar]:
    policy = config.sla_policy(ticket.sla.policy) if ticket.sla.policy else None
    calendar, _ = policy_calendar(config, policy, ticket.team)
    return policy, calendar


def _write(config: HelpdeskConfig, ticket: Ticket, updated: Sla) -> SlaWrite | None:
    if updated == ticket.sla:
        return None
    policy, _ = _context(config, ticket)
    return SlaWrite(updated, sla_math.next_deadline(updated, policy), config.sla.sweep_shards)


def after_customer_message(
    config: HelpdeskConfig, ticket: Ticket, now: datetime, reopens: bool = False
) -> SlaWrite | None:
    """A customer wrote: paused clocks resume, the next-response clock starts, reminders stop.

    On a resolved or closed ticket the clocks move only if the message reopens it (a reply to the
    satisfaction survey, say, does not): then they resume with the time they had left."""
    if ticket.status.value in ("resolved", "closed") and not reopens:
        return None
    policy, calendar = _context(config, ticket)
    updated = ticket.sla.model_copy(update={"reminder_at": None, "auto_resolve_at": None})
    if ticket.sla.policy:
        updated = sla_math.on_customer_message(updated, policy, now, calendar)
    return _write(config, ticket, updated)


def after_agent_reply(config: HelpdeskConfig, ticket: Ticket, now: datetime) -> SlaWrite | None:
    """A human agent replied in public: response targets are met, the periodic update restarts."""
    if not ticket.sla.policy:
        return None
    policy, calendar = _context(config, ticket)
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
    _, calendar = _context(config, ticket)
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
            return SlaWrite(updated, sla_math.next_deadline(updated, chosen), config.sla.sweep_shards)
    return _write(config, ticket, updated)


@dataclass
class SweepContext:
    repository: TicketRepository
    config: HelpdeskConfig
    notifier: Notifier
    outbound: Any = None
    """An OutboundContext for time-based follow-ups (periodic update, reminder, auto-resolve)."""


@dataclass
class SweepResult:
    read: int = 0
    warnings: int = 0
    breaches: int = 0
    escalations: int = 0
    skipped: int = 0
    notifications: list[dict[str, Any]] = field(default_factory=list)
    reassigned_teams: list[str] = field(default_factory=list)
    followups: int = 0


def _recipients(config: HelpdeskConfig, ticket: Ticket, who: list[str]) -> list[str]:
    people: list[str] = []
    team = config.team(ticket.team) if ticket.team else None
    for kind in who:
        if kind == "assignee" and ticket.assignee:
            people.append(ticket.assignee)
        elif kind == "team_lead" and team is not None and team.lead:
            people.append(team.lead)
        elif kind == "team" and team is not None:
            people += [a.id for a in config.agents if team.id in a.teams]
    return list(dict.fromkeys(people))


def sweep_ticket(ticket: Ticket, ctx: SweepContext, now: datetime, result: SweepResult) -> None:
    """Record due warnings and breaches of one ticket and take the escalation steps now reached."""
    config = ctx.config
    policy, calendar = _context(config, ticket)
    due = sla_math.due_now(ticket.sla, now)
    updated = sla_math.record(ticket.sla, due, now)
    events = [
        TicketEvent(
            at=now,
            type="sla_breached" if d.kind == "breach" else "sla_warning",
            data={
                "target": d.target,
                "policy": ticket.sla.policy,
                "due_at" if d.kind == "breach" else "warn_at": d.at.isoformat(),
            },
        )
        for d in due
    ]
    change = TicketUpdate()
    notes: list[dict[str, Any]] = []
    levels = sla_math.escalation_steps(policy, updated, now) if policy is not None else []
    priority = ticket.priority.value
    for level in levels:
        step = next(s for s in policy.escalation if s.level == level) if policy else None
        if step is None:
            continue
        actions: list[str] = []
        if step.notify:
            recipients = _recipients(config, ticket, list(step.notify))
            notes.append(
                {
                    "ticket_id": ticket.id,
                    "number": ticket.number,
                    "level": level,
                    "notify": recipients,
                    "policy": ticket.sla.policy,
                    "subject": ticket.subject,
                    "team": ticket.team,
                }
            )
            actions.append(f"notified {', '.join(recipients) or 'nobody'}")
        if step.raise_priority and priority != "urgent":
            priority = sla_math.raised(priority)
            change.priority = priority
            actions.append(f"priority raised to {priority}")
        if step.reassign_team and step.reassign_team != ticket.team:
            change.team = step.reassign_team
            if ticket.assignee:
                change.unassign = True
                change.load_stale = bool(ticket.load_holder)
            change.queue = QueueEntry(
                team=step.reassign_team,
                ticket_id=ticket.id,
                priority=priority,
                channel=ticket.channel.value,
                queued_at=now,
                key=queue_key(priority, now, ticket.id),
            )
            actions.append(f"reassigned to team {step.reassign_team}")
        events.append(TicketEvent(at=now, type="escalated", data={"level": level, "actions": actions}))
        updated = updated.model_copy(update={"escalation_level": level})
    followups: list[tuple[str, str, datetime | None]] = []
    for item in due:
        target = ticket.sla.target(item.target)
        if item.target == "periodic_update" and item.kind == "breach" and target is not None:
            if ctx.outbound is None:
                continue  # no automatic messages: the breach stands until an agent replies
            # the update promises the next one: its clock restarts now, in the policy's hours
            updated = sla_math.restart_periodic_update(updated, policy, now, calendar, keep_breach=True)
            restarted = updated.target("periodic_update")
            next_update = restarted.due_at if restarted is not None and restarted.due_at else None
            followups.append(("update", f"update#{ticket.id}#{target.started_at}", next_update))
    pending = ticket.status.value == "pending"
    if updated.reminder_at is not None and updated.reminder_at <= now:
        resolve_at = now + timedelta(hours=config.followups.pending_auto_resolve_hours)
        if pending:
            followups.append(
                ("reminder", f"reminder#{ticket.id}#{updated.reminder_at.isoformat()}", resolve_at)
            )
            events.append(
                TicketEvent(at=now, type="reminder_due", data={"auto_resolve_at": resolve_at.isoformat()})
            )
        updated = updated.model_copy(
            update={"reminder_at": None, "auto_resolve_at": resolve_at if pending else None}
        )
    elif (resolving := updated.auto_resolve_at) is not None and resolving <= now:
        if pending:
            change.status = "resolved"
            change.load_stale = bool(ticket.load_holder)
            updated = sla_math.on_resolved(updated, now, calendar)
            events.append(
                TicketEvent(at=now, type="auto_resolved", data={"why": "no answer from the customer"})
            )
            followups.append(("auto_resolve", f"auto_resolve#{ticket.id}#{resolving.isoformat()}", None))
        updated = updated.model_copy(update={"auto_resolve_at": None})
    change.sla = SlaWrite(updated, sla_math.next_deadline(updated, policy), config.sla.sweep_shards)
    try:
        ctx.repository.update_ticket(ticket, change, events, now)
    except ConflictError:
        result.skipped += 1  # another sweep (or an agent) changed the ticket first: it is handled there
        return
    if ctx.outbound is not None:
        from shared.logic.outbound import queue_automatic

        for kind, key, moment in followups:
            queued, why = queue_automatic(ticket, kind, key, ctx.outbound, now, due=moment)  # type: ignore[arg-type]
            result.followups += 1
            if kind == "reminder" and queued is None and why != "already queued":
                _cancel_auto_resolve(ticket.id, ctx, why, now)
    for note in notes:
        ctx.notifier.notify(f"Ticket #{ticket.number}: SLA escalation level {note['level']}", note)
    result.notifications += notes
    result.warnings += sum(1 for d in due if d.kind == "warning")
    result.breaches += sum(1 for d in due if d.kind == "breach")
    result.escalations += len(levels)
    if change.team is not None:
        result.reassigned_teams.append(change.team)


def _cancel_auto_resolve(ticket_id: str, ctx: SweepContext, why: str, now: datetime) -> None:
    """The reminder was suppressed (outside Meta's window, an opt-out, ...): the customer was never
    told, so the ticket must not close on its own. Auto-resolve is called off and the ticket flagged
    for an agent, if nobody changed it since the sweep's write (else the next sweep sees it)."""
    ticket = ctx.repository.get_ticket(ticket_id)
    if ticket is None or ticket.status.value != "pending" or ticket.sla.auto_resolve_at is None:
        return
    policy, _ = _context(ctx.config, ticket)
    updated = ticket.sla.model_copy(update={"auto_resolve_at": None})
    change = TicketUpdate(
        sla=SlaWrite(updated, sla_math.next_deadline(updated, policy), ctx.config.sla.sweep_shards),
        flags=list(dict.fromkeys([*ticket.flags, NEEDS_ATTENTION])),
    )
    why = f"the reminder was suppressed: {why}"
    event = TicketEvent(at=now, type="auto_resolve_cancelled", data={"why": why})
    try:
        ctx.repository.update_ticket(ticket, change, [event], now)
    except ConflictError:
        return  # changed meanwhile (the customer answered, an agent acted): the next sweep decides


def sweep(ctx: SweepContext, now: datetime, per_shard: int = 100) -> SweepResult:
    """Find due SLA warnings and breaches through the sparse deadline index and act on them."""
    result = SweepResult()
    for shard in range(ctx.config.sla.sweep_shards):
        for ticket in ctx.repository.due_tickets(shard, now, per_shard):
            result.read += 1
            sweep_ticket(ticket, ctx, now, result)
    return result
