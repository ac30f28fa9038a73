"""Moto resources created from template.yaml, and delivery of AWS-shaped events to real handlers."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from shared import clock
from shared.config import load_config
from shared.dal.items import reset_connections
from shared.dal.repository import DynamoRepository, get_repository
from shared.logic.outbound import OutboundContext
from shared.models.config import HelpdeskConfig
from shared.settings import reset_settings
from simulator.moto_speed import faster_moto
from simulator.resources import Deployment, deploy

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"


class FakeLambdaContext:
    function_name = "helpdesk-inboundemailfunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:helpdesk-inboundemailfunction"
    memory_limit_in_mb = 512
    aws_request_id = "52fdfc07-2182-454f-963f-5f0f9a621d72"
    log_group_name = "/aws/lambda/helpdesk-inboundemailfunction"
    log_stream_name = "2026/03/02/[$LATEST]abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def use_config(text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HelpdeskConfig:
    """Make `text` the helpdesk config every handler loads (`HELPDESK_CONFIG`); returns it parsed."""
    path = tmp_path / "helpdesk.yaml"
    path.write_text(text)
    monkeypatch.setenv("HELPDESK_CONFIG", str(path))
    _reset_process_caches()
    return load_config(str(path))


def outbound_context(
    repository: Any, config: HelpdeskConfig, senders: dict[str, Any] | None = None
) -> OutboundContext:
    """The outbound use cases' context for the test stack's support address, sending through
    `senders` (none: queueing only)."""
    boto3.client("ses").verify_domain_identity(Domain="support.example.com")
    return OutboundContext(
        repository=repository,
        config=config,
        support_addresses=["support@support.example.com"],
        support_domain="support.example.com",
        senders=senders or {},
    )


def _reset_process_caches() -> None:
    from aws_lambda_powertools.utilities import parameters

    from functions.inbound_email import app
    from functions.inbound_sms import app as sms_app
    from functions.social_webhook import app as webhook_app

    app._email_context.cache_clear()
    sms_app._chat_context.cache_clear()
    from functions.agent_api import app as agent_app
    from functions.sla_sweep_worker import app as worker_app
    from functions.sla_sweeper import app as sweeper_app

    agent_app._agent_context.cache_clear()
    agent_app._blob_store.cache_clear()
    from functions.auto_followup import app as followup_app
    from functions.reports import app as reports_app
    from functions.reports import schedule as reports_schedule
    from functions.route_ticket import app as route_app

    followup_app._outbound_context.cache_clear()
    reports_app._config.cache_clear()
    reports_schedule._schedule_context.cache_clear()
    route_app._routing_context.cache_clear()
    sweeper_app._queue.cache_clear()
    worker_app._context.cache_clear()
    webhook_app._chat_context.cache_clear()
    parameters.clear_caches()
    get_repository.cache_clear()
    load_config.cache_clear()
    reset_settings()
    reset_connections()


SWEEP_COUNTS = ("read", "stale", "warnings", "breaches", "escalations", "skipped", "followups")


def run_sweep(moment: Any) -> dict[str, Any]:
    """One scheduled SLA sweep at `moment`, as deployed (decision 118): the sla_sweeper handler
    queues a task a shard, then each task on the sweep queue is run as sla_sweep_worker runs it
    (its use case). A task that fails stays on the queue (invisible, as after a failed delivery)
    and its error is listed in `errors`; the others run. Returns the dispatcher's answer with the
    workers' counts summed (`read`, `breaches`, ..., `routed_by_sweep`, `tasks_run`)."""
    from functions.sla_sweep_worker import app as worker_app
    from functions.sla_sweeper import app
    from shared.logic.sweep_dispatch import run_task
    from shared.models.sweep import SweepTask

    clock.set_clock(lambda: moment)
    event = {"scheduledTime": clock.iso(moment), "executionId": "e7a1", "attemptNumber": "1"}
    result: dict[str, Any] = app.handler(event, FakeLambdaContext())
    totals: dict[str, Any] = dict.fromkeys([*SWEEP_COUNTS, "routed_by_sweep", "tasks_run"], 0)
    errors: list[Exception] = []
    sqs = boto3.client("sqs")
    url = app._queue().queue_url
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            task = SweepTask.model_validate_json(message["Body"])
            try:
                outcome = run_task(task, worker_app._context(), moment, lambda: False)
            except Exception as exc:  # the worker reports the record failed: SQS redelivers it
                errors.append(exc)
                continue
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            for name in SWEEP_COUNTS:
                totals[name] += getattr(outcome.result, name)
            totals["routed_by_sweep"] += len(outcome.routed)
            totals["tasks_run"] += 1
    return {**result, **totals, "errors": errors}


@dataclass
class EmailHarness:
    """Delivers raw emails the way SES + SNS do, to the real inbound_email handler."""

    deployment: Deployment
    repository: DynamoRepository
    deliveries: int = 0

    @property
    def bucket(self) -> str:
        return self.deployment.name("InboundMailBucket")

    def notification(
        self,
        raw: bytes,
        *,
        ses_id: str | None = None,
        at: str | None = None,
        recipients: list[str] | None = None,
        verdicts: dict[str, str] | None = None,
        dmarc_policy: str = "reject",
    ) -> dict[str, Any]:
        note = json.loads((EVENTS / "ses_s3_action_notification.json").read_text())
        if at is None:  # each delivery a minute after the previous one, so messages keep their order
            self.deliveries += 1
            at = clock.iso(clock.parse_iso("2026-03-02T09:15:02.412Z") + timedelta(minutes=self.deliveries))
        ses_id = ses_id or uuid.uuid4().hex
        note["mail"]["messageId"] = ses_id
        note["mail"]["timestamp"] = at
        note["receipt"]["timestamp"] = at
        note["receipt"]["action"]["bucketName"] = self.bucket
        note["receipt"]["action"]["objectKey"] = f"raw/{ses_id}"
        if recipients is not None:
            note["receipt"]["recipients"] = recipients
        for name, status in (verdicts or {}).items():
            note["receipt"][f"{name}Verdict"] = {"status": status}
            if name == "dmarc" and status == "FAIL":
                note["receipt"]["dmarcPolicy"] = dmarc_policy  # SES adds it only when DMARC fails
        boto3.client("s3").put_object(Bucket=self.bucket, Key=f"raw/{ses_id}", Body=raw)
        return note

    def sns_event(self, notification: dict[str, Any]) -> dict[str, Any]:
        event = json.loads((EVENTS / "sns_lambda_event.json").read_text())
        record = copy.deepcopy(event["Records"][0])
        record["Sns"]["Message"] = json.dumps(notification)
        ses_id = str((notification.get("mail") or {}).get("messageId", uuid.uuid4().hex))
        record["Sns"]["MessageId"] = str(uuid.uuid5(uuid.NAMESPACE_URL, ses_id))
        record["Sns"]["TopicArn"] = self.deployment.name("InboundMailTopic")
        event["Records"] = [record]
        return event

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        from functions.inbound_email import app

        result: dict[str, Any] = app.handler(event, FakeLambdaContext())
        return result

    def deliver(self, raw: bytes, **kwargs: Any) -> dict[str, Any]:
        """Store the raw mail, notify the handler once, and return its single result."""
        result = self.invoke(self.sns_event(self.notification(raw, **kwargs)))
        outcome: dict[str, Any] = result["results"][0]
        return outcome


@pytest.fixture
def deployment(monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    with mock_aws(), faster_moto():
        deployed = deploy(ROOT / "template.yaml")
        for function in (
            "AutoFollowupFunction",
            "SlaSweeperFunction",
            "SlaSweepWorkerFunction",
            "AgentApiFunction",
            "InboundSmsFunction",
            "SocialWebhookFunction",
            "InboundEmailFunction",
            "ReportsFunction",
            "ReportsScheduleFunction",
        ):
            for name, value in deployed.functions[function].environment.items():
                monkeypatch.setenv(name, value)
        _reset_process_caches()
        yield deployed
        _reset_process_caches()
        clock.set_clock(None)


@pytest.fixture
def email(deployment: Deployment) -> EmailHarness:
    repository = DynamoRepository(deployment.name("TicketsTable"), "us-east-1")
    return EmailHarness(deployment=deployment, repository=repository)


def mail(
    *,
    sender: str = '"Jane Doe" <jane.doe@customer.example>',
    to: str = "Acme Support <support@support.example.com>",
    subject: str = "Printer not working",
    body: str = "Hello,\n\nmy printer shows error E42 since this morning.\n\nJane\n",
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
    cc: str | None = None,
) -> bytes:
    """A small RFC 5322 message for tests."""
    lines = [
        f"From: {sender}",
        f"To: {to}",
        *([f"Cc: {cc}"] if cc else []),
        f"Subject: {subject}",
        "Date: Mon, 02 Mar 2026 09:15:00 +0000",
        f"Message-ID: {message_id or f'<{uuid.uuid4().hex}@mail.customer.example>'}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        *[f"{name}: {value}" for name, value in (headers or {}).items()],
        "",
        body,
    ]
    return "\r\n".join(lines).encode("utf-8")
