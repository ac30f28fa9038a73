"""Routing rules and agent ranking: pure functions over config and agent states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.config import parse_config
from shared.errors import ConfigError
from shared.logic.routing import AgentState, TicketFacts, capacity_group, match_rule, rank_agents
from shared.models.config import TeamConfig

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday, 10:00 UTC

CONFIG = parse_config(
    """
calendars:
  default: {timezone: UTC, hours: {mon: ["09:00-17:00"], tue: ["09:00-17:00"]}}
  night: {timezone: UTC, hours: {mon: ["18:00-06:00"]}}
teams:
  - {id: support, strategy: least_loaded}
  - {id: vip, strategy: sticky}
  - {id: billing, strategy: round_robin}
agents:
  - {id: alice, teams: [support, vip], skills: [de], capacity: {email: 2, sms: 1, social: 1}}
  - {id: bob, teams: [support], capacity: {email: 2, sms: 1, social: 1}}
  - {id: carol, teams: [billing, vip], capacity: {email: 3, sms: 1, social: 1}}
  - {id: dave, teams: [billing], calendar: night, capacity: {email: 3, sms: 1, social: 1}}
sla:
  policies:
    - {name: billing, first_response: {minutes: 60}}
routing:
  default_team: support
  rules:
    - name: low-weight-billing
      when: {keywords: [invoice]}
      then: {team: billing}
    - name: vip-first
      weight: 10
      when: {customer_tier: [vip]}
      then: {team: vip, priority: urgent, tags: [vip]}
    - name: german
      when: {language: [de]}
      then: {team: support, skills: [de]}
    - name: angry-repeat
      when: {prior_contacts: {min: 2, days: 7}}
      then: {team: support, priority: high}
    - name: after-hours-sms
      when: {channel: [sms], business_hours: out}
      then: {team: billing, fallback_team: support}
    - name: public
      when: {public: true, channel: [x, messenger]}
      then: {team: support, tags: [public]}
    - name: refunds-subject
      when: {subject_matches: "refund|chargeback", inbox: [billing@acme.example]}
      then: {team: billing, sla_policy: billing}
"""
)


def team(name: str) -> TeamConfig:
    found = CONFIG.team(name)
    assert found is not None
    return found


def facts(**values: object) -> TicketFacts:
    base: dict[str, object] = {"channel": "email", "now": NOW}
    base.update(values)
    return TicketFacts(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ticket", "rule"),
    [
        (facts(body="please send the invoice", customer_tier="vip"), "vip-first"),  # weight beats order
        (facts(body="please send the invoice"), "low-weight-billing"),
        (facts(body="Rechnung", language="de"), "german"),
        (facts(prior_contact_times=(NOW - timedelta(days=1), NOW - timedelta(days=2))), "angry-repeat"),
        (facts(prior_contact_times=(NOW - timedelta(days=1), NOW - timedelta(days=20))), None),
        (facts(channel="sms", now=NOW.replace(hour=20)), "after-hours-sms"),
        (facts(channel="sms"), None),
        (facts(channel="x", public=True), "public"),
        (facts(channel="x", public=False), None),
        (facts(subject="Refund please", inbox="Billing@Acme.example"), "refunds-subject"),
        (facts(subject="Refund please", inbox="support@acme.example"), None),
        (facts(body="invoices galore"), None),  # whole words only
    ],
)
def test_first_matching_rule_by_weight_then_order(ticket: TicketFacts, rule: str | None) -> None:
    match = match_rule(ticket, CONFIG)
    assert (match.rule.name if match.rule else None) == rule


def test_match_explains_itself() -> None:
    match = match_rule(facts(body="please send the invoice"), CONFIG)
    assert match.reasons == ["keyword of ['invoice']"]
    assert match.tried[0] == {"rule": "vip-first", "why_not": "not customer tier None in ['vip']"}


def states(**presence: str) -> dict[str, AgentState]:
    return {agent: AgentState(id=agent, presence=value) for agent, value in presence.items()}


def test_least_loaded_orders_by_load_relative_to_capacity() -> None:
    live = states(alice="online", bob="online")
    live["alice"] = AgentState(id="alice", presence="online", load={"email": 1})
    ranked = rank_agents(team("support"), CONFIG, live, "email", [], [], NOW)
    assert ranked.ordered == ["bob", "alice"]


def test_skills_presence_and_capacity_filter_with_reasons() -> None:
    live = states(alice="online", bob="away")
    live["alice"] = AgentState(id="alice", presence="online", load={"sms": 1})
    ranked = rank_agents(team("support"), CONFIG, live, "sms", [], [], NOW)
    assert ranked.ordered == []
    assert {c["agent"]: c["skipped"] for c in ranked.considered} == {
        "alice": "at capacity (1/1 sms)",
        "bob": "presence away",
    }
    german = rank_agents(
        team("support"), CONFIG, states(alice="online", bob="online"), "email", ["de"], [], NOW
    )
    assert german.ordered == ["alice"]
    assert german.considered[1]["skipped"] == "lacks skills ['de']"


def test_working_calendar_keeps_agents_out_of_hours() -> None:
    ranked = rank_agents(team("billing"), CONFIG, states(carol="online", dave="online"), "email", [], [], NOW)
    assert ranked.ordered == ["carol"]
    assert ranked.considered[1]["skipped"] == "outside working hours (night)"


def test_round_robin_takes_who_waited_longest() -> None:
    live = {
        "carol": AgentState(id="carol", presence="online", last_assigned_at="2026-03-02T09:59:00"),
        "dave": AgentState(id="dave", presence="online", last_assigned_at="2026-03-02T09:00:00"),
    }
    night = NOW.replace(hour=20)
    ranked = rank_agents(team("billing"), CONFIG, live, "email", [], [], night)
    assert ranked.ordered == ["dave", "carol"]


def test_sticky_prefers_the_customers_agent_when_free() -> None:
    live = states(alice="online", carol="online")
    live["carol"] = AgentState(id="carol", presence="online", load={"email": 2})
    ranked = rank_agents(team("vip"), CONFIG, live, "email", [], ["carol"], NOW)
    assert ranked.ordered == ["carol", "alice"]


@pytest.mark.parametrize(
    ("channel", "group"), [("email", "email"), ("sms", "sms"), ("whatsapp", "social"), ("x", "social")]
)
def test_capacity_groups(channel: str, group: str) -> None:
    assert capacity_group(channel) == group


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("teams: [{id: a}]\nagents: [{id: x, teams: [b]}]", "agents.x.teams: unknown team 'b'"),
        ("teams: [{id: a, fallback_team: z}]", "teams.a.fallback_team: unknown team 'z'"),
        (
            "teams: [{id: a}]\nrouting: {rules: [{name: r, then: {team: q}}]}",
            "routing.rules.r: unknown team 'q'",
        ),
        (
            "routing: {rules: [{name: r, when: {subject_matches: '('}, then: {}}]}",
            "invalid regular expression",
        ),
        ("teams: [{id: a}, {id: a}]", "duplicate team id"),
        ("calendars: {default: {timezone: Mars/Base}}", "calendars.default: unknown time zone"),
        ("calendars: {default: {hours: {mon: ['9-5']}}}", "calendars.default: interval"),
        ("teams: [{id: 'Bad Id'}]", "String should match pattern"),
    ],
)
def test_routing_config_errors_are_clear(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(text)
