"""report_exports: the export worker. The reports function invokes it asynchronously with the id
of a job `POST /reports/exports` recorded (`{"job_id": ...}`); it writes the job's ticket rows to
the exports bucket as CSV parts (decision 103, `shared.logic.exports.run_export`).

A failed run raises: Lambda runs it again (twice, `EventInvokeConfig`), and the job goes on after
its last recorded part. The last run allowed (`MAX_ATTEMPTS`) marks the job failed with the
reason before raising, and Lambda sends the event and the error to the OnFailure queue, whose alarm
tells the operators."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from shared import clock
from shared.config import load_config
from shared.dal.exports import DynamoExports
from shared.logic.exports import ExportRun, export_failed, run_export
from shared.observability import logger, metrics, tracer
from shared.settings import ReportExportSettings, aws_region, get_settings
from shared.storage import S3BlobStore

MAX_ATTEMPTS = 3
"""Runs of one job: the first and the two retries of `EventInvokeConfig.MaximumRetryAttempts`."""


class ExportEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: str


@cache
def _run() -> ExportRun:
    settings = get_settings(ReportExportSettings)
    config = load_config(settings.helpdesk_config)
    store = DynamoExports(settings.table_name, aws_region())
    return ExportRun(
        jobs=store,
        files=S3BlobStore(settings.exports_bucket),
        source=store,
        timezone=config.reports.timezone,
        first_number=config.tickets.number_start,
        team_zones={team.id: config.day_zone(team.id) for team in config.teams},
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)  # type: ignore[untyped-decorator]
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    job_id = ExportEvent.model_validate(event).job_id
    run = _run()
    try:
        job = run_export(run, job_id, clock.now())
    except Exception as exc:
        if export_failed(run.jobs, job_id, f"{type(exc).__name__}: {exc}", clock.now(), MAX_ATTEMPTS):
            metrics.add_metric(name="ExportFailed", unit=MetricUnit.Count, value=1)
        logger.exception("export run failed", job=job_id)
        raise
    logger.info("export", job=job.id, status=job.status, rows=job.rows, parts=len(job.parts))
    metrics.add_metric(name="ExportRows", unit=MetricUnit.Count, value=job.rows)
    return {"job_id": job.id, "status": job.status, "rows": job.rows, "parts": len(job.parts)}
