"""Routing decisions: which rule applies to a ticket, and which agents may take it, in what order.

Pure functions over plain data. The route_ticket use case loads the data, calls these, and
claims the first candidate with an atomic conditional write.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.logic.calendar import Calendar, build_calendar
from shared.models.config import (
    AgentConfig,
    CalendarConfig,
    HelpdeskConfig,
    RoutingRule,
    RuleCondition,
    TeamConfig,
)

PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
SOCIAL = {"messenger", "instagram", "whatsapp", "x"}


def capacity_group(channel: str) -> str:
    """The capacity bucket a channel counts against: email, sms or social."""
    return "social" if channel in SOCIAL else channel


@dataclass(frozen=True)
class TicketFacts:
    """What rules may look at, gathered from the ticket, its first message and its customer."""

    channel: str
    inbox: str | None = None
    subject: str = ""
    body: str = ""
    tags: tuple[str, ...] = ()
    language: str | None = None
    public: bool = False
    customer_tier: str | None = None
    customer_fields: dict[str, str] = field(default_factory=dict)
    prior_contact_times: tuple[datetime, ...] = ()
    """Creation times of the customer's earlier tickets."""
    now: datetime | None = None


@dataclass
class RuleMatch:
    rule: RoutingRule | None
    reasons: list[str]
    tried: list[dict[str, str]]


_CALENDARS: dict[str, Calendar] = {}


def _calendar(config: CalendarConfig) -> Calendar:
    key = config.model_dump_json()
    if key not in _CALENDARS:
        _CALENDARS[key] = build_calendar(
            config.timezone,
            config.hours,
            list(config.holidays),
            config.holiday_country,
            config.holiday_subdivision,
        )
    return _CALENDARS[key]


def calendar_for(config: HelpdeskConfig, name: str) -> Calendar:
    return _calendar(config.calendars[name])


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


Check = tuple[str, bool] | None
"""One condition of a rule on a ticket: the reason it names and whether it holds; None when the
rule does not set the condition (or it cannot be judged: no `now` for time-based ones)."""


def _channel(when: RuleCondition, facts: TicketFacts, config: HelpdeskConfig) -> Check:
    if when.channel is None:
        return None
    return f"channel {facts.channel} in {when.channel}", facts.channel in when.channel


def _inbox(when: RuleCondition, facts: TicketFacts, config: HelpdeskConfig) -> Check:
    if when.inbox is None:
        return None
    inboxes = [i.lower() for i in when.inbox]
    return f"inbox {facts.inbox} in {when.inbox}", (facts.inbox or "").lower() in inboxes


def _keywords(when: RuleCondition, facts: TicketFacts, config: HelpdeskConfig) -> Check:
    if when.keywords is None:
        return None
    wanted = {k.lower() for k in when.keywords}
    return f"keyword of {when.keywords}", bool(wanted & _words(f"{facts.subject} {facts.body}"))


def _subject_matches(when: RuleCondition, facts: TicketFacts, config: HelpdeskConfig) -> Check:
    if when.subject_matches is None:
        return None
    pattern = when.subject_matches
    return f"subject matches /{pattern}/", re.search(pattern, facts.subject, re.I) is not None


def _body_matches(when: RuleCondition, facts: TicketFacts, config: HelpdeskConfig) -> Check:
    if when.body_matches is None:
        return None
    pattern = when.body_matches
    return f"body matches /{pattern}/", re.search(pattern, facts.body, re.I) is not None


def _tags(when: RuleCondition, facts: TicketFacts, config: HelpdeskConfig) -> Check:
    if when.tags is None:
        return None
    return f"tag of {when.tags}", bool(set(when.tags) & set(facts.tags))


def _language(when: RuleCondition, facts: TicketFacts, config: HelpdeskConfig) -> Check:
    if when.language is None:
        return None
    return f"language {facts.language} in {when.language}", facts.language in when.language


def _customer_tier(when: RuleCondition, facts: TicketFacts, config: HelpdeskConfig) -> Check:
    if when.customer_tier is None:
        return None
    tiers = when.customer_tier
    return f"customer tier {facts.customer_tier} in {tiers}", facts.customer_tier in tiers


def _customer_fields(when: RuleCondition, facts: TicketFacts, config: HelpdeskConfig) -> Check:
    if when.customer_fields is None:
        return None
    wanted = when.customer_fields
    return (
        f"customer fields {wanted}",
        all(facts.customer_fields.get(k) in v for k, v in wanted.items()),
    )


def _prior_contacts(when: RuleCondition, facts: TicketFacts, config: HelpdeskConfig) -> Check:
    if when.prior_contacts is None or facts.now is None:
        return None
    prior = when.prior_contacts
    since = facts.now - timedelta(days=prior.days)
    count = sum(1 for t in facts.prior_contact_times if t >= since)
    return f"{count} prior contacts in {prior.days} days >= {prior.min}", count >= prior.min


def _business_hours(when: RuleCondition, facts: TicketFacts, config: HelpdeskConfig) -> Check:
    if when.business_hours is None or facts.now is None:
        return None
    open_now = calendar_for(config, when.calendar).is_open(facts.now)
    return (
        f"{'in' if open_now else 'out of'} business hours ({when.calendar})",
        open_now == (when.business_hours == "in"),
    )


def _public(when: RuleCondition, facts: TicketFacts, config: HelpdeskConfig) -> Check:
    if when.public is None:
        return None
    return f"public={facts.public}", facts.public == when.public


CONDITIONS: tuple[Callable[[RuleCondition, TicketFacts, HelpdeskConfig], Check], ...] = (
    _channel,
    _inbox,
    _keywords,
    _subject_matches,
    _body_matches,
    _tags,
    _language,
    _customer_tier,
    _customer_fields,
    _prior_contacts,
    _business_hours,
    _public,
)
"""The conditions a rule may set, in the order they are checked and named in its reasons."""


def _check_rule(rule: RoutingRule, facts: TicketFacts, config: HelpdeskConfig) -> tuple[bool, list[str]]:
    """Whether every condition of the rule holds, with a reason per condition (or the failing one)."""
    reasons: list[str] = []
    for condition in CONDITIONS:
        checked = condition(rule.when, facts, config)
        if checked is None:
            continue
        reason, holds = checked
        if not holds:
            return False, [f"not {reason}"]
        reasons.append(reason)
    return True, reasons or ["matches everything"]


def ordered_rules(rules: list[RoutingRule]) -> list[RoutingRule]:
    """Rules in evaluation order: highest weight first, then as written."""
    return [rule for _, _, rule in sorted((-r.weight, i, r) for i, r in enumerate(rules))]


def match_rule(facts: TicketFacts, config: HelpdeskConfig) -> RuleMatch:
    """The first rule (by weight, then order) whose conditions all hold."""
    tried: list[dict[str, str]] = []
    for rule in ordered_rules(config.routing.rules):
        ok, reasons = _check_rule(rule, facts, config)
        if ok:
            return RuleMatch(rule=rule, reasons=reasons, tried=tried)
        tried.append({"rule": rule.name, "why_not": reasons[0]})
    return RuleMatch(rule=None, reasons=["no rule matched: default team"], tried=tried)


@dataclass(frozen=True)
class AgentState:
    """An agent's live state: presence, open tickets per capacity group, when last given one."""

    id: str
    presence: str = "offline"
    load: dict[str, int] = field(default_factory=dict)
    last_assigned_at: str = ""


@dataclass
class Candidates:
    ordered: list[str]
    considered: list[dict[str, Any]]


CANDIDATE_READS = 100
"""At most this many agents' live state a routing decision reads (one BatchGetItem): a bigger team
is sampled (`candidate_pool`)."""
EVENT_CANDIDATES = 10
"""At most this many agents a routing event lists (`event_considered`); the rest are counted."""
NOT_READ = "not read (team sampled)"


def candidate_pool(
    team: TeamConfig,
    config: HelpdeskConfig,
    skills: list[str],
    prefer: list[str],
    now: datetime,
    seed: str,
    limit: int = CANDIDATE_READS,
) -> list[str]:
    """The agents of the team whose live state a decision reads: every one while the team has at
    most `limit`; else the `prefer`red ones (sticky agents, an agent who just became free), then
    agents with the skills and in working hours from a place in the team that `seed` (the ticket's
    id) picks, so that decisions spread over the team, `limit` in all."""
    members = [a for a in config.agents if team.id in a.teams]
    if len(members) <= limit:
        return [a.id for a in members]
    able = [
        a.id
        for a in members
        if all(s in a.skills for s in skills)
        and (a.calendar is None or calendar_for(config, a.calendar).is_open(now))
    ]
    start = zlib.crc32(seed.encode()) % len(able) if able else 0
    first = [a for a in prefer if a in set(able)]
    return list(dict.fromkeys([*first, *able[start:], *able[:start]]))[:limit]


def _skip_reason(
    agent: AgentConfig,
    state: AgentState | None,
    config: HelpdeskConfig,
    skills: list[str],
    group: str,
    now: datetime,
) -> str | None:
    """Why the agent may not take the ticket now (None: they may); `state` None: not read."""
    if missing := [s for s in skills if s not in agent.skills]:
        return f"lacks skills {missing}"
    open_now = agent.calendar is None or calendar_for(config, agent.calendar).is_open(now)
    if state is None:
        return NOT_READ if open_now else f"outside working hours ({agent.calendar})"
    capacity = agent.capacity.get(group, 0)  # type: ignore[call-overload]
    load = state.load.get(group, 0)
    if state.presence != "online":
        return f"presence {state.presence}"
    if not open_now:
        return f"outside working hours ({agent.calendar})"
    if load >= capacity:
        return f"at capacity ({load}/{capacity} {group})"
    return None


def rank_agents(
    team: TeamConfig,
    config: HelpdeskConfig,
    states: dict[str, AgentState],
    channel: str,
    skills: list[str],
    sticky: list[str],
    now: datetime,
    among: Collection[str] | None = None,
) -> Candidates:
    """Agents of the team who may take a ticket now, best first, and why each other one was skipped.

    Skills filter first; then presence, working hours and free capacity; then the team's strategy:
    `sticky` puts the customer's current or last agents first, `least_loaded` orders by load
    relative to capacity, `round_robin` by who was given a ticket longest ago. `among`: the agents
    whose state was read (`candidate_pool`); the others are skipped as not read (None: all were).
    """
    group = capacity_group(channel)
    considered: list[dict[str, Any]] = []
    eligible: list[tuple[AgentConfig, AgentState]] = []
    for agent in (a for a in config.agents if team.id in a.teams):
        read = among is None or agent.id in among
        state = states.get(agent.id, AgentState(id=agent.id)) if read else None
        skipped = _skip_reason(agent, state, config, skills, group, now)
        load = f"{state.load.get(group, 0) if state else '?'}/{agent.capacity.get(group, 0)}"  # type: ignore[call-overload]
        considered.append({"agent": agent.id, "load": load, "skipped": skipped})
        if skipped is None and state is not None:
            eligible.append((agent, state))

    def least_loaded(item: tuple[AgentConfig, AgentState]) -> tuple[float, str, str]:
        agent, state = item
        capacity = agent.capacity.get(group, 0) or 1  # type: ignore[call-overload]
        return (state.load.get(group, 0) / capacity, state.last_assigned_at, agent.id)

    def round_robin(item: tuple[AgentConfig, AgentState]) -> tuple[str, str]:
        return (item[1].last_assigned_at, item[0].id)

    if team.strategy == "round_robin":
        eligible.sort(key=round_robin)
    else:
        eligible.sort(key=least_loaded)
    if team.strategy == "sticky" and sticky:
        eligible.sort(key=lambda item: sticky.index(item[0].id) if item[0].id in sticky else len(sticky))
    return Candidates(ordered=[agent.id for agent, _ in eligible], considered=considered)


def _reason_kind(skipped: str) -> str:
    """A skip reason without the agent's own figures: `at capacity (3/5 email)` counts as
    `at capacity (email)`."""
    return re.sub(r"\(\d+/\d+ ", "(", skipped)


def event_considered(candidates: Candidates, limit: int = EVENT_CANDIDATES) -> dict[str, Any]:
    """Whom a routing event shows it considered, bounded whatever the team's size: every agent (in
    team order) while the team has at most `limit`; else the `limit` best candidates in order, then
    skipped agents to fill the rows, with the team's size, how many could take the ticket and how
    many were skipped for each reason (`skipped_counts`)."""
    rows = candidates.considered
    if len(rows) <= limit:
        return {"considered": rows}
    by_agent = {row["agent"]: row for row in rows}
    shown = [by_agent[agent] for agent in candidates.ordered[:limit]]
    shown += [row for row in rows if row["skipped"] is not None][: limit - len(shown)]
    counts: dict[str, int] = {}
    for row in rows:
        if row["skipped"] is not None:
            kind = _reason_kind(row["skipped"])
            counts[kind] = counts.get(kind, 0) + 1
    return {
        "considered": shown,
        "agents_total": len(rows),
        "eligible_total": len(candidates.ordered),
        "skipped_counts": counts,
    }
