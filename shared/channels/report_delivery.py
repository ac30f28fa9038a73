"""Where scheduled reports go (the digest page goes to S3 through `shared.storage.S3ObjectWriter`):
the digest email through SES (one email to
the digest's addresses, HTML and text parts) and range alerts to the alarm topic (SNS). Clients are
injectable; every send failure is classified as the outbox's are (`classify_aws_error`)."""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING, Any

from shared.channels.outbound import PERMANENT_CODES, SendError, classify_aws_error, send_client_config
from shared.models.text import single_line

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sns import SNSClient


def digest_mime(sender: str, to: Sequence[str], subject: str, html: str, text: str, at: float) -> bytes:
    """The digest email: text and HTML alternatives, marked as automatic mail (RFC 3834)."""
    mime = EmailMessage()
    mime["From"] = sender
    mime["To"] = ", ".join(to)
    mime["Subject"] = single_line(subject).strip()
    mime["Date"] = formatdate(at, usegmt=True)
    mime["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    mime["Auto-Submitted"] = "auto-generated"
    mime["X-Auto-Response-Suppress"] = "All"
    mime.set_content(text)
    mime.add_alternative(html, subtype="html")
    return bytes(mime)


class SesDigestMailer:
    """Sends a digest as one raw email through SES v2 to all its addresses; returns SES's id."""

    def __init__(self, sender: str, client: SESV2Client | None = None) -> None:
        self.sender = sender
        self._client = client

    @property
    def client(self) -> SESV2Client:
        if self._client is None:
            import boto3

            self._client = boto3.client("sesv2", config=send_client_config())
        return self._client

    def send_digest(self, to: Sequence[str], subject: str, html: str, text: str, at: float) -> str:
        try:
            raw = digest_mime(self.sender, to, subject, html, text, at)
        except Exception as exc:  # built before any request: nothing left, and it never will
            raise SendError(f"the digest email could not be built: {type(exc).__name__}: {exc}") from exc
        try:
            response: Any = self.client.send_email(
                FromEmailAddress=self.sender,
                Destination={"ToAddresses": list(to)},
                Content={"Raw": {"Data": raw}},
            )
        except Exception as exc:
            raise classify_aws_error(exc, PERMANENT_CODES) from exc
        return str(response["MessageId"])


class SnsAlertPublisher:
    """Publishes a range alert to the alarm topic; returns SNS's message id."""

    def __init__(self, topic_arn: str, client: SNSClient | None = None) -> None:
        self.topic_arn = topic_arn
        self._client = client

    @property
    def client(self) -> SNSClient:
        if self._client is None:
            import boto3

            self._client = boto3.client("sns", config=send_client_config())
        return self._client

    def publish_alert(self, subject: str, message: str) -> str:
        try:
            response: Any = self.client.publish(
                TopicArn=self.topic_arn,
                Subject=single_line(subject).strip()[:100],
                Message=message,
                MessageAttributes={"kind": {"DataType": "String", "StringValue": "report_range_alert"}},
            )
        except Exception as exc:
            raise classify_aws_error(exc, PERMANENT_CODES) from exc
        return str(response["MessageId"])
