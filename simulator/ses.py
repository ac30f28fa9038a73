"""SES email receiving, as the active receipt rule set of the deployment does it.

For each mail: the rules whose recipients match (in order, enabled ones), and their actions: an
S3 action stores the message at `<prefix><SES message id>` and notifies its topic; an SNS action
publishes the message inline; AddHeader adds a header for the following actions; Stop ends the
rule set. The notifications go to every function subscribed to the topic (`Type: SNS`), as
asynchronous invocations (simulator/sns.py).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3

from simulator.events import (
    Verdicts,
    header_recipients,
    ses_mail,
    ses_message_id,
    ses_notification,
    ses_receipt,
    ses_stored_message,
    stable_uuid,
)
from simulator.lambda_runtime import LambdaRuntime, UnsupportedError
from simulator.sns import Delivery, SnsTopics
from simulator.template import REGION

_SIMULATED_ACTIONS = {"S3Action", "SNSAction", "AddHeaderAction", "StopAction"}


@dataclass
class Receipt:
    """What SES did with one received mail."""

    ses_message_id: str
    recipients: list[str]
    rules: list[str] = field(default_factory=list)
    stored: list[str] = field(default_factory=list)
    notifications: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """(topic ARN, notification) for each action with a topic, in order."""
    deliveries: list[Delivery] = field(default_factory=list)
    rejected: str | None = None


def _recipient_matches(recipient: str, patterns: list[str]) -> bool:
    """SES rule recipients: an address, a domain, or `.domain` for its subdomains; none = everything."""
    if not patterns:
        return True
    address = recipient.strip().lower()
    domain = address.rpartition("@")[2]
    for pattern in (p.strip().lower() for p in patterns):
        if "@" in pattern:
            if address == pattern:
                return True
        elif pattern.startswith("."):
            if domain.endswith(pattern):
                return True
        elif domain == pattern:
            return True
    return False


class SesReceiver:
    """The deployment's active receipt rule set, applied to raw messages."""

    def __init__(self, runtime: LambdaRuntime, now: Callable[[], datetime], topics: SnsTopics) -> None:
        self.runtime = runtime
        self.now = now
        self.topics = topics
        self.ses = boto3.client("ses", region_name=REGION)
        self.s3 = boto3.client("s3", region_name=REGION)
        self.rules = self._active_rules()

    def _active_rules(self) -> list[dict[str, Any]]:
        sets = self.ses.list_receipt_rule_sets().get("RuleSets", [])
        if not sets:
            return []
        active = self.ses.describe_active_receipt_rule_set()
        if "Metadata" not in active:
            # CloudFormation does not activate a rule set; the deployment guide does it once, so do we.
            self.ses.set_active_receipt_rule_set(RuleSetName=sets[0]["Name"])
            active = self.ses.describe_active_receipt_rule_set()
        rules: list[dict[str, Any]] = [dict(rule) for rule in active.get("Rules", [])]
        for rule in rules:
            for action in rule.get("Actions", []):
                unsupported = set(action) - _SIMULATED_ACTIONS
                if unsupported:
                    raise UnsupportedError(
                        f"receipt rule {rule['Name']}: {', '.join(sorted(unsupported))} is not simulated yet "
                        f"(supported: {', '.join(sorted(_SIMULATED_ACTIONS))})"
                    )
        return rules

    def accepted(self, recipients: list[str]) -> list[str]:
        """The recipients some enabled rule accepts (what SES reports in `receipt.recipients`)."""
        return [
            r
            for r in recipients
            if any(
                rule.get("Enabled") and _recipient_matches(r, rule.get("Recipients", []))
                for rule in self.rules
            )
        ]

    def default_recipients(self, raw: bytes) -> list[str]:
        """The message's To and Cc addresses that the rule set accepts (all of them if none is accepted)."""
        listed = header_recipients(raw)
        return self.accepted(listed) or listed

    def receive(self, raw: bytes, recipients: list[str], verdicts: Verdicts, seed: str) -> Receipt:
        """Receive one message: run the rules' actions (`notify` then delivers their notifications)."""
        at = self.now()
        ses_id = ses_message_id(seed.encode() + raw)
        receipt = Receipt(ses_message_id=ses_id, recipients=self.accepted(recipients))
        if not recipients:
            receipt.rejected = 'the mail has no To or Cc address: give its recipients in "recipients"'
            return receipt
        if not receipt.recipients:
            receipt.rejected = (
                f"no enabled receipt rule accepts {', '.join(recipients)} (SES would answer 550)"
            )
            return receipt
        stored = ses_stored_message(raw, ses_id, at, receipt.recipients, verdicts)
        processing_ms = 300 + int(ses_id[:4], 36) % 900
        for rule in self.rules:
            if not rule.get("Enabled") or not any(
                _recipient_matches(r, rule.get("Recipients", [])) for r in receipt.recipients
            ):
                continue
            receipt.rules.append(rule["Name"])
            for action in rule.get("Actions", []):
                if "AddHeaderAction" in action:
                    header = action["AddHeaderAction"]
                    stored = f"{header['HeaderName']}: {header['HeaderValue']}\r\n".encode() + stored
                elif "S3Action" in action:
                    spec = action["S3Action"]
                    key = f"{spec.get('ObjectKeyPrefix', '')}{ses_id}"
                    self.s3.put_object(Bucket=spec["BucketName"], Key=key, Body=stored)
                    receipt.stored.append(f"s3://{spec['BucketName']}/{key}")
                    if spec.get("TopicArn"):
                        body = {
                            "type": "S3",
                            "topicArn": spec["TopicArn"],
                            "bucketName": spec["BucketName"],
                            "objectKey": key,
                        }
                        notification = ses_notification(
                            ses_mail(stored, ses_id, at),
                            ses_receipt(at, receipt.recipients, verdicts, body, processing_ms),
                        )
                        receipt.notifications.append((spec["TopicArn"], notification))
                elif "SNSAction" in action:
                    spec = action["SNSAction"]
                    encoding = str(spec.get("Encoding", "UTF-8"))
                    content = (
                        base64.b64encode(stored).decode()
                        if encoding.upper() == "BASE64"
                        else stored.decode("utf-8", errors="replace")
                    )
                    body = {"type": "SNS", "topicArn": spec["TopicArn"], "encoding": encoding.upper()}
                    notification = ses_notification(
                        ses_mail(stored, ses_id, at),
                        ses_receipt(at, receipt.recipients, verdicts, body, processing_ms),
                        content,
                    )
                    receipt.notifications.append((spec["TopicArn"], notification))
                elif "StopAction" in action:
                    topic = action["StopAction"].get("TopicArn")
                    if topic:
                        body = {"type": "Stop", "topicArn": topic}
                        notification = ses_notification(
                            ses_mail(stored, ses_id, at),
                            ses_receipt(at, receipt.recipients, verdicts, body, processing_ms),
                        )
                        receipt.notifications.append((topic, notification))
                    return receipt
        return receipt

    def notify(self, receipt: Receipt, delivery: int = 1) -> list[Delivery]:
        """Deliver the receipt's notifications to the subscribed functions (again, for delivery > 1)."""
        deliveries: list[Delivery] = []
        for topic_arn, notification in receipt.notifications:
            deliveries += self._notify(topic_arn, notification, receipt.ses_message_id, delivery)
        receipt.deliveries += deliveries
        return deliveries

    def _notify(
        self, topic_arn: str, notification: dict[str, Any], ses_id: str, delivery: int
    ) -> list[Delivery]:
        # A notification delivered again keeps its SNS message id: that is what a redelivery looks like.
        return self.topics.publish(
            topic_arn,
            json.dumps(notification),
            stable_uuid("sns", topic_arn, ses_id),
            subject="Amazon SES Email Receipt Notification",
            delivery=delivery,
        )
