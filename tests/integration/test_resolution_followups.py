"""A ticket's survey (and, for SMS and social tickets, its transcript) follows every resolution, by
whoever resolves it, from the stream: once, however often the change is delivered."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3

from shared import clock
from shared.config import load_config
from shared.logic.agent_actions import AgentContext, TicketChangeRequest, update_ticket
from simulator.resources import Deployment
from tests.integration.conftest import EmailHarness, FakeLambdaContext, _reset_process_caches, mail
from tests.integration.test_route_ticket import _stream_event

NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def deliver_to_auto_followup(deployment: Deployment, cursor: dict[str, str]) -> list[dict[str, Any]]:
    """Hand the new stream records that pass auto_followup's filters to its handler; return them."""
    from functions.auto_followup import app

    event = _stream_event(deployment, cursor, "AutoFollowupFunction")
    if event["Records"]:
        assert app.handler(event, FakeLambdaContext()) == {"batchItemFailures": []}
    records: list[dict[str, Any]] = event["Records"]
    return records


def test_a_resolution_sends_the_survey_once_even_when_the_stream_repeats_it(
    email: EmailHarness, deployment: Deployment
) -> None:
    from functions.auto_followup import app

    _reset_process_caches()
    app._outbound_context.cache_clear()
    boto3.client("ses").verify_domain_identity(Domain="support.example.com")
    clock.set_clock(lambda: NOON)
    ticket = email.repository.get_ticket(email.deliver(mail(), at=clock.iso(NOON))["ticket_id"])
    assert ticket is not None
    cursor: dict[str, str] = {}
    while deliver_to_auto_followup(deployment, cursor):  # the acknowledgement, queued and sent
        pass

    # When an agent resolves the ticket, and the stream delivers that change twice
    agents = AgentContext(repository=email.repository, config=load_config(None))
    update_ticket(str(ticket.number), TicketChangeRequest(status="resolved"), "alice", agents, NOON)
    resolved = _stream_event(deployment, dict(cursor), "AutoFollowupFunction")
    assert [r["dynamodb"]["NewImage"]["status"]["S"] for r in resolved["Records"]] == ["resolved"]
    while deliver_to_auto_followup(deployment, cursor):
        pass
    assert app.handler(resolved, FakeLambdaContext()) == {"batchItemFailures": []}  # a redelivery

    # Then exactly one survey went out; a later change of the resolved ticket asks nothing more
    surveys = [o for o in email.repository.list_outbound() if o.kind == "csat"]
    assert [s.status for s in surveys] == ["sent"]
    update_ticket(str(ticket.number), TicketChangeRequest(tags_add=["printer"]), "alice", agents, NOON)
    assert deliver_to_auto_followup(deployment, cursor) == []  # filtered out: no longer a transition
