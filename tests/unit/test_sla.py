"""SLA math with time travel: business hours, DST, holidays, pauses, overnight shifts, escalation."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from shared.config import parse_config
from shared.logic import sla
from shared.logic.calendar import build_calendar
from shared.logic.sla import SlaFacts
from shared.logic.sla_service import policy_calendar
from shared.models.config import SlaPolicyConfig

CONFIG = parse_config(
    """
calendars:
  default: {timezone: UTC}
  berlin: {timezone: Europe/Berlin, hours: {mon: ["09:00-17:00"], tue: ["09:00-17:00"], wed: ["09:00-17:00"], thu: ["09:00-17:00"], fri: ["09:00-17:00"]}, holidays: [2026-12-25]}
teams: [{id: support, calendar: berlin}, {id: escalations}]
sla:
  policies:
    - name: x-public
      when: {channel: [x], public: true}
      first_response: {minutes: 60, business: false}
    - name: messenger
      when: {channel: [messenger]}
      first_response: {minutes: 15, business: false}
    - name: urgent
      when: {priority: [urgent]}
      first_response: {minutes: 30, business: false}
      resolution: {minutes: 240, business: false}
    - name: vip-email
      when: {channel: [email], customer_tier: [vip]}
      first_response: {minutes: 60}
    - name: email
      when: {channel: [email]}
      calendar: berlin
      first_response: {minutes: 120}
      next_response: {minutes: 240}
      periodic_update: {minutes: 1440, business: false}
      resolution: {minutes: 2400}
      warning_at: 0.75
      escalation:
        - {level: 1, at: warning, notify: [assignee]}
        - {level: 2, at: breach, notify: [team_lead], raise_priority: true}
        - {level: 3, at: breach, after_minutes: 60, reassign_team: escalations}
"""
)
BERLIN = build_calendar(
    "Europe/Berlin", {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}, [date(2026, 12, 25)]
)
_EMAIL = CONFIG.sla_policy("email")
assert _EMAIL is not None
EMAIL: SlaPolicyConfig = _EMAIL


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("facts", "policy"),
    [
        (SlaFacts("x", True, "normal", None, None), "x-public"),
        (SlaFacts("x", False, "normal", None, None), None),
        (SlaFacts("messenger", False, "urgent", None, None), "messenger"),  # first match wins
        (SlaFacts("email", False, "urgent", None, None), "urgent"),
        (SlaFacts("email", False, "normal", None, "vip"), "vip-email"),
        (SlaFacts("email", False, "normal", "support", None), "email"),
    ],
)
def test_policy_selection_first_match(facts: SlaFacts, policy: str | None) -> None:
    chosen = sla.select_policy(CONFIG, facts)
    assert (chosen.name if chosen else None) == policy


def test_named_policy_wins() -> None:
    chosen = sla.select_policy(CONFIG, SlaFacts("x", True, "normal", None, None), named="email")
    assert chosen is not None
    assert chosen.name == "email"


def test_plan_counts_business_hours_with_warning() -> None:
    # Friday 16:00 Berlin (15:00Z): 2 business hours -> Monday 10:00 Berlin (09:00Z)
    planned = sla.plan(EMAIL, utc("2026-03-06T15:00:00"), BERLIN, "berlin")
    first = planned.target("first_response")
    assert first is not None
    assert (first.due_at, first.warn_at) == (utc("2026-03-09T09:00:00"), utc("2026-03-09T08:30:00"))
    periodic = planned.target("periodic_update")
    assert periodic is not None
    assert periodic.due_at == utc("2026-03-07T15:00:00")  # calendar time
    assert planned.target("next_response") is None  # starts with the customer's next message


def test_plan_across_dst_and_holiday() -> None:
    # Friday 27 March 16:00 CET + 2h business -> Monday 30 March 10:00 CEST = 08:00Z
    first = sla.plan(EMAIL, utc("2026-03-27T15:00:00"), BERLIN, "berlin").target("first_response")
    assert first is not None
    assert first.due_at == utc("2026-03-30T08:00:00")
    # Thursday 24 December 16:00 + 2h -> the 25th is a holiday -> Monday 28th 10:00 CET
    first = sla.plan(EMAIL, utc("2026-12-24T15:00:00"), BERLIN, "berlin").target("first_response")
    assert first is not None
    assert first.due_at == utc("2026-12-28T09:00:00")


GERMAN_HOLIDAYS = parse_config(
    """
calendars:
  default: {timezone: UTC}
  germany: {timezone: Europe/Berlin, holiday_country: DE, hours: {mon: ["09:00-17:00"], tue: ["09:00-17:00"], wed: ["09:00-17:00"], thu: ["09:00-17:00"], fri: ["09:00-17:00"]}}
teams: [{id: support, calendar: germany}]
sla:
  policies:
    - name: email
      when: {channel: [email]}
      first_response: {minutes: 120}
"""
)


@pytest.mark.parametrize(
    ("created", "due"),
    [
        # a replayed ticket of Tuesday 31 December 2019, 16:00 Berlin: New Year's Day 2020 is skipped
        ("2019-12-31T15:00:00", "2020-01-02T09:00:00"),
        # Monday 31 December 2035, 16:00 Berlin: New Year's Day 2036 (a Tuesday) is skipped
        ("2035-12-31T15:00:00", "2036-01-02T09:00:00"),
        # Thursday 2 October 2031, 16:00 Berlin: German Unity Day, Friday the 3rd, is skipped
        ("2031-10-02T14:00:00", "2031-10-06T08:00:00"),
    ],
)
def test_country_holidays_count_in_the_year_of_the_due_time(created: str, due: str) -> None:
    # Given a policy counting in a calendar with the German public holidays
    policy = GERMAN_HOLIDAYS.sla_policy("email")
    assert policy is not None
    calendar, name = policy_calendar(GERMAN_HOLIDAYS, policy, "support")
    # When a ticket created in a year other than this one is planned
    first = sla.plan(policy, utc(created), calendar, name).target("first_response")
    # Then that year's holidays are closed
    assert first is not None
    assert first.due_at == utc(due)


def test_overnight_shift_calendar() -> None:
    night = build_calendar("UTC", {"fri": ["22:00-06:00"]})
    first = sla.plan(EMAIL, utc("2026-03-06T23:00:00"), night, "night").target("first_response")
    assert first is not None
    assert first.due_at == utc("2026-03-07T01:00:00")


def test_agent_reply_meets_response_targets_and_restarts_periodic_update() -> None:
    planned = sla.plan(EMAIL, utc("2026-03-02T09:00:00"), BERLIN, "berlin")
    replied = sla.on_agent_reply(planned, EMAIL, utc("2026-03-02T09:30:00"), BERLIN)
    first = replied.target("first_response")
    periodic = replied.target("periodic_update")
    assert first is not None
    assert periodic is not None
    assert (first.state, first.met_at) == ("met", utc("2026-03-02T09:30:00"))
    assert periodic.due_at == utc("2026-03-03T09:30:00")


def test_customer_message_starts_next_response_only_after_first_response() -> None:
    planned = sla.plan(EMAIL, utc("2026-03-02T09:00:00"), BERLIN, "berlin")
    early = sla.on_customer_message(planned, EMAIL, utc("2026-03-02T09:10:00"), BERLIN)
    assert early.target("next_response") is None
    replied = sla.on_agent_reply(planned, EMAIL, utc("2026-03-02T09:30:00"), BERLIN)
    asked = sla.on_customer_message(replied, EMAIL, utc("2026-03-02T10:00:00"), BERLIN)
    following = asked.target("next_response")
    assert following is not None
    assert following.due_at == utc("2026-03-02T14:00:00")  # 4 business hours, 11:00-15:00 Berlin
    # a second customer message does not push the deadline
    again = sla.on_customer_message(asked, EMAIL, utc("2026-03-02T11:00:00"), BERLIN)
    assert again.target("next_response") == following


def test_pending_pauses_and_customer_reply_resumes_with_remaining_time() -> None:
    planned = sla.plan(EMAIL, utc("2026-03-02T09:00:00"), BERLIN, "berlin")  # due 12:00Z (13:00 Berlin)
    paused = sla.pause(planned, utc("2026-03-02T10:00:00"), BERLIN)  # 1h used, 1h left
    first = paused.target("first_response")
    assert first is not None
    assert (first.state, first.remaining_seconds) == ("paused", 3600.0)
    assert sla.due_now(paused, utc("2026-03-05T10:00:00")) == []  # nothing is due while paused
    resumed = sla.resume(paused, utc("2026-03-04T14:00:00"), BERLIN)  # Wednesday 15:00 Berlin
    first = resumed.target("first_response")
    assert first is not None
    assert (first.state, first.due_at) == ("pending", utc("2026-03-04T15:00:00"))


def test_due_now_warns_then_breaches_once() -> None:
    planned = sla.plan(EMAIL, utc("2026-03-02T08:00:00"), BERLIN, "berlin")  # due 10:00Z, warn 09:30Z
    assert sla.due_now(planned, utc("2026-03-02T09:00:00")) == []
    warned = sla.due_now(planned, utc("2026-03-02T09:31:00"))
    assert [(d.target, d.kind) for d in warned] == [("first_response", "warning")]
    after_warning = sla.record(planned, warned, utc("2026-03-02T09:31:00"))
    assert sla.due_now(after_warning, utc("2026-03-02T09:45:00")) == []
    breached = sla.due_now(after_warning, utc("2026-03-02T10:01:00"))
    assert [(d.target, d.kind) for d in breached] == [("first_response", "breach")]
    after_breach = sla.record(after_warning, breached, utc("2026-03-02T10:01:00"))
    first = after_breach.target("first_response")
    assert first is not None
    assert (first.state, first.breached_at) == ("breached", utc("2026-03-02T10:00:00"))
    assert sla.due_now(after_breach, utc("2026-03-02T12:00:00")) == []


def test_escalation_levels_follow_warning_breach_and_delay() -> None:
    planned = sla.plan(EMAIL, utc("2026-03-02T08:00:00"), BERLIN, "berlin")
    warned = sla.record(planned, sla.due_now(planned, utc("2026-03-02T09:31:00")), utc("2026-03-02T09:31:00"))
    assert sla.escalation_steps(EMAIL, warned, utc("2026-03-02T09:31:00")) == [1]
    level1 = warned.model_copy(update={"escalation_level": 1})
    breached = sla.record(level1, sla.due_now(level1, utc("2026-03-02T10:01:00")), utc("2026-03-02T10:01:00"))
    assert sla.escalation_steps(EMAIL, breached, utc("2026-03-02T10:01:00")) == [2]
    level2 = breached.model_copy(update={"escalation_level": 2})
    assert sla.next_deadline(level2, EMAIL) == utc("2026-03-02T11:00:00")  # level 3 one hour after breach
    assert sla.escalation_steps(EMAIL, level2, utc("2026-03-02T11:00:00")) == [3]


def test_urgent_priority_replans_running_targets() -> None:
    planned = sla.plan(EMAIL, utc("2026-03-02T08:00:00"), BERLIN, "berlin")
    urgent = CONFIG.sla_policy("urgent")
    assert urgent is not None
    replanned = sla.replan(planned, urgent, BERLIN, None, utc("2026-03-02T08:10:00"))
    first = replanned.target("first_response")
    assert first is not None
    assert (replanned.policy, first.due_at) == ("urgent", utc("2026-03-02T08:30:00"))


def test_resolution_meets_the_resolution_target() -> None:
    planned = sla.plan(EMAIL, utc("2026-03-02T08:00:00"), BERLIN, "berlin")
    resolved = sla.on_resolved(planned, utc("2026-03-02T12:00:00"), BERLIN)
    resolution = resolved.target("resolution")
    assert resolution is not None
    assert resolution.state == "met"
    assert sla.next_deadline(resolved) is None


def test_reopening_a_resolved_ticket_resumes_its_clocks_with_the_time_left() -> None:
    # Monday 09:00 Berlin (08:00Z): first response due 10:00Z; resolved unanswered at 09:00Z.
    planned = sla.plan(EMAIL, utc("2026-03-02T08:00:00"), BERLIN, "berlin")
    resolved = sla.on_resolved(planned, utc("2026-03-02T09:00:00"), BERLIN)
    first = resolved.target("first_response")
    assert first is not None
    assert (first.state, first.remaining_seconds) == ("paused", 3600.0)
    assert sla.due_now(resolved, utc("2026-03-09T09:00:00")) == []  # nothing runs while resolved
    # The customer writes again on Tuesday 10:00 Berlin: the hour left runs from then.
    reopened = sla.on_customer_message(resolved, EMAIL, utc("2026-03-03T09:00:00"), BERLIN)
    first = reopened.target("first_response")
    resolution = reopened.target("resolution")
    assert first is not None
    assert resolution is not None
    assert (first.state, first.due_at) == ("pending", utc("2026-03-03T10:00:00"))
    assert resolution.state == "met"  # kept as it was met; the reopen is an event of its own
    assert sla.next_deadline(reopened) is not None


def test_reopening_after_an_answer_starts_the_next_response_clock() -> None:
    planned = sla.plan(EMAIL, utc("2026-03-02T08:00:00"), BERLIN, "berlin")
    answered = sla.on_agent_reply(planned, EMAIL, utc("2026-03-02T08:30:00"), BERLIN)
    resolved = sla.on_resolved(answered, utc("2026-03-02T09:00:00"), BERLIN)
    reopened = sla.on_customer_message(resolved, EMAIL, utc("2026-03-03T09:00:00"), BERLIN)
    following = reopened.target("next_response")
    assert following is not None
    # 240 business minutes from Tuesday 10:00 Berlin: 14:00 Berlin, 13:00Z
    assert (following.state, following.due_at) == ("pending", utc("2026-03-03T13:00:00"))


def test_raised_priority() -> None:
    assert [sla.raised(p) for p in ("low", "normal", "high", "urgent")] == [
        "normal",
        "high",
        "urgent",
        "urgent",
    ]


def test_unknown_references_in_sla_config_are_errors() -> None:
    from shared.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown calendar 'nope'"):
        parse_config("sla: {policies: [{name: p, calendar: nope}]}")
    with pytest.raises(ConfigError, match="unknown SLA policy 'gold'"):
        parse_config("teams: [{id: a}]\nrouting: {rules: [{name: r, then: {team: a, sla_policy: gold}}]}")


def test_a_priority_change_reselects_the_policy_with_the_customers_tier() -> None:
    from shared.logic.sla_service import after_change
    from shared.models.ticket import Channel, Priority, Ticket

    created = utc("2026-03-02T08:00:00")
    urgent = CONFIG.sla_policy("urgent")
    assert urgent is not None
    ticket = Ticket(
        id="tkt_1",
        number=1,
        channel=Channel.EMAIL,
        priority=Priority.URGENT,
        customer_id="cus_1",
        team="support",
        sla=sla.plan(urgent, created, sla.ALWAYS_OPEN, None),
        created_at=created,
        updated_at=created,
    )
    lowered = utc("2026-03-02T08:10:00")
    vip = after_change(CONFIG, ticket, None, "normal", lowered, customer_tier="vip")
    anyone = after_change(CONFIG, ticket, None, "normal", lowered)
    assert vip is not None
    assert anyone is not None
    assert (vip.sla.policy, anyone.sla.policy) == ("vip-email", "email")


def test_a_business_target_the_calendar_cannot_fit_runs_on_calendar_time_through_a_pause() -> None:
    # Given a calendar open 15 minutes a week, too little for 1,711 minutes within its horizon
    sparse = build_calendar("UTC", {"sun": ["00:00-00:15"]})
    policy = SlaPolicyConfig.model_validate(
        {"name": "p", "first_response": {"minutes": 1, "business": False}, "resolution": {"minutes": 1711}}
    )
    created = utc("2026-01-01T00:00:00")
    planned = sla.plan(policy, created, sparse, None)
    resolution = planned.target("resolution")
    assert resolution is not None
    # Then it runs on calendar time, and says so
    assert (resolution.business, resolution.due_at) == (False, utc("2026-01-02T04:31:00"))

    # When the ticket is paused and resumed at once, its due time stays (found by the property test)
    resumed = sla.resume(sla.pause(planned, created, sparse), created, sparse).target("resolution")
    assert resumed is not None
    assert (resumed.state, resumed.due_at) == ("pending", utc("2026-01-02T04:31:00"))
