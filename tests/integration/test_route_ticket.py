"""route_ticket on moto: rules, strategies, queues that drain, capacity that is never exceeded."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from shared import clock
from shared.config import load_config
from shared.dal.repository import DynamoRepository
from shared.logic.route_ticket import (
    RoutingContext,
    on_presence,
    overflow_queues,
    release_load,
    route_new_ticket,
)
from simulator.events import stream_record
from simulator.filters import matches_any, parse_pattern
from simulator.resources import Deployment
from tests.integration.conftest import EmailHarness, FakeLambdaContext, mail, use_config

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

CONFIG = """
teams:
  - {id: support, strategy: least_loaded, fallback_team: overflow, overflow_after_minutes: 30}
  - {id: vip, strategy: sticky}
  - {id: overflow}
agents:
  - {id: alice, teams: [support], capacity: {email: 1, sms: 1, social: 1}}
  - {id: bob, teams: [support], capacity: {email: 1, sms: 1, social: 1}}
  - {id: vera, teams: [vip], capacity: {email: 5, sms: 1, social: 1}}
  - {id: olga, teams: [overflow], capacity: {email: 5, sms: 1, social: 1}}
customers:
  - {email_domains: [bigcorp.example], tier: vip}
routing:
  default_team: support
  rules:
    - {name: vip, when: {customer_tier: [vip]}, then: {team: vip, priority: urgent, tags: [vip]}}
    - {name: urgent-words, when: {keywords: [down, outage]}, then: {team: support, priority: high}}
"""


@pytest.fixture
def routing(email: EmailHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RoutingContext]:
    config = use_config(CONFIG, tmp_path, monkeypatch)
    from functions.route_ticket import app

    app._routing_context.cache_clear()
    yield RoutingContext(repository=email.repository, config=config)
    app._routing_context.cache_clear()


def online(repo: DynamoRepository, *agents: str) -> None:
    config = load_config(os.environ["HELPDESK_CONFIG"])
    for agent in agents:
        teams = next(a.teams for a in config.agents if a.id == agent)
        repo.set_presence(agent, "online", teams, NOW)


def new_ticket(email: EmailHarness, **kwargs: Any):
    result = email.deliver(mail(**kwargs))
    ticket = email.repository.get_ticket(result["ticket_id"])
    assert ticket is not None
    return ticket


def events_of(repo: DynamoRepository, ticket_id: str, kind: str) -> list[dict[str, Any]]:
    return [e.data for e in repo.list_events(ticket_id) if e.type == kind]


def loads(repo: DynamoRepository) -> dict[str, dict[str, int]]:
    return {a.id: a.load for a in repo.get_agents(["alice", "bob", "vera", "olga"]).values()}


def test_new_ticket_goes_to_least_loaded_online_agent_with_reasons(email, routing) -> None:
    online(email.repository, "alice", "bob")
    first = route_new_ticket(new_ticket(email, subject="Server down!"), routing, NOW)
    second = route_new_ticket(new_ticket(email, subject="Another question"), routing, NOW)
    assert (first.outcome, second.outcome) == ("assigned", "assigned")
    assert {first.agent, second.agent} == {"alice", "bob"}
    ticket = email.repository.get_ticket(first.ticket_id)
    assert ticket is not None
    assert (ticket.team, ticket.priority, ticket.assignee) == ("support", "high", first.agent)
    [routed] = events_of(email.repository, ticket.id, "routed")
    assert routed["rule"] == "urgent-words"
    assert routed["reasons"] == ["keyword of ['down', 'outage']"]
    assert {c["agent"] for c in routed["considered"]} == {"alice", "bob"}


def test_vip_customer_is_routed_by_tier(email, routing) -> None:
    online(email.repository, "vera")
    outcome = route_new_ticket(new_ticket(email, sender="ceo@bigcorp.example"), routing, NOW)
    ticket = email.repository.get_ticket(outcome.ticket_id)
    assert ticket is not None
    assert (ticket.team, ticket.assignee, ticket.priority, ticket.tags) == ("vip", "vera", "urgent", ["vip"])


def test_no_free_agent_queues_by_priority_then_waiting_time_and_drains_when_one_comes_online(
    email, routing
) -> None:
    # Given nobody online: three tickets wait, one of them urgent-ish
    calm = route_new_ticket(new_ticket(email, subject="question"), routing, NOW)
    later = route_new_ticket(new_ticket(email, subject="another"), routing, NOW + timedelta(minutes=1))
    loud = route_new_ticket(new_ticket(email, subject="outage now"), routing, NOW + timedelta(minutes=2))
    assert {calm.outcome, later.outcome, loud.outcome} == {"queued"}
    queue = email.repository.list_queue("support")
    assert [e.ticket_id for e in queue] == [loud.ticket_id, calm.ticket_id, later.ticket_id]
    [queued] = events_of(email.repository, calm.ticket_id, "queued")
    assert {c["skipped"] for c in queued["considered"]} == {"presence offline"}

    # When alice comes online (capacity 1)
    online(email.repository, "alice")
    drained = on_presence("alice", routing, NOW + timedelta(minutes=5))

    # Then the most urgent waiting ticket is hers, the rest still wait
    assert [(o.ticket_id, o.agent) for o in drained] == [(loud.ticket_id, "alice")]
    assert [e.ticket_id for e in email.repository.list_queue("support")] == [calm.ticket_id, later.ticket_id]
    [drain_event] = events_of(email.repository, loud.ticket_id, "routed")
    assert drain_event["from_queue"] is True
    assert drain_event["waited_seconds"] == 180.0


def test_resolving_gives_capacity_back_and_the_queue_drains(email, routing) -> None:
    online(email.repository, "alice")
    held = route_new_ticket(new_ticket(email, subject="one"), routing, NOW)
    waiting = route_new_ticket(new_ticket(email, subject="two"), routing, NOW)
    assert (held.outcome, waiting.outcome) == ("assigned", "queued")
    assert loads(email.repository)["alice"]["email"] == 1

    ticket = email.repository.get_ticket(held.ticket_id)
    assert ticket is not None
    email.repository.set_status(ticket.id, "resolved", NOW, ticket.version)
    resolved = email.repository.get_ticket(held.ticket_id)
    assert resolved is not None
    outcomes = release_load(resolved, routing, NOW + timedelta(minutes=1))

    assert [o.outcome for o in outcomes] == ["released", "assigned"]
    assert email.repository.get_ticket(waiting.ticket_id).assignee == "alice"  # type: ignore[union-attr]
    assert loads(email.repository)["alice"]["email"] == 1
    again = email.repository.get_ticket(held.ticket_id)
    assert again is not None
    assert again.load_holder is None
    # a re-delivered record changes nothing
    assert [o.outcome for o in release_load(resolved, routing, NOW + timedelta(minutes=2))] == []
    assert loads(email.repository)["alice"]["email"] == 1


def test_queue_overflows_to_the_fallback_team_after_its_time(email, routing) -> None:
    online(email.repository, "olga")
    waiting = route_new_ticket(new_ticket(email, subject="stuck"), routing, NOW)
    assert waiting.outcome == "queued"
    assert overflow_queues(routing, NOW + timedelta(minutes=10)) == []
    moved = overflow_queues(routing, NOW + timedelta(minutes=31))
    assert [(o.outcome, o.agent) for o in moved] == [("overflowed", None), ("assigned", "olga")]
    ticket = email.repository.get_ticket(waiting.ticket_id)
    assert ticket is not None
    assert (ticket.team, ticket.assignee) == ("overflow", "olga")


def test_a_redelivered_new_ticket_record_never_assigns_twice(email, routing) -> None:
    online(email.repository, "alice", "bob")
    ticket = new_ticket(email)
    outcomes = [route_new_ticket(ticket, routing, NOW).outcome for _ in range(3)]
    assert outcomes == ["assigned", "already", "already"]
    assert sum(load.get("email", 0) for load in loads(email.repository).values()) == 1


def test_many_routers_racing_for_few_agents_never_exceed_capacity(
    email, routing, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 12 new tickets and two agents of capacity 1, all routers reading state before anyone claims
    online(email.repository, "alice", "bob")
    tickets = [new_ticket(email, subject=f"race {i}") for i in range(12)]

    # DynamoDB applies each request atomically; moto's in-memory backend does not under threads,
    # so each request is made atomic here. Routers still interleave between their reads and writes.
    from botocore.client import BaseClient

    request_lock = threading.Lock()
    original = getattr(BaseClient, "_make_api_call")  # noqa: B009 - private botocore hook, patched for this test

    def atomic_call(self, operation_name, api_params):  # type: ignore[no-untyped-def]
        with request_lock:
            return original(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", atomic_call)
    barrier = threading.Barrier(6)

    def router(batch: list) -> list[str]:
        barrier.wait()  # all routers start together and read agent state before the others claim
        return [route_new_ticket(ticket, routing, NOW).outcome for ticket in batch]

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = [o for batch in pool.map(router, [tickets[i::6] for i in range(6)]) for o in batch]

    # Then exactly two are assigned, the others wait, and no agent holds more than its capacity
    assert outcomes.count("assigned") == 2
    assert outcomes.count("queued") == 10
    assert loads(email.repository) == {
        "alice": {"email": 1, "sms": 0, "social": 0},
        "bob": {"email": 1, "sms": 0, "social": 0},
    }
    assigned = [t for t in email.repository.scan_tickets() if t.assignee]
    assert sorted(t.assignee for t in assigned) == ["alice", "bob"]


def _stream_event(
    deployment: Deployment, cursor: dict[str, str], function: str = "RouteTicketFunction"
) -> dict[str, Any]:
    """New stream records, filtered by the function's template filters, shaped as Lambda sends them.

    Each read takes a fresh iterator after the last sequence number in `cursor`: moto replaces the
    stream when a transaction is cancelled, and an older iterator would miss later records."""
    streams = boto3.client("dynamodbstreams")
    arn = deployment.stack.get_att("TicketsTable", "StreamArn")
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    after = cursor.get("sequence")
    iterator = (
        streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard, ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after
        )
        if after
        else streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    )["ShardIterator"]
    raw = streams.get_records(ShardIterator=iterator)["Records"]
    if raw:
        cursor["sequence"] = raw[-1]["dynamodb"]["SequenceNumber"]
    trigger = next(t for t in deployment.functions[function].triggers if t.type == "DynamoDB")
    patterns = [parse_pattern(f["Pattern"]) for f in trigger.properties["FilterCriteria"]["Filters"]]
    records = [stream_record(r, arn, clock.now()) for r in raw]
    return {"Records": [r for r in records if matches_any(patterns, r)]}


def test_handler_routes_from_the_filtered_stream_and_reports_no_failures(email, routing, deployment) -> None:
    from functions.route_ticket import app

    clock.set_clock(lambda: NOW)
    cursor: dict[str, str] = {}
    _stream_event(deployment, cursor)  # skip what happened before
    email.deliver(mail(subject="printer down"))
    event = _stream_event(deployment, cursor)
    # only the ticket's and its message's INSERTs pass the filters (not events, pointers...)
    assert sorted(r["dynamodb"]["Keys"]["sk"]["S"][:4] for r in event["Records"]) == ["MSG#", "TICK"]

    result = app.handler(event, FakeLambdaContext())
    assert result == {"batchItemFailures": []}
    [ticket] = email.repository.scan_tickets()
    assert ticket.team == "support"
    assert ticket.queued_at is not None  # nobody online in this config

    # an agent coming online is a stream record too: the queue drains
    online(email.repository, "bob")
    result = app.handler(_stream_event(deployment, cursor), FakeLambdaContext())
    assert result == {"batchItemFailures": []}
    assert email.repository.get_ticket(ticket.id).assignee == "bob"  # type: ignore[union-attr]


def test_scheduled_invocation_runs_overflow(email, routing) -> None:
    from functions.route_ticket import app

    clock.set_clock(lambda: NOW + timedelta(hours=1))
    online(email.repository, "olga")
    waiting = route_new_ticket(new_ticket(email), routing, NOW)
    result = app.handler(
        {"scheduledTime": "2026-03-02T11:00:00Z", "task": "queue-overflow"}, FakeLambdaContext()
    )
    assert result == {"overflowed": 1, "assigned": 1}
    assert email.repository.get_ticket(waiting.ticket_id).assignee == "olga"  # type: ignore[union-attr]


def test_a_view_write_refused_for_good_is_quarantined_and_routing_and_search_go_on(
    email, routing, deployment, monkeypatch
) -> None:
    from functions.route_ticket import app
    from shared.dal.quarantine import QuarantineQuery
    from shared.dal.views import DynamoViews
    from shared.errors import PermanentWriteError
    from shared.logic.quarantine_review import NotReleasableError, release_entry

    # Given DynamoDB refuses every views write for good (as for an entry over 400 KB)
    def refuse(self: DynamoViews, changes: object) -> bool:
        raise PermanentWriteError("DynamoDB refused the write: ValidationException: Item size has exceeded")

    monkeypatch.setattr(DynamoViews, "apply_view_changes", refuse)
    clock.set_clock(lambda: NOW)
    cursor: dict[str, str] = {}
    _stream_event(deployment, cursor)
    online(email.repository, "alice")
    email.deliver(mail(subject="refund for invoice 1234"))
    event = _stream_event(deployment, cursor)

    # When the stream records arrive, twice (a redelivered batch)
    first = app.handler(event, FakeLambdaContext())
    again = app.handler(event, FakeLambdaContext())

    # Then no record fails, the ticket is routed and searchable, and the refused record is kept once
    assert first == again == {"batchItemFailures": []}
    [ticket] = email.repository.scan_tickets()
    assert ticket.assignee == "alice"
    assert email.repository.search_state(ticket.id) is not None
    page = email.repository.list_quarantine_page(QuarantineQuery(limit=10, reason="views-refused"))
    [entry] = page.entries
    assert entry.details["kind"] == "stream_record"
    assert "Item size has exceeded" in entry.details["error"]
    [raw_ticket_record] = [r for r in event["Records"] if r["dynamodb"]["Keys"]["sk"]["S"] == "TICKET"]
    assert json.loads(entry.details["raw"]) == raw_ticket_record
    # and it cannot be released as if it were a customer's message
    with pytest.raises(NotReleasableError, match="views projection"):
        release_entry(entry.id, "sam", email.repository, None, NOW)


def test_a_view_write_that_may_succeed_later_fails_the_record_for_a_retry(
    email, routing, deployment, monkeypatch
) -> None:
    from functions.route_ticket import app
    from shared.dal.views import DynamoViews

    # Given the views write fails in a way another try may not (throttling, an outage)
    def throttled(self: DynamoViews, changes: object) -> bool:
        raise RuntimeError("ProvisionedThroughputExceededException")

    monkeypatch.setattr(DynamoViews, "apply_view_changes", throttled)
    clock.set_clock(lambda: NOW)
    cursor: dict[str, str] = {}
    _stream_event(deployment, cursor)
    email.deliver(mail(subject="printer down"))
    event = _stream_event(deployment, cursor)

    result = app.handler(event, FakeLambdaContext())

    # Then the ticket's record is reported failed (Lambda retries it), and nothing is quarantined
    [ticket_record] = [r for r in event["Records"] if r["dynamodb"]["Keys"]["sk"]["S"] == "TICKET"]
    assert result == {"batchItemFailures": [{"itemIdentifier": ticket_record["dynamodb"]["SequenceNumber"]}]}


def _sort_keys(event: dict[str, Any]) -> list[str]:
    return [r["dynamodb"]["Keys"]["sk"]["S"] for r in event["Records"]]


def test_only_an_agent_coming_online_passes_the_filter_not_the_writes_of_their_claims(
    email, routing, deployment
) -> None:
    from functions.route_ticket import app

    clock.set_clock(lambda: NOW)
    cursor: dict[str, str] = {}
    _stream_event(deployment, cursor)
    # Given bob's first presence: online (the item's INSERT) passes the filter
    online(email.repository, "bob")
    event = _stream_event(deployment, cursor)
    assert _sort_keys(event) == ["AGENT"]
    assert app.handler(event, FakeLambdaContext()) == {"batchItemFailures": []}

    # When a new ticket is routed to him from the stream (the claim rewrites his item, still online)
    email.deliver(mail(subject="printer down"))
    assert app.handler(_stream_event(deployment, cursor), FakeLambdaContext()) == {"batchItemFailures": []}
    [ticket] = email.repository.scan_tickets()
    assert ticket.assignee == "bob"

    # Then the claim's write of bob's item does not reach route_ticket: it drains nothing
    assert "AGENT" not in _sort_keys(_stream_event(deployment, cursor))
    # and going away does not either, while coming back online does
    email.repository.set_presence("bob", "away", ["support"], NOW)
    assert "AGENT" not in _sort_keys(_stream_event(deployment, cursor))
    online(email.repository, "bob")
    assert _sort_keys(_stream_event(deployment, cursor)) == ["AGENT"]
