"""DynamoDB requests per inbound email (and SMS), counted at the botocore client, on moto.

The budget is at most 3 requests for a new-ticket email and for a threaded reply. The count
patches `botocore.client.BaseClient._make_api_call`, which every client goes through: boto3's
and the private botocore client PynamoDB creates from its own session, whichever is in use.
Retries happen below that call, so this counts requests as the code issues them.

Resources come from template.yaml (simulator.resources), and each email is delivered the way
SES and SNS deliver it: the raw MIME at `raw/<sesMessageId>` in the inbound bucket, then an
SNS-wrapped S3-action notification to `functions.inbound_email.app.handler`.

Counts are printed against the budget, never asserted.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "tests" / "events"
BUDGET = 3
REGION = "us-east-1"

# Set before anything reads them: a fresh process, no real credentials, no tracing.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "HelpdeskBench",
        "POWERTOOLS_SERVICE_NAME": "helpdesk-bench",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
)
os.environ.pop("AWS_PROFILE", None)
warnings.filterwarnings("ignore", message="No application metrics to publish")
os.environ.pop("AWS_ENDPOINT_URL", None)
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from botocore.client import BaseClient  # noqa: E402
from moto import mock_aws  # noqa: E402

from shared import clock  # noqa: E402
from simulator.resources import deploy  # noqa: E402


class RequestCounter:
    """Counts API calls per (service, operation) made by any botocore client while active."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()

    def dynamodb(self) -> Counter[str]:
        return Counter({op: n for (service, op), n in self.calls.items() if service == "dynamodb"})

    def others(self) -> Counter[str]:
        return Counter({f"{s}:{op}": n for (s, op), n in self.calls.items() if s != "dynamodb"})

    @contextlib.contextmanager
    def counting(self) -> Iterator[RequestCounter]:
        original = BaseClient.__dict__["_make_api_call"]

        def counted(client: Any, operation_name: str, api_params: Any) -> Any:
            self.calls[(client.meta.service_model.service_name, operation_name)] += 1
            return original(client, operation_name, api_params)

        with mock.patch.object(BaseClient, "_make_api_call", counted):
            yield self


class FakeLambdaContext:
    function_name = "helpdesk-inboundemailfunction"
    function_version = "$LATEST"
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:helpdesk-inboundemailfunction"
    memory_limit_in_mb = 512
    aws_request_id = "bench-request"
    log_group_name = "/aws/lambda/helpdesk-inboundemailfunction"
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def raw_mail(message_id: str, subject: str, body: str, in_reply_to: str | None = None) -> bytes:
    lines = [
        'From: "Jane Doe" <jane.doe@customer.example>',
        "To: Acme Support <support@support.example.com>",
        f"Subject: {subject}",
        "Date: Mon, 02 Mar 2026 09:15:00 +0000",
        f"Message-ID: {message_id}",
        *([f"In-Reply-To: {in_reply_to}", f"References: {in_reply_to}"] if in_reply_to else []),
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
        body,
    ]
    return "\r\n".join(lines).encode("utf-8")


class Inbox:
    """Delivers raw emails as SES (S3 action + SNS notification) does, to the real handler."""

    def __init__(self, bucket: str, topic_arn: str) -> None:
        self.bucket = bucket
        self.topic_arn = topic_arn
        self.s3 = boto3.client("s3", region_name=REGION)

    def event(self, raw: bytes, ses_id: str, at: str, spam: bool = False) -> dict[str, Any]:
        note = json.loads((EVENTS / "ses_s3_action_notification.json").read_text(encoding="utf-8"))
        if spam:
            note["receipt"]["spamVerdict"] = {"status": "FAIL"}
        note["mail"]["messageId"] = ses_id
        note["mail"]["timestamp"] = note["receipt"]["timestamp"] = at
        note["receipt"]["action"].update(
            bucketName=self.bucket, objectKey=f"raw/{ses_id}", topicArn=self.topic_arn
        )
        self.s3.put_object(Bucket=self.bucket, Key=f"raw/{ses_id}", Body=raw)
        envelope: dict[str, Any] = json.loads((EVENTS / "sns_lambda_event.json").read_text(encoding="utf-8"))
        record = copy.deepcopy(envelope["Records"][0])
        record["Sns"].update(Message=json.dumps(note), MessageId=f"sns-{ses_id}", TopicArn=self.topic_arn)
        envelope["Records"] = [record]
        return envelope


def sms_event(body: str, message_id: str, at: str) -> dict[str, Any]:
    """An End User Messaging inbound SMS as SNS delivers it (from the documented fixture)."""
    event: dict[str, Any] = json.loads(
        (EVENTS / "webhooks" / "sns_sms_inbound.json").read_text(encoding="utf-8")
    )
    record = event["Records"][0]["Sns"]
    payload = json.loads(record["Message"])
    payload.update(messageBody=body, inboundMessageId=message_id)
    record.update(Message=json.dumps(payload), MessageId=f"sns-{message_id}", Timestamp=at)
    return event


def report(
    label: str, handler: Callable[..., dict[str, Any]], event: dict[str, Any], budget: int | None
) -> None:
    """Invoke the handler once, counting its requests, and print one line."""
    counter = RequestCounter()
    # the handler's EMF metrics go to stdout; keep them out of the report
    with counter.counting(), contextlib.redirect_stdout(io.StringIO()):
        result = handler(event, FakeLambdaContext())
    outcome = str(result["results"][0]["outcome"])
    ddb = counter.dynamodb()
    total = sum(ddb.values())
    verdict = "" if budget is None else ("  within budget" if total <= budget else "  OVER BUDGET")
    detail = ", ".join(f"{op} {n}" for op, n in sorted(ddb.items()))
    others = ", ".join(f"{op} {n}" for op, n in sorted(counter.others().items()))
    print(f"  {label:40s} -> {outcome:15s} {total} requests ({detail}){verdict}")
    if others:
        print(f"  {'':40s}    other AWS calls: {others}")


def main() -> int:
    with mock_aws():
        deployment = deploy(ROOT / "template.yaml")
        os.environ.update(deployment.functions["InboundEmailFunction"].environment)
        os.environ.update({"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"})
        # imported once the environment is set
        from functions.inbound_email import app as email_app
        from functions.inbound_sms import app as sms_app
        from shared.dal.repository import DynamoRepository

        inbox = Inbox(deployment.name("InboundMailBucket"), deployment.name("InboundMailTopic"))
        first = raw_mail("<first@mail.customer.example>", "Printer not working", "It shows E42.")
        reply = raw_mail(
            "<second@mail.customer.example>",
            "Re: Printer not working",
            "Still broken after a restart.",
            in_reply_to="<first@mail.customer.example>",
        )
        other = raw_mail("<third@mail.customer.example>", "Invoice question", "Where is my invoice?")
        spam = raw_mail("<prize@bulk.example>", "You won", "Claim your prize.")
        emails = [
            ("new-ticket email (new customer)", first, "ses-0001", "2026-03-02T09:15:02.412Z", BUDGET),
            ("threaded reply (In-Reply-To)", reply, "ses-0002", "2026-03-02T10:20:00.000Z", BUDGET),
            ("duplicate delivery (same SES id)", reply, "ses-0002", "2026-03-02T10:20:00.000Z", None),
            ("same Message-ID, new SES id", reply, "ses-0003", "2026-03-02T10:21:00.000Z", None),
            ("new-ticket email (known customer)", other, "ses-0004", "2026-03-02T11:00:00.000Z", BUDGET),
            ("spam verdict FAIL (quarantine)", spam, "ses-0005", "2026-03-02T12:00:00.000Z", None),
        ]
        events = [
            (label, inbox.event(raw, ses_id, at, spam=raw is spam), budget)
            for label, raw, ses_id, at, budget in emails
        ]
        print("DynamoDB requests per inbound email (real handler on moto; budget <= 3 where marked)")
        for label, event, budget in events:
            report(label, email_app.handler, event, budget)

        print("DynamoDB requests per inbound SMS (for comparison; no budget set)")
        first_sms = sms_event("My package is late.", "sms-0001", "2026-03-02T13:00:00.000Z")
        report("first SMS (new customer)", sms_app.handler, first_sms, None)
        report(
            "SMS on the open conversation",
            sms_app.handler,
            sms_event("Any news?", "sms-0002", "2026-03-02T13:05:00.000Z"),
            None,
        )
        report("duplicate SMS delivery", sms_app.handler, first_sms, None)
        repository = DynamoRepository(deployment.name("TicketsTable"), REGION)
        ticket = repository.scan_tickets()[-1]
        repository.set_status(ticket.id, "closed", clock.parse_iso("2026-03-02T14:00:00Z"), ticket.version)
        later = sms_event("New problem: wrong item.", "sms-0003", "2026-03-09T09:00:00.000Z")
        report("SMS after its ticket was closed", sms_app.handler, later, None)
        report(
            "STOP keyword (known customer)",
            sms_app.handler,
            sms_event("STOP", "sms-0004", "2026-03-09T09:05:00.000Z"),
            None,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
