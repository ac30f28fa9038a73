"""reports, on its hourly schedule: the digests due in the hour (page to S3, email through SES) and,
in the run after local midnight, yesterday's range alerts (to the alarm topic), each exactly once
(decisions 100 and 101); then it seals the last week's report days (decision 112). The HTTP API
is `app.py`; this entry point has its own function and role."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared import clock
from shared.channels.report_delivery import SesDigestMailer, SnsAlertPublisher
from shared.config import load_config
from shared.dal.repository import get_repository
from shared.logic.report_schedule import (
    ScheduleContext,
    ScheduleResult,
    ScheduleRetryError,
    digest_sender,
    run_schedule,
    scheduled_now,
)
from shared.logic.report_sealing import seal_reports, sealing_window
from shared.observability import logger, metrics, tracer
from shared.settings import ReportsScheduleSettings, aws_region, get_settings
from shared.storage import S3ObjectWriter


@cache
def _schedule_context() -> ScheduleContext:
    settings = get_settings(ReportsScheduleSettings)
    config = load_config(settings.helpdesk_config)
    return ScheduleContext(
        stores=get_repository(settings.table_name, aws_region()),
        config=config,
        pages=S3ObjectWriter(settings.digests_bucket),
        mailer=SesDigestMailer(digest_sender(config, settings.support_addresses)),
        alerts=SnsAlertPublisher(settings.alarm_topic_arn),
        lease=timedelta(seconds=settings.delivery_lease_seconds),
    )


def _record(result: ScheduleResult) -> None:
    for prefix, kind in (("digests/", "Digests"), ("alerts/", "ReportAlerts")):
        for outcome, name in (("sent", "Sent"), ("skipped", "Skipped"), ("retry", "Retried")):
            count = result.count(prefix, outcome)
            metrics.add_metric(name=f"{kind}{name}", unit=MetricUnit.Count, value=count)
    given_up = {**result.failed, **result.unknown}
    metrics.add_metric(name="ScheduledDeliveriesFailed", unit=MetricUnit.Count, value=len(given_up))
    for key, reason in sorted(given_up.items()):
        logger.error("scheduled delivery not made", key=key, reason=reason)


class ReportSealError(RuntimeError):
    """Some dimension values' days could not be sealed (their sums are corrupt): a person must look."""


def _seal(now: datetime) -> None:
    """Seal the last week's report days (decision 112); an error fails the run (the Errors alarm),
    after the deliveries, which are exactly once whatever retries."""
    first, last = sealing_window(now)
    totals = seal_reports(_schedule_context().stores, first, last)
    metrics.add_metric(name="ReportDaysSealed", unit=MetricUnit.Count, value=totals.sealed)
    metrics.add_metric(name="ReportSealsContended", unit=MetricUnit.Count, value=totals.contended)
    logger.info(
        "report days sealed",
        first=first.isoformat(),
        last=last.isoformat(),
        partitions=totals.partitions,
        sealed=totals.sealed,
        contended=totals.contended,
    )
    if totals.failed:  # the others were sealed; failing the run raises the Errors alarm
        for value, reason in sorted(totals.failed.items()):
            logger.error("report days not sealed", value=value, reason=reason)
        raise ReportSealError(f"{len(totals.failed)} dimension values not sealed: {sorted(totals.failed)}")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)  # type: ignore[untyped-decorator]
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = clock.now()
    scheduled_at = scheduled_now(event, now)
    try:
        result = run_schedule(_schedule_context(), scheduled_at, now)
    except ScheduleRetryError as exc:
        _record(exc.result)
        logger.warning("deliveries failed transiently; the run is retried", error=str(exc))
        _seal(now)
        raise
    _record(result)
    _seal(now)
    logger.info(
        "reports schedule",
        scheduled_at=clock.iso(scheduled_at),
        sent=result.sent,
        skipped=len(result.skipped),
        failed=sorted(result.failed),
        unknown=sorted(result.unknown),
    )
    return {
        "sent": len(result.sent),
        "skipped": len(result.skipped),
        "failed": len(result.failed) + len(result.unknown),
    }
