"""One SLA sweep over a large tickets table, on moto: it reads only the tickets that are due.

The sweep (`shared.logic.sla_sweep.sweep`) queries the sparse, keys-only deadline index `gsi3` of
the tickets table, pages per shard of `SLADUE#<shard>` with `gsi3sk <= "<now>#~"` and a
BatchGetItem of the tickets they name, so it reads the tickets whose next deadline has come and no
others (decision 117). Targets, for 100,000 tickets of which 50
are due: at most 60 items read, and a sweep no slower than 1.5 times the sweep of 1,000 tickets
with the same 50 due, measured in the same run.

Setup. The table comes from template.yaml (simulator.resources) inside `moto.mock_aws`, and the
real `DynamoRepository` is bound to it. The config has one SLA policy, `email` (first response in
60 calendar minutes, warning at 80%, escalation level 1 at the breach notifying the team lead),
and 4 sweep shards; the notifier is a stub that counts. Tickets are written with the low-level
`batch_write_item` (25 a request, one thread: moto is not thread-safe), shaped as the repository
writes them: the SLA from `shared.logic.sla.plan`, the index keys from `sla_shard` and
`next_deadline`. First, one ticket is written through the repository (created, then given its
SLA as routing does) and its raw item compared with the hand-built one, so the two cannot drift
apart unnoticed (a difference exits with status 1). Due tickets were created two hours before
the sweep (first response breached); the others less than 47 minutes before (no warning yet).

One table, grown: 1,000 tickets (the 50 due among them) are measured first, then 99,000 more,
none due, are added and the same sweep is measured again. The due tickets, their ids and shards
are the same, so table size is the only difference between the two measurements.

Each figure is the median of 3 sweeps, after one discarded warm-up sweep. A sweep changes the
due tickets (breach recorded, escalation taken, deadline removed from the index, history events
added), so before each sweep the items the previous one put are deleted and the due tickets are
written back as loaded. moto deep-copies the whole table for every TransactWriteItems (to roll
back), which would make each of the sweep's 50 writes cost in proportion to the table; the
benchmark uses `item_level_rollback` from benchmarks/_offline.py, which keeps the all-or-nothing result
but copies only the items a transaction names.

Counted at the botocore client (`BaseClient._make_api_call`, which PynamoDB's client also goes
through): requests per operation, and for each Query the items returned (`Count`) and the items
its key condition matched (`ScannedCount`). moto answers `ReturnConsumedCapacity` with a fixed
number, so consumed capacity is not reported. Wall time is split into the Query calls and the
rest (the sweep's own work and its writes).

Caveat: moto answers a GSI Query by walking every item of the table and sorting the matches, so
on moto the Query time grows with the table, although DynamoDB reads only the matching range of
the index. The items read are what carries over to DynamoDB; the time without the Query calls
shows that the rest of the sweep does not grow with the table.

BENCH_SLA_TICKETS sets the large table's size (default 100,000: 1.5 to 3 minutes to load into
moto, 2 to 4 minutes in all, 1.5 GB of memory; it must exceed 1,000). Figures are printed, never
asserted.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
DUE = 50
BASELINE_TICKETS = 1_000
DEFAULT_TICKETS = 100_000
READ_TARGET = 60
RATIO_TARGET = 1.5
SHARDS = 4
RUNS = 3
BATCH = 25  # BatchWriteItem's limit
DUE_AGE = timedelta(hours=2)
NOT_DUE_AGE_SECONDS = 47 * 60  # younger than the 48-minute warning

CONFIG = f"""
calendars:
  default: {{timezone: UTC}}
teams:
  - {{id: support, lead: lena}}
agents:
  - {{id: lena, teams: [support]}}
sla:
  sweep_shards: {SHARDS}
  policies:
    - name: email
      when: {{channel: [email]}}
      first_response: {{minutes: 60, business: false}}
      warning_at: 0.8
      escalation:
        - {{level: 1, at: breach, notify: [team_lead]}}
"""

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._offline import item_level_rollback, use_offline_aws  # noqa: E402

use_offline_aws()  # before anything reads the environment

import boto3  # noqa: E402
from botocore.client import BaseClient  # noqa: E402
from moto import mock_aws  # noqa: E402

from shared import clock  # noqa: E402
from shared.config import parse_config  # noqa: E402
from shared.logic import sla as sla_math  # noqa: E402
from shared.logic.sla_service import policy_calendar  # noqa: E402
from shared.logic.sla_sweep import SweepContext, sweep  # noqa: E402
from shared.models.config import HelpdeskConfig, SlaPolicyConfig  # noqa: E402
from shared.models.ticket import Channel, Direction, Message, Priority, Ticket, TicketStatus  # noqa: E402
from simulator.resources import deploy  # noqa: E402

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from shared.dal.repository import DynamoRepository
else:
    DynamoDBClient = Any


class CountingNotifier:
    """Stands in for the SNS notifier: counts escalation notifications."""

    def __init__(self) -> None:
        self.sent = 0

    def notify(self, subject: str, message: dict[str, Any]) -> None:
        self.sent += 1


@dataclass
class ApiMeter:
    """Requests per operation, their time, what the Query calls returned, and the keys of the
    items put, while active."""

    calls: Counter[str] = field(default_factory=Counter)
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    returned: int = 0
    scanned: int = 0
    put: list[dict[str, Any]] = field(default_factory=list)

    @contextlib.contextmanager
    def active(self) -> Iterator[ApiMeter]:
        original = BaseClient.__dict__["_make_api_call"]

        def metered(client: Any, operation_name: str, api_params: Any) -> Any:
            started = time.perf_counter()
            response = original(client, operation_name, api_params)
            self.seconds[operation_name] += time.perf_counter() - started
            self.calls[operation_name] += 1
            if operation_name == "Query":
                self.returned += int(response.get("Count", len(response.get("Items", []))))
                self.scanned += int(response.get("ScannedCount", 0))
            elif operation_name == "TransactWriteItems":
                puts = (entry["Put"]["Item"] for entry in api_params["TransactItems"] if "Put" in entry)
                self.put += [{"pk": item["pk"], "sk": item["sk"]} for item in puts]
            elif operation_name == "PutItem":
                self.put.append({"pk": api_params["Item"]["pk"], "sk": api_params["Item"]["sk"]})
            return response

        with mock.patch.object(BaseClient, "_make_api_call", metered):
            yield self


@dataclass
class Sweep:
    """One measured sweep."""

    read: int
    breaches: int
    notified: int
    seconds: float
    meter: ApiMeter

    @property
    def query_seconds(self) -> float:
        return self.meter.seconds["Query"]

    @property
    def rest_seconds(self) -> float:
        return self.seconds - self.query_seconds

    @property
    def write_seconds(self) -> float:
        return sum(seconds for op, seconds in self.meter.seconds.items() if op != "Query")


@dataclass
class Stage:
    """The median of several sweeps over one table size."""

    tickets: int
    sweeps: list[Sweep]

    def median(self, what: str) -> float:
        return statistics.median(getattr(s, what) for s in self.sweeps)

    @property
    def last(self) -> Sweep:
        return self.sweeps[-1]


class Fleet:
    """Builds ticket items as the repository stores them, for one policy and shard count."""

    def __init__(self, config: HelpdeskConfig) -> None:
        policy = config.sla_policy("email")
        if policy is None:
            raise RuntimeError("the benchmark config lacks the email policy")
        self.policy: SlaPolicyConfig = policy
        self.calendar, self.calendar_name = policy_calendar(config, policy, "support")
        self.shards = config.sla.sweep_shards

    @staticmethod
    def ticket_id(index: int) -> str:
        return f"tkt_bench{index:07d}"

    @staticmethod
    def is_due(index: int) -> bool:
        """Every 20th of the first 1,000 tickets: the baseline table holds all 50 due tickets."""
        return index < BASELINE_TICKETS and index % (BASELINE_TICKETS // DUE) == 0

    def created_at(self, index: int) -> datetime:
        if self.is_due(index):
            return NOW - DUE_AGE - timedelta(seconds=index)
        return NOW - timedelta(seconds=index % NOT_DUE_AGE_SECONDS)

    def item(self, index: int, ticket_id: str | None = None) -> dict[str, Any]:
        """The raw item of a routed open email ticket with a pending first-response target."""
        from shared.dal.tickets import sla_shard

        ticket_id = ticket_id or self.ticket_id(index)
        created_at = self.created_at(index)
        sla = sla_math.plan(self.policy, created_at, self.calendar, self.calendar_name)
        deadline = sla_math.next_deadline(sla, self.policy)
        if deadline is None:
            raise RuntimeError("a planned first-response target must have a deadline")
        stamp = clock.iso(created_at)
        customer_id = f"cus_bench{index % 5_000:05d}"
        return {
            "pk": {"S": f"TICKET#{ticket_id}"},
            "sk": {"S": "TICKET"},
            "entity": {"S": "ticket"},
            "id": {"S": ticket_id},
            "number": {"N": str(index + 1)},
            "channel": {"S": "email"},
            "status": {"S": "open"},
            "priority": {"S": "normal"},
            "customer_id": {"S": customer_id},
            "team": {"S": "support"},
            "tags": {"L": []},
            "flags": {"L": []},
            "participants": {"L": []},
            "skills": {"L": []},
            "preview": {"S": ""},
            "sla": {"S": json.dumps(sla.model_dump(mode="json"))},  # as pynamodb's JSONAttribute stores it
            "sla_policy": {"S": self.policy.name},
            "created_at": {"S": stamp},
            "updated_at": {"S": stamp},
            "version": {"N": "1"},
            "gsi1pk": {"S": f"CUSTOMER#{customer_id}"},
            "gsi1sk": {"S": f"{stamp}#{ticket_id}"},
            "gsi3pk": {"S": f"SLADUE#{sla_shard(ticket_id, self.shards)}"},
            "gsi3sk": {"S": f"{clock.iso(deadline)}#{ticket_id}"},
        }


def batched(requests: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for request in requests:
        chunk.append(request)
        if len(chunk) == BATCH:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def batch_write(client: DynamoDBClient, table: str, requests: Iterable[dict[str, Any]]) -> int:
    """Write put/delete requests 25 at a time, retrying unprocessed ones; returns the requests made."""
    made = 0
    for chunk in batched(requests):
        pending: dict[str, Any] = {table: chunk}
        while pending:
            made += 1
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    return made


def load(client: DynamoDBClient, table: str, fleet: Fleet, indexes: range) -> tuple[float, int]:
    started = time.perf_counter()
    made = batch_write(client, table, ({"PutRequest": {"Item": fleet.item(i)}} for i in indexes))
    return time.perf_counter() - started, made


def partition_keys(client: DynamoDBClient, table: str, pk: str) -> list[dict[str, Any]]:
    """Keys of every item under one partition key."""
    keys: list[dict[str, Any]] = []
    for page in client.get_paginator("query").paginate(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
        ProjectionExpression="pk, sk",
    ):
        keys += page["Items"]
    return keys


def shape_drift(repository: DynamoRepository, client: DynamoDBClient, table: str, fleet: Fleet) -> list[str]:
    """Write one ticket through the repository, compare its raw item with the hand-built one, remove it."""
    from shared.dal.tickets import NewTicketWrite, SlaWrite, TicketUpdate

    index, ticket_id = 1, "tkt_benchprobe"
    built = fleet.item(index, ticket_id)
    created_at = fleet.created_at(index)
    ticket = Ticket(
        id=ticket_id,
        number=index + 1,
        channel=Channel.EMAIL,
        status=TicketStatus.OPEN,
        priority=Priority.NORMAL,
        customer_id=built["customer_id"]["S"],
        team="support",
        created_at=created_at,
        updated_at=created_at,
    )
    message = Message(
        id="msg_benchprobe",
        ticket_id=ticket_id,
        direction=Direction.INBOUND,
        channel=Channel.EMAIL,
        at=created_at,
        author=ticket.customer_id,
    )
    repository.create_ticket(NewTicketWrite(ticket=ticket, message=message))
    stored = repository.get_ticket(ticket_id)
    assert stored is not None
    sla = sla_math.plan(fleet.policy, created_at, fleet.calendar, fleet.calendar_name)
    write = SlaWrite(sla, sla_math.next_deadline(sla, fleet.policy), fleet.shards)
    repository.update_ticket(stored, TicketUpdate(sla=write), [], created_at)
    key = {"pk": {"S": f"TICKET#{ticket_id}"}, "sk": {"S": "TICKET"}}
    raw = client.get_item(TableName=table, Key=key)["Item"]
    raw.pop("version")  # the repository's create + update leaves version 2; the loaded tickets are new
    built.pop("version")
    problems = [
        f"{name}: repository {raw.get(name)!r}, benchmark {built.get(name)!r}"
        for name in sorted(set(raw) | set(built))
        if raw.get(name) != built.get(name)
    ]
    leftovers = partition_keys(client, table, f"TICKET#{ticket_id}")  # the ticket and its message
    batch_write(client, table, ({"DeleteRequest": {"Key": k}} for k in leftovers))
    return problems


class Bench:
    """Sweeps one table, putting the due tickets back as loaded before each sweep."""

    def __init__(
        self, repository: DynamoRepository, config: HelpdeskConfig, client: DynamoDBClient, fleet: Fleet
    ) -> None:
        self.notifier = CountingNotifier()
        self.ctx = SweepContext(repository, config, self.notifier)
        self.client, self.table, self.fleet = client, repository.table_name, fleet
        self.due = [i for i in range(BASELINE_TICKETS) if fleet.is_due(i)]
        self.left: list[dict[str, Any]] = []
        """Keys of the items the last sweep put (its history events): deleted before the next sweep."""

    def reset(self) -> None:
        """Undo the last sweep: delete the items it added, write the due tickets back as loaded."""
        added = [key for key in self.left if key["sk"]["S"] != "TICKET"]
        batch_write(self.client, self.table, ({"DeleteRequest": {"Key": key}} for key in added))
        batch_write(self.client, self.table, ({"PutRequest": {"Item": self.fleet.item(i)}} for i in self.due))
        self.left = []

    def sweep(self) -> Sweep:
        self.reset()
        meter = ApiMeter()
        sent = self.notifier.sent
        with meter.active():
            started = time.perf_counter()
            result = sweep(self.ctx, NOW)
            seconds = time.perf_counter() - started
        self.left = meter.put
        return Sweep(result.read, result.breaches, self.notifier.sent - sent, seconds, meter)

    def stage(self, tickets: int) -> Stage:
        return Stage(tickets, [self.sweep() for _ in range(RUNS)])


def report(stages: list[Stage]) -> None:
    print(
        "  read: tickets the sweep read (SweepResult.read); returned / scanned: Count / ScannedCount of"
        " its Query calls;\n  rest: the sweep without its Query calls; writes: its other requests (part"
        " of rest); times are medians"
    )
    print(
        f"  {'tickets':>9} {'due':>4} {'read':>5} {'returned':>8} {'scanned':>7} {'queries':>7}"
        f" {'sweep ms':>9} {'Query ms':>9} {'rest ms':>8} {'writes ms':>9}  other requests per sweep"
    )
    for stage in stages:
        last = stage.last
        others = ", ".join(f"{op} {n}" for op, n in sorted(last.meter.calls.items()) if op != "Query")
        print(
            f"  {stage.tickets:>9,} {DUE:>4} {last.read:>5} {last.meter.returned:>8} {last.meter.scanned:>7}"
            f" {last.meter.calls['Query']:>7} {stage.median('seconds') * 1e3:>9.1f}"
            f" {stage.median('query_seconds') * 1e3:>9.1f} {stage.median('rest_seconds') * 1e3:>8.1f}"
            f" {stage.median('write_seconds') * 1e3:>9.1f}"
            f"  {others or 'none'}"
        )
        odd = [s for s in stage.sweeps if (s.read, s.breaches, s.notified) != (DUE, DUE, DUE)]
        if odd:
            print(f"  {'':9} !! sweeps that did not read, breach and notify exactly {DUE}: {len(odd)}")
    base, large = stages
    read = large.last.read
    verdict = "within target" if read <= READ_TARGET else "OVER TARGET"
    print(
        f"items read by one sweep of {large.tickets:,} tickets: {read} (target <= {READ_TARGET}): {verdict}"
    )
    ratio = large.median("seconds") / base.median("seconds")
    verdict = "within target" if ratio <= RATIO_TARGET else "OVER TARGET"
    print(
        f"sweep duration {large.tickets:,} / {base.tickets:,} tickets: {ratio:.2f}x"
        f" (target <= {RATIO_TARGET}): {verdict} on moto"
    )
    query_ratio = large.median("query_seconds") / base.median("query_seconds")
    rest_ratio = large.median("rest_seconds") / base.median("rest_seconds")
    write_ratio = large.median("write_seconds") / base.median("write_seconds")
    print(
        f"  of which Query calls: {query_ratio:.2f}x (moto walks all {large.tickets:,} items per GSI Query;"
        " DynamoDB reads only the due range)"
    )
    print(
        f"  without the Query calls (the sweep's own work and its writes): {rest_ratio:.2f}x"
        f" (its writes alone: {write_ratio:.2f}x)"
    )


def main() -> int:
    tickets = int(os.environ.get("BENCH_SLA_TICKETS") or DEFAULT_TICKETS)
    if tickets <= BASELINE_TICKETS:
        print(f"BENCH_SLA_TICKETS must be above {BASELINE_TICKETS:,}", file=sys.stderr)
        return 2
    config = parse_config(CONFIG, "bench_sla_sweep")
    fleet = Fleet(config)
    with mock_aws(), item_level_rollback():
        deployment = deploy(ROOT / "template.yaml")
        from shared.dal.repository import DynamoRepository

        table = deployment.name("TicketsTable")
        repository = DynamoRepository(table, REGION)
        client: DynamoDBClient = boto3.client("dynamodb", region_name=REGION)
        if problems := shape_drift(repository, client, table, fleet):
            print("loaded items differ from what the repository writes:", file=sys.stderr)
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
            return 1
        bench = Bench(repository, config, client, fleet)
        print(
            f"SLA sweep on moto: {DUE} due tickets in {SHARDS} shards, median of {RUNS} sweeps at"
            f" {clock.iso(NOW)} (due tickets reset before each)"
        )
        base_load, base_requests = load(client, table, fleet, range(BASELINE_TICKETS))
        bench.sweep()  # warm-up: imports, clients, caches, as in a warm Lambda container
        base = bench.stage(BASELINE_TICKETS)
        large_load, large_requests = load(client, table, fleet, range(BASELINE_TICKETS, tickets))
        large = bench.stage(tickets)
        added = tickets - BASELINE_TICKETS
        print(
            f"  load (BatchWriteItem, {BATCH} a request): {BASELINE_TICKETS:,} tickets in {base_load:.1f} s"
            f" ({base_requests:,} requests), then {added:,} more in {large_load:.1f} s ({large_requests:,})"
        )
        report([base, large])
    return 0


if __name__ == "__main__":
    sys.exit(main())
