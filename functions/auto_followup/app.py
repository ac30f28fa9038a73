"""auto_followup: the tickets stream (filtered) acknowledges new tickets, tells customers who write
while their agent is away when to expect an answer, and sends the outbox, once."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
    DynamoDBRecordEventName,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared import clock
from shared.channels.outbound import Sender, SesEmailSender, SnsSmsSender
from shared.channels.social_outbound import secret_token_provider, social_senders
from shared.config import load_config
from shared.dal.repository import get_repository
from shared.dal.tickets import message_from_stream_image, ticket_from_stream_image
from shared.language import detect_language
from shared.logic.automatic import acknowledge, on_resolution, ready_to_acknowledge
from shared.logic.out_of_office import on_customer_message
from shared.logic.outbound import OutboundContext
from shared.logic.outbound_send import send_outbound
from shared.models.config import HelpdeskConfig
from shared.observability import logger, metrics, tracer
from shared.settings import AutoFollowupSettings, aws_region, get_settings

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
FINISHED = ("resolved", "closed")


def sms_sender(config: HelpdeskConfig) -> Sender:
    """SNS Publish, or End User Messaging SendTextMessage, as the config's `outbound.sms_sender` says."""
    if config.outbound.sms_sender == "end_user_messaging":
        from shared.channels.eum import EumSmsSender

        return EumSmsSender(
            configuration_set=config.outbound.sms_configuration_set, max_price=config.outbound.sms_max_price
        )
    return SnsSmsSender()


@cache
def _outbound_context() -> OutboundContext:
    settings = get_settings(AutoFollowupSettings)
    config = load_config(settings.helpdesk_config)
    senders: dict[str, Sender] = {"email": SesEmailSender(aws_region()), "sms": sms_sender(config)}
    if settings.outbound_secret_name:
        senders.update(social_senders(secret_token_provider(settings.outbound_secret_name)))
    return OutboundContext(
        repository=get_repository(settings.table_name, aws_region()),
        config=config,
        support_addresses=settings.support_addresses,
        support_domain=settings.support_domain,
        senders=senders,
        detect_language=detect_language,
    )


def record_handler(record: DynamoDBRecord) -> None:
    ctx = _outbound_context()
    raw: dict[str, Any] = record.raw_event["dynamodb"]
    sort_key = raw["Keys"]["sk"]["S"]
    image = raw.get("NewImage") or {}
    now = clock.now()
    if sort_key == "TICKET" and image:
        ticket = ticket_from_stream_image(image)
        old_image = raw.get("OldImage")
        earlier = ticket_from_stream_image(old_image) if old_image else None
        if record.event_name != DynamoDBRecordEventName.REMOVE and ready_to_acknowledge(
            earlier, ticket, ctx.config
        ):  # once routed: the promise is the first-response due time routing planned
            outbound, why = acknowledge(ticket, ctx, now)
            logger.info("acknowledgement", ticket_id=ticket.id, queued=outbound is not None, why=why)
            metrics.add_metric(
                name="AckQueued" if outbound else "AckSuppressed", unit=MetricUnit.Count, value=1
            )
        if earlier is not None and ticket.status.value in FINISHED and earlier.status.value not in FINISHED:
            followups = on_resolution(ticket, ctx, now)  # resolved by an agent, the sweeper or anyone
            logger.info("resolution follow-ups", ticket_id=ticket.id, followups=followups)
    elif sort_key.startswith("MSG#") and record.event_name == DynamoDBRecordEventName.INSERT and image:
        message = message_from_stream_image(image)
        outbound, why = on_customer_message(message, ctx, now)
        logger.info("out of office", ticket_id=message.ticket_id, queued=outbound is not None, why=why)
        metrics.add_metric(
            name="OutOfOfficeQueued" if outbound else "OutOfOfficeSkipped", unit=MetricUnit.Count, value=1
        )
    elif sort_key == "OUTBOX" and image.get("status", {}).get("S") == "pending":
        outcome = send_outbound(image["key"]["S"], ctx, now)
        logger.info("outbound", key=image["key"]["S"], outcome=outcome)
        metrics.add_metric(name=f"Outbound{outcome.title()}", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)  # type: ignore[untyped-decorator]
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response: dict[str, Any] = dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    )
    return response
