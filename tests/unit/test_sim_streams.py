"""The stream pump and Lambda's delivery rules, on a tiny template with fake consumers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parser.models import DynamoDBStreamModel
from aws_lambda_powertools.utilities.parser.models.dynamodb import (
    DynamoDBStreamLambdaOnFailureDestinationModel,
)
from moto import mock_aws

from simulator.lambda_runtime import LambdaRuntime, simulated_account
from simulator.resources import Deployment, Trigger, deploy
from simulator.runner import reset_application_caches
from simulator.streams import StreamConfigError, StreamPump, consumer_for

TEMPLATE = Path(__file__).resolve().parents[1] / "events" / "templates" / "streams.yaml"
NOW = datetime(2025, 3, 11, 9, 30, tzinfo=UTC)


@dataclass
class Stack:
    deployment: Deployment
    runtime: LambdaRuntime
    pump: StreamPump

    def calls(self, function: str) -> list[tuple[str, Any]]:
        handler = self.deployment.functions[function].load()
        calls: list[tuple[str, Any]] = handler.__globals__["CALLS"]
        return calls

    def put(self, pk: str, **attributes: Any) -> None:
        item: dict[str, Any] = {"pk": {"S": pk}, "sk": {"S": "ITEM"}}
        item.update(attributes)
        boto3.client("dynamodb").put_item(TableName=self.deployment.name("ItemsTable"), Item=item)

    def failures(self) -> list[dict[str, Any]]:
        sqs = boto3.client("sqs")
        url = self.deployment.name("FailuresQueue")
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]


@pytest.fixture
def stack() -> Iterator[Stack]:
    with simulated_account(), mock_aws():
        reset_application_caches()
        deployment = deploy(TEMPLATE)
        runtime = LambdaRuntime(deployment.functions, lambda: NOW)
        pump = StreamPump(deployment.functions, runtime, lambda: NOW)
        yield Stack(deployment, runtime, pump)
        reset_application_caches()


def records_of(calls: list[tuple[str, Any]]) -> list[list[str]]:
    return [[r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"]] for _, event in calls]


def test_filtered_consumer_gets_matching_records_in_batches_shaped_like_lambda(stack: Stack) -> None:
    # Given writes of which only the ORDER# inserts match the consumer's filter
    for pk in ("ORDER#1", "CUSTOMER#1", "ORDER#2", "ORDER#3"):
        stack.put(pk)
    stack.put("ORDER#1", note={"S": "changed"})  # a MODIFY: filtered out
    # When the pump runs
    stack.pump.pump()
    # Then the consumer got the three inserts, at most BatchSize (2) at a time
    calls = stack.calls("FilteredConsumer")
    assert records_of(calls) == [["ORDER#1", "ORDER#2"], ["ORDER#3"]]
    record = calls[0][1]["Records"][0]
    assert record["eventSourceARN"] == stack.deployment.stack.get_att("ItemsTable", "StreamArn")
    assert record["eventVersion"] == "1.1"
    assert record["dynamodb"]["ApproximateCreationDateTime"] == int(NOW.timestamp())
    assert record["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    DynamoDBStreamModel.model_validate(calls[0][1])  # the shape Powertools expects from Lambda
    consumer = next(c for c in stack.pump.consumers if c.function.logical_id == "FilteredConsumer")
    assert (consumer.delivered, consumer.dropped) == (3, 2)
    # And a second pump has nothing left to deliver
    assert stack.pump.pump() == 0


def test_partial_batch_failure_checkpoints_retries_then_sends_the_batch_to_on_failure(stack: Stack) -> None:
    # Given three new items, the second of which the consumer reports as failed
    stack.put("A#1")
    stack.put("A#2", fail={"BOOL": True})
    stack.put("A#3")
    # When the pump runs
    stack.pump.pump()
    # Then Lambda retried from the failed record (with the later one), up to MaximumRetryAttempts (1)
    assert records_of(stack.calls("PartialConsumer")) == [
        ["A#1", "A#2", "A#3"],
        ["A#2", "A#3"],
        ["A#2", "A#3"],
    ]
    # And the remaining batch went to the OnFailure queue as a stream failure record, without payload
    (failure,) = stack.failures()
    parsed = DynamoDBStreamLambdaOnFailureDestinationModel.model_validate(failure)
    assert parsed.request_context.condition == "RetryAttemptsExhausted"
    assert parsed.request_context.approximate_invoke_count == 2
    assert parsed.ddb_stream_batch_info.batch_size == 2
    assert parsed.response_context.function_error is None  # the function returned; it did not raise
    assert "Records" not in failure
    (discarded,) = stack.pump.discarded
    assert discarded.consumer == "PartialConsumer.Everything"
    assert discarded.destination == stack.deployment.stack.get_att("FailuresQueue", "Arn")


def test_function_error_fails_the_whole_batch(stack: Stack) -> None:
    stack.put("B#1")
    stack.put("B#2", boom={"BOOL": True})
    stack.pump.pump()
    assert records_of(stack.calls("PartialConsumer")) == [["B#1", "B#2"], ["B#1", "B#2"]]
    (failure,) = stack.failures()
    assert failure["responseContext"]["functionError"] == "Unhandled"
    assert failure["DDBStreamBatchInfo"]["batchSize"] == 2
    assert stack.pump.discarded[0].error_type == "RuntimeError"


def test_latest_starting_position_skips_records_written_before_the_mapping(stack: Stack) -> None:
    # Given a record written before a new pump (mapping) is created
    stack.put("ORDER#old")
    pump = StreamPump(stack.deployment.functions, stack.runtime, lambda: NOW)
    stack.put("ORDER#new")
    pump.pump()
    # Then TRIM_HORIZON sees both, LATEST only the new one
    assert records_of(stack.calls("FilteredConsumer")) == [["ORDER#old", "ORDER#new"]]
    assert records_of(stack.calls("PartialConsumer")) == [["ORDER#new"]]


def test_async_invocation_retries_then_sends_a_failure_record(stack: Stack) -> None:
    ticker = stack.deployment.functions["Ticker"]
    # When the scheduled function fails every time
    outcome = stack.runtime.invoke_async(ticker, {"fail": True}, source="Schedule Every20Minutes")
    # Then it ran 1 + MaximumRetryAttempts times, and the OnFailure queue got Lambda's invocation record
    assert not outcome.ok
    assert len(outcome.attempts) == 2
    (record,) = stack.failures()
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["requestContext"]["functionArn"] == f"{ticker.arn}:$LATEST"
    assert record["requestPayload"] == {"fail": True}
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert record["responsePayload"]["errorType"] == "ValueError"
    assert record["responsePayload"]["errorMessage"] == "tick failed on purpose"
    (dead,) = stack.runtime.dead_letters
    assert (dead.function, dead.attempts, dead.destination) == (
        "Ticker",
        2,
        ticker.event_invoke_config["DestinationConfig"]["OnFailure"]["Destination"],
    )


def test_writes_made_by_an_invocation_reach_the_consumers_of_the_stream(stack: Stack) -> None:
    ticker = stack.deployment.functions["Ticker"]

    def pump() -> None:
        stack.pump.pump()

    stack.runtime.after_attempt = pump
    outcome = stack.runtime.invoke_async(ticker, {"time": "2025-03-11T09:30:00Z"}, source="test")
    assert outcome.ok
    assert records_of(stack.calls("FilteredConsumer")) == [["ORDER#2025-03-11T09:30:00Z"]]


def test_functions_see_exactly_their_template_environment(stack: Stack) -> None:
    env = stack.runtime.environment(stack.deployment.functions["Ticker"])
    assert env["TABLE_NAME"] == stack.deployment.name("ItemsTable")
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "helpdesk-ticker"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_ACCOUNT_ID_ENDPOINT_MODE"] == "disabled"


def test_mapping_settings_the_simulator_cannot_run_are_refused(stack: Stack) -> None:
    function = stack.deployment.functions["FilteredConsumer"]
    stream = stack.pump.consumers[0].stream
    arn = stream.arn
    with pytest.raises(StreamConfigError, match="TumblingWindowInSeconds"):
        consumer_for(
            function, Trigger("T", "DynamoDB", {"Stream": arn, "TumblingWindowInSeconds": 60}), stream
        )
    bad = {"Stream": arn, "FilterCriteria": {"Filters": [{"Pattern": '{"eventName": "INSERT"}'}]}}
    with pytest.raises(StreamConfigError, match="FilteredConsumer event T filter 1"):
        consumer_for(function, Trigger("T", "DynamoDB", bad), stream)
    assert consumer_for(function, Trigger("T", "DynamoDB", {"Stream": arn, "Enabled": False}), stream) is None


def test_records_written_after_a_cancelled_transaction_still_reach_the_consumers(stack: Stack) -> None:
    # Given a record already pumped, then a transaction cancelled by its condition (moto restores a
    # copy of the table, and with it a new stream), then another write
    from botocore.exceptions import ClientError

    stack.put("ORDER#1")
    stack.pump.pump()
    table = stack.deployment.name("ItemsTable")
    with pytest.raises(ClientError):
        boto3.client("dynamodb").transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": table,
                        "Item": {"pk": {"S": "ORDER#1"}, "sk": {"S": "ITEM"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            ]
        )
    stack.put("ORDER#2")
    # When the pump runs again
    stack.pump.pump()
    # Then the write after the cancelled transaction was delivered, and nothing twice
    assert records_of(stack.calls("FilteredConsumer")) == [["ORDER#1"], ["ORDER#2"]]
