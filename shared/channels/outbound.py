"""Senders, one per channel: email through SES (raw MIME), SMS through SNS. Clients are injectable."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING, Any, Protocol

from shared.errors import HelpdeskError
from shared.models.outbound import OutboundMessage

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sns import SNSClient


class SendError(HelpdeskError):
    """A send failed; `permanent` says whether retrying can help."""

    def __init__(self, message: str, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class Sender(Protocol):
    def send(self, message: OutboundMessage) -> str:
        """Send and return the provider's id of the sent message (email: our Message-ID)."""
        ...


PERMANENT_CODES = {
    "MessageRejected",
    "MailFromDomainNotVerifiedException",
    "AccountSuspendedException",
    "InvalidParameter",
    "InvalidParameterValue",
    "InvalidParameterException",
    "BadRequestException",
    "NotFoundException",
    "OptedOut",
}


def _classify(exc: Exception) -> SendError:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
    return SendError(f"{code}: {exc}", permanent=code in PERMANENT_CODES)


def build_mime(message: OutboundMessage) -> bytes:
    """The MIME message: text and HTML parts, threading headers, Auto-Submitted on automatic mail."""
    mime = EmailMessage()
    mime["From"] = message.from_address or "support@localhost"
    mime["To"] = message.to
    if message.reply_to:
        mime["Reply-To"] = message.reply_to
    mime["Subject"] = message.subject or ""
    mime["Date"] = formatdate(message.created_at.timestamp(), usegmt=True)
    mime["Message-ID"] = make_msgid(
        domain=(message.from_address or "localhost").rpartition("@")[2] or "localhost"
    )
    if message.in_reply_to:
        mime["In-Reply-To"] = message.in_reply_to
    if message.references:
        mime["References"] = " ".join(message.references)
    if message.automatic:
        mime["Auto-Submitted"] = "auto-replied" if message.kind != "escalation" else "auto-generated"
        mime["X-Auto-Response-Suppress"] = "All"
        mime["Precedence"] = "auto_reply"
    for name, value in message.headers.items():
        mime[name] = value
    mime.set_content(message.text)
    if message.html:
        mime.add_alternative(message.html, subtype="html")
    return bytes(mime)


class SesEmailSender:
    """Sends raw MIME through SES v2; SES replaces our Message-ID, so the one it returns is kept."""

    def __init__(self, region: str, client: SESV2Client | None = None) -> None:
        self.region = region
        self._client = client

    @property
    def client(self) -> SESV2Client:
        if self._client is None:
            import boto3

            self._client = boto3.client("sesv2")
        return self._client

    def send(self, message: OutboundMessage) -> str:
        try:
            response: Any = self.client.send_email(
                FromEmailAddress=message.from_address or "",
                Destination={"ToAddresses": [message.to]},
                Content={"Raw": {"Data": build_mime(message)}},
            )
        except Exception as exc:  # every client error is classified for the outbox
            raise _classify(exc) from exc
        host = "email.amazonses.com" if self.region == "us-east-1" else f"{self.region}.amazonses.com"
        return f"<{response['MessageId']}@{host}>"


class SnsSmsSender:
    """Sends SMS through SNS with the origination number the customer wrote to."""

    def __init__(self, client: SNSClient | None = None) -> None:
        self._client = client

    @property
    def client(self) -> SNSClient:
        if self._client is None:
            import boto3

            self._client = boto3.client("sns")
        return self._client

    def send(self, message: OutboundMessage) -> str:
        attributes: dict[str, Any] = {
            "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"},
        }
        if message.from_address:
            attributes["AWS.MM.SMS.OriginationNumber"] = {
                "DataType": "String",
                "StringValue": message.from_address,
            }
        try:
            response: Any = self.client.publish(
                PhoneNumber=message.to, Message=message.text, MessageAttributes=attributes
            )
        except Exception as exc:  # classified for the outbox
            raise _classify(exc) from exc
        return str(response["MessageId"])
