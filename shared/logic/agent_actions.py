"""What agents do through the API: set their presence, change tickets (status, priority,
assignee, tags). Every change is recorded on the ticket with who made it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, Protocol

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from shared.dal.pointers import PointerReads
from shared.dal.queues import QueueEntry, queue_key
from shared.dal.repository import TicketRepository
from shared.dal.tickets import TicketStore, TicketUpdate
from shared.errors import ConflictError, HelpdeskError, TicketNotFoundError
from shared.logic.permissions import Principal, may_assign, may_transfer, visible
from shared.logic.sla_service import after_change
from shared.models.config import HelpdeskConfig, TicketFieldConfig
from shared.models.ticket import Channel, Ticket, TicketEvent

RELEASING = {"resolved", "closed"}


class NotAuthenticatedError(HelpdeskError):
    """The request names no agent we can trust: no token claims, a token other than an ID token,
    or an ID token without the agent claim."""


class PermissionDeniedError(HelpdeskError):
    """The caller may not do this (unknown agent, someone else's presence)."""


class InvalidRequestError(HelpdeskError):
    """The request names something that does not exist or cannot be done."""


class TextTooLargeError(HelpdeskError):
    """A reply or note longer, in UTF-8 bytes, than the helpdesk can store."""


class IdempotencyKeyReusedError(HelpdeskError):
    """An Idempotency-Key already used for another request on the same ticket by the same agent."""


class StaleVersionError(HelpdeskError):
    """A change named a version of the ticket that is no longer current; `current` is the ticket now."""

    def __init__(self, message: str, current: Ticket) -> None:
        super().__init__(message)
        self.current = current


MAX_AWAY_DAYS = 60
"""How far ahead an agent may say they will be back (a typo in the year should not promise 2036)."""


class PresenceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["online", "away", "offline"]
    until: AwareDatetime | None = None
    """With `away` or `offline`: when the agent will be back (ISO 8601 with a zone, in the future,
    at most MAX_AWAY_DAYS ahead); out-of-office notices name it."""

    @field_validator("until", mode="before")
    @classmethod
    def _iso_text(cls, value: object) -> object:
        if value is not None and not isinstance(value, str):  # not a Unix timestamp: say the zone
            raise ValueError("an ISO 8601 date and time with a zone, e.g. 2026-03-09T09:00:00+01:00")
        return value


MAX_TEXT_BYTES = 50_000
"""A reply's or note's text in UTF-8 bytes (a 4-byte emoji counts 4). The outbox stores the text
and its HTML as JSON with non-ASCII characters escaped, so a stored byte of text can take up to 7
bytes of the item (a `"` is `\\"` in the text and `&#34;` in the HTML; a 4-byte character 12 + 12):
at this limit every text keeps the outbox item, and the message stored when it is sent, under
DynamoDB's 400 KB item limit with room for the addressing."""
ALLOWED_CONTROLS = frozenset("\t\n\r")
MAX_IDEMPOTENCY_KEY = 200
"""Characters in an Idempotency-Key (a UUID has 36): it becomes part of the outbox item's key."""


def check_text(text: str) -> None:
    """Refuse a reply or note text the helpdesk cannot store or send as written: over
    MAX_TEXT_BYTES in UTF-8, or with control characters (other than tab and line breaks)."""
    size = len(text.encode("utf-8"))
    if size > MAX_TEXT_BYTES:
        raise TextTooLargeError(
            f"text: {size:,} bytes in UTF-8, over the limit of {MAX_TEXT_BYTES:,} bytes "
            "(a character outside ASCII takes 2 to 4): shorten it or attach the rest"
        )
    for position, character in enumerate(text):
        if (character < " " or character == "\x7f") and character not in ALLOWED_CONTROLS:
            raise InvalidRequestError(
                f"text: control character U+{ord(character):04X} at position {position}"
            )


def check_idempotency_key(key: str) -> None:
    """Refuse an Idempotency-Key that is empty, too long or not printable ASCII."""
    if not key or len(key) > MAX_IDEMPOTENCY_KEY or not all(" " < c <= "~" for c in key):
        raise InvalidRequestError(
            f"Idempotency-Key: 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters, e.g. a UUID"
        )


class ReplyRequest(BaseModel):
    """An agent's public reply: on the ticket's channel, or on another `channel` of the same customer
    (e.g. an SMS ticket answered by email)."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1)
    """At most MAX_TEXT_BYTES in UTF-8 (checked by the use case, which answers 413)."""
    channel: str | None = Field(default=None, min_length=1, max_length=20)
    """email, sms, messenger, instagram, whatsapp or x; the ticket's channel when absent."""
    seen_message_id: str | None = Field(default=None, min_length=1, max_length=100)
    """The last message the agent's screen showed: a reply crossing a later answer or customer
    message is refused (409 reply-collision) unless `confirm`."""
    confirm: bool = False
    """Send even though the ticket changed (the agent read the changes a 409 listed)."""


class NoteRequest(BaseModel):
    """An agent's internal note (never sent)."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1)
    """At most MAX_TEXT_BYTES in UTF-8 (checked by the use case, which answers 413)."""


MAX_TAG = 100
"""Characters in a tag."""
MAX_TAGS = 50
"""Tags on a ticket: with MAX_TAG, the ticket item keeps room under DynamoDB's 400 KB."""


def _no_control_characters(tag: str) -> str:
    for character in tag:
        if character < " " or character == "\x7f":
            raise ValueError(f"control character U+{ord(character):04X} in a tag")
    return tag


Tag = Annotated[str, Field(min_length=1, max_length=MAX_TAG), AfterValidator(_no_control_characters)]


class TicketChangeRequest(BaseModel):
    """An agent's change to a ticket; absent fields stay as they are. `assignee: ""` unassigns."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["new", "open", "pending", "on_hold", "resolved", "closed"] | None = None
    priority: Literal["low", "normal", "high", "urgent"] | None = None
    assignee: str | None = None
    team: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Transfer to this team: unassigned and queued there unless the assignee is its agent",
    )
    fields: dict[str, str | float | bool | None] | None = Field(
        default=None,
        max_length=50,
        description="Custom fields of the config's `tickets.fields` to set (null clears one)",
    )
    tags_add: list[Tag] = Field(default_factory=list)
    tags_remove: list[str] = Field(default_factory=list)
    version: int | None = Field(default=None, ge=1)
    """The ticket version the change was made on (as `If-Match` says it); a stale one is refused."""


@dataclass
class AgentContext:
    repository: TicketRepository
    config: HelpdeskConfig


class TicketLookup(PointerReads, TicketStore, Protocol):
    """What finding a ticket by a reference reads: its pointers, then the ticket."""


def resolve_ticket(ref: str, repository: TicketLookup) -> Ticket:
    """A ticket by number (`42`, `#42`) or by the external id of any of its messages."""
    value = ref.strip().lstrip("#")
    wanted: list[tuple[str, str]] = []
    if value.isdigit():
        wanted.append(("number", str(int(value))))
    wanted.append(("ref", ref.strip()))
    if "@" in value and not value.startswith("<"):  # an email Message-ID typed without its brackets
        wanted.append(("ref", f"<{value}>"))
    wanted += [("ref", f"{channel.value}:{ref.strip()}") for channel in Channel if channel != Channel.EMAIL]
    found = repository.get_pointers(wanted)
    for key in wanted:
        pointer = found.get(key)
        if pointer is not None and pointer.ticket_id:
            ticket = repository.get_ticket(pointer.ticket_id)
            if ticket is not None:
                return ticket
    raise TicketNotFoundError(f"no ticket with number or message id {ref!r}")


@dataclass(frozen=True)
class Caller:
    """The agent calling the API, as their ID token names them."""

    agent_id: str
    supervisor: bool


def authenticate(
    claims: Mapping[str, Any], agent_claim: str, supervisor_group: str, config: HelpdeskConfig
) -> Caller:
    """The calling agent, from the claims of the token API Gateway's JWT authorizer verified.

    Only a Cognito ID token (`token_use: id`) names an agent: an access token of the same user
    pool is valid for the authorizer too, but is not issued to say who the agent is. The agent
    must be in the helpdesk config: one removed from it is refused although their token is valid."""
    if not claims:
        raise NotAuthenticatedError("no token: sign in and send the ID token as a Bearer token")
    if claims.get("token_use") != "id":
        raise NotAuthenticatedError(
            f"this API takes an ID token (token_use id), not token_use {claims.get('token_use')!r}"
        )
    agent_id = claims.get(agent_claim)
    if not isinstance(agent_id, str) or not agent_id:
        raise NotAuthenticatedError(
            f"the ID token has no {agent_claim} claim: the user is not set up as an agent"
        )
    _known_agent(agent_id, config)
    groups = claims.get("cognito:groups") or []
    if isinstance(groups, str):  # the authorizer flattens lists to "[a b]"
        groups = groups.strip("[]").replace(",", " ").split()
    return Caller(agent_id, supervisor_group in groups)


def _known_agent(agent_id: str, config: HelpdeskConfig) -> None:
    if config.agent(agent_id) is None:
        raise PermissionDeniedError(f"{agent_id!r} is not an agent of this helpdesk")


def set_presence(
    agent_id: str, request: PresenceRequest, actor: str, supervisor: bool, ctx: AgentContext, now: datetime
) -> None:
    """Set an agent's presence (their own, or anyone's for a supervisor), away or offline with when
    they will be back if known; online drains their queues."""
    _known_agent(actor, ctx.config)
    agent = ctx.config.agent(agent_id)
    if agent is None:
        raise InvalidRequestError(f"unknown agent {agent_id!r}")
    if actor != agent_id and not supervisor:
        raise PermissionDeniedError("only supervisors may set another agent's presence")
    until = request.until
    if until is not None:
        if request.status == "online":
            raise InvalidRequestError("until: only an away or offline presence has a return time")
        if until <= now:
            raise InvalidRequestError(f"until: {until.isoformat()} is not in the future")
        if until > now + timedelta(days=MAX_AWAY_DAYS):
            raise InvalidRequestError(f"until: more than {MAX_AWAY_DAYS} days ahead")
    ctx.repository.set_presence(agent_id, request.status, list(agent.teams), now, until)


def update_ticket(
    ref: str,
    request: TicketChangeRequest,
    actor: str,
    ctx: AgentContext,
    now: datetime,
    scope: Principal | None = None,
) -> Ticket:
    """Apply an agent's change; a manual assignee wins over routing, and capacity follows it.

    With `scope` (the caller's role and teams), a ticket they may not see is not found, and a
    change of assignee follows `may_assign`."""
    _known_agent(actor, ctx.config)
    ticket = resolve_ticket(ref, ctx.repository)
    if scope is not None and not visible(scope, ticket):
        raise TicketNotFoundError(f"no ticket with number or message id {ref!r}")
    if request.version is not None and request.version != ticket.version:
        raise StaleVersionError(
            f"the change was made on version {request.version}; the ticket is at version {ticket.version}",
            ticket,
        )
    changes, recorded = _changes_asked(ticket, request, ctx, scope)
    _transfer(ticket, request, changes, recorded, ctx, scope, now)
    _custom_fields(ticket, request, changes, recorded, ctx.config)
    if not recorded:
        return ticket
    _follow_with_capacity_and_sla(ticket, changes, recorded, ctx, now)
    event = TicketEvent(at=now, type="updated", data={"by": actor, "changes": recorded})
    return _save_change(ticket, changes, event, ctx, now)


def _changes_asked(
    ticket: Ticket, request: TicketChangeRequest, ctx: AgentContext, scope: Principal | None
) -> tuple[TicketUpdate, dict[str, object]]:
    """What the request really changes, as an update and as the `[before, after]` pairs recorded."""
    changes = TicketUpdate()
    recorded: dict[str, object] = {}
    if request.status is not None and request.status != ticket.status.value:
        changes.status = request.status
        recorded["status"] = [ticket.status.value, request.status]
    if request.priority is not None and request.priority != ticket.priority.value:
        changes.priority = request.priority
        recorded["priority"] = [ticket.priority.value, request.priority]
    if request.assignee is not None and request.assignee != (ticket.assignee or ""):
        if scope is not None:
            may_assign(scope, ticket, request.assignee or None)
        if request.assignee == "":
            changes.unassign = True
        else:
            if ctx.config.agent(request.assignee) is None:
                raise InvalidRequestError(f"unknown agent {request.assignee!r}")
            changes.assignee = request.assignee
        recorded["assignee"] = [ticket.assignee, request.assignee or None]
    tags = [t for t in ticket.tags if t not in request.tags_remove]
    tags += [t for t in request.tags_add if t not in tags]
    if len(tags) > MAX_TAGS and len(tags) > len(ticket.tags):
        raise InvalidRequestError(
            f"tags_add: a ticket has at most {MAX_TAGS} tags; this would make {len(tags)}"
        )
    if tags != ticket.tags:
        changes.tags = tags
        recorded["tags"] = [ticket.tags, tags]
    return changes, recorded


def _transfer(
    ticket: Ticket,
    request: TicketChangeRequest,
    changes: TicketUpdate,
    recorded: dict[str, object],
    ctx: AgentContext,
    scope: Principal | None,
    now: datetime,
) -> None:
    """Move the ticket to another team: a supervisor of its team's (or an admin's). Its assignee
    stays only as one of the new team's agents; otherwise it waits in the new team's queue."""
    if request.team is None or request.team == ticket.team:
        return
    if scope is not None:
        may_transfer(scope, ticket, request.team)
    if ctx.config.team(request.team) is None:
        raise InvalidRequestError(f"unknown team {request.team!r}")
    changes.team = request.team
    recorded["team"] = [ticket.team, request.team]
    assignee = changes.assignee or (None if changes.unassign else ticket.assignee)
    agent = ctx.config.agent(assignee) if assignee else None
    if agent is not None and request.team in agent.teams:
        return
    if assignee is not None and changes.assignee is None:
        changes.unassign = True
        recorded["assignee"] = [ticket.assignee, None]
    elif changes.assignee is not None:
        raise InvalidRequestError(f"{changes.assignee!r} is not an agent of team {request.team!r}")
    priority = changes.priority or ticket.priority.value
    changes.queue = QueueEntry(
        team=request.team,
        ticket_id=ticket.id,
        priority=priority,
        channel=ticket.channel.value,
        queued_at=now,
        key=queue_key(priority, now, ticket.id),
    )


MAX_FIELD_TEXT = 500


def _field_value(field: TicketFieldConfig, value: str | float | bool) -> str | float | bool:
    """The value checked against its field's type, or InvalidRequestError."""
    where = f"fields.{field.id}"
    if field.type == "checkbox" and isinstance(value, bool):
        return value
    if field.type == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidRequestError(f"{where}: a finite number")
        return float(value)
    if field.type in ("text", "choice") and isinstance(value, str):
        if field.type == "choice" and value not in field.choices:
            raise InvalidRequestError(f"{where}: one of {', '.join(field.choices)}")
        if len(value) > MAX_FIELD_TEXT or any(ord(c) < 32 and c not in "\t\n" for c in value):
            raise InvalidRequestError(f"{where}: at most {MAX_FIELD_TEXT} characters, no control characters")
        return value
    raise InvalidRequestError(f"{where}: a {field.type} value")


def _custom_fields(
    ticket: Ticket,
    request: TicketChangeRequest,
    changes: TicketUpdate,
    recorded: dict[str, object],
    config: HelpdeskConfig,
) -> None:
    """Set or clear (null) the config's custom fields; an unknown field or a wrong value is a 400."""
    if not request.fields:
        return
    values = dict(ticket.custom_fields)
    for field_id, value in request.fields.items():
        field = config.tickets.field(field_id)
        if field is None:
            raise InvalidRequestError(f"fields: no field {field_id!r} in the config")
        if value is None:
            values.pop(field_id, None)
        else:
            values[field_id] = _field_value(field, value)
    if values != ticket.custom_fields:
        changes.custom_fields = values
        recorded["fields"] = [ticket.custom_fields, values]


def _follow_with_capacity_and_sla(
    ticket: Ticket, changes: TicketUpdate, recorded: dict[str, object], ctx: AgentContext, now: datetime
) -> None:
    """Mark the held capacity stale when the holder changes or the ticket stops needing work, and
    recompute the SLA clocks for the new status or priority."""
    changes.load_stale = bool(ticket.load_holder) and (
        "assignee" in recorded or (changes.status is not None and changes.status in RELEASING)
    )
    if changes.assignee is not None and not ticket.load_holder:
        changes.load_stale = True  # the new assignee's capacity must count this ticket
    tier = None
    if changes.priority is not None and any(p.when.customer_tier for p in ctx.config.sla.policies):
        customer = ctx.repository.get_customer(ticket.customer_id)  # the policy may depend on the tier
        tier = customer.tier if customer is not None else None
    changes.sla = after_change(ctx.config, ticket, changes.status, changes.priority, now, tier)


def _save_change(
    ticket: Ticket, changes: TicketUpdate, event: TicketEvent, ctx: AgentContext, now: datetime
) -> Ticket:
    """Write the change on the version read; a change that landed meanwhile is a stale version."""
    try:
        ctx.repository.update_ticket(ticket, changes, [event], now)
    except ConflictError as exc:  # another change landed between our read and our write
        current = ctx.repository.get_ticket(ticket.id)
        assert current is not None
        raise StaleVersionError(
            f"the ticket changed meanwhile (now version {current.version}); nothing was saved", current
        ) from exc
    updated = ctx.repository.get_ticket(ticket.id)
    assert updated is not None
    return updated
