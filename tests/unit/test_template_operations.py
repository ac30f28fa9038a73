"""The template's operations resources: every failure an operator must hear about has an alarm that
notifies the alarm topic, and every alarm is on the dashboard.

The checks walk the template's own resources, so a queue, function, stream source or HTTP API added
later without its alarm fails here."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from simulator.template import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
RESOURCES: dict[str, dict[str, Any]] = TEMPLATE["Resources"]
TOPIC = {"Ref": "AlarmTopic"}


def _of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in RESOURCES.items() if spec["Type"] == kind}


ALARMS = _of_type("AWS::CloudWatch::Alarm")


def _alarms_on(namespace: str, metric: str, dimension: str, value: Any) -> list[str]:
    """Alarms watching `metric` of `namespace` for the resource named by the dimension's value."""
    return [
        name
        for name, spec in ALARMS.items()
        if spec["Properties"]["Namespace"] == namespace
        and spec["Properties"]["MetricName"] == metric
        and {"Name": dimension, "Value": value} in spec["Properties"]["Dimensions"]
    ]


def _stream_sources() -> list[tuple[str, str]]:
    return [
        (function, event_name)
        for function, spec in _of_type("AWS::Serverless::Function").items()
        for event_name, event in (spec["Properties"].get("Events") or {}).items()
        if event["Type"] in ("DynamoDB", "Kinesis")
    ]


def _dashboard_body() -> str:
    (dashboard,) = _of_type("AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    assert isinstance(body, str)
    return body


def test_the_template_has_queues_functions_streams_and_apis_to_check() -> None:
    # Given the template, then the checks below have something to check
    assert len(_of_type("AWS::SQS::Queue")) >= 5
    assert len(_of_type("AWS::Serverless::Function")) >= 7
    assert len(_stream_sources()) >= 2
    assert len(_of_type("AWS::Serverless::HttpApi")) == 2


@pytest.mark.parametrize("alarm", sorted(ALARMS))
def test_every_alarm_notifies_the_alarm_topic(alarm: str) -> None:
    properties = ALARMS[alarm]["Properties"]
    assert properties["AlarmActions"] == [TOPIC]
    assert properties["OKActions"] == [TOPIC]
    assert properties["TreatMissingData"] == "notBreaching"


WORK_QUEUES = sorted(q for q in _of_type("AWS::SQS::Queue") if "RedrivePolicy" in RESOURCES[q]["Properties"])
"""Queues a function consumes (messages waiting are normal; their failures move to a dead-letter queue)."""


@pytest.mark.parametrize("queue", sorted(set(_of_type("AWS::SQS::Queue")) - set(WORK_QUEUES)))
def test_every_dead_letter_and_failure_queue_has_an_alarm(queue: str) -> None:
    watching = _alarms_on(
        "AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", {"Fn::GetAtt": [queue, "QueueName"]}
    )
    assert len(watching) == 1, f"{queue} needs one alarm on messages waiting"
    properties = ALARMS[watching[0]]["Properties"]
    assert (properties["Threshold"], properties["ComparisonOperator"]) == (0, "GreaterThanThreshold")


@pytest.mark.parametrize("queue", WORK_QUEUES)
def test_every_work_queue_alarms_when_its_oldest_message_waits_too_long(queue: str) -> None:
    watching = _alarms_on(
        "AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", {"Fn::GetAtt": [queue, "QueueName"]}
    )
    assert len(watching) == 1, f"{queue} needs one alarm on the age of its oldest message"
    properties = ALARMS[watching[0]]["Properties"]
    assert properties["Statistic"] == "Maximum"
    assert 0 < properties["Threshold"] < RESOURCES[queue]["Properties"]["MessageRetentionPeriod"]
    dead_letters = RESOURCES[queue]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]
    assert dead_letters["Fn::GetAtt"][0] in _of_type("AWS::SQS::Queue")


@pytest.mark.parametrize("function", sorted(_of_type("AWS::Serverless::Function")))
@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_every_function_has_errors_and_throttles_alarms(function: str, metric: str) -> None:
    watching = _alarms_on("AWS/Lambda", metric, "FunctionName", {"Ref": function})
    assert len(watching) == 1, f"{function} needs one {metric} alarm"
    assert ALARMS[watching[0]]["Properties"]["Statistic"] == "Sum"


@pytest.mark.parametrize(("function", "event"), _stream_sources())
def test_every_stream_source_has_an_iterator_age_alarm(function: str, event: str) -> None:
    watching = _alarms_on("AWS/Lambda", "IteratorAge", "FunctionName", {"Ref": function})
    assert len(watching) == 1, f"{function}'s {event} needs an IteratorAge alarm"
    properties = ALARMS[watching[0]]["Properties"]
    max_age_ms = (
        RESOURCES[function]["Properties"]["Events"][event]["Properties"]["MaximumRecordAgeInSeconds"] * 1000
    )
    # it must fire well before Lambda starts giving records up
    assert properties["Statistic"] == "Maximum"
    assert 0 < properties["Threshold"] < max_age_ms


@pytest.mark.parametrize("api", sorted(_of_type("AWS::Serverless::HttpApi")))
def test_every_http_api_has_a_5xx_alarm(api: str) -> None:
    assert len(_alarms_on("AWS/ApiGateway", "5xx", "ApiId", {"Ref": api})) == 1


def test_the_dashboard_shows_every_alarm_and_is_valid_json() -> None:
    body = _dashboard_body()
    referenced = set(re.findall(r"\$\{(\w+)\.Arn\}", body))
    assert referenced == set(ALARMS)
    # every other substitution names a resource or a pseudo parameter
    for name in re.findall(r"\$\{([\w:]+)(?:\.\w+)?\}", body):
        assert name in RESOURCES or name.startswith("AWS::"), name
    rendered = json.loads(re.sub(r"\$\{[\w:.]+\}", "x", body))
    kinds = [widget["type"] for widget in rendered["widgets"]]
    assert kinds.count("alarm") == 1
    (alarm_widget,) = (w for w in rendered["widgets"] if w["type"] == "alarm")
    assert len(alarm_widget["properties"]["alarms"]) == len(ALARMS)


def test_the_alarm_topic_is_encrypted_and_takes_an_optional_email() -> None:
    topic = RESOURCES["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"]
    subscription = RESOURCES["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["TopicArn"] == TOPIC
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert TEMPLATE["Parameters"]["AlarmEmail"]["Default"] == ""
