"""agent_api end to end: HTTP API v2 events carrying the claims API Gateway's JWT authorizer checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from functions.agent_api import app
from shared.dal.items import TicketItem
from tests.integration.conftest import EmailHarness, FakeLambdaContext, mail, use_config

CONFIG = """
teams: [{id: support}]
agents:
  - {id: alice, teams: [support]}
  - {id: bob, teams: [support]}
"""


@pytest.fixture
def api(email: EmailHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EmailHarness:
    use_config(CONFIG, tmp_path, monkeypatch)
    app._agent_context.cache_clear()
    return email


def call(
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    agent: str = "alice",
    supervisor: bool = False,
) -> tuple[int, Any]:
    claims: dict[str, Any] = {"sub": f"uuid-{agent}", "custom:agent_id": agent, "token_use": "id"}
    if supervisor:
        claims["cognito:groups"] = "[supervisors]"
    event = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "authorization": "Bearer eyJ..."},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "agentapi01",
            "authorizer": {"jwt": {"claims": claims, "scopes": None}},
            "domainName": "agentapi01.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "agentapi01",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "198.51.100.7",
                "userAgent": "agent-ui",
            },
            "requestId": "req-1",
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": "02/Mar/2026:10:00:00 +0000",
            "timeEpoch": 1772445600000,
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }
    app._agent_context.cache_clear()
    response = app.handler(event, FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"]) if response.get("body") else None


def test_agent_sets_own_presence(api: EmailHarness) -> None:
    status, body = call("PUT", "/agents/alice/presence", {"status": "online"})
    assert (status, body) == (200, {"agent": "alice", "status": "online"})
    assert api.repository.get_agents(["alice"])["alice"].presence == "online"


def test_only_supervisors_set_someone_elses_presence(api: EmailHarness) -> None:
    assert call("PUT", "/agents/bob/presence", {"status": "away"})[0] == 403
    assert call("PUT", "/agents/bob/presence", {"status": "away"}, supervisor=True)[0] == 200
    assert api.repository.get_agents(["bob"])["bob"].presence == "away"


def test_unknown_caller_and_bad_bodies_are_refused(api: EmailHarness) -> None:
    assert call("PUT", "/agents/alice/presence", {"status": "online"}, agent="mallory")[0] == 403
    status, body = call("PUT", "/agents/alice/presence", {"status": "sleeping"})
    assert status == 400
    assert "status" in body["message"]
    assert call("PUT", "/agents/alice/presence", {"status": "online", "extra": 1})[0] == 400


def test_ticket_is_found_by_number_or_message_id(api: EmailHarness) -> None:
    api.deliver(mail(message_id="<first@mail.customer.example>"))
    status, body = call("GET", "/tickets/1")
    assert status == 200
    assert body["ticket"]["number"] == 1
    assert len(body["messages"]) == 1
    status, body = call("GET", "/tickets/" + quote("<first@mail.customer.example>", safe=""))
    assert (status, body["ticket"]["number"]) == (200, 1)
    status, body = call("GET", "/tickets/" + quote("first@mail.customer.example", safe=""))
    assert (status, body["ticket"]["number"]) == (200, 1)  # the Message-ID without its brackets
    assert call("GET", "/tickets/999")[0] == 404


def test_agent_changes_are_recorded_with_who_made_them(api: EmailHarness) -> None:
    api.deliver(mail())
    status, body = call(
        "PATCH", "/tickets/1", {"priority": "high", "status": "open", "tags_add": ["printer"]}
    )
    assert status == 200
    assert (body["ticket"]["priority"], body["ticket"]["status"], body["ticket"]["tags"]) == (
        "high",
        "open",
        ["printer"],
    )
    [ticket] = api.repository.scan_tickets()
    [updated] = [e for e in api.repository.list_events(ticket.id) if e.type == "updated"]
    assert updated.data["by"] == "alice"
    assert updated.data["changes"]["priority"] == ["normal", "high"]


def test_manual_assignment_marks_capacity_for_the_router(api: EmailHarness) -> None:
    api.deliver(mail())
    status, body = call("PATCH", "/tickets/1", {"assignee": "bob"})
    assert (status, body["ticket"]["assignee"]) == (200, "bob")
    item = TicketItem.get(f"TICKET#{body['ticket']['id']}", "TICKET")
    assert item.load_stale is True
    assert call("PATCH", "/tickets/1", {"assignee": "nobody"})[0] == 400


def test_no_change_writes_nothing(api: EmailHarness) -> None:
    api.deliver(mail())
    call("PATCH", "/tickets/1", {"status": "new"})
    [ticket] = api.repository.scan_tickets()
    assert [e.type for e in api.repository.list_events(ticket.id)] == ["created"]
