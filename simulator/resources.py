"""Create the template's resources on moto, and describe its functions and their triggers.

Call `deploy()` inside an active `moto.mock_aws()`; tests and the simulator both use it.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3

from simulator.template import ACCOUNT_ID, REGION, STACK_NAME, Stack


@dataclass
class Trigger:
    """One event source of a function, resolved: SNS topic, DynamoDB stream, schedule or HTTP API."""

    name: str
    type: str
    properties: dict[str, Any]


@dataclass
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    triggers: list[Trigger] = field(default_factory=list)
    name: str = ""
    """The function's physical name (what AWS_LAMBDA_FUNCTION_NAME holds)."""
    arn: str = ""
    memory_size: int = 128
    timeout: int = 3
    runtime: str = "python3.12"
    event_invoke_config: dict[str, Any] = field(default_factory=dict)
    """Resolved EventInvokeConfig: MaximumRetryAttempts, DestinationConfig (async invocations)."""
    dead_letter_queue: dict[str, Any] | None = None
    """Resolved DeadLetterQueue ({Type, TargetArn}), used when no OnFailure destination is set."""

    def load(self) -> Callable[..., Any]:
        """Import the handler from its code directory as a uniquely named module."""
        module_name, _, attribute = self.handler.rpartition(".")
        path = self.code_dir / f"{module_name.replace('.', '/')}.py"
        unique = f"_sim_{self.logical_id}_{module_name.replace('.', '_')}"
        module = sys.modules.get(unique)
        if module is None:
            spec = importlib.util.spec_from_file_location(unique, path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {path} for {self.logical_id}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[unique] = module
            spec.loader.exec_module(module)
        handler: Callable[..., Any] = getattr(_module(module), attribute)
        return handler


def _module(module: ModuleType) -> ModuleType:
    return module


@dataclass
class Deployment:
    """A template deployed on moto: the stack (names, attributes) and its functions."""

    stack: Stack
    functions: dict[str, FunctionSpec]

    def name(self, logical_id: str) -> str:
        return self.stack.physical[logical_id]


def _physical_name(logical_id: str) -> str:
    return f"{STACK_NAME}-{logical_id}".lower()


def _create_table(stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
    client = boto3.client("dynamodb", region_name=REGION)
    name = props.get("TableName") or _physical_name(logical_id)
    kwargs: dict[str, Any] = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    if kwargs["BillingMode"] != "PAY_PER_REQUEST":
        kwargs["ProvisionedThroughput"] = props.get(
            "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        )
    if props.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    stream = props.get("StreamSpecification")
    if stream:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    description = client.create_table(**kwargs)["TableDescription"]
    stack.physical[logical_id] = name
    stack.attributes[(logical_id, "Arn")] = description["TableArn"]
    if stream:
        stack.attributes[(logical_id, "StreamArn")] = description["LatestStreamArn"]
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        client.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
        )


def _create_bucket(stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
    name = props.get("BucketName") or f"{_physical_name(logical_id)}-{ACCOUNT_ID}"
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=name)
    stack.physical[logical_id] = name
    stack.attributes[(logical_id, "Arn")] = f"arn:aws:s3:::{name}"


def _create_topic(stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
    name = props.get("TopicName") or _physical_name(logical_id)
    arn = boto3.client("sns", region_name=REGION).create_topic(Name=name)["TopicArn"]
    stack.physical[logical_id] = arn
    stack.attributes[(logical_id, "TopicName")] = name
    stack.attributes[(logical_id, "TopicArn")] = arn


def _create_queue(stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
    name = props.get("QueueName") or _physical_name(logical_id)
    url = boto3.client("sqs", region_name=REGION).create_queue(QueueName=name)["QueueUrl"]
    stack.physical[logical_id] = url
    stack.attributes[(logical_id, "QueueName")] = name
    stack.attributes[(logical_id, "Arn")] = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"
    stack.attributes[(logical_id, "QueueUrl")] = url


def _create_rule_set(stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
    name = props.get("RuleSetName") or _physical_name(logical_id)
    boto3.client("ses", region_name=REGION).create_receipt_rule_set(RuleSetName=name)
    stack.physical[logical_id] = name


def _create_rule(stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
    rule: Any = dict(props["Rule"])
    ses = boto3.client("ses", region_name=REGION)
    ses.create_receipt_rule(RuleSetName=props["RuleSetName"], Rule=rule)
    stack.physical[logical_id] = rule["Name"]


def _create_secret(stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
    import json
    import secrets

    name = props.get("Name") or _physical_name(logical_id)
    value = props.get("SecretString")
    generate = props.get("GenerateSecretString")
    if value is None and generate:
        template = json.loads(generate.get("SecretStringTemplate") or "{}")
        template[generate["GenerateStringKey"]] = secrets.token_hex(16)
        value = json.dumps(template)
    client = boto3.client("secretsmanager", region_name=REGION)
    arn = client.create_secret(Name=name, SecretString=value or "")["ARN"]
    stack.physical[logical_id] = arn


def _create_email_identity(stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
    """An SES identity, verified at once (on AWS the domain's DNS records verify it)."""
    identity = props["EmailIdentity"]
    ses = boto3.client("ses", region_name=REGION)
    if "@" in identity:
        ses.verify_email_identity(EmailAddress=identity)
    else:
        ses.verify_domain_identity(Domain=identity)
    stack.physical[logical_id] = identity


def _record_http_api(stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
    """HTTP APIs are not created: the simulator delivers API Gateway v2 events to handlers directly."""
    stack.physical[logical_id] = f"{logical_id.lower()[:10]:0<10}"


_CREATORS: dict[str, Callable[[Stack, str, dict[str, Any]], None]] = {
    "AWS::DynamoDB::Table": _create_table,
    "AWS::S3::Bucket": _create_bucket,
    "AWS::SNS::Topic": _create_topic,
    "AWS::SQS::Queue": _create_queue,
    "AWS::SecretsManager::Secret": _create_secret,
    "AWS::Serverless::HttpApi": _record_http_api,
    "AWS::SES::EmailIdentity": _create_email_identity,
    "AWS::SES::ReceiptRuleSet": _create_rule_set,
    "AWS::SES::ReceiptRule": _create_rule,
}
_ORDER = list(_CREATORS)


def deploy(template_path: Path, parameters: dict[str, Any] | None = None) -> Deployment:
    """Create every supported resource of the template on moto (call inside `mock_aws`)."""
    stack = Stack.load(template_path, parameters)
    for logical_id, spec in stack.resources.items():
        if spec.get("Type") not in _CREATORS:
            # not created on moto (user pools, alarms, keys, log groups...): a name and an ARN, so
            # references resolve
            name = stack.physical.setdefault(logical_id, _physical_name(logical_id))
            service = str(spec.get("Type", "")).split("::")[1:2] or ["unknown"]
            stack.attributes.setdefault(
                (logical_id, "Arn"), f"arn:aws:{service[0].lower()}:{REGION}:{ACCOUNT_ID}:{name}"
            )
    for kind in _ORDER:
        for logical_id, spec in stack.of_type(kind).items():
            if spec.get("Condition") and not stack.condition(spec["Condition"]):
                continue  # CloudFormation would not create it either
            props = stack.resolve(spec.get("Properties") or {})
            _CREATORS[kind](stack, logical_id, props)
    functions: dict[str, FunctionSpec] = {}
    for logical_id in stack.of_type("AWS::Serverless::Function"):
        stack.physical[logical_id] = _physical_name(logical_id)
        stack.attributes[(logical_id, "Arn")] = (
            f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{_physical_name(logical_id)}"
        )
    function_globals = (stack.template.get("Globals") or {}).get("Function") or {}
    for logical_id, spec in stack.of_type("AWS::Serverless::Function").items():
        props = spec.get("Properties") or {}

        def setting(name: str, default: Any, props: dict[str, Any] = props) -> Any:
            return stack.resolve(props.get(name, function_globals.get(name, default)))

        triggers = [
            Trigger(name=name, type=event["Type"], properties=stack.resolve(event.get("Properties") or {}))
            for name, event in (props.get("Events") or {}).items()
        ]
        functions[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_dir=(stack.root / props["CodeUri"]).resolve(),
            handler=props["Handler"],
            environment=stack.function_environment(logical_id),
            triggers=triggers,
            name=stack.physical[logical_id],
            arn=stack.attributes[(logical_id, "Arn")],
            memory_size=int(setting("MemorySize", 128)),
            timeout=int(setting("Timeout", 3)),
            runtime=str(setting("Runtime", "python3.12")),
            event_invoke_config=setting("EventInvokeConfig", None) or {},
            dead_letter_queue=setting("DeadLetterQueue", None),
        )
    return Deployment(stack=stack, functions=functions)
