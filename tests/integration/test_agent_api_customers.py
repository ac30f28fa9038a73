"""Customers through the agent API: read by id, merged by a supervisor (identities and tickets move,
mail from either address joins the one customer), and the merge undone."""

from __future__ import annotations

from pathlib import Path

import pytest

from functions.agent_api import app
from tests.integration.conftest import EmailHarness, mail, use_config
from tests.integration.test_agent_api import call
from tests.integration.test_agent_api_permissions import as_role

CONFIG = """
teams: [{id: support}]
agents:
  - {id: alice, teams: [support]}
  - {id: bob, teams: [support]}
"""
SUPERVISOR = as_role("alice", "supervisors")


@pytest.fixture
def api(email: EmailHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EmailHarness:
    use_config(CONFIG, tmp_path, monkeypatch)
    app._agent_context.cache_clear()
    return email


def customer_of(email: str) -> dict[str, object]:
    status, body = call("GET", "/customers", query={"email": email}, claims=SUPERVISOR)
    assert status == 200, body
    found: dict[str, object] = body
    return found


def test_a_supervisor_merges_two_customers_and_undoes_it(api: EmailHarness) -> None:
    # Given one person writing from work and from home: two customers
    api.deliver(mail(sender="Jane <jane@work.example>", subject="Printer"))
    api.deliver(mail(sender="Jane <jane@home.example>", subject="Printer, again"))
    work, home = customer_of("jane@work.example"), customer_of("jane@home.example")
    work_id, home_id = work["customer"]["id"], home["customer"]["id"]  # type: ignore[index]

    # When a supervisor merges the home one into the work one
    status, merged = call("POST", f"/customers/{home_id}/merge", {"into": work_id}, claims=SUPERVISOR)

    # Then the work customer has both addresses and both tickets, whichever address looks it up
    assert status == 200
    assert {i["value"] for i in merged["customer"]["identities"]} == {
        "jane@work.example",
        "jane@home.example",
    }
    status, found = call("GET", f"/customers/{work_id}", claims=SUPERVISOR)
    assert (status, sorted(t["number"] for t in found["tickets"])) == (200, [1, 2])
    assert customer_of("jane@home.example")["customer"]["id"] == work_id  # type: ignore[index]

    # When the merge is undone, each has its own again
    merge_id = merged["merge"]["id"]
    status, undone = call("POST", f"/customers/{work_id}/merges/{merge_id}/undo", claims=SUPERVISOR)
    assert (status, undone["customer"]["id"], undone["merge"]["undone_by"]) == (200, home_id, "alice")
    assert [t["number"] for t in call("GET", f"/customers/{home_id}", claims=SUPERVISOR)[1]["tickets"]] == [2]
    status, problem = call("POST", f"/customers/{work_id}/merges/{merge_id}/undo", claims=SUPERVISOR)
    assert (status, problem["type"]) == (409, "urn:helpdesk:problem:customer-merge-refused")


def test_only_supervisors_merge_customers_and_nobody_merges_into_the_same_or_no_customer(
    api: EmailHarness,
) -> None:
    api.deliver(mail(sender="Jane <jane@work.example>"))
    work_id = customer_of("jane@work.example")["customer"]["id"]  # type: ignore[index]

    status, problem = call(
        "POST", f"/customers/{work_id}/merge", {"into": work_id}, claims=as_role("bob", None)
    )
    assert (status, problem["type"]) == (403, "urn:helpdesk:problem:forbidden")
    status, problem = call("POST", f"/customers/{work_id}/merge", {"into": work_id}, claims=SUPERVISOR)
    assert (status, problem["type"]) == (409, "urn:helpdesk:problem:customer-merge-refused")
    status, problem = call("POST", f"/customers/{work_id}/merge", {"into": "cus_nobody"}, claims=SUPERVISOR)
    assert (status, problem["type"]) == (404, "urn:helpdesk:problem:customer-not-found")
    assert call("GET", "/customers/cus_nobody", claims=SUPERVISOR)[0] == 404
