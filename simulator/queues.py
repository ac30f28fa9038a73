"""SQS event sources: each SQS-triggered function of the template gets its queue's messages as the
Lambda event source mapping delivers them (batches up to BatchSize, partial batch failures), and a
message failed `maxReceiveCount` times moves to the queue's dead-letter queue (its RedrivePolicy)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

import boto3

from simulator.template import REGION

MAX_ROUNDS = 1000
"""Deliveries of one drain before it gives up (a function that keeps refilling its own queue)."""


class Invoker(Protocol):
    def invoke(self, spec: Any, event: Any, source: str) -> Any: ...


@dataclass
class QueueConsumer:
    function: Any
    trigger: str
    queue_url: str
    queue_arn: str
    batch_size: int = 10
    max_receives: int = 3
    dead_letter_url: str | None = None
    receives: Counter[str] = field(default_factory=Counter)
    delivered: int = 0
    dead_lettered: int = 0


def sqs_record(message: dict[str, Any], queue_arn: str, receives: int) -> dict[str, Any]:
    """A message as Lambda's SQS event source delivers it."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {"ApproximateReceiveCount": str(receives), "SentTimestamp": "0"},
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


class QueuePump:
    def __init__(self, consumers: list[QueueConsumer], invoker: Invoker) -> None:
        self.consumers = consumers
        self.invoker = invoker
        self.client: Any = boto3.client("sqs", region_name=REGION)
        self.invocations = 0

    def pump(self) -> int:
        """Deliver until every consumer's queue is empty; returns the number of invocations."""
        before = self.invocations
        for _ in range(MAX_ROUNDS):
            delivered = [self._deliver(consumer) for consumer in self.consumers]  # each, every round
            if not any(delivered):
                return self.invocations - before
        raise RuntimeError(f"SQS consumers still busy after {MAX_ROUNDS} batches")

    def _deliver(self, consumer: QueueConsumer) -> bool:
        answer = self.client.receive_message(
            QueueUrl=consumer.queue_url, MaxNumberOfMessages=consumer.batch_size, VisibilityTimeout=0
        )
        messages = answer.get("Messages", [])
        if not messages:
            return False
        for message in messages:
            consumer.receives[message["MessageId"]] += 1
        records = [sqs_record(m, consumer.queue_arn, consumer.receives[m["MessageId"]]) for m in messages]
        self.invocations += 1
        result = self.invoker.invoke(
            consumer.function, {"Records": records}, source=f"SQS {consumer.trigger}"
        )
        failed = _failed_ids(result, records)
        for message in messages:
            if message["MessageId"] not in failed:
                consumer.delivered += 1
                self.client.delete_message(
                    QueueUrl=consumer.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
            elif consumer.receives[message["MessageId"]] >= consumer.max_receives:
                self._dead_letter(consumer, message)
        return True

    def _dead_letter(self, consumer: QueueConsumer, message: dict[str, Any]) -> None:
        if consumer.dead_letter_url is not None:
            self.client.send_message(QueueUrl=consumer.dead_letter_url, MessageBody=message["Body"])
        consumer.dead_lettered += 1
        self._delete(consumer, message)

    def _delete(self, consumer: QueueConsumer, message: dict[str, Any]) -> None:
        self.client.delete_message(QueueUrl=consumer.queue_url, ReceiptHandle=message["ReceiptHandle"])


def _failed_ids(result: Any, records: list[dict[str, Any]]) -> set[str]:
    """The messages to deliver again: all of them when the function failed, else those it reported."""
    if getattr(result, "error", None) is not None:
        return {r["messageId"] for r in records}
    response = getattr(result, "response", None) or {}
    return {str(f.get("itemIdentifier")) for f in response.get("batchItemFailures", [])}


def queue_consumers(deployment: Any) -> list[QueueConsumer]:
    """An SQS consumer per SQS event of a function, with its queue's redrive policy."""
    stack = deployment.stack
    queues = {stack.attributes[(logical, "Arn")]: logical for logical in stack.of_type("AWS::SQS::Queue")}
    found = []
    for function in deployment.functions.values():
        for trigger in function.triggers:
            if trigger.type != "SQS":
                continue
            logical = queues[trigger.properties["Queue"]]
            redrive = stack.resolve(
                (stack.resources[logical].get("Properties") or {}).get("RedrivePolicy") or {}
            )
            dead = queues.get(redrive.get("deadLetterTargetArn"))
            found.append(
                QueueConsumer(
                    function=function,
                    trigger=trigger.name,
                    queue_url=stack.physical[logical],
                    queue_arn=trigger.properties["Queue"],
                    batch_size=int(trigger.properties.get("BatchSize", 10)),
                    max_receives=int(redrive.get("maxReceiveCount", 3)),
                    dead_letter_url=stack.physical[dead] if dead else None,
                )
            )
    return found
