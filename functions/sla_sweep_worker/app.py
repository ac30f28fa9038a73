"""sla_sweep_worker: the sweep tasks the SLA sweeper queues (decision 118), each one shard of the
deadline index (record due warnings and breaches, escalate, queue time-based follow-ups) or of the
unrouted index (route the tickets route_ticket gave up on), paged until the shard is empty or the
time budget is spent; then the rest goes back to the queue as the task's next part."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared import clock
from shared.channels.sweep_queue import SqsSweepQueue
from shared.config import load_config
from shared.dal.repository import get_repository
from shared.language import detect_language
from shared.logic.outbound import OutboundContext
from shared.logic.route_ticket import RoutingContext
from shared.logic.sla_sweep import SweepContext
from shared.logic.sweep_dispatch import WorkerContext, run_task
from shared.models.sweep import SweepTask
from shared.notify import SnsNotifier
from shared.observability import logger, metrics, tracer
from shared.settings import SlaSweepWorkerSettings, aws_region, get_settings

processor = BatchProcessor(event_type=EventType.SQS)

BUDGET_MS = 45_000
"""Paging stops after this long in one invocation (and 15 s before the timeout): the rest of the
shard is handed on, so no run holds a shard past the next minute's tasks."""


@cache
def _context() -> WorkerContext:
    settings = get_settings(SlaSweepWorkerSettings)
    repository = get_repository(settings.table_name, aws_region())
    config = load_config(settings.helpdesk_config)
    outbound = OutboundContext(
        repository=repository,
        config=config,
        support_addresses=settings.support_addresses,
        support_domain=settings.support_domain,
        detect_language=detect_language,  # updates and reminders in the customer's language
    )
    return WorkerContext(
        sweep=SweepContext(repository, config, SnsNotifier(settings.escalation_topic_arn), outbound),
        routing=RoutingContext(repository=repository, config=config, detect_language=detect_language),
        queue=SqsSweepQueue(settings.sweep_queue_url, aws_region()),
    )


def _budget(context: LambdaContext) -> Callable[[], bool]:
    stop_below = max(15_000, context.get_remaining_time_in_millis() - BUDGET_MS)
    return lambda: context.get_remaining_time_in_millis() < stop_below


def _task_handler(context: LambdaContext, done: dict[str, int]) -> Callable[[SQSRecord], None]:
    out_of_time = _budget(context)  # one budget for the whole batch

    def record_handler(record: SQSRecord) -> None:
        task = SweepTask.model_validate_json(record.body)
        now = clock.now()
        outcome = run_task(task, _context(), now, out_of_time)
        result = outcome.result
        done["read"] += result.read
        done["routed"] += len(outcome.routed)
        for name, value in (
            ("SlaTicketsRead", result.read),
            ("SlaStaleEntries", result.stale),
            ("SlaWarnings", result.warnings),
            ("SlaBreaches", result.breaches),
            ("SlaEscalations", result.escalations),
            ("SlaSkippedConcurrent", result.skipped),
            ("RoutedBySweep", len(outcome.routed)),
            ("SweepTasksHandedOn", 0 if outcome.finished else 1),
        ):
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        for routed in outcome.routed:
            logger.info(
                "routed by sweep", ticket_id=routed.ticket_id, outcome=routed.outcome, team=routed.team
            )
        logger.info(
            "sweep task",
            kind=task.kind,
            shard=task.shard,
            part=task.part,
            dispatched_at=task.at.isoformat(),
            lag_seconds=(now - task.at).total_seconds(),
            read=result.read,
            stale=result.stale,
            warnings=result.warnings,
            breaches=result.breaches,
            escalations=result.escalations,
            skipped=result.skipped,
            followups=result.followups,
            routed_by_sweep=len(outcome.routed),
            finished=outcome.finished,
        )

    return record_handler


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)  # type: ignore[untyped-decorator]
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The batch's failed records (Lambda reads only `batchItemFailures`), and the due tickets
    read and tickets routed by the tasks that ran (for the logs and the key-heat benchmark)."""
    done = {"read": 0, "routed": 0}
    response: dict[str, Any] = dict(
        process_partial_response(
            event=event, record_handler=_task_handler(context, done), processor=processor, context=context
        )
    )
    return {**response, **done}
