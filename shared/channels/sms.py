"""SMS: inbound End User Messaging messages, consent keywords, phone numbers and segment counts (no I/O)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from shared.errors import HelpdeskError, InvalidEventError
from shared.models.inbound import (
    ConsentAction,
    ConsentEvent,
    InboundAttachment,
    InboundMessage,
)
from shared.models.ticket import Channel, Identity, IdentityKind

SmsEncoding = Literal["GSM-7", "UCS-2"]

OPT_OUT_KEYWORDS = frozenset(
    {"ARRET", "CANCEL", "END", "OPT-OUT", "OPTOUT", "QUIT", "REMOVE", "STOP", "TD", "UNSUBSCRIBE"}
)
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP"})
HELP_KEYWORDS = frozenset({"HELP"})

# GSM 03.38 default alphabet (ESC, 0x1B, left out: it only introduces the extension table).
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Characters of the extension table: each costs two septets (ESC + code).
_GSM_EXTENSION = frozenset("\f^{}\\[~]|€")

_GSM_SINGLE, _GSM_PART = 160, 153
_UCS2_SINGLE, _UCS2_PART = 70, 67

_TRAILING_PUNCTUATION = ".!?,;:"
_PHONE_CHARS = re.compile(r"^\+?[0-9 ().\-/]+$")
_SHORT_CODE = re.compile(r"^[0-9]{3,8}$")


class InvalidPhoneNumberError(HelpdeskError):
    """A phone number cannot be read as a valid number in E.164 form."""


def normalize_phone(value: str, default_region: str | None = None, *, strict: bool = True) -> str:
    """The number in E.164 form (`+14255550182`).

    Numbers without a leading `+` need `default_region` (ISO 3166 code such as "US").
    Letters (vanity numbers) are refused. With `strict`, the number must be valid for its
    region in libphonenumber's metadata; otherwise it only has to be a possible length.
    Raises InvalidPhoneNumberError.
    """
    import phonenumbers  # lazy: keeps cold starts of functions that never parse numbers fast

    text = value.strip() if isinstance(value, str) else ""
    if not text or not _PHONE_CHARS.match(text):
        raise InvalidPhoneNumberError(f"not a phone number: {value!r}")
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        hint = "" if text.startswith("+") or default_region else " (no country code and no default region)"
        raise InvalidPhoneNumberError(f"not a phone number: {value!r}{hint}") from exc
    ok = phonenumbers.is_valid_number(number) if strict else phonenumbers.is_possible_number(number)
    if not ok:
        raise InvalidPhoneNumberError(f"not a valid phone number: {value!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def classify_keyword(body: str) -> tuple[ConsentAction, str] | None:
    """The consent action and keyword when the whole body is an opt-out, opt-in or HELP keyword.

    Case-insensitive; surrounding whitespace and trailing punctuation (`Stop!`) are allowed,
    other words are not (`stop sending me these` is a message, not a keyword).
    """
    word = body.strip().rstrip(_TRAILING_PUNCTUATION + " \t\r\n").strip().upper()
    if word in OPT_OUT_KEYWORDS:
        return ConsentAction.OPT_OUT, word
    if word in OPT_IN_KEYWORDS:
        return ConsentAction.OPT_IN, word
    if word in HELP_KEYWORDS:
        return ConsentAction.HELP, word
    return None


def parse_sms(
    payload: Mapping[str, Any] | str | bytes,
    *,
    received_at: datetime,
    default_region: str | None = None,
) -> InboundMessage | ConsentEvent:
    """An inbound SMS (the JSON End User Messaging publishes to SNS) as a message or a consent event.

    The payload carries no time of its own: `received_at` (the SNS notification's Timestamp)
    becomes the message time. A body that is a consent keyword becomes a ConsentEvent.
    MMS media URLs (`mediaUrls`, when present) become attachments.
    Raises InvalidEventError for a payload without the documented fields and
    InvalidPhoneNumberError when the customer's number is not valid.
    """
    data = _as_mapping(payload)
    if received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    origination = _required_str(data, "originationNumber")
    destination = _required_str(data, "destinationNumber")
    message_id = _required_str(data, "inboundMessageId")
    raw_body = data.get("messageBody")
    if raw_body is not None and not isinstance(raw_body, str):
        raise InvalidEventError("SMS payload: 'messageBody' is not a string")
    body: str = raw_body or ""

    sender = Identity(kind=IdentityKind.PHONE, value=normalize_phone(origination, default_region))
    recipient = _our_number(destination, default_region)

    consent = classify_keyword(body)
    if consent is not None:
        action, keyword = consent
        return ConsentEvent(
            action=action,
            keyword=keyword,
            sender=sender,
            recipient=recipient,
            provider_message_id=message_id,
            at=received_at,
            text=body,
        )

    metadata: dict[str, str] = {}
    registered = data.get("messageKeyword")
    if isinstance(registered, str) and registered:
        metadata["keyword"] = registered
    previous = data.get("previousPublishedMessageId")
    return InboundMessage(
        channel=Channel.SMS,
        provider_message_id=message_id,
        conversation_key=f"sms:{recipient}:{sender.value}",
        sender=sender,
        recipient=recipient,
        sent_at=received_at,
        text=body,
        attachments=_media(data),
        reply_to=previous if isinstance(previous, str) and previous else None,
        metadata=metadata,
    )


def segments(text: str) -> tuple[SmsEncoding, int]:
    """The encoding an outbound SMS needs and how many segments it takes.

    GSM-7 when every character is in the GSM 03.38 default alphabet or its extension table
    (extension characters such as `€` or `{` cost two septets): 160 septets in one segment,
    153 per segment when split. Otherwise UCS-2: 70 UTF-16 units in one segment, 67 when split
    (characters outside the BMP, such as most emoji, take two). A split never cuts an escape
    sequence or a surrogate pair. The empty text takes no segment.
    """
    if not text:
        return "GSM-7", 0
    if all(char in _GSM_BASIC or char in _GSM_EXTENSION for char in text):
        costs = [2 if char in _GSM_EXTENSION else 1 for char in text]
        return "GSM-7", _count(costs, _GSM_SINGLE, _GSM_PART)
    costs = [2 if ord(char) > 0xFFFF else 1 for char in text]
    return "UCS-2", _count(costs, _UCS2_SINGLE, _UCS2_PART)


def _count(costs: list[int], single: int, part: int) -> int:
    if sum(costs) <= single:
        return 1
    count, used = 1, 0
    for cost in costs:
        if used + cost > part:
            count += 1
            used = 0
        used += cost
    return count


def _as_mapping(payload: Mapping[str, Any] | str | bytes) -> Mapping[str, Any]:
    if isinstance(payload, str | bytes):
        try:
            payload = json.loads(payload)
        except ValueError as exc:
            raise InvalidEventError("SMS payload is not JSON") from exc
    if not isinstance(payload, Mapping):
        raise InvalidEventError("SMS payload is not a JSON object")
    return payload


def _required_str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidEventError(f"SMS payload: missing or empty '{key}'")
    return value.strip()


def _our_number(value: str, default_region: str | None) -> str:
    """Our number in E.164 form; short codes and unreadable values are kept as given."""
    if _SHORT_CODE.match(value):
        return value
    try:
        return normalize_phone(value, default_region, strict=False)
    except InvalidPhoneNumberError:
        return value


def _media(data: Mapping[str, Any]) -> list[InboundAttachment]:
    urls = data.get("mediaUrls")
    if not isinstance(urls, list):
        return []
    import mimetypes

    attachments = []
    for url in urls:
        if isinstance(url, str) and url:
            mime, _ = mimetypes.guess_type(url.split("?", 1)[0])
            attachments.append(InboundAttachment(type="media", url=url, mime_type=mime))
    return attachments
