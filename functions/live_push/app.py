"""live_push: the change events route_ticket made from the tickets stream (the live queue), each
posted to the WebSocket connections of the agents allowed to see its ticket (decision 110)."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared import clock
from shared.channels.live import ApiGatewayPusher
from shared.dal.repository import get_repository
from shared.logic.live import push_event
from shared.models.live import LiveEvent
from shared.observability import logger, metrics, tracer
from shared.settings import LivePushSettings, aws_region, get_settings

processor = BatchProcessor(event_type=EventType.SQS)


@cache
def _pusher() -> ApiGatewayPusher:
    return ApiGatewayPusher(get_settings(LivePushSettings).connections_endpoint, aws_region())


def record_handler(record: SQSRecord) -> None:
    event = LiveEvent.model_validate_json(record.body)
    settings = get_settings(LivePushSettings)
    repository = get_repository(settings.table_name, aws_region())
    repository.record_change(event)  # first: a UI that reconnects later reads it back
    outcome = push_event(event, repository, _pusher(), clock.now())
    logger.info("pushed", event_id=event.id, type=event.type, reached=outcome.reached, gone=outcome.gone)
    metrics.add_metric(name="LivePushes", unit=MetricUnit.Count, value=outcome.reached)
    if outcome.gone:
        metrics.add_metric(name="LiveConnectionsGone", unit=MetricUnit.Count, value=outcome.gone)


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
