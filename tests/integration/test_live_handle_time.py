"""Handle time from presence, end to end on moto: agents say on the live socket that they view or
compose on a ticket (functions/live), the viewer items' stream records reach route_ticket, which
keeps each finished span as the ticket's `worked` event; that event's own record brings the report
ledger up to date, and GET /reports (the reports function) answers with the agents' handle time."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shared import clock
from simulator.resources import Deployment
from tests.integration.conftest import EmailHarness, FakeLambdaContext, mail
from tests.integration.test_live import T0, connect, id_token, live, ws_event
from tests.integration.test_route_ticket import _stream_event

__all__ = ["live"]  # the fixture, shared with test_live

TTL_DELETE = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


@pytest.fixture
def desk(
    live: EmailHarness, deployment: Deployment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> EmailHarness:
    for name, value in deployment.functions["ReportsFunction"].environment.items():
        monkeypatch.setenv(name, value)
    return live


def at(minutes: float) -> None:
    clock.set_clock(lambda: T0 + timedelta(minutes=minutes))


def say(connection_id: str, state: str, ticket_id: str) -> int:
    from functions.live import app

    body = json.dumps({"action": "presence", "ticket_id": ticket_id, "state": state})
    status: int = app.handler({**ws_event("$default", connection_id), "body": body}, FakeLambdaContext())[
        "statusCode"
    ]
    return status


def pump(deployment: Deployment, cursor: dict[str, str], ttl_removes: bool = False) -> int:
    """Hand the new stream records to route_ticket; with `ttl_removes`, viewer removals come as
    DynamoDB's TTL makes them (with its `userIdentity`). How many records went."""
    from functions.route_ticket import app as route_app

    handled = 0
    while records := _stream_event(deployment, cursor)["Records"]:
        for record in records:
            if ttl_removes and record["eventName"] == "REMOVE":
                record["userIdentity"] = TTL_DELETE
        assert route_app.handler({"Records": records}, FakeLambdaContext()) == {"batchItemFailures": []}
        handled += len(records)
    return handled


def handle_figures(agent: str | None = None) -> dict[str, Any]:
    from tests.integration.test_agent_api import id_token as claims_of
    from tests.integration.test_reports_api import reports

    query = {"from": "2026-03-02", "to": "2026-03-02", "group_by": "agent"}
    admin = {**claims_of("alice"), "cognito:groups": "[admins]"}
    report = json.loads(reports(query, admin)["body"])
    assert "total" in report, report
    figures = report["total"] if agent is None else {g["key"]: g["figures"] for g in report["groups"]}[agent]
    return {"handle": figures["durations"]["handle"]["calendar"], "sources": figures["handle_sources"]}


def test_presence_becomes_handle_time_in_the_reports(desk: EmailHarness, deployment: Deployment) -> None:
    import boto3

    from tests.integration.test_agent_api import call

    cursor: dict[str, str] = {}
    for agent in ("alice", "carol"):
        assert connect(f"conn-{agent}", id_token(agent)) == 200
    desk.deliver(mail(subject="Printer broken"))
    pump(deployment, cursor)
    [ticket] = desk.repository.scan_tickets()

    # alice views for 4 minutes, composes for 6 and leaves; carol views from minute 12 until her
    # connection closes at minute 15; their UIs confirm every 30 seconds; each change is streamed
    # when it is made
    steps: list[tuple[float, str, str]] = [(10, "alice", "viewing"), (14, "alice", "composing")]
    steps += [(10 + n / 2, "alice", "viewing") for n in range(1, 8)]
    steps += [(14 + n / 2, "alice", "composing") for n in range(1, 12)]
    steps += [(20, "alice", "left"), (12, "carol", "viewing"), (15, "carol", "closed")]
    steps += [(12 + n / 2, "carol", "viewing") for n in range(1, 6)]
    # alice comes back at minute 22, confirmed at 23, then her UI dies: the TTL removes her later
    steps += [(22, "alice", "viewing"), (22.5, "alice", "viewing"), (23, "alice", "viewing")]
    from functions.live import app

    for minute, agent, state in sorted(steps):
        at(minute)
        if state == "closed":
            assert (
                app.handler(ws_event("$disconnect", f"conn-{agent}"), FakeLambdaContext())["statusCode"]
                == 200
            )
        else:
            assert say(f"conn-{agent}", state, ticket.id) == 200
        pump(deployment, cursor)
    at(24 * 60)
    table = deployment.stack.physical["TicketsTable"]
    key = {"pk": {"S": f"TICKET#{ticket.id}"}, "sk": {"S": "VIEWER#alice"}}
    boto3.client("dynamodb", region_name="us-east-1").delete_item(TableName=table, Key=key)
    pump(deployment, cursor, ttl_removes=True)
    pump(deployment, cursor, ttl_removes=True)
    spans = [
        (e.data["agent"], e.data["state"], e.data["ended"], e.data["start"][11:16], e.data["stop"][11:16])
        for e in desk.repository.list_events(ticket.id)
        if e.type == "worked"
    ]
    assert sorted(spans) == [
        ("alice", "composing", "left", "10:14", "10:20"),
        ("alice", "viewing", "changed", "10:10", "10:14"),
        ("alice", "viewing", "lapsed", "10:22", "10:23"),
        ("carol", "viewing", "left", "10:12", "10:15"),
    ]
    # no reply, the ticket open: the work runs, counted nowhere yet
    assert handle_figures()["handle"]["count"] == 0

    # alice resolves it: the work without a reply counts, for each agent
    clock.set_clock(lambda: T0 + timedelta(hours=2))
    assert call("PATCH", "/tickets/1", {"status": "resolved"}, agent="alice")[0] == 200
    pump(deployment, cursor)
    assert handle_figures("alice") == {
        "handle": {
            "count": 1,
            "median": pytest.approx(660, rel=0.01),
            "p90": pytest.approx(660, rel=0.01),
            "mean": 660.0,
        },
        "sources": {"presence": 1},
    }
    assert handle_figures("carol")["handle"]["mean"] == 180.0
    assert handle_figures()["sources"] == {"presence": 2}

    # the whole stream delivered again changes nothing (the spans are kept once)
    before = handle_figures()
    pump(deployment, {})
    assert handle_figures() == before
    assert len([e for e in desk.repository.list_events(ticket.id) if e.type == "worked"]) == 4
