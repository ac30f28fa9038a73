"""Outbox in memory: each message's status and its place in the `OUTBOXPENDING#<n>`,
`OUTBOXSENDING#<n>` and `OUTBOXRETRY#<n>` partitions of gsi2, moved exactly as `shared.dal.outbox`
moves them (the unsharded keys of items queued before decision 119 read too)."""

from __future__ import annotations

from datetime import datetime, timedelta

from shared import clock
from shared.dal.base import DuplicateError
from shared.dal.items import OutboxItem
from shared.dal.outbox import (
    OUTBOX_PENDING,
    OUTBOX_RETRY,
    OUTBOX_SENDING,
    GuardRaceError,
    ReplyLockMovedError,
    StalePending,
    StuckSend,
    indexed_at,
    outbound_from_item,
    outbox_item,
    outbox_partition,
    outbox_partitions,
    pace_slot,
)
from shared.dal.pointers import Pointer, pointer_item
from shared.dal.tickets import SlaWrite, message_to_item
from shared.errors import ConflictError
from shared.models.outbound import OutboundMessage
from shared.models.ticket import Message, Ticket, TicketEvent
from tests.fakes.table import (
    Change,
    Condition,
    Item,
    MemoryStore,
    absent,
    as_model,
    equals,
    put_op,
    update_op,
)
from tests.fakes.tickets import event_puts, flag_op, set_sla, ticket_key


def outbox_key(key: str) -> tuple[str, str]:
    return (f"OUTBOX#{key}", "OUTBOX")


def in_state(status: str, index_key: str) -> Condition:
    return lambda item: item is not None and item.get("status") == status and item.get("gsi2sk") == index_key


def written_at_most(since: str) -> Condition:
    """A guard pointer absent, or written no later than `since`."""
    return lambda found: found is None or str(found["created_at"]) <= since


def unindex(item: Item) -> None:
    item["gsi2pk"] = item["gsi2sk"] = None


class MemoryOutbox(MemoryStore):
    """Outbox on the in-memory table."""

    def put_outbound(
        self, message: OutboundMessage, guards: list[Pointer], guard_since: datetime | None = None
    ) -> bool:
        item = put_op(outbox_item(message), "put", absent)
        at = clock.iso(message.created_at)
        if guard_since is None:
            try:
                self._write([item], [], at, upserts=guards, duplicate_pointer_kinds=frozenset({"put"}))
            except DuplicateError:
                return False
            return True
        since = clock.iso(guard_since)
        guard_puts = [put_op(pointer_item(g, at), "guard", written_at_most(since)) for g in guards]
        failed = self.table.transact([item, *guard_puts])
        if "put" in failed:
            return False
        if failed:
            raise GuardRaceError(f"a guard of {message.key} was written after {since}")
        return True

    def put_reply(self, message: OutboundMessage, lock: Pointer, expected: str | None) -> bool:
        def held(found: Item | None) -> bool:
            return (
                found is None
                if expected is None
                else found is not None and found.get("message_id") == expected
            )

        at = clock.iso(message.created_at)
        item = put_op(outbox_item(message), "put", absent)
        failed = self.table.transact([item, put_op(pointer_item(lock, at), "lock", held)])
        if "put" in failed:
            return False
        if failed:
            raise ReplyLockMovedError(f"ticket {lock.value}: another reply was queued meanwhile")
        return True

    def get_outbound(self, key: str) -> OutboundMessage | None:
        item = self.table.get(outbox_key(key))
        return outbound_from_item(as_model(OutboxItem, item)) if item is not None else None

    def start_sending(self, key: str, at: datetime) -> bool:
        def claim(item: Item) -> None:
            item.update(
                status="sending",
                attempts=int(item.get("attempts") or 0) + 1,
                gsi2pk=outbox_partition(OUTBOX_SENDING, key),
                gsi2sk=f"{clock.iso(at)}#{key}",
                gsi1pk=None,
                gsi1sk=None,
            )

        return not self.table.transact(
            [update_op(outbox_key(key), "update", equals("status", "pending"), claim)]
        )

    def take_send_slot(self, channel: str, key: str, at: datetime, per_second: int) -> bool:
        slot = pace_slot(channel, key, at, per_second)

        def take(item: Item) -> None:
            item.update(taken=int(item.get("taken") or 0) + 1, expires_at=slot.expires_at)

        def has_room(found: Item | None) -> bool:
            return found is None or int(found.get("taken") or 0) < slot.share

        return not self.table.transact([update_op((slot.pk, slot.sk), "pace", has_room, take)])

    def defer_outbound(self, key: str, until: datetime) -> bool:
        def defer(item: Item) -> None:
            item.update(
                status="retry", gsi2pk=outbox_partition(OUTBOX_RETRY, key), gsi2sk=f"{clock.iso(until)}#{key}"
            )

        return not self.table.transact(
            [update_op(outbox_key(key), "update", equals("status", "pending"), defer)]
        )

    def outbound_sent(
        self,
        message: OutboundMessage,
        stored: Message | None,
        pointers: list[Pointer],
        events: list[TicketEvent],
        ticket: Ticket | None,
        sla: SlaWrite | None,
    ) -> None:
        def sent(item: Item) -> None:
            item.update(
                status="sent", provider_id=message.provider_id or "", body=message.model_dump(mode="json")
            )
            unindex(item)

        outbox = update_op(outbox_key(message.key), "update", equals("status", "sending"), sent)
        puts: list[Change] = [put_op(message_to_item(stored))] if stored is not None else []
        update = None
        if ticket is not None:
            puts += event_puts(ticket.id, events)
            if sla is not None:

                def follow(item: Item, ticket: Ticket = ticket, sla: SlaWrite = sla) -> None:
                    item["version"] = ticket.version + 1
                    set_sla(item, ticket.id, sla)

                update = update_op(ticket_key(ticket.id), "ticket", equals("version", ticket.version), follow)
        at = clock.iso(message.created_at)
        self._write(puts, [], at, update=update, upserts=pointers, extra_updates=[outbox])

    def outbound_failed(
        self,
        message: OutboundMessage,
        error: str,
        permanent: bool,
        events: list[TicketEvent],
        flag: str = "delivery_failed",
    ) -> None:
        retry_at = clock.now() + timedelta(minutes=2 ** max(message.attempts, 1))

        def failed(item: Item) -> None:
            item.update(status="failed" if permanent else "retry", error=error[:1000])
            if permanent:
                unindex(item)
            else:
                item.update(
                    gsi2pk=outbox_partition(OUTBOX_RETRY, message.key),
                    gsi2sk=f"{clock.iso(retry_at)}#{message.key}",
                )

        puts = event_puts(message.ticket_id, events) if message.ticket_id else []
        extra = [update_op(outbox_key(message.key), "update", equals("status", "sending"), failed)]
        if permanent and message.ticket_id and self._lacks_flag(message.ticket_id, flag):
            extra.append(flag_op(message.ticket_id, flag))
        self._write(puts, [], clock.iso(clock.now()), extra_updates=extra)

    def _lacks_flag(self, ticket_id: str, flag: str) -> bool:
        item = self.table.get(ticket_key(ticket_id))
        return item is not None and flag not in (item.get("flags") or [])

    def list_outbound(self) -> list[OutboundMessage]:
        items = [i for i in self.table.items.values() if i.get("entity") == "outbox"]
        items.sort(key=lambda i: (str(i["created_at"]), str(i["key"])))
        return [outbound_from_item(as_model(OutboxItem, i)) for i in items]

    def requeue_due_outbound(self, now: datetime, limit: int = 100) -> int:
        count = 0
        for found in self._indexed(OUTBOX_RETRY, now, limit):

            def pend(item: Item, key: str = str(found["key"])) -> None:
                item.update(
                    status="pending",
                    gsi2pk=outbox_partition(OUTBOX_PENDING, key),
                    gsi2sk=f"{clock.iso(now)}#{key}",
                )

            if not self.table.transact(
                [update_op(outbox_key(str(found["key"])), "update", equals("status", "retry"), pend)]
            ):
                count += 1
        return count

    def _indexed(self, state: str, before: datetime, limit: int) -> list[Item]:
        found: list[Item] = []
        for partition in outbox_partitions(state):
            found += self.table.query_index("gsi2", partition, at_most=f"{clock.iso(before)}#~")
            if len(found) >= limit:
                break
        return sorted(found[:limit], key=lambda item: str(item["gsi2sk"]))

    def stale_pending(self, before: datetime, limit: int = 100) -> list[StalePending]:
        return [
            StalePending(
                message=outbound_from_item(as_model(OutboxItem, item)),
                since=indexed_at(str(item["gsi2sk"]), str(item["key"])),
                redeliveries=int(item.get("redeliveries") or 0),
                index_key=str(item["gsi2sk"]),
            )
            for item in self._indexed(OUTBOX_PENDING, before, limit)
        ]

    def redeliver_pending(self, stale: StalePending, at: datetime) -> bool:
        def again(item: Item) -> None:
            item.update(
                redeliveries=stale.redeliveries + 1,
                gsi2pk=outbox_partition(OUTBOX_PENDING, stale.message.key),
                gsi2sk=f"{clock.iso(at)}#{stale.message.key}",
            )

        change = update_op(
            outbox_key(stale.message.key), "update", in_state("pending", stale.index_key), again
        )
        return not self.table.transact([change])

    def stuck_sending(self, claimed_before: datetime, limit: int = 100) -> list[StuckSend]:
        return [
            StuckSend(
                message=outbound_from_item(as_model(OutboxItem, item)),
                claimed_at=indexed_at(str(item["gsi2sk"]), str(item["key"])),
                claim=str(item["gsi2sk"]),
            )
            for item in self._indexed(OUTBOX_SENDING, claimed_before, limit)
        ]

    def outbound_unknown(self, stuck: StuckSend, error: str, events: list[TicketEvent]) -> bool:
        return self._give_up(stuck.message, "sending", stuck.claim, error, events, "delivery_unknown")

    def pending_failed(self, stale: StalePending, error: str, events: list[TicketEvent]) -> bool:
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
        def fail(item: Item) -> None:
            item.update(status="failed", error=error[:1000])
            unindex(item)

        puts = event_puts(message.ticket_id, events) if message.ticket_id else []
        extra = [update_op(outbox_key(message.key), "update", in_state(status, index_key), fail)]
        if message.ticket_id and self._lacks_flag(message.ticket_id, flag):
            extra.append(flag_op(message.ticket_id, flag))
        try:
            self._write(puts, [], clock.iso(clock.now()), extra_updates=extra)
        except ConflictError:
            return False
        return True
