"""The live workspace's two AWS edges: change events handed from the stream to the push function
(SQS), and messages posted to agents' WebSocket connections (API Gateway's management API)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from shared.models.live import LiveEvent

SQS_BATCH = 10
"""Most messages one SendMessageBatch takes."""


class EventQueue(Protocol):
    def publish(self, events: Sequence[LiveEvent]) -> None: ...


class Pusher(Protocol):
    def post(self, connection_id: str, data: bytes) -> bool:
        """Post to a connection: False when it is gone (closed, or never existed)."""
        ...


class QueueError(Exception):
    """Some events could not be queued (SQS answered failures): the stream record is retried."""


class SqsEventQueue:
    """Change events to the live queue, ten per request."""

    def __init__(self, queue_url: str, region: str | None) -> None:
        self.queue_url = queue_url
        self._client: Any = boto3.client(
            "sqs", region_name=region, config=Config(retries={"mode": "standard"})
        )

    def publish(self, events: Sequence[LiveEvent]) -> None:
        for start in range(0, len(events), SQS_BATCH):
            chunk = events[start : start + SQS_BATCH]
            entries = [{"Id": str(i), "MessageBody": e.model_dump_json()} for i, e in enumerate(chunk)]
            answer = self._client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            if answer.get("Failed"):
                codes = ", ".join(sorted({str(f.get("Code")) for f in answer["Failed"]}))
                raise QueueError(f"{len(answer['Failed'])} of {len(chunk)} live events not queued ({codes})")


class ApiGatewayPusher:
    """Posts to WebSocket connections through the API's management endpoint
    (`https://<api id>.execute-api.<region>.amazonaws.com/<stage>`); throttling is retried by botocore."""

    def __init__(self, endpoint: str, region: str | None) -> None:
        config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5)
        self._client: Any = boto3.client(
            "apigatewaymanagementapi", endpoint_url=endpoint, region_name=region, config=config
        )

    def post(self, connection_id: str, data: bytes) -> bool:
        try:
            self._client.post_to_connection(ConnectionId=connection_id, Data=data)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"GoneException", "410"}:
                return False
            raise
        return True
