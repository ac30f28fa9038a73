"""The live workspace's data: an agent's WebSocket connection, and the compact change events pushed
to it (docs/agent-api.md, "Live updates")."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

LiveEventType = Literal[
    "ticket.created",
    "ticket.assigned",
    "ticket.updated",
    "ticket.customer_replied",
    "ticket.replied",
    "ticket.note",
    "sla.warning",
    "sla.breached",
    "presence.changed",
    "mention",
]
Audience = Literal["viewers", "owners", "mentioned"]
"""`viewers`: every agent who sees the ticket (the agent API's permissions); `owners`: its assignee
and the supervisors of its team (SLA warnings and breaches); `mentioned`: the agent a note names
(`data.agent`), if they see the ticket."""


class LiveConnection(BaseModel):
    """An agent's open WebSocket connection, as `$connect` admitted it."""

    model_config = ConfigDict(frozen=True)

    connection_id: str
    agent_id: str
    role: int
    """shared.logic.permissions.Role: 1 agent, 2 supervisor, 3 admin."""
    teams: list[str] = Field(default_factory=list)
    connected_at: datetime
    expires_at: datetime
    """API Gateway closes a WebSocket connection after 2 hours; the items expire (TTL) soon after."""


class LiveTicket(BaseModel):
    """What a change event says of its ticket: enough to place it in a list, nothing of its text."""

    id: str
    number: int
    channel: str
    status: str
    priority: str
    team: str | None = None
    assignee: str | None = None


class LiveEvent(BaseModel):
    """One change pushed to the agents who may see it (at least once: `id` repeats on a redelivery)."""

    id: str
    """The stream record's event id (and a position when one record makes several events)."""
    type: LiveEventType
    at: datetime
    ticket_id: str
    """The push reads the ticket as it is then: who may see it, and what the event says of it."""
    sequence: str = ""
    """The stream record's sequence number: changes of one moment are kept in the stream's order."""
    audience: Audience = "viewers"
    data: dict[str, Any] = Field(default_factory=dict)

    def message(self, ticket: LiveTicket) -> dict[str, Any]:
        """What a connection receives: the event with its ticket, without the audience."""
        return {
            "id": self.id,
            "type": self.type,
            "at": self.at.isoformat(),
            "ticket": ticket.model_dump(),
            "data": self.data,
        }


class LiveChange(BaseModel):
    """A change as an agent's screen receives it (pushed, or read back with `GET /changes`)."""

    id: str = Field(description="Repeats when a change is delivered twice: drop the ones seen")
    type: LiveEventType
    at: datetime = Field(description="When the change was made (the tickets stream's time)")
    ticket: LiveTicket = Field(description="The ticket as it is now")
    data: dict[str, Any] = Field(default_factory=dict, description="What changed; never customer text")


class LiveChangePage(BaseModel):
    """What a reconnecting UI missed, oldest first (`GET /changes`)."""

    changes: list[LiveChange]
    next_cursor: str | None = Field(description="More changes after these: pass it as `cursor`")
