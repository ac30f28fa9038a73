"""AWS-shaped payloads the simulator delivers, built the way the services build them.

- SES receipt: the raw MIME as SES stores it (CRLF, with the headers SES adds) and the receipt
  notification (`mail`, `receipt`) for an S3 or SNS action;
- SNS: the Lambda event wrapping one notification;
- DynamoDB Streams: a `get_records` record turned into what Lambda delivers;
- schedules: EventBridge "Scheduled Event" and EventBridge Scheduler input with its placeholders;
- Lambda: a context object, and the records async invocations and stream mappings send to destinations.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import Message as CompatMessage
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.policy import default as default_policy
from email.utils import getaddresses
from typing import Any

from shared import clock as shared_clock
from simulator.template import ACCOUNT_ID, REGION

SES_HEADER_LIMIT = 10 * 1024
_SES_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_NAMESPACE = uuid.UUID("6f1d3c52-8a1b-4f0e-9d55-2c7e0b1a9e41")


def iso_ms(moment: datetime) -> str:
    """`2025-01-14T10:15:02.412Z`, the timestamp format AWS events use."""
    return shared_clock.iso(moment)


def stable_uuid(*parts: object) -> str:
    """A UUID derived from `parts`: the same inputs give the same id (deterministic runs)."""
    name = "\x1f".join(str(p) for p in parts)
    # Inputs may hold lone surrogates, which uuid5 cannot encode: their bytes are spelled out instead.
    name = name.encode("utf-8", "surrogatepass").decode("utf-8", "backslashreplace")
    return str(uuid.uuid5(_NAMESPACE, name))


def ses_message_id(seed: bytes) -> str:
    """An SES-like message id (40 lower-case letters and digits), derived from `seed`."""
    digest = hashlib.sha256(seed).digest() + hashlib.sha256(b"ses" + seed).digest()
    return "".join(_SES_ALPHABET[b % len(_SES_ALPHABET)] for b in digest[:40])


LONE_SURROGATE = re.compile("[\ud800-\udfff]")
"""A lone surrogate: a JSON string can hold one, UTF-8 cannot."""


def utf8_json(value: Any, **options: Any) -> str:
    """JSON text that is valid UTF-8, as AWS services write it: characters as they are, except a lone
    surrogate (a JSON string can hold one), which only its `\\uXXXX` escape can carry."""
    text = json.dumps(value, ensure_ascii=False, **options)
    return LONE_SURROGATE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


# -- SES ----------------------------------------------------------------------------------------
def to_crlf(raw: bytes) -> bytes:
    """Line ends as SMTP delivers them (SES stores what it received)."""
    return re.sub(rb"(?<!\r)\n", b"\r\n", raw.replace(b"\r\r\n", b"\r\n"))


def _compat(raw: bytes) -> CompatMessage:
    # SES reads the header section only; parsing the body would recurse once per MIME level.
    return BytesHeaderParser(policy=compat32).parsebytes(raw)


def header_text(value: str) -> str:
    """A header value parsed from bytes, as text SES would publish: raw 8-bit bytes read as UTF-8, and
    a byte sequence that is not UTF-8 as U+FFFD (SES publishes valid UTF-8 JSON: no lone surrogates)."""
    try:
        data = value.encode("utf-8", "surrogateescape")  # the email package's stand-ins for raw bytes
    except UnicodeEncodeError:
        data = value.encode("utf-8", "surrogatepass")
    return data.decode("utf-8", "replace")


def _unfold(value: str) -> str:
    return re.sub(r"\r?\n(?=[ \t])", "", value)


def _addresses(values: list[str]) -> list[str]:
    return [address for _, address in getaddresses(values) if address]


def _written(message: CompatMessage, name: str) -> list[str]:
    """Every value of header `name` as written (unfolded, its raw bytes read as UTF-8)."""
    return [header_text(_unfold(value)) for key, value in message.raw_items() if key.lower() == name.lower()]


def envelope_sender(raw: bytes) -> str:
    """The envelope MAIL FROM: Return-Path when present (`<>` for bounces gives ""), else From."""
    message = _compat(raw)
    return_path = _written(message, "Return-Path")
    if return_path:
        found = _addresses(return_path[:1])
        return found[0] if found else ""
    found = _addresses(_written(message, "From"))
    return found[0] if found else ""


def header_recipients(raw: bytes) -> list[str]:
    """The To and Cc addresses of the message, in order, without duplicates."""
    message = _compat(raw)
    values = [value for name in ("To", "Cc") for value in _written(message, name)]
    return list(dict.fromkeys(_addresses(values)))


def mime_headers(raw: str | bytes) -> dict[str, str]:
    """The header section of a message as it was written (unfolded; a repeated name keeps its first value)."""
    data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else raw
    headers: dict[str, str] = {}
    for name, value in _compat(data).raw_items():
        headers.setdefault(header_text(name), header_text(_unfold(value)).strip())
    return headers


@dataclass(frozen=True)
class Verdicts:
    spam: str = "PASS"
    virus: str = "PASS"
    spf: str = "PASS"
    dkim: str = "PASS"
    dmarc: str = "PASS"
    dmarc_policy: str = "none"
    """Reported (as SES does) only when DMARC fails."""


def ses_stored_message(
    raw: bytes, ses_id: str, at: datetime, recipients: list[str], verdicts: Verdicts
) -> bytes:
    """The object SES writes to S3: the received message with SES's trace and verdict headers on top."""
    message = to_crlf(raw)
    sender = envelope_sender(message)
    domain = sender.rpartition("@")[2] or "unknown"
    when = at.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000 (UTC)")
    dmarc_policy = f" (p={verdicts.dmarc_policy.upper()})" if verdicts.dmarc == "FAIL" else ""
    lines = []
    if _compat(message).get("Return-Path") is None:
        lines.append(f"Return-Path: <{sender}>")
    lines += [
        f"Received: from mail.{domain} (mail.{domain} [203.0.113.25])\r\n"
        f" by inbound-smtp.{REGION}.amazonaws.com with SMTP id {ses_id}\r\n"
        f" for {', '.join(recipients)};\r\n {when}",
        f"X-SES-Spam-Verdict: {verdicts.spam}",
        f"X-SES-Virus-Verdict: {verdicts.virus}",
        f"Received-SPF: {verdicts.spf.lower()} (spfCheck: domain of {domain} designates 203.0.113.25 as "
        f"permitted sender) client-ip=203.0.113.25; envelope-from={sender}; helo=mail.{domain};",
        f"Authentication-Results: amazonses.com;\r\n spf={verdicts.spf.lower()} (spfCheck: {sender});\r\n"
        f" dkim={verdicts.dkim.lower()} header.i=@{domain};\r\n"
        f" dmarc={verdicts.dmarc.lower()}{dmarc_policy} header.from={domain};",
        "X-SES-RECEIPT: "
        + base64.b64encode(hashlib.sha256(b"receipt" + ses_id.encode()).digest() * 2).decode(),
        "X-SES-DKIM-SIGNATURE: a=rsa-sha256; q=dns/txt; c=relaxed/simple; s=ug7nbtf4gccmlpwj322ax3p6ow6yfsug;"
        f" d=amazonses.com; t={int(at.timestamp())}; h=X-SES-RECEIPT:Date:From:To:Subject:Message-ID;"
        " bh=" + base64.b64encode(hashlib.sha256(message).digest()).decode() + ";",
    ]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8") + message


def _common_headers(raw: bytes, source: str) -> dict[str, Any]:
    parsed = BytesHeaderParser(policy=default_policy).parsebytes(raw)
    compat = _compat(raw)
    common: dict[str, Any] = {"returnPath": source}

    def as_written(name: str) -> list[str]:
        return [value.strip() for value in _written(compat, name)]

    def address_list(name: str) -> list[str] | None:
        if compat.get(name) is None:
            return None
        try:
            values = parsed.get_all(name) or []
            result: list[str] = []
            for value in values:
                addresses: tuple[Address, ...] = value.addresses
                result += [header_text(str(address)) for address in addresses]
        except (AttributeError, ValueError, TypeError, IndexError):
            # Not a list of addresses Python can rebuild (say, a display name that decodes to CR LF):
            # SES still reports the header, as it was written.
            return as_written(name)
        return result

    for key, name in (
        ("from", "From"),
        ("sender", "Sender"),
        ("replyTo", "Reply-To"),
        ("to", "To"),
        ("cc", "Cc"),
        ("bcc", "Bcc"),
    ):
        found = address_list(name)
        if found is not None:
            common[key] = found
    for key, name in (("date", "Date"), ("messageId", "Message-ID"), ("subject", "Subject")):
        if compat.get(name) is None:
            continue
        try:
            common[key] = header_text(_unfold(str(parsed.get(name)))).strip()
        except (ValueError, TypeError, IndexError, AttributeError):
            common[key] = as_written(name)[0]
    return common


def ses_mail(stored: bytes, ses_id: str, at: datetime) -> dict[str, Any]:
    """The notification's `mail` object for a stored message (valid UTF-8 text throughout)."""
    message = _compat(stored)
    source = envelope_sender(stored)
    headers: list[dict[str, str]] = []
    size = 0
    truncated = False
    for name, value in message.raw_items():
        entry = {"name": header_text(name), "value": header_text(_unfold(value))}
        size += len(entry["name"].encode()) + len(entry["value"].encode()) + 4
        if size > SES_HEADER_LIMIT:
            truncated = True
            break
        headers.append(entry)
    return {
        "timestamp": iso_ms(at),
        "source": source,
        "messageId": ses_id,
        "destination": header_recipients(stored),
        "headersTruncated": truncated,
        "headers": headers,
        "commonHeaders": _common_headers(stored, source),
    }


def ses_receipt(
    at: datetime,
    recipients: list[str],
    verdicts: Verdicts,
    action: dict[str, Any],
    processing_ms: int,
) -> dict[str, Any]:
    receipt: dict[str, Any] = {
        "timestamp": iso_ms(at),
        "processingTimeMillis": processing_ms,
        "recipients": recipients,
        "spamVerdict": {"status": verdicts.spam},
        "virusVerdict": {"status": verdicts.virus},
        "spfVerdict": {"status": verdicts.spf},
        "dkimVerdict": {"status": verdicts.dkim},
        "dmarcVerdict": {"status": verdicts.dmarc},
    }
    if verdicts.dmarc == "FAIL":
        receipt["dmarcPolicy"] = verdicts.dmarc_policy
    receipt["action"] = action
    return receipt


def ses_notification(
    mail: dict[str, Any], receipt: dict[str, Any], content: str | None = None
) -> dict[str, Any]:
    """The JSON SES publishes to a topic: `content` only for an SNS action."""
    notification: dict[str, Any] = {"notificationType": "Received", "mail": mail, "receipt": receipt}
    if content is not None:
        notification["content"] = content
    return notification


# -- SNS ----------------------------------------------------------------------------------------
def sns_lambda_event(
    topic_arn: str,
    subscription_id: str,
    message: str,
    at: datetime,
    message_id: str,
    subject: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The event SNS gives a subscribed Lambda function for one notification."""
    region = topic_arn.split(":")[3]
    subscription_arn = f"{topic_arn}:{subscription_id}"
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription_arn,
                "Sns": {
                    "Type": "Notification",
                    "MessageId": message_id,
                    "TopicArn": topic_arn,
                    "Subject": subject,
                    "Message": message,
                    "Timestamp": iso_ms(at),
                    "SignatureVersion": "1",
                    "Signature": base64.b64encode(hashlib.sha256(message.encode()).digest() * 8).decode(),
                    "SigningCertUrl": f"https://sns.{region}.amazonaws.com/"
                    "SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem",
                    "UnsubscribeUrl": f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe"
                    f"&SubscriptionArn={subscription_arn}",
                    "MessageAttributes": dict(attributes or {}),
                },
            }
        ]
    }


# -- DynamoDB Streams ---------------------------------------------------------------------------
def _lambda_json(value: Any) -> Any:
    """Binary attribute values (`B`) as Lambda delivers them: base64 text; anything else as text."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    return str(value)


def stream_record(record: Mapping[str, Any], stream_arn: str, created: datetime) -> dict[str, Any]:
    """A `get_records` record as Lambda delivers it: with eventSourceARN, epoch-second times and
    binary values in base64."""
    shaped: dict[str, Any] = json.loads(json.dumps(record, default=_lambda_json))
    shaped["eventVersion"] = "1.1"
    shaped["eventSourceARN"] = stream_arn
    shaped.setdefault("awsRegion", stream_arn.split(":")[3])
    shaped["dynamodb"]["ApproximateCreationDateTime"] = int(created.timestamp())
    return shaped


# -- schedules ----------------------------------------------------------------------------------
def scheduled_event(rule_arn: str, at: datetime) -> dict[str, Any]:
    """What an EventBridge schedule rule delivers (SAM `Type: Schedule` without Input)."""
    return {
        "version": "0",
        "id": stable_uuid(rule_arn, at.isoformat()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": rule_arn.split(":")[3],
        "resources": [rule_arn],
        "detail": {},
    }


def scheduler_input(template: str | None, schedule_arn: str, at: datetime, attempt: int = 1) -> Any:
    """EventBridge Scheduler's payload: Input with its `<aws.scheduler.*>` placeholders filled in."""
    if template is None:
        return {}
    values = {
        "<aws.scheduler.schedule-arn>": schedule_arn,
        "<aws.scheduler.scheduled-time>": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "<aws.scheduler.execution-id>": stable_uuid(schedule_arn, at.isoformat()),
        "<aws.scheduler.attempt-number>": str(attempt),
    }
    text = template
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


# -- Lambda -------------------------------------------------------------------------------------
@dataclass
class LambdaContext:
    """The context object Lambda passes to a Python handler (the attributes Powertools reads)."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    timeout_seconds: int = 3
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    started: float = 0.0
    identity: Any = None
    client_context: Any = None

    def get_remaining_time_in_millis(self) -> int:
        import time

        elapsed = (time.monotonic() - self.started) if self.started else 0.0
        return max(0, int(self.timeout_seconds * 1000 - elapsed * 1000))


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"


def error_payload(error: BaseException) -> dict[str, Any]:
    """The responsePayload Lambda records for an unhandled Python exception."""
    return {
        "errorMessage": str(error),
        "errorType": type(error).__name__,
        "requestId": "",
        "stackTrace": traceback.format_tb(error.__traceback__),
    }


def async_destination_record(
    *,
    function_name: str,
    request_id: str,
    at: datetime,
    payload: Any,
    attempts: int,
    error: BaseException | None,
    response: Any = None,
) -> dict[str, Any]:
    """The invocation record an asynchronous invocation sends to its OnFailure / OnSuccess destination."""
    response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
    if error is not None:
        response_context["functionError"] = "Unhandled"
        response_payload: Any = {**error_payload(error), "requestId": request_id}
    else:
        response_payload = response
    return {
        "version": "1.0",
        "timestamp": iso_ms(at),
        "requestContext": {
            "requestId": request_id,
            "functionArn": f"{function_arn(function_name)}:$LATEST",
            "condition": "RetriesExhausted" if error is not None else "Success",
            "approximateInvokeCount": attempts,
        },
        "requestPayload": payload,
        "responseContext": response_context,
        "responsePayload": response_payload,
    }


def stream_failure_record(
    *,
    function_name: str,
    request_id: str,
    at: datetime,
    records: list[dict[str, Any]],
    shard_id: str,
    stream_arn: str,
    attempts: int,
    function_error: bool,
    condition: str = "RetryAttemptsExhausted",
) -> dict[str, Any]:
    """What a stream event source mapping sends to its OnFailure destination: batch metadata, no payload."""
    first, last = records[0]["dynamodb"], records[-1]["dynamodb"]

    def when(value: Any) -> str:
        return iso_ms(datetime.fromtimestamp(float(value), UTC))

    response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
    if function_error:
        response_context["functionError"] = "Unhandled"
    return {
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn(function_name),
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "responseContext": response_context,
        "version": "1.0",
        "timestamp": iso_ms(at),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": first["SequenceNumber"],
            "endSequenceNumber": last["SequenceNumber"],
            "approximateArrivalOfFirstRecord": when(first["ApproximateCreationDateTime"]),
            "approximateArrivalOfLastRecord": when(last["ApproximateCreationDateTime"]),
            "batchSize": len(records),
            "streamArn": stream_arn,
        },
    }
