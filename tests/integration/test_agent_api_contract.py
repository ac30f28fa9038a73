"""agent_api's HTTP contract: the OpenAPI document it serves, one error shape (RFC 9457 problem
details) for every error, page sizes, and versions (`If-Match` / `version`) on ticket changes."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from functions.agent_api import app
from shared.dal.repository import DynamoRepository
from shared.dal.tickets import TicketUpdate
from shared.models.ticket import Ticket, TicketEvent
from tests.integration.conftest import EmailHarness, mail, use_config
from tests.integration.test_agent_api import CONFIG, call, respond

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance"}


@pytest.fixture
def api(email: EmailHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EmailHarness:
    use_config(CONFIG, tmp_path, monkeypatch)
    app._agent_context.cache_clear()
    return email


def problem_of(response: dict[str, Any]) -> dict[str, Any]:
    """The body of a problem response, after checking it is one (media type and members)."""
    assert response["headers"]["Content-Type"] == "application/problem+json", response
    body: dict[str, Any] = json.loads(response["body"])
    assert set(body) >= PROBLEM_KEYS, body
    assert body["status"] == response["statusCode"]
    assert body["type"].startswith("urn:helpdesk:problem:")
    return body


def test_the_document_is_served_without_a_token_and_is_the_committed_one(api: EmailHarness) -> None:
    # When anyone asks for the contract, with no token at all
    response = respond("GET", "/openapi.json", authorizer=False)
    # Then it is the OpenAPI 3.1 document committed as docs/openapi.json
    assert response["statusCode"] == 200
    document = json.loads(response["body"])
    committed = json.loads((Path(__file__).parents[2] / "docs" / "openapi.json").read_text())
    assert document == committed
    assert document["openapi"].startswith("3.1")
    # And every other route needs the agent's ID token (a bearer JWT); this one needs none
    assert document["security"] == [{"agentIdToken": []}]
    assert document["paths"]["/openapi.json"]["get"]["security"] == []


def test_every_documented_error_is_a_problem(api: EmailHarness) -> None:
    # Every error response in the document is application/problem+json with the Problem schema
    document = app.openapi_document()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, answer in operation["responses"].items():
                if int(status) >= 400:
                    assert answer["content"] == {
                        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                    }, (method, path, status)
    assert "HTTPValidationError" not in json.dumps(document)


@pytest.mark.parametrize(
    ("kwargs", "status", "slug", "words"),
    [
        ({"authorizer": False}, 401, "not-authenticated", "no token"),
        ({"agent": "mallory"}, 403, "forbidden", "'mallory' is not an agent"),
    ],
)
def test_callers_are_refused_before_their_request_is_read(
    api: EmailHarness, kwargs: dict[str, Any], status: int, slug: str, words: str
) -> None:
    # When a caller who is not a configured agent sends a body the schema refuses
    response = respond("PUT", "/agents/alice/presence", {"status": "sleeping"}, **kwargs)
    # Then they are refused as a caller, not told what is wrong with their request
    body = problem_of(response)
    assert (body["status"], body["type"], body["instance"]) == (
        status,
        f"urn:helpdesk:problem:{slug}",
        "/agents/alice/presence",
    )
    assert words in body["detail"]
    assert "errors" not in body


def test_a_request_the_schema_refuses_is_a_400_problem_with_one_entry_per_field(api: EmailHarness) -> None:
    response = respond("PATCH", "/tickets/1", {"status": "sleeping", "priority": "whenever"})
    body = problem_of(response)
    assert (body["status"], body["type"]) == (400, "urn:helpdesk:problem:validation")
    assert sorted(tuple(e["loc"]) for e in body["errors"]) == [("body", "priority"), ("body", "status")]
    assert all(e["msg"] and e["type"] for e in body["errors"])
    assert "status" in body["detail"]
    assert "priority" in body["detail"]


def test_an_unknown_route_is_404_and_a_wrong_method_405_with_allow(api: EmailHarness) -> None:
    body = problem_of(respond("GET", "/reports/weekly"))
    assert (body["status"], body["type"]) == (404, "urn:helpdesk:problem:not-found")
    response = respond("DELETE", "/tickets/1")
    body = problem_of(response)
    assert (body["status"], body["type"]) == (405, "urn:helpdesk:problem:method-not-allowed")
    assert response["headers"]["Allow"] == "GET, PATCH"


def test_a_body_that_is_not_json_is_415(api: EmailHarness) -> None:
    api.deliver(mail())
    response = respond("POST", "/tickets/1/notes", raw_body="hello", headers={"Content-Type": "text/plain"})
    body = problem_of(response)
    assert (body["status"], body["type"]) == (415, "urn:helpdesk:problem:unsupported-media-type")


def test_an_unexpected_error_is_a_500_problem_that_leaks_nothing(
    api: EmailHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a bug deep inside a use case
    def broken(*args: Any, **kwargs: Any) -> Ticket:
        raise RuntimeError("secret table name tickets-prod in /var/task/shared/dal.py")

    monkeypatch.setattr(app, "resolve_ticket", broken)
    # When a route hits it
    response = respond("GET", "/tickets/1")
    # Then the answer is a plain 500 problem, with nothing of the exception in it
    body = problem_of(response)
    assert (body["status"], body["type"]) == (500, "urn:helpdesk:problem:internal")
    assert "secret" not in response["body"]
    assert "Traceback" not in response["body"]
    assert "RuntimeError" not in response["body"]


def test_a_ticket_is_read_with_its_version_and_etag(api: EmailHarness) -> None:
    api.deliver(mail())
    response = respond("GET", "/tickets/1")
    body = json.loads(response["body"])
    assert response["statusCode"] == 200
    assert body["version"] == body["ticket"]["version"] == 1
    assert response["headers"]["ETag"] == '"1"'
    messages = body["conversation"]["messages"]
    assert len(messages) == 1
    assert all("full_text" not in m and "html" not in m for m in messages)


def test_a_change_on_the_current_version_returns_the_new_state_and_version(api: EmailHarness) -> None:
    # Given a ticket at version 1
    api.deliver(mail())
    # When an agent changes it, naming the version they saw
    response = respond("PATCH", "/tickets/1", {"status": "open"}, headers={"If-Match": '"1"'})
    # Then it answers the ticket as changed and its new version, also as the ETag
    body = json.loads(response["body"])
    assert response["statusCode"] == 200
    assert (body["ticket"]["status"], body["version"], body["ticket"]["version"]) == ("open", 2, 2)
    assert response["headers"]["ETag"] == '"2"'
    # And `version` in the body works the same, as do a weak or bare If-Match
    status, body = call("PATCH", "/tickets/1", {"priority": "high", "version": 2})
    assert (status, body["version"]) == (200, 3)
    status, body = call("PATCH", "/tickets/1", {"priority": "low"}, headers={"If-Match": 'W/"3"'})
    assert (status, body["version"]) == (200, 4)
    status, body = call("PATCH", "/tickets/1", {"priority": "normal"}, headers={"If-Match": "4"})
    assert (status, body["version"]) == (200, 5)


@pytest.mark.parametrize(
    ("change", "headers"),
    [
        ({"status": "pending"}, {"If-Match": '"1"'}),
        ({"status": "pending", "version": 1}, {}),
    ],
)
def test_a_change_on_a_stale_version_is_409_with_the_current_ticket(
    api: EmailHarness, change: dict[str, Any], headers: dict[str, str]
) -> None:
    # Given a ticket another agent changed after this agent read it at version 1
    api.deliver(mail())
    assert call("PATCH", "/tickets/1", {"tags_add": ["printer"]}, agent="bob")[0] == 200
    [ticket] = api.repository.scan_tickets()
    # When the agent sends a change made on version 1
    body = problem_of(respond("PATCH", "/tickets/1", change, headers=headers))
    # Then nothing changes, and the answer carries the ticket as it is now
    assert (body["status"], body["type"]) == (409, "urn:helpdesk:problem:stale-version")
    assert body["current"]["version"] == 2
    assert body["current"]["ticket"]["tags"] == ["printer"]
    assert body["current"]["ticket"]["status"] == "new"
    assert api.repository.get_ticket(ticket.id) == ticket


def test_a_change_racing_another_is_409_with_the_current_ticket(
    api: EmailHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a ticket that another agent changes between this change's read and its write
    api.deliver(mail())
    original = DynamoRepository.update_ticket

    def racing(
        self: DynamoRepository, ticket: Ticket, changes: TicketUpdate, events: list[TicketEvent], at: datetime
    ) -> None:
        monkeypatch.setattr(DynamoRepository, "update_ticket", original)
        original(self, ticket, TicketUpdate(tags=["urgent"]), [], at)  # the other agent wins
        original(self, ticket, changes, events, at)

    monkeypatch.setattr(DynamoRepository, "update_ticket", racing)
    # When the slower change is written (no version named: the data layer still checks)
    body = problem_of(respond("PATCH", "/tickets/1", {"status": "open"}))
    # Then it is refused with the ticket as the other agent left it
    assert (body["status"], body["type"]) == (409, "urn:helpdesk:problem:stale-version")
    assert (body["current"]["version"], body["current"]["ticket"]["tags"]) == (2, ["urgent"])
    assert body["current"]["ticket"]["status"] == "new"


@pytest.mark.parametrize(
    ("change", "headers", "words"),
    [
        ({"status": "open"}, {"If-Match": "*"}, "If-Match"),
        ({"status": "open"}, {"If-Match": '"0"'}, "If-Match"),
        ({"status": "open", "version": 2}, {"If-Match": '"1"'}, "disagree"),
        ({"status": "open", "version": 0}, {}, "version"),
    ],
)
def test_a_version_that_names_no_version_is_a_400(
    api: EmailHarness, change: dict[str, Any], headers: dict[str, str], words: str
) -> None:
    api.deliver(mail())
    [ticket] = api.repository.scan_tickets()
    body = problem_of(respond("PATCH", "/tickets/1", change, headers=headers))
    assert body["status"] == 400
    assert words.lower() in body["detail"].lower()  # header names are case-insensitive
    assert api.repository.get_ticket(ticket.id) == ticket


@pytest.mark.parametrize(("limit", "status"), [("0", 400), ("1", 200), ("100", 200), ("101", 400)])
def test_a_page_holds_1_to_100_entries(api: EmailHarness, limit: str, status: int) -> None:
    response = respond("GET", "/quarantine", supervisor=True, query={"limit": limit})
    assert response["statusCode"] == status
    if status == 200:
        assert json.loads(response["body"]) == {"entries": [], "limit": int(limit), "next_cursor": None}
    else:
        assert problem_of(response)["errors"][0]["loc"] == ["query", "limit"]


def test_a_page_has_25_entries_unless_asked(api: EmailHarness) -> None:
    status, body = call("GET", "/quarantine", supervisor=True)
    assert (status, body["limit"]) == (200, 25)


def test_a_misspelt_listing_filter_is_refused_not_ignored(api: EmailHarness) -> None:
    body = problem_of(respond("GET", "/quarantine", supervisor=True, query={"reasn": "spam"}))
    assert body["status"] == 400
    assert "reasn" in body["detail"]
