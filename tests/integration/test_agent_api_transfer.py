"""Transferring a ticket to another team through PATCH /tickets/{ref}: a supervisor of its team (or
an admin) moves it; it keeps an assignee of the new team, else it waits in the new team's queue."""

from __future__ import annotations

from pathlib import Path

import pytest

from functions.agent_api import app
from tests.integration.conftest import EmailHarness, use_config
from tests.integration.test_agent_api import call
from tests.integration.test_agent_api_permissions import as_role, in_team

CONFIG = """
teams: [{id: support}, {id: billing}]
agents:
  - {id: alice, teams: [support]}
  - {id: bob, teams: [support, billing]}
  - {id: carol, teams: [billing]}
"""
SUPERVISOR = as_role("alice", "supervisors")


@pytest.fixture
def api(email: EmailHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EmailHarness:
    use_config(CONFIG, tmp_path, monkeypatch)
    app._agent_context.cache_clear()
    return email


def test_a_supervisor_transfers_a_ticket_and_it_waits_in_the_new_teams_queue(api: EmailHarness) -> None:
    number = in_team(api, "support", assignee="alice")

    status, body = call("PATCH", f"/tickets/{number}", {"team": "billing"}, claims=SUPERVISOR)

    assert status == 200
    assert (body["ticket"]["team"], body["ticket"].get("assignee")) == ("billing", None)
    assert body["ticket"]["queued_at"] is not None
    (queued,) = api.repository.list_queue("billing")
    assert queued.ticket_id == body["ticket"]["id"]
    (event,) = [e for e in api.repository.list_events(body["ticket"]["id"]) if e.type == "updated"]
    assert event.data == {
        "by": "alice",
        "changes": {"team": ["support", "billing"], "assignee": ["alice", None]},
    }


def test_an_assignee_of_the_new_team_keeps_the_ticket(api: EmailHarness) -> None:
    number = in_team(api, "support", assignee="bob")

    status, body = call("PATCH", f"/tickets/{number}", {"team": "billing"}, claims=SUPERVISOR)

    assert (status, body["ticket"]["team"], body["ticket"]["assignee"]) == (200, "billing", "bob")
    assert api.repository.list_queue("billing") == []
    status, problem = call(
        "PATCH",
        f"/tickets/{number}",
        {"team": "support", "assignee": "carol"},
        claims=as_role("bob", "admins"),
    )
    assert (status, problem["detail"]) == (400, "'carol' is not an agent of team 'support'")


def test_only_a_supervisor_of_the_ticket_s_team_transfers_it(api: EmailHarness) -> None:
    number = in_team(api, "support")
    status, problem = call("PATCH", f"/tickets/{number}", {"team": "billing"}, claims=as_role("alice", None))
    assert (status, problem["type"]) == (403, "urn:helpdesk:problem:forbidden")
    status, problem = call("PATCH", f"/tickets/{number}", {"team": "nowhere"}, claims=SUPERVISOR)
    assert (status, problem["detail"]) == (400, "unknown team 'nowhere'")
    assert (
        call("PATCH", f"/tickets/{number}", {"team": "billing"}, claims=as_role("carol", "admins"))[0] == 200
    )
