"""SMS through AWS End User Messaging (`pinpoint-sms-voice-v2` `SendTextMessage`).

The alternative to SNS `Publish` (shared.channels.outbound.SnsSmsSender), chosen in the config
(`outbound.sms_sender`). It sends from the number the customer wrote to, as a transactional
message, and tags the message with the ticket and outbox key so delivery events name them.
"""

from __future__ import annotations

from typing import Any

from shared.channels.outbound import SendError, classify_aws_error, send_client_config
from shared.models.outbound import OutboundMessage

MAX_BODY = 1600
"""SendTextMessage's `MessageBody` limit, in characters."""

TRANSIENT_CODES = frozenset({"ThrottlingException", "ServiceQuotaExceededException"})
"""Refusals that waiting can lift. `InternalServerException` (500) is not one: the send may have
gone out, and SendTextMessage takes no idempotency token, so its outcome is unknown."""
PERMANENT_CODES = frozenset(
    {"ValidationException", "AccessDeniedException", "ResourceNotFoundException", "ConflictException"}
)


def _error(exc: Exception) -> SendError:
    """The one place End User Messaging send failures are classified (see classify_aws_error)."""
    response = getattr(exc, "response", {}) or {}
    error = response.get("Error", {})
    code = error.get("Code", type(exc).__name__)
    reason = response.get("Reason") or error.get("Reason")
    detail = f"{code}{f' ({reason})' if reason else ''}: {exc}"
    if code == "ConflictException" and reason == "DESTINATION_PHONE_NUMBER_OPTED_OUT":
        return SendError(f"the number opted out of SMS from us: {detail}", permanent=True)
    return classify_aws_error(exc, PERMANENT_CODES, TRANSIENT_CODES, detail=detail)


class EumSmsSender:
    """Sends SMS with End User Messaging from the origination number the customer wrote to."""

    def __init__(
        self,
        client: Any = None,
        configuration_set: str | None = None,
        max_price: str | None = None,
    ) -> None:
        self._client = client
        self.configuration_set = configuration_set
        self.max_price = max_price

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("pinpoint-sms-voice-v2", config=send_client_config())
        return self._client

    def send(self, message: OutboundMessage) -> str:
        if not 1 <= len(message.text) <= MAX_BODY:
            raise SendError(
                f"an SMS body must have 1 to {MAX_BODY} characters, this one has {len(message.text)}",
                permanent=True,
            )
        request: dict[str, Any] = {
            "DestinationPhoneNumber": message.to,
            "MessageBody": message.text,
            "MessageType": "TRANSACTIONAL",
            "Context": {"outbox_key": message.key[:256], "ticket_id": (message.ticket_id or "")[:256]},
        }
        if message.from_address:
            request["OriginationIdentity"] = message.from_address
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        if self.max_price:
            request["MaxPrice"] = self.max_price
        try:
            response = self.client.send_text_message(**request)
        except Exception as exc:  # every client error is classified for the outbox
            raise _error(exc) from exc
        return str(response["MessageId"])
