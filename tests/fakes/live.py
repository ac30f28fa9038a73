"""LiveConnections in memory: the connection's item and its listings, written and removed together."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from shared import clock
from shared.dal.items import LiveChangeItem, LiveConnectionItem, ViewerItem
from shared.dal.live import (
    CHANGE_LIFETIME,
    VIEWER_REFRESH,
    ChangePage,
    Partition,
    Viewer,
    change_key,
    change_partition,
    connection_from_item,
    connection_items,
    partition_key,
    read_changes,
    viewer_from_item,
    viewer_item,
)
from shared.models.live import LiveConnection, LiveEvent
from tests.fakes.table import Item, MemoryStore, as_model, delete_op, put_op


class MemoryLive(MemoryStore):
    """LiveConnections on the in-memory table."""

    def add_connection(self, connection: LiveConnection, partitions: Sequence[Partition]) -> None:
        self.table.transact([put_op(item) for item in connection_items(connection, partitions)])

    def get_connection(self, connection_id: str) -> LiveConnection | None:
        found = self.table.get((f"LIVECONN#{connection_id}", "CONN"))
        return connection_from_item(as_model(LiveConnectionItem, found)) if found is not None else None

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


class MemoryViewers(MemoryStore):
    """TicketViewers on the in-memory table."""

    def set_viewer(self, ticket_id: str, agent_id: str, state: str | None, now: datetime) -> bool:
        key = (f"TICKET#{ticket_id}", f"VIEWER#{agent_id}")
        if state is None:
            return not self.table.transact([delete_op(key, condition=lambda found: found is not None)])
        fresh = clock.iso(now - VIEWER_REFRESH)

        def changed(found: Item | None) -> bool:
            return found is None or found["state"] != state or str(found["at"]) < fresh

        return not self.table.transact(
            [put_op(viewer_item(ticket_id, agent_id, state, now), condition=changed)]
        )

    def ticket_viewers(self, ticket_id: str, now: datetime) -> list[Viewer]:
        items = self.table.partition(f"TICKET#{ticket_id}", "VIEWER#")
        viewers = [viewer_from_item(as_model(ViewerItem, i)) for i in items]
        return [v for v in viewers if v.until.timestamp() > now.timestamp()]
