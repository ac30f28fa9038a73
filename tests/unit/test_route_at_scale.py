"""Routing with big teams (decision 123): a decision reads a bounded pool of agents, a batch reads
each agent once, a lost claim moves on to the next candidate, and the stored routing event stays
small whatever the team's size while still saying why its agent was chosen."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.heat.sizes import MAX_ITEM_BYTES, item_size
from shared.dal.agents import AgentLive, RoutingChanges
from shared.dal.tickets import event_items
from shared.logic.route_ticket import AgentCache, RoutingContext, drain_team, route_new_ticket
from shared.logic.routing import (
    CANDIDATE_READS,
    EVENT_CANDIDATES,
    NOT_READ,
    AgentState,
    Candidates,
    candidate_pool,
    event_considered,
    rank_agents,
)
from shared.models.config import HelpdeskConfig
from tests.fakes import MemoryRepository
from tests.fakes.seeds import email_ticket

CREATED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOW = CREATED + timedelta(minutes=1)


@lru_cache(maxsize=8)
def team_config(agents: int, skilled_every: int = 1) -> HelpdeskConfig:
    """One least-loaded team of `agents` agents; every `skilled_every`-th speaks German. (Validated
    from a mapping: YAML would take a minute to parse 10,000 agents.)"""
    capacity = {"email": 5, "sms": 1, "social": 1}
    return HelpdeskConfig.model_validate(
        {
            "teams": [{"id": "support", "strategy": "least_loaded"}],
            "agents": [
                {
                    "id": f"a{n:05d}",
                    "teams": ["support"],
                    "skills": ["de"] if n % skilled_every == 0 else [],
                    "capacity": capacity,
                }
                for n in range(agents)
            ],
            "routing": {"default_team": "support"},
        }
    )


class CountingRepository(MemoryRepository):
    """The in-memory stores, counting the agents each read asks for."""

    def __init__(self) -> None:
        super().__init__()
        self.agent_reads: list[int] = []

    def get_agents(self, agent_ids: Sequence[str]) -> dict[str, AgentLive]:
        self.agent_reads.append(len(agent_ids))
        return super().get_agents(agent_ids)


def online(repo: MemoryRepository, agent: str, holding: int = 0) -> None:
    repo.set_presence(agent, "online", ["support"], CREATED)
    for index in range(holding):
        held = email_ticket(repo, f"held-{agent}-{index}", CREATED, customer_id=f"c-held-{agent}")
        changes = RoutingChanges(team="support", priority="normal", tags=[], skills=[])
        repo.claim(held.id, agent, "email", None, changes, [], CREATED)


def test_a_ten_thousand_agent_team_reads_one_pool_and_stores_a_small_event_that_explains_it() -> None:
    # Given a team of 10,000 agents, every third one online, some of them busy
    config = team_config(10_000)
    repo = CountingRepository()
    for n in range(0, 10_000, 3):
        online(repo, f"a{n:05d}", holding=5 if n % 30 == 3 else 0)
    ticket = email_ticket(repo, "t1", CREATED, customer_id="c-1")
    repo.agent_reads.clear()

    # When a new ticket is routed
    outcome = route_new_ticket(ticket, RoutingContext(repository=repo, config=config), NOW)

    # Then one read of at most CANDIDATE_READS agents decided it
    assert outcome.outcome == "assigned"
    assert repo.agent_reads == [CANDIDATE_READS]
    # and the stored event is far under DynamoDB's 400 KB item limit (the whole team listed would
    # take about 71 bytes an agent: some 700 KB)
    [routed] = [e for e in repo.list_events("t1") if e.type == "routed"]
    [item] = event_items("t1", [routed])
    size = item_size(item.serialize())
    assert size < 4_096 <= MAX_ITEM_BYTES // 100
    # and it explains the decision: the chosen agent heads the rows, the counts cover the team
    data = routed.data
    assert len(data["considered"]) == EVENT_CANDIDATES
    assert data["considered"][0] == {"agent": outcome.agent, "load": "0/5", "skipped": None}
    assert data["agents_total"] == 10_000
    counts = data["skipped_counts"]
    assert data["eligible_total"] + sum(counts.values()) == 10_000
    assert counts[NOT_READ] == 10_000 - CANDIDATE_READS
    assert set(counts) <= {NOT_READ, "presence offline", "at capacity (email)"}


def test_a_small_team_is_listed_whole_as_before() -> None:
    config = team_config(3)
    states = {"a00000": AgentState("a00000", "online"), "a00001": AgentState("a00001", "away")}
    ranked = rank_agents(config.teams[0], config, states, "email", [], [], NOW)

    assert event_considered(ranked) == {
        "considered": [
            {"agent": "a00000", "load": "0/5", "skipped": None},
            {"agent": "a00001", "load": "0/5", "skipped": "presence away"},
            {"agent": "a00002", "load": "0/5", "skipped": "presence offline"},
        ]
    }


def test_a_big_team_lists_its_best_candidates_in_order_then_skipped_agents_to_fill() -> None:
    rows = [
        {"agent": f"x{n}", "load": "0/1", "skipped": None if n < 3 else f"at capacity ({n}/{n} sms)"}
        for n in range(30)
    ]
    shown = event_considered(Candidates(ordered=["x2", "x0", "x1"], considered=rows), limit=5)

    assert [row["agent"] for row in shown["considered"]] == ["x2", "x0", "x1", "x3", "x4"]
    assert shown["skipped_counts"] == {"at capacity (sms)": 27}
    assert (shown["agents_total"], shown["eligible_total"]) == (30, 3)


def test_a_batch_reads_each_agent_once_and_keeps_their_load_current() -> None:
    # Given a team of three online agents and a batch's agent cache
    config = team_config(3)
    repo = CountingRepository()
    for n in range(3):
        online(repo, f"a{n:05d}")
    ctx = RoutingContext(repository=repo, config=config, agents=AgentCache())
    tickets = [email_ticket(repo, f"t{n}", CREATED, customer_id=f"c-{n}") for n in range(6)]
    repo.agent_reads.clear()

    # When six tickets are routed in the batch
    outcomes = [route_new_ticket(ticket, ctx, NOW) for ticket in tickets]

    # Then the team was read once, and least-loaded spread the tickets two each
    assert repo.agent_reads == [3]
    assert sorted(o.agent or "" for o in outcomes) == [
        "a00000",
        "a00000",
        "a00001",
        "a00001",
        "a00002",
        "a00002",
    ]
    assert {a: live.load["email"] for a, live in repo.get_agents(["a00000", "a00001", "a00002"]).items()} == {
        "a00000": 2,
        "a00001": 2,
        "a00002": 2,
    }


def test_a_claim_lost_to_another_router_moves_to_the_next_candidate_and_reads_the_agent_again() -> None:
    # Given a batch that read a00000 free, then another router filled a00000 to capacity
    config = team_config(2)
    repo = CountingRepository()
    online(repo, "a00000")
    online(repo, "a00001", holding=2)  # 2/5: a00000 (1/5 after t0) comes first
    ctx = RoutingContext(repository=repo, config=config, agents=AgentCache())
    route_new_ticket(email_ticket(repo, "t0", CREATED, customer_id="c-0"), ctx, NOW)  # a00000: 1/5
    changes = RoutingChanges(team="support", priority="normal", tags=[], skills=[])
    for n in range(4):
        held = email_ticket(repo, f"other-{n}", CREATED, customer_id="c-other")
        repo.claim(held.id, "a00000", "email", 5, changes, [], NOW)
    repo.agent_reads.clear()

    # When the batch routes the next ticket
    outcome = route_new_ticket(email_ticket(repo, "t1", CREATED, customer_id="c-1"), ctx, NOW)

    # Then the claim on a00000 fails its condition, a00001 takes the ticket, capacity holds
    assert (outcome.agent, outcome.details["lost_claims"]) == ("a00001", ["a00000"])
    assert repo.get_agents(["a00000"])["a00000"].load["email"] == 5
    # and the next decision reads a00000 again, finding them full
    repo.agent_reads.clear()
    third = route_new_ticket(email_ticket(repo, "t2", CREATED, customer_id="c-2"), ctx, NOW)
    assert repo.agent_reads == [1]
    assert third.agent == "a00001"
    assert "lost_claims" not in third.details


def test_draining_an_empty_queue_reads_no_agent() -> None:
    config = team_config(3)
    repo = CountingRepository()
    online(repo, "a00000")
    repo.agent_reads.clear()

    assert drain_team("support", RoutingContext(repository=repo, config=config), NOW, "a00000") == []
    assert repo.agent_reads == []


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(min_value=1, max_value=300),
    skilled_every=st.integers(min_value=1, max_value=4),
    limit=st.integers(min_value=1, max_value=120),
    prefer=st.lists(st.integers(min_value=0, max_value=400), max_size=5),
    seed=st.text(max_size=12),
)
def test_the_candidate_pool_is_bounded_skilled_and_puts_preferred_agents_first(
    size: int, skilled_every: int, limit: int, prefer: list[int], seed: str
) -> None:
    config = team_config(size, skilled_every)
    members = [a.id for a in config.agents]
    preferred = [f"a{n:05d}" for n in prefer]

    pool = candidate_pool(config.teams[0], config, ["de"], preferred, NOW, seed, limit)

    assert len(pool) == len(set(pool))
    if size <= limit:
        assert pool == members  # a small team is read whole
        return
    able = [a.id for a in config.agents if "de" in a.skills]
    assert set(pool) <= set(able)
    assert len(pool) == min(limit, len(able))
    wanted = [a for a in dict.fromkeys(preferred) if a in able][:limit]
    assert pool[: len(wanted)] == wanted


REASONS = [
    "presence offline",
    "presence away",
    "at capacity (2/2 email)",
    "at capacity (5/5 email)",
    NOT_READ,
]


@settings(max_examples=80, deadline=None)
@given(
    skipped=st.lists(st.sampled_from([None, *REASONS]), max_size=60),
    limit=st.integers(min_value=1, max_value=15),
)
def test_a_routing_event_is_bounded_keeps_the_best_candidates_and_counts_everyone(
    skipped: list[str | None], limit: int
) -> None:
    rows = [{"agent": f"x{n}", "load": "0/2", "skipped": why} for n, why in enumerate(skipped)]
    # the strategy's order (any: here the team's, reversed)
    ordered = [f"x{n}" for n in reversed(range(len(skipped))) if skipped[n] is None]

    shown = event_considered(Candidates(ordered=ordered, considered=rows), limit)

    assert len(shown["considered"]) <= limit
    if len(rows) <= limit:
        assert shown == {"considered": rows}
        return
    listed = [row["agent"] for row in shown["considered"]]
    assert listed[: min(limit, len(ordered))] == ordered[:limit]
    assert len(set(listed)) == len(listed)
    assert shown["agents_total"] == len(rows)
    assert shown["eligible_total"] + sum(shown["skipped_counts"].values()) == len(rows)
    assert "at capacity (email)" in shown["skipped_counts"] or not any(
        (why or "").startswith("at capacity") for why in skipped
    )
