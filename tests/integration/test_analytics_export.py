"""analytics_export on moto: idempotent under redelivery, unreadable records kept and counted, a
failed write fails the batch so that Lambda delivers it again."""

from __future__ import annotations

import base64
import copy
import gzip
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from simulator.resources import Deployment
from tests.integration.conftest import FakeLambdaContext

SAMPLE = Path(__file__).resolve().parents[2] / "events" / "analytics_export.json"


@pytest.fixture
def bucket(deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> str:
    from functions.analytics_export import app
    from shared.settings import reset_settings

    name = deployment.name("AnalyticsBucket")
    monkeypatch.setenv("ANALYTICS_BUCKET", name)
    reset_settings()
    app._writer.cache_clear()
    return name


def batch() -> dict[str, Any]:
    event: dict[str, Any] = json.loads(SAMPLE.read_text())
    return event


def stored(bucket: str) -> dict[str, bytes]:
    s3 = boto3.client("s3")
    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}


def handle(event: dict[str, Any]) -> dict[str, Any]:
    from functions.analytics_export import app

    result: dict[str, Any] = app.handler(event, FakeLambdaContext())
    return result


def test_a_batch_delivered_again_writes_the_same_objects_with_the_same_bytes(bucket: str) -> None:
    assert handle(batch()) == {"batchItemFailures": []}
    first = stored(bucket)

    assert handle(batch()) == {"batchItemFailures": []}

    assert stored(bucket) == first
    assert len(first) == 2


def test_an_unreadable_ledger_is_kept_with_its_reason_and_the_rest_of_the_batch_goes_on(bucket: str) -> None:
    # Given a batch whose ledger record holds bytes that are no compressed ledger
    event = batch()
    ledger_record = event["Records"][1]
    ledger_record["dynamodb"]["NewImage"]["ledger"] = {"B": base64.b64encode(b"not a ledger").decode()}

    # When it is exported
    assert handle(event) == {"batchItemFailures": []}

    # Then the event is exported and the ledger record kept whole under rejected/, with the reason
    objects = stored(bucket)
    assert sorted(k.split("/")[0] for k in objects) == ["events", "rejected"]
    [rejected] = [gzip.decompress(v) for k, v in objects.items() if k.startswith("rejected/")]
    row = json.loads(rejected)
    assert row["reason"].startswith("InvalidEventError: an unreadable stored ledger")
    assert json.loads(row["record"]) == ledger_record
    assert row["event_id"] == ledger_record["eventID"]


def test_a_ledger_in_the_middle_of_a_chunked_apply_is_not_exported_again(bucket: str) -> None:
    # Given the ledger record as the first chunk of a large change stores it: the old ledger stays,
    # the target is `pending`
    event = batch()
    image = event["Records"][1]["dynamodb"]["NewImage"]
    image["pending"] = copy.deepcopy(image["ledger"])
    image["step"] = {"N": "1"}

    assert handle(event) == {"batchItemFailures": []}

    assert [k.split("/")[0] for k in stored(bucket)] == ["events"]


def test_a_removed_ledger_is_exported_as_a_removal(bucket: str) -> None:
    event = batch()
    record = event["Records"][1]
    record["eventName"] = "REMOVE"
    record["dynamodb"]["OldImage"] = record["dynamodb"].pop("NewImage")

    assert handle(event) == {"batchItemFailures": []}

    [ledger] = [gzip.decompress(v) for k, v in stored(bucket).items() if k.startswith("ledgers/")]
    row = json.loads(ledger)
    assert (row["removed"], row["measures"], row["ticket_id"]) == (
        True,
        [],
        record["dynamodb"]["Keys"]["pk"]["S"][7:],
    )


def test_a_write_that_fails_fails_the_whole_batch_for_lambda_to_deliver_again(
    bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.analytics_export import app
    from shared.settings import reset_settings

    monkeypatch.setenv("ANALYTICS_BUCKET", "helpdesk-no-such-bucket")
    reset_settings()
    app._writer.cache_clear()

    with pytest.raises(ClientError, match="NoSuchBucket"):
        handle(batch())
    assert stored(bucket) == {}
