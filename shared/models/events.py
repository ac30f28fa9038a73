"""Inbound AWS event payloads, as AWS documents them (parsed at the edge with Powertools)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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


class SesHeader(_Lenient):
    name: str
    value: str


class SesCommonHeaders(_Lenient):
    return_path: str | None = Field(default=None, alias="returnPath")
    from_: list[str] = Field(default_factory=list, alias="from")
    to: list[str] = Field(default_factory=list)
    subject: str | None = None
    message_id: str | None = Field(default=None, alias="messageId")


class SesMail(_Lenient):
    timestamp: datetime
    source: str = ""
    message_id: str = Field(alias="messageId", min_length=1)
    destination: list[str] = Field(default_factory=list)
    headers_truncated: bool = Field(default=False, alias="headersTruncated")
    headers: list[SesHeader] = Field(default_factory=list)
    common_headers: SesCommonHeaders = Field(default_factory=SesCommonHeaders, alias="commonHeaders")


class SesNotification(_Lenient):
    """The SES receipt notification SNS delivers (S3 action: no `content`; SNS action: `content`)."""

    notification_type: Literal["Received"] = Field(alias="notificationType")
    mail: SesMail
    receipt: SesReceipt
    content: str | None = None
