"""sla_sweeper: every minute, hand one task per non-empty shard of the SLA deadline index and of the
unrouted index to the sweep workers (sla_sweep_worker, decision 118); put due outbox retries back to pending,
flag sends that never got a result, and redeliver pending messages whose stream record was lost."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared import clock
from shared.channels.sweep_queue import SqsSweepQueue
from shared.config import load_config
from shared.dal.repository import get_repository
from shared.logic.outbound_send import flag_unknown_sends, redeliver_pending, requeue_due
from shared.logic.sweep_dispatch import dispatch
from shared.observability import logger, metrics, tracer
from shared.settings import SlaSweeperSettings, aws_region, get_settings

OUTBOX_RESERVE_MS = 15_000
"""The outbox passes take another page only while the run has more than this left (decision 119)."""


@cache
def _queue() -> SqsSweepQueue:
    return SqsSweepQueue(get_settings(SlaSweeperSettings).sweep_queue_url, aws_region())


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)  # type: ignore[untyped-decorator]
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings(SlaSweeperSettings)
    repository = get_repository(settings.table_name, aws_region())
    config = load_config(settings.helpdesk_config)
    now = clock.now()
    tasks = dispatch(config, repository, _queue(), now)  # first: SLA work must not wait on the outbox

    def has_time() -> bool:
        return context.get_remaining_time_in_millis() > OUTBOX_RESERVE_MS

    retried = requeue_due(repository, now, has_time)  # outbound messages whose retry time has come
    unknown = flag_unknown_sends(repository, config, now, has_time)  # claimed, no result: for an agent
    redelivered, undeliverable = redeliver_pending(repository, config, now, has_time)  # lost records
    for name, value in (
        ("SweepTasksQueued", tasks),
        ("OutboundRetried", retried),
        ("OutboundUnknown", unknown),
        ("OutboundRedelivered", redelivered),
        ("OutboundUndeliverable", undeliverable),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    logger.info(
        "sla sweep dispatched",
        tasks=tasks,
        outbound_retried=retried,
        outbound_unknown=unknown,
        outbound_redelivered=redelivered,
        outbound_undeliverable=undeliverable,
        scheduled_time=event.get("scheduledTime"),
    )
    return {
        "tasks": tasks,
        "outbound_retried": retried,
        "outbound_unknown": unknown,
        "outbound_redelivered": redelivered,
        "outbound_undeliverable": undeliverable,
    }
