"""social_webhook: Meta (Messenger, Instagram, WhatsApp) and X webhooks over an HTTP API.

Handshakes are answered, signatures are checked over the exact bytes received, every message
of a batched delivery is stored once. 200 means stored (or deliberately ignored, or quarantined);
5xx only when a write failed in a way a retry can fix, so the platform retries.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared import clock
from shared.channels import meta, x
from shared.config import load_config
from shared.dal.repository import get_repository
from shared.errors import HelpdeskError, InvalidEventError
from shared.logic.ingest_message import ChatContext, ingest_message, record_receipt
from shared.logic.quarantine import quarantine_input
from shared.models.inbound import ChannelBatch
from shared.models.ticket import Channel
from shared.observability import logger, metrics, tracer
from shared.settings import SocialWebhookSettings, aws_region, get_settings

app = APIGatewayHttpResolver()


@cache
def _chat_context() -> ChatContext:
    settings = get_settings(SocialWebhookSettings)
    return ChatContext(
        repository=get_repository(settings.table_name, aws_region()),
        config=load_config(settings.helpdesk_config),
    )


def _secrets() -> dict[str, str]:
    """The webhook secrets from Secrets Manager (cached for 5 minutes by Powertools)."""
    from aws_lambda_powertools.utilities import parameters

    settings = get_settings(SocialWebhookSettings)
    value: Any = parameters.get_secret(settings.webhook_secret_name, transform="json", max_age=300)
    if not isinstance(value, dict):
        raise InvalidEventError("the webhook secret must be a JSON object")
    return {str(k): str(v) for k, v in value.items()}


def _text(status: int, body: str) -> Response[str]:
    return Response(status_code=status, content_type=content_types.TEXT_PLAIN, body=body)


def _json(status: int, body: dict[str, Any]) -> Response[str]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


def _raw_body() -> bytes | None:
    """The exact bytes received, or None when larger than allowed."""
    body = app.current_event.decoded_body or ""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    if len(raw) > get_settings(SocialWebhookSettings).max_body_bytes:
        return None
    return raw


def _store(batch: ChannelBatch, platform: str, raw: bytes) -> Response[str]:
    ctx = _chat_context()
    outcomes: dict[str, int] = {}
    body = raw.decode("utf-8", errors="replace")  # kept with a message DynamoDB refuses
    try:
        for message in batch.messages:
            result = ingest_message(message, ctx, raw=body)
            outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
            metrics.add_metric(name=f"Social{result.outcome.capitalize()}", unit=MetricUnit.Count, value=1)
        receipts = [record_receipt(receipt, ctx) for receipt in batch.receipts]
    except HelpdeskError:
        logger.exception("webhook message not stored; asking the platform to retry")
        return _json(500, {"error": "temporary failure, retry"})
    for receipt, outcome in zip(batch.receipts, receipts, strict=True):
        logger.info(
            "delivery receipt", channel=receipt.channel.value, status=receipt.status.value, outcome=outcome
        )
    logger.info("webhook stored", platform=platform, outcomes=outcomes, ignored=batch.ignored_reasons())
    return _json(200, {"stored": outcomes, "receipts": len(batch.receipts), "ignored": batch.ignored_count})


def _quarantine(platform: str, reason: str, raw: bytes, error: str) -> Response[str]:
    now = clock.now()
    text = raw.decode("utf-8", errors="replace")
    digest = hashlib.sha256(raw).hexdigest()
    quarantine_input(
        _chat_context().repository,
        channel=Channel.MESSENGER if platform == "meta" else Channel.X,
        reason=reason,
        ref=f"{platform}:{digest[:16]}",
        at=now,
        raw=text,
        dedupe_key=f"{platform}:{digest}",
        details={"platform": platform, "error": error},
    )
    logger.warning("webhook payload quarantined", platform=platform, reason=reason, error=error)
    return _json(200, {"quarantined": reason})


@app.get("/webhooks/meta")
def meta_verify() -> Response[str]:
    query = app.current_event.query_string_parameters or {}
    challenge = meta.verification_response(query, _secrets().get("meta_verify_token", ""))
    if challenge is None:
        return _text(403, "verification failed")
    return _text(200, challenge)


@app.post("/webhooks/meta")
def meta_notification() -> Response[str]:
    raw = _raw_body()
    if raw is None:
        return _text(413, "payload too large")
    header = app.current_event.headers.get("x-hub-signature-256")
    if not meta.verify_signature(raw, header, _secrets().get("meta_app_secret", "")):
        metrics.add_metric(name="WebhookBadSignature", unit=MetricUnit.Count, value=1)
        return _text(401, "invalid signature")
    try:
        payload = json.loads(raw)
        settings = get_settings(SocialWebhookSettings)
        batch = meta.parse_meta_payload(payload, instagram_account_ids=settings.instagram_account_ids)
    except json.JSONDecodeError as exc:
        return _quarantine("meta", "malformed-json", raw, str(exc))
    except meta.UnsupportedPayloadError as exc:
        return _quarantine("meta", "unsupported-object", raw, str(exc))
    except InvalidEventError as exc:
        return _quarantine("meta", "malformed-payload", raw, str(exc))
    return _store(batch, "meta", raw)


@app.get("/webhooks/x")
def x_crc() -> Response[str]:
    token = (app.current_event.query_string_parameters or {}).get("crc_token")
    if not token:
        return _text(400, "crc_token missing")
    return _json(200, x.crc_response(token, _secrets().get("x_consumer_secret", "")))


@app.post("/webhooks/x")
def x_notification() -> Response[str]:
    raw = _raw_body()
    if raw is None:
        return _text(413, "payload too large")
    header = app.current_event.headers.get("x-twitter-webhooks-signature")
    if not x.verify_signature(raw, header, _secrets().get("x_consumer_secret", "")):
        metrics.add_metric(name="WebhookBadSignature", unit=MetricUnit.Count, value=1)
        return _text(401, "invalid signature")
    try:
        batch = x.parse_x_payload(json.loads(raw))
    except json.JSONDecodeError as exc:
        return _quarantine("x", "malformed-json", raw, str(exc))
    except InvalidEventError as exc:
        return _quarantine("x", "malformed-payload", raw, str(exc))
    return _store(batch, "x", raw)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)  # type: ignore[untyped-decorator]
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
