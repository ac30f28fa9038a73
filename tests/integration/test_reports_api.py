"""GET /reports through the real reports handler on moto: tickets made by the real handlers, their
stream records projected by route_ticket into the aggregates, then read as API Gateway calls the
function after its JWT authorizer."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared import clock
from simulator.resources import Deployment
from tests.integration.conftest import EmailHarness, FakeLambdaContext, mail, use_config
from tests.integration.test_agent_api import api_event, call, id_token
from tests.integration.test_route_ticket import _stream_event

MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
CONFIG = """
teams: [{id: support}, {id: billing}]
agents:
  - {id: alice, teams: [support]}
  - {id: bob, teams: [billing]}
  - {id: sam, teams: [support]}
routing:
  default_team: support
  rules:
    - {name: invoices, when: {keywords: [invoice]}, then: {team: billing}}
reports: {timezone: Europe/Berlin}
"""


def reports(query: dict[str, str], claims: dict[str, Any]) -> dict[str, Any]:
    """The reports handler's whole answer to GET /reports?query, for the caller `claims` names."""
    from functions.reports import app

    app._config.cache_clear()
    event = api_event("GET", "/reports", claims=claims, query=query)
    response: dict[str, Any] = app.handler(event, FakeLambdaContext())
    return response


def admin() -> dict[str, Any]:
    return {**id_token("sam"), "cognito:groups": "[admins]"}


def supervisor() -> dict[str, Any]:
    return {**id_token("sam"), "cognito:groups": "[supervisors]"}


@pytest.fixture
def desk(
    email: EmailHarness, deployment: Deployment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> EmailHarness:
    """Monday: two support mails (one resolved by alice) and one invoice for billing, projected."""
    from functions.route_ticket import app as route_app

    use_config(CONFIG, tmp_path, monkeypatch)
    clock.set_clock(lambda: MONDAY_10)
    cursor: dict[str, str] = {}
    email.deliver(mail(subject="Printer broken"))
    email.deliver(mail(subject="Login fails", sender="Bea <bea@other.example>"))
    email.deliver(mail(subject="Wrong invoice", sender="Cy <cy@third.example>"))
    clock.set_clock(lambda: MONDAY_10 + timedelta(minutes=30))

    def pump() -> None:
        while event := _stream_event(deployment, cursor):
            if not event["Records"]:
                return
            assert route_app.handler(event, FakeLambdaContext()) == {"batchItemFailures": []}

    pump()  # routing and the aggregates of the new tickets
    assert call("PATCH", "/tickets/1", {"status": "resolved"}, agent="alice")[0] == 200
    pump()  # the resolution
    return email


def test_an_admin_gets_the_days_figures_by_team_as_json_and_csv(desk: EmailHarness) -> None:
    response = reports({"from": "2026-03-02", "to": "2026-03-02", "group_by": "team"}, admin())
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "application/json"
    report = json.loads(response["body"])
    assert (report["from"], report["to"], report["timezone"]) == ("2026-03-02", "2026-03-02", "Europe/Berlin")
    assert {g["key"]: g["figures"]["volume"]["created"] for g in report["groups"]} == {
        "billing": 1,
        "support": 2,
    }
    total = report["total"]
    assert (total["volume"]["created"], total["volume"]["resolved"], total["volume"]["backlog"]) == (3, 1, 2)
    assert total["volume"]["created_by_hour"][10] == 3  # written 09:15 UTC: 10:15 in Berlin
    # the aggregates say how current they are: the newest ticket change projected, and the lag
    assert report["as_of"].startswith("2026-03-02T10:30:00")  # the stream time of the last batch
    assert report["behind_seconds"] == 0  # projected at once (the simulated clock stood still)

    # And as CSV: a row per group and the total, as an attachment
    query = {"from": "2026-03-02", "to": "2026-03-02", "group_by": "team", "format": "csv"}
    response = reports(query, admin())
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"].startswith("text/csv")
    assert "attachment" in response["headers"]["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response["body"])))
    assert [(r["group"], r["volume.created"]) for r in rows] == [
        ("billing", "1"),
        ("support", "2"),
        ("total", "3"),
    ]


def test_a_supervisor_reads_their_teams_only_and_an_agent_nothing(desk: EmailHarness) -> None:
    mine = json.loads(
        reports({"from": "2026-03-02", "to": "2026-03-02", "group_by": "team"}, supervisor())["body"]
    )
    assert [g["key"] for g in mine["groups"]] == ["support"]
    assert mine["total"]["volume"]["created"] == 2
    filtered = reports({"from": "2026-03-02", "to": "2026-03-02", "filter": "team:support"}, supervisor())
    assert json.loads(filtered["body"])["total"]["volume"]["created"] == 2
    other = reports({"from": "2026-03-02", "to": "2026-03-02", "filter": "team:billing"}, supervisor())
    assert (other["statusCode"], json.loads(other["body"])["type"]) == (403, "urn:helpdesk:problem:forbidden")
    agent = reports({"from": "2026-03-02", "to": "2026-03-02"}, id_token("alice"))
    assert agent["statusCode"] == 403
    nobody = reports({"from": "2026-03-02", "to": "2026-03-02"}, {})
    assert (nobody["statusCode"], json.loads(nobody["body"])["type"]) == (
        401,
        "urn:helpdesk:problem:not-authenticated",
    )


BAD_REQUESTS = [
    {"from": "2026-03-02"},
    {"from": "2026-03-05", "to": "2026-03-02"},
    {"from": "2026-03-02", "to": "2026-03-02", "group_by": "colour"},
    {"from": "2026-03-02", "to": "2026-03-02", "filter": "team"},
    {"from": "2026-03-02", "to": "2026-03-02", "group_by": "agent", "filter": "team:support"},
    {"from": "2025-01-01", "to": "2026-03-02"},
]


def test_a_request_reports_cannot_answer_is_a_400_problem(desk: EmailHarness) -> None:
    for query in BAD_REQUESTS:
        response = reports(query, admin())
        assert response["statusCode"] == 400, query
        assert response["headers"]["Content-Type"] == "application/problem+json"
        assert json.loads(response["body"])["detail"]
