"""route_ticket: the tickets table's stream (filtered) routes new tickets, gives capacity back and
drains queues, and keeps the views, the search index and the report aggregates; a one-minute
schedule moves tickets waiting too long to their fallback team."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
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
from shared.channels.live import SqsEventQueue
from shared.config import load_config
from shared.dal.repository import get_repository
from shared.dal.tickets import message_from_stream_image, ticket_from_stream_image
from shared.errors import PermanentWriteError
from shared.language import detect_language
from shared.logic.live import change_events
from shared.logic.projection_failures import quarantine_stream_record
from shared.logic.report_ledgers import refresh_customer_tickets, refresh_ledger
from shared.logic.route_ticket import (
    AgentCache,
    RouteOutcome,
    RoutingContext,
    on_presence,
    overflow_queues,
    release_load,
    route_new_ticket,
)
from shared.logic.search import project_message, project_ticket
from shared.logic.views import project
from shared.logic.work_spans import WORK_EVENT, keep_work_span
from shared.observability import logger, metrics, tracer
from shared.settings import RouteTicketSettings, aws_region, get_settings

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


@cache
def _routing_context() -> RoutingContext:
    settings = get_settings(RouteTicketSettings)
    return RoutingContext(
        repository=get_repository(settings.table_name, aws_region()),
        config=load_config(settings.helpdesk_config),
        detect_language=detect_language,
        agents=AgentCache(),
    )


def _report(outcomes: list[RouteOutcome]) -> None:
    for outcome in outcomes:
        logger.info(
            "routing",
            ticket_id=outcome.ticket_id,
            outcome=outcome.outcome,
            team=outcome.team,
            agent=outcome.agent,
        )
        metrics.add_metric(
            name=f"Routing{outcome.outcome.title().replace('_', '')}", unit=MetricUnit.Count, value=1
        )


def _follow_views(raw: dict[str, Any]) -> None:
    """The views agents work from follow every change of a ticket (shared/logic/views.py), in the
    order of the stream's sequence numbers."""
    new = raw.get("NewImage")
    after = ticket_from_stream_image(new) if new else None
    ticket_id = raw["Keys"]["pk"]["S"].removeprefix("TICKET#")
    settings = get_settings(RouteTicketSettings)
    repository = get_repository(settings.table_name, aws_region())
    shards = _routing_context().config.views.shards
    changes = project(ticket_id, after, int(raw["SequenceNumber"]), repository, shards)
    if changes is not None:
        writes = len(changes.entries) + len(changes.stale)
        metrics.add_metric(name="ViewEntriesWritten", unit=MetricUnit.Count, value=writes)


def _follow_search(raw: dict[str, Any]) -> None:
    """The search index follows every change of a ticket (its team, its subject) and takes the
    words of every message stored on it (shared/logic/search.py)."""
    settings = get_settings(RouteTicketSettings)
    repository = get_repository(settings.table_name, aws_region())
    new = raw.get("NewImage")
    if raw["Keys"]["sk"]["S"] == "TICKET":
        after = ticket_from_stream_image(new) if new else None
        ticket_id = raw["Keys"]["pk"]["S"].removeprefix("TICKET#")
        changes = project_ticket(ticket_id, after, int(raw["SequenceNumber"]), repository)
    elif new:
        changes = project_message(message_from_stream_image(new), repository)
    else:
        return
    if changes is not None:
        writes = len(changes.puts) + len(changes.deletes)
        metrics.add_metric(name="SearchEntriesWritten", unit=MetricUnit.Count, value=writes)


def _follow_reports(raw: dict[str, Any], inserted: bool) -> None:
    """The report aggregates follow every change of a ticket and every message or suppressed
    automatic message stored on it (shared/logic/report_ledgers.py); a new ticket also changes the
    next-issue outcome of its customer's recent tickets."""
    settings = get_settings(RouteTicketSettings)
    repository = get_repository(settings.table_name, aws_region())
    config = _routing_context().config
    ticket_id = raw["Keys"]["pk"]["S"].removeprefix("TICKET#")
    done = [refresh_ledger(ticket_id, repository, config)]
    new = raw.get("NewImage")
    if inserted and new and raw["Keys"]["sk"]["S"] == "TICKET":
        done += refresh_customer_tickets(ticket_from_stream_image(new), repository, config)
    changed = sum(d.items for d in done)
    if changed:
        metrics.add_metric(name="ReportItemsChanged", unit=MetricUnit.Count, value=changed)


def _projected(projection: str, record: DynamoDBRecord, follow: Callable[[dict[str, Any]], None]) -> None:
    """Run one projection of the record; one DynamoDB refuses for good is quarantined (with the raw
    record and the reason) instead of failing the record, so routing and the batch go on."""
    try:
        follow(record.raw_event["dynamodb"])
    except PermanentWriteError as exc:
        settings = get_settings(RouteTicketSettings)
        repository = get_repository(settings.table_name, aws_region())
        kept = quarantine_stream_record(repository, record.raw_event, projection, str(exc), clock.now())
        logger.error("projection refused for good", projection=projection, reason=str(exc), kept=kept)
        metrics.add_metric(name="ProjectionRefused", unit=MetricUnit.Count, value=1)


def record_handler(record: DynamoDBRecord) -> None:
    """One stream record: a ticket's change (its views, search entries and report ledger follow; a
    new one is routed, one whose capacity must be given back releases it), a message stored (its
    words are searchable, its ticket's ledger follows), a suppressed automatic message or a span of
    an agent's work (the ledger follows), an agent on a ticket (a span of work it ends is kept), or
    an agent coming online."""
    ctx = _routing_context()
    raw: dict[str, Any] = record.raw_event["dynamodb"]
    sort_key = raw["Keys"]["sk"]["S"]
    image = raw.get("NewImage") or {}
    now = clock.now()
    if sort_key == "TICKET":
        _projected("views", record, _follow_views)
    if sort_key == "TICKET" or sort_key.startswith("MSG#"):
        _projected("search", record, _follow_search)
    kind = image.get("type", {}).get("S")
    counted = sort_key.startswith("EVENT#") and kind in ("followup_suppressed", WORK_EVENT)
    if sort_key.startswith("VIEWER#"):
        _projected("work", record, lambda _: _follow_work(record.raw_event))
    if sort_key == "TICKET" or sort_key.startswith("MSG#") or counted:
        inserted = record.event_name == DynamoDBRecordEventName.INSERT
        _projected("reports", record, lambda raw: _follow_reports(raw, inserted))
    if sort_key == "TICKET" and image:
        ticket = ticket_from_stream_image(image)
        logger.append_keys(ticket_id=ticket.id)
        if record.event_name == DynamoDBRecordEventName.INSERT:
            _report([route_new_ticket(ticket, ctx, now)])
        elif image.get("load_stale", {}).get("BOOL"):
            _report(release_load(ticket, ctx, now))
    elif sort_key == "AGENT" and _came_online(raw):
        _report(on_presence(image["id"]["S"], ctx, now))
    _follow_live(record)


def _came_online(raw: dict[str, Any]) -> bool:
    """An agent's presence turned online (the mapping's filter passes only these; a claim or release
    rewriting the item of an agent who stays online drains nothing, decision 123)."""
    before = (raw.get("OldImage") or {}).get("presence", {}).get("S")
    return bool((raw.get("NewImage") or {}).get("presence", {}).get("S") == "online" and before != "online")


def _follow_work(record: dict[str, Any]) -> None:
    """An agent stopped viewing or composing on a ticket (another state, left, the connection closed,
    or the TTL removed the viewer): the span is kept as the ticket's `worked` event, whose own stream
    record brings the report ledger up to date (handle time, decision 113)."""
    settings = get_settings(RouteTicketSettings)
    kept = keep_work_span(record, get_repository(settings.table_name, aws_region()))
    if kept is None:
        return
    span, outcome = kept
    logger.info("work span", agent=span.agent, state=span.state, ended=span.ended, outcome=outcome)
    if outcome == "full":
        metrics.add_metric(name="WorkSpansDropped", unit=MetricUnit.Count, value=1)


@cache
def _live_queue() -> SqsEventQueue | None:
    url = get_settings(RouteTicketSettings).live_queue_url
    return SqsEventQueue(url, aws_region()) if url else None


def _follow_live(record: DynamoDBRecord) -> None:
    """The live workspace hears of the record's changes (a ticket created, assigned or changed, a
    message, an SLA warning or breach): queued for live_push, which tells the agents who may see
    them. A failure to queue fails the record, retried like any (the events' ids repeat)."""
    queue = _live_queue()
    events = change_events(record.raw_event) if queue is not None else []
    if queue is not None and events:
        queue.publish(events)
        metrics.add_metric(name="LiveEventsQueued", unit=MetricUnit.Count, value=len(events))


def _note_freshness(records: list[dict[str, Any]]) -> None:
    """A batch projected whole: the report aggregates now include the ticket changes up to its newest
    record (reports answer `as_of` and how far behind the stream that was). Written at most once per
    stream second by this process (decision 127)."""
    times = [r["dynamodb"].get("ApproximateCreationDateTime") for r in records]
    newest = max((float(t) for t in times if t is not None), default=None)
    if newest is None:
        return
    settings = get_settings(RouteTicketSettings)
    repository = get_repository(settings.table_name, aws_region())
    repository.record_report_freshness(datetime.fromtimestamp(newest, UTC), clock.now())


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)  # type: ignore[untyped-decorator]
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # agents are read once an invocation (a batch), never trusted from an earlier one
    agents = _routing_context().agents
    if agents is not None:
        agents.clear()
    if "Records" in event:
        response: dict[str, Any] = dict(
            process_partial_response(
                event=event, record_handler=record_handler, processor=processor, context=context
            )
        )
        if not response.get("batchItemFailures"):
            _note_freshness(event["Records"])
        return response
    # The schedule: queue overflow to fallback teams.
    outcomes = overflow_queues(_routing_context(), clock.now())
    _report(outcomes)
    return {
        "overflowed": sum(1 for o in outcomes if o.outcome == "overflowed"),
        "assigned": sum(1 for o in outcomes if o.outcome == "assigned"),
    }
