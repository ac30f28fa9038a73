"""Tickets whose stream record route_ticket gave up on (too old, or failed on every retry) are routed
by the SLA sweeper a few minutes later, with an event saying why, and planned like any other."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared import clock
from shared.logic.route_ticket import RoutingContext, route_new_ticket
from simulator.resources import Deployment
from tests.fakes.deadlines import all_unrouted
from tests.integration.conftest import EmailHarness, FakeLambdaContext, mail, run_sweep, use_config
from tests.integration.test_route_ticket import _stream_event

CREATED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

CONFIG = """
teams:
  - {id: support}
agents:
  - {id: alice, teams: [support], default_presence: online, capacity: {email: 3, sms: 1, social: 1}}
routing:
  unrouted_after_minutes: 5
sla:
  policies:
    - name: email
      when: {channel: [email]}
      first_response: {minutes: 60, business: false}
"""


@pytest.fixture
def helpdesk(email: EmailHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EmailHarness:
    use_config(CONFIG, tmp_path, monkeypatch)
    return email


def sweep_at(moment: datetime) -> dict[str, Any]:
    return run_sweep(moment)


def types(email: EmailHarness, ticket_id: str) -> list[str]:
    return [e.type for e in email.repository.list_events(ticket_id)]


def test_a_ticket_whose_stream_record_was_lost_is_routed_and_planned_by_the_sweeper(
    helpdesk: EmailHarness, deployment: Deployment
) -> None:
    # Given a new ticket whose INSERT record never reached route_ticket
    ticket_id = helpdesk.deliver(mail(), at=clock.iso(CREATED))["ticket_id"]

    # When the sweeper runs before the unrouted time, it leaves the ticket to route_ticket
    assert sweep_at(CREATED + timedelta(minutes=4))["routed_by_sweep"] == 0
    waiting = helpdesk.repository.get_ticket(ticket_id)
    assert waiting is not None
    assert (waiting.team, waiting.assignee) == (None, None)

    # Then after it, the ticket is routed like route_ticket would have, and its SLA counts from creation
    assert sweep_at(CREATED + timedelta(minutes=6))["routed_by_sweep"] == 1
    routed = helpdesk.repository.get_ticket(ticket_id)
    assert routed is not None
    assert (routed.team, routed.assignee, routed.sla.policy) == ("support", "alice", "email")
    first = routed.sla.target("first_response")
    assert first is not None
    assert first.due_at == CREATED + timedelta(minutes=60)
    history = [
        e for e in helpdesk.repository.list_events(ticket_id) if e.type in ("routed_by_sweep", "routed")
    ]
    assert [e.type for e in history] == ["routed_by_sweep", "routed"]
    assert history[0].data["unrouted_after_minutes"] == 5
    assert "6 minutes after the ticket was created" in history[0].data["why"]
    assert history[1].data["agent"] == "alice"

    # And later sweeps find nothing more to route
    assert sweep_at(CREATED + timedelta(minutes=7))["routed_by_sweep"] == 0
    assert types(helpdesk, ticket_id).count("routed_by_sweep") == 1
    # and its planned deadline is now what the SLA sweep watches
    assert sweep_at(CREATED + timedelta(minutes=61))["breaches"] == 1


def test_a_late_stream_delivery_after_the_sweep_does_not_route_twice(
    helpdesk: EmailHarness, deployment: Deployment
) -> None:
    from functions.route_ticket import app

    cursor: dict[str, str] = {}
    _stream_event(deployment, cursor)  # what happened before
    ticket_id = helpdesk.deliver(mail(), at=clock.iso(CREATED))["ticket_id"]
    late = _stream_event(deployment, cursor)  # the INSERT records, held back (a retry in progress)
    assert sorted(r["dynamodb"]["Keys"]["sk"]["S"][:4] for r in late["Records"]) == ["MSG#", "TICK"]

    assert sweep_at(CREATED + timedelta(minutes=6))["routed_by_sweep"] == 1
    clock.set_clock(lambda: CREATED + timedelta(minutes=8))
    assert app.handler(late, FakeLambdaContext()) == {"batchItemFailures": []}

    assert types(helpdesk, ticket_id).count("routed") == 1
    assert helpdesk.repository.get_agents(["alice"])["alice"].load["email"] == 1


def test_tickets_routed_from_the_stream_are_not_swept(helpdesk: EmailHarness, deployment: Deployment) -> None:
    from functions.route_ticket import app

    cursor: dict[str, str] = {}
    _stream_event(deployment, cursor)
    ticket_id = helpdesk.deliver(mail(), at=clock.iso(CREATED))["ticket_id"]
    clock.set_clock(lambda: CREATED + timedelta(seconds=2))
    assert app.handler(_stream_event(deployment, cursor), FakeLambdaContext()) == {"batchItemFailures": []}

    assert sweep_at(CREATED + timedelta(minutes=30))["routed_by_sweep"] == 0
    assert "routed_by_sweep" not in types(helpdesk, ticket_id)
    assert all_unrouted(helpdesk.repository, CREATED + timedelta(days=1)) == []


def test_routing_without_an_sla_policy_also_leaves_the_unrouted_index(
    email: EmailHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = use_config(CONFIG.split("sla:")[0], tmp_path, monkeypatch)
    ticket_id = email.deliver(mail(), at=clock.iso(CREATED))["ticket_id"]
    assert [t.id for t in all_unrouted(email.repository, CREATED)] == [ticket_id]

    ticket = email.repository.get_ticket(ticket_id)
    assert ticket is not None
    outcome = route_new_ticket(ticket, RoutingContext(email.repository, config), CREATED)

    assert outcome.outcome == "assigned"
    assert all_unrouted(email.repository, CREATED + timedelta(days=1)) == []


def test_with_no_team_configured_the_sweep_records_it_once(
    email: EmailHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_config("routing: {unrouted_after_minutes: 5}\n", tmp_path, monkeypatch)
    ticket_id = email.deliver(mail(), at=clock.iso(CREATED))["ticket_id"]

    assert sweep_at(CREATED + timedelta(minutes=6))["routed_by_sweep"] == 1
    assert sweep_at(CREATED + timedelta(minutes=7))["routed_by_sweep"] == 0

    assert types(email, ticket_id).count("routed_by_sweep") == 1
    [queued] = [e.data for e in email.repository.list_events(ticket_id) if e.type == "queued"]
    assert (queued["team"], queued["why"]) == (None, "no team configured")


def test_a_ticket_that_cannot_be_routed_fails_the_run_without_holding_up_the_others(
    helpdesk: EmailHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.dal.repository import DynamoRepository
    from shared.errors import ConflictError
    from shared.logic.route_ticket import UnroutedSweepError

    # Given two tickets left unrouted, the first of which cannot be written for now
    stuck = helpdesk.deliver(mail(subject="First"), at=clock.iso(CREATED))["ticket_id"]
    other = helpdesk.deliver(mail(subject="Second"), at=clock.iso(CREATED + timedelta(seconds=1)))[
        "ticket_id"
    ]
    claim = DynamoRepository.claim

    def failing_for_stuck(self: DynamoRepository, ticket_id: str, *args: Any, **kwargs: Any) -> None:
        if ticket_id == stuck:
            raise ConflictError("throttled")
        claim(self, ticket_id, *args, **kwargs)

    monkeypatch.setattr(DynamoRepository, "claim", failing_for_stuck)

    # When the sweeper runs, the stuck ticket's task fails (so the Errors alarm fires, and the queue
    # retries it, then dead-letters it), and the other one is routed all the same
    [error] = sweep_at(CREATED + timedelta(minutes=6))["errors"]
    assert isinstance(error, UnroutedSweepError)
    assert stuck in str(error)
    routed = helpdesk.repository.get_ticket(other)
    assert routed is not None
    assert routed.assignee == "alice"
    assert [t.id for t in all_unrouted(helpdesk.repository, CREATED + timedelta(minutes=6))] == [stuck]
    assert "routed_by_sweep" not in types(helpdesk, stuck)  # nothing half-written

    # Then the next sweep, with the cause gone, routes it once
    monkeypatch.setattr(DynamoRepository, "claim", claim)
    assert sweep_at(CREATED + timedelta(minutes=7))["routed_by_sweep"] == 1
    assert types(helpdesk, stuck).count("routed_by_sweep") == 1
