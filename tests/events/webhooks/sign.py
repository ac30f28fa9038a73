"""Regenerate the signed webhook fixtures from the `.body` and `sms_*.json` sources in this folder.

    .venv/bin/python tests/events/webhooks/sign.py

Writes `meta_signatures.json`, `x_signatures.json`, the API Gateway HTTP API v2 events
(`apigw_v2_*.json`) and the SNS Lambda events (`sns_sms_*.json`). The `.body` files are the exact
bytes a provider sends and are never rewritten here: edit one, then rerun this script.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

META_APP_SECRET = "test-meta-app-secret"
META_VERIFY_TOKEN = "test-meta-verify-token"
META_CHALLENGE = "1158201444"
X_CONSUMER_SECRET = "test-x-consumer-secret"
X_CRC_TOKEN = "9b4507b3-9040-4669-9ca3-6b94edb50553"
WRONG_SECRET = "not-the-app-secret"

ACCOUNT = "123456789012"
API_ID = "abc123defg"
DOMAIN = f"{API_ID}.execute-api.us-east-1.amazonaws.com"
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:helpdesk-inbound-sms"
SUBSCRIPTION = f"{TOPIC}:7f3c2a1b-5d4e-4f6a-9b8c-0d1e2f3a4b5c"
# A placeholder: SNS signs with its own key, and Lambda subscribers do not check it.
SNS_SIGNATURE = (
    "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6bkkOxYDVrY0Ad8"
    "L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3khZl8IKvO61GWB6jI9b5+gLPoBc1Q="
)


def meta_signature(body: bytes, secret: str = META_APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def x_signature(body: bytes, secret: str = X_CONSUMER_SECRET) -> str:
    return "sha256=" + base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def http_event(
    method: str,
    path: str,
    *,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    source_ip: str,
    user_agent: str,
    epoch_ms: int,
    request_id: str,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event; header names lower-cased as API Gateway does."""
    route = f"{method} {path}"
    trace_suffix = hashlib.sha256(request_id.encode()).hexdigest()[:24]
    raw_query = "&".join(f"{k}={v}" for k, v in (query or {}).items())
    all_headers = {
        "accept": "*/*",
        "host": DOMAIN,
        "user-agent": user_agent,
        "x-amzn-trace-id": f"Root=1-{epoch_ms // 1000:08x}-{trace_suffix}",
        "x-forwarded-for": source_ip,
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
        **(headers or {}),
    }
    if body is not None:
        all_headers["content-length"] = str(len(body))
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": dict(sorted(all_headers.items())),
    }
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = {
        "accountId": ACCOUNT,
        "apiId": API_ID,
        "domainName": DOMAIN,
        "domainPrefix": API_ID,
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": user_agent,
        },
        "requestId": request_id,
        "routeKey": route,
        "stage": "$default",
        "time": _clf_time(epoch_ms),
        "timeEpoch": epoch_ms,
    }
    if body is not None:
        event["body"] = body.decode("utf-8")
    event["isBase64Encoded"] = False
    return event


def sns_event(message: str, message_id: str, timestamp: str) -> dict[str, Any]:
    """An SNS Lambda event carrying one End User Messaging inbound SMS notification."""
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": SUBSCRIPTION,
                "Sns": {
                    "Type": "Notification",
                    "MessageId": message_id,
                    "TopicArn": TOPIC,
                    "Subject": None,
                    "Message": message,
                    "Timestamp": timestamp,
                    "SignatureVersion": "1",
                    "Signature": SNS_SIGNATURE,
                    "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem",
                    "UnsubscribeUrl": f"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={SUBSCRIPTION}",
                    "MessageAttributes": {},
                },
            }
        ]
    }


def _clf_time(epoch_ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")


def _write(name: str, data: Any) -> None:
    (HERE / name).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main() -> None:
    bodies = {path.name: path.read_bytes() for path in sorted(HERE.glob("*.body"))}
    meta_bodies = {name: body for name, body in bodies.items() if name.startswith("meta_")}
    x_bodies = {name: body for name, body in bodies.items() if name.startswith("x_")}

    _write(
        "meta_signatures.json",
        {
            "app_secret": META_APP_SECRET,
            "verify_token": META_VERIFY_TOKEN,
            "header": "X-Hub-Signature-256",
            "signatures": {name: meta_signature(body) for name, body in meta_bodies.items()},
        },
    )
    _write(
        "x_signatures.json",
        {
            "consumer_secret": X_CONSUMER_SECRET,
            "header": "x-twitter-webhooks-signature",
            "signatures": {name: x_signature(body) for name, body in x_bodies.items()},
            "crc": {
                "crc_token": X_CRC_TOKEN,
                "response_token": "sha256="
                + base64.b64encode(
                    hmac.new(X_CONSUMER_SECRET.encode(), X_CRC_TOKEN.encode(), hashlib.sha256).digest()
                ).decode(),
            },
        },
    )

    meta_agent, meta_ip = "facebookexternalua", "173.252.95.1"
    _write(
        "apigw_v2_meta_verify_get.json",
        http_event(
            "GET",
            "/webhooks/meta",
            query={
                "hub.mode": "subscribe",
                "hub.challenge": META_CHALLENGE,
                "hub.verify_token": META_VERIFY_TOKEN,
            },
            source_ip=meta_ip,
            user_agent=meta_agent,
            epoch_ms=1736849600000,
            request_id="JKJaXmPLvHcESHA=",
        ),
    )
    for name, source, secret, request_id, epoch_ms in (
        (
            "apigw_v2_meta_messenger_post.json",
            "meta_messenger_text.body",
            META_APP_SECRET,
            "JKJbYnQMwIdFTIB=",
            1736849704000,
        ),
        (
            "apigw_v2_meta_whatsapp_post.json",
            "meta_whatsapp_text.body",
            META_APP_SECRET,
            "JKJcZoRNxJeGUJC=",
            1736850104000,
        ),
        (
            "apigw_v2_meta_bad_signature_post.json",
            "meta_messenger_text.body",
            WRONG_SECRET,
            "JKJdApSOyKfHVKD=",
            1736849705000,
        ),
    ):
        body = meta_bodies[source]
        headers = {"content-type": "application/json", "x-hub-signature-256": meta_signature(body, secret)}
        _write(
            name,
            http_event(
                "POST",
                "/webhooks/meta",
                headers=headers,
                body=body,
                source_ip=meta_ip,
                user_agent=meta_agent,
                epoch_ms=epoch_ms,
                request_id=request_id,
            ),
        )

    x_agent, x_ip = "Twitter-Webhooks/1.0", "199.59.150.10"
    _write(
        "apigw_v2_x_crc_get.json",
        http_event(
            "GET",
            "/webhooks/x",
            query={"crc_token": X_CRC_TOKEN, "nonce": "MTczNjg1MjkwMDAwMA"},
            source_ip=x_ip,
            user_agent=x_agent,
            epoch_ms=1736852900000,
            request_id="KLKaXmPLvHcESHA=",
        ),
    )
    dm_body = x_bodies["x_dm_event.body"]
    _write(
        "apigw_v2_x_dm_post.json",
        http_event(
            "POST",
            "/webhooks/x",
            headers={
                "content-type": "application/json; charset=utf-8",
                "x-twitter-webhooks-signature": x_signature(dm_body),
            },
            body=dm_body,
            source_ip=x_ip,
            user_agent=x_agent,
            epoch_ms=1736853001000,
            request_id="KLKbYnQMwIdFTIB=",
        ),
    )

    for source, message_id, timestamp in (
        ("sms_inbound.json", "5c1d0b7e-2f3a-5b4c-8d9e-0f1a2b3c4d5e", "2025-01-14T10:20:03.120Z"),
        ("sms_stop.json", "6d2e1c8f-3a4b-5c5d-9e0f-1a2b3c4d5e6f", "2025-01-14T10:25:41.007Z"),
        ("sms_mms.json", "7e3f2d9a-4b5c-5d6e-8f1a-2b3c4d5e6f7a", "2025-01-14T10:31:12.450Z"),
    ):
        payload = json.loads((HERE / source).read_text(encoding="utf-8"))
        message = json.dumps(payload, separators=(",", ":"))
        _write(f"sns_{source}", sns_event(message, message_id, timestamp))


if __name__ == "__main__":
    main()
