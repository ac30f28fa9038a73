"""What an agent reads while working a ticket, a page at a time: the conversation newest first,
one message whole, a download link for an attachment, the ticket's events, an agent's actions and
the customer behind an email address, phone number or social account.

Every listing answers `limit` items and an opaque cursor (shared/logic/cursors.py) whose parts are
checked before they reach DynamoDB. Plain data in, plain data out: the handler maps the results to
the API's models and the errors to problems.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from shared.dal.audit import AgentAction, AuditLog
from shared.dal.conversation import ConversationEntry, ConversationReads
from shared.dal.tickets import Mention, TicketStore
from shared.errors import HelpdeskError
from shared.logic.cursors import decode_cursor, encode_cursor
from shared.logic.lookups import LookupStores, customer_tickets, find_customer
from shared.logic.permissions import Principal, may_read_agent, visible
from shared.models.config import HelpdeskConfig
from shared.models.ticket import Attachment, Customer, IdentityKind, Message, Ticket, TicketEvent
from shared.storage import BlobStore, DownloadLinks

LINK_SECONDS = 300
"""How long an attachment's download link works: long enough to click, short enough not to share."""

_ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
_MESSAGE_KEY = re.compile(rf"MSG#{_ISO}#[^\x00-\x1f]{{1,1000}}")
_ACTION_KEY = re.compile(rf"{_ISO}#[a-z]{{2,5}}_[0-9a-z]{{26}}#[a-z]{{2,5}}_[0-9a-z]{{26}}#\d{{3}}")


def _is_message_key(text: str) -> bool:
    return _MESSAGE_KEY.fullmatch(text) is not None


def _is_action_key(text: str) -> bool:
    return _ACTION_KEY.fullmatch(text) is not None


class MessageNotFoundError(HelpdeskError):
    """The ticket has no message with that reference (HTTP 404)."""


class AttachmentNotFoundError(HelpdeskError):
    """The message has no attachment at that position (HTTP 404)."""


class CustomerNotFoundError(HelpdeskError):
    """No customer has that identity (HTTP 404)."""


class AgentNotFoundError(HelpdeskError):
    """The config has no agent with that id (HTTP 404)."""


# -- the conversation -----------------------------------------------------------------------------


def message_ref(key: str) -> str:
    """The URL-safe name of a message of a ticket (its sort key, base64url): what a page hands out
    for opening the message whole."""
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def message_key(ref: str) -> str:
    try:
        key = base64.urlsafe_b64decode(ref + "=" * (-len(ref) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise MessageNotFoundError(f"no message {ref!r} on this ticket") from exc
    if not _MESSAGE_KEY.fullmatch(key):
        raise MessageNotFoundError(f"no message {ref!r} on this ticket")
    return key


@dataclass(frozen=True)
class Conversation:
    entries: list[ConversationEntry]
    cursor: str | None
    """For the next (older) page; None on the oldest."""


def conversation(
    ticket: Ticket, repository: ConversationReads, limit: int, cursor: str | None
) -> Conversation:
    """One page of the ticket's messages, newest first, without their HTML."""
    before = None
    if cursor is not None:
        (before,) = decode_cursor(cursor, 1, _is_message_key)
    page = repository.conversation_page(ticket.id, limit, before)
    return Conversation(page.entries, encode_cursor([page.before]) if page.before is not None else None)


def whole_message(
    ticket: Ticket, ref: str, repository: ConversationReads, bodies: BlobStore | None = None
) -> Message:
    """One message of the ticket with its HTML and full text, read from S3 when it was too large to
    keep on the item (`body_key`)."""
    message = repository.get_message(ticket.id, message_key(ref))
    if message is None:
        raise MessageNotFoundError(f"no message {ref!r} on this ticket")
    if message.body_key is None or bodies is None:
        return message
    body = json.loads(bodies.get(message.body_key))
    return message.model_copy(
        update={"text": body["text"], "full_text": body["full_text"], "html": body["html"]}
    )


@dataclass(frozen=True)
class DownloadLink:
    url: str
    expires_at: datetime | None
    """None for a link the platform keeps (its own expiry applies)."""
    attachment: Attachment
    stored: bool
    """True: our bucket, a pre-signed link that always downloads; False: the platform's URL."""


def attachment_link(message: Message, index: int, links: DownloadLinks | None, now: datetime) -> DownloadLink:
    """A short-lived link to the message's attachment number `index` (from 0)."""
    if not 0 <= index < len(message.attachments):
        raise AttachmentNotFoundError(f"the message has no attachment {index}")
    attachment = message.attachments[index]
    if attachment.key is not None and links is not None:
        url = links.download_url(attachment.key, attachment.name, LINK_SECONDS)
        return DownloadLink(url, now + timedelta(seconds=LINK_SECONDS), attachment, stored=True)
    if attachment.url is not None:
        return DownloadLink(attachment.url, None, attachment, stored=False)
    raise AttachmentNotFoundError(
        f"attachment {index} ({attachment.name!r}) was not kept: only its name is known"
    )


# -- events and actions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EventPage:
    events: list[TicketEvent]
    cursor: str | None


def ticket_events(ticket: Ticket, repository: TicketStore, limit: int, cursor: str | None) -> EventPage:
    """One page of the ticket's events, oldest first (the ticket's audit trail). New events only
    ever come last, so a cursor (how many were shown) never skips or repeats one."""
    start = 0
    if cursor is not None:
        (shown,) = decode_cursor(cursor, 1, str.isdigit)
        start = int(shown)
    events = repository.list_events(ticket.id)
    page = events[start : start + limit]
    end = start + len(page)
    return EventPage(page, encode_cursor([str(end)]) if end < len(events) else None)


@dataclass(frozen=True)
class ActionPage:
    actions: list[AgentAction]
    cursor: str | None


def agent_actions(
    caller: Principal, agent_id: str, config: HelpdeskConfig, log: AuditLog, limit: int, cursor: str | None
) -> ActionPage:
    """One page of what an agent did to tickets, newest first: their own, their team's agents for a
    supervisor, anyone's for an admin."""
    after = _agent_position(caller, agent_id, config, cursor, _is_action_key)
    page = log.agent_actions(agent_id, limit, after)
    return ActionPage(page.actions, _cursor_after(page.after))


def _agent_position(
    caller: Principal, agent_id: str, config: HelpdeskConfig, cursor: str | None, check: Callable[[str], bool]
) -> str | None:
    """For a listing of an agent's own records: the agent must exist and be the caller's to read;
    the cursor's position, checked by `check` (None: the first page)."""
    agent = config.agent(agent_id)
    if agent is None:
        raise AgentNotFoundError(f"no agent {agent_id!r}")
    may_read_agent(caller, agent.teams, agent_id)
    if cursor is None:
        return None
    (after,) = decode_cursor(cursor, 1, check)
    return after


def _cursor_after(position: str | None) -> str | None:
    return encode_cursor([position]) if position is not None else None


@dataclass(frozen=True)
class MentionsPage:
    mentions: list[Mention]
    cursor: str | None


_MENTION_KEY = re.compile(rf"{_ISO}#[a-z]{{2,5}}_[0-9a-z]{{26}}#[^\x00-\x1f]{{1,300}}")


def _is_mention_key(text: str) -> bool:
    return _MENTION_KEY.fullmatch(text) is not None


def agent_mentions(
    caller: Principal, agent_id: str, config: HelpdeskConfig, log: AuditLog, limit: int, cursor: str | None
) -> MentionsPage:
    """One page of the notes that named an agent, newest first: their own; their team's agents for
    a supervisor; anyone's for an admin."""
    after = _agent_position(caller, agent_id, config, cursor, _is_mention_key)
    page = log.agent_mentions(agent_id, limit, after)
    return MentionsPage(page.mentions, _cursor_after(page.after))


# -- the customer ---------------------------------------------------------------------------------


class CustomerReads(LookupStores, Protocol):
    """What a customer lookup reads."""


@dataclass(frozen=True)
class CustomerFound:
    customer: Customer
    tickets: list[Ticket]
    """Those the caller may see, newest first."""
    hidden: int
    """How many more the customer has outside the caller's scope."""


def lookup_customer(
    caller: Principal,
    kind: IdentityKind,
    value: str,
    repository: CustomerReads,
    default_region: str | None,
) -> CustomerFound | None:
    customer = find_customer(kind, value, repository, default_region)
    if customer is None:
        return None
    tickets = customer_tickets(customer, repository)
    shown = [t for t in tickets if visible(caller, t)]
    return CustomerFound(customer, shown, len(tickets) - len(shown))
