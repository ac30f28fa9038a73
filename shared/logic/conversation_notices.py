"""Use case: conversation notices (an unsend, a reply sent outside the helpdesk) on the ticket."""

from __future__ import annotations

from typing import Any, Literal, Protocol

from shared.dal.base import DuplicateError
from shared.dal.pointers import Pointer, PointerReads
from shared.dal.tickets import TicketStore
from shared.models.inbound import ConversationNotice, NoticeKind
from shared.models.ticket import TicketEvent

NoticeOutcome = Literal["recorded", "duplicate", "ours", "unmatched"]


class NoticeStores(PointerReads, TicketStore, Protocol):
    """What recording a notice reads (the message's and conversation's pointers) and writes (events)."""


def record_notice(notice: ConversationNotice, repository: NoticeStores) -> NoticeOutcome:
    """Record a conversation notice as an event on its ticket, exactly once.

    An unsend (`message_unsent`) goes to the ticket of the message taken back, or else to the
    conversation's ticket; an external reply (`external_reply`, with its text) to the
    conversation's ticket, unless its message id is one we recorded as sent (`ours`: an echo of
    our own send whose app id was not known). Returns `unmatched` when no ticket concerns it.
    """
    ref = ("ref", f"{notice.channel.value}:{notice.provider_message_id}")
    conversation = ("conversation", notice.conversation_key)
    found = repository.get_pointers([ref, conversation])
    message = found.get(ref)
    if notice.kind is NoticeKind.EXTERNAL_REPLY and message is not None and message.direction == "outbound":
        return "ours"
    own = message if message is not None and message.direction == "inbound" else None
    ticket_id = (own.ticket_id if own else None) or _ticket_of(found.get(conversation))
    if ticket_id is None:
        return "unmatched"
    data: dict[str, Any] = {
        "channel": notice.channel.value,
        "provider_message_id": notice.provider_message_id,
    }
    if notice.kind is NoticeKind.UNSENT:
        data["message_id"] = own.message_id if own else None
    else:
        data["text"] = notice.text
        data["attachments"] = [a.model_dump(mode="json", exclude_defaults=True) for a in notice.attachments]
        data["app_id"] = notice.app_id
    event = TicketEvent(at=notice.at, type=notice.kind.value, data=data)
    try:
        repository.add_events(ticket_id, [event], Pointer("inbound", f"notice#{notice.dedupe_key}"))
    except DuplicateError:
        return "duplicate"
    return "recorded"


def _ticket_of(pointer: Pointer | None) -> str | None:
    return pointer.ticket_id if pointer is not None else None
