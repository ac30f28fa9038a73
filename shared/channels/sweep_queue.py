"""The sweep queue: the tasks the SLA sweeper hands to its workers, one a shard (decision 118)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import boto3
from botocore.config import Config

from shared.models.sweep import SweepTask

SQS_BATCH = 10
"""Most messages one SendMessageBatch takes."""


class SweepQueue(Protocol):
    def send(self, tasks: Sequence[SweepTask]) -> None: ...


class SweepQueueError(Exception):
    """Some tasks could not be queued (SQS answered failures): the run fails and is retried."""


class SqsSweepQueue:
    """Sweep tasks to the sweep queue, ten per request."""

    def __init__(self, queue_url: str, region: str | None) -> None:
        self.queue_url = queue_url
        self._client: Any = boto3.client(
            "sqs", region_name=region, config=Config(retries={"mode": "standard"})
        )

    def send(self, tasks: Sequence[SweepTask]) -> None:
        for start in range(0, len(tasks), SQS_BATCH):
            chunk = tasks[start : start + SQS_BATCH]
            entries = [{"Id": str(i), "MessageBody": t.model_dump_json()} for i, t in enumerate(chunk)]
            answer = self._client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            if answer.get("Failed"):
                codes = ", ".join(sorted({str(f.get("Code")) for f in answer["Failed"]}))
                raise SweepQueueError(
                    f"{len(answer['Failed'])} of {len(chunk)} sweep tasks not queued ({codes})"
                )
