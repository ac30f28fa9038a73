"""Canned responses (macros): a team's reply templates with placeholders and optional actions.

A body is a jinja2 template rendered in the sandbox with strict variables, so a macro that names
an unknown placeholder, or reaches for Python internals, is refused when it is saved, not when an
agent sends it. Placeholders: `customer_name`, `ticket.number`, `ticket.subject`,
`ticket.channel`, `agent_name`. Beyond them a body may only use `{% if %}`, comparisons, `~` and
the filters in FILTERS: no loops, calls, assignments or arithmetic, so no macro can make a reply
larger than its body and placeholders, or spin.

Applying a macro (`apply_macro`) queues its rendered reply and applies its actions as one
idempotent request: the reply is the commit point, and a marker on the ticket says the actions
were applied for it, so a retry neither queues a second reply nor applies the actions again.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from shared import clock
from shared.dal.base import DuplicateError
from shared.dal.customers import CustomerStore
from shared.dal.macros import MacroStore
from shared.dal.pointers import Pointer
from shared.errors import ConflictError, HelpdeskError
from shared.ids import new_id
from shared.logic.agent_actions import AgentContext, TicketChangeRequest, update_ticket
from shared.logic.agent_replies import agent_reply, request_digest
from shared.logic.outbound import OutboundContext
from shared.logic.permissions import Principal
from shared.logic.reply_lock import ReplyGuard
from shared.logic.templates import render_string
from shared.models.config import HelpdeskConfig
from shared.models.macros import Macro, MacroActions
from shared.models.outbound import OutboundMessage
from shared.models.ticket import Customer, Ticket, TicketEvent

MAX_BODY_CHARS = 20_000

SAMPLE = {
    "customer_name": "Sam",
    "agent_name": "Alice",
    "ticket": {"number": 1042, "subject": "Printer jam", "channel": "email"},
}
"""The placeholders a macro may use, with the values a preview without a ticket shows."""


class InvalidMacroError(HelpdeskError):
    """The macro cannot be saved or rendered as written (HTTP 400)."""


class InvalidMacroCursorError(InvalidMacroError):
    """A listing cursor that no macro listing handed out (HTTP 400)."""


class MacroNotFoundError(HelpdeskError):
    """No macro of that team has that id (HTTP 404)."""


class StaleMacroError(ConflictError):
    """An edit named a version of the macro that is no longer current; `current` is the macro now."""

    def __init__(self, message: str, current: Macro) -> None:
        super().__init__(message)
        self.current = current


Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Body = Annotated[str, StringConstraints(min_length=1, max_length=MAX_BODY_CHARS)]


class MacroRequest(BaseModel):
    """A macro as an agent writes it."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9-]{0,63}$",
        description="A stable id of your choosing (`printer-e42`), e.g. for macros kept as code; "
        "none: one is made (`mac_...`)",
    )
    title: Title
    body: Body
    actions: MacroActions = Field(default_factory=MacroActions)


class MacroExistsError(HelpdeskError):
    """The team already has a macro with the id asked for (HTTP 409)."""


class MacroChange(BaseModel):
    """A change to a macro: absent fields stay as they are; `version` is the one the editor saw
    (or `If-Match`)."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    body: Body | None = None
    actions: MacroActions | None = None
    version: int | None = Field(default=None, ge=1)


FILTERS = frozenset({"upper", "lower", "title", "capitalize", "trim", "default", "d"})
"""The jinja2 filters a body may use: each makes text no longer than what it is given (`default`
adds its own argument)."""
TESTS = frozenset({"defined", "undefined", "none", "string", "number"})
ALLOWED_NODES = frozenset(
    {
        "Template", "Output", "TemplateData", "Name", "Const", "Getattr", "If", "CondExpr", "Compare",
        "Operand", "And", "Or", "Not", "Concat", "Filter", "Test", "Keyword",
    }
)  # fmt: skip
"""What a body may be made of: text, placeholders, `{% if %}`, comparisons, `~`, filters and tests.
No loops, calls, assignments, arithmetic, includes or macros: nothing that multiplies text or time."""


def _check_nodes(source: str) -> None:
    """Refuse a body using more of jinja2 than placeholders and conditions need."""
    from jinja2 import TemplateSyntaxError
    from jinja2.nodes import Filter, Node, Test
    from jinja2.sandbox import SandboxedEnvironment

    try:
        tree = SandboxedEnvironment().parse(source)
    except TemplateSyntaxError as exc:
        raise InvalidMacroError(f"body: {exc}") from exc
    pending: list[Node] = [tree]
    while pending:
        node = pending.pop()
        kind = type(node).__name__
        if kind not in ALLOWED_NODES:
            raise InvalidMacroError(
                f"body: {kind} is not allowed in a macro (line {node.lineno}): only placeholders, "
                "{% if %}, comparisons, ~ and the filters " + ", ".join(sorted(FILTERS))
            )
        if isinstance(node, Filter) and node.name not in FILTERS:
            raise InvalidMacroError(f"body: the filter {node.name!r} is not allowed in a macro")
        if isinstance(node, Test) and node.name not in TESTS:
            raise InvalidMacroError(f"body: the test {node.name!r} is not allowed in a macro")
        pending.extend(node.iter_child_nodes())


def render_body(body: str, context: dict[str, Any]) -> str:
    """The body with its placeholders filled; InvalidMacroError says what is wrong with it."""
    from jinja2 import TemplateError

    _check_nodes(body)
    try:
        return render_string(body, context)
    except TemplateError as exc:  # syntax, an unknown placeholder, the sandbox refusing an attribute
        raise InvalidMacroError(f"body: {exc}") from exc
    except (TypeError, ValueError, ArithmeticError) as exc:  # e.g. comparing a number with text
        raise InvalidMacroError(f"body: {type(exc).__name__}: {exc}") from exc


def ticket_context(ticket: Ticket, customer: Customer | None, agent_name: str) -> dict[str, Any]:
    """The placeholders' values for one ticket (an unnamed customer is "")."""
    return {
        "customer_name": (customer.name if customer is not None else None) or "",
        "agent_name": agent_name,
        "ticket": {"number": ticket.number, "subject": ticket.subject or "", "channel": ticket.channel.value},
    }


def _known_team(team: str, config: HelpdeskConfig) -> None:
    if all(t.id != team for t in config.teams):
        raise InvalidMacroError(f"unknown team {team!r}")


def _as_stored(now: datetime) -> datetime:
    """`now` at the precision the table keeps (milliseconds): a write answers what a read will."""
    return clock.parse_iso(clock.iso(now))


def create_macro(
    team: str, request: MacroRequest, actor: str, config: HelpdeskConfig, store: MacroStore, now: datetime
) -> Macro:
    _known_team(team, config)
    render_body(request.body, SAMPLE)
    now = _as_stored(now)
    macro = Macro(
        id=request.id or new_id("mac", now),
        team=team,
        title=request.title,
        body=request.body,
        actions=request.actions,
        created_at=now,
        updated_at=now,
        updated_by=actor,
    )
    try:
        store.save_macro(macro, expected_version=None)
    except ConflictError as exc:
        raise MacroExistsError(f"team {team!r} has a macro {macro.id!r} already") from exc
    return macro


def existing_macro(team: str, macro_id: str, store: MacroStore) -> Macro:
    macro = store.get_macro(team, macro_id)
    if macro is None:
        raise MacroNotFoundError(f"team {team!r} has no macro {macro_id!r}")
    return macro


def _at_version(current: Macro, version: int) -> None:
    if current.version != version:
        raise StaleMacroError(f"macro {current.id} is at version {current.version}, not {version}", current)


def _lost_race(team: str, macro_id: str, store: MacroStore, exc: ConflictError) -> StaleMacroError:
    """The error for a write another edit overtook: the macro as that edit left it (or not found)."""
    current = existing_macro(team, macro_id, store)
    return StaleMacroError(f"macro {macro_id} changed meanwhile (now version {current.version})", current)


def update_macro(
    team: str,
    macro_id: str,
    request: MacroRequest,
    version: int,
    actor: str,
    store: MacroStore,
    now: datetime,
) -> Macro:
    """Replace the macro the editor saw (`version`); a newer one is a conflict, not overwritten."""
    current = existing_macro(team, macro_id, store)
    _at_version(current, version)
    render_body(request.body, SAMPLE)
    updated = current.model_copy(
        update={
            "title": request.title,
            "body": request.body,
            "actions": request.actions,
            "version": version + 1,
            "updated_at": _as_stored(now),
            "updated_by": actor,
        }
    )
    try:
        store.save_macro(updated, expected_version=version)
    except ConflictError as exc:
        raise _lost_race(team, macro_id, store, exc) from exc
    return updated


def change_macro(
    team: str, macro_id: str, change: MacroChange, actor: str, store: MacroStore, now: datetime
) -> Macro:
    """Change some fields of the macro the editor saw (`change.version`, which is required)."""
    if change.version is None:
        raise InvalidMacroError("version: name the macro version the change was made on (or If-Match)")
    current = existing_macro(team, macro_id, store)
    _at_version(current, change.version)
    request = MacroRequest(
        title=change.title if change.title is not None else current.title,
        body=change.body if change.body is not None else current.body,
        actions=change.actions if change.actions is not None else current.actions,
    )
    return update_macro(team, macro_id, request, change.version, actor, store, now)


def delete_macro(team: str, macro_id: str, version: int, store: MacroStore) -> None:
    current = existing_macro(team, macro_id, store)
    _at_version(current, version)
    try:
        store.delete_macro(team, macro_id, version)
    except ConflictError as exc:
        raise _lost_race(team, macro_id, store, exc) from exc


# -- listing: one team's macros are one Query, so a page is cut from them in memory ---------------

MAX_MACRO_PAGE = 100
DEFAULT_MACRO_PAGE = 25


@dataclass(frozen=True)
class MacroListing:
    macros: list[Macro]
    cursor: str | None
    """Pass it back as `cursor` for the next page; None on the last page."""


def _sort_key(macro: Macro) -> tuple[str, str]:
    return macro.title.casefold(), macro.id


def _encode_cursor(after: tuple[str, str]) -> str:
    text = json.dumps(list(after), ensure_ascii=False).encode("utf-8")
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        value: Any = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise InvalidMacroCursorError("cursor: not a cursor this listing handed out") from exc
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        raise InvalidMacroCursorError("cursor: not a cursor this listing handed out")
    return value[0], value[1]


def list_macros_page(team: str, limit: int, cursor: str | None, store: MacroStore) -> MacroListing:
    """One page of the team's macros by title, with the cursor of the next. The cursor is the
    last macro's place in the order, so a macro added or deleted meanwhile moves no other."""
    after = _decode_cursor(cursor) if cursor else None
    macros = [m for m in store.list_macros(team) if after is None or _sort_key(m) > after]
    page = macros[:limit]
    more = len(macros) > limit
    return MacroListing(macros=page, cursor=_encode_cursor(_sort_key(page[-1])) if more else None)


# -- using a macro on a ticket: preview, then apply (reply and actions) ---------------------------


@dataclass(frozen=True)
class MacroPreview:
    text: str
    """The body rendered for the ticket."""
    channel: str
    """Where the reply would go (the ticket's channel unless another is asked)."""
    changes: dict[str, list[Any]]
    """What the actions would change on the ticket now: `[before, after]` per field."""


def _agent_name(agent: str, config: HelpdeskConfig) -> str:
    known = config.agent(agent)
    return (known.name if known is not None else None) or agent


def render_for(
    ticket: Ticket, macro: Macro, agent: str, customers: CustomerStore, config: HelpdeskConfig
) -> str:
    """The macro's body as the ticket's customer would read it from `agent`."""
    customer = customers.get_customer(ticket.customer_id)
    return render_body(macro.body, ticket_context(ticket, customer, _agent_name(agent, config)))


def would_change(ticket: Ticket, actions: MacroActions) -> dict[str, list[Any]]:
    """The fields the actions would change on the ticket as it is, as `[before, after]`."""
    changes: dict[str, list[Any]] = {}
    if actions.status is not None and actions.status != ticket.status.value:
        changes["status"] = [ticket.status.value, actions.status]
    tags = ticket.tags + [t for t in dict.fromkeys(actions.tags_add) if t not in ticket.tags]
    if tags != ticket.tags:
        changes["tags"] = [ticket.tags, tags]
    return changes


def preview_macro(
    ticket: Ticket,
    macro: Macro,
    agent: str,
    customers: CustomerStore,
    config: HelpdeskConfig,
    channel: str | None = None,
) -> MacroPreview:
    """What applying the macro would send and change, without writing anything."""
    text = render_for(ticket, macro, agent, customers, config)
    return MacroPreview(
        text=text, channel=channel or ticket.channel.value, changes=would_change(ticket, macro.actions)
    )


class MacroApplyRequest(BaseModel):
    """Applying a macro: its reply on the ticket's channel, or on another `channel` of the customer."""

    model_config = ConfigDict(extra="forbid")

    channel: str | None = Field(default=None, min_length=1, max_length=20)
    """email, sms, messenger, instagram, whatsapp or x; the ticket's channel when absent."""
    seen_message_id: str | None = Field(default=None, min_length=1, max_length=100)
    """The last message the agent's screen showed (the reply lock, as for a reply)."""
    confirm: bool = False
    """Send even though the ticket changed (the agent read the changes a 409 listed)."""


@dataclass(frozen=True)
class MacroUse:
    """An agent applying a team's macro to a ticket they see."""

    ticket: Ticket
    macro: Macro
    agent: str
    channel: str | None = None
    idempotency_key: str | None = None
    guard: ReplyGuard | None = None
    """What the agent's screen showed, and whether they confirm (the reply lock, decision 108)."""


@dataclass(frozen=True)
class MacroApplied:
    reply: OutboundMessage
    ticket: Ticket
    """The ticket after the actions (or as it is, when a retry found them applied)."""
    changes: dict[str, list[Any]]
    """What the actions changed in this request (none on a retry)."""


def macro_digest(macro: Macro, channel: str | None) -> str:
    """What a macro reply asked for, for an Idempotency-Key retry to match: the macro (not its text,
    which an edit or the ticket may change between a request and its retry) and the channel."""
    return request_digest(f"macro:{macro.team}/{macro.id}", channel)


def applied_marker(reply: OutboundMessage) -> Pointer:
    """The marker that records, once, that a macro's actions were applied with this reply."""
    return Pointer("inbound", f"macro#{reply.key}")


def apply_macro(
    use: MacroUse, ctx: AgentContext, outbound: OutboundContext, now: datetime, scope: Principal | None = None
) -> MacroApplied:
    """Queue the macro's reply, rendered for the ticket, then apply its actions through
    `update_ticket` and record `macro_applied` on the ticket.

    The reply comes first: a reply the channel refuses changes nothing. With an `idempotency_key`
    a retry gets the reply queued the first time and, once the marker is written, applies nothing
    again; a retry after a failure between the two applies the actions it had not."""
    text = render_for(use.ticket, use.macro, use.agent, ctx.repository, ctx.config)
    reply = agent_reply(
        use.ticket,
        text,
        use.agent,
        outbound,
        now,
        idempotency_key=use.idempotency_key,
        channel=use.channel,
        digest=macro_digest(use.macro, use.channel),
        guard=use.guard,
    )
    marker = applied_marker(reply)
    if use.idempotency_key is not None and ctx.repository.get_pointers([(marker.kind, marker.value)]):
        current = ctx.repository.get_ticket(use.ticket.id)
        assert current is not None
        return MacroApplied(reply=reply, ticket=current, changes={})
    ticket, changes = _apply_actions(use, ctx, now, scope)
    event = TicketEvent(
        at=now,
        type="macro_applied",
        data={
            "by": use.agent,
            "team": use.macro.team,
            "macro_id": use.macro.id,
            "title": use.macro.title,
            "macro_version": use.macro.version,
            "reply": reply.key,
            "changes": changes,
        },
    )
    with contextlib.suppress(DuplicateError):  # a concurrent retry recorded it first
        ctx.repository.add_events(ticket.id, [event], marker)
    return MacroApplied(reply=reply, ticket=ticket, changes=changes)


def _apply_actions(
    use: MacroUse, ctx: AgentContext, now: datetime, scope: Principal | None
) -> tuple[Ticket, dict[str, list[Any]]]:
    """The macro's actions as an agent's change of the ticket (recorded as an `updated` event)."""
    actions = use.macro.actions
    if actions.status is None and not actions.tags_add:
        return use.ticket, {}
    try:
        request = TicketChangeRequest(status=actions.status, tags_add=actions.tags_add)
    except ValidationError as exc:  # a macro saved before a limit of tickets' tags tightened
        raise InvalidMacroError(f"actions: {exc.errors()[0]['msg']}") from exc
    changes = would_change(use.ticket, actions)
    ticket = update_ticket(str(use.ticket.number), request, use.agent, ctx, now, scope=scope)
    return ticket, changes
