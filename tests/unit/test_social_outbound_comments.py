"""Social senders on public comments and mentions: the public answer under a comment or post, and
Meta's private reply to a comment's author (decision 90)."""

from __future__ import annotations

import pytest

from shared.channels.outbound import SendError
from shared.channels.social_outbound import (
    GRAPH_API_URL,
    HEADER_PRIVATE_REPLY_TO,
    HEADER_PUBLIC_REPLY_TO,
    X_API_URL,
    private_reply_window,
)
from tests.unit.test_social_outbound import (
    IG_ACCOUNT,
    NOW,
    PAGE,
    D,
    FakeTransport,
    H,
    message,
    meta,
    ok,
    x_sender,
)

PAGE_COMMENT = "102938475610293_8877665544332211"
IG_COMMENT = "17865799348089039"
MENTION_POST = "1879210000000000000"


def test_facebook_public_reply_is_a_comment_under_the_customers_comment():
    # Given an agent's reply on a Page comment ticket, whose customer wrote 10 days ago
    transport = FakeTransport([ok({"id": "8877665544330000_999"})])
    reply = message("messenger", wrote=10 * D, headers={HEADER_PUBLIC_REPLY_TO: PAGE_COMMENT})
    # When it is sent
    provider_id = meta(transport).send(reply)
    # Then it is a comment under the comment, with the Page's token, whatever the messaging window
    assert provider_id == "8877665544330000_999"
    (request,) = transport.requests
    assert (request.method, request.url) == ("POST", f"{GRAPH_API_URL}/{PAGE_COMMENT}/comments")
    assert request.headers["Authorization"] == "Bearer page-token-SECRET"
    assert request.json() == {"message": "Your refund is on its way."}


def test_instagram_public_reply_goes_to_the_comments_replies():
    transport = FakeTransport([ok({"id": "17873440459141021"})])
    reply = message("instagram", headers={HEADER_PUBLIC_REPLY_TO: IG_COMMENT})

    assert meta(transport).send(reply) == "17873440459141021"

    (request,) = transport.requests
    assert request.url == f"{GRAPH_API_URL}/{IG_COMMENT}/replies"
    assert request.headers["Authorization"] == "Bearer ig-page-token-SECRET"
    assert request.json() == {"message": "Your refund is on its way."}


def test_x_public_reply_is_a_reply_post_to_the_mention():
    transport = FakeTransport([ok({"data": {"id": "1879300000000000000", "text": "…"}}, 201)])
    reply = message("x", wrote=None, headers={HEADER_PUBLIC_REPLY_TO: MENTION_POST})

    assert x_sender(transport).send(reply) == "1879300000000000000"

    (request,) = transport.requests
    assert (request.method, request.url) == ("POST", f"{X_API_URL}/tweets")
    assert request.headers["Authorization"] == "Bearer x-user-token-SECRET"
    assert request.json() == {
        "text": "Your refund is on its way.",
        "reply": {"in_reply_to_tweet_id": MENTION_POST},
    }


def test_messenger_private_reply_names_the_comment_as_recipient():
    # Given a private reply to a Page comment written 6 days ago
    transport = FakeTransport([ok({"recipient_id": "7392015648120394", "message_id": "m_private"})])
    reply = message("messenger", wrote=6 * D, headers={HEADER_PRIVATE_REPLY_TO: PAGE_COMMENT})
    # When it is sent
    assert meta(transport).send(reply) == "m_private"
    # Then the Send API gets the comment as recipient, not the author's id, and no messaging tag
    (request,) = transport.requests
    assert request.url == f"{GRAPH_API_URL}/{PAGE}/messages"
    assert request.json() == {
        "recipient": {"comment_id": PAGE_COMMENT},
        "message": {"text": "Your refund is on its way."},
    }


def test_instagram_private_reply_goes_to_me_messages():
    transport = FakeTransport([ok({"recipient_id": "1", "message_id": "aWdf_private"})])
    reply = message("instagram", headers={HEADER_PRIVATE_REPLY_TO: IG_COMMENT})

    assert meta(transport).send(reply) == "aWdf_private"

    (request,) = transport.requests
    assert request.url == f"{GRAPH_API_URL}/me/messages"
    assert request.json()["recipient"] == {"comment_id": IG_COMMENT}
    assert reply.from_address == IG_ACCOUNT


@pytest.mark.parametrize(
    ("outbound", "match"),
    [
        (message("messenger", wrote=7 * D, headers={HEADER_PRIVATE_REPLY_TO: PAGE_COMMENT}), "within 7 days"),
        (message("instagram", wrote=None, headers={HEADER_PRIVATE_REPLY_TO: IG_COMMENT}), "time is unknown"),
        (message("whatsapp", headers={HEADER_PRIVATE_REPLY_TO: PAGE_COMMENT}), "no private replies"),
        (message("whatsapp", headers={HEADER_PUBLIC_REPLY_TO: PAGE_COMMENT}), "no public comments"),
        (message("messenger", headers={HEADER_PUBLIC_REPLY_TO: "../me/feed"}), "Graph API id"),
        (message("messenger", text="x" * 2001, headers={HEADER_PRIVATE_REPLY_TO: PAGE_COMMENT}), "2000"),
        (message("instagram", text="é" * 501, headers={HEADER_PRIVATE_REPLY_TO: IG_COMMENT}), "1002 bytes"),
        (message("instagram", text="x" * 2201, headers={HEADER_PUBLIC_REPLY_TO: IG_COMMENT}), "2200"),
        (message("messenger", text="  ", headers={HEADER_PUBLIC_REPLY_TO: PAGE_COMMENT}), "empty"),
    ],
)
def test_comment_answers_meta_would_refuse_are_refused_for_good_before_any_request(outbound, match):
    transport = FakeTransport()
    with pytest.raises(SendError, match=match) as caught:
        meta(transport).send(outbound)
    assert caught.value.permanent
    assert transport.requests == []


@pytest.mark.parametrize(
    ("outbound", "match"),
    [
        (message("x", text="x" * 281, headers={HEADER_PUBLIC_REPLY_TO: MENTION_POST}), "281 characters"),
        (message("x", headers={HEADER_PUBLIC_REPLY_TO: "12/retweets"}), "numeric id"),
    ],
)
def test_x_public_replies_x_would_refuse_are_refused_for_good(outbound, match):
    transport = FakeTransport()
    with pytest.raises(SendError, match=match) as caught:
        x_sender(transport).send(outbound)
    assert caught.value.permanent
    assert transport.requests == []


def test_x_private_reply_is_a_dm_to_the_author():
    # Given a private reply to an X mention (X has no private replies: a DM to the author's id)
    transport = FakeTransport([ok({"data": {"dm_conversation_id": "1-2", "dm_event_id": "1590"}}, 201)])
    reply = message("x", wrote=None, headers={HEADER_PRIVATE_REPLY_TO: MENTION_POST})

    assert x_sender(transport).send(reply) == "1590"

    (request,) = transport.requests
    assert request.url == f"{X_API_URL}/dm_conversations/with/{reply.to}/messages"


def test_a_private_reply_already_sent_from_elsewhere_is_refused_for_good():
    # Given Meta refusing a second private reply to the same comment (an agent answered in Meta's inbox)
    error = {"error": {"message": "Only one private reply", "code": 10, "error_subcode": 2534014}}
    transport = FakeTransport([ok(error, 400)])
    reply = message("messenger", headers={HEADER_PRIVATE_REPLY_TO: PAGE_COMMENT})
    # Then the send fails for good with Meta's reason
    with pytest.raises(SendError, match="2534014") as caught:
        meta(transport).send(reply)
    assert caught.value.permanent


def test_private_reply_window_is_seven_days_from_the_comment():
    assert private_reply_window(NOW - 7 * D + H, NOW) is None
    assert private_reply_window(NOW + H, NOW) is None  # a comment "from the future": just now
    refused = private_reply_window(NOW - 7 * D, NOW)
    assert refused is not None
    assert "7d 0h ago" in refused
