"""The agent API's reads, through the real handler on moto: a ticket's detail and its conversation
a page at a time, one message whole, attachment links, events, an agent's actions, the agents and
teams, and customers found by an identity."""

from __future__ import annotations

import base64
import json
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from functions.agent_api import app
from shared.logic.cursors import encode_cursor
from tests.integration.conftest import EmailHarness, mail, use_config
from tests.integration.test_agent_api import call, id_token, respond

CONFIG = """
teams: [{id: support, name: Support, lead: sam}, {id: billing}]
chat: {default_sms_region: US}
agents:
  - {id: alice, name: Alice, teams: [support], default_presence: online}
  - {id: bob, teams: [support]}
  - {id: carol, teams: [billing]}
  - {id: sam, teams: [support]}
"""


@pytest.fixture
def api(email: EmailHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EmailHarness:
    use_config(CONFIG, tmp_path, monkeypatch)
    app._agent_context.cache_clear()
    return email


def html_mail(
    index: int, *, reply_to: str | None, html_size: int = 2000, attachment: bytes | None = None
) -> bytes:
    message = EmailMessage()
    message["From"] = '"Jane Doe" <jane.doe@customer.example>'
    message["To"] = "support@support.example.com"
    message["Subject"] = "Printer not working" if reply_to is None else "Re: Printer not working"
    message["Message-ID"] = f"<m{index}@mail.customer.example>"
    if reply_to is not None:
        message["In-Reply-To"] = reply_to
        message["References"] = reply_to
    message.set_content(f"Message number {index}.")
    filler = "".join(
        f"<p>Line {n} of message {index}, with some words to fill it.</p>" for n in range(html_size // 60)
    )
    message.add_alternative(
        f"<html><body><p>Message number {index}.</p>{filler}</body></html>", subtype="html"
    )
    if attachment is not None:
        message.add_attachment(attachment, maintype="application", subtype="pdf", filename="invoice 7.pdf")
    return message.as_bytes()


def conversation_of(api: EmailHarness, count: int, **kwargs: Any) -> None:
    api.deliver(html_mail(0, reply_to=None, **kwargs))
    for index in range(1, count):
        api.deliver(html_mail(index, reply_to="<m0@mail.customer.example>", **kwargs))


def test_a_long_html_conversation_is_read_a_page_at_a_time_newest_first(api: EmailHarness) -> None:
    # Given a ticket of 24 HTML emails of about 36 kB of HTML each (about 1 MB in all)
    conversation_of(api, 24, html_size=40_000)
    # When an agent opens it
    response = respond("GET", "/tickets/1")
    detail = json.loads(response["body"])
    # Then the detail carries the newest 20 messages without their HTML, so it stays small
    assert response["statusCode"] == 200
    assert len(response["body"]) < 60_000
    first = detail["conversation"]
    assert [m["text"] for m in first["messages"][:2]] == ["Message number 23.", "Message number 22."]
    assert (len(first["messages"]), first["limit"]) == (20, 20)
    assert all("html" not in m and m["html_bytes"] > 30_000 for m in first["messages"])
    # And paging on from its cursor, then with limit 3, reaches every message once, oldest last
    seen = [m["text"] for m in first["messages"]]
    cursor = first["next_cursor"]
    while cursor is not None:
        status, page = call("GET", "/tickets/1/messages", query={"limit": "3", "cursor": cursor})
        assert status == 200
        assert len(page["messages"]) <= 3
        seen += [m["text"] for m in page["messages"]]
        cursor = page["next_cursor"]
    assert seen == [f"Message number {n}." for n in range(23, -1, -1)]


def test_a_message_opens_whole_with_its_html_and_full_text(api: EmailHarness) -> None:
    conversation_of(api, 2)
    _, page = call("GET", "/tickets/1/messages", query={"limit": "1"})
    (newest,) = page["messages"]

    status, body = call("GET", f"/tickets/1/messages/{newest['ref']}")

    assert status == 200
    assert body["message"]["id"] == newest["id"]
    assert "Message number 1." in body["message"]["html"]
    assert len(body["message"]["html"].encode()) == newest["html_bytes"]
    # a ref of another ticket's shape, or none at all, is no message of this ticket
    forged = base64.urlsafe_b64encode(b"EVENT#2026-03-02T09:16:02.412Z#x").decode().rstrip("=")
    for ref in (forged, "not-base64!", "TVNHIzIwMjYtMDMtMDJUMDk6MTY6MDIuNDEyWiNub3BlQHg"):
        status, problem = call("GET", f"/tickets/1/messages/{ref}")
        assert (status, problem["type"]) == (404, "urn:helpdesk:problem:message-not-found")


def test_a_body_too_large_for_its_item_is_read_from_s3_when_opened(api: EmailHarness) -> None:
    # Given an email whose HTML (about 120 kB) is over the 64 kB kept on the item
    api.deliver(html_mail(0, reply_to=None, html_size=130_000))
    _, page = call("GET", "/tickets/1/messages")
    (message,) = page["messages"]
    assert message["body_key"] is not None
    assert message["html_bytes"] is None  # nothing on the item: the page stays small

    status, body = call("GET", f"/tickets/1/messages/{message['ref']}")

    assert status == 200
    assert body["message"]["text"] == "Message number 0."
    assert len(body["message"]["html"]) > 100_000
    assert "Line 2000 of message 0" in body["message"]["html"]


def test_a_cursor_no_listing_handed_out_is_refused(api: EmailHarness) -> None:
    conversation_of(api, 2)
    for cursor in ("%%%", encode_cursor(["EVENT#x"]), encode_cursor(["MSG#x", "y"]), "W10"):
        status, problem = call("GET", "/tickets/1/messages", query={"cursor": cursor})
        assert (status, problem["type"]) == (400, "urn:helpdesk:problem:invalid-cursor"), cursor
    status, problem = call("GET", "/tickets/1/messages", query={"limt": "3"})
    assert (status, problem["detail"]) == (400, "unknown query parameter(s): limt")
    assert call("GET", "/tickets/1/messages", query={"limit": "101"})[0] == 400


def test_an_attachment_downloads_through_a_short_lived_link_that_forces_a_download(api: EmailHarness) -> None:
    api.deliver(html_mail(0, reply_to=None, attachment=b"%PDF-1.4 invoice"))
    _, page = call("GET", "/tickets/1/messages")
    (message,) = page["messages"]
    assert [a["name"] for a in message["attachments"]] == ["invoice 7.pdf"]

    status, link = call("GET", f"/tickets/1/messages/{message['ref']}/attachments/0")

    assert status == 200
    assert (link["stored"], link["name"], link["content_type"]) == (True, "invoice 7.pdf", "application/pdf")
    query = parse_qs(urlparse(link["url"]).query)
    assert query["X-Amz-Expires"] == ["300"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["response-content-disposition"][0].startswith("attachment;")
    assert "invoice" in query["response-content-disposition"][0]
    status, problem = call("GET", f"/tickets/1/messages/{message['ref']}/attachments/1")
    assert (status, problem["type"]) == (404, "urn:helpdesk:problem:attachment-not-found")


def test_a_tickets_events_are_paged_oldest_first(api: EmailHarness) -> None:
    api.deliver(mail())
    for priority in ("high", "low", "urgent"):
        assert call("PATCH", "/tickets/1", {"priority": priority})[0] == 200
    events: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        status, page = call("GET", "/tickets/1/events", query=query)
        assert status == 200
        assert len(page["events"]) <= 2
        events += page["events"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert events[0]["type"] == "created"
    changes = [e["data"]["changes"]["priority"] for e in events if e["type"] == "updated"]
    assert changes == [["normal", "high"], ["high", "low"], ["low", "urgent"]]
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)


def test_an_agents_actions_are_listed_newest_first_for_them_and_their_supervisor(api: EmailHarness) -> None:
    api.deliver(mail())
    api.deliver(mail(subject="Second"))
    assert call("PATCH", "/tickets/1", {"priority": "high"}, agent="alice")[0] == 200
    assert call("POST", "/tickets/2/notes", {"text": "Checked the logs"}, agent="alice")[0] == 201
    assert call("PATCH", "/tickets/2", {"status": "open"}, agent="bob")[0] == 200

    status, page = call("GET", "/agents/alice/actions", query={"limit": "1"}, agent="alice")
    assert status == 200
    assert [(a["event"]["type"], a["event"]["data"]["by"]) for a in page["actions"]] == [
        ("note_added", "alice")
    ]
    status, rest = call("GET", "/agents/alice/actions", query={"cursor": page["next_cursor"]}, agent="alice")
    assert [a["event"]["data"]["changes"] for a in rest["actions"]] == [{"priority": ["normal", "high"]}]
    assert rest["next_cursor"] is None

    # another agent may not read them; a supervisor of alice's team, and an admin, may
    status, problem = call("GET", "/agents/alice/actions", agent="bob")
    assert (status, problem["type"]) == (403, "urn:helpdesk:problem:forbidden")
    assert call("GET", "/agents/alice/actions", agent="sam", supervisor=True)[0] == 200
    supervisor_elsewhere = {**id_token("carol"), "cognito:groups": "[supervisors]"}
    assert call("GET", "/agents/alice/actions", claims=supervisor_elsewhere)[0] == 403
    admin = {**id_token("carol"), "cognito:groups": "[admins]"}
    assert len(call("GET", "/agents/alice/actions", claims=admin)[1]["actions"]) == 2
    assert call("GET", "/agents/zoe/actions", claims=admin)[0] == 404


def test_agents_and_teams_show_presence_load_and_the_queues(api: EmailHarness) -> None:
    assert call("PUT", "/agents/bob/presence", {"status": "away"}, agent="bob")[0] == 200
    api.deliver(mail())
    call("PATCH", "/tickets/1", {"assignee": "alice"}, agent="alice")

    status, body = call("GET", "/agents", query={"team": "support"})

    assert status == 200
    agents = {a["id"]: a for a in body["agents"]}
    assert list(agents) == ["alice", "bob", "sam"]
    assert (agents["alice"]["presence"], agents["alice"]["name"]) == (
        "online",
        "Alice",
    )  # the config's default
    assert agents["bob"]["presence"] == "away"
    assert agents["sam"]["presence"] == "offline"
    assert agents["alice"]["capacity"] == {"email": 10, "sms": 5, "social": 5}

    status, body = call("GET", "/teams")
    assert status == 200
    support, billing = body["teams"]
    assert (support["id"], support["name"], support["lead"]) == ("support", "Support", "sam")
    assert (support["agents"], support["online"]) == (["alice", "bob", "sam"], 1)
    assert (billing["agents"], billing["queued"], billing["more"]) == (["carol"], 0, False)


def test_a_customer_is_found_by_an_identity_written_as_people_write_it(api: EmailHarness) -> None:
    api.deliver(mail(sender="Jane <Jane.Doe@Customer.example>"))

    status, body = call("GET", "/customers", query={"email": "JANE.DOE@customer.EXAMPLE"})

    assert status == 200
    assert body["customer"]["name"] == "Jane"
    assert [t["number"] for t in body["tickets"]] == [1]
    assert body["hidden"] == 0
    status, problem = call("GET", "/customers", query={"email": "nobody@customer.example"})
    assert (status, problem["type"]) == (404, "urn:helpdesk:problem:customer-not-found")
    status, problem = call("GET", "/customers", query={"email": "not an address"})
    assert (status, problem["type"]) == (400, "urn:helpdesk:problem:invalid-identity")
    assert call("GET", "/customers", query={"email": "a@b.example", "phone": "+14255550182"})[0] == 400
    assert call("GET", "/customers")[0] == 400
    status, problem = call("GET", "/customers", query={"phone": "(425) 555-0182"})
    assert (status, problem["type"]) == (404, "urn:helpdesk:problem:customer-not-found")
