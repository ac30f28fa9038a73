"""Views through the real handlers on moto: route_ticket keeps them from the tickets table's stream
(filtered as the template filters it), and the agent API reads them with their counts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.agent_api import app as agent_api
from functions.route_ticket import app as route_ticket
from shared.dal.items import ViewCountItem, ViewEntryItem
from simulator.resources import Deployment
from tests.integration.conftest import EmailHarness, FakeLambdaContext, mail, use_config
from tests.integration.test_agent_api import call, id_token
from tests.integration.test_route_ticket import _stream_event

CONFIG = """
teams: [{id: support}, {id: billing}]
agents:
  - {id: alice, teams: [support], default_presence: online, capacity: {email: 1}}
  - {id: bob, teams: [support]}
  - {id: carol, teams: [billing]}
routing:
  default_team: support
  rules:
    - {name: invoices, when: {keywords: [invoice]}, then: {team: billing, tags: [invoice]}}
"""


@pytest.fixture
def desk(email: EmailHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmailHarness]:
    use_config(CONFIG, tmp_path, monkeypatch)
    agent_api._agent_context.cache_clear()
    route_ticket._routing_context.cache_clear()
    yield email
    route_ticket._routing_context.cache_clear()


def pump(deployment: Deployment, cursor: dict[str, str]) -> int:
    """Run route_ticket on the stream until it is drained (its own writes add records): batches run."""
    batches = 0
    while True:
        event = _stream_event(deployment, cursor)
        if not event["Records"]:
            return batches
        result: dict[str, Any] = route_ticket.handler(event, FakeLambdaContext())
        assert result == {"batchItemFailures": []}
        batches += 1


def numbers(body: dict[str, Any]) -> list[int]:
    return [t["number"] for t in body["tickets"]]


def test_views_follow_the_tickets_from_the_stream_and_page_with_counts(
    desk: EmailHarness, deployment: Deployment
) -> None:
    cursor: dict[str, str] = {}
    # Given three tickets: the first goes to alice (online, room for one), the second waits in
    # support's queue, the third is billing's
    desk.deliver(mail(subject="Printer on fire"))
    pump(deployment, cursor)
    desk.deliver(mail(subject="Printer still on fire"))
    desk.deliver(mail(subject="Wrong invoice amount"))
    pump(deployment, cursor)

    # Then alice's "mine" holds #1, support's unassigned #2, and billing's work is not hers
    status, mine = call("GET", "/views/mine", agent="alice")
    assert (status, numbers(mine), mine["count"]) == (200, [1], 1)
    assert mine["tickets"][0]["assignee"] == "alice"
    assert numbers(call("GET", "/views/unassigned", agent="alice")[1]) == [2]
    assert numbers(call("GET", "/views/open", agent="alice")[1]) == [2, 1]
    assert numbers(call("GET", "/views/open", agent="carol")[1]) == [3]
    assert numbers(call("GET", "/views/tag:invoice", agent="carol")[1]) == [3]
    status, problem = call("GET", "/views/open", agent="alice", query={"team": "billing"})
    assert (status, problem["type"]) == (403, "urn:helpdesk:problem:forbidden")

    # When alice resolves #1 and bob takes #2, then the views follow once the stream is read
    assert call("PATCH", "/tickets/1", {"status": "resolved"}, agent="alice")[0] == 200
    assert call("PATCH", "/tickets/2", {"assignee": "bob"}, agent="bob")[0] == 200
    pump(deployment, cursor)
    assert numbers(call("GET", "/views/mine", agent="alice")[1]) == []
    assert numbers(call("GET", "/views/mine", agent="bob")[1]) == [2]
    assert numbers(call("GET", "/views/status:resolved", agent="alice")[1]) == [1]
    assert numbers(call("GET", "/views/recent", agent="alice")[1]) == [2, 1]

    # And the counts agree with the pages, over the caller's teams and the shared inbox
    status, listed = call("GET", "/views", agent="bob")
    counts = {v["name"]: v["count"] for v in listed["views"]}
    assert status == 200
    assert (counts["mine"], counts["open"], counts["unassigned"], counts["recent"]) == (1, 1, 0, 2)
    assert (counts["status:resolved"], counts["status:new"], counts["channel:email"]) == (
        1,
        1,
        1,
    )  # #2 is new still
    admin = {**id_token("carol"), "cognito:groups": "[admins]"}
    assert {v["name"]: v["count"] for v in call("GET", "/views", claims=admin)[1]["views"]}["recent"] == 3


def test_a_stream_read_again_changes_no_view_and_no_count(desk: EmailHarness, deployment: Deployment) -> None:
    cursor: dict[str, str] = {}
    desk.deliver(mail(subject="Printer on fire"))
    desk.deliver(mail(subject="Wrong invoice amount"))
    pump(deployment, cursor)
    before = sorted((i.pk, i.sk) for i in ViewEntryItem.scan(ViewEntryItem.entity == "view"))
    totals = sorted((i.pk, int(i.total)) for i in ViewCountItem.scan(ViewCountItem.entity == "view_count"))

    # When the whole stream is delivered again, as after a failed batch
    again: dict[str, str] = {}
    while (event := _stream_event(deployment, again))["Records"]:
        assert route_ticket.handler(event, FakeLambdaContext()) == {"batchItemFailures": []}

    assert sorted((i.pk, i.sk) for i in ViewEntryItem.scan(ViewEntryItem.entity == "view")) == before
    assert (
        sorted((i.pk, int(i.total)) for i in ViewCountItem.scan(ViewCountItem.entity == "view_count"))
        == totals
    )


def test_a_view_page_over_several_partitions_reaches_every_ticket_once(
    desk: EmailHarness, deployment: Deployment
) -> None:
    cursor: dict[str, str] = {}
    for n in range(7):
        desk.deliver(mail(subject=f"Invoice question {n}" if n % 3 == 0 else f"Printer question {n}"))
    pump(deployment, cursor)
    admin = {**id_token("carol"), "cognito:groups": "[admins]"}

    seen: list[int] = []
    page_cursor = None
    while True:
        query = {"limit": "2", **({"cursor": page_cursor} if page_cursor else {})}
        status, page = call("GET", "/views/recent", claims=admin, query=query)
        assert status == 200
        assert page["count"] == 7
        seen += numbers(page)
        page_cursor = page["next_cursor"]
        if page_cursor is None:
            break
    assert seen == [7, 6, 5, 4, 3, 2, 1]
    assert call("GET", "/views/everything", agent="alice")[0] == 404
    assert call("GET", "/views/recent", agent="alice", query={"cursor": "W10"})[0] == 400
