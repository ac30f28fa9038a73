"""sla_sweeper: every minute, record due SLA warnings and breaches and escalate, reading only due tickets;
put due outbox retries back to pending, flag sends that never got a result, and route tickets whose
stream record route_ticket gave up on."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared import clock
from shared.config import load_config
from shared.dal.repository import get_repository
from shared.language import detect_language
from shared.logic.outbound import OutboundContext
from shared.logic.outbound_send import flag_unknown_sends, redeliver_pending, requeue_due
from shared.logic.route_ticket import RoutingContext, drain_team, route_unrouted
from shared.logic.sla_sweep import SweepContext, sweep
from shared.notify import SnsNotifier
from shared.observability import logger, metrics, tracer
from shared.settings import SlaSweeperSettings, aws_region, get_settings

OUTBOX_RESERVE_MS = 15_000
"""The outbox passes take another page only while the run has more than this left: routing comes
after them (decision 119)."""


@cache
def _sweep_context() -> SweepContext:
    settings = get_settings(SlaSweeperSettings)
    repository = get_repository(settings.table_name, aws_region())
    config = load_config(settings.helpdesk_config)
    return SweepContext(
        repository=repository,
        config=config,
        notifier=SnsNotifier(settings.escalation_topic_arn),
        outbound=OutboundContext(
            repository=repository,
            config=config,
            support_addresses=settings.support_addresses,
            support_domain=settings.support_domain,
            detect_language=detect_language,  # updates and reminders in the customer's language
        ),
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)  # type: ignore[untyped-decorator]
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ctx = _sweep_context()
    settings = get_settings(SlaSweeperSettings)
    repository = get_repository(settings.table_name, aws_region())  # the same one the context holds
    now = clock.now()
    result = sweep(ctx, now)

    def has_time() -> bool:
        return context.get_remaining_time_in_millis() > OUTBOX_RESERVE_MS

    retried = requeue_due(repository, now, has_time)  # outbound messages whose retry time has come
    unknown = flag_unknown_sends(repository, ctx.config, now, has_time)  # claimed, no result: for an agent
    redelivered, undeliverable = redeliver_pending(repository, ctx.config, now, has_time)  # lost records
    # tickets escalated to another team wait in its queue: give them to free agents now
    routing = RoutingContext(repository=repository, config=ctx.config, detect_language=detect_language)
    for team in set(result.reassigned_teams):
        drain_team(team, routing, now)
    # last, so a ticket that cannot be routed (the error fails the run) holds up nothing else
    unrouted = route_unrouted(routing, now)
    for outcome in unrouted:
        logger.info(
            "routed by sweep", ticket_id=outcome.ticket_id, outcome=outcome.outcome, team=outcome.team
        )
    for name, value in (
        ("SlaTicketsRead", result.read),
        ("SlaWarnings", result.warnings),
        ("SlaBreaches", result.breaches),
        ("SlaEscalations", result.escalations),
        ("SlaSkippedConcurrent", result.skipped),
        ("OutboundRetried", retried),
        ("OutboundUnknown", unknown),
        ("OutboundRedelivered", redelivered),
        ("OutboundUndeliverable", undeliverable),
        ("RoutedBySweep", len(unrouted)),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    logger.info(
        "sla sweep",
        read=result.read,
        warnings=result.warnings,
        breaches=result.breaches,
        escalations=result.escalations,
        skipped=result.skipped,
        outbound_retried=retried,
        outbound_unknown=unknown,
        outbound_redelivered=redelivered,
        outbound_undeliverable=undeliverable,
        routed_by_sweep=len(unrouted),
        scheduled_time=event.get("scheduledTime"),
    )
    return {
        "outbound_retried": retried,
        "outbound_unknown": unknown,
        "outbound_redelivered": redelivered,
        "outbound_undeliverable": undeliverable,
        "routed_by_sweep": len(unrouted),
        "followups": result.followups,
        "read": result.read,
        "warnings": result.warnings,
        "breaches": result.breaches,
        "escalations": result.escalations,
        "skipped": result.skipped,
    }
