"""report_exports: the export worker. Each message of the exports queue names a job `POST
/reports/exports` recorded; the worker writes the job's ticket rows to the exports bucket as CSV
parts (decision 103, `shared.logic.exports.run_export`).

A failure is retried by the queue (the job goes on after its last recorded part); on the last
receive (`MAX_RECEIVES`, the queue's redrive policy) the job is marked failed with the reason, and
the message goes to the dead-letter queue, whose alarm tells the operators."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from shared import clock
from shared.config import load_config
from shared.dal.exports import DynamoExports
from shared.logic.exports import ExportRun, fail_export, run_export
from shared.observability import logger, metrics, tracer
from shared.settings import ReportExportSettings, aws_region, get_settings
from shared.storage import S3BlobStore

processor = BatchProcessor(event_type=EventType.SQS)
MAX_RECEIVES = 3
"""The exports queue's maxReceiveCount (template.yaml): the last try marks the job failed."""


class ExportMessage(BaseModel):
    job_id: str


@cache
def _run() -> ExportRun:
    settings = get_settings(ReportExportSettings)
    config = load_config(settings.helpdesk_config)
    return ExportRun(
        jobs=DynamoExports(settings.table_name, aws_region()),
        files=S3BlobStore(settings.exports_bucket),
        source=DynamoExports(settings.table_name, aws_region()),
        timezone=config.reports.timezone,
        first_number=config.tickets.number_start,
    )


def record_handler(record: SQSRecord) -> None:
    message = ExportMessage.model_validate_json(record.body)
    run = _run()
    try:
        job = run_export(run, message.job_id, clock.now())
    except Exception as exc:
        if int(record.attributes.approximate_receive_count) >= MAX_RECEIVES:
            fail_export(run.jobs, message.job_id, f"{type(exc).__name__}: {exc}", clock.now())
            metrics.add_metric(name="ExportFailed", unit=MetricUnit.Count, value=1)
        raise
    logger.info("export", job=job.id, status=job.status, rows=job.rows, parts=len(job.parts))
    metrics.add_metric(name="ExportRows", unit=MetricUnit.Count, value=job.rows)


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
