"""Running the template's functions in-process, the way Lambda would.

Each invocation gets exactly the function's environment (the template's variables, the Lambda
runtime's own, the simulated AWS account), a context object, and its own log output (kept out of
the progress display). Asynchronous invocations (SNS, schedules) follow Lambda's rules: on an
unhandled error the event is retried up to EventInvokeConfig.MaximumRetryAttempts (default 2),
then an invocation record goes to the OnFailure destination (or the DeadLetterQueue).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

import boto3

from shared.settings import reset_settings
from simulator.events import LambdaContext, async_destination_record, stable_uuid
from simulator.resources import FunctionSpec
from simulator.template import REGION

DEFAULT_ASYNC_RETRIES = 2


class _LogSink(io.TextIOBase):
    """Where function output goes: a file chosen per simulation, or nowhere.

    One process-wide object, because loggers keep the stream they were created with.
    """

    def __init__(self) -> None:
        super().__init__()
        self.target: TextIO | None = None

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self.target is not None:
            self.target.write(text)
        return len(text)

    def flush(self) -> None:
        if self.target is not None:
            self.target.flush()


LOG_SINK = _LogSink()


@dataclass
class Invocation:
    """One run of a handler."""

    function: str
    request_id: str
    source: str
    at: datetime
    response: Any = None
    error: BaseException | None = None
    duration_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class DeadLetter:
    """An event a function could not process, and where Lambda sent its record."""

    at: datetime
    function: str
    source: str
    condition: str
    attempts: int
    error_type: str | None
    error_message: str | None
    destination: str | None
    step: int | None = None
    line: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_state(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "step": self.step,
            "line": self.line,
            "function": self.function,
            "source": self.source,
            "condition": self.condition,
            "attempts": self.attempts,
            "error_type": self.error_type,
            "error_message": self.error_message,
            "destination": self.destination,
            **self.details,
        }


@dataclass
class FunctionStats:
    invocations: int = 0
    errors: int = 0
    total_ms: float = 0.0


@dataclass
class AsyncOutcome:
    ok: bool
    attempts: list[Invocation]

    @property
    def last(self) -> Invocation:
        return self.attempts[-1]


def base_environment() -> dict[str, str]:
    """What every process of the simulated account sees: moto credentials, the region, no profiles."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    }


_CLEARED_PREFIXES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)


@contextlib.contextmanager
def replaced_environment(values: dict[str, str]) -> Iterator[None]:
    """Run with exactly `values` as os.environ (plus PATH), restoring the caller's afterwards."""
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update({"PATH": saved.get("PATH", "/usr/bin:/bin"), **values})
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def simulated_account() -> Iterator[None]:
    """The simulator's own environment: the caller's, minus AWS profiles/endpoints, plus moto credentials."""
    saved = dict(os.environ)
    try:
        for name in list(os.environ):
            if name.startswith(_CLEARED_PREFIXES):
                del os.environ[name]
        os.environ.update(base_environment())
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def captured_output(service: str | None) -> Iterator[None]:
    """Send a function's stdout/stderr and its stream log handlers to the log sink."""
    standard = {id(s) for s in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__) if s is not None}
    swapped: list[tuple[logging.StreamHandler[Any], Any]] = []
    loggers = [logging.getLogger()]
    loggers += [lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    for logger in loggers:
        for handler in logger.handlers:
            if not isinstance(handler, logging.StreamHandler) or isinstance(handler, logging.FileHandler):
                continue
            if handler.stream is LOG_SINK:
                continue
            if id(handler.stream) in standard or (service is not None and logger.name == service):
                swapped.append((handler, handler.stream))
                handler.setStream(LOG_SINK)
    try:
        with contextlib.redirect_stdout(LOG_SINK), contextlib.redirect_stderr(LOG_SINK):
            yield
    finally:
        for handler, stream in swapped:
            handler.setStream(stream)


class LambdaRuntime:
    """Invokes the deployment's functions in-process and applies Lambda's delivery rules."""

    def __init__(
        self,
        functions: dict[str, FunctionSpec],
        now: Callable[[], datetime],
        extra_environment: dict[str, str] | None = None,
    ) -> None:
        self.functions = functions
        self.now = now
        self.extra_environment = dict(extra_environment or {})
        self.stats: dict[str, FunctionStats] = {name: FunctionStats() for name in functions}
        self.dead_letters: list[DeadLetter] = []
        self.step: tuple[int, int] | None = None
        """(step number, line) of the scenario step being run, for the records."""
        self._handlers: dict[str, Callable[..., Any]] = {}
        self._counter = 0
        self.after_attempt: Callable[[], None] = lambda: None
        """Called after each asynchronous attempt (the simulator pumps streams there)."""

    def by_arn(self, arn: str) -> FunctionSpec | None:
        bare = arn.split(":$LATEST")[0]
        return next((f for f in self.functions.values() if f.arn == bare or f.name == bare), None)

    def environment(self, spec: FunctionSpec) -> dict[str, str]:
        """The environment Lambda gives the function (its template variables win over the runtime's)."""
        runtime = {
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "2025/01/01/[$LATEST]simulator",
            "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "LAMBDA_RUNTIME_DIR": "/var/runtime",
            "LANG": "en_US.UTF-8",
            "_HANDLER": spec.handler,
        }
        return {**base_environment(), **runtime, **spec.environment, **self.extra_environment}

    def _handler(self, spec: FunctionSpec) -> Callable[..., Any]:
        handler = self._handlers.get(spec.logical_id)
        if handler is None:
            handler = spec.load()
            self._handlers[spec.logical_id] = handler
        return handler

    def invoke(self, spec: FunctionSpec, event: Any, source: str) -> Invocation:
        """Run the handler once with `event`; errors are captured in the Invocation, not raised."""
        self._counter += 1
        at = self.now()
        request_id = stable_uuid(spec.logical_id, at.isoformat(), self._counter)
        invocation = Invocation(function=spec.logical_id, request_id=request_id, source=source, at=at)
        env = self.environment(spec)
        started = time.monotonic()
        # A JSON round trip: the handler gets fresh plain data, exactly what the Lambda service would send.
        payload = json.loads(json.dumps(event))
        with replaced_environment(env), captured_output(env.get("POWERTOOLS_SERVICE_NAME")):
            reset_settings()
            try:
                handler = self._handler(spec)
                context = LambdaContext(
                    function_name=spec.name,
                    memory_limit_in_mb=spec.memory_size,
                    invoked_function_arn=spec.arn,
                    aws_request_id=request_id,
                    timeout_seconds=spec.timeout,
                    log_group_name=f"/aws/lambda/{spec.name}",
                    log_stream_name="2025/01/01/[$LATEST]simulator",
                    started=started,
                )
                response = handler(payload, context)
                invocation.response = json.loads(json.dumps(response, default=str))
            except Exception as exc:
                invocation.error = exc
            finally:
                reset_settings()
        invocation.duration_ms = (time.monotonic() - started) * 1000
        stats = self.stats.setdefault(spec.logical_id, FunctionStats())
        stats.invocations += 1
        stats.total_ms += invocation.duration_ms
        if invocation.error is not None:
            stats.errors += 1
        return invocation

    def invoke_async(self, spec: FunctionSpec, event: Any, source: str) -> AsyncOutcome:
        """An asynchronous invocation: retries, then the OnFailure destination (or OnSuccess)."""
        config = spec.event_invoke_config
        retries = int(config.get("MaximumRetryAttempts", DEFAULT_ASYNC_RETRIES))
        destinations = config.get("DestinationConfig") or {}
        attempts: list[Invocation] = []
        for _ in range(1 + max(0, retries)):
            invocation = self.invoke(spec, event, source)
            attempts.append(invocation)
            self.after_attempt()
            if invocation.ok:
                on_success = (destinations.get("OnSuccess") or {}).get("Destination")
                if on_success:
                    record = async_destination_record(
                        function_name=spec.name,
                        request_id=invocation.request_id,
                        at=self.now(),
                        payload=event,
                        attempts=len(attempts),
                        error=None,
                        response=invocation.response,
                    )
                    self.send(on_success, record, source=f"{spec.logical_id} OnSuccess")
                return AsyncOutcome(ok=True, attempts=attempts)
        last = attempts[-1]
        assert last.error is not None
        record = async_destination_record(
            function_name=spec.name,
            request_id=last.request_id,
            at=self.now(),
            payload=event,
            attempts=len(attempts),
            error=last.error,
        )
        on_failure = (destinations.get("OnFailure") or {}).get("Destination")
        destination: str | None = None
        if on_failure:
            destination = on_failure
            self.send(on_failure, record, source=f"{spec.logical_id} OnFailure")
        elif spec.dead_letter_queue and spec.dead_letter_queue.get("TargetArn"):
            destination = str(spec.dead_letter_queue["TargetArn"])
            self._send_dlq(destination, event, last)
        self.dead_letters.append(
            DeadLetter(
                at=self.now(),
                function=spec.logical_id,
                source=source,
                condition="RetriesExhausted",
                attempts=len(attempts),
                error_type=type(last.error).__name__,
                error_message=str(last.error),
                destination=destination,
                step=self.step[0] if self.step else None,
                line=self.step[1] if self.step else None,
            )
        )
        return AsyncOutcome(ok=False, attempts=attempts)

    def send(self, arn: str, record: dict[str, Any], source: str) -> None:
        """Deliver an invocation record to a destination ARN (SQS queue, SNS topic or function)."""
        service = arn.split(":")[2]
        body = json.dumps(record, default=str)
        if service == "sqs":
            sqs = boto3.client("sqs", region_name=REGION)
            url = sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[1])["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=body)
        elif service == "sns":
            boto3.client("sns", region_name=REGION).publish(TopicArn=arn, Message=body)
        elif service == "lambda":
            target = self.by_arn(arn)
            if target is None:
                raise SimulationError(f"{source}: destination function {arn} is not in the template")
            self.invoke_async(target, record, source=f"{source} -> {target.logical_id}")
        else:
            raise SimulationError(f"{source}: destination {arn} is not simulated (use SQS, SNS or Lambda)")

    def _send_dlq(self, arn: str, event: Any, last: Invocation) -> None:
        attributes = {
            "RequestID": {"DataType": "String", "StringValue": last.request_id},
            "ErrorCode": {"DataType": "Number", "StringValue": "200"},
            "ErrorMessage": {"DataType": "String", "StringValue": str(last.error)[:1000]},
        }
        body = json.dumps(event, default=str)
        if arn.split(":")[2] == "sns":
            sns_attributes: Any = {
                name: {"DataType": value["DataType"], "StringValue": value["StringValue"]}
                for name, value in attributes.items()
            }
            boto3.client("sns", region_name=REGION).publish(
                TopicArn=arn, Message=body, MessageAttributes=sns_attributes
            )
            return
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[1])["QueueUrl"]
        sqs_attributes: Any = attributes
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=sqs_attributes)


class SimulationError(Exception):
    """The simulation itself cannot go on (not a function error: those are recorded, not raised)."""


class UnsupportedError(SimulationError):
    """A template setting or option the simulator cannot run; found before any step runs."""
