"""The data layer's contract for the live workspace's connections: the same tests on DynamoDB
(moto) and on the in-memory fakes."""

from __future__ import annotations

from datetime import timedelta

from shared import clock
from shared.models.live import LiveConnection, LiveEvent
from tests.integration.test_dal_contract import T0, Repository, _moto, repo

__all__ = ["_moto", "repo"]  # the fixtures, shared with test_dal_contract


AT = T0.replace(microsecond=0)
"""Connections are kept to the second (the TTL's unit)."""


def connection(connection_id: str, agent: str, teams: list[str], role: int = 1) -> LiveConnection:
    return LiveConnection(
        connection_id=connection_id,
        agent_id=agent,
        role=role,
        teams=teams,
        connected_at=AT,
        expires_at=AT + timedelta(hours=2),
    )


def test_a_connection_is_found_in_each_partition_it_is_listed_in_until_dropped(repo: Repository) -> None:
    alice = connection("c1", "alice", ["support"])
    root = connection("c2", "root", [], role=3)
    repo.add_connection(alice, [("all", "*"), ("agent", "alice"), ("team", "support")])
    repo.add_connection(root, [("all", "*"), ("agent", "root"), ("admin", "*")])

    assert repo.connections_in([("team", "support")], T0) == [alice]
    assert repo.connections_in([("team", "support"), ("admin", "*"), ("all", "*")], T0) == [alice, root]
    assert repo.connections_in([("team", "billing")], T0) == []

    assert repo.drop_connection("c1") == alice
    assert repo.drop_connection("c1") is None
    assert repo.connections_in([("all", "*"), ("team", "support"), ("agent", "alice")], T0) == [root]


def test_an_expired_connection_is_not_found_before_the_ttl_removes_it(repo: Repository) -> None:
    repo.add_connection(connection("c1", "alice", ["support"]), [("team", "support")])
    assert repo.connections_in([("team", "support")], T0 + timedelta(hours=3)) == []


def change(n: int, ticket: str, minutes: int) -> LiveEvent:
    return LiveEvent(
        id=f"e{n:03d}", type="ticket.updated", at=AT + timedelta(minutes=minutes), ticket_id=ticket
    )


def test_changes_read_back_in_time_order_across_shards_and_hours_page_by_page(repo: Repository) -> None:
    events = [change(n, f"t{n % 7}", n * 7) for n in range(30)]  # 30 changes over 3.5 hours, 7 tickets
    for event in reversed(events):
        repo.record_change(event)
    repo.record_change(events[3])  # a redelivery writes the same item

    read: list[LiveEvent] = []
    after: str | None = clock.iso(AT)
    while after is not None:
        page, after = repo.changes_after(after, AT + timedelta(hours=5), 8)
        assert len(page) <= 8
        read += page
    assert [e.id for e in read] == [e.id for e in events]

    # from a later time: only what came at or after it
    later, _ = repo.changes_after(clock.iso(events[20].at), AT + timedelta(hours=5), 100)
    assert [e.id for e in later] == [e.id for e in events[20:]]


def test_a_viewer_is_written_if_unchanged_since_read_dropped_by_its_connection_and_expires(
    repo: Repository,
) -> None:
    assert repo.get_viewer("t1", "alice") is None
    assert repo.put_viewer("t1", "alice", "viewing", AT, AT, "c1", None) is True
    assert repo.put_viewer("t1", "alice", "viewing", AT, AT, "c1", None) is False  # it is there now
    stored = repo.get_viewer("t1", "alice")
    assert stored is not None
    assert (stored.state, stored.since, stored.at) == ("viewing", AT, AT)
    later = AT + timedelta(seconds=50)
    assert repo.put_viewer("t1", "alice", "viewing", AT, later, "c1", stored) is True  # a refresh
    assert repo.put_viewer("t1", "alice", "composing", later, later, "c1", stored) is False  # moved on
    refreshed = repo.get_viewer("t1", "alice")
    assert refreshed is not None
    assert (refreshed.since, refreshed.at) == (AT, later)
    assert repo.put_viewer("t1", "bob", "viewing", AT, AT, "c2", None) is True
    assert repo.put_viewer("t2", "alice", "viewing", AT, AT, "c1", None) is True
    viewers = repo.ticket_viewers("t1", AT + timedelta(seconds=60))
    assert [(v.agent_id, v.state) for v in viewers] == [("alice", "viewing"), ("bob", "viewing")]
    assert repo.drop_viewer("t1", "bob") is True
    assert repo.drop_viewer("t1", "bob") is False
    # alice's other tab (c3) confirmed t2 since: c1's close leaves only t1
    t2 = repo.get_viewer("t2", "alice")
    assert repo.put_viewer("t2", "alice", "viewing", AT, later, "c3", t2) is True
    assert repo.drop_connection_viewers("c1") == 1
    assert repo.get_viewer("t1", "alice") is None
    assert repo.get_viewer("t2", "alice") is not None
    assert repo.ticket_viewers("t2", AT + timedelta(minutes=3)) == []  # unconfirmed: gone


def test_a_work_span_is_kept_once_and_up_to_the_cap(repo: Repository) -> None:
    from shared.models.ticket import TicketEvent

    def span(n: int) -> TicketEvent:
        at = AT + timedelta(minutes=n)
        return TicketEvent(at=at, type="worked", data={"agent": "alice", "start": clock.iso(at)})

    assert repo.record_work("t1", span(1), "k1", 2) == "recorded"
    assert repo.record_work("t1", span(1), "k1", 2) == "repeated"  # a retried record
    assert repo.record_work("t1", span(2), "k2", 2) == "recorded"
    assert repo.record_work("t1", span(3), "k3", 2) == "full"
    assert repo.record_work("t1", span(2), "k2", 2) == "repeated"
    assert repo.record_work("t1", span(9), "k2", 2) == "repeated"  # the same span, another stop
    assert repo.record_work("t2", span(3), "k3", 2) == "recorded"  # another ticket
