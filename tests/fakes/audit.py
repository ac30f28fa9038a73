"""AuditLog in memory: the `ACTOR#<agent id>` partitions of gsi1 that event items carry."""

from __future__ import annotations

from shared.dal.audit import AgentAction, AuditPage
from shared.dal.items import EventItem
from shared.dal.tickets import event_from_item
from tests.fakes.table import MemoryStore, as_model


class MemoryAudit(MemoryStore):
    """AuditLog on the in-memory table."""

    def agent_actions(self, agent_id: str, limit: int, after: str | None = None) -> AuditPage:
        items = self.table.query_index("gsi1", f"ACTOR#{agent_id}", below=after, newest_first=True)
        page = items[:limit]
        actions = [
            AgentAction(str(item["pk"]).removeprefix("TICKET#"), event_from_item(as_model(EventItem, item)))
            for item in page
        ]
        return AuditPage(actions=actions, after=str(page[-1]["gsi1sk"]) if len(items) > limit else None)
