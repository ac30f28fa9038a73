"""Search through the real handlers on moto: route_ticket keeps the index from the tickets table's
stream (ticket and message records, filtered as the template filters them), and the agent API
pages it over the caller's scopes."""

from __future__ import annotations

from typing import Any

from functions.route_ticket import app as route_ticket
from shared.dal.items import SearchEntryItem
from simulator.resources import Deployment
from tests.integration.conftest import EmailHarness, FakeLambdaContext, mail
from tests.integration.test_agent_api import call, id_token
from tests.integration.test_agent_api_views import desk, numbers, pump
from tests.integration.test_route_ticket import _stream_event

__all__ = ["desk"]  # the fixture, shared with test_agent_api_views

ADMIN = {**id_token("carol"), "cognito:groups": "[admins]"}


def search(q: str, agent: str = "alice", **query: str) -> tuple[int, dict[str, Any]]:
    return call("GET", "/search", agent=agent, query={"q": q, **query})


def test_tickets_are_found_by_the_words_of_their_subject_and_messages_in_the_callers_teams(
    desk: EmailHarness, deployment: Deployment
) -> None:
    cursor: dict[str, str] = {}
    # Given a ticket of support's, a note on it, and a ticket of billing's
    desk.deliver(mail(subject="Printer on fire", body="The toner smells of smoke.\n"))
    desk.deliver(mail(subject="Wrong invoice amount", body="My printer invoice is wrong.\n"))
    pump(deployment, cursor)
    assert call("POST", "/tickets/1/notes", {"text": "Sent a technician, Müller."}, agent="alice")[0] == 201
    pump(deployment, cursor)

    # Then support's agent finds #1 by its subject, its message and its note, never billing's #2
    status, page = search("PRINTER")
    assert (status, numbers(page), page["terms"], page["next_cursor"]) == (200, [1], ["printer"], None)
    assert page["tickets"][0]["subject"] == "Printer on fire"
    assert numbers(search("toner smoke")[1]) == numbers(search("muller")[1]) == [1]
    assert numbers(search("invoice")[1]) == []
    assert numbers(search("printer", agent="carol")[1]) == [2]
    assert numbers(call("GET", "/search", claims=ADMIN, query={"q": "printer"})[1]) == [2, 1]
    status, problem = search("printer", team="billing")
    assert (status, problem["type"]) == (403, "urn:helpdesk:problem:forbidden")

    # When support transfers #1 to billing, its words go with it
    assert call("PATCH", "/tickets/1", {"team": "billing"}, claims=ADMIN)[0] == 200
    pump(deployment, cursor)
    assert numbers(search("toner")[1]) == []
    assert numbers(search("toner", agent="carol")[1]) == [1]


def test_a_stream_read_again_writes_no_entry_twice_and_search_pages_reach_every_ticket_once(
    desk: EmailHarness, deployment: Deployment
) -> None:
    cursor: dict[str, str] = {}
    for n in range(7):
        desk.deliver(mail(subject=f"Invoice question {n}" if n % 3 == 0 else f"Printer question {n}"))
    pump(deployment, cursor)
    before = sorted((i.pk, i.sk) for i in SearchEntryItem.scan(SearchEntryItem.entity == "search"))

    again: dict[str, str] = {}
    while (event := _stream_event(deployment, again))["Records"]:
        assert route_ticket.handler(event, FakeLambdaContext()) == {"batchItemFailures": []}
    assert sorted((i.pk, i.sk) for i in SearchEntryItem.scan(SearchEntryItem.entity == "search")) == before

    seen: list[int] = []
    page_cursor = None
    while True:
        query = {"q": "question", "limit": "2", **({"cursor": page_cursor} if page_cursor else {})}
        status, page = call("GET", "/search", claims=ADMIN, query=query)
        assert status == 200
        seen += numbers(page)
        page_cursor = page["next_cursor"]
        if page_cursor is None:
            break
    assert seen == [7, 6, 5, 4, 3, 2, 1]
    assert search("question", cursor="W10")[0] == 400
    status, problem = search("the ?")
    assert (status, problem["type"]) == (400, "urn:helpdesk:problem:invalid-search")


def test_a_merged_tickets_messages_make_the_ticket_they_joined_findable(
    desk: EmailHarness, deployment: Deployment
) -> None:
    cursor: dict[str, str] = {}
    desk.deliver(mail(subject="Printer on fire", body="Smoke everywhere.\n"))
    desk.deliver(mail(subject="Still waiting", body="The cartridge leaks.\n"))
    pump(deployment, cursor)
    assert numbers(search("cartridge")[1]) == [2]

    # When #2 is merged into #1, its message moves there (an INSERT under #1 on the stream)
    assert call("POST", "/tickets/2/merge", {"into": "1"}, agent="alice")[0] == 200
    pump(deployment, cursor)

    # Then #1 is found by the moved message's words; #2 keeps its own (closed, merged into #1)
    assert numbers(search("cartridge")[1]) == [2, 1]
    assert numbers(search("cartridge smoke")[1]) == [1]
