"""inbound_sms: End User Messaging publishes each inbound SMS to SNS; this stores it on a ticket."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import ValidationError, parse
from aws_lambda_powertools.utilities.parser.models import SnsModel, SnsNotificationModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.channels.sms import InvalidPhoneNumberError, parse_sms
from shared.config import load_config
from shared.dal.repository import get_repository
from shared.errors import InvalidEventError
from shared.logic.ingest_message import ChatContext, ingest_message, record_consent
from shared.logic.quarantine import quarantine_input
from shared.models.inbound import ConsentEvent
from shared.models.ticket import Channel
from shared.observability import logger, metrics, tracer
from shared.settings import InboundSmsSettings, aws_region, get_settings


@cache
def _chat_context() -> ChatContext:
    settings = get_settings(InboundSmsSettings)
    return ChatContext(
        repository=get_repository(settings.table_name, aws_region()),
        config=load_config(settings.helpdesk_config),
    )


def _inbound_message_id(raw: str) -> str | None:
    """The SMS's own id when the payload is readable enough to have one."""
    try:
        value = json.loads(raw).get("inboundMessageId")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


def process_record(notification: SnsNotificationModel, ctx: ChatContext) -> dict[str, Any]:
    """One SNS notification: a message, a consent keyword, or a quarantined payload."""
    logger.append_keys(sns_message_id=notification.MessageId)
    raw = notification.Message if isinstance(notification.Message, str) else str(notification.Message)
    try:
        parsed = parse_sms(
            json.loads(raw),
            received_at=notification.Timestamp,
            default_region=ctx.config.chat.default_sms_region,
        )
    except (InvalidPhoneNumberError, InvalidEventError, ValueError) as exc:
        reason = "invalid-phone-number" if isinstance(exc, InvalidPhoneNumberError) else "malformed-sms"
        ref = _inbound_message_id(raw) or notification.MessageId
        kept = quarantine_input(
            ctx.repository,
            channel=Channel.SMS,
            reason=reason,
            ref=ref,
            at=notification.Timestamp,
            raw=raw,
            dedupe_key=f"sms:{ref}",
            details={"error": str(exc)},
        )
        logger.warning("SMS quarantined", reason=reason, error=str(exc), first_time=kept)
        metrics.add_metric(name="SmsQuarantined", unit=MetricUnit.Count, value=1)
        return {"outcome": "quarantined", "reason": reason}
    if isinstance(parsed, ConsentEvent):
        consent = record_consent(parsed, ctx)
        logger.info("SMS consent keyword", keyword=parsed.keyword, outcome=consent.outcome)
        metric = f"SmsConsent{parsed.action.value.title().replace('_', '')}"
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
        return {"outcome": f"consent:{consent.outcome}", "customer_id": consent.customer_id}
    result = ingest_message(parsed, ctx, raw=raw)
    logger.info(
        "SMS ingested", outcome=result.outcome, ticket_number=result.ticket_number, reason=result.reason
    )
    metrics.add_metric(name=f"Sms{result.outcome.capitalize()}", unit=MetricUnit.Count, value=1)
    return dict(result.__dict__)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)  # type: ignore[untyped-decorator]
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        model: SnsModel = parse(event=event, model=SnsModel)
    except ValidationError as exc:
        # Raising makes Lambda retry, then hand the event to the dead-letter queue, where it is kept.
        raise InvalidEventError(f"not an SNS notification event: {exc}") from exc
    ctx = _chat_context()
    return {"results": [process_record(record.Sns, ctx) for record in model.Records]}
