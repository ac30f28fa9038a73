"""Tickets, their messages and history, customers and quarantine entries (no I/O).

These are the shapes the rest of the code and the simulator's state use; `shared.dal` maps
them to DynamoDB items.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.models.text import OneLine


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    MESSENGER = "messenger"
    INSTAGRAM = "instagram"
    WHATSAPP = "whatsapp"
    X = "x"


class TicketStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    ON_HOLD = "on_hold"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    NOTE = "note"


class IdentityKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    MESSENGER = "messenger"
    INSTAGRAM = "instagram"
    WHATSAPP = "whatsapp"
    X = "x"


class Attachment(BaseModel):
    """An attachment stored in the inbound bucket."""

    name: str
    content_type: str
    size: int
    key: str | None = None
    content_id: str | None = None
    inline: bool = False
    url: str | None = None
    """Where the provider keeps it (social CDN links expire), when not stored by us."""
    media_id: str | None = None


TargetName = Literal["first_response", "next_response", "periodic_update", "resolution"]


class SlaTarget(BaseModel):
    """One clock of a ticket's SLA: when it is due, when it warns, and what became of it."""

    name: TargetName
    due_at: datetime | None = None
    state: Literal["pending", "paused", "met", "breached"] = "pending"
    warn_at: datetime | None = None
    started_at: datetime | None = None
    minutes: int = 0
    business: bool = True
    remaining_seconds: float | None = None
    """Business or calendar seconds left when paused (the clock resumes from here)."""
    warned_at: datetime | None = None
    met_at: datetime | None = None
    breached_at: datetime | None = None


class Sla(BaseModel):
    policy: str | None = None
    calendar: str | None = None
    escalation_level: int = 0
    targets: list[SlaTarget] = Field(default_factory=list)
    paused_at: datetime | None = None
    reminder_at: datetime | None = None
    """When a ticket pending on the customer gets its reminder."""
    auto_resolve_at: datetime | None = None
    """When a ticket still pending after the reminder is resolved."""

    def target(self, name: str) -> SlaTarget | None:
        return next((t for t in self.targets if t.name == name), None)


class TicketMerge(BaseModel):
    """How a ticket was merged into another, and what it was before: an unmerge restores it."""

    into: str
    """The ticket it was merged into."""
    at: datetime
    by: str
    status: TicketStatus
    """Its status before the merge (the merge closed it)."""
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    sla: Sla = Field(default_factory=Sla)
    """Its SLA before the merge stopped the clocks."""
    undone_at: datetime | None = None
    undone_by: str | None = None


class Ticket(BaseModel):
    """A conversation with one customer on one channel."""

    model_config = ConfigDict(use_enum_values=False)

    id: str
    number: int
    channel: Channel
    status: TicketStatus = TicketStatus.NEW
    priority: Priority = Priority.NORMAL
    subject: OneLine | None = None
    customer_id: str
    team: str | None = None
    assignee: str | None = None
    tags: list[str] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list)
    group_id: str | None = None
    linked_ticket_id: str | None = None
    custom_fields: dict[str, str | float | bool] = Field(default_factory=dict)
    """Values of the config's `tickets.fields`, set by agents."""
    sla: Sla = Field(default_factory=Sla)
    created_at: datetime
    updated_at: datetime
    last_inbound_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    participants: list[str] = Field(default_factory=list)
    """Normalised addresses that took part (From, To, Cc) besides our own."""
    inbox: str | None = None
    """Where the customer wrote to: our address, SMS number, page or account id."""
    preview: str = ""
    """The start of the first message, for rules and lists."""
    language: str | None = None
    skills: list[str] = Field(default_factory=list)
    """Skills an agent needs to take the ticket (set by routing rules)."""
    load_holder: str | None = None
    """The agent whose capacity this ticket currently counts against."""
    queued_at: datetime | None = None
    merged_into: str | None = None
    """Set while the ticket is merged into another: its messages are there, and replies go there."""
    merge: TicketMerge | None = None
    """The ticket's last merge into another (with `undone_at` once undone)."""
    merged_from: list[str] = Field(default_factory=list)
    """Tickets merged into this one (and not unmerged)."""
    version: int = 1


class Message(BaseModel):
    """One inbound, outbound or internal message on a ticket."""

    id: str
    ticket_id: str
    direction: Direction
    channel: Channel
    at: datetime
    author: str
    external_id: str | None = None
    provider_id: str | None = None
    subject: OneLine | None = None
    text: str = ""
    full_text: str | None = None
    html: str | None = None
    body_key: str | None = None
    """S3 key of the full body when it is too large to keep in the item."""
    raw_key: str | None = None
    automatic: bool = False
    flags: list[str] = Field(default_factory=list)
    attachments: list[Attachment] = Field(default_factory=list)
    headers: dict[str, str] = Field(default_factory=dict)
    merged_from: list[str] = Field(default_factory=list)
    """The tickets whose merges brought the message here, the latest last (an unmerge of that ticket
    takes it back)."""
    moved_at: datetime | None = None
    """When a merge, an unmerge or a split last moved it to another ticket (automatic follow-ups
    ignore its arrival there)."""


class TicketEvent(BaseModel):
    """One entry of a ticket's history: created, threaded, reopened, routed, escalated..."""

    at: datetime
    type: str
    data: dict[str, Any] = Field(default_factory=dict)

    def as_state(self) -> dict[str, Any]:
        return {"at": self.at, "type": self.type, **self.data}


class Identity(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: IdentityKind
    value: str


class ConsentRecord(BaseModel):
    """One consent change a customer made, e.g. SMS STOP or START, with when and how."""

    at: datetime
    channel: str
    action: Literal["opt_out", "opt_in", "help"]
    keyword: str


class MergeRecord(BaseModel):
    """A merge of one customer into another, with what moved, so it can be undone."""

    id: str
    source_id: str
    identities: list[Identity]
    ticket_ids: list[str]
    at: datetime
    by: str
    undone_at: datetime | None = None
    undone_by: str | None = None


class Customer(BaseModel):
    id: str
    name: OneLine | None = None
    identities: list[Identity] = Field(default_factory=list)
    opted_out: list[str] = Field(default_factory=list)
    """Channels the customer opted out of (e.g. `sms`): nothing automatic is sent there."""
    consent: list[ConsentRecord] = Field(default_factory=list)
    tier: str | None = None
    """e.g. `vip`: set by the config's customer rules or by agents; routing rules can use it."""
    fields: dict[str, str] = Field(default_factory=dict)
    merged_into: str | None = None
    """Set on a customer merged into another; its identities and tickets moved there."""
    merges: list[MergeRecord] = Field(default_factory=list)
    """Customers merged into this one (undoable)."""
    created_at: datetime


class QuarantineEntry(BaseModel):
    """An inbound message kept aside instead of becoming a ticket."""

    id: str
    reason: str
    at: datetime
    ref: str
    channel: Channel
    raw_key: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    released_by: str | None = None
    """Who released it (an agent id); with `released_at` once a release was claimed."""
    released_at: datetime | None = None
    released_ticket_id: str | None = None
    """The ticket the released input became part of, once it was ingested."""
