"""Public tickets through the real agent_api handler on moto (decision 90): moving a comment to a
private conversation (POST /tickets/{ref}/private-reply), and ordinary replies answering in public,
then sent by the outbox with the payload each platform expects."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from shared import clock
from shared.channels.social_outbound import HttpRequest, HttpResponse, social_senders
from shared.config import load_config
from shared.logic.outbound import OutboundContext
from shared.logic.outbound_send import send_outbound
from shared.models.ticket import Ticket
from tests.integration.conftest import EmailHarness, _reset_process_caches, mail
from tests.integration.test_agent_api import call
from tests.integration.test_social_webhook import META_SECRET, X_SECRET, meta_post, x_post
from tests.integration.test_social_webhook import call as webhook

CONFIG = """
teams: [{id: support}]
agents:
  - {id: alice, teams: [support]}
  - {id: bob, teams: [support]}
"""
PAGE = "102938475610293"
PAGE_COMMENT = "102938475610293_8877665544332211"  # meta_page_comment.body
COMMENTER = "5813213455891442"
COMMENTED_AT = datetime.fromtimestamp(1736852001, UTC)
MENTION = "1879210000000000000"  # x_mention.body
MENTIONER = "3001969357"


@pytest.fixture
def api(email: EmailHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EmailHarness:
    path = tmp_path / "helpdesk.yaml"
    path.write_text(CONFIG)
    monkeypatch.setenv("HELPDESK_CONFIG", str(path))
    boto3.client("secretsmanager").put_secret_value(
        SecretId=email.deployment.name("WebhookSecret"),
        SecretString=json.dumps(
            {"meta_app_secret": META_SECRET, "meta_verify_token": "t", "x_consumer_secret": X_SECRET}
        ),
    )
    _reset_process_caches()
    return email


def public_ticket(api: EmailHarness, event: dict[str, Any]) -> Ticket:
    assert webhook(event)["statusCode"] == 200
    [ticket] = api.repository.scan_tickets()
    assert "public" in ticket.flags
    return ticket


def at(moment: datetime) -> None:
    clock.set_clock(lambda: moment)


def sender_context(api: EmailHarness, requests: list[HttpRequest]) -> OutboundContext:
    def provider(request: HttpRequest) -> HttpResponse:  # a fake Graph API and X API
        requests.append(request)
        sent = f"sent{len(requests)}"
        body = {"message_id": sent, "id": sent, "data": {"id": sent, "dm_event_id": sent}}
        return HttpResponse(200, json.dumps(body).encode())

    return OutboundContext(
        repository=api.repository,
        config=load_config(None),
        support_addresses=["support@support.example.com"],
        support_domain="support.example.com",
        senders=social_senders(lambda channel, account: "token", transport=provider),
    )


def private_reply(ticket: Ticket, text: str, **kwargs: Any) -> tuple[int, Any]:
    return call("POST", f"/tickets/{ticket.number}/private-reply", {"text": text}, **kwargs)


def test_a_page_comment_moved_to_a_private_conversation_once(api: EmailHarness) -> None:
    # Given a ticket opened by a comment on our Page, two days ago
    ticket = public_ticket(api, meta_post("meta_page_comment.body"))
    now = COMMENTED_AT + timedelta(days=2)
    at(now)
    # When alice answers its author privately
    key = {"Idempotency-Key": "move-1"}
    status, body = private_reply(ticket, "Could you send us your order number?", headers=key)
    # Then the private reply is queued to the comment's author, naming the comment
    assert status == 202
    assert {k: body[k] for k in ("channel", "to", "comment_id", "status")} == {
        "channel": "messenger",
        "to": COMMENTER,
        "comment_id": PAGE_COMMENT,
        "status": "queued",
    }
    # And a retry of the same request gets the same reply; another private reply is refused
    assert private_reply(ticket, "Could you send us your order number?", headers=key) == (202, body)
    status, problem = private_reply(ticket, "Hello again", agent="bob")
    assert (status, problem["type"]) == (409, "urn:helpdesk:problem:private-reply-sent")
    assert f"a private reply to {PAGE_COMMENT} was already queued by alice" in problem["detail"]
    # When the outbox sends it
    requests: list[HttpRequest] = []
    assert send_outbound(body["key"], sender_context(api, requests), now) == "sent"
    # Then Meta's Send API gets the comment as the recipient
    [request] = requests
    assert request.url.endswith(f"/{PAGE}/messages")
    assert request.json() == {
        "recipient": {"comment_id": PAGE_COMMENT},
        "message": {"text": "Could you send us your order number?"},
    }
    # And the ticket keeps who moved which comment, and the message sent in its conversation
    events = {e.type: e.data for e in api.repository.list_events(ticket.id)}
    queued = events["private_reply_queued"]
    assert (queued["by"], queued["comment_id"], queued["key"]) == ("alice", PAGE_COMMENT, body["key"])
    assert events["message_sent"]["private_reply_to"] == PAGE_COMMENT
    sent = [m for m in api.repository.list_messages(ticket.id) if m.direction.value == "outbound"]
    assert [(m.author, m.headers.get("private_reply_to")) for m in sent] == [("alice", PAGE_COMMENT)]
    status, page = call("GET", f"/tickets/{ticket.number}/events")
    assert status == 200
    assert "private_reply_queued" in [e["type"] for e in page["events"]]


def test_a_private_reply_after_seven_days_or_on_a_private_ticket_is_refused(api: EmailHarness) -> None:
    ticket = public_ticket(api, meta_post("meta_page_comment.body"))
    at(COMMENTED_AT + timedelta(days=7, minutes=1))

    status, problem = private_reply(ticket, "Sorry for the wait")

    assert (status, problem["type"]) == (422, "urn:helpdesk:problem:private-reply-refused")
    assert "within 7 days of the comment" in problem["detail"]
    api.deliver(mail(message_id="<plain@mail.customer.example>"))
    email_ticket = max(api.repository.scan_tickets(), key=lambda t: t.number)
    status, problem = private_reply(email_ticket, "Hi")
    assert (status, problem["type"]) == (422, "urn:helpdesk:problem:private-reply-refused")
    assert api.repository.list_outbound() == []


def test_a_reply_on_a_comment_ticket_answers_under_the_comment_in_public(api: EmailHarness) -> None:
    # Given a Page comment ticket, answered ten days later (long past any messaging window)
    ticket = public_ticket(api, meta_post("meta_page_comment.body"))
    now = COMMENTED_AT + timedelta(days=10)
    at(now)
    status, body = call("POST", f"/tickets/{ticket.number}/replies", {"text": "It ships today!"})
    assert (status, body["channel"]) == (202, "messenger")
    # When the outbox sends it
    requests: list[HttpRequest] = []
    assert send_outbound(body["key"], sender_context(api, requests), now) == "sent"
    # Then it is a comment under the customer's comment, not a message to its author
    [request] = requests
    assert request.url.endswith(f"/{PAGE_COMMENT}/comments")
    assert request.json() == {"message": "It ships today!"}


def test_an_x_mention_is_answered_in_public_by_a_reply_post_and_privately_by_dm(api: EmailHarness) -> None:
    ticket = public_ticket(api, x_post("x_mention.body"))
    now = datetime(2025, 1, 15, 9, 0, tzinfo=UTC)
    at(now)
    requests: list[HttpRequest] = []
    ctx = sender_context(api, requests)

    status, public = call("POST", f"/tickets/{ticket.number}/replies", {"text": "Looking into it!"})
    assert status == 202
    status, private = private_reply(ticket, "Which address did you order to?")
    assert (status, private["to"], private["comment_id"]) == (202, MENTIONER, MENTION)
    assert send_outbound(public["key"], ctx, now) == "sent"
    assert send_outbound(private["key"], ctx, now) == "sent"

    reply_post, dm = requests
    assert reply_post.url.endswith("/tweets")
    assert reply_post.json() == {"text": "Looking into it!", "reply": {"in_reply_to_tweet_id": MENTION}}
    assert dm.url.endswith(f"/dm_conversations/with/{MENTIONER}/messages")
    assert dm.json() == {"text": "Which address did you order to?"}
