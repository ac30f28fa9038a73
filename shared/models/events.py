"""Inbound AWS event payloads, as AWS documents them (parsed at the edge with Powertools)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

VerdictStatus = Literal["PASS", "FAIL", "GRAY", "PROCESSING_FAILED", "DISABLED"]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class SesVerdict(_Lenient):
    status: VerdictStatus


class SesAction(_Lenient):
    type: str
    topic_arn: str | None = Field(default=None, alias="topicArn")
    bucket_name: str | None = Field(default=None, alias="bucketName")
    object_key: str | None = Field(default=None, alias="objectKey")
    encoding: str | None = None


class SesReceipt(_Lenient):
    timestamp: datetime
    recipients: list[str] = Field(default_factory=list)
    spam_verdict: SesVerdict | None = Field(default=None, alias="spamVerdict")
    virus_verdict: SesVerdict | None = Field(default=None, alias="virusVerdict")
    spf_verdict: SesVerdict | None = Field(default=None, alias="spfVerdict")
    dkim_verdict: SesVerdict | None = Field(default=None, alias="dkimVerdict")
    dmarc_verdict: SesVerdict | None = Field(default=None, alias="dmarcVerdict")
    dmarc_policy: str | None = Field(default=None, alias="dmarcPolicy")
    action: SesAction


# The header fields SES copies from the mail (`mail.headers`, `commonHeaders`, `source`,
# `destination`) are written by the sender and only ever a hint: the raw MIME is the truth. So a
# value of the wrong shape is read as absent instead of rejecting the whole notification (which
# would dead-letter a readable mail); the fields the pipeline needs stay strict.


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def _header_items(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    return [
        item
        for item in value
        if isinstance(item, dict) and isinstance(item.get("name"), str) and isinstance(item.get("value"), str)
    ]


def _mapping_or_empty(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


OptionalText = Annotated[str | None, BeforeValidator(_text_or_none)]
Texts = Annotated[list[str], BeforeValidator(_texts)]


class SesHeader(_Lenient):
    name: str
    value: str


class SesCommonHeaders(_Lenient):
    return_path: OptionalText = Field(default=None, alias="returnPath")
    from_: Texts = Field(default_factory=list, alias="from")
    to: Texts = Field(default_factory=list)
    subject: OptionalText = None
    message_id: OptionalText = Field(default=None, alias="messageId")


class SesMail(_Lenient):
    timestamp: datetime
    source: Annotated[str, BeforeValidator(lambda value: value if isinstance(value, str) else "")] = ""
    message_id: str = Field(alias="messageId", min_length=1)
    destination: Texts = Field(default_factory=list)
    headers_truncated: Annotated[bool, BeforeValidator(lambda value: value is True)] = Field(
        default=False, alias="headersTruncated"
    )
    headers: Annotated[list[SesHeader], BeforeValidator(_header_items)] = Field(default_factory=list)
    common_headers: Annotated[SesCommonHeaders, BeforeValidator(_mapping_or_empty)] = Field(
        default_factory=SesCommonHeaders, alias="commonHeaders"
    )


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_lone_surrogates(value: Any) -> Any:
    """`value` with every lone UTF-16 surrogate in its strings replaced by U+FFFD."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_without_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_without_lone_surrogates(key): _without_lone_surrogates(item) for key, item in value.items()}
    return value


class SesNotification(_Lenient):
    """The SES receipt notification SNS delivers (S3 action: no `content`; SNS action: `content`)."""

    notification_type: Literal["Received"] = Field(alias="notificationType")
    mail: SesMail
    receipt: SesReceipt
    content: str | None = None

    @classmethod
    def from_sns_message(cls, message: str) -> SesNotification:
        """The notification in an SNS `Message` (JSON text).

        Raises ValueError (a pydantic ValidationError included) when it is not JSON or not a
        receipt notification. JSON escapes of lone surrogates (`\\udce9`, what a writer that kept
        raw 8-bit header bytes as surrogate escapes produces) are accepted and read as U+FFFD, so
        every string can be encoded and stored; pydantic's own JSON reader rejects them.
        """
        return cls.model_validate(_without_lone_surrogates(json.loads(message)))
