"""LiveConnections in memory: the connection's item and its listings, written and removed together."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from shared.dal.items import LiveChangeItem, LiveConnectionItem
from shared.dal.live import (
    CHANGE_LIFETIME,
    ChangePage,
    Partition,
    change_key,
    change_partition,
    connection_from_item,
    connection_items,
    partition_key,
    read_changes,
)
from shared.models.live import LiveConnection, LiveEvent
from tests.fakes.table import MemoryStore, as_model, delete_op, put_op


class MemoryLive(MemoryStore):
    """LiveConnections on the in-memory table."""

    def add_connection(self, connection: LiveConnection, partitions: Sequence[Partition]) -> None:
        self.table.transact([put_op(item) for item in connection_items(connection, partitions)])

    def drop_connection(self, connection_id: str) -> LiveConnection | None:
        found = self.table.get((f"LIVECONN#{connection_id}", "CONN"))
        if found is None:
            return None
        own = as_model(LiveConnectionItem, found)
        keys = [(f"LIVECONN#{connection_id}", "CONN")]
        keys += [(str(key), f"CONN#{connection_id}") for key in own.listed_in or []]
        self.table.transact([delete_op(key) for key in keys])
        return connection_from_item(own)

    def connections_in(self, partitions: Sequence[Partition], now: datetime) -> list[LiveConnection]:
        found: dict[str, LiveConnection] = {}
        for partition in dict.fromkeys(partitions):
            for item in self.table.partition(partition_key(partition), "CONN#"):
                if int(item["expires_at"]) > now.timestamp():
                    connection = connection_from_item(as_model(LiveConnectionItem, item))
                    found.setdefault(connection.connection_id, connection)
        return [found[key] for key in sorted(found)]

    def record_change(self, event: LiveEvent) -> None:
        item = LiveChangeItem(
            pk=change_partition(event.at, event.ticket_id),
            sk=change_key(event),
            event=event.model_dump_json(),
            expires_at=int((event.at + CHANGE_LIFETIME).timestamp()),
        )
        self.table.transact([put_op(item)])

    def changes_after(self, after: str, until: datetime, limit: int) -> ChangePage:
        def page(partition: str, start: str, count: int) -> list[tuple[str, str]]:
            rows = [
                (str(i["sk"]), str(i["event"]))
                for i in self.table.partition(partition)
                if str(i["sk"]) > start
            ]
            return rows[:count]

        return read_changes(after, until, limit, page)
