"""Senders, one per channel: email through SES (raw MIME), SMS through SNS. Clients are injectable."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

from shared.errors import HelpdeskError
from shared.models.outbound import OutboundMessage
from shared.models.text import single_line

if TYPE_CHECKING:
    from botocore.config import Config
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sns import SNSClient

SendOutcome = Literal["retry", "failed", "unknown"]


class SendError(HelpdeskError):
    """A send failed. `outcome` says what the outbox does with it:

    - retry: nothing reached the customer and waiting may help (the request never left us, or the
      provider refused it, e.g. throttling);
    - failed: nothing reached the customer and trying again cannot help;
    - unknown: the provider may have delivered it (no answer after the request was sent, or a
      server error while it processed it); never resent, the ticket is flagged for an agent.
    """

    def __init__(self, message: str, permanent: bool = True, *, unknown: bool = False) -> None:
        super().__init__(message)
        self.outcome: SendOutcome = "unknown" if unknown else "failed" if permanent else "retry"

    @property
    def permanent(self) -> bool:
        """Whether the outbox must not send it again (failed or unknown)."""
        return self.outcome != "retry"


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
THROTTLING_CODES: Final = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "KMSThrottlingException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
    }
)
"""AWS refused the request before acting on it; waiting helps (503 ServiceUnavailable included:
AWS's common errors call it a "temporary failure of the server" that failed the request)."""

SEND_CONNECT_TIMEOUT: Final = 3.0
SEND_READ_TIMEOUT: Final = 20.0


def send_client_config() -> Config:
    """The botocore config for send clients: botocore's own retries off (a retried read timeout
    could deliver a message twice; the outbox decides what is retried) and a short connect timeout."""
    from botocore.config import Config

    return Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=SEND_CONNECT_TIMEOUT,
        read_timeout=SEND_READ_TIMEOUT,
    )


def classify_aws_error(
    exc: Exception,
    permanent_codes: frozenset[str] | set[str],
    transient_codes: frozenset[str] | set[str] = THROTTLING_CODES,
    detail: str | None = None,
) -> SendError:
    """A boto3 send failure as a SendError, the one place AWS send failures are classified.

    Connection failures before the request went out (refused, DNS, connect timeout, TLS) are
    retried; a read timeout or a connection closed after the request was sent is unknown. A service
    error: throttling and 503 are retried, `permanent_codes` fail, other 5xx (InternalFailure: "the
    request processing has failed") are unknown, since SendEmail, Publish and SendTextMessage take
    no idempotency token; any other 4xx was refused, so nothing went out and it is retried.
    `detail` replaces the default error text.
    """
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        HTTPClientError,
        ParamValidationError,
    )
    from botocore.exceptions import ConnectionError as BotoConnectionError

    if isinstance(exc, ClientError):
        response: Any = exc.response or {}
        code = str(response.get("Error", {}).get("Code", type(exc).__name__))
        status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        detail = detail or f"{code}: {exc}"
        if code in transient_codes or status in (429, 503):
            return SendError(detail, permanent=False)
        if code in permanent_codes:
            return SendError(detail, permanent=True)
        if status >= 500 or code.startswith("Internal"):
            return SendError(
                f"{detail} (the provider failed while processing the request and may have sent it; "
                "not resent)",
                unknown=True,
            )
        return SendError(detail, permanent=False)
    detail = detail or f"{type(exc).__name__}: {exc}"
    if isinstance(exc, BotoConnectionError):  # refused, DNS, connect timeout, TLS: never sent
        return SendError(detail, permanent=False)
    if isinstance(exc, HTTPClientError):  # read timeout, connection closed: it may have been sent
        return SendError(f"{detail} (the request was sent; not resent)", unknown=True)
    if isinstance(exc, ParamValidationError):
        return SendError(detail, permanent=True)
    if isinstance(exc, BotoCoreError):  # credentials, endpoint resolution: before any request
        return SendError(detail, permanent=False)
    return SendError(f"{detail} (unexpected; it may have been sent, not resent)", unknown=True)


def _classify(exc: Exception) -> SendError:
    return classify_aws_error(exc, PERMANENT_CODES)


AUTO_REPLIED_KINDS: Final = frozenset({"ack", "ooo"})
"""Automatic mail that answers a customer's message (RFC 3834 `auto-replied`); the rest (updates,
reminders, auto-resolution, surveys, transcripts, escalations) is `auto-generated` by time or events."""


def build_mime(message: OutboundMessage) -> bytes:
    """The MIME message: text and HTML parts, threading headers, Auto-Submitted on automatic mail."""
    mime = EmailMessage()
    mime["From"] = message.from_address or "support@localhost"
    mime["To"] = message.to
    if message.reply_to:
        mime["Reply-To"] = message.reply_to
    mime["Subject"] = single_line(message.subject or "").strip()
    mime["Date"] = formatdate(message.created_at.timestamp(), usegmt=True)
    mime["Message-ID"] = make_msgid(
        domain=(message.from_address or "localhost").rpartition("@")[2] or "localhost"
    )
    if message.in_reply_to:
        mime["In-Reply-To"] = message.in_reply_to
    if message.references:
        mime["References"] = " ".join(message.references)
    if message.automatic:
        mime["Auto-Submitted"] = "auto-replied" if message.kind in AUTO_REPLIED_KINDS else "auto-generated"
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

            self._client = boto3.client("sesv2", config=send_client_config())
        return self._client

    def send(self, message: OutboundMessage) -> str:
        try:
            raw = build_mime(message)
        except Exception as exc:  # built here, before any request: nothing left, and it never will
            raise SendError(f"the email could not be built: {type(exc).__name__}: {exc}") from exc
        try:
            response: Any = self.client.send_email(
                FromEmailAddress=message.from_address or "",
                Destination={"ToAddresses": [message.to]},
                Content={"Raw": {"Data": raw}},
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

            self._client = boto3.client("sns", config=send_client_config())
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
