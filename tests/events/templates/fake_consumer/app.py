"""Fake handlers for the simulator's tests: they record what they get and act on marker attributes."""

from __future__ import annotations

import os
from typing import Any

import boto3

CALLS: list[tuple[str, Any]] = []
"""(handler name, event) for every invocation, in order."""


def record(event: dict[str, Any], context: Any) -> None:
    CALLS.append(("record", event))


def partial(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Reports items whose new image has `fail: true` as failures; raises on `boom: true`."""
    CALLS.append(("partial", event))
    failures = []
    for item in event["Records"]:
        image = item["dynamodb"].get("NewImage", {})
        if image.get("boom", {}).get("BOOL"):
            raise RuntimeError("boom")
        if image.get("fail", {}).get("BOOL"):
            failures.append({"itemIdentifier": item["dynamodb"]["SequenceNumber"]})
    return {"batchItemFailures": failures}


def tick(event: dict[str, Any], context: Any) -> None:
    """Writes one ORDER# item per run (so the stream consumers get something), fails when asked to."""
    CALLS.append(("tick", event))
    if event.get("fail"):
        raise ValueError("tick failed on purpose")
    moment = event.get("time") or event.get("scheduled") or "unknown"
    boto3.client("dynamodb").put_item(
        TableName=os.environ["TABLE_NAME"],
        Item={"pk": {"S": f"ORDER#{moment}"}, "sk": {"S": f"RUN#{len(CALLS)}"}},
    )
