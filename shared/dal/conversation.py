"""A ticket's conversation read a page at a time, newest first, for people who wait on it.

A long ticket (121 HTML emails) does not fit one API response, so a page carries each message
without its HTML and full text (read with a projection: those bytes never leave DynamoDB), and one
message is read whole by its key when the agent opens it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from shared.dal.base import ticket_pk
from shared.dal.items import MessageItem
from shared.dal.tickets import message_from_item
from shared.models.ticket import Message

PAGE_ATTRIBUTES = [name for name in MessageItem.get_attributes() if name not in {"html", "full_text"}]
"""What a conversation page reads of each message: everything but the HTML and the full text."""


@dataclass(frozen=True)
class ConversationEntry:
    key: str
    """The message's sort key (`MSG#<at>#<id>`): `get_message` reads it whole."""
    message: Message
    """Without `html` and `full_text`."""
    html_bytes: int | None
    """The size of its HTML, which `get_message` returns (None: it has none)."""


@dataclass(frozen=True)
class ConversationPage:
    entries: list[ConversationEntry]
    before: str | None
    """The last entry's key when older messages follow (the next page's `before`)."""


class ConversationReads(Protocol):
    def conversation_page(
        self, ticket_id: str, limit: int, before: str | None = None
    ) -> ConversationPage: ...

    def get_message(self, ticket_id: str, key: str) -> Message | None: ...


def _entry(item: MessageItem) -> ConversationEntry:
    size = int(item.html_bytes) if item.html_bytes is not None else None
    return ConversationEntry(key=str(item.sk), message=message_from_item(item), html_bytes=size)


class DynamoConversation:
    """ConversationReads on the table."""

    def conversation_page(self, ticket_id: str, limit: int, before: str | None = None) -> ConversationPage:
        """Up to `limit` messages older than `before` (all when None), newest first."""
        start: dict[str, dict[str, Any]] | None = None
        if before is not None:
            start = {"pk": {"S": ticket_pk(ticket_id)}, "sk": {"S": before}}
        items = list(
            MessageItem.query(
                ticket_pk(ticket_id),
                MessageItem.sk.startswith("MSG#"),
                scan_index_forward=False,
                last_evaluated_key=start,
                limit=limit + 1,
                page_size=limit + 1,
                attributes_to_get=PAGE_ATTRIBUTES,
            )
        )
        page = items[:limit]
        return ConversationPage(
            entries=[_entry(item) for item in page], before=str(page[-1].sk) if len(items) > limit else None
        )

    def get_message(self, ticket_id: str, key: str) -> Message | None:
        if not key.startswith("MSG#"):
            return None
        try:
            return message_from_item(MessageItem.get(ticket_pk(ticket_id), key))
        except MessageItem.DoesNotExist:
            return None
