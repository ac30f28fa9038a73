"""DynamoDB requests per inbound email, SMS and webhook message, counted at the botocore client, on moto.

The budget is at most 3 requests for a new-ticket email and a threaded reply, for an SMS that
opens a conversation, one that follows up and a STOP keyword, and per message of a Messenger
webhook (a new conversation, a follow-up, and each message of a batched delivery). The count
patches `botocore.client.BaseClient._make_api_call`, which every client goes through: boto3's
and the private botocore client PynamoDB creates from its own session, whichever is in use.
Retries happen below that call, so this counts requests as the code issues them. Other AWS
calls (S3 for email, Secrets Manager for the webhook secrets) are reported beside the count.

Resources come from template.yaml (simulator.resources), and every input reaches the real
handler the way AWS delivers it: each email as raw MIME at `raw/<sesMessageId>` in the inbound
bucket plus an SNS-wrapped S3-action notification; each SMS as the SNS notification End User
Messaging publishes; each webhook as an API Gateway HTTP API (payload 2.0) event, signed with
the Meta app secret put into the template's `WebhookSecret`. Fixtures: tests/events/.

Counts are printed against the budget, never asserted.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import hmac
import io
import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "tests" / "events"
WEBHOOKS = EVENTS / "webhooks"
BUDGET = 3
# the fixtures' test-only secret (tests/events/webhooks/README.md)
META_APP_SECRET = "test-meta-app-secret"  # noqa: S105
REGION = "us-east-1"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._offline import use_offline_aws  # noqa: E402

use_offline_aws()  # before anything reads the environment

import boto3  # noqa: E402
from botocore.client import BaseClient  # noqa: E402
from moto import mock_aws  # noqa: E402

from shared import clock  # noqa: E402
from simulator.resources import deploy  # noqa: E402

if TYPE_CHECKING:
    from shared.dal.repository import DynamoRepository


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
    event: dict[str, Any] = json.loads((WEBHOOKS / "sns_sms_inbound.json").read_text(encoding="utf-8"))
    record = event["Records"][0]["Sns"]
    payload = json.loads(record["Message"])
    payload.update(messageBody=body, inboundMessageId=message_id)
    record.update(Message=json.dumps(payload), MessageId=f"sns-{message_id}", Timestamp=at)
    return event


def meta_post(raw: bytes) -> dict[str, Any]:
    """`POST /webhooks/meta` as the HTTP API delivers it, signed over the exact bytes like Meta does."""
    event: dict[str, Any] = json.loads(
        (WEBHOOKS / "apigw_v2_meta_messenger_post.json").read_text(encoding="utf-8")
    )
    digest = hmac.new(META_APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    event["body"] = raw.decode("utf-8")
    event["headers"].update({"x-hub-signature-256": f"sha256={digest}", "content-length": str(len(raw))})
    return event


def messenger_follow_up(text: str, mid: str, timestamp_ms: int) -> bytes:
    """The Messenger fixture's customer writing again: same page and sender, a new message id."""
    body: dict[str, Any] = json.loads((WEBHOOKS / "meta_messenger_text.body").read_text(encoding="utf-8"))
    entry = body["entry"][0]
    entry["time"] = timestamp_ms + 300
    entry["messaging"][0].update(timestamp=timestamp_ms, message={"mid": mid, "text": text})
    return json.dumps(body, separators=(",", ":")).encode("utf-8")  # Meta sends compact JSON


@dataclass
class Measured:
    """What one handler invocation did: its outcomes and the AWS requests it made."""

    outcomes: Counter[str]
    counter: RequestCounter
    ignored: int = 0
    """Items of a webhook delivery deliberately not stored (reactions, echoes...)."""

    @property
    def messages(self) -> int:
        return sum(self.outcomes.values())

    @property
    def requests(self) -> int:
        return sum(self.counter.dynamodb().values())


def invoke(handler: Callable[..., dict[str, Any]], event: dict[str, Any]) -> Measured:
    """Invoke the handler once, counting its requests; outcomes per stored message."""
    counter = RequestCounter()
    # the handler's EMF metrics go to stdout; keep them out of the report
    with counter.counting(), contextlib.redirect_stdout(io.StringIO()):
        result = handler(event, FakeLambdaContext())
    if "statusCode" in result:  # an HTTP API response: {"stored": {outcome: count}, ...}
        body = json.loads(result["body"])
        if result["statusCode"] != 200 or "stored" not in body:
            raise RuntimeError(f"webhook answered {result['statusCode']}: {result['body']}")
        outcomes = Counter({str(k): int(v) for k, v in body["stored"].items()})
        return Measured(outcomes, counter, int(body.get("ignored") or 0))
    return Measured(Counter(str(r["outcome"]) for r in result["results"]), counter)


def report(
    label: str, handler: Callable[..., dict[str, Any]], event: dict[str, Any], budget: int | None
) -> Measured:
    """Invoke the handler once and print one line: requests per message against the budget."""
    measured = invoke(handler, event)
    ddb = measured.counter.dynamodb()
    total, messages = measured.requests, max(measured.messages, 1)
    per_message = total / messages
    verdict = "" if budget is None else ("  within budget" if per_message <= budget else "  OVER BUDGET")
    outcome = ", ".join(f"{name} {n}" for name, n in sorted(measured.outcomes.items()))
    if measured.ignored:
        outcome += f", ignored {measured.ignored}"
    if measured.messages == 1 and not measured.ignored:
        outcome = next(iter(measured.outcomes))
        count = f"{total} request{'' if total == 1 else 's'}"
    else:
        count = f"{total} requests for {messages} messages = {per_message:.2f} per message"
    detail = ", ".join(f"{op} {n}" for op, n in sorted(ddb.items()))
    print(f"  {label:40s} -> {outcome:15s} {count} ({detail}){verdict}")
    others = ", ".join(f"{op} {n}" for op, n in sorted(measured.counter.others().items()))
    if others:
        print(f"  {'':40s}    other AWS calls (not counted): {others}")
    return measured


def main() -> int:
    with mock_aws():
        deployment = deploy(ROOT / "template.yaml")
        for function in ("InboundEmailFunction", "InboundSmsFunction", "SocialWebhookFunction"):
            os.environ.update(deployment.functions[function].environment)
        os.environ.update({"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"})
        # imported once the environment is set
        from functions.inbound_email import app as email_app
        from functions.inbound_sms import app as sms_app
        from functions.social_webhook import app as webhook_app
        from shared.dal.repository import DynamoRepository

        repository = DynamoRepository(deployment.name("TicketsTable"), REGION)
        email_requests(deployment.name("InboundMailBucket"), deployment.name("InboundMailTopic"), email_app)
        sms_requests(repository, sms_app)
        boto3.client("secretsmanager", region_name=REGION).put_secret_value(
            SecretId=deployment.name("WebhookSecret"),
            SecretString=json.dumps(
                {
                    "meta_app_secret": META_APP_SECRET,
                    "meta_verify_token": "test-meta-verify-token",
                    "x_consumer_secret": "test-x-consumer-secret",
                }
            ),
        )
        webhook_requests(webhook_app)
    return 0


def email_requests(bucket: str, topic_arn: str, email_app: Any) -> None:
    inbox = Inbox(bucket, topic_arn)
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
    print(f"DynamoDB requests per inbound email (real handler on moto; budget <= {BUDGET} where marked)")
    for label, event, budget in events:
        report(label, email_app.handler, event, budget)


def sms_requests(repository: DynamoRepository, sms_app: Any) -> None:
    print(f"DynamoDB requests per inbound SMS (real handler on moto; budget <= {BUDGET} where marked)")
    first_sms = sms_event("My package is late.", "sms-0001", "2026-03-02T13:00:00.000Z")
    report("new conversation (new customer)", sms_app.handler, first_sms, BUDGET)
    follow_up = sms_event("Any news?", "sms-0002", "2026-03-02T13:05:00.000Z")
    report("follow-up on the open conversation", sms_app.handler, follow_up, BUDGET)
    report("duplicate SMS delivery", sms_app.handler, first_sms, None)
    stop = sms_event("STOP", "sms-0003", "2026-03-02T13:10:00.000Z")
    report("STOP keyword (known customer)", sms_app.handler, stop, BUDGET)
    stranger = sms_event("STOP", "sms-0004", "2026-03-02T13:11:00.000Z")
    payload = json.loads(stranger["Records"][0]["Sns"]["Message"])
    stranger["Records"][0]["Sns"]["Message"] = json.dumps({**payload, "originationNumber": "+14255550199"})
    report("STOP keyword (unknown number)", sms_app.handler, stranger, None)
    ticket = repository.scan_tickets()[-1]
    repository.set_status(ticket.id, "closed", clock.parse_iso("2026-03-02T14:00:00Z"), ticket.version)
    later = sms_event("New problem: wrong item.", "sms-0005", "2026-03-09T09:00:00.000Z")
    report("SMS after its ticket was closed", sms_app.handler, later, None)


def webhook_requests(webhook_app: Any) -> None:
    print(
        f"DynamoDB requests per webhook message (real handler on moto; budget <= {BUDGET} per message"
        " where marked; Secrets Manager is cached for 5 minutes, so only the first call reads it)"
    )
    text = (WEBHOOKS / "meta_messenger_text.body").read_bytes()
    report("Messenger text (new conversation)", webhook_app.handler, meta_post(text), BUDGET)
    follow_up = messenger_follow_up("Any update on my order?", "m_BenchFollowUp0000000001", 1736849800000)
    report("Messenger text (follow-up)", webhook_app.handler, meta_post(follow_up), BUDGET)
    report("same delivery replayed", webhook_app.handler, meta_post(follow_up), None)
    batch = (WEBHOOKS / "meta_messenger_batch.body").read_bytes()
    report("batched delivery (two customers)", webhook_app.handler, meta_post(batch), BUDGET)


if __name__ == "__main__":
    sys.exit(main())
