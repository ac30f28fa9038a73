"""What the email parser extracts from one raw MIME message (no I/O)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MULTIPLE_FROM_DEFECT = "multiple-from"
"""A mail with more than one From header: which one a DMARC check read is unknown."""


class EmailAddress(BaseModel):
    """A mailbox from an address header: display name (decoded) and address (as written)."""

    model_config = ConfigDict(frozen=True)

    name: str = ""
    address: str

    @property
    def normalized(self) -> str:
        """The address as identities key it: trimmed and lower-cased."""
        return self.address.strip().lower()


class ParsedAttachment(BaseModel):
    """One attachment, inline image or attached message, with its decoded bytes."""

    name: str
    content_type: str
    size: int
    data: bytes = Field(repr=False)
    content_id: str | None = None
    disposition: Literal["attachment", "inline"] = "attachment"


class ParsedEmail(BaseModel):
    """A decoded email, ready for threading and storage.

    `text` is what a reader should see (quotes and signature removed), `full_text` the whole
    plain-text body, `html` the sanitised HTML alternative when the mail had one.
    Message ids keep their angle brackets (`<id@host>`), as they appear in headers.
    """

    message_id: str | None = None
    in_reply_to: list[str] = Field(default_factory=list)
    references: list[str] = Field(default_factory=list)
    subject: str = ""
    from_: EmailAddress | None = Field(default=None, alias="from")
    from_header: str = ""
    reply_to: list[EmailAddress] = Field(default_factory=list)
    to: list[EmailAddress] = Field(default_factory=list)
    cc: list[EmailAddress] = Field(default_factory=list)
    sender: EmailAddress | None = None
    return_path: str | None = None
    date: datetime | None = None
    content_type: Literal["text/plain", "text/html"] = "text/plain"
    text: str = ""
    full_text: str = ""
    html: str | None = None
    attachments: list[ParsedAttachment] = Field(default_factory=list)
    headers: dict[str, str] = Field(default_factory=dict)
    automatic: bool = False
    automatic_reason: str | None = None
    bounce: bool = False
    bounced_message_ids: list[str] = Field(default_factory=list)
    defects: list[str] = Field(default_factory=list)

    model_config = ConfigDict(populate_by_name=True)
