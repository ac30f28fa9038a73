"""The SLA sweep: due warnings and breaches, the escalation steps they reach, and the time-based
follow-ups (periodic update, reminder, auto-resolve) it queues through the outbox.

It sits above `sla_service` (the SLA state) and `automatic` (automatic messages through the outbox),
which both stay below it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from shared.dal.deadlines import DeadlineIndex
from shared.dal.queues import QueueEntry, queue_key
from shared.dal.tickets import SlaWrite, TicketStore, TicketUpdate
from shared.errors import ConflictError
from shared.logic import sla as sla_math
from shared.logic.automatic import queue_automatic
from shared.logic.calendar import Calendar
from shared.logic.outbound import OutboundContext
from shared.logic.sla_service import sla_write, ticket_policy
from shared.models.config import EscalationStep, HelpdeskConfig, SlaPolicyConfig
from shared.models.outbound import OutboundKind
from shared.models.ticket import Sla, Ticket, TicketEvent

NEEDS_ATTENTION = "needs_attention"
"""The flag on a ticket an agent must look at: it would otherwise wait on a customer who was never told."""


class Notifier(Protocol):
    def notify(self, subject: str, message: dict[str, Any]) -> None: ...


class SweepStores(DeadlineIndex, TicketStore, Protocol):
    """What the SLA sweep reads and writes: the due index and the tickets it names."""


@dataclass
class SweepContext:
    repository: SweepStores
    config: HelpdeskConfig
    notifier: Notifier
    outbound: OutboundContext | None = None
    """An OutboundContext for time-based follow-ups (periodic update, reminder, auto-resolve)."""


PAGE = 100
"""Index entries a sweep reads at once: one Query page, then one BatchGetItem of the tickets."""


@dataclass
class SweepResult:
    read: int = 0
    warnings: int = 0
    breaches: int = 0
    escalations: int = 0
    skipped: int = 0
    stale: int = 0
    """Index entries whose ticket had already moved on (the index lags the table)."""
    notifications: list[dict[str, Any]] = field(default_factory=list)
    reassigned_teams: list[str] = field(default_factory=list)
    followups: int = 0

    def add(self, other: SweepResult) -> None:
        self.read += other.read
        self.warnings += other.warnings
        self.breaches += other.breaches
        self.escalations += other.escalations
        self.skipped += other.skipped
        self.stale += other.stale
        self.notifications += other.notifications
        self.reassigned_teams += other.reassigned_teams
        self.followups += other.followups


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


Followup = tuple[OutboundKind, str, datetime | None]
"""An automatic message the sweep queues: its kind, its outbox key and the time it promises."""


@dataclass
class _TicketSweep:
    """What sweeping one ticket decides, step by step, before it is written at once."""

    ticket: Ticket
    now: datetime
    sla: Sla
    """The ticket's SLA as the sweep leaves it."""
    priority: str
    events: list[TicketEvent]
    change: TicketUpdate = field(default_factory=TicketUpdate)
    notes: list[dict[str, Any]] = field(default_factory=list)
    """Escalation notifications, sent once the write holds."""
    followups: list[Followup] = field(default_factory=list)
    """Queued once the write holds."""


def _due_event(ticket: Ticket, due: sla_math.Due, now: datetime) -> TicketEvent:
    breach = due.kind == "breach"
    return TicketEvent(
        at=now,
        type="sla_breached" if breach else "sla_warning",
        data={
            "target": due.target,
            "policy": ticket.sla.policy,
            "due_at" if breach else "warn_at": due.at.isoformat(),
        },
    )


def _notify(state: _TicketSweep, step: EscalationStep, level: int, config: HelpdeskConfig) -> list[str]:
    """Address the step's notification (sent after the write); the action it records."""
    if not step.notify:
        return []
    ticket = state.ticket
    recipients = _recipients(config, ticket, list(step.notify))
    state.notes.append(
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
    return [f"notified {', '.join(recipients) or 'nobody'}"]


def _raise_priority(state: _TicketSweep, step: EscalationStep) -> list[str]:
    """One priority up, unless already urgent (each level that says so raises it again)."""
    if not step.raise_priority or state.priority == "urgent":
        return []
    state.priority = sla_math.raised(state.priority)
    state.change.priority = state.priority
    return [f"priority raised to {state.priority}"]


def _reassign(state: _TicketSweep, step: EscalationStep) -> list[str]:
    """Move the ticket to the step's team, unassigned and queued there at its current priority."""
    ticket, team = state.ticket, step.reassign_team
    if not team or team == ticket.team:
        return []
    state.change.team = team
    if ticket.assignee:
        state.change.unassign = True
        state.change.load_stale = bool(ticket.load_holder)
    state.change.queue = QueueEntry(
        team=team,
        ticket_id=ticket.id,
        priority=state.priority,
        channel=ticket.channel.value,
        queued_at=state.now,
        key=queue_key(state.priority, state.now, ticket.id),
    )
    return [f"reassigned to team {team}"]


def _escalate(
    state: _TicketSweep, policy: SlaPolicyConfig | None, levels: list[int], config: HelpdeskConfig
) -> None:
    """Take the steps of the escalation levels now reached, in order, each recorded with its actions."""
    for level in levels:
        step = next(s for s in policy.escalation if s.level == level) if policy else None
        if step is None:
            continue
        actions = _notify(state, step, level, config)
        actions += _raise_priority(state, step)
        actions += _reassign(state, step)
        state.events.append(
            TicketEvent(at=state.now, type="escalated", data={"level": level, "actions": actions})
        )
        state.sla = state.sla.model_copy(update={"escalation_level": level})


def _plan_periodic_updates(
    state: _TicketSweep, due: list[sla_math.Due], policy: SlaPolicyConfig | None, calendar: Calendar
) -> None:
    """A breached periodic update is answered by an automatic update, which promises the next one:
    its clock restarts now, in the policy's hours."""
    ticket = state.ticket
    for item in due:
        target = ticket.sla.target(item.target)
        if item.target == "periodic_update" and item.kind == "breach" and target is not None:
            state.sla = sla_math.restart_periodic_update(
                state.sla, policy, state.now, calendar, keep_breach=True
            )
            restarted = state.sla.target("periodic_update")
            next_update = restarted.due_at if restarted is not None and restarted.due_at else None
            state.followups.append(("update", f"update#{ticket.id}#{target.started_at}", next_update))


def _remind_or_auto_resolve(state: _TicketSweep, config: HelpdeskConfig, calendar: Calendar) -> None:
    """A pending ticket at its reminder time gets a reminder and an auto-resolve time; one still
    pending at its auto-resolve time is resolved. A ticket no longer pending only loses the times."""
    ticket, now = state.ticket, state.now
    pending = ticket.status.value == "pending"
    if state.sla.reminder_at is not None and state.sla.reminder_at <= now:
        reminder_at = state.sla.reminder_at
        resolve_at = now + timedelta(hours=config.followups.pending_auto_resolve_hours)
        if pending:
            state.followups.append(
                ("reminder", f"reminder#{ticket.id}#{reminder_at.isoformat()}", resolve_at)
            )
            state.events.append(
                TicketEvent(at=now, type="reminder_due", data={"auto_resolve_at": resolve_at.isoformat()})
            )
        state.sla = state.sla.model_copy(
            update={"reminder_at": None, "auto_resolve_at": resolve_at if pending else None}
        )
    elif (resolving := state.sla.auto_resolve_at) is not None and resolving <= now:
        if pending:
            state.change.status = "resolved"
            state.change.load_stale = bool(ticket.load_holder)
            state.sla = sla_math.on_resolved(state.sla, now, calendar)
            state.events.append(
                TicketEvent(at=now, type="auto_resolved", data={"why": "no answer from the customer"})
            )
            state.followups.append(
                ("auto_resolve", f"auto_resolve#{ticket.id}#{resolving.isoformat()}", None)
            )
        state.sla = state.sla.model_copy(update={"auto_resolve_at": None})


def _queue_followups(
    state: _TicketSweep, ctx: SweepContext, outbound: OutboundContext, result: SweepResult
) -> None:
    """Queue the automatic messages; a reminder that cannot go out calls off the auto-resolve."""
    ticket = state.ticket
    for kind, key, moment in state.followups:
        queued, why = queue_automatic(ticket, kind, key, outbound, state.now, due=moment)
        result.followups += 1
        if kind == "reminder" and queued is None and why != "already queued":
            _cancel_auto_resolve(ticket.id, ctx, why, state.now)


def _tally(result: SweepResult, state: _TicketSweep, due: list[sla_math.Due], levels: list[int]) -> None:
    result.notifications += state.notes
    result.warnings += sum(1 for d in due if d.kind == "warning")
    result.breaches += sum(1 for d in due if d.kind == "breach")
    result.escalations += len(levels)
    if state.change.team is not None:
        result.reassigned_teams.append(state.change.team)


def sweep_ticket(ticket: Ticket, ctx: SweepContext, now: datetime, result: SweepResult) -> None:
    """Record due warnings and breaches of one ticket and take the escalation steps now reached."""
    config = ctx.config
    policy, calendar = ticket_policy(config, ticket)
    due = sla_math.due_now(ticket.sla, now)
    state = _TicketSweep(
        ticket,
        now,
        sla=sla_math.record(ticket.sla, due, now),
        priority=ticket.priority.value,
        events=[_due_event(ticket, d, now) for d in due],
    )
    levels = sla_math.escalation_steps(policy, state.sla, now) if policy is not None else []
    _escalate(state, policy, levels, config)
    if ctx.outbound is not None:  # else no automatic messages: a breach stands until an agent replies
        _plan_periodic_updates(state, due, policy, calendar)
    _remind_or_auto_resolve(state, config, calendar)
    # always rewrites the index keys: the ticket came from an entry that is now behind
    state.change.sla = SlaWrite(state.sla, sla_math.next_deadline(state.sla, policy), config.sla.sweep_shards)
    try:
        ctx.repository.update_ticket(ticket, state.change, state.events, now)
    except ConflictError:
        result.skipped += 1  # another sweep (or an agent) changed the ticket first: it is handled there
        return
    if ctx.outbound is not None:
        _queue_followups(state, ctx, ctx.outbound, result)
    for note in state.notes:
        ctx.notifier.notify(f"Ticket #{ticket.number}: SLA escalation level {note['level']}", note)
    _tally(result, state, due, levels)


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
        sla=sla_write(ctx.config, ticket, updated, policy),
        flags=list(dict.fromkeys([*ticket.flags, NEEDS_ATTENTION])),
    )
    why = f"the reminder was suppressed: {why}"
    event = TicketEvent(at=now, type="auto_resolve_cancelled", data={"why": why})
    try:
        ctx.repository.update_ticket(ticket, change, [event], now)
    except ConflictError:
        return  # changed meanwhile (the customer answered, an agent acted): the next sweep decides


def sweep_shard(
    ctx: SweepContext,
    shard: int,
    now: datetime,
    out_of_time: Callable[[], bool] = lambda: False,
    per_page: int = PAGE,
) -> tuple[SweepResult, bool]:
    """Act on the due tickets of one deadline-index shard, page after page, until the shard has
    none left up to `now` (True) or `out_of_time` says to stop between pages (False: the caller
    hands the rest to another run). Entries whose ticket already moved on are counted, not acted on."""
    result = SweepResult()
    after: str | None = None
    while True:
        page = ctx.repository.due_tickets(shard, now, per_page, after)
        result.stale += page.stale
        for ticket in page.tickets:
            result.read += 1
            sweep_ticket(ticket, ctx, now, result)
        if page.cursor is None:
            return result, True
        if out_of_time():
            return result, False
        after = page.cursor


def sweep(ctx: SweepContext, now: datetime, per_page: int = PAGE) -> SweepResult:
    """Every shard of the deadline index, each to its end (the sweep workers take one shard each)."""
    total = SweepResult()
    for shard in range(ctx.config.sla.sweep_shards):
        result, _ = sweep_shard(ctx, shard, now, per_page=per_page)
        total.add(result)
    return total
