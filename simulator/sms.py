"""Inbound SMS, as AWS End User Messaging SMS delivers it to a two-way SNS destination.

End User Messaging publishes each inbound message to the topic set as the number's two-way
destination, as a JSON `Message` (originationNumber, destinationNumber, messageKeyword,
messageBody, inboundMessageId, previousPublishedMessageId). The template says which topic that
is through its topic policy: the topics that let `sms-voice.amazonaws.com` publish. Every
function subscribed to them gets the SNS event, as an asynchronous invocation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simulator.events import stable_uuid, utf8_json
from simulator.lambda_runtime import UnsupportedError
from simulator.sns import SMS_PUBLISHER, Delivery, SnsTopics, topics_published_by
from simulator.template import Stack

SMS_FIELDS = (
    "originationNumber",
    "destinationNumber",
    "messageKeyword",
    "messageBody",
    "inboundMessageId",
    "previousPublishedMessageId",
    "mediaUrls",
)
"""The inbound message's fields, in the order End User Messaging writes them (mediaUrls: see docs)."""


def sms_message(fields: dict[str, Any]) -> str:
    """The SNS `Message` End User Messaging publishes: the fields given, as compact JSON, in their order.

    A lone surrogate (a UCS-2 SMS can carry one) is written as its `\\uXXXX` escape: SNS carries
    UTF-8, which has no form for it, while the escape is JSON the subscriber decodes to it.
    """
    ordered = {name: fields[name] for name in SMS_FIELDS if name in fields}
    return utf8_json(ordered, separators=(",", ":"))


@dataclass
class SmsDelivery:
    """One delivery of an SMS notification: its number (1 for the first) and the functions' outcomes."""

    number: int
    deliveries: list[Delivery]


class SmsReceiver:
    """Delivers inbound SMS to the functions subscribed to End User Messaging's two-way topics."""

    def __init__(self, stack: Stack, topics: SnsTopics) -> None:
        self.topics = topics
        self.topic_arns = topics_published_by(stack, SMS_PUBLISHER)

    def check(self) -> None:
        """Refuse a template that gives End User Messaging nowhere to publish (UnsupportedError)."""
        if not self.topic_arns:
            raise UnsupportedError(
                "the scenario has sms steps, but no SNS topic policy of the template lets "
                f"{SMS_PUBLISHER} publish (sns:Publish): there is no two-way SMS destination to deliver to"
            )
        if not any(self.topics.subscribers.get(arn) for arn in self.topic_arns):
            raise UnsupportedError(
                "the scenario has sms steps, but no function subscribes (Type: SNS) to the two-way SMS "
                f"topic{'s' if len(self.topic_arns) > 1 else ''} {', '.join(self.topic_arns)}"
            )

    def receive(self, fields: dict[str, Any], seed: str, deliveries: int = 1) -> list[SmsDelivery]:
        """Publish one inbound SMS to every two-way topic, `deliveries` times with the same SNS message id."""
        message = sms_message(fields)
        results: list[SmsDelivery] = []
        for number in range(1, deliveries + 1):
            delivered: list[Delivery] = []
            for topic_arn in self.topic_arns:
                message_id = stable_uuid("sns", topic_arn, seed, message)
                delivered += self.topics.publish(topic_arn, message, message_id, delivery=number)
            results.append(SmsDelivery(number, delivered))
        return results
