"""The live workspace's WebSocket connections: one item per connection, and one listing of it per
partition a push reads (all connections, a team's, an agent's, the admins'), written and removed
together; every item expires (TTL) after API Gateway's 2-hour connection limit."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from pynamodb.exceptions import DeleteError, PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from shared import clock
from shared.dal.base import Table, raise_if_permanent
from shared.dal.items import EventItem, LiveChangeItem, LiveConnectionItem, ViewerItem
from shared.errors import ConflictError
from shared.models.live import LiveConnection, LiveEvent
from shared.models.ticket import TicketEvent

Partition = tuple[str, str]
"""(kind, value): (`all`, `*`), (`team`, id), (`agent`, id), (`admin`, `*`)."""


def partition_key(partition: Partition) -> str:
    return f"LIVE#{partition[0]}#{partition[1]}"


class LiveConnections(Protocol):
    def add_connection(self, connection: LiveConnection, partitions: Sequence[Partition]) -> None: ...

    def get_connection(self, connection_id: str) -> LiveConnection | None: ...

    def drop_connection(self, connection_id: str) -> LiveConnection | None: ...

    def connections_in(self, partitions: Sequence[Partition], now: datetime) -> list[LiveConnection]: ...


def connection_items(connection: LiveConnection, partitions: Sequence[Partition]) -> list[LiveConnectionItem]:
    """The connection's own item, then one listing per partition."""
    keys = [partition_key(p) for p in partitions]
    common: dict[str, Any] = {
        "connection_id": connection.connection_id,
        "agent_id": connection.agent_id,
        "role": connection.role,
        "teams": list(connection.teams),
        "connected_at": clock.iso(connection.connected_at),
        "expires_at": int(connection.expires_at.timestamp()),
    }
    own = LiveConnectionItem(pk=f"LIVECONN#{connection.connection_id}", sk="CONN", listed_in=keys, **common)
    return [
        own,
        *(LiveConnectionItem(pk=key, sk=f"CONN#{connection.connection_id}", **common) for key in keys),
    ]


def connection_from_item(item: LiveConnectionItem) -> LiveConnection:
    return LiveConnection(
        connection_id=item.connection_id,
        agent_id=item.agent_id,
        role=int(item.role),
        teams=list(item.teams or []),
        connected_at=clock.parse_iso(item.connected_at),
        expires_at=datetime.fromtimestamp(int(item.expires_at), clock.now().tzinfo),
    )


class DynamoLive(Table):
    """LiveConnections on the table."""

    def add_connection(self, connection: LiveConnection, partitions: Sequence[Partition]) -> None:
        """Keep the connection and list it where pushes look, in one transaction (a `$connect`
        retried with the same id writes the same items again)."""
        try:
            with TransactWrite(connection=self.connection) as transaction:
                for item in connection_items(connection, partitions):
                    transaction.save(item)
        except TransactWriteError as exc:
            raise_if_permanent(exc)
            raise ConflictError(f"connection {connection.connection_id}: concurrent write") from exc

    def get_connection(self, connection_id: str) -> LiveConnection | None:
        try:
            return connection_from_item(LiveConnectionItem.get(f"LIVECONN#{connection_id}", "CONN"))
        except LiveConnectionItem.DoesNotExist:
            return None

    def drop_connection(self, connection_id: str) -> LiveConnection | None:
        """Remove the connection and its listings (None: already gone)."""
        try:
            own = LiveConnectionItem.get(f"LIVECONN#{connection_id}", "CONN", consistent_read=True)
        except LiveConnectionItem.DoesNotExist:
            return None
        try:
            with TransactWrite(connection=self.connection) as transaction:
                transaction.delete(own)
                for key in own.listed_in or []:
                    transaction.delete(LiveConnectionItem(pk=key, sk=f"CONN#{connection_id}"))
        except TransactWriteError as exc:
            raise_if_permanent(exc)
            raise ConflictError(f"connection {connection_id}: concurrent write") from exc
        return connection_from_item(own)

    def connections_in(self, partitions: Sequence[Partition], now: datetime) -> list[LiveConnection]:
        """The connections listed in any of the partitions and not expired, each once."""
        found: dict[str, LiveConnection] = {}
        for partition in dict.fromkeys(partitions):
            for item in LiveConnectionItem.query(
                partition_key(partition), LiveConnectionItem.sk.startswith("CONN#")
            ):
                if int(item.expires_at) > now.timestamp():
                    found.setdefault(item.connection_id, connection_from_item(item))
        return [found[key] for key in sorted(found)]

    def record_change(self, event: LiveEvent) -> None:
        LiveChangeItem(
            pk=change_partition(event.at, event.ticket_id),
            sk=change_key(event),
            event=event.model_dump_json(),
            expires_at=int((event.at + CHANGE_LIFETIME).timestamp()),
        ).save()

    def changes_after(self, after: str, until: datetime, limit: int) -> ChangePage:
        """Up to `limit` changes whose key is after `after` (a change key, or an ISO time), oldest
        first, and the key to go on after (None: nothing more up to `until`)."""
        return read_changes(after, until, limit, self._shard_page)

    @staticmethod
    def _shard_page(partition: str, after: str, limit: int) -> list[tuple[str, str]]:
        items = LiveChangeItem.query(partition, LiveChangeItem.sk > after, limit=limit)
        return [(item.sk, item.event) for item in items]


CHANGE_SHARDS = 4
"""Partitions per hour of the change log: a busy hour's writes spread over them (issue 17)."""
CHANGE_LIFETIME = timedelta(hours=26)
"""How long a change stays readable (the catch-up window is 24 hours; TTL deletes late)."""


def _hour(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%d%H")


def change_partition(at: datetime, ticket_id: str, shards: int = CHANGE_SHARDS) -> str:
    """The log partition of a change: its hour, and a shard chosen by its ticket (stable: the
    changes of one ticket stay in one shard, in order)."""
    shard = int(hashlib.sha256(ticket_id.encode()).hexdigest(), 16) % shards
    return f"LIVELOG#{_hour(at)}#{shard}"


def change_key(event: LiveEvent) -> str:
    """The change's sort key: its time, the stream's order, its id (a redelivered event writes the
    same item)."""
    return f"{clock.iso(event.at)}#{event.sequence}#{event.id}"


ChangePage = tuple[list[LiveEvent], str | None]
"""Changes, oldest first, and the key to read on after (None: no more)."""


class LiveChanges(Protocol):
    def record_change(self, event: LiveEvent) -> None: ...

    def changes_after(
        self, after: str, until: datetime, limit: int
    ) -> tuple[list[LiveEvent], str | None]: ...


ShardPage = Callable[[str, str, int], list[tuple[str, str]]]
"""(partition, after, limit) -> up to `limit` (sort key, event JSON) of the partition after `after`."""


def read_changes(
    after: str, until: datetime, limit: int, page: ShardPage
) -> tuple[list[LiveEvent], str | None]:
    """Merge the shards hour by hour from the hour of `after`: the global first `limit` changes in
    key order (each shard read to `limit` at most, so none of its keys before the cut is missed)."""
    hour = clock.parse_iso(after.split("#")[0]).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    found: list[tuple[str, str]] = []
    while hour <= until and len(found) < limit:
        merged = sorted(
            row
            for shard in range(CHANGE_SHARDS)
            for row in page(f"LIVELOG#{_hour(hour)}#{shard}", after, limit)
        )
        found += merged[: limit - len(found)]
        if len(found) >= limit:
            break
        hour += timedelta(hours=1)
    events = [LiveEvent.model_validate_json(text) for _, text in found]
    more = len(found) >= limit
    return events, (found[-1][0] if more and found else None)


CONDITION_FAILED = "ConditionalCheckFailedException"
VIEWER_LIFETIME = timedelta(seconds=90)
"""A viewer the UI stopped confirming is gone after this (the UI says so every 30 seconds)."""
VIEWER_REFRESH = timedelta(seconds=45)
"""A confirmation of the same state is written only when the stored one is older than this."""


@dataclass(frozen=True)
class Viewer:
    agent_id: str
    state: str
    at: datetime
    until: datetime
    since: datetime
    """When this state began (its work span's start)."""


class TicketViewers(Protocol):
    def get_viewer(self, ticket_id: str, agent_id: str) -> Viewer | None: ...

    def put_viewer(
        self,
        ticket_id: str,
        agent_id: str,
        state: str,
        since: datetime,
        now: datetime,
        connection_id: str,
        replaces: Viewer | None,
    ) -> bool: ...

    def drop_viewer(self, ticket_id: str, agent_id: str) -> bool: ...

    def drop_connection_viewers(self, connection_id: str) -> int: ...

    def ticket_viewers(self, ticket_id: str, now: datetime) -> list[Viewer]: ...

    def record_work(self, ticket_id: str, event: TicketEvent, key: str, cap: int) -> WorkWrite: ...


WorkWrite = Literal["recorded", "repeated", "full"]
"""A work span's event: written, already there (a retried record), or the ticket holds `cap` already."""


def viewer_item(
    ticket_id: str,
    agent_id: str,
    state: str,
    now: datetime,
    since: datetime | None = None,
    connection_id: str = "",
) -> ViewerItem:
    item = ViewerItem(
        pk=f"TICKET#{ticket_id}",
        sk=f"VIEWER#{agent_id}",
        agent_id=agent_id,
        state=state,
        at=clock.iso(now),
        since=clock.iso(since or now),
        expires_at=int((now + VIEWER_LIFETIME).timestamp()),
    )
    if connection_id:
        item.connection_id = connection_id
        item.gsi1pk, item.gsi1sk = f"VIEWING#{connection_id}", ticket_id
    return item


def viewer_from_item(item: ViewerItem) -> Viewer:
    at = clock.parse_iso(item.at)
    return Viewer(
        item.agent_id,
        item.state,
        at,
        datetime.fromtimestamp(int(item.expires_at), UTC),
        clock.parse_iso(item.since) if item.since else at,
    )


def work_item(ticket_id: str, event: TicketEvent, key: str) -> EventItem:
    """A work span's event item: its sort key is its stop (events come in time order), then `key`,
    the same for every record that ends the span (`record_work` finds it by that)."""
    return EventItem(
        pk=f"TICKET#{ticket_id}",
        sk=f"EVENT#{clock.iso(event.at)}#{work_suffix(key)}",
        at=clock.iso(event.at),
        type=event.type,
        data=event.data,
    )


def work_suffix(key: str) -> str:
    return f"work-{key}#000"


class DynamoViewers(Table):
    """TicketViewers on the table."""

    def get_viewer(self, ticket_id: str, agent_id: str) -> Viewer | None:
        try:
            item = ViewerItem.get(f"TICKET#{ticket_id}", f"VIEWER#{agent_id}", consistent_read=True)
        except ViewerItem.DoesNotExist:
            return None
        return viewer_from_item(item)

    def put_viewer(
        self,
        ticket_id: str,
        agent_id: str,
        state: str,
        since: datetime,
        now: datetime,
        connection_id: str,
        replaces: Viewer | None,
    ) -> bool:
        """Record the agent viewing or composing since `since`, if the item is still `replaces` (as
        read: absent, or its `at` not moved on; False: another write came first)."""
        item = viewer_item(ticket_id, agent_id, state, now, since, connection_id)
        condition = (
            ViewerItem.pk.does_not_exist() if replaces is None else ViewerItem.at == clock.iso(replaces.at)
        )
        return _conditional(lambda: item.save(condition=condition))

    def drop_viewer(self, ticket_id: str, agent_id: str) -> bool:
        """The agent left the ticket (False: they were not on it)."""
        item = ViewerItem(pk=f"TICKET#{ticket_id}", sk=f"VIEWER#{agent_id}")
        return _conditional(lambda: item.delete(condition=ViewerItem.pk.exists()))

    def drop_connection_viewers(self, connection_id: str) -> int:
        """A connection closed: its agent leaves the tickets it last said they were on (not those
        another connection of theirs confirmed since). How many were left."""
        found = ViewerItem.by_connection.query(f"VIEWING#{connection_id}")
        left = 0
        for item in found:
            key = ViewerItem(pk=item.pk, sk=item.sk)
            left += _conditional(
                lambda key=key: key.delete(condition=ViewerItem.connection_id == connection_id)  # type: ignore[misc]
            )
        return left

    def ticket_viewers(self, ticket_id: str, now: datetime) -> list[Viewer]:
        items = ViewerItem.query(f"TICKET#{ticket_id}", ViewerItem.sk.startswith("VIEWER#"))
        return [viewer_from_item(i) for i in items if int(i.expires_at) > now.timestamp()]

    def record_work(self, ticket_id: str, event: TicketEvent, key: str, cap: int) -> WorkWrite:
        """Keep a work span's event, once (whatever stop a later record of it says), while the ticket
        holds fewer than `cap` of them: one Query of the ticket's history, then a conditional put."""
        item = work_item(ticket_id, event, key)
        kept = [
            str(found.sk)
            for found in EventItem.query(
                item.pk,
                EventItem.sk.startswith("EVENT#"),
                filter_condition=EventItem.type == event.type,
                consistent_read=True,
                attributes_to_get=["sk"],
            )
        ]
        if any(sk.endswith(work_suffix(key)) for sk in kept):
            return "repeated"
        if len(kept) >= cap:
            return "full"
        written = _conditional(lambda: item.save(condition=EventItem.pk.does_not_exist()))
        return "recorded" if written else "repeated"


def _conditional(write: Callable[[], object]) -> bool:
    """Run a conditional write: False when its condition failed."""
    try:
        write()
    except (PutError, DeleteError) as exc:
        if exc.cause_response_code == CONDITION_FAILED:
            return False
        raise_if_permanent(exc)
        raise
    return True
