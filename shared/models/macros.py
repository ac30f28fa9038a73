"""Canned responses (macros): a team's reply templates, with actions applied with the reply."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

MacroTag = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]
"""A tag as a ticket holds it (1 to 100 characters, no control characters)."""


class MacroActions(BaseModel):
    """What sending the macro's reply also does to the ticket (none by default)."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["open", "pending", "on_hold", "resolved", "closed"] | None = None
    tags_add: list[MacroTag] = Field(default_factory=list, max_length=20)


class Macro(BaseModel):
    id: str
    team: str
    title: str
    body: str
    """A jinja2 template (sandboxed): `customer_name`, `ticket.number`, `ticket.subject`,
    `ticket.channel`, `agent_name`."""
    actions: MacroActions = Field(default_factory=MacroActions)
    version: int = 1
    created_at: datetime
    updated_at: datetime
    updated_by: str
