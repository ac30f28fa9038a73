"""SLA math: policies, targets in business or calendar time, pauses, and what is due when.

Pure functions over Sla values (no I/O). Callers store the returned Sla and index its next
deadline, so the sweeper only reads tickets that have something due.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.logic.calendar import Calendar
from shared.models.config import HelpdeskConfig, SlaPolicyConfig, SlaTargetConfig
from shared.models.ticket import Sla, SlaTarget, TargetName

ALWAYS_OPEN = Calendar(timezone="UTC", always_open=True)
TARGETS: tuple[TargetName, ...] = ("first_response", "next_response", "periodic_update", "resolution")
STARTS_AT_CREATION: tuple[TargetName, ...] = ("first_response", "periodic_update", "resolution")
PRIORITY_ORDER = ("low", "normal", "high", "urgent")


@dataclass(frozen=True)
class SlaFacts:
    channel: str
    public: bool
    priority: str
    team: str | None
    customer_tier: str | None


def select_policy(
    config: HelpdeskConfig, facts: SlaFacts, named: str | None = None
) -> SlaPolicyConfig | None:
    """The policy a routing rule named, else the first whose conditions all hold."""
    if named is not None:
        return config.sla_policy(named)
    for policy in config.sla.policies:
        when = policy.when
        if when.channel is not None and facts.channel not in when.channel:
            continue
        if when.public is not None and facts.public != when.public:
            continue
        if when.priority is not None and facts.priority not in when.priority:
            continue
        if when.team is not None and facts.team not in when.team:
            continue
        if when.customer_tier is not None and facts.customer_tier not in when.customer_tier:
            continue
        return policy
    return None


def _due(calendar: Calendar, start: datetime, seconds: float, business: bool) -> datetime:
    clock = calendar if business else ALWAYS_OPEN
    due = clock.add_business_time(start, timedelta(seconds=seconds))
    return due if due is not None else start + timedelta(seconds=seconds)


def _counts_business(calendar: Calendar, start: datetime, seconds: float, business: bool) -> bool:
    """Whether a target counts open hours: a business target whose time the calendar cannot fit
    within its horizon (about two years: a calendar open minutes a week) runs on calendar time,
    recorded on the target, so that pausing and resuming measure it as it was planned."""
    return business and calendar.add_business_time(start, timedelta(seconds=seconds)) is not None


def start_target(
    name: TargetName, spec: SlaTargetConfig, start: datetime, calendar: Calendar, warning_at: float
) -> SlaTarget:
    """A running target: due after its minutes of (business) time, warning at `warning_at` of them."""
    seconds = spec.minutes * 60
    business = _counts_business(calendar, start, seconds, spec.business)
    return SlaTarget(
        name=name,
        started_at=start,
        minutes=spec.minutes,
        business=business,
        due_at=_due(calendar, start, seconds, business),
        warn_at=_due(calendar, start, seconds * warning_at, business),
    )


def plan(policy: SlaPolicyConfig, created_at: datetime, calendar: Calendar, calendar_name: str | None) -> Sla:
    """Targets of a new ticket: first response, periodic update and resolution start at creation."""
    targets = [
        start_target(name, spec, created_at, calendar, policy.warning_at)
        for name in STARTS_AT_CREATION
        if (spec := getattr(policy, name)) is not None
    ]
    return Sla(policy=policy.name, calendar=calendar_name, targets=targets)


def replan(
    sla: Sla, policy: SlaPolicyConfig, calendar: Calendar, calendar_name: str | None, now: datetime
) -> Sla:
    """Switch to another policy (e.g. priority raised to urgent): running targets restart from
    their start with the new times; met and breached targets stay as they were."""
    targets: list[SlaTarget] = []
    for name in TARGETS:
        old = sla.target(name)
        spec = getattr(policy, name)
        if old is not None and old.state in ("met", "breached"):
            targets.append(old)
        elif spec is not None and old is not None and old.started_at is not None:
            fresh = start_target(name, spec, old.started_at, calendar, policy.warning_at)
            if old.warned_at is not None and (fresh.warn_at is None or fresh.warn_at <= now):
                # the team was warned and the new warning time has passed too: never warn twice
                fresh = fresh.model_copy(update={"warned_at": old.warned_at})
            targets.append(fresh)
        elif spec is not None and old is None and name in STARTS_AT_CREATION:
            targets.append(start_target(name, spec, now, calendar, policy.warning_at))
    return sla.model_copy(update={"policy": policy.name, "calendar": calendar_name, "targets": targets})


def _replace(sla: Sla, target: SlaTarget) -> list[SlaTarget]:
    others = [t for t in sla.targets if t.name != target.name]
    return sorted([*others, target], key=lambda t: TARGETS.index(t.name))


def on_agent_reply(sla: Sla, policy: SlaPolicyConfig | None, now: datetime, calendar: Calendar) -> Sla:
    """A human agent's public reply meets first and next response and restarts the periodic update."""
    targets = list(sla.targets)
    updated = sla
    for target in targets:
        if target.name in ("first_response", "next_response") and target.state in ("pending", "paused"):
            met = target.model_copy(update={"state": "met", "met_at": now, "remaining_seconds": None})
            updated = updated.model_copy(update={"targets": _replace(updated, met)})
    return restart_periodic_update(updated, policy, now, calendar)


def restart_periodic_update(
    sla: Sla, policy: SlaPolicyConfig | None, now: datetime, calendar: Calendar, keep_breach: bool = False
) -> Sla:
    """The periodic update's clock starts again from now (the customer just heard from us), in the
    policy's (business) time. `keep_breach`: the breach just recorded stays on the restarted clock,
    so escalation steps after it still come (an automatic update does not answer the customer)."""
    if policy is None or policy.periodic_update is None:
        return sla
    fresh = start_target("periodic_update", policy.periodic_update, now, calendar, policy.warning_at)
    old = sla.target("periodic_update")
    if keep_breach and old is not None and old.breached_at is not None:
        fresh = fresh.model_copy(update={"breached_at": old.breached_at})
    return sla.model_copy(update={"targets": _replace(sla, fresh)})


def on_customer_message(sla: Sla, policy: SlaPolicyConfig | None, now: datetime, calendar: Calendar) -> Sla:
    """A customer message after our first response starts the next-response clock; paused clocks resume."""
    updated = resume(sla, now, calendar)
    first = updated.target("first_response")
    current = updated.target("next_response")
    if policy is None or policy.next_response is None or first is None or first.state != "met":
        return updated
    if current is not None and current.state in ("pending", "paused"):
        return updated  # already waiting for our answer: the earlier message sets the clock
    fresh = start_target("next_response", policy.next_response, now, calendar, policy.warning_at)
    return updated.model_copy(update={"targets": _replace(updated, fresh)})


def pause(sla: Sla, now: datetime, calendar: Calendar) -> Sla:
    """Waiting on the customer: running clocks stop, keeping the time they had left."""
    if sla.paused_at is not None:
        return sla
    targets = []
    for target in sla.targets:
        if target.state == "pending" and target.due_at is not None:
            clock = calendar if target.business else ALWAYS_OPEN
            left = (
                clock.business_time_between(now, target.due_at).total_seconds()
                if target.due_at > now
                else 0.0
            )
            targets.append(target.model_copy(update={"state": "paused", "remaining_seconds": left}))
        else:
            targets.append(target)
    return sla.model_copy(update={"targets": targets, "paused_at": now})


def resume(sla: Sla, now: datetime, calendar: Calendar) -> Sla:
    """The customer answered: paused clocks run again with the time they had left."""
    if sla.paused_at is None:
        return sla
    targets = []
    for target in sla.targets:
        if target.state == "paused" and target.remaining_seconds is not None:
            total = target.minutes * 60
            business = _counts_business(calendar, now, target.remaining_seconds, target.business)
            due = _due(calendar, now, target.remaining_seconds, business)
            warn_left = target.remaining_seconds - total * (1 - _warning_fraction(target))
            warn_at = _due(calendar, now, max(warn_left, 0.0), business)
            resumed = {"state": "pending", "due_at": due, "warn_at": warn_at, "remaining_seconds": None}
            targets.append(target.model_copy(update={**resumed, "business": business}))
        else:
            targets.append(target)
    return sla.model_copy(update={"targets": targets, "paused_at": None})


def _warning_fraction(target: SlaTarget) -> float:
    if target.started_at is None or target.due_at is None or target.warn_at is None:
        return 0.8
    whole = (target.due_at - target.started_at).total_seconds()
    return (target.warn_at - target.started_at).total_seconds() / whole if whole > 0 else 0.8


def on_resolved(sla: Sla, now: datetime, calendar: Calendar) -> Sla:
    """Resolution meets the resolution target; other running clocks stop as in `pause`, keeping the
    time they had left, so that a reopened ticket resumes them where they stopped."""
    stopped = pause(sla, now, calendar)
    targets = []
    for target in stopped.targets:
        if target.name == "resolution" and target.state in ("pending", "paused"):
            targets.append(
                target.model_copy(update={"state": "met", "met_at": now, "remaining_seconds": None})
            )
        else:
            targets.append(target)
    return stopped.model_copy(update={"targets": targets})


@dataclass(frozen=True)
class Due:
    target: TargetName
    kind: str
    """warning or breach"""
    at: datetime


def due_now(sla: Sla, now: datetime) -> list[Due]:
    """Warnings and breaches that have come and are not recorded yet, in time order."""
    found: list[Due] = []
    for target in sla.targets:
        if target.state != "pending":
            continue
        if target.due_at is not None and target.due_at <= now:
            found.append(Due(target.name, "breach", target.due_at))
        elif target.warn_at is not None and target.warn_at <= now and target.warned_at is None:
            found.append(Due(target.name, "warning", target.warn_at))
    return sorted(found, key=lambda d: d.at)


def record(sla: Sla, due: list[Due], now: datetime) -> Sla:
    """Mark the given warnings and breaches as recorded."""
    updated = sla
    for item in due:
        target = updated.target(item.target)
        if target is None:
            continue
        if item.kind == "breach":
            changed = target.model_copy(
                update={"state": "breached", "breached_at": item.at, "warned_at": target.warned_at or item.at}
            )
        else:
            changed = target.model_copy(update={"warned_at": now})
        updated = updated.model_copy(update={"targets": _replace(updated, changed)})
    return updated


def next_deadline(sla: Sla, policy: SlaPolicyConfig | None = None) -> datetime | None:
    """The earliest warning, due time or pending escalation still to come (the sweeper's index key)."""
    times: list[datetime] = []
    for target in sla.targets:
        if target.state != "pending":
            continue
        if target.warn_at is not None and target.warned_at is None:
            times.append(target.warn_at)
        if target.due_at is not None:
            times.append(target.due_at)
    times += [moment for moment in (sla.reminder_at, sla.auto_resolve_at) if moment is not None]
    for step in policy.escalation if policy is not None else []:
        if step.level <= sla.escalation_level:
            continue
        for target in sla.targets:
            moment = target.warned_at if step.at == "warning" else target.breached_at
            if moment is not None:
                times.append(moment + timedelta(minutes=step.after_minutes))
    return min(times) if times else None


def escalation_steps(policy: SlaPolicyConfig, sla: Sla, now: datetime) -> list[int]:
    """Escalation levels now reached and not yet taken, lowest first."""
    reached: list[int] = []
    for step in sorted(policy.escalation, key=lambda s: s.level):
        if step.level <= sla.escalation_level:
            continue
        moments = [
            (t.warned_at if step.at == "warning" else t.breached_at)
            for t in sla.targets
            if (t.warned_at if step.at == "warning" else t.breached_at) is not None
        ]
        if any(m is not None and m + timedelta(minutes=step.after_minutes) <= now for m in moments):
            reached.append(step.level)
    return reached


def raised(priority: str) -> str:
    index = PRIORITY_ORDER.index(priority) if priority in PRIORITY_ORDER else 1
    return PRIORITY_ORDER[min(index + 1, len(PRIORITY_ORDER) - 1)]
