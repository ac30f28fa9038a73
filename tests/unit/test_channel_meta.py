"""Meta channel (Messenger, Instagram, WhatsApp): signatures, the verify handshake and payload parsing."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.channels.meta import (
    MalformedPayloadError,
    MetaBatch,
    UnsupportedPayloadError,
    parse_meta_payload,
    verification_response,
    verify_signature,
)
from shared.errors import HelpdeskError, InvalidEventError
from shared.models.inbound import DeliveryStatus, InboundKind, NoticeKind
from shared.models.ticket import Channel, IdentityKind

FIXTURES = Path(__file__).resolve().parents[1] / "events" / "webhooks"
SIGNATURES = json.loads((FIXTURES / "meta_signatures.json").read_text())
APP_SECRET = SIGNATURES["app_secret"]
VERIFY_TOKEN = SIGNATURES["verify_token"]
PAGE = "102938475610293"
PSID = "7392015648120394"
IG = "17841405726653026"
IGSID = "1123581321345589"
PHONE_NUMBER_ID = "106540352242922"
OUR_APP_ID = "1517776481860111"


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def body(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(raw(name))
    return data


def event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def messenger(*items: Any, key: str = "messaging", time: int = 1736849702871) -> dict[str, Any]:
    return {"object": "page", "entry": [{"id": PAGE, "time": time, key: list(items)}]}


def item(**event_parts: Any) -> dict[str, Any]:
    return {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1736849702523, **event_parts}


def whatsapp(**value_parts: Any) -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
        **value_parts,
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}],
    }


def wa_message(**parts: Any) -> dict[str, Any]:
    return {"from": "16505551234", "id": "wamid.TEST1", "timestamp": "1736850102", **parts}


def only_ignored(batch: MetaBatch) -> tuple[str, str, str]:
    assert not batch.messages
    assert not batch.receipts
    assert len(batch.ignored) == 1
    ignored = batch.ignored[0]
    return ignored.reason, ignored.where, ignored.detail


# --- signatures ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SIGNATURES["signatures"]))
def test_every_fixture_signature_verifies(name: str) -> None:
    assert verify_signature(raw(name), SIGNATURES["signatures"][name], APP_SECRET)


def test_wrong_secret_fails() -> None:
    signature = SIGNATURES["signatures"]["meta_messenger_text.body"]
    assert not verify_signature(raw("meta_messenger_text.body"), signature, "another-secret")


def test_tampered_body_fails() -> None:
    signature = SIGNATURES["signatures"]["meta_messenger_text.body"]
    tampered = raw("meta_messenger_text.body").replace(b"late", b"LATE")
    assert not verify_signature(tampered, signature, APP_SECRET)


@pytest.mark.parametrize("header", [None, "", "sha256=", "sha256", "   "])
def test_missing_or_empty_header_fails(header: str | None) -> None:
    assert not verify_signature(raw("meta_messenger_text.body"), header, APP_SECRET)


def test_other_scheme_fails() -> None:
    signature = SIGNATURES["signatures"]["meta_messenger_text.body"]
    assert not verify_signature(
        raw("meta_messenger_text.body"), signature.replace("sha256=", "sha1="), APP_SECRET
    )


def test_uppercase_hex_is_accepted() -> None:
    signature = SIGNATURES["signatures"]["meta_messenger_text.body"]
    assert verify_signature(raw("meta_messenger_text.body"), "sha256=" + signature[7:].upper(), APP_SECRET)


def test_empty_app_secret_never_verifies() -> None:
    assert not verify_signature(b"{}", "sha256=" + "0" * 64, "")


def test_signature_is_over_the_escaped_bytes_not_the_decoded_text() -> None:
    # Given Meta's body, where "café" travels as "caf\u00e9"
    original = raw("meta_messenger_text.body")
    signature = SIGNATURES["signatures"]["meta_messenger_text.body"]
    assert b"caf\\u00e9" in original
    assert original.isascii()
    # When the JSON is re-serialised (with the é decoded, or just compacted)
    decoded = json.dumps(json.loads(original), ensure_ascii=False).encode("utf-8")
    compact = json.dumps(json.loads(original), separators=(",", ":")).encode("ascii")
    # Then only the exact bytes verify
    assert verify_signature(original, signature, APP_SECRET)
    assert not verify_signature(decoded, signature, APP_SECRET)
    assert not verify_signature(compact, signature, APP_SECRET)


@pytest.mark.parametrize("name", ["apigw_v2_meta_messenger_post.json", "apigw_v2_meta_whatsapp_post.json"])
def test_http_api_event_body_verifies_with_its_header(name: str) -> None:
    http = event(name)
    assert http["isBase64Encoded"] is False
    assert verify_signature(http["body"].encode("utf-8"), http["headers"]["x-hub-signature-256"], APP_SECRET)
    assert parse_meta_payload(json.loads(http["body"])).messages


@pytest.mark.parametrize(
    "header", ["sha256=caf\u00e9" + "0" * 60, "sha256=" + "\u0660" * 64, "sha256=" + "g" * 64, "sha256=abc"]
)
def test_header_that_is_not_64_hex_digits_fails_without_error(header: str) -> None:
    assert not verify_signature(b'{"object":"page","entry":[]}', header, APP_SECRET)


def test_http_api_event_with_bad_signature_fails() -> None:
    http = event("apigw_v2_meta_bad_signature_post.json")
    assert not verify_signature(
        http["body"].encode("utf-8"), http["headers"]["x-hub-signature-256"], APP_SECRET
    )


@pytest.mark.parametrize(
    "name",
    [
        "apigw_v2_meta_verify_get.json",
        "apigw_v2_meta_messenger_post.json",
        "apigw_v2_meta_whatsapp_post.json",
        "apigw_v2_meta_bad_signature_post.json",
    ],
)
def test_http_api_fixtures_have_the_payload_v2_shape(name: str) -> None:
    from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventV2Model

    parsed = APIGatewayProxyEventV2Model.model_validate(event(name))
    assert parsed.version == "2.0"
    assert parsed.requestContext.http.path == "/webhooks/meta"


# --- verify handshake ---------------------------------------------------------------------------


def test_handshake_returns_the_challenge() -> None:
    query = event("apigw_v2_meta_verify_get.json")["queryStringParameters"]
    assert verification_response(query, VERIFY_TOKEN) == "1158201444"


def test_handshake_accepts_underscored_names() -> None:
    query = {"hub_mode": "subscribe", "hub_challenge": "42", "hub_verify_token": VERIFY_TOKEN}
    assert verification_response(query, VERIFY_TOKEN) == "42"


@pytest.mark.parametrize(
    "query",
    [
        None,
        {},
        {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": "wrong"},
        {"hub.mode": "unsubscribe", "hub.challenge": "1158201444", "hub.verify_token": VERIFY_TOKEN},
        {"hub.challenge": "1158201444", "hub.verify_token": VERIFY_TOKEN},
        {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN},
        {"hub.mode": "subscribe", "hub.challenge": "", "hub.verify_token": VERIFY_TOKEN},
        {"hub.mode": "subscribe", "hub.challenge": "1158201444"},
        {
            "hub.mode": "subscribe",
            "hub.challenge": "<script>alert(1)</script>",
            "hub.verify_token": VERIFY_TOKEN,
        },
        {"hub.mode": "subscribe", "hub.challenge": "1 2", "hub.verify_token": VERIFY_TOKEN},
        {"hub.mode": "subscribe", "hub.challenge": "abc-123", "hub.verify_token": VERIFY_TOKEN},
        {"hub.mode": "subscribe", "hub.challenge": "1" * 65, "hub.verify_token": VERIFY_TOKEN},
        {"hub.mode": "subscribe", "hub.challenge": '{"object":"page"}', "hub.verify_token": VERIFY_TOKEN},
        {"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": "caf\u00e9\ud800"},
    ],
)
def test_handshake_is_refused(query: dict[str, str] | None) -> None:
    assert verification_response(query, VERIFY_TOKEN) is None


def test_handshake_is_refused_when_no_token_is_configured() -> None:
    query = {"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": ""}
    assert verification_response(query, "") is None


# --- Messenger ----------------------------------------------------------------------------------


def test_messenger_text() -> None:
    batch = parse_meta_payload(body("meta_messenger_text.body"))
    assert batch.object == "page"
    assert batch.ignored == []
    (message,) = batch.messages
    assert message.channel is Channel.MESSENGER
    assert message.kind is InboundKind.MESSAGE
    assert message.provider_message_id == "m_AbC1dEf2GhI3jKl4MnO5pQrStUvWxYz0123456789"
    assert message.sender is not None
    assert message.sender.kind is IdentityKind.MESSENGER
    assert message.sender.value == PSID
    assert message.recipient == PAGE
    assert message.conversation_key == f"messenger:{PAGE}:{PSID}"
    assert message.text == "Hi, my café order is late"
    assert message.sent_at == datetime(2025, 1, 14, 10, 15, 2, 523000, tzinfo=UTC)
    assert message.public is False
    assert message.dedupe_key == f"messenger:{PAGE}:m_AbC1dEf2GhI3jKl4MnO5pQrStUvWxYz0123456789"


def test_messenger_attachments_and_quick_reply() -> None:
    batch = parse_meta_payload(body("meta_messenger_attachments.body"))
    media, quick = batch.messages
    assert [a.type for a in media.attachments] == ["image", "file"]
    assert media.attachments[0].url is not None
    assert media.attachments[0].url.startswith("https://scontent.xx.fbcdn.net/")
    assert media.text == ""
    assert quick.text == "Track my order"
    assert quick.quick_reply_payload == "TRACK_ORDER"
    assert quick.reply_to == "m_OurQuestion00000000000000000000000000009"


def test_messenger_postback() -> None:
    (postback,) = parse_meta_payload(body("meta_messenger_postback.body")).messages
    assert postback.kind is InboundKind.POSTBACK
    assert postback.provider_message_id == "m_Postback0000000000000000000000000000003"
    assert postback.text == "Talk to an agent"
    assert postback.postback_payload == "HUMAN_AGENT"


def test_postback_without_mid_gets_a_stable_derived_id() -> None:
    payload = messenger(item(postback={"title": "Get Started", "payload": "GET_STARTED"}))
    first = parse_meta_payload(payload).messages[0]
    again = parse_meta_payload(copy.deepcopy(payload)).messages[0]
    assert first.provider_message_id == again.provider_message_id == f"postback:{PSID}:1736849702523"


def test_echo_of_our_own_message_is_ignored_and_counted() -> None:
    batch = parse_meta_payload(body("meta_messenger_echo.body"), app_id=OUR_APP_ID)
    assert only_ignored(batch) == (
        "echo",
        "entry[0].messaging[0]",
        "m_OurReply00000000000000000000000000000004",
    )
    assert batch.ignored_count == 1


@pytest.mark.parametrize("app_id", [None, "263902037430900"])
def test_echo_another_app_sent_is_a_notice_for_the_conversation(app_id: str | None) -> None:
    # Given an echo whose app is not known to be ours (none configured, or another one)
    batch = parse_meta_payload(body("meta_messenger_echo.body"), app_id=app_id)
    # Then it is an external reply in the customer's conversation, with what was said
    assert (batch.messages, batch.receipts, batch.ignored) == ([], [], [])
    (notice,) = batch.notices
    assert notice.kind is NoticeKind.EXTERNAL_REPLY
    assert notice.conversation_key == f"messenger:{PAGE}:{PSID}"
    assert (notice.recipient, notice.app_id) == (PAGE, OUR_APP_ID)
    assert notice.provider_message_id == "m_OurReply00000000000000000000000000000004"
    assert notice.text == "Sorry about that! Let me check your order."


def test_delivery_and_read_become_receipts() -> None:
    batch = parse_meta_payload(body("meta_messenger_delivery_read.body"))
    delivered, read = batch.receipts
    assert delivered.status is DeliveryStatus.DELIVERED
    assert delivered.message_ids == ["m_OurReply00000000000000000000000000000004"]
    assert delivered.watermark == datetime(2025, 1, 14, 10, 21, 40, tzinfo=UTC)
    assert delivered.at == datetime(
        2025, 1, 14, 10, 21, 42, 871000, tzinfo=UTC
    )  # no timestamp: the entry's time
    assert delivered.account == PAGE
    assert delivered.customer == PSID
    assert read.status is DeliveryStatus.READ
    assert read.message_ids == []
    assert read.watermark == datetime(2025, 1, 14, 10, 21, 41, tzinfo=UTC)
    assert read.dedupe_key == f"messenger:{PAGE}:{PSID}:watermark=1736850101000:read"
    assert (
        delivered.dedupe_key
        == f"messenger:{PAGE}:{PSID}:m_OurReply00000000000000000000000000000004:delivered"
    )


def test_delivery_with_watermark_only() -> None:
    batch = parse_meta_payload(messenger(item(delivery={"watermark": 1736849702000})))
    (receipt,) = batch.receipts
    assert receipt.message_ids == []
    assert receipt.watermark == datetime(2025, 1, 14, 10, 15, 2, tzinfo=UTC)


def test_delivery_with_neither_mids_nor_watermark_is_malformed() -> None:
    reason, _, detail = only_ignored(parse_meta_payload(messenger(item(delivery={}))))
    assert reason == "malformed"
    assert "watermark" in detail


def test_batch_with_several_entries_and_messages() -> None:
    # Given one delivery batching three entries, a reaction and a standby (handover) event
    batch = parse_meta_payload(body("meta_messenger_batch.body"))
    # Then every message comes out, in order, and the reaction is counted as ignored
    assert [m.text for m in batch.messages] == [
        "Is anyone there?",
        "Hello, I need an invoice copy",
        "Also my address changed",
    ]
    assert {m.sender.value for m in batch.messages if m.sender} == {PSID, "6120394739201564"}
    assert batch.messages[2].metadata == {"standby": "true"}
    assert batch.ignored_reasons() == {"reaction": 1}
    assert batch.ignored[0].where == "entry[1].messaging[1]"


def test_sticker_sent_twice_during_the_transition_is_one_attachment() -> None:
    attachments = [
        {"type": "sticker", "payload": {"url": "https://cdn/s.png", "sticker_id": 369239263222822}},
        {"type": "image", "payload": {"url": "https://cdn/s.png", "sticker_id": 369239263222822}},
    ]
    (message,) = parse_meta_payload(
        messenger(item(message={"mid": "m_1", "attachments": attachments}))
    ).messages
    assert [a.type for a in message.attachments] == ["sticker"]
    assert message.attachments[0].data == {"sticker_id": "369239263222822"}


def test_fallback_attachment_without_payload() -> None:
    attachments = [
        {"type": "fallback", "title": "A shared link", "url": "https://example.com/x"},
        {"type": "fallback"},
    ]
    (message,) = parse_meta_payload(
        messenger(item(message={"mid": "m_1", "attachments": attachments}))
    ).messages
    assert [(a.type, a.title, a.url) for a in message.attachments] == [
        ("fallback", "A shared link", "https://example.com/x"),
        ("fallback", None, None),
    ]


def test_referral_is_kept_as_metadata() -> None:
    referral = {"ref": "spring-sale", "source": "ADS", "type": "OPEN_THREAD", "ad_id": 6045246247433}
    (message,) = parse_meta_payload(
        messenger(item(message={"mid": "m_1", "text": "Hi", "referral": referral}))
    ).messages
    assert message.metadata == {
        "referral_ref": "spring-sale",
        "referral_source": "ADS",
        "referral_type": "OPEN_THREAD",
        "referral_ad_id": "6045246247433",
    }


def test_self_test_message_is_ignored() -> None:
    batch = parse_meta_payload(messenger(item(message={"mid": "m_1", "is_self": True})))
    assert only_ignored(batch)[0] == "self test"


def test_unsend_is_a_notice_for_the_message_taken_back() -> None:
    payload = {"object": "instagram", "entry": [{"id": IG, "time": 1736851102871, "messaging": [
        {"sender": {"id": IGSID}, "recipient": {"id": IG}, "timestamp": 1736851102500,
         "message": {"mid": "aWdfZAG1_unsent", "is_deleted": True}}
    ]}]}  # fmt: skip
    batch = parse_meta_payload(payload)
    assert (batch.messages, batch.ignored) == ([], [])
    (notice,) = batch.notices
    assert (notice.kind, notice.channel) == (NoticeKind.UNSENT, Channel.INSTAGRAM)
    assert (notice.provider_message_id, notice.recipient) == ("aWdfZAG1_unsent", IG)
    assert notice.conversation_key == f"instagram:{IG}:{IGSID}"
    assert notice.at == datetime(2025, 1, 14, 10, 38, 22, 500000, tzinfo=UTC)


def test_message_the_platform_does_not_pass_on_is_kept_flagged() -> None:
    batch = parse_meta_payload(messenger(item(message={"mid": "m_1", "is_unsupported": True})))
    (message,) = batch.messages
    assert message.flags == ["unsupported"]
    assert message.metadata["unsupported"] == "is_unsupported"
    assert "Messenger message" in message.text


@pytest.mark.parametrize(
    "kind", ["optin", "referral", "account_linking", "pass_thread_control", "message_edit"]
)
def test_other_messaging_events_are_ignored_with_their_name(kind: str) -> None:
    batch = parse_meta_payload(messenger(item(**{kind: {"ref": "x"}})))
    assert only_ignored(batch)[0::2] == ("unsupported event", kind)


def test_timestamps_in_seconds_or_strings_are_read() -> None:
    payload = messenger(
        {**item(message={"mid": "m_1", "text": "a"}), "timestamp": "1736849702523"},
        {**item(message={"mid": "m_2", "text": "b"}), "timestamp": 1736849702},
        {**item(message={"mid": "m_3", "text": "c"}), "timestamp": "1736849702"},
    )
    times = [m.sent_at for m in parse_meta_payload(payload).messages]
    assert times == [
        datetime(2025, 1, 14, 10, 15, 2, 523000, tzinfo=UTC),
        datetime(2025, 1, 14, 10, 15, 2, tzinfo=UTC),
        datetime(2025, 1, 14, 10, 15, 2, tzinfo=UTC),
    ]
    assert all(t.tzinfo is not None for t in times)


def test_item_without_timestamp_uses_the_entry_time() -> None:
    payload = messenger(
        {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "message": {"mid": "m_1", "text": "x"}}
    )
    assert parse_meta_payload(payload).messages[0].sent_at == datetime(
        2025, 1, 14, 10, 15, 2, 871000, tzinfo=UTC
    )


def test_messaging_event_wrapped_as_a_change_is_parsed() -> None:
    value = item(postback={"mid": "m_pb", "title": "Yes", "payload": "YES"})
    payload = {
        "object": "page",
        "entry": [{"id": PAGE, "time": 1, "changes": [{"field": "messaging_postbacks", "value": value}]}],
    }
    (message,) = parse_meta_payload(payload).messages
    assert message.kind is InboundKind.POSTBACK
    assert message.postback_payload == "YES"


# --- Instagram ----------------------------------------------------------------------------------


def test_instagram_dm() -> None:
    batch = parse_meta_payload(body("meta_instagram_dm.body"))
    assert batch.object == "instagram"
    (message,) = batch.messages
    assert message.channel is Channel.INSTAGRAM
    assert message.sender is not None
    assert (message.sender.kind, message.sender.value) == (IdentityKind.INSTAGRAM, IGSID)
    assert message.recipient == IG
    assert message.text == "Do you ship to Zürich?"
    assert message.reply_to == "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1NzI2NjUzMDI2Ojk4NzY1NDMyMQ"
    assert message.conversation_key == f"instagram:{IG}:{IGSID}"


def test_instagram_story_mention() -> None:
    (message,) = parse_meta_payload(body("meta_instagram_story_mention.body")).messages
    (attachment,) = message.attachments
    assert attachment.type == "story_mention"
    assert attachment.url is not None
    assert attachment.url.startswith("https://lookaside.fbsbx.com/ig_messaging_cdn/")
    assert message.public is False


def test_instagram_reply_to_a_story() -> None:
    story = {"story": {"id": "17985390190000001", "url": "https://lookaside.fbsbx.com/story.mp4"}}
    dm = {
        "sender": {"id": IGSID},
        "recipient": {"id": IG},
        "timestamp": 1736851002500,
        "message": {"mid": "ig_1", "text": "Love it", "reply_to": story},
    }
    payload = {"object": "instagram", "entry": [{"id": IG, "time": 1, "messaging": [dm]}]}
    (message,) = parse_meta_payload(payload).messages
    assert message.reply_to == "17985390190000001"
    assert message.metadata == {"reply_to_story_url": "https://lookaside.fbsbx.com/story.mp4"}


def test_instagram_comment_and_mention() -> None:
    batch = parse_meta_payload(body("meta_instagram_comment.body"))
    comment, mention = batch.messages
    assert comment.kind is InboundKind.COMMENT
    assert comment.public is True
    assert comment.provider_message_id == "17865799348089039"
    assert comment.sender is not None
    assert (comment.sender.kind, comment.sender.value) == (IdentityKind.INSTAGRAM, IGSID)
    assert comment.sender_name == "lena.travels"
    assert comment.text == "@acme_support my parcel never arrived 😞"
    assert comment.post_id == "17887498072083520"
    assert comment.reply_to == "17858893269000001"
    assert comment.sent_at == datetime(2025, 1, 14, 10, 40, 2, tzinfo=UTC)  # entry.time in seconds
    assert comment.metadata == {"media_product_type": "FEED"}
    assert comment.conversation_key == f"instagram:{IG}:comment:17887498072083520:{IGSID}"
    assert mention.kind is InboundKind.MENTION
    assert mention.public is True
    assert mention.sender is None  # thin notification: the author is looked up later
    assert mention.provider_message_id == "17894227972186120"
    assert mention.post_id == "17918195224117851"
    assert mention.metadata == {"mention_in": "comment"}


def test_instagram_login_comment_flat_on_the_entry() -> None:
    value = {"id": "178001", "from": {"id": IGSID, "username": "lena"}, "text": "Hi", "media": {"id": "m1"}}
    payload = {
        "object": "instagram",
        "entry": [{"id": IG, "time": 1736851202, "field": "comments", "value": value}],
    }
    (comment,) = parse_meta_payload(payload).messages
    assert comment.provider_message_id == "178001"
    assert comment.kind is InboundKind.COMMENT


def test_instagram_comment_by_our_own_account_is_ignored() -> None:
    value = {
        "id": "178002",
        "from": {"id": IG, "username": "acme_support"},
        "text": "DM us!",
        "media": {"id": "m1"},
    }
    payload = {
        "object": "instagram",
        "entry": [{"id": IG, "time": 1, "changes": [{"field": "comments", "value": value}]}],
    }
    assert only_ignored(parse_meta_payload(payload))[0] == "own comment"


def test_instagram_mention_in_a_caption() -> None:
    change = {"field": "mentions", "value": {"media_id": "17918195224117851"}}
    payload = {"object": "instagram", "entry": [{"id": IG, "time": 1520622968, "changes": [change]}]}
    (mention,) = parse_meta_payload(payload).messages
    assert mention.provider_message_id == "17918195224117851"
    assert mention.metadata == {"mention_in": "caption"}


def test_instagram_account_reached_through_a_page_is_read_as_instagram() -> None:
    dm = {
        "sender": {"id": IGSID},
        "recipient": {"id": IG},
        "timestamp": 1736851002500,
        "message": {"mid": "ig_2", "text": "hey"},
    }
    payload = {"object": "page", "entry": [{"id": IG, "time": 1, "messaging": [dm]}]}
    assert parse_meta_payload(payload).messages[0].channel is Channel.MESSENGER
    (message,) = parse_meta_payload(payload, instagram_account_ids={IG}).messages
    assert message.channel is Channel.INSTAGRAM
    assert message.sender is not None
    assert message.sender.kind is IdentityKind.INSTAGRAM


def test_instagram_read_receipt_by_mid() -> None:
    read = {
        "sender": {"id": IGSID},
        "recipient": {"id": IG},
        "timestamp": 1736851002500,
        "read": {"mid": "ig_ours"},
    }
    payload = {"object": "instagram", "entry": [{"id": IG, "time": 1736851002871, "messaging": [read]}]}
    (receipt,) = parse_meta_payload(payload).receipts
    assert (receipt.channel, receipt.status, receipt.message_ids) == (
        Channel.INSTAGRAM,
        DeliveryStatus.READ,
        ["ig_ours"],
    )


@pytest.mark.parametrize("field", ["story_insights", "messaging_handover", "live_comments_unknown"])
def test_other_instagram_fields_are_ignored(field: str) -> None:
    payload = {
        "object": "instagram",
        "entry": [{"id": IG, "time": 1, "changes": [{"field": field, "value": {"x": 1}}]}],
    }
    assert only_ignored(parse_meta_payload(payload))[0::2] == ("unsupported field", field)


# --- Facebook Page comments ---------------------------------------------------------------------


def test_page_comment_is_a_public_comment_and_reactions_are_ignored() -> None:
    batch = parse_meta_payload(body("meta_page_comment.body"))
    (comment,) = batch.messages
    assert comment.channel is Channel.MESSENGER
    assert comment.kind is InboundKind.COMMENT
    assert comment.public is True
    assert comment.provider_message_id == "102938475610293_8877665544332211"
    assert comment.sender is not None
    assert comment.sender.value == "5813213455891442"
    assert comment.sender_name == "Jane Doe"
    assert comment.post_id == "102938475610293_8877665544330000"
    assert comment.reply_to is None  # a top-level comment: its parent is the post
    assert comment.sent_at == datetime(2025, 1, 14, 10, 53, 21, tzinfo=UTC)
    assert batch.ignored_reasons() == {"unsupported feed item": 1}


def feed(**value: Any) -> dict[str, Any]:
    base = {
        "from": {"id": "5813213455891442", "name": "Jane Doe"},
        "item": "comment",
        "comment_id": "P_C2",
        "post_id": "P",
        "parent_id": "P",
        "verb": "add",
        "created_time": 1736852001,
        "message": "hi",
    }
    return {
        "object": "page",
        "entry": [
            {"id": PAGE, "time": 1736852002, "changes": [{"field": "feed", "value": {**base, **value}}]}
        ],
    }


def test_reply_to_a_comment_keeps_the_parent() -> None:
    (comment,) = parse_meta_payload(feed(parent_id="P_C1")).messages
    assert comment.reply_to == "P_C1"


def test_comment_with_sender_fields_instead_of_from() -> None:
    payload = feed(sender_id="4242", sender_name="Old Style")
    payload["entry"][0]["changes"][0]["value"].pop("from")
    (comment,) = parse_meta_payload(payload).messages
    assert comment.sender is not None
    assert (comment.sender.value, comment.sender_name) == ("4242", "Old Style")


def test_comment_with_a_photo() -> None:
    (comment,) = parse_meta_payload(feed(photo="https://scontent.xx.fbcdn.net/p.jpg")).messages
    assert [(a.type, a.url) for a in comment.attachments] == [
        ("image", "https://scontent.xx.fbcdn.net/p.jpg")
    ]


@pytest.mark.parametrize("verb", ["edited", "remove", "hide", "unhide"])
def test_comment_changes_other_than_add_are_ignored(verb: str) -> None:
    assert only_ignored(parse_meta_payload(feed(verb=verb)))[0] == f"comment {verb}"


def test_comment_by_the_page_itself_is_ignored() -> None:
    assert (
        only_ignored(parse_meta_payload(feed(**{"from": {"id": PAGE, "name": "Acme"}})))[0] == "own comment"
    )


def test_comment_without_author_is_malformed() -> None:
    payload = feed()
    payload["entry"][0]["changes"][0]["value"].pop("from")
    reason, where, detail = only_ignored(parse_meta_payload(payload))
    assert (reason, where) == ("malformed", "entry[0].changes[0]")
    assert "author" in detail


def test_page_mention() -> None:
    value = {
        "post_id": "99_1",
        "verb": "add",
        "item": "post",
        "sender_id": "77",
        "sender_name": "Fan",
        "message": "Thanks @Acme",
    }
    payload = {
        "object": "page",
        "entry": [{"id": PAGE, "time": 1736852002, "changes": [{"field": "mention", "value": value}]}],
    }
    (mention,) = parse_meta_payload(payload).messages
    assert (mention.kind, mention.public, mention.provider_message_id) == (InboundKind.MENTION, True, "99_1")
    assert mention.text == "Thanks @Acme"


# --- WhatsApp -----------------------------------------------------------------------------------


def test_whatsapp_text() -> None:
    batch = parse_meta_payload(body("meta_whatsapp_text.body"))
    assert batch.object == "whatsapp_business_account"
    (message,) = batch.messages
    assert message.channel is Channel.WHATSAPP
    assert message.sender is not None
    assert (message.sender.kind, message.sender.value) == (IdentityKind.PHONE, "+16505551234")
    assert message.sender_name == "Sheena Nelson"
    assert message.recipient == PHONE_NUMBER_ID
    assert message.conversation_key == f"whatsapp:{PHONE_NUMBER_ID}:+16505551234"
    assert message.provider_message_id == "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
    assert message.sent_at == datetime(2025, 1, 14, 10, 21, 42, tzinfo=UTC)  # seconds, as a string
    assert message.text == "Where is my refund?"


def test_whatsapp_image_by_media_id() -> None:
    (message,) = parse_meta_payload(body("meta_whatsapp_image.body")).messages
    (attachment,) = message.attachments
    assert attachment.type == "image"
    assert attachment.media_id == "1037543291543636"
    assert attachment.url is None
    assert attachment.mime_type == "image/jpeg"
    assert attachment.caption == "The box arrived like this"
    assert message.text == "The box arrived like this"
    assert message.reply_to == "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBJPdXJSZXBseTAwMDAwMDAwMQA="


def test_whatsapp_statuses_become_receipts() -> None:
    batch = parse_meta_payload(body("meta_whatsapp_status.body"))
    delivered, failed = batch.receipts
    assert delivered.channel is Channel.WHATSAPP
    assert delivered.status is DeliveryStatus.DELIVERED
    assert delivered.message_ids == ["wamid.HBgLMTY1MDU1NTEyMzQVAgARGBJPdXJSZXBseTAwMDAwMDAwMQA="]
    assert delivered.customer == "+16505551234"
    assert delivered.account == PHONE_NUMBER_ID
    assert delivered.at == datetime(2025, 1, 14, 10, 25, 5, tzinfo=UTC)
    assert failed.status is DeliveryStatus.FAILED
    (error,) = failed.errors
    assert (error.code, error.title) == ("131047", "Re-engagement message")
    assert error.details is not None
    assert "24 hours" in error.details
    assert delivered.dedupe_key != failed.dedupe_key


@pytest.mark.parametrize("status", ["sent", "delivered", "read", "failed"])
def test_every_whatsapp_status(status: str) -> None:
    payload = whatsapp(
        statuses=[
            {"id": "wamid.X", "status": status, "timestamp": "1736850305", "recipient_id": "16505551234"}
        ]
    )
    (receipt,) = parse_meta_payload(payload).receipts
    assert receipt.status.value == status


def test_unknown_whatsapp_status_is_ignored() -> None:
    payload = whatsapp(statuses=[{"id": "wamid.X", "status": "deleted", "timestamp": "1736850305"}])
    assert only_ignored(parse_meta_payload(payload))[0::2] == ("unsupported status", "deleted")


BUTTON_REPLY = {"type": "button_reply", "button_reply": {"id": "yes-1", "title": "Yes"}}
LIST_REPLY = {
    "type": "list_reply",
    "list_reply": {"id": "r2", "title": "Refund", "description": "Money back"},
}
TEMPLATE_BUTTON = {"payload": "STOP_PROMOS", "text": "Stop promotions"}


@pytest.mark.parametrize(
    ("parts", "text", "quick_reply"),
    [
        ({"type": "interactive", "interactive": BUTTON_REPLY}, "Yes", "yes-1"),
        ({"type": "interactive", "interactive": LIST_REPLY}, "Refund", "r2"),
        ({"type": "button", "button": TEMPLATE_BUTTON}, "Stop promotions", "STOP_PROMOS"),
    ],
)
def test_whatsapp_replies_to_buttons_and_lists(parts: dict[str, Any], text: str, quick_reply: str) -> None:
    (message,) = parse_meta_payload(whatsapp(messages=[wa_message(**parts)])).messages
    assert (message.text, message.quick_reply_payload) == (text, quick_reply)


def test_whatsapp_location() -> None:
    location = {
        "latitude": 37.44216251868683,
        "longitude": -122.16153582049394,
        "name": "Philz Coffee",
        "address": "101 Forest Ave",
    }
    (message,) = parse_meta_payload(
        whatsapp(messages=[wa_message(type="location", location=location)])
    ).messages
    assert message.text == "Location: Philz Coffee, 101 Forest Ave (37.44216251868683, -122.16153582049394)"
    (attachment,) = message.attachments
    assert attachment.type == "location"
    assert attachment.data["latitude"] == pytest.approx(37.44216251868683)


def test_whatsapp_contacts() -> None:
    contacts = [
        {
            "name": {"formatted_name": "Ana Lopez", "first_name": "Ana"},
            "phones": [{"phone": "+1 415 555 0100", "wa_id": "14155550100"}],
        }
    ]
    (message,) = parse_meta_payload(
        whatsapp(messages=[wa_message(type="contacts", contacts=contacts)])
    ).messages
    assert message.text == "Contact: Ana Lopez (+1 415 555 0100)"
    assert message.attachments[0].data == {"contacts": contacts}


def test_whatsapp_document_keeps_its_filename() -> None:
    document = {"id": "555", "mime_type": "application/pdf", "filename": "invoice.pdf", "sha256": "abc="}
    (message,) = parse_meta_payload(
        whatsapp(messages=[wa_message(type="document", document=document)])
    ).messages
    (attachment,) = message.attachments
    assert (attachment.type, attachment.media_id, attachment.filename, attachment.mime_type) == (
        "document",
        "555",
        "invoice.pdf",
        "application/pdf",
    )
    assert message.text == ""


def test_whatsapp_voice_note() -> None:
    audio = {"id": "777", "mime_type": "audio/ogg; codecs=opus", "voice": True}
    (message,) = parse_meta_payload(whatsapp(messages=[wa_message(type="audio", audio=audio)])).messages
    assert message.attachments[0].data == {"voice": True}


@pytest.mark.parametrize(
    ("parts", "what", "errors"),
    [
        ({"type": "order", "order": {"catalog_id": "1"}}, "order", None),
        (
            {
                "type": "unsupported",
                "errors": [
                    {
                        "code": 131051,
                        "title": "Message type unknown",
                        "error_data": {"details": "Message type is currently not supported."},
                    }
                ],
            },
            "unsupported",
            "131051 Message type unknown (Message type is currently not supported.)",
        ),
        ({"type": "interactive", "interactive": {"type": "nfm_reply"}}, "interactive nfm_reply", None),
        ({"type": "some_future_type"}, "some_future_type", None),
    ],
)
def test_whatsapp_message_we_cannot_read_is_kept_flagged(
    parts: dict[str, Any], what: str, errors: str | None
) -> None:
    batch = parse_meta_payload(whatsapp(messages=[wa_message(**parts)]))
    assert batch.ignored == []
    (message,) = batch.messages
    assert (message.provider_message_id, message.flags) == ("wamid.TEST1", ["unsupported"])
    assert message.metadata["unsupported"] == what
    assert message.metadata.get("unsupported_errors") == errors
    assert f"WhatsApp message ({what})" in message.text
    assert not any(ch.isdigit() for ch in message.text)  # never read as a satisfaction rating


@pytest.mark.parametrize(
    ("parts", "reason"),
    [
        ({"type": "reaction", "reaction": {"message_id": "wamid.OURS", "emoji": "👍"}}, "reaction"),
        ({"type": "image"}, "malformed"),
        ({"type": "location", "location": {"name": "Somewhere"}}, "malformed"),
    ],
)
def test_whatsapp_messages_that_are_not_for_a_ticket_are_ignored(parts: dict[str, Any], reason: str) -> None:
    assert only_ignored(parse_meta_payload(whatsapp(messages=[wa_message(**parts)])))[0] == reason


def test_whatsapp_sender_name_comes_from_the_matching_contact() -> None:
    payload = whatsapp(
        contacts=[
            {"profile": {"name": "Other"}, "wa_id": "447911123456"},
            {"profile": {"name": "Sheena"}, "wa_id": "16505551234"},
        ],
        messages=[wa_message(type="text", text={"body": "hi"})],
    )
    assert parse_meta_payload(payload).messages[0].sender_name == "Sheena"


def test_whatsapp_sender_that_is_no_phone_number_is_ignored() -> None:
    payload = whatsapp(messages=[wa_message(**{"from": "12", "type": "text", "text": {"body": "hi"}})])
    assert only_ignored(parse_meta_payload(payload))[0::2] == ("invalid sender number", "12")


def test_whatsapp_forwarded_message_is_flagged() -> None:
    parts = {"type": "text", "text": {"body": "fwd"}, "context": {"forwarded": True}}
    (message,) = parse_meta_payload(whatsapp(messages=[wa_message(**parts)])).messages
    assert message.metadata == {"forwarded": "true"}
    assert message.reply_to is None


@pytest.mark.parametrize("field", ["message_template_status_update", "account_update", None])
def test_other_whatsapp_fields_are_ignored(field: str | None) -> None:
    payload = whatsapp(messages=[wa_message(type="text", text={"body": "x"})])
    payload["entry"][0]["changes"][0]["field"] = field
    assert only_ignored(parse_meta_payload(payload))[0] == "unsupported field"


def test_whatsapp_value_without_metadata_is_malformed() -> None:
    payload = whatsapp(messages=[wa_message(type="text", text={"body": "x"})])
    del payload["entry"][0]["changes"][0]["value"]["metadata"]
    reason, where, detail = only_ignored(parse_meta_payload(payload))
    assert (reason, where) == ("malformed", "entry[0].changes[0]")
    assert "metadata" in detail


def test_whatsapp_value_with_nothing_to_read_is_ignored() -> None:
    assert only_ignored(parse_meta_payload(whatsapp()))[0] == "no messages or statuses"


# --- envelope and malformed items ---------------------------------------------------------------


@pytest.mark.parametrize("obj", ["user", "permissions", "application", "leadgen"])
def test_unknown_object_is_a_clear_error(obj: str) -> None:
    with pytest.raises(UnsupportedPayloadError, match=obj) as caught:
        parse_meta_payload({"object": obj, "entry": []})
    assert isinstance(caught.value, InvalidEventError)
    assert isinstance(caught.value, HelpdeskError)


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "page",
        {"entry": []},
        {"object": ""},
        {"object": 3, "entry": []},
        {"object": "page"},
        {"object": "page", "entry": {}},
    ],
)
def test_broken_envelope_is_a_clear_error(payload: Any) -> None:
    with pytest.raises(MalformedPayloadError):
        parse_meta_payload(payload)


def test_empty_entry_list_is_an_empty_batch() -> None:
    batch = parse_meta_payload({"object": "page", "entry": []})
    assert (batch.messages, batch.receipts, batch.ignored) == ([], [], [])


def test_one_malformed_item_does_not_spoil_the_batch() -> None:
    # Given a batch where the second item lacks its sender and the third its mid
    payload = messenger(
        item(message={"mid": "m_good", "text": "fine"}),
        {
            "recipient": {"id": PAGE},
            "timestamp": 1736849702523,
            "message": {"mid": "m_nosender", "text": "x"},
        },
        item(message={"text": "no mid"}),
        "not an object",
        item(message="not an object either"),
        item(message={"mid": "m_good2", "text": "also fine"}),
    )
    # When it is parsed
    batch = parse_meta_payload(payload)
    # Then the good messages come out and each bad item is listed with where and why
    assert [m.provider_message_id for m in batch.messages] == ["m_good", "m_good2"]
    assert [(i.reason, i.where) for i in batch.ignored] == [
        ("malformed", "entry[0].messaging[1]"),
        ("malformed", "entry[0].messaging[2]"),
        ("malformed", "entry[0].messaging[3]"),
        ("malformed", "entry[0].messaging[4]"),
    ]
    assert "sender.id" in batch.ignored[0].detail
    assert "mid" in batch.ignored[1].detail


@pytest.mark.parametrize(
    "entry",
    [
        "not an object",
        {"id": PAGE, "time": 1},
        {"id": PAGE, "time": 1, "changes": ["x"]},
        {"id": PAGE, "time": 1, "changes": [{"field": "feed"}]},
        {"time": 1, "changes": [{"field": "feed", "value": {"item": "comment"}}]},
    ],
)
def test_malformed_entries_are_ignored_not_raised(entry: Any) -> None:
    batch = parse_meta_payload({"object": "page", "entry": [entry]})
    assert len(batch.ignored) == 1
    assert batch.ignored[0].reason in {"malformed", "empty entry"}


def test_message_without_any_usable_time_is_malformed() -> None:
    undated = {
        "sender": {"id": PSID},
        "recipient": {"id": PAGE},
        "timestamp": "yesterday",
        "message": {"mid": "m_1"},
    }
    payload = {"object": "page", "entry": [{"id": PAGE, "messaging": [undated]}]}
    reason, _, detail = only_ignored(parse_meta_payload(payload))
    assert (reason, detail) == ("malformed", "no usable timestamp")
