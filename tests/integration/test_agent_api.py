"""agent_api end to end: HTTP API v2 events carrying the claims API Gateway's JWT authorizer checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

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
    **kwargs: Any,
) -> tuple[int, Any]:
    """Call the API as API Gateway does after its JWT authorizer: by default with `agent`'s ID
    token claims; `claims` replaces them, `authorizer=False` sends none (a route without one)."""
    response = respond(method, path, body, **kwargs)
    return response["statusCode"], json.loads(response["body"]) if response.get("body") else None


def respond(method: str, path: str, body: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    """The handler's whole response (status, headers, body) to a request built as `call` says
    (`api_event`'s keywords)."""
    event = api_event(method, path, body, **kwargs)
    app._agent_context.cache_clear()
    response: dict[str, Any] = app.handler(event, FakeLambdaContext())
    return response


def api_event(
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    agent: str = "alice",
    supervisor: bool = False,
    claims: dict[str, Any] | None = None,
    authorizer: bool = True,
    headers: dict[str, str] | None = None,
    raw_body: str | None = None,
    base64_encoded: bool = False,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The HTTP API (payload 2.0) event API Gateway sends after its JWT authorizer verified
    `agent`'s ID token (`claims` instead, or none without `authorizer`)."""
    if claims is None:
        claims = id_token(agent)
        if supervisor:
            claims["cognito:groups"] = "[supervisors]"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": {
            "content-type": "application/json",
            "authorization": "Bearer eyJ...",
            **{name.lower(): value for name, value in (headers or {}).items()},
        },
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
        "body": raw_body if raw_body is not None else json.dumps(body) if body is not None else None,
        "isBase64Encoded": base64_encoded,
    }
    if query:
        event["queryStringParameters"] = query
    if not authorizer:
        del event["requestContext"]["authorizer"]
    return event


def id_token(agent: str) -> dict[str, Any]:
    """The claims of a Cognito ID token of the agent, as the HTTP API's JWT authorizer passes them."""
    return {
        "sub": f"uuid-{agent}",
        "aud": "agentuiclient01",
        "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_pool01",
        "token_use": "id",
        "auth_time": "1772445000",
        "exp": "1772448600",
        "iat": "1772445000",
        "cognito:username": agent,
        "email": f"{agent}@company.example",
        "custom:agent_id": agent,
    }


def access_token(agent: str) -> dict[str, Any]:
    """An access token of the same user (a pre-token-generation trigger may add the agent claim)."""
    return {
        "sub": f"uuid-{agent}",
        "client_id": "agentuiclient01",
        "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_pool01",
        "token_use": "access",
        "scope": "aws.cognito.signin.user.admin",
        "exp": "1772448600",
        "iat": "1772445000",
        "username": agent,
        "custom:agent_id": agent,
    }


ROUTES = [
    ("GET", "/tickets/1", None, 200),
    ("PATCH", "/tickets/1", {"status": "open"}, 200),
    ("POST", "/tickets/1/replies", {"text": "We are on it."}, 202),
    ("POST", "/tickets/1/notes", {"text": "Printer model X2."}, 201),
    ("PUT", "/agents/alice/presence", {"status": "online"}, 200),
    ("GET", "/teams/support/macros", None, 200),
]
REMOVED = """
teams: [{id: support}]
agents:
  - {id: bob, teams: [support]}
"""


@pytest.mark.parametrize(("method", "path", "body", "ok"), ROUTES)
@pytest.mark.parametrize(
    ("caller", "status", "message"),
    [
        ("no authorizer", 401, "no token"),
        ("no claims", 401, "no token"),
        ("access token", 401, "an ID token"),
        ("ID token without the agent claim", 401, "custom:agent_id"),
        ("unknown agent", 403, "'mallory' is not an agent"),
        ("agent removed from the config", 403, "'alice' is not an agent"),
        ("agent", None, None),
    ],
)
def test_every_route_needs_an_id_token_of_a_configured_agent(
    api: EmailHarness,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    ok: int,
    caller: str,
    status: int | None,
    message: str | None,
) -> None:
    # Given a ticket, and a caller as the JWT authorizer let them through
    api.deliver(mail())
    callers: dict[str, dict[str, Any]] = {
        "no authorizer": {"authorizer": False},
        "no claims": {"claims": {}},
        "access token": {"claims": access_token("alice")},
        "ID token without the agent claim": {
            "claims": {k: v for k, v in id_token("alice").items() if k != "custom:agent_id"}
        },
        "unknown agent": {"agent": "mallory"},
        "agent removed from the config": {},
        "agent": {},
    }
    kwargs = callers[caller]
    if caller == "agent removed from the config":
        use_config(REMOVED, tmp_path, monkeypatch)
    [ticket] = api.repository.scan_tickets()
    before = (api.repository.list_events(ticket.id), api.repository.list_outbound())
    # When it calls the route
    got, answer = call(method, path, body, **kwargs)
    # Then anyone but a configured agent with an ID token is refused, with why, and nothing changes
    if status is None:
        assert got == ok
        return
    assert got == status
    assert message in answer["detail"]
    assert (api.repository.list_events(ticket.id), api.repository.list_outbound()) == before
    assert api.repository.get_agents(["alice"]) == {}


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
    assert "status" in body["detail"]
    assert call("PUT", "/agents/alice/presence", {"status": "online", "extra": 1})[0] == 400


def test_ticket_is_found_by_number_or_message_id(api: EmailHarness) -> None:
    api.deliver(mail(message_id="<first@mail.customer.example>"))
    status, body = call("GET", "/tickets/1")
    assert status == 200
    assert body["ticket"]["number"] == 1
    assert len(body["conversation"]["messages"]) == 1
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
    api.deliver(mail())  # a ticket no team owns yet: giving it to someone else is an admin's
    admin = {**id_token("alice"), "cognito:groups": "[admins]"}
    status, body = call("PATCH", "/tickets/1", {"assignee": "bob"}, claims=admin)
    assert (status, body["ticket"]["assignee"]) == (200, "bob")
    item = TicketItem.get(f"TICKET#{body['ticket']['id']}", "TICKET")
    assert item.load_stale is True
    assert call("PATCH", "/tickets/1", {"assignee": "nobody"}, claims=admin)[0] == 400


def test_no_change_writes_nothing(api: EmailHarness) -> None:
    api.deliver(mail())
    call("PATCH", "/tickets/1", {"status": "new"})
    [ticket] = api.repository.scan_tickets()
    assert [e.type for e in api.repository.list_events(ticket.id)] == ["created"]


def test_same_idempotency_key_with_another_body_is_refused_not_faked(api: EmailHarness) -> None:
    # Given a reply queued under an Idempotency-Key
    api.deliver(mail())
    first = call("POST", "/tickets/1/replies", {"text": "Try a restart."}, headers={"Idempotency-Key": "k-1"})
    assert first[0] == 202
    # When the key comes again with another text
    status, body = call(
        "POST", "/tickets/1/replies", {"text": "Replace the toner."}, headers={"Idempotency-Key": "k-1"}
    )
    # Then it is refused, and only the first reply is in the outbox
    assert status == 422
    assert "Idempotency-Key" in body["detail"]
    assert [o.text for o in api.repository.list_outbound()] == ["Try a restart."]
    # And a true retry (same key, same body) answers what was stored, without a second reply
    retry = call("POST", "/tickets/1/replies", {"text": "Try a restart."}, headers={"Idempotency-Key": "k-1"})
    assert retry == first
    assert len(api.repository.list_outbound()) == 1


def test_idempotency_key_is_scoped_to_its_ticket_and_caller(api: EmailHarness) -> None:
    # Given two tickets
    api.deliver(mail(message_id="<one@mail.customer.example>"))
    api.deliver(mail(message_id="<two@mail.customer.example>", sender="Bea <bea@other.example>"))
    key = {"Idempotency-Key": "2b9c7a0e-0d7f-4d0e-9a57-5f3c2d1e0a11"}
    # When the same key is used on both tickets, and by two agents on one ticket
    assert call("POST", "/tickets/1/replies", {"text": "Hello"}, headers=key)[0] == 202
    assert call("POST", "/tickets/2/replies", {"text": "Hello"}, headers=key)[0] == 202
    # (bob confirms: alice's reply is still in flight, decision 108)
    assert (
        call("POST", "/tickets/1/replies", {"text": "Hello", "confirm": True}, headers=key, agent="bob")[0]
        == 202
    )
    # Then each is its own reply
    replies = api.repository.list_outbound()
    tickets = {t.id: t.number for t in api.repository.scan_tickets()}
    assert sorted((tickets[o.ticket_id or ""], o.author) for o in replies) == [
        (1, "alice"),
        (1, "bob"),
        (2, "alice"),
    ]


@pytest.mark.parametrize("key", ["", "k" * 201, "k\u00e9y"])
def test_unusable_idempotency_key_is_refused(api: EmailHarness, key: str) -> None:
    api.deliver(mail())
    status, body = call("POST", "/tickets/1/replies", {"text": "Hello"}, headers={"Idempotency-Key": key})
    assert status == 400
    assert "Idempotency-Key" in body["detail"]
    assert api.repository.list_outbound() == []


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("/tickets/1/replies", "\U0001f600" * 50_000),  # 200,000 bytes of emoji
        ("/tickets/1/notes", "\U0001f600" * 50_000),
        ("/tickets/1/replies", "x" * 50_001),
    ],
)
def test_text_over_the_byte_limit_is_refused_with_the_limit(api: EmailHarness, path: str, text: str) -> None:
    # Given a ticket
    api.deliver(mail())
    [ticket] = api.repository.scan_tickets()
    events = api.repository.list_events(ticket.id)
    # When an agent sends a text over the limit, counted in UTF-8 bytes
    status, body = call("POST", path, {"text": text})
    # Then it is refused as too large, saying the limit and the size, and nothing is stored
    assert status == 413
    assert "50,000 bytes" in body["detail"]
    assert f"{len(text.encode()):,}" in body["detail"]
    assert api.repository.list_outbound() == []
    assert api.repository.list_events(ticket.id) == events


@pytest.mark.parametrize(
    "text",
    [
        "\U0001f600" * 12_500,  # 50,000 bytes of 4-byte characters
        '"' * 50_000,  # the character that grows most when stored (escaped in JSON and HTML)
        "\u00e9\n\n" * 12_500,  # 2-byte characters and paragraphs
    ],
)
def test_text_at_the_limit_is_stored(api: EmailHarness, text: str) -> None:
    # Given a ticket
    api.deliver(mail())
    # When an agent replies with text of exactly the limit, and notes it too
    assert call("POST", "/tickets/1/replies", {"text": text})[0] == 202
    assert call("POST", "/tickets/1/notes", {"text": text})[0] == 201
    # Then DynamoDB took both
    [reply] = api.repository.list_outbound()
    assert reply.text == text


@pytest.mark.parametrize(
    ("method", "path", "raw"),
    [
        ("POST", "/tickets/1/replies", '{"text": "broken \\ud800 surrogate"}'),
        ("POST", "/tickets/1/notes", '{"text": "\\udc00"}'),
        ("PATCH", "/tickets/1", '{"tags_add": ["\\ud83d"]}'),
    ],
)
def test_lone_surrogates_are_a_clear_client_error(
    api: EmailHarness, method: str, path: str, raw: str
) -> None:
    api.deliver(mail())
    status, body = call(method, path, raw_body=raw)
    assert status == 400
    assert "surrogate" in body["detail"]
    assert api.repository.list_outbound() == []


def test_control_characters_in_a_reply_are_refused(api: EmailHarness) -> None:
    api.deliver(mail())
    status, body = call("POST", "/tickets/1/replies", {"text": "bell \u0007 here"})
    assert status == 400
    assert "U+0007" in body["detail"]
    assert api.repository.list_outbound() == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tags_add": ["x" * 101]}, "at most 100 characters"),
        ({"tags_add": ["\U0001f600" * 1000] * 2}, "at most 100 characters"),
        ({"tags_add": [f"tag-{i}" for i in range(51)]}, "at most 50 tags"),
        ({"tags_add": ["bad\ttag"]}, "control character"),
    ],
)
def test_tags_the_ticket_cannot_hold_are_refused_with_the_limit(
    api: EmailHarness, change: dict[str, Any], message: str
) -> None:
    # Given a ticket
    api.deliver(mail())
    [ticket] = api.repository.scan_tickets()
    # When an agent adds tags longer or more numerous than a ticket keeps
    status, body = call("PATCH", "/tickets/1", change)
    # Then the change is refused with the limit (not a 409 "changed meanwhile"), and nothing changes
    assert status == 400
    assert message in body["detail"]
    assert api.repository.get_ticket(ticket.id) == ticket


@pytest.mark.parametrize(
    ("claims", "status"),
    [
        ({k: v for k, v in id_token("alice").items() if k != "token_use"}, 401),  # no token_use at all
        ({**id_token("alice"), "token_use": "ID"}, 401),  # not Cognito's spelling
        ({**id_token("alice"), "custom:agent_id": "ALICE"}, 403),  # ids are exact, not case-folded
        ({**id_token("alice"), "custom:agent_id": ["alice"]}, 401),  # a list is no agent id
    ],
)
def test_token_variants_an_attacker_would_try_are_refused(
    api: EmailHarness, claims: dict[str, Any], status: int
) -> None:
    got, answer = call("PUT", "/agents/alice/presence", {"status": "online"}, claims=claims)
    assert got == status
    assert answer["detail"]
    assert api.repository.get_agents(["alice"]) == {}


@pytest.mark.parametrize(
    ("groups", "supervisor"),
    [
        (["supervisors"], True),  # a list, as a Lambda authorizer would pass it
        ("[supervisors support]", True),  # the HTTP API's JWT authorizer flattens it to a string
        ("[support-supervisors]", False),
        ("[supervisorsx]", False),
        ('["supervisors"]', False),  # a JSON text is not how the authorizer writes it: not trusted
    ],
)
def test_only_the_exact_supervisor_group_may_set_someone_elses_presence(
    api: EmailHarness, groups: Any, supervisor: bool
) -> None:
    claims = {**id_token("alice"), "cognito:groups": groups}
    got, _ = call("PUT", "/agents/bob/presence", {"status": "away"}, claims=claims)
    assert got == (200 if supervisor else 403)


@pytest.mark.parametrize("raw", ["eyJ0ZXh0IjoiaGkifQ", "not base64 at all!", "//79"])
def test_a_body_marked_base64_that_is_not_base64_json_is_a_clear_400(api: EmailHarness, raw: str) -> None:
    # Given a ticket, When an event's body is marked base64 but is missing its padding, is not
    # base64, or decodes to bytes that are not UTF-8 (API Gateway encodes bodies itself, so this is
    # the same defence the webhook has, not an attack over the API)
    api.deliver(mail())
    status, body = call("POST", "/tickets/1/notes", raw_body=raw, base64_encoded=True)

    # Then it is refused with a reason, and no note is written
    assert status == 400
    assert "body" in body["detail"]
    [ticket] = api.repository.scan_tickets()
    assert [m.direction for m in api.repository.list_messages(ticket.id)] == ["inbound"]
