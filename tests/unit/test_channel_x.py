"""X channel: the CRC check, signatures and Account Activity payloads."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.channels.x import (
    MalformedPayloadError,
    XBatch,
    crc_response,
    is_crc_token,
    parse_x_payload,
    verify_signature,
)
from shared.errors import InvalidEventError
from shared.models.inbound import InboundKind
from shared.models.ticket import Channel, IdentityKind

FIXTURES = Path(__file__).resolve().parents[1] / "events" / "webhooks"
SIGNATURES = json.loads((FIXTURES / "x_signatures.json").read_text())
SECRET = SIGNATURES["consumer_secret"]
US = "4337869213"
CUSTOMER = "3001969357"


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def body(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(raw(name))
    return data


def event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def mention(**tweet: Any) -> dict[str, Any]:
    payload = body("x_mention.body")
    payload["tweet_create_events"][0].update(tweet)
    return payload


def only_ignored(batch: XBatch) -> tuple[str, str, str]:
    assert not batch.messages
    assert len(batch.ignored) == 1
    ignored = batch.ignored[0]
    return ignored.reason, ignored.where, ignored.detail


# --- CRC ----------------------------------------------------------------------------------------


def test_crc_matches_the_published_x_sample() -> None:
    # The vector from X's sample code (AWS_FORMATS §3.6)
    response = crc_response(
        "9b4507b3-9040-4669-9ca3-6b94edb50553", "z3ZX4v7mAAUGykl3EcmkqbartmuW8VFOOzCloLx9Q45P0hLrFu"
    )
    assert response == {"response_token": "sha256=Cytd4Sq+NvEcV3MMrXxWJGJx5A+y/lXzzU2Maartkx8="}


def test_crc_for_the_fixture_get_event() -> None:
    query = event("apigw_v2_x_crc_get.json")["queryStringParameters"]
    assert crc_response(query["crc_token"], SECRET) == {"response_token": SIGNATURES["crc"]["response_token"]}


@pytest.mark.parametrize(("token", "secret"), [("", SECRET), ("abc", "")])
def test_crc_needs_a_token_and_a_secret(token: str, secret: str) -> None:
    with pytest.raises(InvalidEventError):
        crc_response(token, secret)


def test_crc_with_a_good_token_but_no_secret_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="secret"):
        crc_response("9b4507b3-9040-4669-9ca3-6b94edb50553", "")


@pytest.mark.parametrize(
    "token",
    ["9b4507b3-9040-4669-9ca3-6b94edb50553", "MTczNjg1MjkwMDAwMA_x-y", "A" * 128, "dGVzdHRva2VuMTIzNDU2Nzg="],
)
def test_tokens_shaped_like_x_sends_them_are_crc_tokens(token: str) -> None:
    assert is_crc_token(token)


@pytest.mark.parametrize(
    "token",
    [
        None,
        "",
        "A" * 15,
        "A" * 129,
        "1234567890123456",  # JSON number
        "-12345678901234e5",  # JSON number with an exponent
        '{"for_user_id":"1"}',
        "[1,2,3,4,5,6,7,8,9]",
        "9b4507b3+9040+4669+9ca3",
        "9b4507b3-9040-4669-9ca3-6b94edb5055\u00e9",
        "9b4507b3-9040-4669-9ca3-6b94edb5055\n",
    ],
)
def test_anything_else_is_no_crc_token(token: str | None) -> None:
    assert not is_crc_token(token)
    if token is not None:
        with pytest.raises(InvalidEventError):
            crc_response(token, SECRET)


# --- signatures ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SIGNATURES["signatures"]))
def test_every_fixture_signature_verifies(name: str) -> None:
    assert verify_signature(raw(name), SIGNATURES["signatures"][name], SECRET)


def test_http_api_dm_event_verifies_with_its_header() -> None:
    http = event("apigw_v2_x_dm_post.json")
    assert verify_signature(
        http["body"].encode("utf-8"), http["headers"]["x-twitter-webhooks-signature"], SECRET
    )


def test_wrong_secret_and_tampered_body_fail() -> None:
    signature = SIGNATURES["signatures"]["x_dm_event.body"]
    assert not verify_signature(raw("x_dm_event.body"), signature, "other-secret")
    assert not verify_signature(raw("x_dm_event.body") + b" ", signature, SECRET)


def test_signature_is_over_the_exact_utf8_bytes() -> None:
    # Given a body with "café" and an emoji as raw UTF-8
    original = raw("x_dm_event.body")
    assert "café".encode() in original
    signature = SIGNATURES["signatures"]["x_dm_event.body"]
    # Then a re-serialised body (escaped non-ASCII) does not verify
    escaped = json.dumps(json.loads(original), indent=2).encode("ascii") + b"\n"
    assert escaped != original
    assert not verify_signature(escaped, signature, SECRET)


@pytest.mark.parametrize(
    "header",
    [None, "", "sha256=", "sha256=not base64!", "sha1=6813qaBx8NUnMMTSG0ZhVVK7NzgmH8sgtyVfB3+xO70="],
)
def test_missing_or_broken_header_fails(header: str | None) -> None:
    assert not verify_signature(raw("x_dm_event.body"), header, SECRET)


def test_hex_digest_is_not_accepted() -> None:
    import hashlib
    import hmac

    hex_digest = hmac.new(SECRET.encode(), raw("x_dm_event.body"), hashlib.sha256).hexdigest()
    assert not verify_signature(raw("x_dm_event.body"), f"sha256={hex_digest}", SECRET)


def test_empty_secret_never_verifies() -> None:
    assert not verify_signature(b"{}", "sha256=AAAA", "")


@pytest.mark.parametrize("name", ["apigw_v2_x_crc_get.json", "apigw_v2_x_dm_post.json"])
def test_http_api_fixtures_have_the_payload_v2_shape(name: str) -> None:
    from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventV2Model

    parsed = APIGatewayProxyEventV2Model.model_validate(event(name))
    assert parsed.requestContext.http.path == "/webhooks/x"


# --- direct messages ----------------------------------------------------------------------------


def test_dm_from_a_customer() -> None:
    batch = parse_x_payload(body("x_dm_event.body"))
    assert batch.for_user_id == US
    assert batch.ignored == []
    (message,) = batch.messages
    assert message.channel is Channel.X
    assert message.kind is InboundKind.MESSAGE
    assert message.provider_message_id == "1879201836573458432"
    assert message.sender is not None
    assert (message.sender.kind, message.sender.value) == (IdentityKind.X, CUSTOMER)
    assert message.sender_name == "Jordan Brinks"
    assert message.metadata == {"screen_name": "jbrinks"}
    assert message.recipient == US
    assert message.conversation_key == f"x:{US}:{CUSTOMER}"
    assert message.sent_at == datetime(2025, 1, 14, 11, 10, 0, 123000, tzinfo=UTC)
    assert message.text == "Hi! My café order #4821 is late 🙁"
    assert message.public is False
    assert message.dedupe_key == f"x:{US}:1879201836573458432"


def test_our_own_dm_is_ignored() -> None:
    batch = parse_x_payload(body("x_dm_own_echo.body"))
    assert only_ignored(batch) == ("own message", "direct_message_events[0]", "1879202222222222222")


def test_dm_media_becomes_an_attachment_and_its_link_leaves_the_text() -> None:
    (message,) = parse_x_payload(body("x_dm_media.body")).messages
    assert message.text == "Here is the damage"
    (attachment,) = message.attachments
    assert attachment.type == "image"
    assert attachment.media_id == "1879201999999991808"
    assert attachment.mime_type == "image/jpeg"
    assert attachment.url is not None
    assert attachment.url.startswith("https://ton.twitter.com/")


def test_dm_video_uses_the_best_mp4() -> None:
    payload = body("x_dm_media.body")
    media = payload["direct_message_events"][0]["message_create"]["message_data"]["attachment"]["media"]
    media.update(
        type="video",
        video_info={
            "variants": [
                {"bitrate": 832000, "content_type": "video/mp4", "url": "https://video.twimg.com/dm/low.mp4"},
                {"content_type": "application/x-mpegURL", "url": "https://video.twimg.com/dm/pl.m3u8"},
                {
                    "bitrate": 2176000,
                    "content_type": "video/mp4",
                    "url": "https://video.twimg.com/dm/high.mp4",
                },
            ]
        },
    )
    (attachment,) = parse_x_payload(payload).messages[0].attachments
    assert (attachment.type, attachment.url, attachment.mime_type) == (
        "video",
        "https://video.twimg.com/dm/high.mp4",
        "video/mp4",
    )
    assert attachment.data == {"x_type": "video"}


def test_dm_quick_reply_response() -> None:
    payload = body("x_dm_event.body")
    payload["direct_message_events"][0]["message_create"]["message_data"]["quick_reply_response"] = {
        "type": "options",
        "metadata": "order_status",
    }
    assert parse_x_payload(payload).messages[0].quick_reply_payload == "order_status"


def test_dm_from_an_unknown_user_has_no_name() -> None:
    payload = body("x_dm_event.body")
    del payload["users"]
    (message,) = parse_x_payload(payload).messages
    assert message.sender_name is None
    assert message.metadata == {}


def test_several_dms_in_one_delivery() -> None:
    payload = body("x_dm_event.body")
    second = copy.deepcopy(payload["direct_message_events"][0])
    second["id"] = "1879201836573458999"
    own = body("x_dm_own_echo.body")["direct_message_events"][0]
    payload["direct_message_events"] += [own, second]
    batch = parse_x_payload(payload)
    assert [m.provider_message_id for m in batch.messages] == ["1879201836573458432", "1879201836573458999"]
    assert batch.ignored_reasons() == {"own message": 1}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"id": None}, "malformed"),
        ({"created_timestamp": "yesterday"}, "malformed"),
        ({"message_create": {"target": {"recipient_id": US}}}, "malformed"),
        ({"type": "participants_join", "message_create": None}, "unsupported direct message event"),
    ],
)
def test_broken_dm_events_are_ignored_with_a_reason(change: dict[str, Any], reason: str) -> None:
    payload = body("x_dm_event.body")
    dm = payload["direct_message_events"][0]
    for key, value in change.items():
        if value is None:
            dm.pop(key)
        else:
            dm[key] = value
    assert only_ignored(parse_x_payload(payload))[0] == reason


def test_dm_events_that_are_not_a_list_are_ignored() -> None:
    payload = {"for_user_id": US, "direct_message_events": {"id": "1"}}
    assert only_ignored(parse_x_payload(payload))[0:2] == ("malformed", "direct_message_events")


# --- mentions -----------------------------------------------------------------------------------


def test_mention_becomes_a_public_message() -> None:
    (message,) = parse_x_payload(body("x_mention.body")).messages
    assert message.kind is InboundKind.MENTION
    assert message.public is True
    assert message.provider_message_id == "1879210000000000000"
    assert message.sender is not None
    assert message.sender.value == CUSTOMER
    assert message.sender_name == "Jordan Brinks"
    assert message.text == "@acme_support my order #4821 never arrived, any update?"
    assert message.sent_at == datetime(2025, 1, 14, 11, 25, tzinfo=UTC)
    assert message.post_id == "1879210000000000000"
    assert message.reply_to is None
    assert message.conversation_key == f"x:{US}:mention:1879210000000000000:{CUSTOMER}"


def test_reply_to_our_post_counts_as_a_mention() -> None:
    payload = mention(
        entities={"user_mentions": []},
        in_reply_to_user_id_str=US,
        in_reply_to_status_id_str="1879200000000000000",
        text="still waiting",
    )
    (message,) = parse_x_payload(payload).messages
    assert (message.reply_to, message.post_id) == ("1879200000000000000", "1879200000000000000")


def test_extended_tweet_full_text_is_preferred() -> None:
    long_text = "@acme_support " + "very long complaint " * 12
    payload = mention(
        truncated=True,
        extended_tweet={"full_text": long_text, "entities": {"user_mentions": [{"id_str": US}]}},
    )
    assert parse_x_payload(payload).messages[0].text == long_text


def test_created_at_is_used_without_timestamp_ms() -> None:
    payload = mention()
    del payload["tweet_create_events"][0]["timestamp_ms"]
    assert parse_x_payload(payload).messages[0].sent_at == datetime(2025, 1, 14, 11, 25, tzinfo=UTC)


def test_mention_with_a_photo() -> None:
    media = {
        "id_str": "1879210000000000001",
        "type": "photo",
        "media_url_https": "https://pbs.twimg.com/media/G1.png",
        "url": "https://t.co/abc",
    }
    payload = mention(
        text="@acme_support look https://t.co/abc",
        entities={"user_mentions": [{"id_str": US}], "media": [media]},
        extended_entities={"media": [media]},
    )
    (message,) = parse_x_payload(payload).messages
    assert message.text == "@acme_support look"
    assert [(a.type, a.mime_type) for a in message.attachments] == [("image", "image/png")]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"user": {"id_str": US, "name": "Acme Support", "screen_name": "acme_support"}}, "own post"),
        ({"retweeted_status": {"id_str": "1"}}, "retweet"),
        ({"entities": {"user_mentions": [{"id_str": "999"}]}}, "not a mention"),
        ({"id_str": None, "id": None}, "malformed"),
        ({"user": None}, "malformed"),
        ({"timestamp_ms": None, "created_at": None}, "malformed"),
        ({"timestamp_ms": None, "created_at": "yesterday"}, "malformed"),
    ],
)
def test_tweets_that_are_not_customer_mentions_are_ignored(change: dict[str, Any], reason: str) -> None:
    assert only_ignored(parse_x_payload(mention(**change)))[0] == reason


@pytest.mark.parametrize("flag", [True, "true"])
def test_mention_by_a_blocked_user_is_ignored(flag: Any) -> None:
    payload = mention()
    payload["user_has_blocked"] = flag
    assert only_ignored(parse_x_payload(payload))[0] == "blocked author"


# --- other events and envelope ------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "favorite_events",
        "follow_events",
        "block_events",
        "direct_message_indicate_typing_events",
        "direct_message_mark_read_events",
        "tweet_delete_events",
        "user_event",
    ],
)
def test_other_activity_is_ignored_with_its_name(key: str) -> None:
    batch = parse_x_payload({"for_user_id": US, key: [{"x": 1}]})
    assert only_ignored(batch)[0:2] == ("unsupported event", key)


def test_numeric_for_user_id_is_read_as_a_string() -> None:
    payload = body("x_dm_event.body")
    payload["for_user_id"] = int(US)
    assert parse_x_payload(payload).for_user_id == US


@pytest.mark.parametrize(
    "payload", [None, [], "x", {}, {"for_user_id": ""}, {"for_user_id": True}, {"direct_message_events": []}]
)
def test_broken_envelope_is_a_clear_error(payload: Any) -> None:
    with pytest.raises(MalformedPayloadError, match="X webhook body"):
        parse_x_payload(payload)
