"""The SLA sweep: due warnings and breaches, the escalation steps they reach, and the time-based
follow-ups (periodic update, reminder, auto-resolve) it queues through the outbox.

It sits above `sla_service` (the SLA state) and `outbound` (the outbox), which both stay below it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from shared.dal.queues import QueueEntry, queue_key
from shared.dal.repository import TicketRepository
from shared.dal.tickets import SlaWrite, TicketUpdate
from shared.errors import ConflictError
from shared.logic import sla as sla_math
from shared.logic.outbound import OutboundContext, queue_automatic
from shared.logic.sla_service import ticket_policy
from shared.models.config import HelpdeskConfig
from shared.models.outbound import OutboundKind
from shared.models.ticket import Ticket, TicketEvent

NEEDS_ATTENTION = "needs_attention"
"""The flag on a ticket an agent must look at: it would otherwise wait on a customer who was never told."""


class Notifier(Protocol):
    def notify(self, subject: str, message: dict[str, Any]) -> None: ...


@dataclass
class SweepContext:
    repository: TicketRepository
    config: HelpdeskConfig
    notifier: Notifier
    outbound: OutboundContext | None = None
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
    policy, calendar = ticket_policy(config, ticket)
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
    followups: list[tuple[OutboundKind, str, datetime | None]] = []
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
        for kind, key, moment in followups:
            queued, why = queue_automatic(ticket, kind, key, ctx.outbound, now, due=moment)
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
    policy, _ = ticket_policy(ctx.config, ticket)
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
