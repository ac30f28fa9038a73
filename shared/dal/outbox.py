"""The outbox: messages to send, each sent at most once, with the indexes the sweeper uses to retry,
redeliver and give up (`gsi2` partitions `OUTBOXRETRY#<n>`, `OUTBOXSENDING#<n>`, `OUTBOXPENDING#<n>`,
n one of `OUTBOX_SHARDS` by a hash of the message key: decision 119)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from shared import clock
from shared.dal.base import DuplicateError, Table, cancellation_codes, raise_if_permanent, ticket_pk
from shared.dal.items import (
    OutboxItem,
    PaceItem,
    PointerItem,
    TicketItem,
)
from shared.dal.pointers import Pointer, pointer_item
from shared.dal.tickets import SlaWrite, event_items, flag_ticket, message_to_item, sla_actions
from shared.errors import ConflictError, HelpdeskError
from shared.models.outbound import OutboundMessage
from shared.models.ticket import (
    Message,
    Ticket,
    TicketEvent,
)


class GuardRaceError(HelpdeskError):
    """An outbox put lost to a concurrent one: a guard pointer was written since `guard_since`."""


class ReplyLockMovedError(HelpdeskError):
    """Another reply became the ticket's latest between the read of its reply lock and this put."""


REPLY_LOCK = "replylock"
"""Pointer kind of a ticket's reply lock: its latest agent reply (`message_id` the outbox key,
`direction` the agent), value the ticket id (decision 108)."""


OUTBOX_RETRY = "OUTBOXRETRY"
"""gsi2 partitions (`OUTBOXRETRY#<n>`) of outbox items waiting for another try, by retry time."""


OUTBOX_SENDING = "OUTBOXSENDING"
"""gsi2 partitions of outbox items claimed for sending and not yet sent or failed, by claim time."""


OUTBOX_PENDING = "OUTBOXPENDING"
"""gsi2 partitions of outbox items waiting to be sent, by when they became pending (or were last
delivered again): one whose stream record Lambda gave up on stays here until the sweeper redelivers
it."""

OUTBOX_SHARDS = 32
"""Shards of each outbox state on gsi2 (decision 119): at the 10x burst one unsharded state key took
13,600 write units a second; 32 shards keep each near 425, under half a partition's 1,000. Changing
the count moves items between shards: readers would have to read both counts for a release."""


def outbox_partition(state: str, key: str) -> str:
    """The gsi2 partition of a message in `state` (a stable hash of its key picks the shard, so every
    state of one message is on the same shard number)."""
    return f"{state}#{zlib.crc32(key.encode()) % OUTBOX_SHARDS}"


def outbox_partitions(state: str) -> list[str]:
    """Every gsi2 partition a pass over `state` reads: its shards, then the unsharded key that items
    written before decision 119 still carry (read for one release, until they have all moved)."""
    return [f"{state}#{n}" for n in range(OUTBOX_SHARDS)] + [state]


PACE_SLOTS_PER_SHARD = 100
"""Send slots one pace item gives out in a second (decision 120): a paced channel's rate is split
over ceil(rate / 100) items, so each takes at most about 100 granted writes a second, plus the
refused ones of a burst."""

PACE_TTL_SECONDS = 3600
"""How long a second's pace items are kept (TTL) after it: only the current second is read."""


@dataclass(frozen=True)
class PaceSlot:
    """Where a send of one message takes its slot: the pace item of its shard for a second, and the
    share of the channel's rate that item gives out."""

    pk: str
    sk: str
    share: int
    expires_at: int


def pace_slot(channel: str, key: str, at: datetime, per_second: int) -> PaceSlot:
    """The pace item a message's send counts against (its shard by a hash of its key); the shares of
    a channel's shards add up to `per_second`."""
    shards = max(1, -(-per_second // PACE_SLOTS_PER_SHARD))
    shard = zlib.crc32(key.encode()) % shards
    second = at.replace(microsecond=0)
    return PaceSlot(
        pk=f"PACE#{channel}#{shard}",
        sk=clock.iso(second),
        share=per_second // shards + (shard < per_second % shards),
        expires_at=int(second.timestamp()) + PACE_TTL_SECONDS,
    )


def indexed_at(index_key: str, key: str) -> datetime:
    """The time in an outbox item's gsi2 sort key (`<time>#<key>`)."""
    return clock.parse_iso(index_key.rpartition(f"#{key}")[0])


@dataclass(frozen=True)
class StalePending:
    """An outbox message pending since `since` (its stream delivery may have been given up)."""

    message: OutboundMessage
    since: datetime
    redeliveries: int
    index_key: str
    """Its `OUTBOXPENDING` sort key: the write that takes it is conditional on it being unchanged."""


@dataclass(frozen=True)
class StuckSend:
    """An outbox message claimed for sending whose result was never recorded."""

    message: OutboundMessage
    claimed_at: datetime
    claim: str
    """The claim's index key: the write that resolves it is conditional on it being unchanged."""


def outbound_from_item(item: OutboxItem) -> OutboundMessage:
    message = OutboundMessage.model_validate(item.body or {})
    return message.model_copy(
        update={
            "status": item.status if item.status != "sending" else "pending",
            "provider_id": item.provider_id,
            "error": item.error,
            "attempts": int(item.attempts or 0),
        }
    )


def outbox_item(message: OutboundMessage) -> OutboxItem:
    """The item of a message to send, as `put_outbound` first writes it."""
    item = OutboxItem(
        pk=f"OUTBOX#{message.key}",
        sk="OUTBOX",
        key=message.key,
        status=message.status,
        ticket_id=message.ticket_id,
        channel=message.channel,
        kind=message.kind,
        created_at=clock.iso(message.created_at),
        body=message.model_dump(mode="json"),
        error=message.error,  # why a suppressed one was held back
    )
    if message.status == "pending":  # until a send claims it (see stale_pending)
        item.gsi2pk = outbox_partition(OUTBOX_PENDING, message.key)
        item.gsi2sk = f"{clock.iso(message.created_at)}#{message.key}"
    return item


class Outbox(Protocol):
    def put_outbound(
        self, message: OutboundMessage, guards: list[Pointer], guard_since: datetime | None = None
    ) -> bool: ...

    def put_reply(self, message: OutboundMessage, lock: Pointer, expected: str | None) -> bool: ...

    def get_outbound(self, key: str) -> OutboundMessage | None: ...

    def start_sending(self, key: str, at: datetime) -> bool: ...

    def take_send_slot(self, channel: str, key: str, at: datetime, per_second: int) -> bool: ...

    def defer_outbound(self, key: str, until: datetime) -> bool: ...

    def outbound_sent(
        self,
        message: OutboundMessage,
        stored: Message | None,
        pointers: list[Pointer],
        events: list[TicketEvent],
        ticket: Ticket | None,
        sla: SlaWrite | None,
    ) -> None: ...

    def outbound_failed(
        self,
        message: OutboundMessage,
        error: str,
        permanent: bool,
        events: list[TicketEvent],
        flag: str = "delivery_failed",
    ) -> None: ...

    def list_outbound(self) -> list[OutboundMessage]: ...

    def requeue_due_outbound(self, now: datetime, limit: int = 100) -> int: ...

    def stuck_sending(self, claimed_before: datetime, limit: int = 100) -> list[StuckSend]: ...

    def stale_pending(self, before: datetime, limit: int = 100) -> list[StalePending]: ...

    def redeliver_pending(self, stale: StalePending, at: datetime) -> bool: ...

    def outbound_unknown(self, stuck: StuckSend, error: str, events: list[TicketEvent]) -> bool: ...

    def pending_failed(self, stale: StalePending, error: str, events: list[TicketEvent]) -> bool: ...


class DynamoOutbox(Table):
    """Outbox on the table."""

    def put_outbound(
        self, message: OutboundMessage, guards: list[Pointer], guard_since: datetime | None = None
    ) -> bool:
        """Record a message to send, once per key (False: the key was queued before); `guards`
        (e.g. the customer's last automatic message) are written in the same transaction.

        With `guard_since`, each guard is written only if it is absent or was written before that
        time, so of two messages that both read the guard before either wrote it only one is
        queued: the other raises GuardRaceError. Without it the guards are overwritten."""
        item = outbox_item(message)
        at = clock.iso(message.created_at)
        if guard_since is None:
            try:
                self._write(
                    [(item, OutboxItem.pk.does_not_exist())],
                    [],
                    at,
                    upserts=guards,
                    duplicate_pointer_kinds=frozenset({"put"}),
                )
            except DuplicateError:
                return False
            return True
        since = clock.iso(guard_since)
        try:
            with TransactWrite(connection=self.connection) as transaction:
                transaction.save(item, condition=OutboxItem.pk.does_not_exist())
                for guard in guards:
                    transaction.save(
                        pointer_item(guard, at),
                        condition=PointerItem.pk.does_not_exist() | (PointerItem.created_at <= since),
                    )
        except TransactWriteError as exc:
            raise_if_permanent(exc)
            codes = cancellation_codes(exc)
            if codes and codes[0] == "ConditionalCheckFailed":
                return False
            if "ConditionalCheckFailed" in codes[1:]:
                raise GuardRaceError(f"a guard of {message.key} was written after {since}") from exc
            raise ConflictError(f"concurrent write (outbox {message.key})") from exc
        return True

    def put_reply(self, message: OutboundMessage, lock: Pointer, expected: str | None) -> bool:
        """Queue an agent's reply and make it its ticket's reply lock in one transaction, if the lock
        still names `expected` (None: no reply yet): False when the key was queued before, and
        ReplyLockMovedError when another reply took the lock since it was read."""
        held: Any = PointerItem.pk.does_not_exist()
        if expected is not None:
            held = PointerItem.message_id == expected
        try:
            with TransactWrite(connection=self.connection) as transaction:
                transaction.save(outbox_item(message), condition=OutboxItem.pk.does_not_exist())
                transaction.save(pointer_item(lock, clock.iso(message.created_at)), condition=held)
        except TransactWriteError as exc:
            raise_if_permanent(exc)
            codes = cancellation_codes(exc)
            if codes and codes[0] == "ConditionalCheckFailed":
                return False
            if "ConditionalCheckFailed" in codes[1:]:
                raise ReplyLockMovedError(f"ticket {lock.value}: another reply was queued meanwhile") from exc
            raise ConflictError(f"concurrent write (outbox {message.key})") from exc
        return True

    def get_outbound(self, key: str) -> OutboundMessage | None:
        try:
            item = OutboxItem.get(f"OUTBOX#{key}", "OUTBOX")
        except OutboxItem.DoesNotExist:
            return None
        return outbound_from_item(item)

    def start_sending(self, key: str, at: datetime) -> bool:
        """Take a pending message for sending (False: another delivery of the record took it).

        The claim is indexed by its time (`OUTBOXSENDING#<n>`) until the result is recorded, so the
        sweeper finds sends that never got one. An item queued before decision 119 also leaves the
        dropped `gsi1` listing here (a no-op for the others)."""
        try:
            OutboxItem(pk=f"OUTBOX#{key}", sk="OUTBOX").update(
                actions=[
                    OutboxItem.status.set("sending"),
                    OutboxItem.attempts.set((OutboxItem.attempts | 0) + 1),
                    OutboxItem.gsi2pk.set(outbox_partition(OUTBOX_SENDING, key)),
                    OutboxItem.gsi2sk.set(f"{clock.iso(at)}#{key}"),
                    OutboxItem.gsi1pk.remove(),
                    OutboxItem.gsi1sk.remove(),
                ],
                condition=OutboxItem.status == "pending",
            )
        except UpdateError:
            return False
        return True

    def take_send_slot(self, channel: str, key: str, at: datetime, per_second: int) -> bool:
        """Count a send of `key` on `channel` in the second of `at`, if that second has a slot left
        of the channel's `per_second` (False: the pace is reached, the send must wait)."""
        slot = pace_slot(channel, key, at, per_second)
        try:
            PaceItem(pk=slot.pk, sk=slot.sk).update(
                actions=[PaceItem.taken.add(1), PaceItem.expires_at.set(slot.expires_at)],
                condition=PaceItem.taken.does_not_exist() | (PaceItem.taken < slot.share),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def defer_outbound(self, key: str, until: datetime) -> bool:
        """Hold a pending message back until `until` without counting an attempt: it waits with
        the retries, and the sweeper's retry pass puts it back to pending (False: not pending)."""
        try:
            OutboxItem(pk=f"OUTBOX#{key}", sk="OUTBOX").update(
                actions=[
                    OutboxItem.status.set("retry"),
                    OutboxItem.gsi2pk.set(outbox_partition(OUTBOX_RETRY, key)),
                    OutboxItem.gsi2sk.set(f"{clock.iso(until)}#{key}"),
                ],
                condition=OutboxItem.status == "pending",
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def outbound_sent(
        self,
        message: OutboundMessage,
        stored: Message | None,
        pointers: list[Pointer],
        events: list[TicketEvent],
        ticket: Ticket | None,
        sla: SlaWrite | None,
    ) -> None:
        """Mark sent and keep the message on its ticket (with its ids, for threading and receipts)."""
        at = clock.iso(message.created_at)
        outbox = (
            OutboxItem(pk=f"OUTBOX#{message.key}", sk="OUTBOX"),
            [
                OutboxItem.status.set("sent"),
                OutboxItem.provider_id.set(message.provider_id or ""),
                OutboxItem.body.set(message.model_dump(mode="json")),
                OutboxItem.gsi2pk.remove(),
                OutboxItem.gsi2sk.remove(),
            ],
            OutboxItem.status == "sending",
        )
        puts: list[tuple[Any, Any]] = []
        if stored is not None:
            puts.append((message_to_item(stored), None))
        if ticket is not None:
            puts += [(item, None) for item in event_items(ticket.id, events)]
        update = None
        if ticket is not None and sla is not None:
            update = (
                TicketItem(pk=ticket_pk(ticket.id), sk="TICKET"),
                [TicketItem.version.set(ticket.version + 1), *sla_actions(ticket.id, sla)],
                TicketItem.version == ticket.version,
            )
        self._write(puts, [], at, update=update, upserts=pointers, extra_updates=[outbox])

    def outbound_failed(
        self,
        message: OutboundMessage,
        error: str,
        permanent: bool,
        events: list[TicketEvent],
        flag: str = "delivery_failed",
    ) -> None:
        """Back to pending for another try, or failed for good (then `flag` is set on the ticket:
        delivery_failed, or delivery_unknown when the provider may have delivered it)."""
        status = "failed" if permanent else "retry"
        puts: list[tuple[Any, Any]] = []
        if message.ticket_id:
            puts = [(item, None) for item in event_items(message.ticket_id, events)]
        actions: list[Any] = [OutboxItem.status.set(status), OutboxItem.error.set(error[:1000])]
        if not permanent:  # back off: 2, 4, 8... minutes, picked up by the sweeper's retry pass
            retry_at = clock.now() + timedelta(minutes=2 ** max(message.attempts, 1))
            actions += [
                OutboxItem.gsi2pk.set(outbox_partition(OUTBOX_RETRY, message.key)),
                OutboxItem.gsi2sk.set(f"{clock.iso(retry_at)}#{message.key}"),
            ]
        else:  # out of the sending index: the result is known
            actions += [OutboxItem.gsi2pk.remove(), OutboxItem.gsi2sk.remove()]
        outbox = (
            OutboxItem(pk=f"OUTBOX#{message.key}", sk="OUTBOX"),
            actions,
            OutboxItem.status == "sending",
        )
        extra: list[tuple[Any, list[Any], Any]] = [outbox]
        if permanent and message.ticket_id and self._lacks_flag(message.ticket_id, flag):
            extra.append(flag_ticket(message.ticket_id, flag))
        self._write(puts, [], clock.iso(clock.now()), extra_updates=extra)

    def _lacks_flag(self, ticket_id: str, flag: str) -> bool:
        """Whether the ticket exists without `flag` (flags are a list: appending twice repeats it).
        Read only on the rare failure paths; a race at worst repeats the flag, never loses it."""
        try:
            item = TicketItem.get(ticket_pk(ticket_id), "TICKET")
        except TicketItem.DoesNotExist:
            return False
        return flag not in (item.flags or [])

    def list_outbound(self) -> list[OutboundMessage]:
        """Every outbox message, oldest first: a Scan, for tests and the simulator's state only (no
        function lists the outbox, so it has no listing index: decision 119)."""
        items = OutboxItem.scan(OutboxItem.entity == "outbox")
        return [outbound_from_item(i) for i in sorted(items, key=lambda i: (i.created_at, i.key))]

    def requeue_due_outbound(self, now: datetime, limit: int = 100) -> int:
        """Put up to `limit` messages whose retry time has come back to pending (the stream sends
        them again); fewer than `limit` means none is left due."""
        count = 0
        for item in self._indexed(OUTBOX_RETRY, now, limit):
            try:
                OutboxItem(pk=item.pk, sk="OUTBOX").update(
                    actions=[
                        OutboxItem.status.set("pending"),
                        OutboxItem.gsi2pk.set(outbox_partition(OUTBOX_PENDING, item.key)),
                        OutboxItem.gsi2sk.set(f"{clock.iso(now)}#{item.key}"),
                    ],
                    condition=OutboxItem.status == "retry",
                )
                count += 1
            except UpdateError:
                continue
        return count

    @staticmethod
    def _indexed(state: str, before: datetime, limit: int) -> list[OutboxItem]:
        """Up to `limit` outbox items in `state` whose indexed time is at or before `before`, read
        shard by shard (each paged until it has no more or `limit` is reached), oldest first."""
        found: list[OutboxItem] = []
        for partition in outbox_partitions(state):
            found += OutboxItem.retries.query(
                partition, OutboxItem.gsi2sk <= f"{clock.iso(before)}#~", limit=limit - len(found)
            )
            if len(found) >= limit:
                break
        return sorted(found, key=lambda item: str(item.gsi2sk))

    def stale_pending(self, before: datetime, limit: int = 100) -> list[StalePending]:
        """Messages pending since before `before`: no delivery of their stream record claimed them."""
        return [
            StalePending(
                message=outbound_from_item(item),
                since=indexed_at(str(item.gsi2sk), item.key),
                redeliveries=int(item.redeliveries or 0),
                index_key=str(item.gsi2sk),
            )
            for item in self._indexed(OUTBOX_PENDING, before, limit)
        ]

    def redeliver_pending(self, stale: StalePending, at: datetime) -> bool:
        """Write the pending message again (a MODIFY on the stream, which auto_followup's filter
        passes, so it is sent as a new record), counting the redelivery; False when it was claimed or
        redelivered meanwhile."""
        try:
            OutboxItem(pk=f"OUTBOX#{stale.message.key}", sk="OUTBOX").update(
                actions=[  # onto its shard, if it was queued before decision 119
                    OutboxItem.redeliveries.set(stale.redeliveries + 1),
                    OutboxItem.gsi2pk.set(outbox_partition(OUTBOX_PENDING, stale.message.key)),
                    OutboxItem.gsi2sk.set(f"{clock.iso(at)}#{stale.message.key}"),
                ],
                condition=(OutboxItem.status == "pending") & (OutboxItem.gsi2sk == stale.index_key),
            )
        except UpdateError:
            return False
        return True

    def stuck_sending(self, claimed_before: datetime, limit: int = 100) -> list[StuckSend]:
        """Messages claimed for sending before `claimed_before` whose result was never recorded."""
        return [
            StuckSend(
                message=outbound_from_item(item),
                claimed_at=indexed_at(str(item.gsi2sk), item.key),
                claim=str(item.gsi2sk),
            )
            for item in self._indexed(OUTBOX_SENDING, claimed_before, limit)
        ]

    def outbound_unknown(self, stuck: StuckSend, error: str, events: list[TicketEvent]) -> bool:
        """Mark a send without a result failed and flag its ticket `delivery_unknown`, once: False
        when the claim changed meanwhile (the result came late, or another sweep took it)."""
        return self._give_up(stuck.message, "sending", stuck.claim, error, events, "delivery_unknown")

    def pending_failed(self, stale: StalePending, error: str, events: list[TicketEvent]) -> bool:
        """Give up a pending message that was never claimed however often it was delivered again:
        failed, its ticket flagged `delivery_failed`, once (False: claimed or taken meanwhile)."""
        return self._give_up(stale.message, "pending", stale.index_key, error, events, "delivery_failed")

    def _give_up(
        self,
        message: OutboundMessage,
        status: str,
        index_key: str,
        error: str,
        events: list[TicketEvent],
        flag: str,
    ) -> bool:
        """Fail a message still in `status` under the gsi2 sort key `index_key`, with its events and
        the ticket's `flag`, in one transaction."""
        puts: list[tuple[Any, Any]] = []
        if message.ticket_id:
            puts = [(item, None) for item in event_items(message.ticket_id, events)]
        outbox = (
            OutboxItem(pk=f"OUTBOX#{message.key}", sk="OUTBOX"),
            [
                OutboxItem.status.set("failed"),
                OutboxItem.error.set(error[:1000]),
                OutboxItem.gsi2pk.remove(),
                OutboxItem.gsi2sk.remove(),
            ],
            (OutboxItem.status == status) & (OutboxItem.gsi2sk == index_key),
        )
        extra: list[tuple[Any, list[Any], Any]] = [outbox]
        if message.ticket_id and self._lacks_flag(message.ticket_id, flag):
            extra.append(flag_ticket(message.ticket_id, flag))
        try:
            self._write(puts, [], clock.iso(clock.now()), extra_updates=extra)
        except ConflictError:
            return False
        return True
