"""The live workspace's WebSocket connections: one item per connection, and one listing of it per
partition a push reads (all connections, a team's, an agent's, the admins'), written and removed
together; every item expires (TTL) after API Gateway's 2-hour connection limit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from shared import clock
from shared.dal.base import Table, raise_if_permanent
from shared.dal.items import LiveConnectionItem
from shared.errors import ConflictError
from shared.models.live import LiveConnection

Partition = tuple[str, str]
"""(kind, value): (`all`, `*`), (`team`, id), (`agent`, id), (`admin`, `*`)."""


def partition_key(partition: Partition) -> str:
    return f"LIVE#{partition[0]}#{partition[1]}"


class LiveConnections(Protocol):
    def add_connection(self, connection: LiveConnection, partitions: Sequence[Partition]) -> None: ...

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
