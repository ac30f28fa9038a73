"""The data layer's contract for the live workspace's connections: the same tests on DynamoDB
(moto) and on the in-memory fakes."""

from __future__ import annotations

from datetime import timedelta

from shared.models.live import LiveConnection
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
