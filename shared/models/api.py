"""What the agent API answers: its response bodies and its one error shape (RFC 9457 problem
details). The request bodies are the use cases' own models (shared/logic/agent_actions.py);
these are the views of domain records the API shows, so its OpenAPI document says exactly what
a UI receives."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from shared.models.macros import Macro, MacroActions
from shared.models.ticket import (
    Customer,
    Identity,
    IdentityKind,
    MergeRecord,
    Message,
    QuarantineEntry,
    Ticket,
    TicketEvent,
)

PROBLEM_JSON = "application/problem+json"


class FieldProblem(BaseModel):
    """One reason a request was refused: where (`loc`, e.g. `["body", "tags_add", 0]`) and why."""

    loc: list[str | int]
    msg: str
    type: str


class TicketState(BaseModel):
    """A ticket as it is now, and the version a change must name (`If-Match` or `version`)."""

    ticket: Ticket
    version: int = Field(ge=1)


class MacroState(BaseModel):
    """A macro as it is now, and the version an edit must name (`If-Match` or `version`)."""

    macro: Macro
    version: int = Field(ge=1)


class ReplyChange(BaseModel):
    """Something on the ticket the replying agent had not seen (a 409 reply-collision lists them)."""

    kind: Literal["reply_in_flight", "answered", "customer_wrote"] = Field(
        description="Another agent's reply still being sent, an answer the customer got, a customer message"
    )
    at: datetime = Field(description="When it was queued or received")
    by: str = Field(description="The agent, or the customer's address or handle")
    id: str = Field(description="The message id, or the outbox key of a reply being sent")
    preview: str = Field(description="The start of its text")


class Problem(BaseModel):
    """RFC 9457 problem details: every error this API answers has this shape."""

    model_config = ConfigDict(json_schema_extra={"description": "RFC 9457 problem details"})

    type: str = Field(description="A URI naming the kind of problem (`urn:helpdesk:problem:...`)")
    title: str = Field(description="A short summary of the kind of problem, the same for every occurrence")
    status: int = Field(ge=400, le=599, description="The HTTP status code")
    detail: str = Field(description="What went wrong with this request, for a person to read")
    instance: str | None = Field(default=None, description="The request path")
    errors: list[FieldProblem] | None = Field(
        default=None, description="Validation problems, one per field (status 400)"
    )
    current: TicketState | MacroState | None = Field(
        default=None, description="On a 409 for a stale version: the ticket (or macro) as it is now"
    )
    owner: str | None = Field(
        default=None, description="On an identity-taken problem: the customer the identity belongs to"
    )
    changes: list[ReplyChange] | None = Field(
        default=None, description="On a reply-collision: what changed since the agent's screen last showed"
    )


class PresenceState(BaseModel):
    """An agent's presence as set. Presence has no version: a write replaces it whole."""

    agent: str
    status: Literal["online", "away", "offline"]
    until: str | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="When the agent is back: ISO 8601 in UTC with milliseconds (`2026-03-04T09:00:00.000Z`)",
        json_schema_extra={"format": "date-time"},
    )


class MessageView(Message):
    """A message as the API shows it: without `full_text` (the quoted history, kept for search)."""

    full_text: SkipJsonSchema[str | None] = Field(default=None, exclude=True)


class ReplyQueued(BaseModel):
    """A reply recorded in the outbox; auto_followup sends it once. Outbox records never change,
    so they have no version: the `key` names it (and repeats for a retried Idempotency-Key)."""

    key: str
    channel: str
    to: str
    status: Literal["queued"] = "queued"
    template: str | None = None


class PrivateReplyQueued(BaseModel):
    """A private reply to the author of a public comment or mention, recorded in the outbox;
    auto_followup sends it once. `comment_id` is the comment (or X post) it answers."""

    key: str
    channel: str
    to: str
    comment_id: str
    status: Literal["queued"] = "queued"


class NoteCreated(BaseModel):
    """An internal note added to the ticket (notes are never edited: no version)."""

    message_id: str


class QuarantineSummary(QuarantineEntry):
    """What a listing shows of a quarantine entry: enough to choose which one to open."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    details: SkipJsonSchema[dict[str, object]] = Field(default_factory=dict, exclude=True)
    sender: str | None = Field(default=None, alias="from")
    subject: str | None = None
    released: bool


class QuarantinePage(BaseModel):
    """One page of a listing, newest first; pass `next_cursor` back as `cursor` for the next."""

    entries: list[QuarantineSummary]
    limit: int = Field(ge=1, le=100)
    next_cursor: str | None = Field(description="None on the last page")


class QuarantineEntryView(BaseModel):
    entry: QuarantineEntry


class ReleaseOutcome(BaseModel):
    """What a release did: the ticket the kept input became part of, and the entry as recorded."""

    outcome: Literal["released", "already-released"]
    ticket_id: str
    ticket_number: int | None = None
    entry: QuarantineEntry


# -- working a ticket: the detail, the conversation a page at a time, links, events ---------------


class TargetState(BaseModel):
    """An SLA target with the time left to meet it."""

    name: str
    state: str = Field(description="`running`, `paused`, `met` or `breached`")
    due_at: datetime | None
    seconds_left: float | None = Field(
        description="Calendar seconds until `due_at` (negative: overdue); the paused remainder when "
        "paused; null when met or without a due time"
    )
    business: bool = Field(description="Whether the target counts business hours only")


class WindowState(BaseModel):
    """Whether a reply may go out now on Messenger, Instagram or WhatsApp (their messaging windows)."""

    allowed: bool
    mode: str
    reason: str


class ConversationMessage(MessageView):
    """A message as a conversation page shows it: without its HTML (`html_bytes` says how much
    there is; open the message by `ref` to read it)."""

    html: SkipJsonSchema[str | None] = Field(default=None, exclude=True)
    ref: str = Field(description="Opens the message whole: `GET /tickets/{ref}/messages/{message_ref}`")
    html_bytes: int | None = Field(description="The size of the message's HTML; null: it has none")


class ConversationPageView(BaseModel):
    """One page of a ticket's conversation, newest first; pass `next_cursor` back as `cursor`."""

    messages: list[ConversationMessage]
    limit: int = Field(ge=1, le=100)
    next_cursor: str | None = Field(description="None on the page with the oldest message")


class TicketDetailView(BaseModel):
    """Everything an agent sees on opening a ticket, with the newest page of its conversation."""

    ticket: Ticket
    version: int = Field(ge=1)
    sla: list[TargetState]
    routing: dict[str, Any] | None = Field(
        description="The latest routing decision: a `routed` or `queued` event's data, its `type` and `at`"
    )
    customer: Customer | None
    grouped: list[Ticket] = Field(description="The customer's other tickets of the same group, newest first")
    window: WindowState | None = Field(description="For Messenger, Instagram and WhatsApp tickets")
    conversation: ConversationPageView


class MessageWhole(BaseModel):
    """One message with its HTML (sanitised at ingestion) and its full text (with the quoted history)."""

    ref: str
    message: Message


class DownloadLinkView(BaseModel):
    """Where to download an attachment. A stored one is a pre-signed S3 link that always
    downloads (`Content-Disposition: attachment`) and works until `expires_at`."""

    url: str
    expires_at: datetime | None = Field(description="null: the platform's own link, with its own expiry")
    stored: bool = Field(description="true: kept in our bucket; false: kept by the platform")
    name: str
    content_type: str
    size: int


class EventPageView(BaseModel):
    """One page of a ticket's events, oldest first: its audit trail."""

    events: list[TicketEvent]
    limit: int = Field(ge=1, le=100)
    next_cursor: str | None


class AgentActionView(BaseModel):
    ticket_id: str
    event: TicketEvent


class AgentActionPageView(BaseModel):
    """One page of an agent's actions on tickets, newest first."""

    agent: str
    actions: list[AgentActionView]
    limit: int = Field(ge=1, le=100)
    next_cursor: str | None


class CustomerView(BaseModel):
    """A customer found by one of their identities, with the tickets the caller may see."""

    customer: Customer
    tickets: list[Ticket] = Field(description="Newest first")
    hidden: int = Field(ge=0, description="How many more tickets the customer has outside the caller's teams")


# -- agents and teams -----------------------------------------------------------------------------


class AgentSummary(BaseModel):
    id: str
    name: str | None
    teams: list[str]
    presence: Literal["online", "away", "offline"]
    load: dict[str, int] = Field(description="Open tickets held, per channel group (email, sms, social)")
    capacity: dict[str, int]
    away_until: datetime | None


class AgentListView(BaseModel):
    agents: list[AgentSummary]


class TeamSummary(BaseModel):
    id: str
    name: str | None
    lead: str | None
    strategy: str
    agents: list[str]
    online: int
    queued: int = Field(description="Tickets waiting for an agent (100 at most: see `more`)")
    more: bool = Field(description="More than 100 wait")
    oldest_queued_at: datetime | None
    by_priority: dict[str, int]


class TeamListView(BaseModel):
    teams: list[TeamSummary]


class MacroPage(BaseModel):
    """One page of a team's macros by title; pass `next_cursor` back as `cursor` for the next."""

    macros: list[Macro]
    limit: int = Field(ge=1, le=100)
    next_cursor: str | None = Field(description="None on the last page")


class MacroPreviewView(BaseModel):
    """What applying a macro to a ticket would send and change; nothing is written."""

    team: str
    macro_id: str
    title: str
    version: int = Field(ge=1, description="The macro's version (apply uses the macro as it is then)")
    text: str = Field(description="The body rendered for the ticket (customer, number, agent)")
    channel: str = Field(description="Where the reply would go")
    actions: MacroActions
    changes: dict[str, list[object]] = Field(
        description="What the actions would change on the ticket now, `[before, after]` per field"
    )


class MacroAppliedView(BaseModel):
    """A macro applied: its reply queued (auto_followup sends it once) and the ticket after its
    actions, with its version."""

    reply: ReplyQueued
    ticket: Ticket
    version: int = Field(ge=1)
    changes: dict[str, list[object]] = Field(
        description="What the actions changed in this request (none on a retry that found them applied)"
    )


# -- views ----------------------------------------------------------------------------------------


class TicketSummary(BaseModel):
    """A ticket as a view lists it (read from the view alone; open it for the rest)."""

    id: str
    number: int
    subject: str | None
    status: str
    priority: str
    channel: str
    team: str | None
    assignee: str | None
    customer_id: str
    tags: list[str]
    created_at: datetime
    updated_at: datetime
    due_at: datetime | None = Field(description="The soonest due time of an SLA target not met")
    version: int | None = Field(
        default=None,
        ge=1,
        description="The ticket's version in search results; absent from a view's tickets (a view is "
        "rewritten only when what it shows changes, decision 125): open the ticket for it",
    )


class ViewPageView(BaseModel):
    """One page of a view, in its order; pass `next_cursor` back as `cursor` for the next."""

    view: str
    count: int = Field(ge=0, description="How many tickets the whole view holds for the caller")
    tickets: list[TicketSummary]
    limit: int = Field(ge=1, le=100)
    next_cursor: str | None


class ViewCount(BaseModel):
    name: str
    count: int = Field(ge=0)


class ViewListView(BaseModel):
    """The caller's views with how many tickets each holds."""

    views: list[ViewCount]


class MergeView(BaseModel):
    """Both tickets after a merge or its undoing, each with its version."""

    source: TicketState = Field(description="The ticket merged (closed, with `merged_into`) or restored")
    target: TicketState = Field(
        description="The ticket it was merged into (its conversation has the messages)"
    )
    moved: int = Field(ge=0, description="Messages moved between the two conversations")


class SplitView(BaseModel):
    """A message split into a new ticket: the original and the new ticket (routed from the stream)."""

    original: TicketState
    ticket: TicketState = Field(description="The new ticket, linked to the original (`linked_ticket_id`)")
    message_id: str


# -- customers: one person across channels ---------------------------------------------------------


class CustomerMergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    into: str = Field(
        min_length=1, max_length=100, description="The id of the customer to merge this one into"
    )


class CustomerMergeView(BaseModel):
    """A merge of customers (or its undoing) and the customer it left whole."""

    merge: MergeRecord
    customer: Customer


class IdentityDecisionRequest(BaseModel):
    """An identity as the ticket's `identity_suggested` event lists it."""

    model_config = ConfigDict(extra="forbid")

    kind: IdentityKind
    value: str = Field(min_length=1, max_length=320)


class IdentityDecisionView(BaseModel):
    """An agent's decision on a suggested identity, and the customer as it is now."""

    decision: Literal["confirmed", "rejected"]
    identity: Identity
    customer: Customer


class MentionView(BaseModel):
    """A note that named the agent: where, by whom, and its start."""

    ticket_id: str
    ticket_number: int
    message_id: str
    by: str
    at: datetime
    excerpt: str


class MentionPageView(BaseModel):
    """One page of the notes that named an agent, newest first."""

    agent: str
    mentions: list[MentionView]
    limit: int = Field(ge=1, le=100)
    next_cursor: str | None


# -- search: tickets by the words of their subject and messages -----------------------------------


class SearchPageView(BaseModel):
    """One page of the tickets whose subject and messages hold every word searched for, newest
    ticket first; pass `next_cursor` back as `cursor` for the next. A page may hold fewer than
    `limit` tickets (even none) and still have a `next_cursor`."""

    q: str
    terms: list[str] = Field(description="The words searched for, as the index keeps them (folded)")
    tickets: list[TicketSummary]
    limit: int = Field(ge=1, le=100)
    next_cursor: str | None
