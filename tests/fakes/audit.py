"""AuditLog in memory: the `ACTOR#<agent id>` partitions of gsi1 that event items carry."""

from __future__ import annotations

from shared.dal.audit import AgentAction, AuditPage, MentionPage, mention_from_item
from shared.dal.items import EventItem, MentionItem
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

    def agent_mentions(self, agent_id: str, limit: int, after: str | None = None) -> MentionPage:
        items = list(reversed(self.table.partition(f"MENTIONS#{agent_id}")))
        if after is not None:
            items = [i for i in items if str(i["sk"]) < after]
        page = items[:limit]
        mentions = [mention_from_item(as_model(MentionItem, i)) for i in page]
        return MentionPage(mentions, str(page[-1]["sk"]) if len(items) > limit else None)
