"""Answers on public tickets (a comment on our post, a mention): in public under the customer's
comment or post, or, moved to a private conversation, as a private reply to its author (decision 90).

- In public: an agent's reply on a public ticket goes under the customer's latest comment or post
  (`public_addressing`, used by `agent_replies`), as one comment or post, never split.
- Privately (`private_reply`): Meta's Private Replies on Messenger (Page comments) and Instagram
  comments, one message per comment within 7 days of it, the comment naming the recipient; on X a
  DM to the author of the mention. One private reply per comment or mention, whichever agent asks:
  the outbox key is the comment's, so a second one is refused in the same conditional write.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared import clock
from shared.channels.social_outbound import (
    HEADER_LAST_INBOUND_AT,
    HEADER_PRIVATE_REPLY_TO,
    HEADER_PUBLIC_REPLY_TO,
    PUBLIC_TEXT_LIMITS,
    TEXT_LIMITS,
    private_reply_window,
)
from shared.dal.base import DuplicateError
from shared.dal.pointers import Pointer
from shared.errors import ConflictError, HelpdeskError
from shared.logic.agent_actions import InvalidRequestError, check_idempotency_key, check_text
from shared.logic.outbound import OutboundContext
from shared.models.outbound import OutboundMessage
from shared.models.ticket import Direction, Message, Ticket, TicketEvent

PUBLIC_KINDS = frozenset({"comment", "mention"})
"""The kinds of inbound message (`headers["kind"]`) a public ticket is made of."""
PRIVATE_REPLY_CHANNELS = frozenset({"messenger", "instagram", "x"})
"""Channels whose public items can be answered privately: Meta's private replies, an X DM."""


class PrivateReplyRequest(BaseModel):
    """An agent's private reply to the author of a public ticket's latest comment or mention."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1)
    """At most MAX_TEXT_BYTES in UTF-8 (413 above), and what one message carries on Meta."""


class PrivateReplyRefusedError(HelpdeskError):
    """No private reply can answer this ticket: it is not public, its comment is too old, or its
    channel cannot (HTTP 422)."""


class PrivateReplySentError(HelpdeskError):
    """A private reply to the ticket's latest comment was already queued (HTTP 409): the platform
    allows one per comment."""


def latest_public_item(messages: list[Message]) -> Message | None:
    """The customer's latest comment or mention on the ticket (None: it has none)."""
    items = [
        m
        for m in messages
        if m.direction == Direction.INBOUND
        and not m.automatic
        and m.headers.get("kind") in PUBLIC_KINDS
        and m.external_id
    ]
    return items[-1] if items else None


def public_addressing(ticket: Ticket, messages: list[Message]) -> dict[str, Any]:
    """Addressing of an agent's reply on a public ticket: under the customer's latest comment or
    post (`public_reply_to`), from our account; refused when nothing there can be answered."""
    item = latest_public_item(messages)
    channel = ticket.channel.value
    if item is None or channel not in PUBLIC_TEXT_LIMITS:
        raise InvalidRequestError(f"ticket {ticket.number} has no public comment or post to answer")
    if channel == "instagram" and item.headers.get("kind") == "mention":
        raise InvalidRequestError(
            "an Instagram mention is not a comment on our media and cannot be answered from the "
            "helpdesk: answer it on Instagram"
        )
    if item.headers.get("live") == "true":
        raise InvalidRequestError(
            "Instagram allows no public reply to a comment on a live video: answer it with a private "
            "reply (POST /tickets/{ref}/private-reply)"
        )
    return {
        "to": item.author,
        "channel": channel,
        "from_address": ticket.inbox,
        "headers": {HEADER_PUBLIC_REPLY_TO: item.external_id or ""},
    }


def check_public_text(channel: str, text: str) -> None:
    """Refuse a public answer longer than one comment or post carries (it is never split)."""
    limit = PUBLIC_TEXT_LIMITS[channel]
    if len(text.strip()) > limit:
        what = "post" if channel == "x" else "comment"
        raise InvalidRequestError(
            f"a public reply on {channel} is one {what} of at most {limit:,} characters; this one has "
            f"{len(text.strip()):,}: shorten it, or answer privately (POST /tickets/{{ref}}/private-reply)"
        )


def private_reply_key(ticket: Ticket, comment_id: str) -> str:
    """The outbox key of the one private reply to a comment or mention of our account."""
    return f"private#{ticket.channel.value}:{ticket.inbox}:{comment_id}"


def _digest(text: str, agent: str, idempotency_key: str | None) -> str:
    """What was asked: a retry under the same Idempotency-Key by the same agent must match it."""
    canonical = json.dumps(
        {"text": text, "agent": agent, "key": idempotency_key, "private": True}, sort_keys=True
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _item_to_answer(ticket: Ticket, ctx: OutboundContext) -> Message:
    """The comment or mention the private reply answers: the customer's latest, with its author."""
    channel = ticket.channel.value
    if "public" not in ticket.flags:
        raise PrivateReplyRefusedError(
            f"ticket {ticket.number} is a private conversation already: answer it with POST "
            "/tickets/{ref}/replies"
        )
    if channel not in PRIVATE_REPLY_CHANNELS:
        raise PrivateReplyRefusedError(f"{channel} has no private replies to public items")
    item = latest_public_item(ctx.repository.list_messages(ticket.id))
    if item is None:
        raise PrivateReplyRefusedError(f"ticket {ticket.number} has no customer comment or mention")
    if channel != "x" and item.headers.get("kind") != "comment":
        raise PrivateReplyRefusedError(
            f"Meta's private replies answer comments on our {channel} posts, and the latest item of "
            f"ticket {ticket.number} is a {item.headers.get('kind')}: answer it on {channel}"
        )
    if not item.author or item.author == "unknown":
        raise PrivateReplyRefusedError(f"the author of the latest item of ticket {ticket.number} is unknown")
    return item


def _check_private(channel: str, item: Message, text: str, now: datetime) -> None:
    """Refuse what the platform would: a Meta comment 7 days old or more, or a text that does not
    fit the one message a private reply is (X DMs may be split, as any)."""
    if channel == "x":
        return
    refused = private_reply_window(item.at, now)
    if refused is not None:
        raise PrivateReplyRefusedError(f"no private reply on {channel}: {refused}")
    limit = TEXT_LIMITS[channel]
    size = len(text.strip().encode("utf-8")) if channel == "instagram" else len(text.strip())
    if size > limit:
        unit = "bytes" if channel == "instagram" else "characters"
        raise InvalidRequestError(
            f"a private reply on {channel} is one message of at most {limit:,} {unit} (Meta allows only "
            f"one per comment); this one has {size:,}: shorten it"
        )


def _queued_before(
    key: str, digest: str, idempotency_key: str | None, ctx: OutboundContext
) -> OutboundMessage:
    """The private reply already queued for the comment: this request's retry, or refused."""
    earlier = ctx.repository.get_outbound(key)
    if earlier is None:
        raise ConflictError(f"outbox {key} changed meanwhile")
    if idempotency_key is not None and earlier.request_digest == digest:
        return earlier
    comment = earlier.headers.get(HEADER_PRIVATE_REPLY_TO, "")
    raise PrivateReplySentError(
        f"a private reply to {comment} was already queued by {earlier.author} at "
        f"{clock.iso(earlier.created_at)}: one private reply per comment"
    )


def _record(ticket: Ticket, outbound: OutboundMessage, now: datetime, ctx: OutboundContext) -> None:
    """The `private_reply_queued` event on the ticket, once per private reply (a retry after a
    failure between the outbox write and this one records it then)."""
    event = TicketEvent(
        at=now,
        type="private_reply_queued",
        data={
            "by": outbound.author,
            "comment_id": outbound.headers.get(HEADER_PRIVATE_REPLY_TO),
            "channel": outbound.channel,
            "to": outbound.to,
            "key": outbound.key,
        },
    )
    with contextlib.suppress(DuplicateError):  # recorded already, by the first try
        ctx.repository.add_events(ticket.id, [event], Pointer("inbound", f"private-reply#{outbound.key}"))


def private_reply(
    ticket: Ticket,
    text: str,
    agent: str,
    ctx: OutboundContext,
    now: datetime,
    idempotency_key: str | None = None,
) -> OutboundMessage:
    """Queue a private reply to the author of the public ticket's latest comment or mention, and
    record who moved which comment to a private conversation; refuse one the platform would not
    take, or a second one to the same comment. With an `idempotency_key`, a retry of the same
    request gets the reply queued the first time."""
    check_text(text)
    if idempotency_key is not None:
        check_idempotency_key(idempotency_key)
    item = _item_to_answer(ticket, ctx)
    comment = item.external_id or ""
    key, digest = private_reply_key(ticket, comment), _digest(text, agent, idempotency_key)
    if ctx.repository.get_outbound(key) is not None:
        earlier = _queued_before(key, digest, idempotency_key, ctx)
        _record(ticket, earlier, now, ctx)
        return earlier
    channel = ticket.channel.value
    _check_private(channel, item, text, now)
    outbound = OutboundMessage(
        key=key,
        ticket_id=ticket.id,
        channel=channel,
        kind="reply",
        to=item.author,
        from_address=ticket.inbox,
        text=text,
        automatic=False,
        author=agent,
        headers={HEADER_PRIVATE_REPLY_TO: comment, HEADER_LAST_INBOUND_AT: clock.iso(item.at)},
        created_at=now,
        request_digest=digest,
    )
    if not ctx.repository.put_outbound(outbound, []):
        outbound = _queued_before(key, digest, idempotency_key, ctx)
    _record(ticket, outbound, now, ctx)
    return outbound
