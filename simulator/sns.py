"""SNS topics of the deployment: which functions subscribe to each, and delivering a notification.

Every function event of `Type: SNS` is a subscription of that function to its `Topic`, honouring
its `FilterPolicy` (`FilterPolicyScope` MessageAttributes or MessageBody). A notification is
delivered to each subscriber as the SNS Lambda event, as an asynchronous invocation (Lambda's
retries and failure destinations apply). A redelivery keeps the SNS message id.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from simulator.events import sns_lambda_event, stable_uuid
from simulator.filters import FilterPatternError, matches, parse_pattern
from simulator.lambda_runtime import AsyncOutcome, LambdaRuntime, UnsupportedError
from simulator.resources import FunctionSpec
from simulator.template import Stack

SMS_PUBLISHER = "sms-voice.amazonaws.com"
"""The service principal AWS End User Messaging SMS publishes inbound messages as."""


@dataclass
class Subscriber:
    function: FunctionSpec
    trigger: str
    filter_policy: dict[str, Any] | None = None
    scope: str = "MessageAttributes"


@dataclass
class Delivery:
    """One notification delivered to one function, and how the invocation ended."""

    function: str
    topic_arn: str
    outcome: AsyncOutcome


class SnsTopics:
    """The subscriptions of the deployment's functions, and delivery of notifications to them."""

    def __init__(self, runtime: LambdaRuntime, now: Callable[[], datetime]) -> None:
        self.runtime = runtime
        self.now = now
        self.subscribers: dict[str, list[Subscriber]] = {}
        for function in runtime.functions.values():
            for trigger in function.triggers:
                if trigger.type != "SNS":
                    continue
                props = trigger.properties
                if props.get("SqsSubscription"):
                    raise UnsupportedError(
                        f"{function.logical_id} event {trigger.name}: SqsSubscription is not simulated yet"
                    )
                policy = props.get("FilterPolicy")
                try:
                    parsed = (
                        parse_pattern(policy, f"{function.logical_id} event {trigger.name} FilterPolicy")
                        if policy
                        else None
                    )
                except FilterPatternError as exc:
                    raise UnsupportedError(str(exc)) from None
                self.subscribers.setdefault(str(props.get("Topic")), []).append(
                    Subscriber(
                        function,
                        trigger.name,
                        parsed,
                        str(props.get("FilterPolicyScope") or "MessageAttributes"),
                    )
                )

    def publish(
        self,
        topic_arn: str,
        message: str,
        message_id: str,
        *,
        subject: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        delivery: int = 1,
    ) -> list[Delivery]:
        """Deliver one notification to every matching subscriber of the topic (`delivery` > 1: again)."""
        deliveries: list[Delivery] = []
        for subscriber in self.subscribers.get(topic_arn, []):
            if subscriber.filter_policy is not None:
                if subscriber.scope == "MessageBody":
                    try:
                        subject_data: Any = json.loads(message)
                    except json.JSONDecodeError:
                        continue  # SNS never matches a body filter on a message that is not JSON
                else:
                    subject_data = {
                        name: value.get("Value", value.get("StringValue"))
                        for name, value in (attributes or {}).items()
                    }
                if not matches(subscriber.filter_policy, subject_data):
                    continue
            event = sns_lambda_event(
                topic_arn,
                stable_uuid("subscription", topic_arn, subscriber.function.logical_id),
                message,
                self.now(),
                message_id,
                subject=subject,
                attributes=attributes,
            )
            source = f"SNS {subscriber.trigger}" + (f" (delivery {delivery})" if delivery > 1 else "")
            outcome = self.runtime.invoke_async(subscriber.function, event, source)
            deliveries.append(Delivery(subscriber.function.logical_id, topic_arn, outcome))
        return deliveries


def _principals(statement: Mapping[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    if not isinstance(principal, Mapping):
        return []
    services = principal.get("Service")
    if isinstance(services, str):
        return [services]
    return [str(s) for s in services] if isinstance(services, list) else []


def _actions(statement: Mapping[str, Any]) -> list[str]:
    actions = statement.get("Action")
    if isinstance(actions, str):
        return [actions]
    return [str(a) for a in actions] if isinstance(actions, list) else []


def topics_published_by(stack: Stack, service: str) -> list[str]:
    """ARNs of the topics whose topic policy lets `service` (a service principal) publish, in template order.

    That is how a template says where an AWS service delivers: e.g. End User Messaging SMS needs a
    policy allowing `sms-voice.amazonaws.com` to `sns:Publish` on its two-way destination topic.
    """
    found: list[str] = []
    for spec in stack.of_type("AWS::SNS::TopicPolicy").values():
        props = stack.resolve(spec.get("Properties") or {})
        document = props.get("PolicyDocument") or {}
        statements = document.get("Statement") or []
        if isinstance(statements, Mapping):
            statements = [statements]
        allowed = any(
            isinstance(s, Mapping)
            and s.get("Effect") == "Allow"
            and service in _principals(s)
            and any(a in ("sns:Publish", "sns:*", "*") for a in _actions(s))
            for s in statements
        )
        if allowed:
            found += [str(topic) for topic in props.get("Topics") or [] if str(topic) not in found]
    return found
