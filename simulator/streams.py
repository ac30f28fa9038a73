"""DynamoDB stream pump: what Lambda's event source mappings do, for every `Type: DynamoDB` trigger.

moto records every write in the table's stream but never runs a consumer without Docker. The pump
reads each consumed stream with `dynamodbstreams` (get_shard_iterator / get_records), shapes the
records as Lambda delivers them, and hands them to each consumer with its mapping's settings:
FilterCriteria (records that match no pattern are dropped), BatchSize, FunctionResponseTypes
(ReportBatchItemFailures), MaximumRetryAttempts, BisectBatchOnFunctionError and the OnFailure
destination. It runs until no consumer has records left, so writes made by consumers are
delivered too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import boto3

from simulator.events import stable_uuid, stream_failure_record, stream_record
from simulator.filters import FilterPatternError, matches_any, parse_pattern
from simulator.resources import FunctionSpec, Trigger
from simulator.template import REGION

if TYPE_CHECKING:
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient

DEFAULT_BATCH_SIZE = 100
INFINITE_RETRIES = 10
"""MaximumRetryAttempts -1 retries until the record expires (24 h); simulated time stands still
during a pump, so the simulator gives up after this many retries instead."""
MAX_BATCHES_PER_PUMP = 10_000


class StreamConfigError(ValueError):
    """A DynamoDB trigger the simulator cannot run as configured."""


class PumpLimitError(RuntimeError):
    """Consumers kept producing stream records: the pump gave up instead of looping forever."""


class Invoker(Protocol):
    def invoke(self, spec: FunctionSpec, event: Any, source: str) -> Any:
        """Run the function; the result has `.error` (None on success), `.response` and `.request_id`."""

    def send(self, arn: str, record: dict[str, Any], source: str) -> None:
        """Deliver a record to a destination ARN."""


@dataclass
class StreamLog:
    """Every record of one stream read so far, in sequence order."""

    arn: str
    shard_id: str
    records: list[dict[str, Any]] = field(default_factory=list)
    _last_sequence: str | None = None

    def read_new(self, client: DynamoDBStreamsClient, now: datetime) -> int:
        """Append the records written since the last read; returns how many.

        Each read starts from a fresh iterator after the last sequence number seen, not from the
        previous read's `NextShardIterator`: moto replaces a table's stream when a transaction is
        cancelled (it restores a copy of the table), and an iterator taken before never sees the
        records written after."""
        if self._last_sequence is None:
            iterator = client.get_shard_iterator(
                StreamArn=self.arn, ShardId=self.shard_id, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
        else:
            iterator = client.get_shard_iterator(
                StreamArn=self.arn,
                ShardId=self.shard_id,
                ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                SequenceNumber=self._last_sequence,
            )["ShardIterator"]
        added = 0
        while True:
            response = client.get_records(ShardIterator=iterator, Limit=1000)
            iterator = response.get("NextShardIterator", iterator)
            batch: list[Any] = list(response.get("Records", []))
            if not batch:
                return added
            self.records += [stream_record(r, self.arn, now) for r in batch]
            self._last_sequence = batch[-1]["dynamodb"]["SequenceNumber"]
            added += len(batch)


@dataclass
class Consumer:
    """One function's event source mapping on one stream."""

    function: FunctionSpec
    trigger: str
    stream: StreamLog
    batch_size: int
    filters: list[dict[str, Any]]
    report_item_failures: bool
    max_retries: int
    bisect: bool
    on_failure: str | None
    position: int = 0
    """Index of the next record of the stream log this consumer has not processed."""
    dropped: int = 0
    delivered: int = 0
    batches: int = 0

    @property
    def label(self) -> str:
        return f"{self.function.logical_id}.{self.trigger}"


@dataclass
class Discarded:
    """Records a consumer gave up on."""

    consumer: str
    records: list[dict[str, Any]]
    attempts: int
    error_type: str | None
    error_message: str | None
    destination: str | None


def consumer_for(function: FunctionSpec, trigger: Trigger, stream: StreamLog) -> Consumer | None:
    """The mapping of a `Type: DynamoDB` trigger; None when disabled, StreamConfigError when unsupported."""
    props = trigger.properties
    where = f"{function.logical_id} event {trigger.name}"
    if props.get("Enabled") is False:
        return None
    if props.get("TumblingWindowInSeconds"):
        raise StreamConfigError(f"{where}: TumblingWindowInSeconds is not supported by the simulator")
    filters: list[dict[str, Any]] = []
    for index, entry in enumerate(((props.get("FilterCriteria") or {}).get("Filters")) or []):
        try:
            filters.append(parse_pattern(entry.get("Pattern", ""), f"{where} filter {index + 1}"))
        except FilterPatternError as exc:
            raise StreamConfigError(str(exc)) from None
    retries = int(props.get("MaximumRetryAttempts", -1))
    batch_size = int(props.get("BatchSize", DEFAULT_BATCH_SIZE))
    if not 1 <= batch_size <= 10_000:
        raise StreamConfigError(f"{where}: BatchSize must be 1-10000, got {batch_size}")
    position = len(stream.records) if props.get("StartingPosition") == "LATEST" else 0
    return Consumer(
        function=function,
        trigger=trigger.name,
        stream=stream,
        batch_size=batch_size,
        filters=filters,
        report_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
        max_retries=INFINITE_RETRIES if retries < 0 else retries,
        bisect=bool(props.get("BisectBatchOnFunctionError", False)),
        on_failure=((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination"),
        position=position,
    )


def _failed_from(response: Any, batch: list[dict[str, Any]]) -> int | None:
    """Index of the checkpoint a partial batch response asks for; None = success; 0 = all failed."""
    if not isinstance(response, dict):
        return None
    failures = response.get("batchItemFailures")
    if not failures:
        return None
    if not isinstance(failures, list):
        return 0
    sequence = [r["dynamodb"]["SequenceNumber"] for r in batch]
    indexes = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in sequence:
            return 0  # an empty or unknown identifier fails the whole batch
        indexes.append(sequence.index(identifier))
    return min(indexes)


class StreamPump:
    """Delivers the stream records of a deployment to its DynamoDB-triggered functions."""

    def __init__(
        self, functions: dict[str, FunctionSpec], invoker: Invoker, now: Callable[[], datetime]
    ) -> None:
        self.invoker = invoker
        self.now = now
        self.client: DynamoDBStreamsClient = boto3.client("dynamodbstreams", region_name=REGION)
        self.streams: dict[str, StreamLog] = {}
        self.consumers: list[Consumer] = []
        self.discarded: list[Discarded] = []
        self.invocations = 0
        for function in functions.values():
            for trigger in function.triggers:
                if trigger.type != "DynamoDB":
                    continue
                arn = trigger.properties.get("Stream")
                if not isinstance(arn, str) or ":dynamodb:" not in arn:
                    raise StreamConfigError(
                        f"{function.logical_id} event {trigger.name}: Stream is not a stream ARN"
                    )
                stream = self.streams.get(arn) or self._open(arn)
                consumer = consumer_for(function, trigger, stream)
                if consumer is not None:
                    self.consumers.append(consumer)

    def _open(self, arn: str) -> StreamLog:
        description = self.client.describe_stream(StreamArn=arn)["StreamDescription"]
        shards = description.get("Shards") or []
        if not shards:
            raise StreamConfigError(f"stream {arn} has no shard (is the table's stream enabled?)")
        log = StreamLog(arn=arn, shard_id=shards[0]["ShardId"])
        log.read_new(self.client, self.now())
        self.streams[arn] = log
        return log

    def _next_batch(self, consumer: Consumer) -> list[dict[str, Any]]:
        """The next records passing the filters (up to BatchSize); filtered-out ones are skipped for good."""
        batch: list[dict[str, Any]] = []
        records = consumer.stream.records
        while consumer.position < len(records) and len(batch) < consumer.batch_size:
            record = records[consumer.position]
            consumer.position += 1
            if matches_any(consumer.filters, record):
                batch.append(record)
            else:
                consumer.dropped += 1
        return batch

    def pump(self) -> int:
        """Deliver until no consumer has records left; returns the number of invocations."""
        if not self.consumers:
            return 0
        invocations_before = self.invocations
        for _ in range(MAX_BATCHES_PER_PUMP):
            for stream in self.streams.values():
                stream.read_new(self.client, self.now())
            busy = False
            for consumer in self.consumers:
                batch = self._next_batch(consumer)
                if batch:
                    busy = True
                    self._deliver(consumer, batch)
            if not busy:
                return self.invocations - invocations_before
        raise PumpLimitError(
            f"stream consumers were still busy after {MAX_BATCHES_PER_PUMP} batches: "
            "a function probably writes to the stream it consumes on every record"
        )

    def _deliver(self, consumer: Consumer, batch: list[dict[str, Any]]) -> None:
        """One batch with Lambda's stream semantics: checkpoints, retries, bisection, discard."""
        pending = batch
        attempts = 0
        while pending:
            attempts += 1
            consumer.batches += 1
            self.invocations += 1
            result = self.invoker.invoke(
                consumer.function, {"Records": pending}, source=f"DynamoDB {consumer.trigger}"
            )
            if result.error is None:
                failed_at = _failed_from(result.response, pending) if consumer.report_item_failures else None
                if failed_at is None:
                    consumer.delivered += len(pending)
                    return
                if failed_at > 0:  # progress: checkpoint at the first failed record, retry from there
                    consumer.delivered += failed_at
                    pending = pending[failed_at:]
                    attempts = 0
                    continue
            elif consumer.bisect and len(pending) > 1:
                half = len(pending) // 2  # splitting does not count against the retry budget
                self._deliver(consumer, pending[:half])
                self._deliver(consumer, pending[half:])
                return
            if attempts > consumer.max_retries:
                self._discard(consumer, pending, attempts, result)
                return

    def _discard(self, consumer: Consumer, records: list[dict[str, Any]], attempts: int, result: Any) -> None:
        error = result.error
        destination = consumer.on_failure
        if destination:
            record = stream_failure_record(
                function_name=consumer.function.name,
                request_id=str(getattr(result, "request_id", "") or stable_uuid(consumer.label, attempts)),
                at=self.now(),
                records=records,
                shard_id=consumer.stream.shard_id,
                stream_arn=consumer.stream.arn,
                attempts=attempts,
                function_error=error is not None,
            )
            self.invoker.send(destination, record, source=f"{consumer.label} OnFailure")
        self.discarded.append(
            Discarded(
                consumer=consumer.label,
                records=records,
                attempts=attempts,
                error_type=type(error).__name__ if error is not None else None,
                error_message=str(error) if error is not None else "reported as batch item failures",
                destination=destination,
            )
        )
