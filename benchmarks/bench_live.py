"""Fan-out of one change to the live workspace's connections (issue 16 §3), on moto.

500 agents in 20 teams (25 each, one supervisor per team, 5 admins among them) hold one connection
each. One change is pushed through the real `push_event` with the real API Gateway pusher (moto's
management API records the posts):

- a change of a team's ticket (its 25 agents and the admins are told),
- a change of a ticket no team owns yet (everyone is told),
- an SLA warning (the assignee and the team's supervisor only).

Printed per change: the AWS requests it made by operation, the connections reached, and the time
per 100 connections reached, as a ratio against the baseline measured in the same run: the same
push to a helpdesk with one connection (its fixed cost: the ticket read and the partition queries).
No assertion on time; exit non-zero only if a push reaches the wrong number of agents.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_live.py [--agents 500] [--teams 20] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._offline import ROOT, item_level_rollback, partition_queries, use_offline_aws

use_offline_aws()

from botocore.client import BaseClient  # noqa: E402
from moto import mock_aws  # noqa: E402

from shared.channels.live import ApiGatewayPusher  # noqa: E402
from shared.dal.repository import DynamoRepository  # noqa: E402
from shared.dal.tickets import NewTicketWrite  # noqa: E402
from shared.logic.live import connection_partitions, push_event  # noqa: E402
from shared.models.live import LiveConnection, LiveEvent  # noqa: E402
from shared.models.ticket import Channel, Direction, Message, Ticket  # noqa: E402
from simulator.resources import deploy  # noqa: E402

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
ENDPOINT = "https://live01.execute-api.us-east-1.amazonaws.com/live"


@contextmanager
def counting() -> Iterator[Counter[str]]:
    """Every AWS request made meanwhile, by service and operation (boto3's and PynamoDB's)."""
    seen: Counter[str] = Counter()
    original = BaseClient._make_api_call  # type: ignore[attr-defined]

    def counted(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        seen[f"{client.meta.service_model.service_name}.{operation}"] += 1
        return original(client, operation, params)

    with mock.patch.object(BaseClient, "_make_api_call", counted):
        yield seen


def connections(agents: int, teams: int) -> list[LiveConnection]:
    found = []
    for n in range(agents):
        team = f"team{n % teams:02d}"
        role = 3 if n < 5 else 2 if n < 5 + teams else 1
        found.append(
            LiveConnection(
                connection_id=f"conn{n:04d}",
                agent_id=f"agent{n:04d}",
                role=role,
                teams=[team],
                connected_at=NOW,
                expires_at=NOW + timedelta(hours=2),
            )
        )
    return found


def ticket(ticket_id: str, number: int, team: str | None, assignee: str | None) -> Ticket:
    return Ticket(
        id=ticket_id,
        number=number,
        channel=Channel.EMAIL,
        customer_id="c1",
        created_at=NOW,
        updated_at=NOW,
        team=team,
        assignee=assignee,
    )


def seed(repository: DynamoRepository, held: list[LiveConnection], tickets: list[Ticket]) -> None:
    for connection in held:
        repository.add_connection(connection, connection_partitions(connection))
    for made in tickets:
        first = Message(
            id=f"m-{made.id}",
            ticket_id=made.id,
            direction=Direction.INBOUND,
            channel=Channel.EMAIL,
            at=NOW,
            author="jane@customer.example",
        )
        repository.create_ticket(NewTicketWrite(ticket=made, message=first))


def measure(repository: DynamoRepository, event: LiveEvent, runs: int) -> tuple[int, Counter[str], float]:
    pusher = ApiGatewayPusher(ENDPOINT, "us-east-1")
    with counting() as seen:
        reached = push_event(event, repository, pusher, NOW).reached
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        push_event(event, repository, pusher, NOW)
        times.append(time.perf_counter() - started)
    return reached, seen, statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--teams", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    held = connections(args.agents, args.teams)
    per_team = sum(1 for c in held if c.teams == ["team00"])
    admins_elsewhere = sum(1 for c in held if c.role == 3 and c.teams != ["team00"])
    cases = [
        (
            "team ticket",
            LiveEvent(id="e1", type="ticket.updated", at=NOW, ticket_id="t-team"),
            per_team + admins_elsewhere,
        ),
        ("no team yet", LiveEvent(id="e2", type="ticket.created", at=NOW, ticket_id="t-open"), len(held)),
        (
            "SLA warning",
            LiveEvent(id="e3", type="sla.warning", at=NOW, ticket_id="t-team", audience="owners"),
            # the assignee, and whoever of team00 is a supervisor or more
            sum(1 for c in held if c.teams == ["team00"] and c.role >= 2) + 1,
        ),
    ]
    assignee = next(c for c in held if c.teams == ["team00"] and c.role == 1)
    tickets = [ticket("t-team", 1, "team00", assignee.agent_id), ticket("t-open", 2, None, None)]
    failed = False
    with mock_aws(), item_level_rollback(), partition_queries():
        deployed = deploy(ROOT / "template.yaml")
        table = deployed.name("TicketsTable")
        baseline_repo = DynamoRepository(table, "us-east-1")
        seed(baseline_repo, [assignee], tickets)
        _, _, baseline = measure(baseline_repo, cases[0][1], args.runs)
        baseline_repo.drop_connection(assignee.connection_id)
        seed(baseline_repo, held, [])
        print(
            f"{args.agents} connections, {args.teams} teams; "
            f"baseline (1 connection): {baseline * 1000:.1f} ms"
        )
        print(f"{'change':<14} {'reached':>8} {'requests':<60} {'ms':>8} {'ms/100':>8} {'ratio':>7}")
        for name, event, expected in cases:
            reached, seen, took = measure(baseline_repo, event, args.runs)
            failed |= reached != expected
            per_hundred = took / max(reached, 1) * 100
            requests = ", ".join(f"{op} {n}" for op, n in sorted(seen.items()))
            print(
                f"{name:<14} {reached:>8} {requests:<60} {took * 1000:>8.1f} {per_hundred * 1000:>8.1f} "
                f"{took / baseline:>6.1f}x" + ("" if reached == expected else f"  WRONG: expected {expected}")
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
