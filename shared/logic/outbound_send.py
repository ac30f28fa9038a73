"""Sending the outbox: the send pass, once per queued message, and the sweeps that settle sends
that never finished (claimed with no result, or never picked up from the stream)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from shared import clock
from shared.channels.outbound import SendError
from shared.channels.social_outbound import HEADER_PRIVATE_REPLY_TO, HEADER_PUBLIC_REPLY_TO
from shared.dal.outbox import Outbox, StalePending
from shared.dal.pointers import Pointer
from shared.dal.tickets import TicketStore
from shared.errors import ConflictError
from shared.ids import new_id
from shared.logic.outbound import OutboundContext
from shared.logic.sla_service import after_agent_reply
from shared.models.config import HelpdeskConfig
from shared.models.outbound import OutboundMessage
from shared.models.ticket import Direction, Message, TicketEvent

SENT_WRITE_ATTEMPTS = 3
"""Tries at recording a sent message when the ticket changes under the write (each reads it again)."""

SWEEP_PAGE = 100
"""Outbox items a sweep pass takes at a time, across the shards; it takes another page while the
last one came back full, made progress and the run has time left (decision 119)."""

PACE_DEFER = timedelta(seconds=1)
"""A send over its channel's pace waits at least this long (the retry pass runs once a minute, so
in practice it goes within a minute): a retry time, not a drop (decision 120)."""

HasTime = Callable[[], bool]
"""Whether the sweep's run may start another page (its time budget is not spent)."""


def _unbounded() -> bool:
    return True


def send_outbound(key: str, ctx: OutboundContext, now: datetime) -> str:
    """Send one outbox message through its channel's sender, once; keep it on the ticket.

    Returns sent, failed, retry, unknown, deferred (over its channel's pace: sent after the
    sweeper's next retry pass, no attempt counted) or skipped (already taken by another delivery of
    the record). A transient failure (nothing was delivered) is retried later, up to
    `outbound.max_send_attempts` attempts in all; then, like a permanent one, it fails for good and
    flags the ticket `delivery_failed`. One whose outcome is unknown (the provider may have
    delivered it) is never resent: it fails and flags the ticket `delivery_unknown`.
    """
    message = ctx.repository.get_outbound(key)
    if message is None or message.status != "pending":
        return "skipped"
    if not _within_pace(message, ctx, now):
        return "deferred" if ctx.repository.defer_outbound(key, now + PACE_DEFER) else "skipped"
    if not ctx.repository.start_sending(key, now):
        return "skipped"
    sender = ctx.senders.get(message.channel)
    try:
        if sender is None:
            raise SendError(f"no sender for channel {message.channel} yet", permanent=True)
        provider_id = sender.send(message)
    except SendError as exc:
        return _send_failed(message, exc, ctx, now)
    _record_sent(message, provider_id, ctx, now)
    return "sent"


def _within_pace(message: OutboundMessage, ctx: OutboundContext, now: datetime) -> bool:
    """Whether the message's channel has a send slot left this second (always, when unpaced)."""
    rate = ctx.config.outbound.sends_per_second.get(message.channel)
    return rate is None or ctx.repository.take_send_slot(message.channel, message.key, now, rate)


def _send_failed(message: OutboundMessage, exc: SendError, ctx: OutboundContext, now: datetime) -> str:
    """Record a failed attempt: unknown (never resent), retry (transient, attempts left) or failed."""
    attempt = message.attempts + 1
    if exc.outcome == "unknown":
        _delivery_unknown(message, str(exc), attempt, ctx, now)
        return "unknown"
    permanent, error = exc.permanent, str(exc)
    if not permanent and attempt >= ctx.config.outbound.max_send_attempts:
        permanent, error = True, f"gave up after {attempt} attempts; the last failed with: {exc}"
    event = TicketEvent(
        at=now,
        type="delivery_failed" if permanent else "delivery_retry",
        data={"kind": message.kind, "key": message.key, "error": error, "attempt": attempt},
    )
    ctx.repository.outbound_failed(message, error, permanent, [event])
    return "failed" if permanent else "retry"


def _sent_message(message: OutboundMessage, provider_id: str, now: datetime) -> Message:
    """The sent message as the ticket keeps it, by the provider's id."""
    return Message(
        id=new_id("msg", now),
        ticket_id=message.ticket_id or "",
        direction=Direction.OUTBOUND,
        channel=message.channel,
        at=now,
        author=message.author,
        external_id=provider_id,
        provider_id=provider_id,
        subject=message.subject,
        text=message.text,
        html=message.html,
        automatic=message.automatic,
        headers={
            "kind": message.kind,
            "to": message.to,
            **({"template": message.template} if message.template else {}),
            **_answered(message),
        },
    )


def _answered(message: OutboundMessage) -> dict[str, str]:
    """The comment or post a message answered in public, or whose author it answered privately."""
    names = (HEADER_PUBLIC_REPLY_TO, HEADER_PRIVATE_REPLY_TO)
    return {k: v for k, v in message.headers.items() if k in names}


def _sent_data(message: OutboundMessage, message_id: str) -> dict[str, object]:
    """`message_sent`'s data; an agent's message names them as `by`, so it is in their audit trail."""
    data: dict[str, object] = {
        "kind": message.kind,
        "message_id": message_id,
        "to": message.to,
        **_answered(message),
    }
    if message.author and not message.automatic:
        data["by"] = message.author
    return data


def _record_sent(message: OutboundMessage, provider_id: str, ctx: OutboundContext, now: datetime) -> None:
    """Mark the outbox item sent and keep the message on its ticket, with a reference by the
    provider's id (replies to it thread here); an agent's reply also moves the ticket's SLA. The
    ticket is read again for each try, since the write is conditional on it."""
    sent = message.model_copy(update={"provider_id": provider_id, "status": "sent"})
    stored = _sent_message(message, provider_id, now)
    ref = provider_id if message.channel == "email" else f"{message.channel}:{provider_id}"
    for attempt in range(SENT_WRITE_ATTEMPTS):
        ticket = ctx.repository.get_ticket(message.ticket_id) if message.ticket_id else None
        sla = (
            after_agent_reply(ctx.config, ticket, now)
            if ticket is not None and not message.automatic
            else None
        )
        events = [
            TicketEvent(
                at=now,
                type="message_sent",
                data=_sent_data(message, stored.id),
            )
        ]
        pointers = [
            Pointer("ref", ref, ticket_id=message.ticket_id, message_id=stored.id, direction="outbound")
        ]
        try:
            ctx.repository.outbound_sent(sent, stored if ticket else None, pointers, events, ticket, sla)
            return
        except ConflictError:
            if attempt == SENT_WRITE_ATTEMPTS - 1:
                raise


def _delivery_unknown(
    message: OutboundMessage, reason: str, attempt: int, ctx: OutboundContext, now: datetime
) -> None:
    """A send whose outcome is unknown (the provider may have delivered it): failed, never resent,
    with a `delivery_unknown` event and flag on the ticket for an agent to check."""
    error = (
        f"send outcome unknown: {reason}; not resent, since the {message.channel} provider may have "
        "delivered it: check with the customer"
    )
    event = _unknown_outcome_event(message, error, attempt, now)
    ctx.repository.outbound_failed(message, error, True, [event], flag="delivery_unknown")


def _unknown_outcome_event(message: OutboundMessage, error: str, attempt: int, now: datetime) -> TicketEvent:
    """The event that tells an agent a send may or may not have reached the customer."""
    return TicketEvent(
        at=now,
        type="delivery_unknown",
        data={
            "kind": message.kind,
            "key": message.key,
            "error": error,
            "attempt": attempt,
            "channel": message.channel,
            "to": message.to,
        },
    )


class OutboxSweepStores(Outbox, TicketStore, Protocol):
    """What the outbox sweeps read and write: stuck and stale sends, and their tickets' events."""


def requeue_due(repository: Outbox, now: datetime, has_time: HasTime = _unbounded) -> int:
    """Put the messages whose retry time has come back to pending (the stream sends them again), a
    page at a time until none is left due or the time budget is spent. Returns how many moved."""
    moved = 0
    while True:
        page = repository.requeue_due_outbound(now, SWEEP_PAGE)
        moved += page
        if page < SWEEP_PAGE or not has_time():
            return moved


def flag_unknown_sends(
    repository: OutboxSweepStores, config: HelpdeskConfig, now: datetime, has_time: HasTime = _unbounded
) -> int:
    """Sends claimed longer than `outbound.sending_timeout_minutes` ago without a result (the
    sending function died between the claim and the result) become failed, with a
    `delivery_unknown` event and flag on the ticket for an agent to check. They are not resent: the
    provider may have delivered them, and no channel lets us ask or resend idempotently (see
    decisions.md). Pages until none is left or the time budget is spent. Returns how many were
    marked; a send another sweep marked first is not counted."""
    timeout = config.outbound.sending_timeout_minutes
    marked = 0
    while True:
        page = repository.stuck_sending(now - timedelta(minutes=timeout), SWEEP_PAGE)
        before = marked
        for stuck in page:
            message = stuck.message
            error = (
                f"send outcome unknown: claimed for sending at {clock.iso(stuck.claimed_at)} (attempt "
                f"{message.attempts}) with no result after {timeout} minutes; not resent, since the "
                f"{message.channel} provider may have delivered it: check with the customer"
            )
            event = _unknown_outcome_event(message, error, message.attempts, now)
            marked += repository.outbound_unknown(stuck, error, [event])
        if len(page) < SWEEP_PAGE or marked == before or not has_time():
            return marked


def redeliver_pending(
    repository: OutboxSweepStores, config: HelpdeskConfig, now: datetime, has_time: HasTime = _unbounded
) -> tuple[int, int]:
    """Messages still pending `outbound.pending_redelivery_minutes` after they were queued: Lambda
    gave up on their stream record (its retries or record age ran out, the batch went to the
    failure queue), so nothing will send them. Each is written again, which the stream delivers as
    a new record, up to `outbound.max_redeliveries` times; then it fails for good and its ticket is
    flagged `delivery_failed`. Sending stays once-only: a send starts with the pending→sending
    claim. Pages until none is left or the time budget is spent. Returns (redelivered, failed)."""
    wait = config.outbound.pending_redelivery_minutes
    limit = config.outbound.max_redeliveries
    redelivered = failed = 0
    while True:
        page = repository.stale_pending(now - timedelta(minutes=wait), SWEEP_PAGE)
        before = redelivered + failed
        for stale in page:
            if stale.redeliveries < limit:
                redelivered += repository.redeliver_pending(stale, now)
            else:
                failed += _give_up_pending(repository, stale, wait, limit, now)
        if len(page) < SWEEP_PAGE or redelivered + failed == before or not has_time():
            return redelivered, failed


def _give_up_pending(
    repository: OutboxSweepStores, stale: StalePending, wait: int, limit: int, now: datetime
) -> bool:
    """Fail a message never claimed however often it was delivered again, with its event."""
    message = stale.message
    error = (
        f"never sent: still pending {wait} minutes after each of {limit} redeliveries of its "
        f"stream record (auto_followup keeps failing on it: see its logs and failure queue)"
    )
    event = TicketEvent(
        at=now,
        type="delivery_failed",
        data={"kind": message.kind, "key": message.key, "error": error, "attempt": message.attempts},
    )
    return repository.pending_failed(stale, error, [event])
