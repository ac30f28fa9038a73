"""social_webhook: Meta (Messenger, Instagram, WhatsApp) and X webhooks over an HTTP API.

Handshakes are answered, signatures are checked over the exact bytes received, every message
of a batched delivery is stored once. 200 means stored (or deliberately ignored, or quarantined);
4xx for a request we refuse (bad signature, malformed handshake or body encoding); 503 naming the
missing configuration when the webhook secret lacks what a route needs; 5xx only when a write
failed in a way a retry can fix, so the platform retries. Nothing is signed or echoed unless it
has the shape the platform sends.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared import clock, snapstart
from shared.channels import meta, x
from shared.config import load_config
from shared.dal.items import reset_connections
from shared.dal.repository import get_repository
from shared.errors import ConfigError, HelpdeskError, InvalidEventError
from shared.logic.conversation_notices import record_notice
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


def _secret(name: str) -> str:
    """One value of the webhook secret in Secrets Manager (cached for 5 minutes by Powertools).

    Raises ConfigError (503) when the secret cannot be read, is not a JSON object, or has no
    non-empty `name`: every route fails closed without it.
    """
    found = _optional_secret(name)
    if found is None:
        raise ConfigError(f"{name} is not set in the webhook secret")
    return found


def _optional_secret(name: str) -> str | None:
    """One value of the webhook secret, or None when it has no non-empty `name`."""
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters.exceptions import (
        GetParameterError,
        TransformParameterError,
    )

    settings = get_settings(SocialWebhookSettings)
    try:
        value: Any = parameters.get_secret(settings.webhook_secret_name, transform="json", max_age=300)
    except TransformParameterError as exc:
        raise ConfigError("the webhook secret is not a JSON object") from exc
    except GetParameterError as exc:
        raise ConfigError("the webhook secret cannot be read") from exc
    if not isinstance(value, dict):
        raise ConfigError("the webhook secret is not a JSON object")
    found = value.get(name)
    if isinstance(found, int) and not isinstance(found, bool):
        found = str(found)  # an app id may be written as a number
    return found if isinstance(found, str) and found.strip() else None


@app.exception_handler(ConfigError)  # type: ignore[untyped-decorator]
def _not_configured(exc: ConfigError) -> Response[str]:
    logger.error("webhook not configured", error=str(exc))
    metrics.add_metric(name="WebhookNotConfigured", unit=MetricUnit.Count, value=1)
    return _text(503, f"webhook not configured: {exc}")


@app.exception_handler(InvalidEventError)  # type: ignore[untyped-decorator]
def _refused(exc: InvalidEventError) -> Response[str]:
    metrics.add_metric(name="WebhookRefused", unit=MetricUnit.Count, value=1)
    return _text(400, str(exc))


def _text(status: int, body: str) -> Response[str]:
    return Response(status_code=status, content_type=content_types.TEXT_PLAIN, body=body)


def _json(status: int, body: dict[str, Any]) -> Response[str]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


def _raw_body() -> bytes | None:
    """The exact bytes API Gateway received, or None when larger than allowed.

    A body API Gateway base64-encoded (`isBase64Encoded`, for bytes that are not text) is decoded
    to bytes and never to text: signatures cover bytes. Raises InvalidEventError (400) when such a
    body is not base64.
    """
    event = app.current_event
    body = event.body or ""
    limit = get_settings(SocialWebhookSettings).max_body_bytes
    if len(body) > 2 * limit:  # base64 is 4/3 of the bytes; a text body at most `limit` characters
        return None
    if event.is_base64_encoded:
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidEventError("the body is marked base64 but is not base64") from exc
    else:
        raw = body.encode("utf-8", "surrogatepass")  # text the way it came; a lone surrogate fails the HMAC
    return None if len(raw) > limit else raw


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
        notices = [record_notice(notice, ctx.repository) for notice in batch.notices]
    except HelpdeskError:
        logger.exception("webhook message not stored; asking the platform to retry")
        return _json(500, {"error": "temporary failure, retry"})
    for receipt, outcome in zip(batch.receipts, receipts, strict=True):
        logger.info(
            "delivery receipt", channel=receipt.channel.value, status=receipt.status.value, outcome=outcome
        )
    for notice, notice_outcome in zip(batch.notices, notices, strict=True):
        logger.info("conversation notice", kind=notice.kind.value, outcome=notice_outcome)
    logger.info("webhook stored", platform=platform, outcomes=outcomes, ignored=batch.ignored_reasons())
    return _json(200, {"stored": outcomes, "receipts": len(batch.receipts), "ignored": batch.ignored_count})


def _quarantine(platform: str, reason: str, raw: bytes, error: str) -> Response[str]:
    now = clock.now()
    try:
        text, encoding = raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:  # keep the exact bytes, not a lossy decoding of them
        text, encoding = base64.b64encode(raw).decode("ascii"), "base64"
    digest = hashlib.sha256(raw).hexdigest()
    quarantine_input(
        _chat_context().repository,
        channel=Channel.MESSENGER if platform == "meta" else Channel.X,
        reason=reason,
        ref=f"{platform}:{digest[:16]}",
        at=now,
        raw=text,
        dedupe_key=f"{platform}:{digest}",
        details={"platform": platform, "error": error, "raw_encoding": encoding},
    )
    logger.warning("webhook payload quarantined", platform=platform, reason=reason, error=error)
    return _json(200, {"quarantined": reason})


@app.get("/webhooks/meta")
def meta_verify() -> Response[str]:
    query = app.current_event.query_string_parameters or {}
    challenge = meta.verification_response(query, _secret("meta_verify_token"))
    if challenge is None:
        return _text(403, "verification failed")
    return _text(200, challenge)


@app.post("/webhooks/meta")
def meta_notification() -> Response[str]:
    raw = _raw_body()
    if raw is None:
        return _text(413, "payload too large")
    header = app.current_event.headers.get("x-hub-signature-256")
    if not meta.verify_signature(raw, header, _secret("meta_app_secret")):
        metrics.add_metric(name="WebhookBadSignature", unit=MetricUnit.Count, value=1)
        return _text(401, "invalid signature")
    try:
        payload = json.loads(raw)
        settings = get_settings(SocialWebhookSettings)
        batch = meta.parse_meta_payload(
            payload,
            instagram_account_ids=settings.instagram_account_ids,
            app_id=_optional_secret("meta_app_id"),
        )
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return _quarantine("meta", "malformed-json", raw, str(exc))
    except meta.UnsupportedPayloadError as exc:
        return _quarantine("meta", "unsupported-object", raw, str(exc))
    except InvalidEventError as exc:
        return _quarantine("meta", "malformed-payload", raw, str(exc))
    return _store(batch, "meta", raw)


@app.get("/webhooks/x")
def x_crc() -> Response[str]:
    token = (app.current_event.query_string_parameters or {}).get("crc_token")
    if not x.is_crc_token(token):  # refused before the secret is even read: never a signing oracle
        metrics.add_metric(name="WebhookBadCrcToken", unit=MetricUnit.Count, value=1)
        return _text(400, "crc_token missing or not shaped like an X CRC token")
    return _json(200, x.crc_response(str(token), _secret("x_consumer_secret")))


@app.post("/webhooks/x")
def x_notification() -> Response[str]:
    raw = _raw_body()
    if raw is None:
        return _text(413, "payload too large")
    header = app.current_event.headers.get("x-twitter-webhooks-signature")
    if not x.verify_signature(raw, header, _secret("x_consumer_secret")):
        metrics.add_metric(name="WebhookBadSignature", unit=MetricUnit.Count, value=1)
        return _text(401, "invalid signature")
    try:
        batch = x.parse_x_payload(json.loads(raw))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return _quarantine("x", "malformed-json", raw, str(exc))
    except InvalidEventError as exc:
        return _quarantine("x", "malformed-payload", raw, str(exc))
    return _store(batch, "x", raw)


# -- SnapStart (decision 86): what the snapshot holds, and what each restored environment renews --


def _before_snapshot() -> None:
    """Made once into the snapshot, the same for every environment: the settings, the config and
    the context (no AWS call), and the Powertools parameters module (imported, not used: the
    webhook secret is never read before the snapshot, so no secret is in it)."""
    from aws_lambda_powertools.utilities import parameters  # noqa: F401

    get_settings(SocialWebhookSettings)
    _chat_context()


def _after_restore() -> None:
    """Renewed in each environment resumed from the snapshot: `random`'s seed, the DynamoDB
    connections and the cached webhook secret. None of these is made before the snapshot; they are
    dropped anyway, so no secret, socket or credentials from init can be shared by environments
    or outlive a rotation of the secret."""
    from aws_lambda_powertools.utilities import parameters

    snapstart.renew_entropy()
    reset_connections()
    parameters.clear_caches()  # type: ignore[no-untyped-call]


snapstart.register_hooks(_before_snapshot, _after_restore)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)  # type: ignore[untyped-decorator]
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
