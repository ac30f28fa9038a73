"""inbound_email: SES stores the raw mail in S3 and notifies SNS; this turns it into a ticket message."""

from __future__ import annotations

import base64
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser.models import SnsModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.config import load_config
from shared.dal.repository import get_repository
from shared.errors import InvalidEventError
from shared.logic.ingest_email import EmailContext, ingest_email
from shared.logic.ingest_pipeline import IngestResult
from shared.logic.inline_mail import inline_content_refusal, quarantine_inline_content
from shared.models.events import SesNotification
from shared.observability import logger, metrics, tracer
from shared.settings import InboundEmailSettings, aws_region, get_settings
from shared.storage import S3BlobStore


@cache
def _email_context() -> EmailContext:
    settings = get_settings(InboundEmailSettings)
    return EmailContext(
        repository=get_repository(settings.table_name, aws_region()),
        blobs=S3BlobStore(settings.inbound_bucket),
        config=load_config(settings.helpdesk_config),
        support_addresses=settings.support_addresses,
        support_domain=settings.support_domain,
    )


def _raw_message(notification: SesNotification, ctx: EmailContext) -> bytes:
    """The raw MIME: from the S3 action's object, or inline for the deployed rule's SNS action."""
    action = notification.receipt.action
    if notification.content is not None:
        if (action.encoding or "").upper() == "BASE64":
            return base64.b64decode(notification.content)
        return notification.content.encode("utf-8")
    if not action.object_key:
        raise InvalidEventError(f"SES notification {notification.mail.message_id} has no S3 object key")
    if action.bucket_name and isinstance(ctx.blobs, S3BlobStore) and action.bucket_name != ctx.blobs.bucket:
        raise InvalidEventError(
            f"SES notification points at bucket {action.bucket_name}, "
            f"not the inbound bucket {ctx.blobs.bucket}"
        )
    return ctx.blobs.get(action.object_key)


def process_notification(
    notification: SesNotification, ctx: EmailContext, inline_mail_topic_arn: str | None = None
) -> IngestResult:
    logger.append_keys(ses_message_id=notification.mail.message_id)
    refusal = inline_content_refusal(notification, inline_mail_topic_arn)
    if refusal is not None:
        logger.warning("inline mail refused, quarantined", why=refusal)
        result = quarantine_inline_content(notification, ctx, refusal)
    else:
        result = ingest_email(notification, _raw_message(notification, ctx), ctx)
    logger.info(
        "email ingested",
        outcome=result.outcome,
        ticket_id=result.ticket_id,
        ticket_number=result.ticket_number,
        reason=result.reason,
    )
    metrics.add_metric(name=f"Email{result.outcome.capitalize()}", unit=MetricUnit.Count, value=1)
    return result


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)  # type: ignore[untyped-decorator]
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        records = SnsModel.model_validate(event).Records
        parsed = [SesNotification.from_sns_message(str(record.Sns.Message)) for record in records]
    except ValueError as exc:  # pydantic's ValidationError and json's JSONDecodeError included
        # Raising makes Lambda retry, then hand the event to the dead-letter queue, where it is kept.
        raise InvalidEventError(f"not an SES receipt notification delivered by SNS: {exc}") from exc
    ctx = _email_context()
    trusted_topic = get_settings(InboundEmailSettings).inline_mail_topic_arn
    results = [process_notification(notification, ctx, trusted_topic) for notification in parsed]
    return {"results": [r.__dict__ for r in results]}
