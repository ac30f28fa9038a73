"""analytics_export: the tickets table's stream (filtered to history events stored and metric
ledgers written) lands in the analytics bucket as gzip newline-delimited JSON under Hive-style
partitions, for Athena (docs/analytics.md; decisions 104, 105)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
    DynamoDBRecordEventName,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared import clock
from shared.dal.reports import ledger_from_stream_image
from shared.dal.tickets import event_from_stream_image
from shared.errors import InvalidEventError
from shared.logic.analytics_export import Placed, event_row, export_objects, ledger_row, rejected_row
from shared.models.analytics import EventChange, LedgerChange, StreamPosition
from shared.observability import logger, metrics, tracer
from shared.settings import AnalyticsExportSettings, get_settings
from shared.storage import ObjectWriter, S3ObjectWriter

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
CONTENT_TYPE = "application/x-ndjson"


@cache
def _writer() -> ObjectWriter:
    return S3ObjectWriter(get_settings(AnalyticsExportSettings).analytics_bucket)


def _placed(record: DynamoDBRecord) -> Placed | None:
    raw: dict[str, Any] = record.raw_event["dynamodb"]
    ticket_id = raw["Keys"]["pk"]["S"].removeprefix("TICKET#")
    sort_key = raw["Keys"]["sk"]["S"]
    written_at = datetime.fromtimestamp(float(raw["ApproximateCreationDateTime"]), UTC)
    position = StreamPosition(sequence=raw["SequenceNumber"], written_at=written_at)
    if sort_key == "LEDGER":
        new = raw.get("NewImage")
        stored = ledger_from_stream_image(new) if new else None
        change = LedgerChange(
            ticket_id=ticket_id,
            ledger=stored.ledger if stored else None,
            rev=stored.rev if stored else 0,
            removed=new is None,
            pending=stored is not None and stored.pending is not None,
            position=position,
        )
        return ledger_row(change)
    if sort_key.startswith("EVENT#") and record.event_name == DynamoDBRecordEventName.INSERT:
        event = event_from_stream_image(raw["NewImage"])
        return event_row(EventChange(ticket_id=ticket_id, sort_key=sort_key, event=event, position=position))
    raise InvalidEventError(f"neither a stored event nor a ledger: {record.event_name} {sort_key}")


def record_handler(record: DynamoDBRecord) -> Placed | None:
    """The record's row; a record that can never become one (a shape we do not know, an unreadable
    ledger) becomes a `rejected` row with its raw form and the reason, and is counted (alarmed)."""
    try:
        return _placed(record)
    except (InvalidEventError, KeyError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        logger.error("stream record rejected", event_id=record.event_id, reason=str(exc))
        metrics.add_metric(name="AnalyticsRecordsRejected", unit=MetricUnit.Count, value=1)
        raw = json.dumps(record.raw_event, sort_keys=True, default=str)
        return rejected_row(raw, f"{type(exc).__name__}: {exc}", record.event_id, clock.now())


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)  # type: ignore[untyped-decorator]
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records: list[dict[str, Any]] = event["Records"]
    with processor(records=records, handler=record_handler, lambda_context=context):
        outcomes = processor.process()
    placed = [result for status, result, _ in outcomes if status == "success" and result is not None]
    sequences = sorted((r["dynamodb"]["SequenceNumber"] for r in records), key=int)
    # a failed write fails the whole batch: Lambda delivers it again and the same keys are written
    objects = export_objects(placed, sequences[0], sequences[-1])
    for exported in objects:
        _writer().write(exported.key, exported.body, CONTENT_TYPE)
    metrics.add_metric(name="AnalyticsRowsWritten", unit=MetricUnit.Count, value=sum(o.rows for o in objects))
    logger.info("exported", objects=[o.key for o in objects], rows=sum(o.rows for o in objects))
    return dict(processor.response())
