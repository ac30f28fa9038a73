"""LiveConnections in memory: the connection's item and its listings, written and removed together."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from shared import clock
from shared.dal.items import LiveChangeItem, LiveConnectionItem, ViewerItem
from shared.dal.live import (
    CHANGE_LIFETIME,
    ChangePage,
    Partition,
    Viewer,
    WorkWrite,
    change_key,
    change_partition,
    connection_from_item,
    connection_items,
    partition_key,
    read_changes,
    viewer_from_item,
    viewer_item,
    work_item,
    work_suffix,
)
from shared.models.live import LiveConnection, LiveEvent
from shared.models.ticket import TicketEvent
from tests.fakes.table import MemoryStore, absent, as_model, delete_op, equals, exists, put_op


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

    def get_viewer(self, ticket_id: str, agent_id: str) -> Viewer | None:
        found = self.table.get((f"TICKET#{ticket_id}", f"VIEWER#{agent_id}"))
        return viewer_from_item(as_model(ViewerItem, found)) if found is not None else None

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
        item = viewer_item(ticket_id, agent_id, state, now, since, connection_id)
        condition = absent if replaces is None else equals("at", clock.iso(replaces.at))
        return not self.table.transact([put_op(item, condition=condition)])

    def drop_viewer(self, ticket_id: str, agent_id: str) -> bool:
        key = (f"TICKET#{ticket_id}", f"VIEWER#{agent_id}")
        return not self.table.transact([delete_op(key, condition=exists)])

    def drop_connection_viewers(self, connection_id: str) -> int:
        left = 0
        for item in self.table.query_index("gsi1", f"VIEWING#{connection_id}"):
            key = (str(item["pk"]), str(item["sk"]))
            left += not self.table.transact(
                [delete_op(key, condition=equals("connection_id", connection_id))]
            )
        return left

    def ticket_viewers(self, ticket_id: str, now: datetime) -> list[Viewer]:
        items = self.table.partition(f"TICKET#{ticket_id}", "VIEWER#")
        viewers = [viewer_from_item(as_model(ViewerItem, i)) for i in items]
        return [v for v in viewers if v.until.timestamp() > now.timestamp()]

    def record_work(self, ticket_id: str, event: TicketEvent, key: str, cap: int) -> WorkWrite:
        item = work_item(ticket_id, event, key)
        kept = [i for i in self.table.partition(f"TICKET#{ticket_id}", "EVENT#") if i["type"] == event.type]
        if any(str(i["sk"]).endswith(work_suffix(key)) for i in kept):
            return "repeated"
        if len(kept) >= cap:
            return "full"
        return "recorded" if not self.table.transact([put_op(item, condition=absent)]) else "repeated"
