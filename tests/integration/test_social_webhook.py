"""social_webhook end to end: API Gateway HTTP API v2 events from Meta and X into the real handler."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from functions.social_webhook import app
from shared.dal.repository import DynamoRepository
from simulator.resources import Deployment
from tests.integration.conftest import FakeLambdaContext

WEBHOOKS = Path(__file__).resolve().parents[1] / "events" / "webhooks"
META_SECRET = "test-meta-app-secret"
X_SECRET = "test-x-consumer-secret"
META_APP_ID = "1517776481860111"  # the app of the echo in meta_messenger_echo.body


@pytest.fixture
def repo(deployment: Deployment) -> DynamoRepository:
    boto3.client("secretsmanager").put_secret_value(
        SecretId=deployment.name("WebhookSecret"),
        SecretString=json.dumps(
            {
                "meta_app_secret": META_SECRET,
                "meta_app_id": META_APP_ID,
                "meta_verify_token": "test-meta-verify-token",
                "x_consumer_secret": X_SECRET,
            }
        ),
    )
    return DynamoRepository(deployment.name("TicketsTable"), "us-east-1")


def fixture(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((WEBHOOKS / name).read_text())
    return event


def call(event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = app.handler(event, FakeLambdaContext())
    return response


def meta_post(body_file: str, *, body: bytes | None = None, signature: str | None = None) -> dict[str, Any]:
    event = fixture("apigw_v2_meta_messenger_post.json")
    raw = body if body is not None else (WEBHOOKS / body_file).read_bytes()
    event["body"] = raw.decode("utf-8")
    digest = hmac.new(META_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    event["headers"]["x-hub-signature-256"] = signature or f"sha256={digest}"
    event["headers"]["content-length"] = str(len(raw))
    return event


def x_post(body_file: str) -> dict[str, Any]:
    event = fixture("apigw_v2_x_dm_post.json")
    raw = (WEBHOOKS / body_file).read_bytes()
    event["body"] = raw.decode("utf-8")
    digest = base64.b64encode(hmac.new(X_SECRET.encode(), raw, hashlib.sha256).digest()).decode()
    event["headers"]["x-twitter-webhooks-signature"] = f"sha256={digest}"
    return event


def test_meta_verification_echoes_the_challenge(repo: DynamoRepository) -> None:
    response = call(fixture("apigw_v2_meta_verify_get.json"))
    assert (response["statusCode"], response["body"]) == (200, "1158201444")
    assert response["headers"]["Content-Type"] == "text/plain"


def test_meta_verification_with_wrong_token_is_refused(repo: DynamoRepository) -> None:
    event = fixture("apigw_v2_meta_verify_get.json")
    event["queryStringParameters"]["hub.verify_token"] = "guess"
    assert call(event)["statusCode"] == 403


def test_x_crc_answers_with_the_response_token(repo: DynamoRepository) -> None:
    response = call(fixture("apigw_v2_x_crc_get.json"))
    expected = json.loads((WEBHOOKS / "x_signatures.json").read_text())["crc"]["response_token"]
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"response_token": expected}


def test_messenger_message_opens_a_ticket(repo: DynamoRepository) -> None:
    response = call(fixture("apigw_v2_meta_messenger_post.json"))
    assert response["statusCode"] == 200
    [ticket] = repo.scan_tickets()
    assert ticket.channel == "messenger"
    [message] = repo.list_messages(ticket.id)
    assert "café" in message.text


def test_bad_signature_is_refused_and_nothing_is_stored(repo: DynamoRepository) -> None:
    assert call(fixture("apigw_v2_meta_bad_signature_post.json"))["statusCode"] == 401
    assert repo.scan_tickets() == []


def test_re_serialised_body_fails_the_signature(repo: DynamoRepository) -> None:
    event = fixture("apigw_v2_meta_messenger_post.json")
    event["body"] = json.dumps(json.loads(event["body"]), ensure_ascii=False)
    assert call(event)["statusCode"] == 401


def test_replayed_delivery_is_stored_once(repo: DynamoRepository) -> None:
    event = fixture("apigw_v2_meta_messenger_post.json")
    assert [call(dict(event))["statusCode"] for _ in range(3)] == [200, 200, 200]
    [ticket] = repo.scan_tickets()
    assert len(repo.list_messages(ticket.id)) == 1


def test_batched_delivery_stores_every_message(repo: DynamoRepository) -> None:
    body = json.loads((WEBHOOKS / "meta_messenger_batch.body").read_text())
    expected = sum(
        1
        for entry in body["entry"]
        for item in [*entry.get("messaging", []), *entry.get("standby", [])]
        if "message" in item and not item["message"].get("is_echo")
    )
    response = call(meta_post("meta_messenger_batch.body"))
    assert response["statusCode"] == 200
    stored = sum(len(repo.list_messages(t.id)) for t in repo.scan_tickets())
    assert stored == expected


def test_echo_of_our_own_send_is_ignored(repo: DynamoRepository) -> None:
    response = call(meta_post("meta_messenger_echo.body"))
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["ignored"] >= 1
    assert repo.scan_tickets() == []


def test_whatsapp_and_sms_from_one_phone_are_one_customer(repo: DynamoRepository) -> None:
    call(meta_post("meta_whatsapp_text.body"))
    [ticket] = repo.scan_tickets()
    customer = repo.get_customer(ticket.customer_id)
    assert customer is not None
    phone = next(i.value for i in customer.identities if i.kind == "phone")

    from functions.inbound_sms import app as sms_app
    from tests.integration.test_inbound_sms import sms_event

    sms_app.handler(
        sms_event("Also writing by SMS", sender=phone, at="2099-01-01T00:00:00.000Z"), FakeLambdaContext()
    )
    whatsapp, sms = sorted(repo.scan_tickets(), key=lambda t: t.channel, reverse=True)
    assert sms.channel == "sms"
    assert sms.customer_id == whatsapp.customer_id
    assert sms.group_id is not None
    assert repo.get_ticket(whatsapp.id).group_id == sms.group_id  # type: ignore[union-attr]


def test_public_comment_becomes_a_ticket_flagged_public(repo: DynamoRepository) -> None:
    call(meta_post("meta_page_comment.body"))
    [ticket] = repo.scan_tickets()
    assert "public" in ticket.flags


def test_malformed_json_with_a_valid_signature_is_kept_in_quarantine(repo: DynamoRepository) -> None:
    response = call(meta_post("", body=b'{"object": "page", "entry": [ broken'))
    assert response["statusCode"] == 200
    [entry] = repo.list_quarantine()
    assert entry.reason == "malformed-json"
    assert "broken" in entry.details["raw"]


def test_unknown_object_is_quarantined(repo: DynamoRepository) -> None:
    call(meta_post("", body=b'{"object": "permissions", "entry": []}'))
    assert [q.reason for q in repo.list_quarantine()] == ["unsupported-object"]


def test_oversized_body_is_refused(repo: DynamoRepository, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.settings import reset_settings

    monkeypatch.setenv("WEBHOOK_MAX_BODY_BYTES", "2048")
    reset_settings()
    response = call(meta_post("", body=b'{"object": "page", "entry": []' + b" " * 4096 + b"}"))
    assert response["statusCode"] == 413


def test_x_direct_message_opens_a_ticket_and_own_echo_is_ignored(repo: DynamoRepository) -> None:
    assert call(x_post("x_dm_event.body"))["statusCode"] == 200
    assert call(x_post("x_dm_own_echo.body"))["statusCode"] == 200
    [ticket] = repo.scan_tickets()
    assert ticket.channel == "x"


def test_write_failure_asks_the_platform_to_retry(
    repo: DynamoRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.errors import ConflictError

    def failing(*args: object, **kwargs: object) -> None:
        raise ConflictError("simulated write failure")

    monkeypatch.setattr(app, "ingest_message", failing)
    assert call(fixture("apigw_v2_meta_messenger_post.json"))["statusCode"] == 500


def test_delivery_receipt_is_recorded_on_the_ticket_of_our_message(repo: DynamoRepository) -> None:
    from shared.channels.meta import parse_meta_payload
    from shared.dal.pointers import Pointer

    # Given a WhatsApp ticket and a message we sent on it (outbound messages come with a later issue)
    call(meta_post("meta_whatsapp_text.body"))
    [ticket] = repo.scan_tickets()
    receipt_body = json.loads((WEBHOOKS / "meta_whatsapp_status.body").read_text())
    [receipt] = parse_meta_payload(receipt_body).receipts[:1]
    ours = Pointer("ref", f"whatsapp:{receipt.message_ids[0]}", ticket_id=ticket.id, direction="outbound")
    repo._write([], [ours], "2026-03-02")

    # When the status webhook arrives twice
    for _ in range(2):
        assert call(meta_post("meta_whatsapp_status.body"))["statusCode"] == 200

    # Then the status is in the ticket's history once
    statuses = [e for e in repo.list_events(ticket.id) if e.type == "delivery_status"]
    assert [e.data["status"] for e in statuses] == [receipt.status.value]


def test_receipt_for_an_unknown_message_changes_nothing(repo: DynamoRepository) -> None:
    assert call(meta_post("meta_whatsapp_status.body"))["statusCode"] == 200
    assert repo.scan_tickets() == []


# --- issue 10: the webhook is no signing oracle, and unauthenticated garbage is a clear 4xx --------


def x_crc(token: str) -> dict[str, Any]:
    from urllib.parse import urlencode

    event = fixture("apigw_v2_x_crc_get.json")
    event["queryStringParameters"] = {"crc_token": token}
    event["rawQueryString"] = urlencode({"crc_token": token})
    return event


def x_post_bytes(raw: bytes, signature: str) -> dict[str, Any]:
    event = fixture("apigw_v2_x_dm_post.json")
    event["body"] = raw.decode("utf-8")
    event["headers"]["x-twitter-webhooks-signature"] = signature
    event["headers"]["content-length"] = str(len(raw))
    return event


def set_webhook_secret(deployment: Deployment, value: str) -> None:
    from aws_lambda_powertools.utilities import parameters

    boto3.client("secretsmanager").put_secret_value(
        SecretId=deployment.name("WebhookSecret"), SecretString=value
    )
    parameters.clear_caches()


def stored_anything(repo: DynamoRepository) -> bool:
    return bool(repo.scan_tickets() or repo.list_outbound() or repo.list_quarantine())


def test_crc_refuses_a_json_body_as_token_so_a_forged_dm_cannot_be_signed(repo: DynamoRepository) -> None:
    # Given an attacker's DM "from" a user id they chose, which they want us to sign
    forged = json.loads((WEBHOOKS / "x_dm_event.body").read_text())
    forged["direct_message_events"][0]["id"] = "1999999999999999999"
    forged["direct_message_events"][0]["message_create"]["sender_id"] = "4242424242"
    forged_body = json.dumps(forged, separators=(",", ":")).encode()

    # When they send it to the CRC endpoint as the crc_token
    crc = call(x_crc(forged_body.decode()))

    # Then nothing is signed
    assert crc["statusCode"] == 400
    assert "sha256=" not in crc["body"]
    assert "response_token" not in crc["body"]

    # And the forged POST, carrying whatever the CRC answered, is refused and stores nothing
    stolen = json.loads(crc["body"]).get("response_token", "") if crc["body"].startswith("{") else ""
    response = call(x_post_bytes(forged_body, stolen))
    assert response["statusCode"] == 401
    assert not stored_anything(repo)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "short",
        "12345678901234567890",  # a bare JSON number
        "9b4507b3 9040 4669 9ca3 6b94edb50553",
        "9b4507b3-9040-4669-9ca3-6b94edb50553" * 4,  # over 128 characters
        "caf\u00e9-9040-4669-9ca3-6b94edb50553",
        '{"for_user_id":"1"}',
    ],
)
def test_crc_refuses_tokens_not_shaped_like_x_sends_them(repo: DynamoRepository, token: str) -> None:
    response = call(x_crc(token))
    assert response["statusCode"] == 400
    assert "sha256=" not in response["body"]


def test_crc_answers_the_published_x_token_shape(repo: DynamoRepository) -> None:
    token = "9b4507b3-9040-4669-9ca3-6b94edb50553"
    digest = base64.b64encode(hmac.new(X_SECRET.encode(), token.encode(), hashlib.sha256).digest()).decode()
    response = call(x_crc(token))
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"response_token": f"sha256={digest}"}


def test_meta_handshake_echoes_only_a_numeric_challenge(repo: DynamoRepository) -> None:
    event = fixture("apigw_v2_meta_verify_get.json")
    event["queryStringParameters"]["hub.challenge"] = '{"object":"page"}'
    response = call(event)
    assert response["statusCode"] == 403
    assert "object" not in response["body"]


def test_meta_handshake_with_no_verify_token_configured_echoes_nothing(
    repo: DynamoRepository, deployment: Deployment
) -> None:
    set_webhook_secret(deployment, json.dumps({"meta_app_secret": META_SECRET, "meta_verify_token": ""}))
    event = fixture("apigw_v2_meta_verify_get.json")
    event["queryStringParameters"]["hub.verify_token"] = ""
    response = call(event)
    assert response["statusCode"] == 503
    assert "meta_verify_token" in response["body"]
    assert "1158201444" not in response["body"]


@pytest.mark.parametrize("platform", ["meta", "x"])
def test_non_ascii_signature_header_is_refused(repo: DynamoRepository, platform: str) -> None:
    if platform == "meta":
        event = meta_post("meta_messenger_text.body", signature="sha256=caf\u00e9" + "0" * 60)
    else:
        event = x_post("x_dm_event.body")
        event["headers"]["x-twitter-webhooks-signature"] = "sha256=caf\u00e9AAAA"
    assert call(event)["statusCode"] == 401
    assert not stored_anything(repo)


def base64_body(event: dict[str, Any], raw: bytes) -> dict[str, Any]:
    event["body"] = base64.b64encode(raw).decode("ascii")
    event["isBase64Encoded"] = True
    event["headers"]["content-length"] = str(len(raw))
    return event


def test_base64_body_is_verified_over_the_decoded_bytes(repo: DynamoRepository) -> None:
    raw = (WEBHOOKS / "meta_messenger_text.body").read_bytes()
    response = call(base64_body(meta_post("meta_messenger_text.body"), raw))
    assert response["statusCode"] == 200
    [ticket] = repo.scan_tickets()
    assert ticket.channel == "messenger"


@pytest.mark.parametrize("platform", ["meta", "x"])
def test_unsigned_non_utf8_base64_body_is_refused(repo: DynamoRepository, platform: str) -> None:
    raw = b'{"object": "page", "entry": ["\xff\xfe\xfa"]}'
    event = meta_post("meta_messenger_text.body") if platform == "meta" else x_post("x_dm_event.body")
    assert call(base64_body(event, raw))["statusCode"] == 401
    assert not stored_anything(repo)


def test_signed_non_utf8_body_is_quarantined_byte_for_byte(repo: DynamoRepository) -> None:
    raw = b'{"object": "page", "entry": ["\xff\xfe\xfa"]}'
    digest = hmac.new(META_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    event = base64_body(meta_post("meta_messenger_text.body", signature=f"sha256={digest}"), raw)
    response = call(event)
    assert response["statusCode"] == 200
    [entry] = repo.list_quarantine()
    assert entry.reason == "malformed-json"
    assert (entry.details["raw_encoding"], base64.b64decode(entry.details["raw"])) == ("base64", raw)
    assert repo.scan_tickets() == []


def test_body_that_is_not_base64_is_refused(repo: DynamoRepository) -> None:
    event = meta_post("meta_messenger_text.body")
    event["body"] = "not base64 at all!"
    event["isBase64Encoded"] = True
    response = call(event)
    assert response["statusCode"] == 400
    assert not stored_anything(repo)


@pytest.mark.parametrize(
    ("secret", "missing"),
    [
        (json.dumps({"meta_app_secret": META_SECRET, "x_consumer_secret": ""}), "x_consumer_secret"),
        ("x_consumer_secret=oops", "JSON"),
        (json.dumps(["not", "an", "object"]), "JSON"),
    ],
)
def test_x_crc_without_a_usable_secret_names_the_missing_configuration(
    repo: DynamoRepository, deployment: Deployment, secret: str, missing: str
) -> None:
    set_webhook_secret(deployment, secret)
    response = call(fixture("apigw_v2_x_crc_get.json"))
    assert response["statusCode"] == 503
    assert missing in response["body"]
    assert "sha256=" not in response["body"]


def test_x_post_without_a_consumer_secret_is_refused_and_stores_nothing(
    repo: DynamoRepository, deployment: Deployment
) -> None:
    set_webhook_secret(deployment, json.dumps({"meta_app_secret": META_SECRET, "x_consumer_secret": ""}))
    response = call(fixture("apigw_v2_x_dm_post.json"))
    assert response["statusCode"] == 503
    assert "x_consumer_secret" in response["body"]
    assert not stored_anything(repo)


def test_meta_post_while_the_secret_is_not_json_is_refused_and_stores_nothing(
    repo: DynamoRepository, deployment: Deployment
) -> None:
    set_webhook_secret(deployment, "{not json")
    response = call(fixture("apigw_v2_meta_messenger_post.json"))
    assert response["statusCode"] == 503
    assert not stored_anything(repo)


# --- issue 11 §8: nothing a customer sends disappears silently --------------------------------------

PAGE_INBOX_APP = "263902037430900"
PAGE_ID = "102938475610293"
PSID = "7392015648120394"


def meta_json(payload: dict[str, Any]) -> dict[str, Any]:
    return meta_post("", body=json.dumps(payload).encode("ascii"))


def whatsapp_payload(message: dict[str, Any]) -> dict[str, Any]:
    payload = json.loads((WEBHOOKS / "meta_whatsapp_text.body").read_text())
    payload["entry"][0]["changes"][0]["value"]["messages"] = [message]
    return payload


def messenger_payload(sender: str, recipient: str, message: dict[str, Any]) -> dict[str, Any]:
    item = {"sender": {"id": sender}, "recipient": {"id": recipient}, "timestamp": 1736850302500}
    return {
        "object": "page",
        "entry": [{"id": PAGE_ID, "time": 1736850302871, "messaging": [{**item, "message": message}]}],
    }


@pytest.mark.parametrize(
    ("message", "detail"),
    [
        (
            {
                "type": "unsupported",
                "errors": [
                    {
                        "code": 131051,
                        "title": "Message type unknown",
                        "message": "Message type unknown",
                        "error_data": {"details": "Message type is currently not supported."},
                    }
                ],
            },
            "131051",
        ),
        ({"type": "order", "order": {"catalog_id": "1", "product_items": []}}, "order"),
    ],
)
def test_whatsapp_message_we_cannot_show_is_kept_on_the_ticket_flagged_unsupported(
    repo: DynamoRepository, message: dict[str, Any], detail: str
) -> None:
    # Given a WhatsApp message of a type the helpdesk cannot show
    wa = {"from": "16505551234", "id": "wamid.UNSUPPORTED1", "timestamp": "1736850102", **message}

    # When Meta delivers it (twice)
    for _ in range(2):
        assert call(meta_json(whatsapp_payload(wa)))["statusCode"] == 200

    # Then the customer's ticket has it once, flagged so an agent asks them to resend it
    [ticket] = repo.scan_tickets()
    [stored] = repo.list_messages(ticket.id)
    assert "unsupported" in stored.flags
    assert "unsupported" in ticket.flags
    assert detail in json.dumps(stored.headers)
    assert stored.text


def test_instagram_unsend_leaves_an_event_on_the_ticket_of_the_message(repo: DynamoRepository) -> None:
    # Given a customer's Instagram DM on a ticket
    assert call(meta_post("meta_instagram_dm.body"))["statusCode"] == 200
    [ticket] = repo.scan_tickets()
    [message] = repo.list_messages(ticket.id)

    # When the customer unsends it (Meta redelivers the notice too)
    unsend = json.loads((WEBHOOKS / "meta_instagram_dm.body").read_text())
    unsend["entry"][0]["messaging"][0]["timestamp"] = 1736851102500
    unsend["entry"][0]["messaging"][0]["message"] = {"mid": message.external_id, "is_deleted": True}
    for _ in range(2):
        assert call(meta_json(unsend))["statusCode"] == 200

    # Then the ticket's history says so, once, naming the message
    unsent = [e for e in repo.list_events(ticket.id) if e.type == "message_unsent"]
    assert [(e.data["message_id"], e.data["provider_message_id"]) for e in unsent] == [
        (message.id, message.external_id)
    ]
    assert len(repo.scan_tickets()) == 1


def test_reply_sent_from_metas_own_inbox_leaves_an_event_on_the_ticket(
    repo: DynamoRepository, deployment: Deployment
) -> None:
    set_webhook_secret(
        deployment,
        json.dumps({"meta_app_secret": META_SECRET, "meta_verify_token": "t", "meta_app_id": META_APP_ID}),
    )
    # Given a customer's Messenger conversation
    assert call(fixture("apigw_v2_meta_messenger_post.json"))["statusCode"] == 200
    [ticket] = repo.scan_tickets()

    # When a person answers from the Page inbox (an echo another app sent), and Meta retries it
    echo = {
        "mid": "m_FromPageInbox0001",
        "is_echo": True,
        "app_id": int(PAGE_INBOX_APP),
        "text": "On its way!",
    }
    for _ in range(2):
        assert call(meta_json(messenger_payload(PAGE_ID, PSID, echo)))["statusCode"] == 200

    # Then the reply is in the ticket's history once, with what was said and by which app
    replies = [e for e in repo.list_events(ticket.id) if e.type == "external_reply"]
    assert [(e.data["text"], e.data["app_id"], e.data["provider_message_id"]) for e in replies] == [
        ("On its way!", PAGE_INBOX_APP, "m_FromPageInbox0001")
    ]
    assert len(repo.list_messages(ticket.id)) == 1  # it is nobody's customer message


def test_echo_of_our_own_send_leaves_no_event(repo: DynamoRepository, deployment: Deployment) -> None:
    from shared.dal.pointers import Pointer

    set_webhook_secret(
        deployment,
        json.dumps({"meta_app_secret": META_SECRET, "meta_verify_token": "t", "meta_app_id": META_APP_ID}),
    )
    assert call(fixture("apigw_v2_meta_messenger_post.json"))["statusCode"] == 200
    [ticket] = repo.scan_tickets()
    # one echo from our app id, one whose mid is a message we recorded as sent
    repo._write(
        [],
        [Pointer("ref", "messenger:m_OurSend0002", ticket_id=ticket.id, direction="outbound")],
        "2026-03-02",
    )
    ours = {"mid": "m_OurSend0001", "is_echo": True, "app_id": int(META_APP_ID), "text": "Hello"}
    recorded = {"mid": "m_OurSend0002", "is_echo": True, "app_id": 1, "text": "Hello again"}
    for echo in (ours, recorded):
        assert call(meta_json(messenger_payload(PAGE_ID, PSID, echo)))["statusCode"] == 200
    assert [e for e in repo.list_events(ticket.id) if e.type == "external_reply"] == []


def test_notices_for_a_conversation_without_a_ticket_create_nothing(repo: DynamoRepository) -> None:
    unsend = {"mid": "m_NeverSeen0001", "is_deleted": True}
    reply = {"mid": "m_FromPageInbox0002", "is_echo": True, "app_id": int(PAGE_INBOX_APP), "text": "Hi"}
    assert call(meta_json(messenger_payload(PSID, PAGE_ID, unsend)))["statusCode"] == 200
    assert call(meta_json(messenger_payload(PAGE_ID, PSID, reply)))["statusCode"] == 200
    assert not stored_anything(repo)


def test_a_body_signed_by_the_crc_endpoint_is_refused_and_quarantines_nothing(repo: DynamoRepository) -> None:
    # Given a token shaped like X's, which the CRC endpoint signs for anyone
    token = "9b4507b3-9040-4669-9ca3-6b94edb50553"
    crc = call(x_crc(token))
    assert crc["statusCode"] == 200
    signature = json.loads(crc["body"])["response_token"]

    # When the attacker POSTs that token as a delivery, with the signature the CRC gave them
    # (once per token they like: each would be a new quarantine entry)
    response = call(x_post_bytes(token.encode(), signature))

    # Then it is refused as our own CRC answer, and nothing is stored, not even in the quarantine
    assert response["statusCode"] == 401
    assert not stored_anything(repo)


def test_repeated_crc_tokens_joined_by_api_gateway_are_not_signed(repo: DynamoRepository) -> None:
    # API Gateway v2 joins a repeated query parameter with commas: the joined value is no X token
    event = x_crc("9b4507b3-9040-4669-9ca3-6b94edb50553")
    event["queryStringParameters"] = {"crc_token": "9b4507b3-9040-4669-9ca3-6b94edb50553,{}"}
    event["rawQueryString"] = "crc_token=9b4507b3-9040-4669-9ca3-6b94edb50553&crc_token=%7B%7D"
    response = call(event)
    assert response["statusCode"] == 400
    assert "sha256=" not in response["body"]


def _x_signature(raw: bytes) -> str:
    return base64.b64encode(hmac.new(X_SECRET.encode(), raw, hashlib.sha256).digest()).decode()


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ("SHA256={sig}", 200),  # the scheme is case-insensitive
        ("  sha256={sig}  ", 200),  # surrounding space is not part of the value
        ("sha256={sig},sha256={sig}", 401),  # two headers joined by API Gateway
        ("sha256={nopad}", 401),  # base64 without its padding
        ("sha1={sig}", 401),
        ("{sig}", 401),  # no scheme
    ],
)
def test_x_signature_header_variants(repo: DynamoRepository, header: str, status: int) -> None:
    raw = (WEBHOOKS / "x_dm_event.body").read_bytes()
    sig = _x_signature(raw)
    response = call(x_post_bytes(raw, header.format(sig=sig, nopad=sig.rstrip("="))))
    assert response["statusCode"] == status
    assert bool(repo.scan_tickets()) is (status == 200)


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ("sha256={hex_upper}", 200),  # hex digits in either case
        ("sha1={sha1}", 401),  # only the SHA-1 signature: not accepted
        ("sha256={hex_short}", 401),
    ],
)
def test_meta_signature_header_variants(repo: DynamoRepository, header: str, status: int) -> None:
    raw = (WEBHOOKS / "meta_messenger_text.body").read_bytes()
    digest = hmac.new(META_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    sha1 = hmac.new(META_SECRET.encode(), raw, hashlib.sha1).hexdigest()
    signature = header.format(hex_upper=digest.upper(), sha1=sha1, hex_short=digest[:-2])
    response = call(meta_post("meta_messenger_text.body", signature=signature))
    assert response["statusCode"] == status
    assert bool(repo.scan_tickets()) is (status == 200)


def test_meta_handshake_for_another_mode_echoes_nothing(repo: DynamoRepository) -> None:
    event = fixture("apigw_v2_meta_verify_get.json")
    event["queryStringParameters"]["hub.mode"] = "unsubscribe"
    response = call(event)
    assert response["statusCode"] == 403
    assert event["queryStringParameters"]["hub.challenge"] not in response["body"]
