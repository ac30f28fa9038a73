"""Identities the message text suggests, confirmed or rejected by an agent through the agent API."""

from __future__ import annotations

from pathlib import Path

import pytest

from functions.agent_api import app
from tests.integration.conftest import EmailHarness, mail, use_config
from tests.integration.test_agent_api import call

CONFIG = """
teams: [{id: support}]
agents:
  - {id: alice, teams: [support]}
"""
BODY = "Hello,\n\nmy printer is broken. Call me at +1 425 555 0182 or write to jane.private@home.example.\n\nJane\n"


@pytest.fixture
def api(email: EmailHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EmailHarness:
    use_config(CONFIG, tmp_path, monkeypatch)
    app._agent_context.cache_clear()
    return email


def events(api: EmailHarness, kind: str) -> list[dict[str, object]]:
    (ticket,) = [t for t in api.repository.scan_tickets() if t.number == 1]
    return [e.data for e in api.repository.list_events(ticket.id) if e.type == kind]


def test_an_agent_confirms_a_suggested_phone_and_mail_from_it_finds_the_customer(api: EmailHarness) -> None:
    api.deliver(mail(body=BODY))
    (suggested,) = events(api, "identity_suggested")
    assert {"kind": "phone", "value": "+14255550182"} in suggested["identities"]  # type: ignore[operator]

    status, body = call(
        "POST", "/tickets/1/identity-suggestions/confirm", {"kind": "phone", "value": "+14255550182"}
    )

    assert (status, body["decision"]) == (200, "confirmed")
    assert {"kind": "phone", "value": "+14255550182"} in body["customer"]["identities"]
    status, found = call("GET", "/customers", query={"phone": "+1 (425) 555-0182"})
    assert (status, found["customer"]["id"]) == (200, body["customer"]["id"])
    # asked again (a retry): the same answer, one event
    assert (
        call("POST", "/tickets/1/identity-suggestions/confirm", {"kind": "phone", "value": "+14255550182"})[0]
        == 200
    )
    assert [e["by"] for e in events(api, "identity_confirmed")] == ["alice"]


def test_only_a_suggested_identity_is_confirmed_and_another_customers_is_refused(api: EmailHarness) -> None:
    api.deliver(mail(body=BODY))
    api.deliver(mail(sender="Jane at home <jane.private@home.example>", subject="Other"))

    status, problem = call(
        "POST", "/tickets/1/identity-suggestions/confirm", {"kind": "phone", "value": "+14255559999"}
    )
    assert (status, problem["type"]) == (400, "urn:helpdesk:problem:invalid-request")
    status, problem = call(
        "POST",
        "/tickets/1/identity-suggestions/confirm",
        {"kind": "email", "value": "jane.private@home.example"},
    )
    home = call("GET", "/customers", query={"email": "jane.private@home.example"})[1]["customer"]["id"]
    assert (status, problem["type"], problem["owner"]) == (409, "urn:helpdesk:problem:identity-taken", home)

    status, body = call(
        "POST",
        "/tickets/1/identity-suggestions/reject",
        {"kind": "email", "value": "jane.private@home.example"},
    )
    assert (status, body["decision"]) == (200, "rejected")
    assert [e["identity"] for e in events(api, "identity_rejected")] == [
        {"kind": "email", "value": "jane.private@home.example"}
    ]
