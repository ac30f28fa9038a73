"""Canned responses (macros) through the real agent_api handler on moto: a team's supervisors edit
them with versions, its agents list, preview and apply them; applying queues the rendered reply and
the macro's actions once, however often the request is retried with its Idempotency-Key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from functions.agent_api import app
from tests.integration.conftest import EmailHarness, mail, use_config
from tests.integration.test_agent_api import call, respond
from tests.integration.test_agent_api_contract import problem_of
from tests.integration.test_agent_api_permissions import as_role, in_team

CONFIG = """
teams: [{id: support}, {id: billing}]
agents:
  - {id: alice, name: Alice Smith, teams: [support]}
  - {id: bob, teams: [support]}
  - {id: carol, teams: [billing]}
"""
SUPERVISOR = as_role("alice", "supervisors")
AGENT = as_role("bob", None)
REFUND = {
    "title": "Refund on its way",
    "body": "Hi {{ customer_name }}, your refund for #{{ ticket.number }} is on its way. {{ agent_name }}",
    "actions": {"status": "pending", "tags_add": ["refund"]},
}


@pytest.fixture
def api(email: EmailHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EmailHarness:
    use_config(CONFIG, tmp_path, monkeypatch)
    app._agent_context.cache_clear()
    return email


def created(macro: dict[str, Any] = REFUND, team: str = "support") -> dict[str, Any]:
    """A macro the team's supervisor created: its state (`macro`, `version`)."""
    status, body = call("POST", f"/teams/{team}/macros", macro, claims=SUPERVISOR)
    assert status == 201, body
    state: dict[str, Any] = body
    return state


def test_a_supervisor_creates_reads_changes_and_deletes_a_macro_with_versions(api: EmailHarness) -> None:
    # When the team's supervisor creates a macro
    response = respond("POST", "/teams/support/macros", REFUND, claims=SUPERVISOR)
    state = json.loads(response["body"])
    # Then it is stored at version 1, answered with its ETag
    assert (response["statusCode"], response["headers"]["ETag"], state["version"]) == (201, '"1"', 1)
    macro_id = state["macro"]["id"]
    assert (state["macro"]["team"], state["macro"]["title"], state["macro"]["updated_by"]) == (
        "support",
        "Refund on its way",
        "alice",
    )
    assert state["macro"]["actions"] == {"status": "pending", "tags_add": ["refund"]}
    path = f"/teams/support/macros/{macro_id}"
    # And an agent of the team reads it and its version
    got = respond("GET", path, claims=AGENT)
    assert (got["statusCode"], got["headers"]["ETag"]) == (200, '"1"')
    assert json.loads(got["body"]) == state
    # When the supervisor changes its title on version 1, the body staying as it was
    changed = respond("PATCH", path, {"title": "Refund sent"}, claims=SUPERVISOR, headers={"If-Match": '"1"'})
    body = json.loads(changed["body"])
    assert (changed["statusCode"], changed["headers"]["ETag"], body["version"]) == (200, '"2"', 2)
    assert (body["macro"]["title"], body["macro"]["body"]) == ("Refund sent", REFUND["body"])
    # Then an edit made on version 1 is a 409 with the macro as it is now, and changes nothing
    stale = problem_of(respond("PATCH", path, {"title": "Old"}, claims=SUPERVISOR, headers={"If-Match": "1"}))
    assert (stale["status"], stale["type"]) == (409, "urn:helpdesk:problem:stale-macro-version")
    assert (stale["current"]["version"], stale["current"]["macro"]["title"]) == (2, "Refund sent")
    stale = problem_of(respond("PATCH", path, {"title": "Old", "version": 1}, claims=SUPERVISOR))
    assert stale["status"] == 409
    # And an edit or a deletion naming no version is refused, as are If-Match and version disagreeing
    for method, body_ in (("PATCH", {"title": "No version"}), ("DELETE", None)):
        refused = problem_of(respond(method, path, body_, claims=SUPERVISOR))
        assert (refused["status"], refused["type"]) == (400, "urn:helpdesk:problem:invalid-request")
        assert "version" in refused["detail"]
    disagree = respond("PATCH", path, {"version": 1}, claims=SUPERVISOR, headers={"If-Match": "2"})
    assert "disagree" in problem_of(disagree)["detail"]
    # When it is deleted at a stale version, then at the current one
    stale = problem_of(respond("DELETE", path, claims=SUPERVISOR, query={"version": "1"}))
    assert (stale["status"], stale["current"]["version"]) == (409, 2)
    deleted = respond("DELETE", path, claims=SUPERVISOR, headers={"If-Match": '"2"'})
    # Then it is gone
    assert (deleted["statusCode"], deleted.get("body")) == (204, None)
    gone = problem_of(respond("GET", path, claims=AGENT))
    assert (gone["status"], gone["type"]) == (404, "urn:helpdesk:problem:macro-not-found")
    assert api.repository.list_macros("support") == []


def test_a_teams_macros_are_listed_by_title_in_pages(api: EmailHarness) -> None:
    for title in ("charlie", "Alpha", "bravo"):
        created({**REFUND, "title": title})
    assert call("POST", "/teams/billing/macros", REFUND, claims=as_role("carol", "supervisors"))[0] == 201
    # When an agent of the team lists them two at a time
    status, first = call("GET", "/teams/support/macros", claims=AGENT, query={"limit": "2"})
    assert status == 200
    assert [m["title"] for m in first["macros"]] == ["Alpha", "bravo"]
    assert (first["limit"], first["next_cursor"] is not None) == (2, True)
    status, second = call(
        "GET", "/teams/support/macros", claims=AGENT, query={"limit": "2", "cursor": first["next_cursor"]}
    )
    # Then the next page holds the rest, and says it is the last
    assert (status, [m["title"] for m in second["macros"]], second["next_cursor"]) == (200, ["charlie"], None)
    # And a cursor no listing handed out, a page size out of range, a misspelt parameter: 400
    bad = problem_of(respond("GET", "/teams/support/macros", claims=AGENT, query={"cursor": "nonsense!"}))
    assert (bad["status"], bad["type"]) == (400, "urn:helpdesk:problem:invalid-cursor")
    assert problem_of(respond("GET", "/teams/support/macros", claims=AGENT, query={"limit": "101"}))[
        "errors"
    ][0]["loc"] == ["query", "limit"]
    assert (
        "limt"
        in problem_of(respond("GET", "/teams/support/macros", claims=AGENT, query={"limt": "1"}))["detail"]
    )


def test_agents_use_their_teams_macros_and_only_its_supervisors_edit_them(api: EmailHarness) -> None:
    state = created()
    path = f"/teams/support/macros/{state['macro']['id']}"
    # An agent of the team reads but may not edit
    assert call("GET", "/teams/support/macros", claims=AGENT)[0] == 200
    for method, body, headers in (
        ("POST", REFUND, {}),
        ("PATCH", {"title": "Mine"}, {"If-Match": "1"}),
        ("DELETE", None, {"If-Match": "1"}),
    ):
        target = "/teams/support/macros" if method == "POST" else path
        status, problem = call(method, target, body, claims=AGENT, headers=headers)
        assert (status, problem["detail"]) == (403, "only a supervisor of team 'support' edits its macros")
        # nor does a supervisor of another team
        status, problem = call(method, target, body, claims=as_role("carol", "supervisors"), headers=headers)
        assert status == 403
    # An agent of another team neither lists nor reads them; an admin does anything
    status, problem = call("GET", path, claims=as_role("carol", None))
    assert (status, problem["detail"]) == (403, "the macros of team 'support' are for its agents")
    assert call("GET", "/teams/support/macros", claims=as_role("carol", None))[0] == 403
    admin = as_role("carol", "admins")
    assert call("PATCH", path, {"title": "By an admin"}, claims=admin, headers={"If-Match": "1"})[0] == 200
    assert [m["title"] for m in call("GET", "/teams/support/macros", claims=AGENT)[1]["macros"]] == [
        "By an admin"
    ]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("{{ ''.__class__.__mro__ }}", "unsafe"),  # the sandbox refuses Python internals
        ("{{ customer_name.__init__.__globals__ }}", "unsafe"),
        ("{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}{% endfor %}", "For"),
        ("{{ 'x' * 999999999 }}", "Mul"),
        ("{{ customer_name|center(999999999) }}", "center"),
        ("{{ lipsum(9999) }}", "Call"),
        ("{{ ''.ljust(999999999) }}", "Call"),
        ("{% set x = 1 %}", "Assign"),
        ("{% include 'x' %}", "Include"),
        ("{{ ticket.number > 'a' }}", "TypeError"),
        ("Hi {{ custmer_name }}", "custmer_name"),
        ("Hi {% if %}", "body"),
    ],
)
def test_a_body_outside_the_sandbox_is_refused_when_saved(api: EmailHarness, body: str, words: str) -> None:
    problem = problem_of(
        respond("POST", "/teams/support/macros", {**REFUND, "body": body}, claims=SUPERVISOR)
    )
    assert (problem["status"], problem["type"]) == (400, "urn:helpdesk:problem:invalid-macro")
    assert words in problem["detail"]
    assert api.repository.list_macros("support") == []


@pytest.mark.parametrize(
    "macro",
    [
        {**REFUND, "extra": 1},
        {**REFUND, "title": "  "},
        {**REFUND, "body": ""},
        {**REFUND, "actions": {"status": "sleeping"}},
        {**REFUND, "actions": {"tags_add": ["x" * 101]}},
        {**REFUND, "actions": {"tags_add": ["a\u0007b"]}},
        {**REFUND, "actions": {"assignee": "bob"}},
    ],
)
def test_a_macro_the_schema_refuses_is_a_400(api: EmailHarness, macro: dict[str, Any]) -> None:
    problem = problem_of(respond("POST", "/teams/support/macros", macro, claims=SUPERVISOR))
    assert (problem["status"], problem["type"]) == (400, "urn:helpdesk:problem:validation")
    assert api.repository.list_macros("support") == []


def test_a_macro_of_a_team_the_config_lacks_is_refused(api: EmailHarness) -> None:
    problem = problem_of(respond("POST", "/teams/sales/macros", REFUND, claims=as_role("alice", "admins")))
    assert (problem["status"], problem["detail"]) == (400, "unknown team 'sales'")


def test_a_preview_renders_the_reply_for_the_ticket_and_writes_nothing(api: EmailHarness) -> None:
    # Given a ticket from Jane Doe and the team's refund macro
    api.deliver(mail())
    [ticket] = api.repository.scan_tickets()
    macro_id = created()["macro"]["id"]
    events = api.repository.list_events(ticket.id)
    # When an agent named Alice Smith previews it on the ticket
    status, preview = call(
        "POST", f"/tickets/{ticket.number}/macros/support/{macro_id}/preview", claims=as_role("alice", None)
    )
    # Then it shows the reply as the customer would read it, and what the actions would change
    assert status == 200
    assert preview == {
        "team": "support",
        "macro_id": macro_id,
        "title": "Refund on its way",
        "version": 1,
        "text": f"Hi Jane Doe, your refund for #{ticket.number} is on its way. Alice Smith",
        "channel": "email",
        "actions": {"status": "pending", "tags_add": ["refund"]},
        "changes": {"status": ["new", "pending"], "tags": [[], ["refund"]]},
    }
    # And nothing is written
    assert api.repository.get_ticket(ticket.id) == ticket
    assert api.repository.list_events(ticket.id) == events
    assert api.repository.list_outbound() == []


def test_applying_a_macro_queues_its_reply_and_its_actions_once(api: EmailHarness) -> None:
    # Given a ticket and the team's refund macro
    api.deliver(mail())
    [ticket] = api.repository.scan_tickets()
    macro_id = created()["macro"]["id"]
    path = f"/tickets/{ticket.number}/macros/support/{macro_id}/apply"
    key = {"Idempotency-Key": "5d0c7b7e-apply-1"}
    # When an agent applies it with an Idempotency-Key
    response = respond("POST", path, {}, claims=as_role("alice", None), headers=key)
    applied = json.loads(response["body"])
    # Then the rendered reply is queued, and the ticket is pending and tagged, at its next version
    assert response["statusCode"] == 202, applied
    assert applied["reply"]["status"] == "queued"
    assert (applied["reply"]["channel"], applied["reply"]["to"]) == ("email", "jane.doe@customer.example")
    assert (applied["ticket"]["status"], applied["ticket"]["tags"]) == ("pending", ["refund"])
    assert applied["version"] == applied["ticket"]["version"] == ticket.version + 1
    assert response["headers"]["ETag"] == f'"{applied["version"]}"'
    assert applied["changes"] == {"status": ["new", "pending"], "tags": [[], ["refund"]]}
    [queued] = api.repository.list_outbound()
    assert queued.key == applied["reply"]["key"]
    assert queued.text == f"Hi Jane Doe, your refund for #{ticket.number} is on its way. Alice Smith"
    assert queued.author == "alice"
    # And the change and the macro's use are on the ticket's record
    events = api.repository.list_events(ticket.id)
    updated = [e for e in events if e.type == "updated"]
    assert [e.data["changes"] for e in updated] == [{"status": ["new", "pending"], "tags": [[], ["refund"]]}]
    [used] = [e for e in events if e.type == "macro_applied"]
    assert used.data == {
        "by": "alice",
        "team": "support",
        "macro_id": macro_id,
        "title": "Refund on its way",
        "macro_version": 1,
        "reply": queued.key,
        "changes": {"status": ["new", "pending"], "tags": [[], ["refund"]]},
    }
    # Given another agent reopened the ticket, and the macro was edited meanwhile
    assert call("PATCH", f"/tickets/{ticket.number}", {"status": "open"}, claims=AGENT)[0] == 200
    assert (
        call(
            "PATCH",
            f"/teams/support/macros/{macro_id}",
            {"body": "Changed {{ agent_name }}"},
            claims=SUPERVISOR,
            headers={"If-Match": "1"},
        )[0]
        == 200
    )
    events = api.repository.list_events(ticket.id)
    # When the first request is retried with its key
    status, again = call("POST", path, {}, claims=as_role("alice", None), headers=key)
    # Then it answers the reply queued the first time, queues nothing and applies nothing again
    assert (status, again["reply"], again["changes"]) == (202, applied["reply"], {})
    assert again["ticket"]["status"] == "open"
    assert [o.key for o in api.repository.list_outbound()] == [queued.key]
    assert api.repository.list_events(ticket.id) == events
    # And the same key for another request (another macro, or a plain reply) is refused
    other = created({**REFUND, "title": "Other"})["macro"]["id"]
    status, problem = call(
        "POST",
        f"/tickets/{ticket.number}/macros/support/{other}/apply",
        {},
        claims=as_role("alice", None),
        headers=key,
    )
    assert (status, problem["type"]) == (422, "urn:helpdesk:problem:idempotency-key-reused")
    status, problem = call(
        "POST",
        f"/tickets/{ticket.number}/replies",
        {"text": "Hi"},
        claims=as_role("alice", None),
        headers=key,
    )
    assert status == 422
    assert len(api.repository.list_outbound()) == 1


def test_a_macro_without_actions_only_replies(api: EmailHarness) -> None:
    api.deliver(mail())
    [ticket] = api.repository.scan_tickets()
    macro_id = created({"title": "Hello", "body": "Hello {{ customer_name }}"})["macro"]["id"]

    status, applied = call(
        "POST", f"/tickets/{ticket.number}/macros/support/{macro_id}/apply", {}, claims=AGENT
    )

    assert (status, applied["changes"], applied["version"]) == (202, {}, ticket.version)
    assert [o.text for o in api.repository.list_outbound()] == ["Hello Jane Doe"]
    assert [
        e.data["changes"] for e in api.repository.list_events(ticket.id) if e.type == "macro_applied"
    ] == [{}]


def test_a_reply_the_channel_refuses_applies_no_action(api: EmailHarness) -> None:
    # Given a customer with no phone number on record
    api.deliver(mail())
    [ticket] = api.repository.scan_tickets()
    macro_id = created()["macro"]["id"]
    # When the macro is applied by SMS
    status, problem = call(
        "POST", f"/tickets/{ticket.number}/macros/support/{macro_id}/apply", {"channel": "sms"}, claims=AGENT
    )
    # Then it is refused, and the ticket is as it was
    assert (status, problem["type"]) == (400, "urn:helpdesk:problem:invalid-request")
    assert "phone" in problem["detail"]
    assert api.repository.get_ticket(ticket.id) == ticket
    assert api.repository.list_outbound() == []


def test_a_ticket_outside_the_callers_scope_is_not_found_for_a_macro(api: EmailHarness) -> None:
    # Given a billing ticket, and a support macro
    number = in_team(api, "billing")
    macro_id = created()["macro"]["id"]
    for action in ("preview", "apply"):
        # When a support agent uses the macro on it
        status, problem = call(
            "POST", f"/tickets/{number}/macros/support/{macro_id}/{action}", {}, claims=AGENT
        )
        # Then the ticket does not exist for them
        assert (status, problem["detail"]) == (404, f"no ticket with number or message id '{number}'")
        # and a macro of a team they are not in is refused before any ticket is read
        status, problem = call(
            "POST", f"/tickets/{number}/macros/billing/{macro_id}/{action}", {}, claims=AGENT
        )
        assert (status, problem["type"]) == (403, "urn:helpdesk:problem:forbidden")
    assert api.repository.list_outbound() == []
    # And a macro that does not exist is a macro-not-found
    unknown = in_team(api, "support")
    problem = problem_of(respond("POST", f"/tickets/{unknown}/macros/support/mac_nope/preview", claims=AGENT))
    assert (problem["status"], problem["type"]) == (404, "urn:helpdesk:problem:macro-not-found")


def test_a_macro_may_be_given_a_stable_id_once(api: EmailHarness) -> None:
    # Given a macro created with an id of the supervisor's choosing (macros kept as code)
    state = created({**REFUND, "id": "refund-on-its-way"})
    assert state["macro"]["id"] == "refund-on-its-way"
    assert call("GET", "/teams/support/macros/refund-on-its-way", claims=AGENT)[0] == 200

    # Then creating it again is a conflict, and the first stays as it was
    status, problem = call(
        "POST", "/teams/support/macros", {**REFUND, "id": "refund-on-its-way"}, claims=SUPERVISOR
    )
    assert (status, problem["type"]) == (409, "urn:helpdesk:problem:macro-exists")
    assert call("GET", "/teams/support/macros/refund-on-its-way", claims=AGENT)[1]["version"] == 1
    # and an id of another shape is refused by the schema
    assert call("POST", "/teams/support/macros", {**REFUND, "id": "Refund #1"}, claims=SUPERVISOR)[0] == 400
