"""Property-based tests of the pure logic: calendars, SLA math, routing decisions and threading.

Each property is an invariant that must hold for every input hypothesis can build, e.g. a due time
never falls outside open hours, capacity is never exceeded, a token we write is always read back.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from shared.logic import sla
from shared.logic.calendar import Calendar
from shared.logic.routing import AgentState, TicketFacts, match_rule, ordered_rules, rank_agents
from shared.logic.threading import (
    Candidate,
    decide_thread,
    normalize_message_id,
    plus_token,
    reference_chain,
    subject_token,
)
from shared.models.config import (
    AgentConfig,
    HelpdeskConfig,
    RoutingRule,
    SlaPolicyConfig,
    SlaTargetConfig,
    TeamConfig,
)
from shared.models.email import ParsedEmail
from shared.models.ticket import Ticket, TicketStatus

BOUNDED = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney")
ONE_US = timedelta(microseconds=1)

# -- strategies ---------------------------------------------------------------------------------


@st.composite
def day_intervals(draw: st.DrawFn) -> tuple[tuple[time, time], ...]:
    """0-2 disjoint same-day intervals on quarter hours (e.g. a split shift)."""
    count = draw(st.integers(0, 2))
    quarters = sorted(draw(st.sets(st.integers(0, 95), min_size=2 * count, max_size=2 * count)))
    as_time = [time(q // 4, (q % 4) * 15) for q in quarters]
    return tuple(zip(as_time[::2], as_time[1::2], strict=True))


@st.composite
def calendars(draw: st.DrawFn) -> Calendar:
    weekly = {day: draw(day_intervals()) for day in range(7)}
    if not any(weekly.values()):
        weekly[draw(st.integers(0, 6))] = ((time(9), time(17)),)
    holidays = frozenset(draw(st.lists(st.dates(date(2026, 1, 1), date(2027, 12, 31)), max_size=5)))
    return Calendar(timezone=draw(st.sampled_from(ZONES)), weekly=weekly, holidays=holidays)


moments = st.datetimes(datetime(2026, 1, 1), datetime(2027, 6, 30), timezones=st.just(UTC))
durations = st.integers(1, 5 * 24 * 60).map(lambda minutes: timedelta(minutes=minutes))


def _open_at_or_closing(calendar: Calendar, at: datetime) -> bool:
    """Open at `at`, or `at` is the very end of an open interval (a deadline at closing time)."""
    return calendar.is_open(at) or calendar.is_open(at - ONE_US)


# -- calendars ----------------------------------------------------------------------------------


@BOUNDED
@given(calendars(), moments, durations)
def test_a_due_time_never_falls_outside_open_hours(calendar: Calendar, start: datetime, duration: timedelta):
    due = calendar.add_business_time(start, duration)

    assert due is not None
    assert due > start
    assert _open_at_or_closing(calendar, due)
    assert calendar.business_time_between(start, due) == duration


@BOUNDED
@given(calendars(), moments)
def test_next_open_is_open_and_nothing_before_it_is(calendar: Calendar, at: datetime):
    opens = calendar.next_open(at)

    assert opens is not None
    assert opens >= at
    assert calendar.is_open(opens)
    assert calendar.business_time_between(at, opens) == timedelta(0)


@BOUNDED
@given(calendars(), moments, st.integers(0, 10 * 24 * 60), st.integers(0, 10 * 24 * 60))
def test_business_time_adds_up_over_consecutive_spans(calendar: Calendar, a: datetime, m1: int, m2: int):
    b = a + timedelta(minutes=m1)
    c = b + timedelta(minutes=m2)

    whole = calendar.business_time_between(a, c)

    assert whole == calendar.business_time_between(a, b) + calendar.business_time_between(b, c)
    assert timedelta(0) <= whole <= c - a


@BOUNDED
@given(calendars(), st.dates(date(2026, 1, 2), date(2027, 6, 30)))
def test_a_holiday_has_no_open_time(calendar: Calendar, day: date):
    closed = Calendar(calendar.timezone, calendar.weekly, calendar.holidays | {day})
    local_start = datetime.combine(day, time(0), tzinfo=closed.zone)
    for lo, hi in closed.intervals(local_start, local_start + timedelta(days=1)):
        # Only an overnight interval begun the day before may reach into the holiday.
        assert lo.astimezone(closed.zone).date() < day or hi <= local_start


# -- SLA math -----------------------------------------------------------------------------------

policies = st.builds(
    lambda fr, res, business, warning: SlaPolicyConfig(
        name="p",
        first_response=SlaTargetConfig(minutes=fr, business=business),
        resolution=SlaTargetConfig(minutes=res, business=not business),
        warning_at=warning,
    ),
    st.integers(1, 3000),
    st.integers(1, 3000),
    st.booleans(),
    st.floats(0.05, 0.95),
)


@BOUNDED
@given(policies, calendars(), moments)
def test_every_planned_target_warns_before_it_is_due_and_is_due_on_time(
    policy: SlaPolicyConfig, calendar: Calendar, created: datetime
):
    planned = sla.plan(policy, created, calendar, "cal")

    assert [t.name for t in planned.targets] == ["first_response", "resolution"]
    for target in planned.targets:
        assert target.due_at is not None
        assert target.warn_at is not None
        assert created <= target.warn_at <= target.due_at
        clock = calendar if target.business else sla.ALWAYS_OPEN
        assert clock.business_time_between(created, target.due_at) == timedelta(minutes=target.minutes)
        if target.business:
            assert _open_at_or_closing(calendar, target.due_at)


@BOUNDED
@given(policies, calendars(), moments, st.integers(0, 6000))
def test_next_deadline_is_the_earliest_moment_still_to_come(
    policy: SlaPolicyConfig, calendar: Calendar, created: datetime, later: int
):
    now = created + timedelta(minutes=later)
    state = sla.record(sla.plan(policy, created, calendar, None), [], now)
    state = sla.record(state, sla.due_now(state, now), now)

    deadline = sla.next_deadline(state)

    expected = [t.warn_at for t in state.targets if t.state == "pending" and t.warned_at is None]
    expected += [t.due_at for t in state.targets if t.state == "pending"]
    assert deadline == (min(m for m in expected if m is not None) if expected else None)
    assert sla.due_now(state, now) == []  # what was recorded is not due again


@BOUNDED
@given(policies, calendars(), moments, st.integers(0, 2000))
def test_pausing_and_resuming_at_once_keeps_the_due_times(
    policy: SlaPolicyConfig, calendar: Calendar, created: datetime, later: int
):
    planned = sla.plan(policy, created, calendar, None)
    now = created + timedelta(minutes=later)
    running = [t for t in planned.targets if t.due_at is not None and t.due_at > now]

    resumed = sla.resume(sla.pause(planned, now, calendar), now, calendar)

    for target in running:
        after = resumed.target(target.name)
        assert after is not None
        assert after.state == "pending"
        assert after.due_at == target.due_at
        assert after.remaining_seconds is None
    assert resumed.paused_at is None


# -- routing ------------------------------------------------------------------------------------

AGENT_IDS = ("a1", "a2", "a3", "a4", "a5")


@st.composite
def agent_pools(draw: st.DrawFn) -> tuple[HelpdeskConfig, dict[str, AgentState], str]:
    strategy = draw(st.sampled_from(["least_loaded", "round_robin", "sticky"]))
    agents, states = [], {}
    for agent_id in AGENT_IDS:
        capacity = {group: draw(st.integers(0, 6)) for group in ("email", "sms", "social")}
        skills = draw(st.lists(st.sampled_from(["de", "fr", "vip"]), unique=True))
        agents.append(AgentConfig(id=agent_id, teams=["t"], skills=skills, capacity=capacity))  # type: ignore[arg-type]
        states[agent_id] = AgentState(
            id=agent_id,
            presence=draw(st.sampled_from(["online", "online", "away", "offline"])),
            load={group: draw(st.integers(0, 8)) for group in ("email", "sms", "social")},
            last_assigned_at=draw(st.sampled_from(["", "2026-03-01T08:00", "2026-03-01T09:00"])),
        )
    config = HelpdeskConfig(teams=[TeamConfig(id="t", strategy=strategy)], agents=agents)
    return config, states, strategy


@BOUNDED
@given(
    agent_pools(),
    st.sampled_from(["email", "sms", "whatsapp", "x"]),
    st.lists(st.sampled_from(["de", "fr"]), unique=True),
    st.lists(st.sampled_from(AGENT_IDS), unique=True, max_size=2),
)
def test_ranked_agents_are_online_skilled_and_under_capacity(pool, channel, skills, sticky):
    config, states, strategy = pool
    group = "social" if channel in ("whatsapp", "x") else channel

    result = rank_agents(
        config.teams[0], config, states, channel, skills, sticky, datetime(2026, 3, 2, tzinfo=UTC)
    )

    agents = {a.id: a for a in config.agents}
    assert sorted(c["agent"] for c in result.considered) == sorted(AGENT_IDS)
    assert sorted(result.ordered) == sorted(c["agent"] for c in result.considered if c["skipped"] is None)
    for agent_id in result.ordered:
        assert states[agent_id].presence == "online"
        assert set(skills) <= set(agents[agent_id].skills)
        assert states[agent_id].load[group] < agents[agent_id].capacity[group]  # type: ignore[index]
    if strategy == "least_loaded":
        ratios = [states[i].load[group] / agents[i].capacity[group] for i in result.ordered]  # type: ignore[index]
        assert ratios == sorted(ratios)
    if strategy == "round_robin":
        stamps = [states[i].last_assigned_at for i in result.ordered]
        assert stamps == sorted(stamps)
    if strategy == "sticky" and sticky:
        firsts = [i for i in result.ordered if i in sticky]
        assert result.ordered[: len(firsts)] == firsts


rules = st.lists(
    st.builds(
        lambda i, weight, words: RoutingRule.model_validate(
            {"name": f"r{i}", "weight": weight, "when": {"keywords": words}, "then": {"team": "t"}}
        ),
        st.integers(0, 1000),
        st.integers(-3, 3),
        st.lists(st.sampled_from(["refund", "invoice", "help", "urgent"]), min_size=1, max_size=2),
    ),
    max_size=6,
    unique_by=lambda r: r.name,
)


@BOUNDED
@given(rules, st.lists(st.sampled_from(["refund", "invoice", "help", "urgent", "hello"]), max_size=4))
def test_the_first_matching_rule_by_weight_wins_and_every_rule_before_it_failed(rule_list, words):
    config = HelpdeskConfig(teams=[TeamConfig(id="t")], routing={"rules": rule_list})  # type: ignore[arg-type]
    facts = TicketFacts(channel="email", subject=" ".join(words))

    result = match_rule(facts, config)

    order = ordered_rules(rule_list)
    assert [r.weight for r in order] == sorted((r.weight for r in order), reverse=True)
    matching = [r for r in order if set(r.when.keywords or ()) & set(words)]
    assert result.rule == (matching[0] if matching else None)
    stop = order.index(result.rule) if result.rule else len(order)
    assert [t["rule"] for t in result.tried] == [r.name for r in order[:stop]]
    assert all(t["why_not"].startswith("not ") for t in result.tried)


# -- threading ----------------------------------------------------------------------------------


@BOUNDED
@given(st.text(max_size=80))
@example("0<@")  # a bracket inside a bare id: once made `<0<@>`, which normalised again to `<@>`
def test_normalize_message_id_is_idempotent_and_returns_an_angle_id(value: str):
    result = normalize_message_id(value)

    if result is not None:
        assert result.startswith("<")
        assert result.endswith(">")
        assert not any(ch.isspace() for ch in result)
        assert normalize_message_id(result) == result


@BOUNDED
@given(st.text(max_size=60), st.integers(0, 10**12 - 1), st.sampled_from(["#", "T-", "ticket "]))
def test_the_subject_token_we_write_is_read_back(subject: str, number: int, prefix: str):
    assert subject_token(f"Re: {subject} [{prefix}{number}]", prefix) == number


@BOUNDED
@given(st.integers(0, 10**9), st.sampled_from(["", "t", "#"]), st.booleans())
def test_the_plus_token_we_write_is_read_back(number: int, marker: str, upper: bool):
    address = f"support+{marker}{number}@support.example.com"

    found = plus_token(
        ["someone@else.example", address.upper() if upper else address],
        ["support@support.example.com"],
        "x.example",
    )

    assert found == number


msgids = st.from_regex(r"<[a-z0-9.]{1,12}@[a-z]{1,8}\.example>", fullmatch=True)


@BOUNDED
@given(st.lists(msgids, max_size=3), st.lists(msgids, max_size=60))
def test_reference_chain_is_unique_bounded_and_strongest_first(in_reply_to, references):
    parsed = ParsedEmail(in_reply_to=in_reply_to, references=references)

    chain = reference_chain(parsed)

    ids = [msgid for _, msgid in chain]
    assert len(ids) == len(set(ids)) <= 40
    expected = list(dict.fromkeys([*in_reply_to, *reversed(references)]))[:40]
    assert ids == expected
    methods = [method for method, _ in chain]
    assert methods == sorted(methods, key=lambda m: m != "in-reply-to")


NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
statuses = st.sampled_from(list(TicketStatus))


@BOUNDED
@given(
    st.lists(
        st.tuples(statuses, st.sampled_from(["cus_a", "cus_b"]), st.integers(0, 40)), min_size=1, max_size=4
    ),
    st.sampled_from([None, "jane@x.example", "eve@x.example"]),
    st.sampled_from([None, "cus_a", "cus_c"]),
    st.booleans(),
)
def test_a_thread_is_only_joined_by_its_customer_or_a_participant(specs, sender, customer_id, automatic):
    tickets = {
        f"t{i}": Ticket(
            id=f"t{i}",
            number=i + 1,
            channel="email",
            status=status,
            customer_id=owner,
            created_at=NOW - timedelta(days=60),
            updated_at=NOW - timedelta(days=days_closed),
            closed_at=NOW - timedelta(days=days_closed) if status == TicketStatus.CLOSED else None,
            participants=["jane@x.example"] if i % 2 == 0 else ["bob@x.example"],
        )
        for i, (status, owner, days_closed) in enumerate(specs)
    }
    candidates = [Candidate(ticket_id=t, method="references", ref=f"<{t}@x>") for t in tickets]

    decision = decide_thread(
        candidates, tickets, sender, customer_id, NOW, timedelta(days=14), automatic, verified=True
    )

    if decision.ticket_id is not None:
        ticket = tickets[decision.ticket_id]
        assert customer_id == ticket.customer_id or sender in ticket.participants
        assert decision.method == "references"
        assert decision.ref == f"<{ticket.id}@x>"
        assert decision.reopen == (
            not automatic
            and ticket.status in {TicketStatus.PENDING, TicketStatus.RESOLVED, TicketStatus.CLOSED}
        )
        assert decision.linked_ticket_id is None
    else:
        assert len(decision.rejected) == len(candidates)
        assert decision.linked_ticket_id == (decision.rejected[0]["ticket_id"] if decision.rejected else None)
