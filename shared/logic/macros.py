"""Canned responses (macros): a team's reply templates with placeholders and optional actions.

A body is a jinja2 template rendered in the sandbox with strict variables, so a macro that names
an unknown placeholder, or reaches for Python internals, is refused when it is saved, not when an
agent sends it. Placeholders: `customer_name`, `ticket.number`, `ticket.subject`,
`ticket.channel`, `agent_name`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.dal.macros import MacroStore
from shared.errors import ConflictError, HelpdeskError
from shared.ids import new_id
from shared.logic.templates import render_string
from shared.models.config import HelpdeskConfig
from shared.models.macros import Macro, MacroActions
from shared.models.ticket import Customer, Ticket

MAX_BODY_CHARS = 20_000

SAMPLE = {
    "customer_name": "Sam",
    "agent_name": "Alice",
    "ticket": {"number": 1042, "subject": "Printer jam", "channel": "email"},
}
"""The placeholders a macro may use, with the values a preview without a ticket shows."""


class InvalidMacroError(HelpdeskError):
    """The macro cannot be saved or rendered as written (HTTP 400)."""


class MacroNotFoundError(HelpdeskError):
    """No macro of that team has that id (HTTP 404)."""


class MacroRequest(BaseModel):
    """A macro as an agent writes it."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    body: Annotated[str, StringConstraints(min_length=1, max_length=MAX_BODY_CHARS)]
    actions: MacroActions = Field(default_factory=MacroActions)


def render_body(body: str, context: dict[str, Any]) -> str:
    """The body with its placeholders filled; InvalidMacroError says what is wrong with it."""
    from jinja2 import TemplateError

    try:
        return render_string(body, context)
    except TemplateError as exc:  # syntax, an unknown placeholder, the sandbox refusing an attribute
        raise InvalidMacroError(f"body: {exc}") from exc


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


def create_macro(
    team: str, request: MacroRequest, actor: str, config: HelpdeskConfig, store: MacroStore, now: datetime
) -> Macro:
    _known_team(team, config)
    render_body(request.body, SAMPLE)
    macro = Macro(
        id=new_id("mac", now),
        team=team,
        title=request.title,
        body=request.body,
        actions=request.actions,
        created_at=now,
        updated_at=now,
        updated_by=actor,
    )
    store.save_macro(macro, expected_version=None)
    return macro


def existing_macro(team: str, macro_id: str, store: MacroStore) -> Macro:
    macro = store.get_macro(team, macro_id)
    if macro is None:
        raise MacroNotFoundError(f"team {team!r} has no macro {macro_id!r}")
    return macro


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
    if current.version != version:
        raise ConflictError(f"macro {macro_id} is at version {current.version}, not {version}")
    render_body(request.body, SAMPLE)
    updated = current.model_copy(
        update={
            "title": request.title,
            "body": request.body,
            "actions": request.actions,
            "version": version + 1,
            "updated_at": now,
            "updated_by": actor,
        }
    )
    store.save_macro(updated, expected_version=version)
    return updated


def delete_macro(team: str, macro_id: str, version: int, store: MacroStore) -> None:
    current = existing_macro(team, macro_id, store)
    if current.version != version:
        raise ConflictError(f"macro {macro_id} is at version {current.version}, not {version}")
    store.delete_macro(team, macro_id, version)
