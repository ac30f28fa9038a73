"""Tests that notice a change in the pure logic: each pins a boundary, a branch or a returned field
that mutation testing (`make mutation`, docs/testing.md) showed no other test exercised."""

from __future__ import annotations

import time as time_module
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

import pytest
import yaml

from shared.config import parse_config
from shared.logic import routing, sla
from shared.logic.calendar import MAX_SCAN_DAYS, Calendar, CalendarError, build_calendar, parse_interval
from shared.logic.routing import AgentState, TicketFacts, match_rule, ordered_rules, rank_agents
from shared.logic.sla import ALWAYS_OPEN as ALWAYS
from shared.logic.sla import Due, SlaFacts
from shared.logic.threading import (
    MAX_REFERENCES,
    Candidate,
    decide_thread,
    is_ours,
    normalize_message_id,
    participants_of,
    plus_token,
    reference_chain,
    subject_token,
)
from shared.models.config import HelpdeskConfig, SlaPolicyConfig, SlaTargetConfig, TeamConfig
from shared.models.email import EmailAddress, ParsedEmail
from shared.models.ticket import Sla, SlaTarget, Ticket, TicketStatus

WEEKDAYS_9_17 = {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
MONDAY = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday, before any DST change of the year


def at(day_offset: int, hour: int, minute: int = 0) -> datetime:
    """A UTC moment `day_offset` days after Monday 2026-03-02."""
    return MONDAY + timedelta(days=day_offset, hours=hour, minutes=minute)


@pytest.fixture
def host_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Switches the host's local time zone (TZ) for a test, as a developer machine may have it."""

    def switch(zone: str) -> None:
        monkeypatch.setenv("TZ", zone)
        time_module.tzset()

    yield switch
    monkeypatch.undo()
    time_module.tzset()


# -- calendar -----------------------------------------------------------------------------------


def test_a_midnight_to_midnight_interval_is_a_whole_open_day():
    assert parse_interval("00:00-00:00") == (time(0), time(0))
    calendar = build_calendar("UTC", {"mon": ["00:00-00:00"]})

    assert calendar.business_time_between(at(0, 0), at(1, 0)) == timedelta(hours=24)
    assert calendar.is_open(at(0, 23, 59))
    assert not calendar.is_open(at(1, 0))


@pytest.mark.parametrize("text", ["09:00-17:00+02:00", "09:00+01:00-17:00", "09:00-17:00-05:00"])
def test_an_interval_with_a_utc_offset_is_refused_when_the_config_is_read(text: str):
    with pytest.raises(CalendarError):
        parse_interval(text)


def test_a_deadline_landing_exactly_at_closing_time_is_at_closing_time():
    calendar = build_calendar("UTC", WEEKDAYS_9_17)

    assert calendar.add_business_time(at(0, 9), timedelta(hours=8)) == at(0, 17)
    assert calendar.add_business_time(at(0, 9), timedelta(hours=8, seconds=1)) == at(1, 9, 0) + timedelta(
        seconds=1
    )


def test_zero_business_time_after_a_closed_moment_is_that_moment():
    calendar = build_calendar("UTC", WEEKDAYS_9_17)

    assert calendar.add_business_time(at(0, 20), timedelta(0)) == at(0, 20)
    assert calendar.add_business_time(at(0, 20), timedelta(seconds=-5)) == at(0, 20)


def test_next_open_at_closing_time_is_the_next_opening():
    calendar = build_calendar("UTC", WEEKDAYS_9_17)

    assert calendar.next_open(at(0, 17)) == at(1, 9)
    assert calendar.next_open(at(0, 16, 59)) == at(0, 16, 59)


def test_intervals_end_where_the_window_ends_and_skip_one_opening_there():
    calendar = build_calendar("UTC", WEEKDAYS_9_17)

    assert list(calendar.intervals(at(0, 8), at(0, 9))) == []
    assert list(calendar.intervals(at(0, 17), at(0, 18))) == []
    assert list(calendar.intervals(at(0, 8), at(1, 10))) == [(at(0, 9), at(0, 17)), (at(1, 9), at(1, 10))]


def test_a_calendar_closed_for_the_whole_scan_window_never_opens_and_the_last_day_still_counts():
    start = at(0, 12)
    every_day = {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    first_scanned = start.date() - timedelta(days=1)
    closed = [first_scanned + timedelta(days=n) for n in range(MAX_SCAN_DAYS)]
    last_day = first_scanned + timedelta(days=MAX_SCAN_DAYS)

    opens_on_last_day = build_calendar("UTC", every_day, holidays=closed)
    never = build_calendar("UTC", every_day, holidays=[*closed, last_day])

    assert opens_on_last_day.next_open(start) == datetime.combine(last_day, time(9), tzinfo=UTC)
    assert never.next_open(start) is None
    assert never.add_business_time(start, timedelta(minutes=1)) is None


def test_full_weekday_names_are_accepted_and_unknown_ones_refused():
    calendar = build_calendar("UTC", {"Monday": ["09:00-17:00"], " TUESDAY ": ["10:00-11:00"]})

    assert calendar.weekly == {0: ((time(9), time(17)),), 1: ((time(10), time(11)),)}
    with pytest.raises(CalendarError, match="Mo"):
        build_calendar("UTC", {"Mo": ["09:00-17:00"]})


def test_without_hours_a_calendar_is_always_open_and_with_hours_only_then():
    always = build_calendar("UTC")
    office = build_calendar("UTC", WEEKDAYS_9_17)

    assert always.always_open is True
    assert always.is_open(at(5, 3))
    assert office.always_open is False
    assert office.is_open(at(0, 10))
    assert not office.is_open(at(5, 10))


def test_explicit_holidays_are_kept_when_a_country_is_set():
    calendar = build_calendar(
        "Europe/Berlin",
        WEEKDAYS_9_17,
        holidays=[date(2026, 3, 2)],
        holiday_country="DE",
    )

    assert calendar.is_holiday(date(2026, 3, 2))  # ours
    assert calendar.is_holiday(date(2026, 12, 25))  # the country's
    assert not calendar.is_holiday(date(2026, 3, 3))
    assert not calendar.is_open(at(0, 10))


def test_regional_holidays_come_from_the_subdivision():
    bavaria = build_calendar("Europe/Berlin", WEEKDAYS_9_17, holiday_country="DE", holiday_subdivision="BY")
    germany = build_calendar("Europe/Berlin", WEEKDAYS_9_17, holiday_country="DE")

    assert bavaria.is_holiday(date(2026, 1, 6))  # Epiphany: Bavaria only
    assert not germany.is_holiday(date(2026, 1, 6))


def test_country_holidays_count_in_any_year_not_only_around_now():
    year = datetime.now(UTC).year

    calendar = build_calendar("Europe/Berlin", WEEKDAYS_9_17, holiday_country="DE")

    for y in (1995, year - 2, year, year + 3, 2090):
        assert calendar.is_holiday(date(y, 12, 25)), y
        assert not calendar.is_holiday(date(y, 12, 23)), y


def test_an_unknown_holiday_country_names_the_country():
    with pytest.raises(CalendarError, match="'ZZ'"):
        build_calendar("UTC", WEEKDAYS_9_17, holiday_country="ZZ")


@pytest.mark.parametrize("host", ["Pacific/Kiritimati", "Etc/GMT+12", "Asia/Tokyo"])
@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Etc/GMT+12", "America/Los_Angeles", "UTC"])
def test_results_are_utc_and_do_not_depend_on_the_hosts_time_zone(host_zone, host: str, zone: str):
    # A shift that runs past midnight into the next day, so that the day an interval starts on
    # matters; always_open covers the unbounded path.
    weekly = {d: ["12:00-11:59"] for d in ("mon", "wed")}
    calendars = [build_calendar(zone, weekly), Calendar(timezone=zone, always_open=True)]
    moments = [at(0, h) for h in range(0, 72, 5)]

    def observe() -> list[object]:
        seen: list[object] = []
        for calendar in calendars:
            for moment in moments:
                seen.append(calendar.is_open(moment))
                seen.append(calendar.next_open(moment))
                seen.append(calendar.add_business_time(moment, timedelta(hours=30)))
                seen.append(calendar.add_business_time(moment, timedelta(0)))
                seen.append(calendar.business_time_between(moment, moment + timedelta(hours=20)))
                seen.extend(calendar.intervals(moment, moment + timedelta(hours=40)))
        return seen

    host_zone("UTC")
    expected = observe()
    host_zone(host)
    observed = observe()

    assert observed == expected
    for value in observed:
        moments_in = value if isinstance(value, tuple) else (value,)
        for moment in moments_in:
            if isinstance(moment, datetime):
                assert moment.utcoffset() == timedelta(0)


# -- SLA math -----------------------------------------------------------------------------------

OFFICE = build_calendar("UTC", WEEKDAYS_9_17)


def policy(**values: object) -> SlaPolicyConfig:
    return SlaPolicyConfig.model_validate({"name": "p", **values})


SELECTION = parse_config(
    """
teams: [{id: support}, {id: billing}]
sla:
  policies:
    - {name: by-channel, when: {channel: [sms]}}
    - {name: by-public, when: {public: true}}
    - {name: by-priority, when: {priority: [high]}}
    - {name: by-team, when: {team: [billing]}}
    - {name: by-tier, when: {customer_tier: [gold]}}
    - {name: fallback}
"""
)


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (SlaFacts("sms", False, "low", "support", None), "by-channel"),
        (SlaFacts("email", True, "low", "support", None), "by-public"),
        (SlaFacts("email", False, "high", "support", None), "by-priority"),
        (SlaFacts("email", False, "low", "billing", None), "by-team"),
        (SlaFacts("email", False, "low", "support", "gold"), "by-tier"),
        (SlaFacts("email", False, "low", "support", "silver"), "fallback"),
        (SlaFacts("email", False, "low", None, None), "fallback"),
    ],
)
def test_each_policy_condition_alone_decides(facts: SlaFacts, expected: str):
    chosen = sla.select_policy(SELECTION, facts)

    assert chosen is not None
    assert chosen.name == expected


def test_a_started_target_carries_every_field():
    start = at(0, 16)  # one business hour left on Monday

    business = sla.start_target("first_response", SlaTargetConfig(minutes=120), start, OFFICE, 0.25)
    clock = sla.start_target("resolution", SlaTargetConfig(minutes=120, business=False), start, OFFICE, 0.25)

    assert business == SlaTarget(
        name="first_response",
        started_at=start,
        minutes=120,
        business=True,
        due_at=at(1, 10),
        warn_at=at(0, 16, 30),
    )
    assert clock == SlaTarget(
        name="resolution",
        started_at=start,
        minutes=120,
        business=False,
        due_at=at(0, 18),
        warn_at=at(0, 16, 30),
    )


def test_a_target_on_a_calendar_that_never_opens_is_due_in_calendar_time():
    never = Calendar(timezone="UTC")

    target = sla.start_target("first_response", SlaTargetConfig(minutes=60), at(0, 9), never, 0.5)

    assert (target.due_at, target.warn_at) == (at(0, 10), at(0, 9, 30))


def test_plan_names_policy_and_calendar_and_starts_only_creation_targets():
    full = policy(
        first_response={"minutes": 60},
        next_response={"minutes": 30},
        periodic_update={"minutes": 90, "business": False},
        resolution={"minutes": 600},
    )

    planned = sla.plan(full, at(0, 9), OFFICE, "office")

    assert (planned.policy, planned.calendar, planned.paused_at, planned.escalation_level) == (
        "p",
        "office",
        None,
        0,
    )
    assert [t.name for t in planned.targets] == ["first_response", "periodic_update", "resolution"]
    assert [t.due_at for t in planned.targets] == [at(0, 10), at(0, 10, 30), at(1, 11)]


def test_replan_keeps_finished_targets_restarts_running_ones_and_adds_missing_ones():
    old = policy(first_response={"minutes": 60}, resolution={"minutes": 600}, next_response={"minutes": 60})
    new = policy(
        name="urgent",
        first_response={"minutes": 30},
        periodic_update={"minutes": 120},
        next_response={"minutes": 20},
        warning_at=0.5,
    )
    planned = sla.plan(old, at(0, 9), OFFICE, "office")
    first = planned.targets[0].model_copy(update={"state": "met", "met_at": at(0, 9, 5)})
    resolution = planned.targets[1].model_copy(update={"warned_at": at(0, 9, 1)})
    state = planned.model_copy(update={"targets": [first, resolution]})

    replanned = sla.replan(state, new, ALWAYS, None, at(0, 9, 10))

    assert (replanned.policy, replanned.calendar) == ("urgent", None)
    assert replanned.target("first_response") == first  # met stays met
    assert replanned.target("resolution") is None  # the new policy has none
    assert replanned.target("next_response") is None  # only a customer message starts it
    periodic = replanned.target("periodic_update")
    assert periodic is not None
    assert (periodic.started_at, periodic.due_at, periodic.warn_at) == (
        at(0, 9, 10),
        at(0, 11, 10),
        at(0, 10, 10),
    )


def _warned_then_replanned(now: datetime) -> SlaTarget:
    """A 60-minute first response warned at 09:48, replanned to 30 minutes warning at 09:15."""
    old = policy(first_response={"minutes": 60, "business": False})
    new = policy(first_response={"minutes": 30, "business": False}, warning_at=0.5)
    planned = sla.plan(old, at(0, 9), ALWAYS, None)
    warned = planned.model_copy(
        update={"targets": [planned.targets[0].model_copy(update={"warned_at": at(0, 9, 48)})]}
    )
    target = sla.replan(warned, new, ALWAYS, None, now).target("first_response")
    assert target is not None
    assert (target.due_at, target.warn_at) == (at(0, 9, 30), at(0, 9, 15))
    return target


def test_replan_forgets_a_warning_when_the_new_warning_is_still_to_come():
    assert _warned_then_replanned(at(0, 9, 14)).warned_at is None


@pytest.mark.parametrize("now_minute", [15, 20])
def test_replan_keeps_a_warning_already_given_when_the_new_warning_has_passed(now_minute: int):
    target = _warned_then_replanned(at(0, 9, now_minute))

    assert target.warned_at == at(0, 9, 48)


def test_replan_keeps_a_breached_target():
    planned = sla.plan(policy(first_response={"minutes": 60}), at(0, 9), OFFICE, None)
    breached = planned.model_copy(
        update={
            "targets": [planned.targets[0].model_copy(update={"state": "breached", "breached_at": at(0, 10)})]
        }
    )

    replanned = sla.replan(breached, policy(first_response={"minutes": 10}), OFFICE, None, at(0, 11))

    assert replanned.targets == breached.targets


def test_an_agent_reply_meets_pending_and_paused_responses_and_keeps_others():
    rules = policy(first_response={"minutes": 60}, next_response={"minutes": 60}, resolution={"minutes": 600})
    planned = sla.plan(rules, at(0, 9), OFFICE, None)
    waiting = sla.start_target("next_response", SlaTargetConfig(minutes=60), at(0, 9), OFFICE, 0.8)
    paused = waiting.model_copy(update={"state": "paused", "remaining_seconds": 100.0})
    state = planned.model_copy(update={"targets": [planned.targets[0], paused, planned.targets[1]]})

    replied = sla.on_agent_reply(state, None, at(0, 9, 30), OFFICE)

    for name in ("first_response", "next_response"):
        target = replied.target(name)
        assert target is not None
        assert (target.state, target.met_at, target.remaining_seconds) == ("met", at(0, 9, 30), None)
    assert replied.target("resolution") == planned.targets[1]
    assert replied.target("periodic_update") is None  # no policy: nothing restarts


@pytest.mark.parametrize("keep_breach", [True, False])
def test_restarting_the_periodic_update_keeps_the_breach_only_when_asked(keep_breach: bool):
    rules = policy(periodic_update={"minutes": 60, "business": False})
    planned = sla.plan(rules, at(0, 9), ALWAYS, None)
    breached = planned.model_copy(
        update={
            "targets": [planned.targets[0].model_copy(update={"state": "breached", "breached_at": at(0, 10)})]
        }
    )

    restarted = sla.restart_periodic_update(breached, rules, at(0, 11), ALWAYS, keep_breach=keep_breach)

    periodic = restarted.target("periodic_update")
    assert periodic is not None
    assert (periodic.state, periodic.started_at, periodic.due_at) == ("pending", at(0, 11), at(0, 12))
    assert periodic.breached_at == (at(0, 10) if keep_breach else None)
    assert sla.restart_periodic_update(breached, policy(), at(0, 11), ALWAYS) == breached


def test_a_customer_message_after_a_met_next_response_starts_a_new_one():
    rules = policy(first_response={"minutes": 60}, next_response={"minutes": 60})
    replied = sla.on_agent_reply(sla.plan(rules, at(0, 9), OFFICE, None), rules, at(0, 9, 10), OFFICE)
    asked = sla.on_customer_message(replied, rules, at(0, 10), OFFICE)
    answered = sla.on_agent_reply(asked, rules, at(0, 10, 30), OFFICE)

    again = sla.on_customer_message(answered, rules, at(0, 12), OFFICE)
    without_next = sla.on_customer_message(
        answered, policy(first_response={"minutes": 60}), at(0, 12), OFFICE
    )

    following = again.target("next_response")
    assert following is not None
    assert (following.state, following.started_at, following.due_at) == ("pending", at(0, 12), at(0, 13))
    assert without_next == answered


def test_pause_keeps_time_left_per_clock_and_a_second_pause_changes_nothing():
    rules = policy(first_response={"minutes": 60}, resolution={"minutes": 600, "business": False})
    planned = sla.plan(rules, at(0, 16, 30), OFFICE, None)  # first response due Tue 09:30

    paused = sla.pause(planned, at(0, 16, 45), OFFICE)
    again = sla.pause(paused, at(1, 12), OFFICE)

    first, resolution = paused.targets
    assert (first.state, first.remaining_seconds) == ("paused", 45 * 60.0)
    assert (resolution.state, resolution.remaining_seconds) == ("paused", 585 * 60.0)
    assert paused.paused_at == at(0, 16, 45)
    assert again == paused


def test_pause_after_the_due_time_keeps_nothing_left_and_skips_finished_targets():
    planned = sla.plan(
        policy(first_response={"minutes": 60}, resolution={"minutes": 60}), at(0, 9), OFFICE, None
    )
    met = planned.targets[1].model_copy(update={"state": "met"})
    state = planned.model_copy(update={"targets": [planned.targets[0], met]})

    paused = sla.pause(state, at(0, 11), OFFICE)

    assert paused.targets[0].remaining_seconds == 0.0
    assert paused.targets[1] == met


def test_resume_moves_due_and_warning_by_the_time_spent_paused():
    rules = policy(first_response={"minutes": 100, "business": False}, warning_at=0.5)
    planned = sla.plan(rules, at(0, 9), ALWAYS, None)  # due 10:40, warns 09:50

    paused = sla.pause(planned, at(0, 9, 20), ALWAYS)  # 80 minutes left, warning in 30
    resumed = sla.resume(paused, at(0, 12), ALWAYS)
    late = sla.resume(sla.pause(planned, at(0, 10), ALWAYS), at(0, 12), ALWAYS)  # warning passed

    first = resumed.target("first_response")
    assert first is not None
    assert (first.state, first.due_at, first.warn_at, first.remaining_seconds) == (
        "pending",
        at(0, 13, 20),
        at(0, 12, 30),
        None,
    )
    assert resumed.paused_at is None
    late_first = late.target("first_response")
    assert late_first is not None
    assert (late_first.due_at, late_first.warn_at) == (at(0, 12, 40), at(0, 12))
    assert sla.resume(planned, at(0, 12), ALWAYS) == planned  # not paused: unchanged


def test_resume_without_a_known_warning_warns_at_four_fifths():
    target = SlaTarget(
        name="first_response", state="paused", minutes=100, business=False, remaining_seconds=6000.0
    )
    state = Sla(targets=[target], paused_at=at(0, 8))

    resumed = sla.resume(state, at(0, 9), ALWAYS).targets[0]

    assert (resumed.due_at, resumed.warn_at) == (at(0, 10, 40), at(0, 10, 20))


def test_resolving_meets_the_resolution_and_pauses_the_rest():
    rules = policy(first_response={"minutes": 60}, resolution={"minutes": 600})
    planned = sla.plan(rules, at(0, 9), OFFICE, None)

    resolved = sla.on_resolved(planned, at(0, 9, 30), OFFICE)

    first, resolution = resolved.targets
    assert (first.state, first.remaining_seconds) == ("paused", 1800.0)
    assert (resolution.state, resolution.met_at, resolution.remaining_seconds) == ("met", at(0, 9, 30), None)
    assert resolved.paused_at == at(0, 9, 30)


def test_due_now_counts_a_moment_equal_to_now_and_lists_in_time_order():
    first = SlaTarget(name="first_response", due_at=at(0, 10), warn_at=at(0, 9))
    resolution = SlaTarget(name="resolution", due_at=at(0, 12), warn_at=at(0, 9, 30))
    warned = SlaTarget(name="periodic_update", due_at=at(0, 11), warn_at=at(0, 8), warned_at=at(0, 8))
    paused = SlaTarget(name="next_response", state="paused", due_at=at(0, 8), warn_at=at(0, 7))
    state = Sla(targets=[resolution, first, warned, paused])

    assert sla.due_now(state, at(0, 10)) == [
        Due("resolution", "warning", at(0, 9, 30)),
        Due("first_response", "breach", at(0, 10)),
    ]
    assert sla.due_now(state, at(0, 9, 29)) == [Due("first_response", "warning", at(0, 9))]


def test_record_marks_breaches_and_warnings_with_their_own_times():
    unwarned = SlaTarget(name="first_response", due_at=at(0, 10), warn_at=at(0, 9))
    warned = SlaTarget(name="resolution", due_at=at(0, 10), warn_at=at(0, 9), warned_at=at(0, 9, 5))
    periodic = SlaTarget(name="periodic_update", due_at=at(0, 12), warn_at=at(0, 9))
    state = Sla(targets=[unwarned, periodic, warned])
    due = [
        Due("first_response", "breach", at(0, 10)),
        Due("resolution", "breach", at(0, 10)),
        Due("periodic_update", "warning", at(0, 9)),
        Due("next_response", "breach", at(0, 10)),  # no such target: skipped
    ]

    recorded = sla.record(state, due, at(0, 10, 2))

    first, periodic_after, resolution = recorded.targets
    assert (first.state, first.breached_at, first.warned_at) == ("breached", at(0, 10), at(0, 10))
    assert (resolution.state, resolution.breached_at, resolution.warned_at) == (
        "breached",
        at(0, 10),
        at(0, 9, 5),
    )
    assert (periodic_after.state, periodic_after.warned_at, periodic_after.breached_at) == (
        "pending",
        at(0, 10, 2),
        None,
    )


def test_next_deadline_is_the_warning_before_the_due_time():
    target = SlaTarget(name="first_response", due_at=at(0, 10), warn_at=at(0, 9, 30))

    assert sla.next_deadline(Sla(targets=[target])) == at(0, 9, 30)
    warned = target.model_copy(update={"warned_at": at(0, 9, 31)})
    assert sla.next_deadline(Sla(targets=[warned])) == at(0, 10)
    paused = target.model_copy(update={"state": "paused"})
    assert sla.next_deadline(Sla(targets=[paused])) is None


def test_next_deadline_includes_reminder_auto_resolve_and_later_escalations():
    target = SlaTarget(name="first_response", state="met")
    base = Sla(targets=[target])

    assert sla.next_deadline(base.model_copy(update={"reminder_at": at(0, 11)})) == at(0, 11)
    assert sla.next_deadline(base.model_copy(update={"auto_resolve_at": at(0, 12)})) == at(0, 12)
    steps = policy(
        escalation=[
            {"level": 1, "at": "warning", "after_minutes": 5},
            {"level": 2, "at": "breach", "after_minutes": 30},
        ]
    )
    warned = Sla(
        targets=[
            SlaTarget(name="first_response", state="breached", warned_at=at(0, 9), breached_at=at(0, 10))
        ]
    )
    assert sla.next_deadline(warned, steps) == at(0, 9, 5)
    assert sla.next_deadline(warned.model_copy(update={"escalation_level": 1}), steps) == at(0, 10, 30)
    assert sla.next_deadline(warned.model_copy(update={"escalation_level": 2}), steps) is None


def test_escalation_steps_are_reached_at_the_exact_minute_lowest_first():
    steps = policy(
        escalation=[
            {"level": 3, "at": "breach", "after_minutes": 0},
            {"level": 1, "at": "warning", "after_minutes": 10},
            {"level": 2, "at": "warning", "after_minutes": 20},
        ]
    )
    state = Sla(
        targets=[
            SlaTarget(name="first_response", state="breached", warned_at=at(0, 9), breached_at=at(0, 10))
        ]
    )

    assert sla.escalation_steps(steps, state, at(0, 9, 9)) == []
    assert sla.escalation_steps(steps, state, at(0, 9, 10)) == [1]
    assert sla.escalation_steps(steps, state, at(0, 10)) == [1, 2, 3]
    assert sla.escalation_steps(steps, state.model_copy(update={"escalation_level": 2}), at(0, 10)) == [3]
    unwarned = Sla(targets=[SlaTarget(name="first_response")])
    assert sla.escalation_steps(steps, unwarned, at(1, 0)) == []


def test_an_unknown_priority_is_raised_from_normal():
    assert sla.raised("whatever") == "high"


# -- routing ------------------------------------------------------------------------------------


def one_rule(when: dict[str, object]) -> HelpdeskConfig:
    return parse_config(
        yaml.safe_dump(
            {
                "calendars": {"default": {"timezone": "UTC", "hours": WEEKDAYS_9_17}},
                "teams": [{"id": "t"}],
                "routing": {"rules": [{"name": "r", "when": when, "then": {"team": "t"}}]},
            }
        )
    )


def routing_facts(**values: object) -> TicketFacts:
    return TicketFacts(**{"channel": "email", "now": at(0, 10), **values})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("when", "hit", "miss", "reason"),
    [
        ({"channel": ["sms"]}, {"channel": "sms"}, {}, "channel {} in ['sms']"),
        (
            {"inbox": ["Help@X.example"]},
            {"inbox": "help@x.EXAMPLE"},
            {"inbox": None},
            "inbox {} in ['Help@X.example']",
        ),
        ({"keywords": ["Refund"]}, {"body": "a REFUND now"}, {"subject": "refunds"}, "keyword of ['Refund']"),
        ({"keywords": ["refund"]}, {"subject": "refund?"}, {"body": "nope"}, "keyword of ['refund']"),
        (
            {"subject_matches": "^re: order"},
            {"subject": "RE: Order 5"},
            {"body": "re: order"},
            "subject matches /^re: order/",
        ),
        (
            {"body_matches": "tracking \\d+"},
            {"body": "Tracking 123"},
            {"subject": "tracking 123"},
            "body matches /tracking \\d+/",
        ),
        (
            {"tags": ["vip", "press"]},
            {"tags": ("other", "press")},
            {"tags": ("other",)},
            "tag of ['vip', 'press']",
        ),
        ({"language": ["de"]}, {"language": "de"}, {"language": "fr"}, "language {} in ['de']"),
        (
            {"customer_tier": ["gold"]},
            {"customer_tier": "gold"},
            {"customer_tier": "silver"},
            "customer tier {} in ['gold']",
        ),
        (
            {"customer_fields": {"plan": ["pro", "team"], "region": ["eu"]}},
            {"customer_fields": {"plan": "team", "region": "eu", "x": "y"}},
            {"customer_fields": {"plan": "team"}},
            "customer fields {'plan': ['pro', 'team'], 'region': ['eu']}",
        ),
        ({"public": True}, {"public": True}, {"public": False}, "public={}"),
        ({"public": False}, {"public": False}, {"public": True}, "public={}"),
    ],
)
def test_each_rule_condition_matches_explains_and_refuses(when, hit, miss, reason):
    config = one_rule(when)
    hit_facts, miss_facts = routing_facts(**hit), routing_facts(**miss)
    field = next((k for k in ("channel", "inbox", "language", "customer_tier", "public") if k in when), None)

    matched = match_rule(hit_facts, config)
    refused = match_rule(miss_facts, config)

    assert matched.rule is not None
    assert matched.reasons == [reason.format(getattr(hit_facts, field)) if field else reason]
    assert matched.tried == []
    assert refused.rule is None
    assert refused.reasons == ["no rule matched: default team"]
    assert refused.tried == [
        {"rule": "r", "why_not": "not " + (reason.format(getattr(miss_facts, field)) if field else reason)}
    ]


@pytest.mark.parametrize("inboxes", [["xxxx"], ["none"], ["support@x.example"]])
def test_a_message_without_an_inbox_never_matches_an_inbox_condition(inboxes: list[str]):
    result = match_rule(routing_facts(inbox=None), one_rule({"inbox": inboxes}))

    assert result.rule is None
    assert result.tried == [{"rule": "r", "why_not": f"not inbox None in {inboxes}"}]


def test_an_empty_condition_matches_everything():
    matched = match_rule(routing_facts(), one_rule({}))

    assert matched.rule is not None
    assert matched.reasons == ["matches everything"]


def test_every_condition_of_a_rule_must_hold_and_each_gives_a_reason():
    config = one_rule({"channel": ["email"], "language": ["de"], "public": False})

    matched = match_rule(routing_facts(language="de"), config)
    refused = match_rule(routing_facts(language="de", public=True), config)

    assert matched.reasons == ["channel email in ['email']", "language de in ['de']", "public=False"]
    assert refused.tried == [{"rule": "r", "why_not": "not public=True"}]


@pytest.mark.parametrize(
    ("ages", "matches"),
    [((7, 7), True), ((1, 8), False), ((1,), False), ((0, 3, 9), True)],
)
def test_prior_contacts_count_the_window_inclusively(ages: tuple[int, ...], matches: bool):
    config = one_rule({"prior_contacts": {"min": 2, "days": 7}})
    now = at(0, 10)
    facts = routing_facts(prior_contact_times=tuple(now - timedelta(days=d) for d in ages))

    result = match_rule(facts, config)

    count = sum(1 for d in ages if d <= 7)
    reason = f"{count} prior contacts in 7 days >= 2"
    assert (result.rule is not None) == matches
    assert (result.reasons if matches else [result.tried[0]["why_not"]]) == [
        reason if matches else f"not {reason}"
    ]


def test_time_conditions_are_skipped_without_a_time():
    config = one_rule({"prior_contacts": {"min": 1}, "business_hours": "in"})

    assert match_rule(routing_facts(now=None), config).reasons == ["matches everything"]


@pytest.mark.parametrize(
    ("wanted", "moment", "matches", "reason"),
    [
        ("in", at(0, 10), True, "in business hours (default)"),
        ("in", at(0, 17), False, "not out of business hours (default)"),
        ("out", at(0, 17), True, "out of business hours (default)"),
        ("out", at(0, 9), False, "not in business hours (default)"),
    ],
)
def test_business_hours_in_and_out(wanted: str, moment: datetime, matches: bool, reason: str):
    result = match_rule(routing_facts(now=moment), one_rule({"business_hours": wanted}))

    assert (result.rule is not None) == matches
    assert (result.reasons[0] if matches else result.tried[0]["why_not"]) == reason


def test_rules_are_tried_by_weight_then_as_written():
    config = parse_config(
        """
teams: [{id: t}]
routing:
  rules:
    - {name: a, when: {channel: [sms]}, then: {team: t}}
    - {name: b, weight: 5, when: {channel: [sms]}, then: {team: t}}
    - {name: c, weight: -1, then: {team: t}}
    - {name: d, weight: 5, when: {channel: [x]}, then: {team: t}}
    - {name: e, then: {team: t}}
"""
    )

    result = match_rule(routing_facts(), config)

    assert [r.name for r in ordered_rules(config.routing.rules)] == ["b", "d", "a", "e", "c"]
    assert result.rule is not None
    assert result.rule.name == "e"
    assert [t["rule"] for t in result.tried] == ["b", "d", "a"]


RANKING = parse_config(
    """
calendars:
  default: {timezone: UTC}
  office: {timezone: UTC, hours: {mon: ["09:00-17:00"]}}
teams:
  - {id: ll, strategy: least_loaded}
  - {id: rr, strategy: round_robin}
  - {id: st, strategy: sticky}
agents:
  - {id: big, teams: [ll, rr, st], capacity: {email: 10, sms: 1, social: 4}}
  - {id: small, teams: [ll, rr, st], capacity: {email: 2, sms: 1, social: 1}}
  - {id: mid, teams: [ll, rr, st], calendar: office, capacity: {email: 4, sms: 0, social: 2}}
"""
)


def ranking_team(team_id: str) -> TeamConfig:
    found = RANKING.team(team_id)
    assert found is not None
    return found


def live(**loads: tuple[int, str]) -> dict[str, AgentState]:
    return {
        agent: AgentState(
            id=agent, presence="online", load={"email": load, "social": load}, last_assigned_at=last
        )
        for agent, (load, last) in loads.items()
    }


def test_least_loaded_is_relative_to_each_agents_capacity():
    # big holds the most tickets but has the most room: 4/10 < 1/2 < 3/4 (by absolute load, by
    # load times capacity or by who waited longest the order would be small, mid, big).
    states = live(big=(4, "3"), small=(1, "1"), mid=(3, "2"))

    ranked = rank_agents(ranking_team("ll"), RANKING, states, "email", [], [], at(0, 10))

    assert ranked.ordered == ["big", "small", "mid"]
    assert ranked.considered == [
        {"agent": "big", "load": "4/10", "skipped": None},
        {"agent": "small", "load": "1/2", "skipped": None},
        {"agent": "mid", "load": "3/4", "skipped": None},
    ]


def test_least_loaded_ties_go_to_who_waited_longest_then_by_id():
    states = live(big=(5, "2026-03-02T09:00"), small=(1, "2026-03-02T08:00"), mid=(2, "2026-03-02T08:00"))

    ranked = rank_agents(ranking_team("ll"), RANKING, states, "email", [], [], at(0, 10))

    assert ranked.ordered == ["mid", "small", "big"]


def test_round_robin_ignores_load_and_breaks_ties_by_id():
    states = live(big=(0, "2026-03-02T09:00"), small=(1, "2026-03-02T08:00"), mid=(3, "2026-03-02T08:00"))

    ranked = rank_agents(ranking_team("rr"), RANKING, states, "email", [], [], at(0, 10))

    assert ranked.ordered == ["mid", "small", "big"]


def test_sticky_keeps_the_customers_agents_in_their_order_then_least_loaded():
    states = live(big=(1, "1"), small=(1, "1"), mid=(1, "1"))

    ranked = rank_agents(ranking_team("st"), RANKING, states, "email", [], ["small", "mid"], at(0, 10))
    unsticky = rank_agents(ranking_team("st"), RANKING, states, "email", [], [], at(0, 10))

    assert ranked.ordered == ["small", "mid", "big"]
    assert unsticky.ordered == ["big", "mid", "small"]


def test_an_agent_at_exactly_capacity_or_without_a_group_is_skipped_with_the_reason():
    states = live(big=(9, "1"), small=(2, "1"), mid=(0, "1"))

    email = rank_agents(ranking_team("ll"), RANKING, states, "email", [], [], at(0, 10))
    sms = rank_agents(ranking_team("ll"), RANKING, states, "sms", [], [], at(0, 10))

    assert email.ordered == ["mid", "big"]
    assert email.considered[1] == {"agent": "small", "load": "2/2", "skipped": "at capacity (2/2 email)"}
    assert sms.ordered == ["big", "small"]
    assert sms.considered[2] == {"agent": "mid", "load": "0/0", "skipped": "at capacity (0/0 sms)"}


def test_social_channels_count_against_the_social_capacity():
    states = live(big=(3, "1"), small=(1, "1"), mid=(1, "1"))

    ranked = rank_agents(ranking_team("ll"), RANKING, states, "instagram", [], [], at(0, 10))

    assert ranked.ordered == ["mid", "big"]
    assert ranked.considered[1]["skipped"] == "at capacity (1/1 social)"


def test_agents_without_a_live_state_are_offline_and_working_hours_apply():
    states = live(big=(0, "1"))

    ranked = rank_agents(ranking_team("ll"), RANKING, states, "email", [], [], at(1, 10))

    assert ranked.ordered == ["big"]
    assert ranked.considered[1:] == [
        {"agent": "small", "load": "0/2", "skipped": "presence offline"},
        {"agent": "mid", "load": "0/4", "skipped": "presence offline"},
    ]
    states = live(big=(0, "1"), mid=(0, "1"))
    tuesday = rank_agents(ranking_team("ll"), RANKING, states, "email", [], [], at(1, 10))
    assert tuesday.considered[2]["skipped"] == "outside working hours (office)"
    monday = rank_agents(ranking_team("ll"), RANKING, states, "email", [], [], at(0, 10))
    assert monday.ordered == ["big", "mid"]


def test_skills_are_checked_first_and_listed_when_missing():
    states = {"big": AgentState(id="big", presence="away")}

    ranked = rank_agents(ranking_team("ll"), RANKING, states, "email", ["de", "fr"], [], at(0, 10))

    assert [c["skipped"] for c in ranked.considered] == ["lacks skills ['de', 'fr']"] * 3


# -- threading ----------------------------------------------------------------------------------

OURS = ["support@support.example.com", "Billing@Acme.example"]
DOMAIN = "Support.Example.com"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  <a@b>  ", "<a@b>"),
        ("junk <a@b> <c@d>", "<a@b>"),
        ("a@b", "<a@b>"),
        ("<a@b", "<a@b>"),
        ("ABCX@HOSTX", "<ABCX@HOSTX>"),
        ("a@b c", None),
        ("no-at-sign", None),
        ("   ", None),
        ("", None),
    ],
)
def test_message_ids_are_keyed_with_one_pair_of_angle_brackets(raw: str, expected: str | None):
    assert normalize_message_id(raw) == expected


def test_reference_chain_dedupes_across_headers_and_stops_at_the_limit():
    references = [f"<r{n}@x>" for n in range(45)]
    parsed = ParsedEmail(in_reply_to=["<r44@x>", "bad id", "<r44@x>"], references=references)

    chain = reference_chain(parsed)

    assert chain[0] == ("in-reply-to", "<r44@x>")
    assert chain[1:3] == [("references", "<r43@x>"), ("references", "<r42@x>")]
    assert len(chain) == MAX_REFERENCES == 40
    assert chain[-1] == ("references", "<r5@x>")


@pytest.mark.parametrize(
    ("subject", "prefix", "expected"),
    [
        ("Re: [ # 12 ] and [#34]", "#", 34),
        ("[#123456789012]", "#", 123456789012),
        ("[#1234567890123]", "#", None),
        ("[#]", "#", None),
        ("[T.5]", "T.", 5),
        ("[TX5]", "T.", None),
        ("", "#", None),
    ],
)
def test_subject_tokens_last_one_wins_within_twelve_digits(subject: str, prefix: str, expected: int | None):
    assert subject_token(subject, prefix) == expected


@pytest.mark.parametrize(
    ("recipients", "expected"),
    [
        (["support+t42@support.example.com"], 42),
        (["support+#42@support.example.com"], 42),
        (["anyone+7@SUPPORT.example.com"], 7),
        (["billing+8@acme.example"], 8),
        (["sales+9@acme.example"], None),
        (["support+abc@support.example.com", " Support+3@Support.Example.com "], 3),
        (["support@support.example.com"], None),
        (["support+5"], None),
        (["support+x5@support.example.com"], None),
        (["support+1+2@support.example.com"], None),
        (["x@support+5@support.example.com"], None),
        (["jane@x.example", "support+3@support.example.com"], 3),
        (["sales+1@other.example", "support+3@support.example.com"], 3),
    ],
)
def test_plus_tokens_only_on_our_addresses(recipients: list[str], expected: int | None):
    assert plus_token(recipients, OURS, DOMAIN) == expected


@pytest.mark.parametrize(
    ("address", "ours"),
    [
        (" Anyone@SUPPORT.example.com ", True),
        ("billing+x@acme.example", True),
        ("BILLING@ACME.EXAMPLE", True),
        ("billing@other.example", False),
        ("sales@acme.example", False),
        ("a@b@support.example.com", False),
    ],
)
def test_our_addresses(address: str, ours: bool):
    assert is_ours(address, OURS, DOMAIN) is ours


def test_participants_are_everyone_but_us_in_header_order_once():
    parsed = ParsedEmail(
        from_=EmailAddress(address=" Jane@X.example"),
        reply_to=[EmailAddress(address="jane@x.example")],
        to=[EmailAddress(address="support+4@support.example.com"), EmailAddress(address="bob@x.example")],
        cc=[EmailAddress(address="nobody"), EmailAddress(address="carol@x.example")],
    )

    assert participants_of(parsed, OURS, DOMAIN) == ["jane@x.example", "bob@x.example", "carol@x.example"]


THREAD_NOW = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)


def thread_ticket(ticket_id: str, status: TicketStatus = TicketStatus.OPEN, **changes: object) -> Ticket:
    values: dict[str, object] = {
        "id": ticket_id,
        "number": 1,
        "channel": "email",
        "status": status,
        "customer_id": "cus_jane",
        "created_at": THREAD_NOW - timedelta(days=30),
        "updated_at": THREAD_NOW - timedelta(days=1),
        "participants": ["bob@x.example"],
    }
    values.update(changes)
    return Ticket.model_validate(values)


def decide(
    tickets: list[Ticket], sender: str | None, customer: str | None, automatic: bool = False, ids=None
):
    candidates = [
        Candidate(ticket_id=i, method="references", ref=f"<{i}@x>") for i in (ids or [t.id for t in tickets])
    ]
    return decide_thread(
        candidates,
        {t.id: t for t in tickets},
        sender,
        customer,
        THREAD_NOW,
        timedelta(days=14),
        automatic,
        verified=True,
    )


def test_the_customer_id_alone_lets_the_ticket_owner_join():
    decision = decide([thread_ticket("t1")], "jane.new@x.example", "cus_jane")

    assert (decision.ticket_id, decision.method, decision.ref, decision.reason) == (
        "t1",
        "references",
        "<t1@x>",
        "matched by references",
    )
    assert (decision.reopen, decision.linked_ticket_id, decision.rejected) == (False, None, [])


def test_another_customer_who_is_no_participant_is_refused():
    decision = decide([thread_ticket("t1")], "eve@x.example", "cus_eve")
    nobody = decide([thread_ticket("t1")], None, None)

    for refused in (decision, nobody):
        assert refused.ticket_id is None
        assert (refused.method, refused.ref, refused.reopen) == (None, None, False)
        assert refused.linked_ticket_id == "t1"
        assert refused.reason == "new ticket: sender-not-participant"
        assert refused.rejected == [
            {"ticket_id": "t1", "method": "references", "why": "sender-not-participant"}
        ]


def test_missing_and_refused_candidates_are_listed_and_the_first_refused_one_is_linked():
    old = thread_ticket("t2", TicketStatus.CLOSED, closed_at=THREAD_NOW - timedelta(days=15))
    stranger = thread_ticket("t3", customer_id="cus_other", participants=[])

    decision = decide([old, stranger], "bob@x.example", None, ids=["gone", "t2", "t3"])

    assert decision.ticket_id is None
    assert decision.linked_ticket_id == "t2"
    assert decision.reason == "new ticket: closed-too-long, missing, sender-not-participant"
    assert decision.rejected == [
        {"ticket_id": "gone", "method": "references", "why": "missing"},
        {"ticket_id": "t2", "method": "references", "why": "closed-too-long"},
        {"ticket_id": "t3", "method": "references", "why": "sender-not-participant"},
    ]
    only_missing = decide([], "bob@x.example", None, ids=["gone"])
    assert only_missing.linked_ticket_id is None
    assert only_missing.reason == "new ticket: no reference, token or plus-address matched"


@pytest.mark.parametrize(
    ("closed_days_ago", "closed_at_known", "joins"),
    [(14, True, True), (14.001, True, False), (1, False, False)],
)
def test_a_closed_ticket_reopens_up_to_exactly_the_window(
    closed_days_ago: float, closed_at_known: bool, joins: bool
):
    closed_at = THREAD_NOW - timedelta(days=closed_days_ago) if closed_at_known else None
    closed = thread_ticket("t1", TicketStatus.CLOSED, closed_at=closed_at)

    decision = decide([closed], "bob@x.example", None)

    assert (decision.ticket_id, decision.reopen) == (("t1", True) if joins else (None, False))


@pytest.mark.parametrize(
    ("status", "reopen"),
    [
        (TicketStatus.NEW, False),
        (TicketStatus.OPEN, False),
        (TicketStatus.PENDING, True),
        (TicketStatus.RESOLVED, True),
    ],
)
@pytest.mark.parametrize("automatic", [False, True])
def test_only_a_human_reply_reopens_and_only_a_waiting_or_finished_ticket(status, reopen, automatic):
    decision = decide([thread_ticket("t1", status)], "bob@x.example", None, automatic=automatic)

    assert decision.ticket_id == "t1"
    assert decision.reopen is (reopen and not automatic)


def test_the_first_acceptable_candidate_wins_and_earlier_refusals_are_kept():
    stranger = thread_ticket("t1", customer_id="cus_other", participants=[])
    mine = thread_ticket("t2")

    decision = decide([stranger, mine], None, "cus_jane")

    assert decision.ticket_id == "t2"
    assert decision.linked_ticket_id is None
    assert decision.rejected == [{"ticket_id": "t1", "method": "references", "why": "sender-not-participant"}]


def test_an_interval_lost_in_the_spring_forward_gap_is_no_opening():
    # Berlin skips 02:00-03:00 on Sunday 2026-03-29: that interval is empty, the next one counts.
    calendar = build_calendar("Europe/Berlin", {"sun": ["02:00-03:00", "10:00-11:00"]})
    night = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)

    assert calendar.next_open(night) == datetime(2026, 3, 29, 8, 0, tzinfo=UTC)
    assert list(calendar.intervals(night, night + timedelta(hours=3))) == []


def test_a_window_ending_early_in_a_zone_a_day_ahead_of_the_host_still_counts(host_zone):
    # Kiritimati (UTC+14) is 26 hours ahead of Etc/GMT+12: at Wednesday 01:00 there it is still
    # Monday on the host, yet Wednesday's first hour is open time.
    calendar = build_calendar("Pacific/Kiritimati", {d: ["00:00-01:00"] for d in ("mon", "tue", "wed")})
    start = datetime(2026, 3, 4, 0, 0, tzinfo=calendar.zone)
    host_zone("Etc/GMT+12")

    assert calendar.business_time_between(start, start + timedelta(hours=1)) == timedelta(hours=1)
    assert list(calendar.intervals(start, start + timedelta(hours=1))) == [
        (start.astimezone(UTC), (start + timedelta(hours=1)).astimezone(UTC))
    ]


def test_an_agent_reply_restarts_a_business_time_periodic_update_and_clears_its_breach():
    rules = policy(first_response={"minutes": 60}, periodic_update={"minutes": 120})
    planned = sla.plan(rules, at(0, 9), OFFICE, None)
    periodic = planned.target("periodic_update")
    assert periodic is not None
    breached = planned.model_copy(
        update={
            "targets": [
                planned.targets[0],
                periodic.model_copy(update={"state": "breached", "breached_at": at(0, 11)}),
            ]
        }
    )

    replied = sla.on_agent_reply(breached, rules, at(0, 16), OFFICE)

    restarted = replied.target("periodic_update")
    assert restarted is not None
    assert (restarted.state, restarted.started_at, restarted.due_at, restarted.breached_at) == (
        "pending",
        at(0, 16),
        at(1, 10),  # one business hour on Monday, one on Tuesday
        None,
    )


def test_resume_counts_the_time_left_in_business_time():
    rules = policy(first_response={"minutes": 100}, warning_at=0.5)
    planned = sla.plan(rules, at(0, 9), OFFICE, None)  # due 10:40, warns 09:50

    paused = sla.pause(planned, at(0, 9, 20), OFFICE)  # 80 minutes left, warning in 30
    resumed = sla.resume(paused, at(0, 16, 45), OFFICE)

    first = resumed.target("first_response")
    assert first is not None
    # 15 minutes on Monday, the rest from Tuesday 09:00, for the due time and for the warning.
    assert (first.due_at, first.warn_at) == (at(1, 10, 5), at(1, 9, 15))


@pytest.mark.parametrize(
    "times",
    [
        {"started_at": None, "due_at": at(0, 10), "warn_at": at(0, 9, 30)},
        {"started_at": at(0, 9), "due_at": None, "warn_at": at(0, 9, 30)},
        {"started_at": at(0, 9), "due_at": at(0, 9), "warn_at": at(0, 9)},
    ],
)
def test_resume_warns_at_four_fifths_when_the_stored_times_give_no_fraction(
    times: dict[str, datetime | None],
):
    target = SlaTarget(
        name="first_response", state="paused", minutes=100, business=False, remaining_seconds=6000.0, **times
    )

    resumed = sla.resume(Sla(targets=[target], paused_at=at(0, 8)), at(0, 9), ALWAYS).targets[0]

    assert (resumed.due_at, resumed.warn_at) == (at(0, 10, 40), at(0, 10, 20))


def test_due_now_record_and_next_deadline_look_past_finished_targets():
    met = SlaTarget(name="first_response", state="met", due_at=at(0, 8), warn_at=at(0, 7))
    pending = SlaTarget(name="resolution", due_at=at(0, 12), warn_at=at(0, 10))
    state = Sla(targets=[met, pending])

    assert sla.due_now(state, at(0, 10)) == [Due("resolution", "warning", at(0, 10))]  # warn_at == now
    assert sla.next_deadline(state) == at(0, 10)
    recorded = sla.record(
        state, [Due("next_response", "breach", at(0, 9)), Due("resolution", "warning", at(0, 10))], at(0, 10)
    )
    assert recorded.targets[1].warned_at == at(0, 10)
    assert recorded.targets[0] == met


def test_a_rule_or_agent_calendar_is_built_from_its_config_on_first_use(monkeypatch: pytest.MonkeyPatch):
    # The calendar cache lives for the process; start it empty to see the first build.
    monkeypatch.setattr(routing, "_CALENDARS", {})
    config = parse_config(
        """
calendars:
  default: {timezone: UTC}
  munich:
    timezone: Europe/Berlin
    hours: {mon: ["09:00-17:00"]}
    holidays: [2026-03-09]
    holiday_country: DE
    holiday_subdivision: BY
"""
    )

    calendar = routing.calendar_for(config, "munich")

    assert calendar.timezone == "Europe/Berlin"
    assert calendar.weekly == {0: ((time(9), time(17)),)}
    assert calendar.always_open is False
    assert calendar.holidays == frozenset({date(2026, 3, 9)})
    assert all(calendar.is_holiday(d) for d in (date(2026, 3, 9), date(2026, 1, 6), date(2026, 12, 25)))
    assert (calendar.holiday_country, calendar.holiday_subdivision) == ("DE", "BY")
    assert routing.calendar_for(config, "munich") is calendar


def test_an_agent_without_capacity_for_a_group_takes_none_of_it():
    config = parse_config("teams: [{id: t}]\nagents: [{id: ann, teams: [t], capacity: {email: 2}}]")
    team = config.teams[0]
    states = {"ann": AgentState(id="ann", presence="online")}

    sms = rank_agents(team, config, states, "sms", [], [], at(0, 10))
    email = rank_agents(team, config, states, "email", [], [], at(0, 10))

    assert sms.ordered == []
    assert sms.considered == [{"agent": "ann", "load": "0/0", "skipped": "at capacity (0/0 sms)"}]
    assert email.ordered == ["ann"]


def test_only_a_sticky_team_puts_the_customers_agents_first():
    states = live(big=(1, "1"), small=(1, "1"), mid=(1, "1"))

    ranked = rank_agents(ranking_team("ll"), RANKING, states, "email", [], ["small"], at(0, 10))

    assert ranked.ordered == ["big", "mid", "small"]


def test_participants_start_with_the_sender_and_need_none():
    to = [EmailAddress(address="bob@x.example")]

    assert participants_of(
        ParsedEmail(from_=EmailAddress(address="jane@x.example"), to=to), OURS, DOMAIN
    ) == [
        "jane@x.example",
        "bob@x.example",
    ]
    assert participants_of(ParsedEmail(to=to), OURS, DOMAIN) == ["bob@x.example"]
