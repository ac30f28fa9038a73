"""The helpdesk config: one YAML document, validated with clear errors (see docs/config.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TicketsConfig(_Strict):
    number_start: int = Field(default=1, ge=1)
    """The first ticket number of a fresh deployment."""


class EmailConfig(_Strict):
    reopen_closed_within_days: float = Field(default=14, ge=0)
    """A reply to a ticket closed at most this long ago reopens it; later ones open a new linked ticket."""
    subject_token_prefix: str = Field(default="#", min_length=1, max_length=8)
    """Tickets are tokenised in subjects as `[<prefix><number>]`, e.g. `[#42]`."""
    quarantine_spam: bool = True
    quarantine_virus: bool = True
    max_inline_body_bytes: int = Field(default=64_000, ge=1_000, le=300_000)
    """Message bodies larger than this are kept in S3, with a preview in the table."""


class ChatConfig(_Strict):
    reopen_resolved_within_hours: float = Field(default=72, ge=0)
    """An SMS or social message to a conversation resolved at most this long ago reopens its ticket;
    later ones (and any after closing) open a new ticket, linked to the old one."""
    default_sms_region: str | None = Field(default=None, min_length=2, max_length=2)
    """ISO country whose national format is accepted for SMS numbers without a country code."""


class HelpdeskConfig(_Strict):
    version: int = Field(default=1, ge=1, le=1)
    tickets: TicketsConfig = Field(default_factory=TicketsConfig)
    email: EmailConfig = Field(default_factory=EmailConfig)
    chat: ChatConfig = Field(default_factory=ChatConfig)
