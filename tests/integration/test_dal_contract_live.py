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


def test_a_viewer_is_written_on_a_change_of_state_or_when_stale_and_expires(repo: Repository) -> None:
    assert repo.set_viewer("t1", "alice", "viewing", AT) is True
    assert repo.set_viewer("t1", "alice", "viewing", AT + timedelta(seconds=20)) is False
    assert repo.set_viewer("t1", "alice", "composing", AT + timedelta(seconds=25)) is True
    assert repo.set_viewer("t1", "bob", "viewing", AT + timedelta(seconds=30)) is True
    viewers = repo.ticket_viewers("t1", AT + timedelta(seconds=40))
    assert [(v.agent_id, v.state) for v in viewers] == [("alice", "composing"), ("bob", "viewing")]
    assert repo.set_viewer("t1", "bob", None, AT + timedelta(seconds=45)) is True
    assert repo.set_viewer("t1", "bob", None, AT + timedelta(seconds=46)) is False
    assert [v.agent_id for v in repo.ticket_viewers("t1", AT + timedelta(seconds=50))] == ["alice"]
    assert repo.ticket_viewers("t1", AT + timedelta(minutes=3)) == []
