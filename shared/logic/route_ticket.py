"""Use cases of route_ticket: route new tickets, drain queues, give capacity back, overflow.

Every assignment is an atomic claim (see `Assignments.claim` in shared/dal/agents.py): capacity is
never exceeded, and a ticket is never assigned twice, however many routers run at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from shared.dal.agents import (
    AgentLive,
    AlreadyRoutedError,
    Assignments,
    ClaimLostError,
    Presence,
    RoutingChanges,
)
from shared.dal.base import DuplicateError
from shared.dal.customers import CustomerStore
from shared.dal.deadlines import DeadlineIndex
from shared.dal.pointers import Pointer
from shared.dal.queues import QueueEntry
from shared.dal.tickets import SlaWrite, TicketStore
from shared.errors import ConflictError, HelpdeskError
from shared.logic.routing import (
    AgentState,
    Candidates,
    TicketFacts,
    candidate_pool,
    capacity_group,
    event_considered,
    match_rule,
    rank_agents,
)
from shared.logic.sla_service import plan_for
from shared.models.config import HelpdeskConfig, RuleAction, TeamConfig
from shared.models.ticket import Customer, Ticket, TicketEvent

MAX_CLAIM_ATTEMPTS = 5
OPEN = {"new", "open", "pending", "on_hold"}


class RoutingStores(TicketStore, CustomerStore, Presence, Assignments, DeadlineIndex, Protocol):
    """What routing reads and writes: the ticket and its customer (rules, prior contacts), agents'
    live state, claims and queues, and the unrouted index."""


@dataclass
class AgentCache:
    """Agents' live state read during one stream batch, kept current by the batch's own claims, so
    a batch reads each agent once (decision 123). Another router's claims are not seen: a claim on
    an agent it filled fails its condition, and that agent is read again."""

    live: dict[str, AgentLive | None] = field(default_factory=dict)
    """None: read, never stored."""

    def forget(self, agent_id: str) -> None:
        self.live.pop(agent_id, None)

    def clear(self) -> None:
        self.live.clear()


@dataclass
class RoutingContext:
    repository: RoutingStores
    config: HelpdeskConfig
    detect_language: Callable[[str], str | None] = lambda text: None
    agents: AgentCache | None = None
    """The batch's agent reads (route_ticket clears it per invocation); None: each decision reads."""


@dataclass
class RouteOutcome:
    ticket_id: str
    outcome: str
    """assigned, queued, already, no_team, released, overflowed."""
    team: str | None = None
    agent: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _needs(config: HelpdeskConfig, attribute: str) -> bool:
    return any(getattr(rule.when, attribute) is not None for rule in config.routing.rules)


def _states(config: HelpdeskConfig, live: dict[str, AgentLive]) -> dict[str, AgentState]:
    states: dict[str, AgentState] = {}
    for agent in config.agents:
        stored = live.get(agent.id)
        states[agent.id] = AgentState(
            id=agent.id,
            presence=(stored.presence if stored and stored.presence else agent.default_presence),
            load=dict(stored.load) if stored else {},
            last_assigned_at=stored.last_assigned_at if stored else "",
        )
    return states


def _team(config: HelpdeskConfig, team_id: str | None) -> TeamConfig | None:
    if team_id is not None:
        return config.team(team_id)
    if config.routing.default_team is not None:
        return config.team(config.routing.default_team)
    return config.teams[0] if config.teams else None


def _sticky(ticket: Ticket, others: list[Ticket]) -> list[str]:
    """The agents holding the customer's other open tickets of the same group, then recent agents."""
    same_group = [
        t.assignee
        for t in others
        if t.assignee and t.status in OPEN and ticket.group_id and t.group_id == ticket.group_id
    ]
    recent = [t.assignee for t in sorted(others, key=lambda t: t.updated_at, reverse=True) if t.assignee]
    return list(dict.fromkeys([a for a in [*same_group, *recent] if a]))


@dataclass
class _TeamAgents:
    """The live state of the agents of a team a decision read, kept current as claims succeed."""

    states: dict[str, AgentState]
    stored: set[str]
    """Agents with a live item in the table; any other gets the presence the config assumes stored
    before its first claim."""
    read: list[str]
    """The agents read (`candidate_pool`): all of a team of at most CANDIDATE_READS."""


def _read_agents(agent_ids: list[str], ctx: RoutingContext) -> dict[str, AgentLive]:
    """The live state of these agents, from the batch's reads where it has them."""
    cache = ctx.agents
    if cache is None:
        return ctx.repository.get_agents(agent_ids)
    missing = [a for a in agent_ids if a not in cache.live]
    if missing:
        found = ctx.repository.get_agents(missing)
        cache.live.update({a: found.get(a) for a in missing})
    return {a: live for a in agent_ids if (live := cache.live[a]) is not None}


def _team_agents(team: TeamConfig, ctx: RoutingContext, pool: list[str]) -> _TeamAgents:
    """The team's agents in `pool` (`candidate_pool`), read in one BatchGetItem or from the batch."""
    live = _read_agents(pool, ctx)
    states = _states(ctx.config, live)
    return _TeamAgents({a: states[a] for a in pool if a in states}, set(live), pool)


def _claimed(agent_id: str, group: str, agents: _TeamAgents, ctx: RoutingContext, now: datetime) -> None:
    """A claim held: the agent holds one more ticket of `group`, here and in the batch's reads."""
    state = agents.states[agent_id]
    load = dict(state.load)
    load[group] = load.get(group, 0) + 1
    agents.states[agent_id] = AgentState(
        id=agent_id, presence=state.presence, load=load, last_assigned_at=now.isoformat()
    )
    if ctx.agents is not None:
        agent = ctx.config.agent(agent_id)
        ctx.agents.live[agent_id] = AgentLive(
            id=agent_id,
            presence=state.presence,
            load=load,
            last_assigned_at=now.isoformat(),
            teams=list(agent.teams) if agent else [],
        )


@dataclass
class _Claim:
    """A routing decision to write with whichever agent's claim succeeds."""

    ticket: Ticket
    changes: RoutingChanges
    event_data: dict[str, Any]
    """The `routed` event's data; each lost claim is added to its `lost_claims`."""
    preface: Sequence[TicketEvent] = ()
    dequeue: QueueEntry | None = None


def _try_claims(
    claim: _Claim, candidates: list[str], agents: _TeamAgents, ctx: RoutingContext, now: datetime
) -> RouteOutcome | None:
    """Claim the first candidates in turn (at most MAX_CLAIM_ATTEMPTS) until one claim holds."""
    ticket, changes = claim.ticket, claim.changes
    group = capacity_group(ticket.channel.value)
    for agent_id in candidates[:MAX_CLAIM_ATTEMPTS]:
        agent = ctx.config.agent(agent_id)
        if agent is None:
            continue
        capacity = agent.capacity.get(group, 0)  # type: ignore[call-overload]
        event = TicketEvent(at=now, type="routed", data={**claim.event_data, "agent": agent_id})
        try:
            if agent_id not in agents.stored:  # first assignment ever: store the presence the config assumes
                ctx.repository.set_presence(agent_id, agents.states[agent_id].presence, agent.teams, now)
                agents.stored.add(agent_id)
            ctx.repository.claim(
                ticket.id, agent_id, group, capacity, changes, [*claim.preface, event], now, claim.dequeue
            )
        except ClaimLostError:
            claim.event_data.setdefault("lost_claims", []).append(agent_id)
            if ctx.agents is not None:
                ctx.agents.forget(agent_id)  # changed by someone else: read again when needed
            continue
        except AlreadyRoutedError:
            return RouteOutcome(ticket.id, "already", changes.team)
        _claimed(agent_id, group, agents, ctx, now)
        return RouteOutcome(ticket.id, "assigned", changes.team, agent_id, event.data)
    return None


@dataclass
class _NewTicket:
    """What routing a new ticket reads before it decides, shared by the steps that follow."""

    ticket: Ticket
    ctx: RoutingContext
    now: datetime
    preface: Sequence[TicketEvent]
    customer: Customer | None
    others: list[Ticket]
    """The customer's other tickets (read only when a rule, a team strategy or the group needs them)."""
    language: str | None


def _read_new_ticket(
    ticket: Ticket, ctx: RoutingContext, now: datetime, preface: Sequence[TicketEvent]
) -> _NewTicket:
    """Read the customer, their other tickets and the ticket's language, each only if the config
    (its rules, SLA policies or team strategies) or the ticket's group needs it."""
    config = ctx.config
    customer = None
    sla_by_tier = any(p.when.customer_tier is not None for p in config.sla.policies)
    if _needs(config, "customer_tier") or _needs(config, "customer_fields") or sla_by_tier:
        customer = ctx.repository.get_customer(ticket.customer_id)
    others: list[Ticket] = []
    if (
        _needs(config, "prior_contacts")
        or ticket.group_id
        or any(t.strategy == "sticky" for t in config.teams)
    ):
        others = [t for t in ctx.repository.list_customer_tickets(ticket.customer_id) if t.id != ticket.id]
    language = ticket.language
    if language is None and _needs(config, "language"):
        language = ctx.detect_language(f"{ticket.subject or ''}\n{ticket.preview}")
    return _NewTicket(ticket, ctx, now, preface, customer, others, language)


def _facts(new: _NewTicket) -> TicketFacts:
    ticket, customer = new.ticket, new.customer
    return TicketFacts(
        channel=ticket.channel.value,
        inbox=ticket.inbox,
        subject=ticket.subject or "",
        body=ticket.preview,
        tags=tuple(ticket.tags),
        language=new.language,
        public="public" in ticket.flags,
        customer_tier=customer.tier if customer else None,
        customer_fields=dict(customer.fields) if customer else {},
        prior_contact_times=tuple(t.created_at for t in new.others if t.created_at < ticket.created_at),
        now=new.now,
    )


def _once(ticket_id: str, what: str) -> Pointer:
    """The marker that records a routing decision once, however often its record is delivered."""
    return Pointer("inbound", f"routing#{ticket_id}#{what}")


def _no_team(new: _NewTicket, event_data: dict[str, Any]) -> RouteOutcome:
    """No team to route to: record the decision once and take the ticket out of the unrouted index."""
    ticket, repository = new.ticket, new.ctx.repository
    # a redelivered record (or the sweeper after a lost one) finds the decision already recorded
    with contextlib.suppress(DuplicateError):
        repository.add_events(
            ticket.id,
            [
                *new.preface,
                TicketEvent(
                    at=new.now,
                    type="queued",
                    data={**event_data, "team": None, "why": "no team configured"},
                ),
            ],
            _once(ticket.id, "no-team"),
        )
    repository.drop_unrouted(ticket.id)  # decided: nothing for the unrouted sweep to do
    return RouteOutcome(ticket.id, "no_team")


def _changes(new: _NewTicket, team: TeamConfig, action: RuleAction | None) -> RoutingChanges:
    """The fields the decision sets: the rule's action on the ticket, and its SLA planned for the team."""
    ticket, config = new.ticket, new.ctx.config
    changes = RoutingChanges(
        team=team.id,
        priority=(action.priority if action and action.priority else ticket.priority.value),
        tags=list(dict.fromkeys([*ticket.tags, *(action.tags if action else [])])),
        skills=list(action.skills) if action else [],
        sla_policy=action.sla_policy if action else None,
        language=new.language,
    )
    tier = new.customer.tier if new.customer else None
    changes.sla = plan_for(
        config, ticket, team.id, changes.priority, tier, changes.sla_policy
    ) or SlaWrite(  # no policy applies: the write still takes the ticket out of the unrouted index
        ticket.sla.model_copy(update={"policy": changes.sla_policy or ticket.sla.policy}),
        None,
        config.sla.sweep_shards,
    )
    return changes


def _rank(new: _NewTicket, team: TeamConfig, skills: list[str]) -> tuple[Candidates, _TeamAgents]:
    """Read a bounded pool of the team (the customer's agents first) and rank it."""
    ticket = new.ticket
    sticky = _sticky(ticket, new.others)
    pool = candidate_pool(team, new.ctx.config, skills, sticky, new.now, ticket.id)
    agents = _team_agents(team, new.ctx, pool)
    ranked = rank_agents(
        team, new.ctx.config, agents.states, ticket.channel.value, skills, sticky, new.now, pool
    )
    return ranked, agents


def _assign_in_team(
    new: _NewTicket, team: TeamConfig, changes: RoutingChanges, event_data: dict[str, Any]
) -> RouteOutcome | None:
    """Give the ticket to the best free agent of the rule's team; the team and whom it considered
    join the decision's data, which a queue entry records too when nobody takes it."""
    candidates, agents = _rank(new, team, changes.skills)
    event_data.update({"team": team.id, "strategy": team.strategy, **event_considered(candidates)})
    claim = _Claim(new.ticket, changes, event_data, new.preface)
    return _try_claims(claim, candidates.ordered, agents, new.ctx, new.now)


def _assign_in_fallback(
    new: _NewTicket,
    team: TeamConfig,
    action: RuleAction | None,
    changes: RoutingChanges,
    event_data: dict[str, Any],
) -> RouteOutcome | None:
    """The rule's fallback team takes the ticket at once when its own team has nobody free."""
    config = new.ctx.config
    fallback = config.team(action.fallback_team) if action and action.fallback_team else None
    if fallback is None or fallback.id == team.id:
        return None
    ranked, agents = _rank(new, fallback, changes.skills)
    moved = RoutingChanges(**{**changes.__dict__, "team": fallback.id})
    shown = event_considered(ranked)  # named apart from the first team's: `considered_fallback`...
    data = {
        **event_data,
        "team": fallback.id,
        "fallback_from": team.id,
        **{f"{key}_fallback" if key == "considered" else f"fallback_{key}": v for key, v in shown.items()},
    }
    return _try_claims(_Claim(new.ticket, moved, data, new.preface), ranked.ordered, agents, new.ctx, new.now)


def _enqueue(
    new: _NewTicket, team: TeamConfig, changes: RoutingChanges, event_data: dict[str, Any]
) -> RouteOutcome:
    """Nobody free: the ticket waits in its team's queue."""
    ticket, now = new.ticket, new.now
    queued = TicketEvent(at=now, type="queued", data={**event_data, "why": "no free agent"})
    try:
        entry = new.ctx.repository.enqueue(
            ticket.id, ticket.channel.value, changes, [*new.preface, queued], now
        )
    except AlreadyRoutedError:
        return RouteOutcome(ticket.id, "already", team.id)
    return RouteOutcome(ticket.id, "queued", team.id, details={"queue_key": entry.key})


def route_new_ticket(
    ticket: Ticket, ctx: RoutingContext, now: datetime, preface: Sequence[TicketEvent] = ()
) -> RouteOutcome:
    """Apply the first matching rule, then give the ticket to the best free agent or queue it.

    `preface`: events written with the routing decision, before it (why the sweeper routes it)."""
    if ticket.assignee is not None or ticket.queued_at is not None:
        return RouteOutcome(ticket.id, "already", ticket.team, ticket.assignee)
    new = _read_new_ticket(ticket, ctx, now, preface)
    match = match_rule(_facts(new), ctx.config)
    action = match.rule.then if match.rule else None
    team = _team(ctx.config, action.team if action else None)
    event_data: dict[str, Any] = {
        "rule": match.rule.name if match.rule else None,
        "reasons": match.reasons,
        "rules_tried": match.tried,
    }
    if team is None:
        return _no_team(new, event_data)
    changes = _changes(new, team, action)
    assigned = _assign_in_team(new, team, changes, event_data) or _assign_in_fallback(
        new, team, action, changes, event_data
    )
    return assigned or _enqueue(new, team, changes, event_data)


def _queued_ticket(entry: QueueEntry, team_id: str, ctx: RoutingContext) -> Ticket | None:
    """The ticket still waiting for the team, or None after dropping an entry it no longer needs."""
    ticket = ctx.repository.get_ticket(entry.ticket_id)
    if (
        ticket is None
        or ticket.assignee is not None
        or ticket.status.value not in OPEN
        or ticket.team != team_id
    ):
        ctx.repository.drop_queued(entry)  # assigned by hand, resolved or moved while waiting
        return None
    return ticket


def _drain_data(team: TeamConfig, entry: QueueEntry, candidates: Candidates, now: datetime) -> dict[str, Any]:
    return {
        "team": team.id,
        "strategy": team.strategy,
        "from_queue": True,
        "waited_seconds": (now - entry.queued_at).total_seconds(),
        **event_considered(candidates),
        "rule": None,
        "reasons": ["queue drained"],
    }


def drain_team(
    team_id: str, ctx: RoutingContext, now: datetime, freed: str | None = None
) -> list[RouteOutcome]:
    """Give queued tickets of a team, most urgent and longest waiting first, to agents now free.

    `freed`: the agent whose presence or capacity changed, read first (a big team is sampled); an
    empty queue costs one Query and no agent reads."""
    team = ctx.config.team(team_id)
    if team is None:
        return []
    if ctx.agents is None:  # one drain reads each agent once, kept current by its claims
        ctx = dataclasses.replace(ctx, agents=AgentCache())
    outcomes: list[RouteOutcome] = []
    for entry in ctx.repository.list_queue(team_id):
        ticket = _queued_ticket(entry, team_id, ctx)
        if ticket is None:
            continue
        others: list[Ticket] = []
        if team.strategy == "sticky" or ticket.group_id:
            others = [
                t for t in ctx.repository.list_customer_tickets(ticket.customer_id) if t.id != ticket.id
            ]
        sticky = _sticky(ticket, others)
        pool = candidate_pool(
            team, ctx.config, ticket.skills, [*([freed] if freed else []), *sticky], now, ticket.id
        )
        agents = _team_agents(team, ctx, pool)
        candidates = rank_agents(
            team, ctx.config, agents.states, ticket.channel.value, ticket.skills, sticky, now, pool
        )
        if not candidates.ordered:
            if not any(
                c["skipped"] is None or "lacks skills" in str(c["skipped"]) for c in candidates.considered
            ):
                break  # nobody of the team is free: later tickets cannot be placed either
            continue
        changes = RoutingChanges(
            team=team_id,
            priority=ticket.priority.value,
            tags=list(ticket.tags),
            skills=list(ticket.skills),
            language=ticket.language,
        )
        claim = _Claim(ticket, changes, _drain_data(team, entry, candidates, now), dequeue=entry)
        outcome = _try_claims(claim, candidates.ordered, agents, ctx, now)
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


def release_load(ticket: Ticket, ctx: RoutingContext, now: datetime) -> list[RouteOutcome]:
    """Give back capacity held by a resolved, closed or reassigned ticket, count a manual
    assignee, and let the freed agent take queued work."""
    outcomes: list[RouteOutcome] = []
    holder = ticket.load_holder
    group = capacity_group(ticket.channel.value)
    open_now = ticket.status.value in OPEN
    if holder is not None and (not open_now or ticket.assignee != holder):
        why = f"ticket {ticket.status.value}" if not open_now else f"reassigned to {ticket.assignee}"
        try:
            ctx.repository.release(
                ticket.id,
                holder,
                group,
                [TicketEvent(at=now, type="load_released", data={"agent": holder, "why": why})],
                now,
            )
            outcomes.append(RouteOutcome(ticket.id, "released", ticket.team, holder))
        except AlreadyRoutedError:
            pass
        holder = None
    if open_now and ticket.assignee is not None and ticket.assignee != holder:
        changes = RoutingChanges(
            team=ticket.team or "",
            priority=ticket.priority.value,
            tags=list(ticket.tags),
            skills=list(ticket.skills),
        )
        event = TicketEvent(
            at=now,
            type="routed",
            data={
                "agent": ticket.assignee,
                "manual": True,
                "team": ticket.team,
                "reasons": ["manual assignment wins over rules"],
            },
        )
        try:
            agent = ctx.config.agent(ticket.assignee)
            if agent is not None and ticket.assignee not in ctx.repository.get_agents([ticket.assignee]):
                ctx.repository.set_presence(ticket.assignee, agent.default_presence, agent.teams, now)
            ctx.repository.claim(ticket.id, ticket.assignee, group, None, changes, [event], now)
        except (ClaimLostError, AlreadyRoutedError):
            pass
    else:
        with contextlib.suppress(ConflictError):  # the ticket is gone: nothing left to clear
            ctx.repository.clear_stale(ticket.id)
    freed = ticket.load_holder
    agent = ctx.config.agent(freed) if freed else None
    if ctx.agents is not None:  # capacity given back or taken by hand: read them again
        for changed in (freed, ticket.assignee):
            ctx.agents.forget(changed or "")
    for team_id in agent.teams if agent else []:
        outcomes += drain_team(team_id, ctx, now, freed)
    return outcomes


def on_presence(agent_id: str, ctx: RoutingContext, now: datetime) -> list[RouteOutcome]:
    """An agent came online: drain the queues of their teams."""
    agent = ctx.config.agent(agent_id)
    outcomes: list[RouteOutcome] = []
    if ctx.agents is not None:
        ctx.agents.forget(agent_id)  # their presence changed: read it again
    for team_id in agent.teams if agent else []:
        outcomes += drain_team(team_id, ctx, now, agent_id)
    return outcomes


def overflow_queues(ctx: RoutingContext, now: datetime) -> list[RouteOutcome]:
    """Move tickets waiting longer than their team's overflow time to its fallback team."""
    outcomes: list[RouteOutcome] = []
    for team in ctx.config.teams:
        if team.fallback_team is None or team.overflow_after_minutes is None:
            continue
        limit = now - timedelta(minutes=team.overflow_after_minutes)
        moved = False
        for entry in ctx.repository.list_queue(team.id, limit=100):
            if entry.queued_at > limit:
                continue
            event = TicketEvent(
                at=now,
                type="queued",
                data={
                    "team": team.fallback_team,
                    "from_team": team.id,
                    "why": f"overflow after {team.overflow_after_minutes} min",
                },
            )
            try:
                ctx.repository.move_queued(entry, team.fallback_team, [event], now)
            except AlreadyRoutedError:
                continue
            moved = True
            outcomes.append(RouteOutcome(entry.ticket_id, "overflowed", team.fallback_team))
        if moved:
            outcomes += drain_team(team.fallback_team, ctx, now)
    return outcomes


class UnroutedSweepError(HelpdeskError):
    """Routing some tickets the stream left unrouted failed; they stay in the index for the next sweep."""


def _route_stuck(ticket: Ticket, ctx: RoutingContext, now: datetime, after: int) -> RouteOutcome | None:
    """Route one ticket left unrouted (None: routed, assigned or closed meanwhile), then take it
    out of the index (a no-op when the decision's own write already took it out)."""
    outcome = None
    unrouted = ticket.team is None and ticket.assignee is None and ticket.queued_at is None
    if unrouted and ticket.status.value in OPEN:
        waited = now - ticket.created_at
        why = TicketEvent(
            at=now,
            type="routed_by_sweep",
            data={
                "why": f"no routing decision {int(waited.total_seconds() // 60)} minutes after the "
                "ticket was created: route_ticket gave its stream record up or never received it",
                "created_at": ticket.created_at.isoformat(),
                "unrouted_after_minutes": after,
            },
        )
        outcome = route_new_ticket(ticket, ctx, now, preface=[why])
    ctx.repository.drop_unrouted(ticket.id)
    return outcome


def route_unrouted(
    ctx: RoutingContext,
    now: datetime,
    shard: int,
    out_of_time: Callable[[], bool] = lambda: False,
    limit: int = 100,
) -> tuple[list[RouteOutcome], bool]:
    """Route the tickets of one unrouted-index shard that no routing decision reached
    `routing.unrouted_after_minutes` after their creation (route_ticket gave their stream record
    up), page after page until the shard is empty (True) or `out_of_time` (False). Each is routed as
    route_ticket would have, with a `routed_by_sweep` event saying why, written with the decision.

    Safe beside a late stream delivery: routing is an atomic claim, so a ticket is routed once."""
    after = ctx.config.routing.unrouted_after_minutes
    outcomes: list[RouteOutcome] = []
    failures: list[tuple[str, Exception]] = []
    cursor: str | None = None
    while True:
        page = ctx.repository.unrouted_tickets(shard, now - timedelta(minutes=after), limit, cursor)
        for ticket in page.tickets:
            try:
                outcome = _route_stuck(ticket, ctx, now, after)
            except Exception as exc:  # one ticket must not keep the others unrouted
                failures.append((ticket.id, exc))
                continue
            outcomes += [outcome] if outcome is not None else []
        cursor = page.cursor
        if cursor is None or out_of_time():
            break
    if failures:
        ticket_id, first = failures[0]
        raise UnroutedSweepError(
            f"{len(failures)} unrouted ticket(s) could not be routed, e.g. {ticket_id}: {first!r}"
        ) from first
    return outcomes, cursor is None
