"""Who may do what, through the real agent_api handler: roles from Cognito groups, scopes from
teams (tests/unit/test_permissions.py is the whole matrix; these prove the handler applies it)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from functions.agent_api import app
from shared.dal.tickets import TicketUpdate
from tests.integration.conftest import EmailHarness, mail, use_config
from tests.integration.test_agent_api import call, id_token

CONFIG = """
teams: [{id: support}, {id: billing}]
agents:
  - {id: alice, teams: [support]}
  - {id: bob, teams: [support]}
  - {id: carol, teams: [billing]}
"""


@pytest.fixture
def api(email: EmailHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EmailHarness:
    use_config(CONFIG, tmp_path, monkeypatch)
    app._agent_context.cache_clear()
    return email


def in_team(api: EmailHarness, team: str, assignee: str | None = None) -> int:
    """A new ticket as routing leaves it in `team` (with `assignee`): its number."""
    api.deliver(mail(message_id=f"<{team}-{assignee}@mail.customer.example>"))
    ticket = max(api.repository.scan_tickets(), key=lambda t: t.number)
    api.repository.update_ticket(
        ticket, TicketUpdate(team=team, assignee=assignee), [], datetime(2026, 3, 2, tzinfo=UTC)
    )
    return ticket.number


def as_role(agent: str, group: str | None) -> dict[str, Any]:
    claims = id_token(agent)
    if group is not None:
        claims["cognito:groups"] = f"[{group}]"
    return claims


def test_another_teams_ticket_does_not_exist_for_an_agent_on_any_route(api: EmailHarness) -> None:
    number = in_team(api, "billing")
    alice = as_role("alice", None)

    for method, path, body in [
        ("GET", f"/tickets/{number}", None),
        ("GET", f"/tickets/{number}/messages", None),
        ("GET", f"/tickets/{number}/events", None),
        ("PATCH", f"/tickets/{number}", {"status": "open"}),
        ("POST", f"/tickets/{number}/replies", {"text": "Hello"}),
        ("POST", f"/tickets/{number}/private-reply", {"text": "Hello"}),
        ("POST", f"/tickets/{number}/notes", {"text": "Hmm"}),
        ("POST", f"/tickets/{number}/macros/support/mac_any/preview", None),
        ("POST", f"/tickets/{number}/macros/support/mac_any/apply", {}),
    ]:
        status, problem = call(method, path, body, claims=alice)
        # Then the same answer as for a number that does not exist: nothing to probe
        assert (status, problem["detail"]) == (404, f"no ticket with number or message id '{number}'")
        unknown = path.replace(f"/tickets/{number}", "/tickets/999")
        assert (
            call(method, unknown, body, claims=alice)[1]["detail"]
            == "no ticket with number or message id '999'"
        )
    assert call("GET", f"/tickets/{number}", claims=as_role("carol", None))[0] == 200
    assert call("GET", f"/tickets/{number}", claims=as_role("alice", "admins"))[0] == 200


def test_a_ticket_assigned_to_an_agent_is_theirs_whatever_its_team(api: EmailHarness) -> None:
    number = in_team(api, "billing", assignee="alice")

    assert call("GET", f"/tickets/{number}", claims=as_role("alice", None))[0] == 200
    assert call("POST", f"/tickets/{number}/notes", {"text": "Mine"}, claims=as_role("alice", None))[0] == 201


def test_an_agent_takes_a_ticket_of_their_team_but_only_a_supervisor_gives_it_to_someone_else(
    api: EmailHarness,
) -> None:
    number = in_team(api, "support")

    status, problem = call("PATCH", f"/tickets/{number}", {"assignee": "bob"}, claims=as_role("alice", None))
    assert (status, problem["detail"]) == (
        403,
        "only a supervisor of the ticket's team reassigns tickets to others",
    )
    status, body = call("PATCH", f"/tickets/{number}", {"assignee": "alice"}, claims=as_role("alice", None))
    assert (status, body["ticket"]["assignee"]) == (200, "alice")
    status, body = call(
        "PATCH", f"/tickets/{number}", {"assignee": "bob"}, claims=as_role("alice", "supervisors")
    )
    assert (status, body["ticket"]["assignee"]) == (200, "bob")
    # a supervisor of another team does not even see it
    assert (
        call("PATCH", f"/tickets/{number}", {"assignee": "carol"}, claims=as_role("carol", "supervisors"))[0]
        == 404
    )


def test_a_supervisor_sets_the_presence_of_their_teams_agents_only(api: EmailHarness) -> None:
    supervisor = as_role("alice", "supervisors")

    assert call("PUT", "/agents/bob/presence", {"status": "away"}, claims=supervisor)[0] == 200
    status, problem = call("PUT", "/agents/carol/presence", {"status": "away"}, claims=supervisor)
    assert (status, problem["detail"]) == (
        403,
        "only a supervisor of one of the agent's teams sets their presence",
    )
    assert (
        call("PUT", "/agents/carol/presence", {"status": "away"}, claims=as_role("alice", "admins"))[0] == 200
    )


def test_only_supervisors_and_admins_list_the_quarantine(api: EmailHarness) -> None:
    status, problem = call("GET", "/quarantine", claims=as_role("alice", None))
    assert (status, problem["detail"]) == (403, "only supervisors and admins review the quarantine")
    assert call("GET", "/quarantine", claims=as_role("alice", "supervisors"))[0] == 200
    assert call("GET", "/quarantine", claims=as_role("carol", "admins"))[0] == 200


def test_a_teams_agents_use_its_macros_and_its_supervisors_edit_them(api: EmailHarness) -> None:
    macro = {"title": "Thanks", "body": "Thanks {{ customer_name }}"}
    status, problem = call("POST", "/teams/support/macros", macro, claims=as_role("alice", None))
    assert (status, problem["detail"]) == (403, "only a supervisor of team 'support' edits its macros")
    assert call("POST", "/teams/support/macros", macro, claims=as_role("carol", "supervisors"))[0] == 403
    assert call("POST", "/teams/support/macros", macro, claims=as_role("alice", "supervisors"))[0] == 201
    assert call("GET", "/teams/support/macros", claims=as_role("bob", None))[0] == 200
    status, problem = call("GET", "/teams/support/macros", claims=as_role("carol", None))
    assert (status, problem["detail"]) == (403, "the macros of team 'support' are for its agents")
    assert call("GET", "/teams/support/macros", claims=as_role("carol", "admins"))[0] == 200
