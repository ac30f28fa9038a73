"""ConversationReads in memory: a ticket's messages newest first, a page without HTML."""

from __future__ import annotations

from shared.dal.base import ticket_pk
from shared.dal.conversation import PAGE_ATTRIBUTES, ConversationEntry, ConversationPage
from shared.dal.items import MessageItem
from shared.dal.tickets import message_from_item
from shared.models.ticket import Message
from tests.fakes.table import MemoryStore, as_model


class MemoryConversation(MemoryStore):
    """ConversationReads on the in-memory table."""

    def conversation_page(self, ticket_id: str, limit: int, before: str | None = None) -> ConversationPage:
        items = list(reversed(self.table.partition(ticket_pk(ticket_id), "MSG#")))
        if before is not None:
            items = [item for item in items if str(item["sk"]) < before]
        page = items[:limit]
        entries = []
        for item in page:
            projected = {name: value for name, value in item.items() if name in PAGE_ATTRIBUTES}
            size = projected.get("html_bytes")
            entries.append(
                ConversationEntry(
                    key=str(item["sk"]),
                    message=message_from_item(as_model(MessageItem, projected)),
                    html_bytes=int(size) if size is not None else None,
                )
            )
        return ConversationPage(entries=entries, before=str(page[-1]["sk"]) if len(items) > limit else None)

    def get_message(self, ticket_id: str, key: str) -> Message | None:
        item = self.table.get((ticket_pk(ticket_id), key)) if key.startswith("MSG#") else None
        return message_from_item(as_model(MessageItem, item)) if item is not None else None
