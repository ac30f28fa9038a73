"""Items read and requests per page of the agents' views, at 10,000 and 100,000 tickets, on moto.

A view page (shared/logic/views.py `read_view`) merges, for each shard (`--shards`, the config's
`views.shards`) of each of the caller's scopes (their teams and the shared inbox), a few entries at a
time (decision 126), then reads the counts of those partitions (BatchGetItem, 100 keys a request);
the view list (`view_counts`) is BatchGetItems of every count. The target: no page reads more
than the merge's bound, whatever the number of tickets: with P partitions and b = max(2,
ceil(limit / P) + 1) entries a slice, P first slices of b + 2 entries and at most ceil(limit / b)
more, plus P counts, in P + ceil(limit / b) Queries and ceil(P / 100) BatchGetItems. Which
partitions the page's entries come from decides how many of those slices are read, so two sizes
may differ within the bound (before decision 126 a page read P x (limit + 1) entries, the same at
every size).

Setup. The table comes from template.yaml (simulator.resources) inside `moto.mock_aws`, and the
real `DynamoRepository` reads it. Tickets are generated with a fixed seed over three teams and the
shared inbox (30% open with an assignee or not, 70% resolved or closed, four tags; alice, the
reader, holds a tenth of the assigned ones, so her "mine" has three full pages at 10,000), and their view
entries and counts are those `entries_of` gives, written straight into moto's table object: going
through the stream and route_ticket for 100,000 tickets would take hours on moto, and what is
measured is the reading. One entry written the way route_ticket writes it is compared with the
hand-written one first, so the two cannot drift apart unnoticed (a difference exits with status 1).

One table, grown: the pages are measured at 10,000 tickets, then 90,000 more are added and the
same pages are measured again. Each page is read as an agent of two teams reads it: the first page,
then the third by following the cursors.

Counted at the botocore client (`BaseClient._make_api_call`, which PynamoDB's client also goes
through): requests, and the items each answer holds (Query `Items`, BatchGetItem `Responses`).
moto answers a Query by walking the whole table and sorting the partition; the benchmark uses
`partition_queries` from benchmarks/_offline.py, which gives moto's walk only the partition (the
answer is the same). Times still grow with the partition on moto although DynamoDB reads only the
page's range: times are not reported, the items read carry over.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._offline import at_two_sizes, use_offline_aws  # noqa: E402

use_offline_aws()

import boto3  # noqa: E402
from botocore.client import BaseClient  # noqa: E402
from moto.core.models import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.dynamodb.models import dynamodb_backends  # noqa: E402

from shared.dal.repository import DynamoRepository  # noqa: E402
from shared.dal.views import entry_item  # noqa: E402
from shared.logic.permissions import Principal, Role  # noqa: E402
from shared.logic.views import changes_for, entries_of, read_view, view_counts  # noqa: E402
from shared.models.config import HelpdeskConfig  # noqa: E402
from shared.models.ticket import Channel, Priority, Sla, SlaTarget, Ticket, TicketStatus  # noqa: E402

REGION = "us-east-1"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TEAMS = ("support", "billing", "sales")
AGENTS = tuple(f"agent{n:02d}" for n in range(30))
TAGS = ("refund", "printer", "vip", "invoice")
CONFIG = HelpdeskConfig.model_validate(
    {
        "teams": [{"id": t} for t in TEAMS],
        "agents": [{"id": a, "teams": [TEAMS[n % 3]]} for n, a in enumerate(AGENTS)]
        + [{"id": "alice", "teams": ["support", "billing"]}],
    }
)
ALICE = Principal("alice", Role.AGENT, frozenset({"support", "billing"}))
PAGES = ("mine", "open", "unassigned", "breaching", "status:closed", "tag:refund")
LIMIT = 25


def ticket(index: int, rnd: random.Random) -> Ticket:
    created = T0 + timedelta(seconds=index * 7)
    open_ = rnd.random() < 0.3
    status = (
        rnd.choice([TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING])
        if open_
        else rnd.choice([TicketStatus.RESOLVED, TicketStatus.CLOSED])
    )
    assignee = (
        None if open_ and rnd.random() < 0.3 else ("alice" if rnd.random() < 0.1 else rnd.choice(AGENTS))
    )
    due = created + timedelta(hours=rnd.randint(1, 72))
    return Ticket(
        id=f"tkt_{index:026d}",
        number=index + 1,
        channel=rnd.choice(list(Channel)),
        status=status,
        priority=rnd.choice(list(Priority)),
        subject=f"Question {index}",
        customer_id=f"cus_{index % 5000}",
        team=rnd.choice((*TEAMS, None)),
        assignee=assignee,
        tags=rnd.sample(TAGS, rnd.randint(0, 2)),
        inbox="support@support.example.com",
        sla=Sla(targets=[SlaTarget(name="resolution", due_at=due)]),
        created_at=created,
        updated_at=created + timedelta(minutes=rnd.randint(0, 600)),
    )


class Seeder:
    """Writes tickets' view entries and counts straight into moto's table object."""

    def __init__(self, table_name: str, shards: int = 1) -> None:
        self.shards = shards
        self.table = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].get_table(table_name)
        self.counts: Counter[str] = Counter()
        self.rnd = random.Random(7)
        self.written = 0

    def add(self, indexes: range) -> None:
        for index in indexes:
            for entry in entries_of(ticket(index, self.rnd), self.shards):
                self.table.put_item(
                    entry_item(entry).serialize() | {"pk": {"S": entry.partition}, "sk": {"S": entry.sk}}
                )
                self.counts[entry.partition] += 1
                self.written += 1
        for partition, total in self.counts.items():
            attrs = {"pk": {"S": partition}, "sk": {"S": "COUNT"}, "entity": {"S": "view_count"}}
            self.table.put_item(attrs | {"total": {"N": str(total)}})


class Meter:
    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.items = 0

    @contextlib.contextmanager
    def active(self) -> Iterator[Meter]:
        original = BaseClient.__dict__["_make_api_call"]

        def metered(client: Any, operation: str, params: Any) -> Any:
            answer = original(client, operation, params)
            if client.meta.service_model.service_name == "dynamodb":
                self.requests[operation] += 1
                self.items += len(answer.get("Items", []))
                self.items += sum(len(v) for v in answer.get("Responses", {}).values())
            return answer

        with mock.patch.object(BaseClient, "_make_api_call", metered):
            yield self


def measure(repository: DynamoRepository, config: HelpdeskConfig = CONFIG) -> dict[str, tuple[int, int]]:
    """(requests, items read) per page: each view's first and third page, and the view list."""
    found: dict[str, tuple[int, int]] = {}
    for view in PAGES:
        cursor = None
        for page in (1, 2, 3):
            with Meter().active() as meter:
                result = read_view(ALICE, config, view, None, LIMIT, cursor, repository)
            if page in (1, 3):
                found[f"{view} p{page}"] = (sum(meter.requests.values()), meter.items)
            cursor = result.cursor
            if cursor is None:
                break
    with Meter().active() as meter:
        view_counts(ALICE, config, None, repository)
    found["view list (counts)"] = (sum(meter.requests.values()), meter.items)
    return found


def within(reads: tuple[str, tuple[int, int]], shards: int) -> bool:
    """A page's requests and items within the merge's bound (the module's docstring)."""
    name, (requests, items) = reads
    if name.startswith("view list"):
        return True  # the counts alone: their number is the views x partitions, fixed
    partitions = shards * (1 if name.startswith("mine") else 3)
    batch = max(2, -(-LIMIT // partitions) + 1)
    refills = -(-LIMIT // batch)
    gets = -(-partitions // 100)
    return (
        requests <= partitions + refills + gets and items <= (partitions + refills) * (batch + 2) + partitions
    )


def shape_drift(repository: DynamoRepository, table_name: str, shards: int = 1) -> list[str]:
    """The entries route_ticket's path writes for one ticket against the hand-written ones."""
    sample = ticket(10**7, random.Random(1))
    repository.apply_view_changes(changes_for(sample.id, sample, 1, None, shards))
    client = boto3.client("dynamodb", region_name=REGION)
    problems = []
    for entry in entries_of(sample, shards):
        stored = client.get_item(
            TableName=table_name, Key={"pk": {"S": entry.partition}, "sk": {"S": entry.sk}}
        )
        hand = entry_item(entry).serialize() | {"pk": {"S": entry.partition}, "sk": {"S": entry.sk}}
        if stored.get("Item") != hand:
            problems.append(entry.partition)
        client.delete_item(TableName=table_name, Key={"pk": {"S": entry.partition}, "sk": {"S": entry.sk}})
        client.delete_item(TableName=table_name, Key={"pk": {"S": entry.partition}, "sk": {"S": "COUNT"}})
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--shards", type=int, default=1, help="the config's views.shards (1)")
    args = parser.parse_args()
    config = CONFIG.model_copy(update={"views": CONFIG.views.model_copy(update={"shards": args.shards})})
    result = at_two_sizes(
        args.small,
        args.large,
        partial(Seeder, shards=args.shards),
        partial(shape_drift, shards=args.shards),
        partial(measure, config=config),
    )
    if isinstance(result, str):
        print(f"hand-written view entries differ from route_ticket's: {result}")
        return 1
    print(
        f"views: {args.small:,} tickets ({result.small_written:,} view entries) "
        f"vs {args.large:,} ({result.large_written:,})"
    )
    print(f"agent of 2 teams (3 scopes with the shared inbox), {args.shards} shard(s) a view, limit {LIMIT}")
    print(f"{'page':<24}{'requests':>10}{'items':>8}{'requests':>10}{'items':>8}{'items ratio':>13}")
    for name, (requests, items) in result.small.items():
        big_requests, big_items = result.large[name]
        ratio = big_items / items if items else float("nan")
        print(f"{name:<24}{requests:>10}{items:>8}{big_requests:>10}{big_items:>8}{ratio:>13.2f}")
    met = all(within(reads, args.shards) for reads in (*result.small.items(), *result.large.items()))
    print("same requests and items read at both sizes:", "yes" if result.same() else "no")
    print("target (every page within the merge's bound, at both sizes):", "met" if met else "NOT met")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
