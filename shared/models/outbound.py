"""Outbound messages: what we send, to whom, on which channel, and what became of it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

OutboundKind = Literal[
    "ack", "update", "ooo", "reminder", "auto_resolve", "csat", "transcript", "reply", "escalation"
]
OutboxStatus = Literal["pending", "retry", "sent", "failed", "suppressed"]


class OutboundMessage(BaseModel):
    """One message to a customer, recorded in the outbox (keyed for exactly-once) before it is sent."""

    key: str = Field(min_length=1)
    """Idempotency key: the same key is never sent twice."""
    ticket_id: str | None = None
    channel: str
    kind: OutboundKind
    to: str
    subject: str | None = None
    text: str
    html: str | None = None
    automatic: bool = True
    author: str = "helpdesk"
    from_address: str | None = None
    """Email: our address; SMS: the origination number the customer wrote to; social: our account."""
    reply_to: str | None = None
    in_reply_to: str | None = None
    references: list[str] = Field(default_factory=list)
    headers: dict[str, str] = Field(default_factory=dict)
    created_at: datetime
    status: OutboxStatus = "pending"
    attempts: int = 0
    provider_id: str | None = None
    error: str | None = None
    segments: int | None = None
    promised_due_at: datetime | None = None
    """An acknowledgement: the time it promised an answer by (the ticket's first-response due time)."""
    request_digest: str | None = None
    """An agent's reply: the digest of the request (text, channel) that queued it, so a retry under
    the same Idempotency-Key is told apart from another reply reusing the key."""
    template: str | None = None
    """The approved WhatsApp template (`name:language`) the text goes out in, instead of free-form
    text, when the 24-hour customer service window is closed."""
