"""The audit trail per agent: the events an agent caused on any ticket, newest first.

Every event an agent causes (`tickets.AGENT_ACTIONS`: a change to a ticket, a note), which names
them as `by`, is written with `gsi1` keys `ACTOR#<agent id>` / `<at>#<ticket id>#<write>#<n>`
(`tickets.event_items`), so one Query pages an agent's actions without reading anyone else's.
The audit of one ticket is its event list (`TicketStore.list_events`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from shared import clock
from shared.dal.items import EventItem, MentionItem
from shared.dal.tickets import Mention, event_from_item
from shared.models.ticket import TicketEvent


@dataclass(frozen=True)
class AgentAction:
    ticket_id: str
    event: TicketEvent


@dataclass(frozen=True)
class AuditPage:
    actions: list[AgentAction]
    after: str | None
    """The last action's index key when another page follows (the next page's `after`)."""


@dataclass(frozen=True)
class MentionPage:
    mentions: list[Mention]
    after: str | None
    """The last mention's key when another page follows."""


class AuditLog(Protocol):
    def agent_actions(self, agent_id: str, limit: int, after: str | None = None) -> AuditPage: ...

    def agent_mentions(self, agent_id: str, limit: int, after: str | None = None) -> MentionPage: ...


def mention_from_item(item: MentionItem) -> Mention:
    return Mention(
        agent_id=str(item.pk).removeprefix("MENTIONS#"),
        ticket_id=str(item.ticket_id),
        ticket_number=int(item.ticket_number),
        message_id=str(item.message_id),
        by=str(item.by),
        at=clock.parse_iso(str(item.at)),
        excerpt=str(item.excerpt),
    )


def ticket_of(item: EventItem) -> str:
    return str(item.pk).removeprefix("TICKET#")


class DynamoAudit:
    """AuditLog on the table."""

    def agent_actions(self, agent_id: str, limit: int, after: str | None = None) -> AuditPage:
        """One page of an agent's actions, newest first; `after` is the previous page's cursor."""
        start: dict[str, dict[str, Any]] | None = None
        if after is not None:  # `<at>#<ticket id>#<write>#<n>` names the event item's own key too
            at, ticket_id, write, index = after.split("#", 3)
            start = {
                "pk": {"S": f"TICKET#{ticket_id}"},
                "sk": {"S": f"EVENT#{at}#{write}#{index}"},
                "gsi1pk": {"S": f"ACTOR#{agent_id}"},
                "gsi1sk": {"S": after},
            }
        items = list(
            EventItem.by_actor.query(
                f"ACTOR#{agent_id}",
                scan_index_forward=False,
                last_evaluated_key=start,
                limit=limit + 1,
                page_size=limit + 1,
            )
        )
        page = items[:limit]
        actions = [AgentAction(ticket_of(item), event_from_item(item)) for item in page]
        return AuditPage(actions=actions, after=str(page[-1].gsi1sk) if len(items) > limit else None)

    def agent_mentions(self, agent_id: str, limit: int, after: str | None = None) -> MentionPage:
        """One page of the notes that named an agent, newest first."""
        start = {"pk": {"S": f"MENTIONS#{agent_id}"}, "sk": {"S": after}} if after is not None else None
        items = list(
            MentionItem.query(
                f"MENTIONS#{agent_id}",
                scan_index_forward=False,
                last_evaluated_key=start,
                limit=limit + 1,
                page_size=limit + 1,
            )
        )
        page = items[:limit]
        return MentionPage(
            [mention_from_item(i) for i in page], str(page[-1].sk) if len(items) > limit else None
        )
