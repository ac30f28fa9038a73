"""agent_api end to end on moto: merging a ticket into another, undoing it, and splitting a message
into a new ticket (routed from the stream)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from functions.agent_api import app
from shared.dal.items import TicketItem
from simulator.resources import Deployment
from tests.integration.conftest import EmailHarness, FakeLambdaContext, mail, use_config
from tests.integration.test_agent_api import call
from tests.integration.test_route_ticket import _stream_event

CONFIG = """
teams: [{id: support}, {id: billing}]
agents:
  - {id: alice, teams: [support]}
  - {id: bob, teams: [support]}
  - {id: carol, teams: [billing]}
routing: {default_team: support}
"""
JANE = '"Jane Doe" <jane.doe@customer.example>'


@pytest.fixture
def api(email: EmailHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EmailHarness:
    use_config(CONFIG, tmp_path, monkeypatch)
    app._agent_context.cache_clear()
    return email


def opened(api: EmailHarness, message_id: str, sender: str = JANE, subject: str = "Printer") -> int:
    """A new email ticket of the sender; its number."""
    result = api.deliver(mail(sender=sender, subject=subject, message_id=message_id))
    assert result["outcome"] == "created"
    return int(result["ticket_number"])


def reply(api: EmailHarness, to: str, message_id: str, sender: str = JANE) -> dict[str, Any]:
    """The customer's reply to the message `to` (threaded by In-Reply-To and References)."""
    headers = {"In-Reply-To": to, "References": to}
    return api.deliver(mail(sender=sender, subject="Re: Printer", message_id=message_id, headers=headers))


def conversation(number: int) -> list[str]:
    """The texts' message ids of a ticket's conversation, newest first."""
    status, page = call("GET", f"/tickets/{number}/messages")
    assert status == 200
    return [m["external_id"] for m in page["messages"]]


def events(number: int) -> list[dict[str, Any]]:
    status, page = call("GET", f"/tickets/{number}/events", query={"limit": "100"})
    assert status == 200
    return list(page["events"])


def of_team(api: EmailHarness, number: int, team: str, assignee: str | None = None) -> None:
    """Give a ticket a team (and an assignee) as routing would."""
    status, body = call("GET", f"/tickets/{number}")
    assert status == 200
    actions: list[Any] = [TicketItem.team.set(team)]
    if assignee:
        actions.append(TicketItem.assignee.set(assignee))
    TicketItem(pk=f"TICKET#{body['ticket']['id']}", sk="TICKET").update(actions=actions)


def test_a_merged_ticket_s_messages_and_later_replies_join_the_other_ticket(api: EmailHarness) -> None:
    # Given Jane wrote twice about the same problem, in two threads
    a = opened(api, "<a1@customer.example>")
    b = opened(api, "<b1@customer.example>")
    # When alice merges A into B
    status, merged = call("POST", f"/tickets/{a}/merge", {"into": str(b)})
    # Then A is closed and linked to B, and B's conversation has A's message
    assert status == 200
    source, target = merged["source"]["ticket"], merged["target"]["ticket"]
    assert (source["status"], source["merged_into"], source["merge"]["status"]) == (
        "closed",
        target["id"],
        "new",
    )
    assert (target["merged_from"], merged["moved"]) == ([source["id"]], 1)
    assert conversation(b) == ["<b1@customer.example>", "<a1@customer.example>"]
    assert conversation(a) == []
    # And both histories say who merged what
    assert next(e for e in events(a) if e["type"] == "merged")["data"]["by"] == "alice"
    assert next(e for e in events(b) if e["type"] == "merged_from")["data"]["ticket_id"] == source["id"]
    # And Jane's next reply to A's thread lands in B
    answer = reply(api, "<a1@customer.example>", "<a2@customer.example>")
    assert (answer["outcome"], answer["ticket_number"]) == ("threaded", b)
    assert conversation(b)[0] == "<a2@customer.example>"
    # And the same request again merges nothing twice
    status, again = call("POST", f"/tickets/{a}/merge", {"into": str(b)})
    assert status == 200
    assert again["source"]["version"] == merged["source"]["version"]
    assert [e["type"] for e in events(a)].count("merged") == 1
    assert len(conversation(b)) == 3


def test_a_merge_on_a_stale_version_or_across_customers_is_refused(api: EmailHarness) -> None:
    a = opened(api, "<a1@customer.example>")
    b = opened(api, "<b1@customer.example>")
    other = opened(api, "<c1@else.example>", sender="Max <max@else.example>")
    assert call("PATCH", f"/tickets/{a}", {"priority": "high"})[0] == 200  # A is at version 2 now
    status, problem = call("POST", f"/tickets/{a}/merge", {"into": str(b)}, headers={"If-Match": '"1"'})
    assert (status, problem["type"]) == (409, "urn:helpdesk:problem:stale-version")
    assert problem["current"]["version"] == 2
    status, problem = call("POST", f"/tickets/{a}/merge", {"into": str(b), "version": 1})
    assert status == 409
    status, problem = call("POST", f"/tickets/{a}/merge", {"into": str(other)})
    assert (status, problem["type"]) == (409, "urn:helpdesk:problem:not-mergeable")
    assert "merge the customers first" in problem["detail"]
    assert call("POST", f"/tickets/{a}/merge", {"into": str(a)})[0] == 409
    assert call("POST", f"/tickets/{a}/merge", {"into": "999999"})[0] == 404
    assert conversation(a) == ["<a1@customer.example>"]


def test_merging_follows_the_caller_s_scope(api: EmailHarness) -> None:
    a = opened(api, "<a1@customer.example>")
    b = opened(api, "<b1@customer.example>")
    of_team(api, a, "support")
    of_team(api, b, "billing", assignee="alice")  # alice sees it: it is hers
    # carol (billing) does not see A: it does not exist for her
    status, problem = call("POST", f"/tickets/{a}/merge", {"into": str(b)}, agent="carol")
    assert (status, problem["type"]) == (404, "urn:helpdesk:problem:ticket-not-found")
    # alice sees both, but moving a support conversation into billing takes a supervisor
    status, problem = call("POST", f"/tickets/{a}/merge", {"into": str(b)})
    assert (status, problem["type"]) == (403, "urn:helpdesk:problem:forbidden")
    assert call("POST", f"/tickets/{a}/unmerge")[0] == 409  # not merged


def test_an_unmerge_restores_the_ticket_and_its_messages(api: EmailHarness) -> None:
    a = opened(api, "<a1@customer.example>")
    b = opened(api, "<b1@customer.example>")
    assert call("PATCH", f"/tickets/{a}", {"status": "pending"})[0] == 200
    assert call("POST", f"/tickets/{a}/merge", {"into": str(b)})[0] == 200
    status, undone = call("POST", f"/tickets/{a}/unmerge", agent="bob")
    assert status == 200
    source = undone["source"]["ticket"]
    assert (source["status"], source["merged_into"], source["merge"]["undone_by"]) == ("pending", None, "bob")
    assert (undone["target"]["ticket"]["merged_from"], undone["moved"]) == ([], 1)
    assert conversation(a) == ["<a1@customer.example>"]
    assert conversation(b) == ["<b1@customer.example>"]
    assert events(a)[-1]["type"] == "unmerged"
    assert events(b)[-1]["type"] == "unmerged_from"
    # the same request again changes nothing
    status, again = call("POST", f"/tickets/{a}/unmerge", agent="bob")
    assert status == 200
    assert again["source"]["version"] == undone["source"]["version"]
    assert [e["type"] for e in events(a)].count("unmerged") == 1
    # and a reply to A's thread leads to A again
    assert reply(api, "<a1@customer.example>", "<a2@customer.example>")["ticket_number"] == a


def test_an_unmerge_is_refused_while_the_other_ticket_is_merged_elsewhere(api: EmailHarness) -> None:
    a = opened(api, "<a1@customer.example>")
    b = opened(api, "<b1@customer.example>")
    c = opened(api, "<c1@customer.example>")
    assert call("POST", f"/tickets/{a}/merge", {"into": str(b)})[0] == 200
    assert call("POST", f"/tickets/{b}/merge", {"into": str(c)})[0] == 200
    status, problem = call("POST", f"/tickets/{a}/unmerge")
    assert (status, problem["type"]) == (409, "urn:helpdesk:problem:not-merged")
    assert conversation(c) == ["<c1@customer.example>", "<b1@customer.example>", "<a1@customer.example>"]


def test_a_split_message_opens_a_new_linked_ticket_that_is_routed(
    api: EmailHarness, deployment: Deployment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.route_ticket import app as router

    a = opened(api, "<a1@customer.example>")
    assert reply(api, "<a1@customer.example>", "<a2@customer.example>")["ticket_number"] == a
    status, page = call("GET", f"/tickets/{a}/messages")
    second = page["messages"][0]
    assert second["external_id"] == "<a2@customer.example>"
    cursor: dict[str, str] = {}
    _stream_event(deployment, cursor)  # skip what happened before
    # When alice splits the second message into a ticket of its own
    status, split = call("POST", f"/tickets/{a}/messages/{second['ref']}/split")
    # Then a new ticket, linked to A, has the message, and A no longer does
    assert status == 201
    new = split["ticket"]["ticket"]
    assert (new["linked_ticket_id"], new["customer_id"], new["channel"]) == (
        split["original"]["ticket"]["id"],
        split["original"]["ticket"]["customer_id"],
        "email",
    )
    assert new["number"] == a + 1
    assert conversation(new["number"]) == ["<a2@customer.example>"]
    assert conversation(a) == ["<a1@customer.example>"]
    assert events(a)[-1]["type"] == "split"
    assert events(new["number"])[0]["data"]["by"] == "alice"
    # And the message's id finds the new ticket, and a reply to it joins it
    status, found = call("GET", "/tickets/%3Ca2%40customer.example%3E")
    assert (status, found["ticket"]["id"]) == (200, new["id"])
    assert reply(api, "<a2@customer.example>", "<a3@customer.example>")["ticket_number"] == new["number"]
    # And routing takes the new ticket from the stream, as any new ticket
    event = _stream_event(deployment, cursor)
    inserts = [r["dynamodb"]["Keys"] for r in event["Records"] if r["eventName"] == "INSERT"]
    assert [k["pk"]["S"] for k in inserts if k["sk"]["S"] == "TICKET"] == [f"TICKET#{new['id']}"]
    app_config = use_config(CONFIG, tmp_path, monkeypatch)
    assert app_config.routing.default_team == "support"
    router._routing_context.cache_clear()
    assert router.handler(event, FakeLambdaContext()) == {"batchItemFailures": []}
    status, routed = call("GET", f"/tickets/{new['number']}")
    assert routed["ticket"]["team"] == "support"
    # And the same request again answers the same ticket
    status, again = call("POST", f"/tickets/{a}/messages/{second['ref']}/split")
    assert (status, again["ticket"]["ticket"]["id"]) == (201, new["id"])


def test_only_a_customer_s_message_of_several_is_split(api: EmailHarness) -> None:
    a = opened(api, "<a1@customer.example>")
    status, page = call("GET", f"/tickets/{a}/messages")
    only = page["messages"][0]["ref"]
    status, problem = call("POST", f"/tickets/{a}/messages/{only}/split")
    assert (status, problem["type"]) == (409, "urn:helpdesk:problem:not-splittable")
    assert call("POST", f"/tickets/{a}/notes", {"text": "call her back"})[0] == 201
    status, page = call("GET", f"/tickets/{a}/messages")
    note = page["messages"][0]["ref"]
    assert call("POST", f"/tickets/{a}/messages/{note}/split")[0] == 409
    assert call("POST", f"/tickets/{a}/messages/bm90LWEta2V5/split")[0] == 404
