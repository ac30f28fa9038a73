"""Notes that name agents (`@bob`): recorded on the note's event and listed for the agent named."""

from __future__ import annotations

from pathlib import Path

import pytest

from functions.agent_api import app
from tests.integration.conftest import EmailHarness, mail, use_config
from tests.integration.test_agent_api import call
from tests.integration.test_agent_api_permissions import as_role

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


def test_a_note_naming_agents_is_listed_for_each_of_them(api: EmailHarness) -> None:
    api.deliver(mail())
    api.deliver(mail(subject="Second"))
    text = "@bob can you check the logs? cc @carol, and not @zoe or me@alice or @alice."
    assert call("POST", "/tickets/1/notes", {"text": text}, agent="alice")[0] == 201
    assert call("POST", "/tickets/2/notes", {"text": "@bob same here"}, agent="alice")[0] == 201

    status, page = call("GET", "/agents/bob/mentions", agent="bob", query={"limit": "1"})
    assert status == 200
    assert [(m["ticket_number"], m["by"], m["excerpt"]) for m in page["mentions"]] == [
        (2, "alice", "@bob same here")
    ]
    status, rest = call("GET", "/agents/bob/mentions", agent="bob", query={"cursor": page["next_cursor"]})
    assert [(m["ticket_number"], m["excerpt"]) for m in rest["mentions"]] == [(1, text)]
    assert rest["next_cursor"] is None
    assert [
        m["ticket_number"] for m in call("GET", "/agents/carol/mentions", agent="carol")[1]["mentions"]
    ] == [1]
    assert (
        call("GET", "/agents/alice/mentions", agent="alice")[1]["mentions"] == []
    )  # the author is not mentioned
    (ticket,) = [t for t in api.repository.scan_tickets() if t.number == 1]
    (note,) = [e for e in api.repository.list_events(ticket.id) if e.type == "note_added"]
    assert note.data["mentions"] == ["bob", "carol"]

    # an agent reads only their own; a supervisor of their team theirs too
    assert call("GET", "/agents/bob/mentions", agent="alice")[0] == 403
    assert call("GET", "/agents/bob/mentions", claims=as_role("alice", "supervisors"))[0] == 200
    assert call("GET", "/agents/bob/mentions", agent="bob", query={"cursor": "W10"})[0] == 400
