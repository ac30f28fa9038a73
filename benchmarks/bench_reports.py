"""Items read, requests and time of a report over 30 days, at 10,000 and 100,000 tickets, on moto.

A report (shared/logic/reports.py `build_report`) reads, per group, that group's per-day aggregate
items from the start of its history to the period's last day (one Query each), plus one Query of
the dimension's values when grouped by a dimension: a number that grows with days and groups, never
with tickets (issue 15 §2). Targets: the same items read at 100,000 tickets as at 10,000, and a
report no slower than 1.2 times, measured in the same run.

Setup. The table comes from template.yaml (simulator.resources) inside `moto.mock_aws`, and the real
`DynamoRepository` reads it. Tickets are generated with a fixed seed over 35 days (three teams, two
in Berlin's and one in New York's business hours, 30 agents, email and SMS, four priorities, two
tags, VIP and other customers): each is created by a customer message, routed to an agent, answered
(sometimes a customer answers and the agent again), and most are resolved, some reopened and
resolved again; a few stay open, for the backlog. Each ticket's metric ledger is built by the real
`build_ledger` from its events and messages, and what the ledger adds to the aggregates by the real
`report_deltas`; the sums are written straight into moto's table object as the aggregate items and
dimension values: applying 100,000 ledgers through moto's transactions would take hours, and what is
measured is the reading. First, one ledger is applied through `DynamoReports.apply_ledger` and the
items it writes compared with the hand-written ones, so the two cannot drift apart (a difference
exits with status 1). Tickets themselves are not written: a report never reads them.

One table, grown: the reports are measured at 10,000 tickets, then 90,000 more tickets over the
same days are added and the same reports are measured again. Each report covers the last 30 of the
35 days, as an admin reads it: grouped by day, by team and by agent. At each size the reports are
measured twice: with every day a live item (one attribute per sketch bucket), then after every day
of every dimension value is sealed (decision 112: `seal_reports`, as the hourly schedule does for
the last week), which is what a report reads in a running deployment for all but the last two days.
Sealing must not change a report: each report's JSON is compared before and after (a difference
exits with status 1). The targets are judged on the sealed reads.

Counted at the botocore client (`BaseClient._make_api_call`, which PynamoDB's client also goes
through): requests, and items read (Query `Items`). Each time is the median of `--runs` reports
after one discarded warm-up. moto answers a Query by walking the table; the benchmark uses
`partition_queries` (simulator/moto_speed.py), which gives moto's walk only the partition, and
`plain_attribute_values`, which copies attribute values into moto's answer instead of writing them
through its slow generic serializer (the answers are the same); sealing runs with
`item_level_rollback` (moto otherwise copies the whole table on every transaction). It takes about
16 minutes of CPU and 4 GB. Exits with status 1 when the items read differ or sealing changed a
report.

Last run (docs/reports.md, "What a report reads"): the same items read at both sizes (35 grouped by
day, 143 by team, 1,115 by agent); live, time ratios 2.44 (day), 2.80 (team), 2.68 (agent);
sealed, 0.94, 0.93 and 0.80, 0.82 for the three together (target met), at 4 % to 11 % of the live
time. Two more runs beside a full test run: 0.87 and 1.12 together, a grouping's ratio between 0.75
and 1.89 (the day report takes 30 to 60 ms, so load moves it most).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._offline import at_two_sizes, item_level_rollback, use_offline_aws  # noqa: E402

use_offline_aws()

import boto3  # noqa: E402
from moto.core.models import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.dynamodb.models import dynamodb_backends  # noqa: E402

from benchmarks.bench_views import REGION, Meter  # noqa: E402
from shared.config import parse_config  # noqa: E402
from shared.dal.reports import MAX_ACTIONS, dimension_key  # noqa: E402
from shared.dal.repository import DynamoRepository  # noqa: E402
from shared.logic.metrics.aggregates import new_dimension_values, report_deltas  # noqa: E402
from shared.logic.metrics.ledger import build_ledger, measuring_for  # noqa: E402
from shared.logic.permissions import Principal, Role  # noqa: E402
from shared.logic.report_sealing import seal_reports  # noqa: E402
from shared.logic.reports import ReportRequest, build_report  # noqa: E402
from shared.models.metrics import MetricLedger  # noqa: E402
from shared.models.reports import SEALED_SUFFIX, Freshness  # noqa: E402
from shared.models.ticket import (  # noqa: E402
    Channel,
    Direction,
    Message,
    Priority,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from simulator.moto_speed import plain_attribute_values  # noqa: E402

HISTORY_DAYS = 35
REPORT_DAYS = 30
T0 = datetime(2026, 2, 2, 0, 0, tzinfo=UTC)
LAST = (T0 + timedelta(days=HISTORY_DAYS - 1)).date()
FIRST = LAST - timedelta(days=REPORT_DAYS - 1)
NOW = T0 + timedelta(days=HISTORY_DAYS + 1)
GROUPINGS = ("day", "team", "agent")
ITEMS_TARGET = "same items read"
RATIO_TARGET = 1.2
TEAMS = ("support", "billing", "texts")
AGENTS = tuple(f"agent{n:02d}" for n in range(30))
ADMIN = Principal("ada", Role.ADMIN, frozenset())

_HOURS = '["09:00-17:00"]'
_WEEK = ", ".join(f"{d}: {_HOURS}" for d in ("mon", "tue", "wed", "thu", "fri"))
CONFIG = parse_config(
    f"""
calendars:
  default: {{timezone: UTC}}
  berlin: {{timezone: Europe/Berlin, hours: {{{_WEEK}}}}}
  newyork: {{timezone: America/New_York, hours: {{{_WEEK}}}}}
teams:
  - {{id: support, calendar: berlin}}
  - {{id: billing, calendar: berlin}}
  - {{id: texts, calendar: newyork}}
agents:
{chr(10).join(f"  - {{id: {a}, teams: [{TEAMS[n % 3]}]}}" for n, a in enumerate(AGENTS))}
reports: {{timezone: Europe/Berlin, next_issue_days: 7}}
"""
)


def _minutes(rnd: random.Random, median: float) -> timedelta:
    """A wait with the long tail of real ones (log-normal around `median` minutes)."""
    return timedelta(minutes=rnd.lognormvariate(0, 1.2) * median)


@dataclass
class Story:
    """One generated ticket's history."""

    ticket: Ticket
    events: list[TicketEvent] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)

    def message(self, at: datetime, direction: Direction, author: str) -> None:
        mid = f"{self.ticket.id}-m{len(self.messages)}"
        kind = {"headers": {"kind": "reply"}} if direction is Direction.OUTBOUND else {}
        self.messages.append(
            Message(
                id=mid,
                ticket_id=self.ticket.id,
                direction=direction,
                channel=self.ticket.channel,
                at=at,
                author=author,
                **kind,  # type: ignore[arg-type]
            )
        )
        if direction is Direction.OUTBOUND:
            self.events.append(
                TicketEvent(at=at, type="message_sent", data={"kind": "reply", "message_id": mid})
            )
        else:
            self.events.append(TicketEvent(at=at, type="message_threaded", data={"message_id": mid}))

    def status(self, at: datetime, before: str, after: str, by: str) -> None:
        changes = {"status": [before, after]}
        self.events.append(TicketEvent(at=at, type="updated", data={"by": by, "changes": changes}))


def story(index: int, rnd: random.Random) -> Story:
    """Ticket `index`: created by a customer, routed, answered, mostly resolved (some reopened)."""
    created = T0 + timedelta(seconds=rnd.uniform(0, HISTORY_DAYS * 86400 - 7200))
    team = TEAMS[index % 3]
    agent = rnd.choice(AGENTS[index % 3 :: 3])
    ticket = Ticket(
        id=f"tkt_{index:026d}",
        number=index + 1,
        channel=Channel.SMS if team == "texts" else Channel.EMAIL,
        priority=rnd.choice(list(Priority)),
        customer_id=f"cus_{index % 7919}",
        team=team,
        assignee=agent,
        tags=rnd.sample(["refund", "printer"], rnd.randint(0, 2)),
        inbox="+12125550101" if team == "texts" else "support@support.example.com",
        created_at=created,
        updated_at=created,
    )
    told = Story(ticket)
    told.events.append(TicketEvent(at=created, type="created", data={"message_id": f"{ticket.id}-m0"}))
    told.message(created, Direction.INBOUND, "customer")
    routed = created + timedelta(seconds=rnd.randint(1, 90))
    told.events.append(TicketEvent(at=routed, type="routed", data={"agent": agent, "team": team}))
    at = routed + _minutes(rnd, 45)
    told.message(at, Direction.OUTBOUND, agent)
    if rnd.random() < 0.3:  # the customer answers, the agent again
        at += _minutes(rnd, 120)
        told.message(at, Direction.INBOUND, "customer")
        at += _minutes(rnd, 30)
        told.message(at, Direction.OUTBOUND, agent)
    status = "new"
    if rnd.random() < 0.9:
        at += _minutes(rnd, 240)
        told.status(at, status, "resolved", agent)
        status = "resolved"
        if rnd.random() < 0.1:
            at += _minutes(rnd, 600)
            told.status(at, status, "open", "customer")
            at += _minutes(rnd, 60)
            told.message(at, Direction.OUTBOUND, agent)
            told.status(at + timedelta(minutes=5), "open", "resolved", agent)
    told.ticket = ticket.model_copy(update={"status": TicketStatus(status)})
    return told


def ledger_of(index: int, rnd: random.Random) -> MetricLedger:
    told = story(index, rnd)
    tier = "vip" if told.ticket.customer_id.endswith("7") else None
    return build_ledger(told.ticket, told.events, told.messages, measuring_for(CONFIG, told.ticket), tier, [])


class Seeder:
    """Sums the tickets' ledger contributions and writes them straight into moto's table object."""

    def __init__(self, table_name: str) -> None:
        self.table = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].get_table(table_name)
        self.totals: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        self.values: set[tuple[str, str]] = set()
        self.rnd = random.Random(15)
        self.written = 0

    def add(self, indexes: range) -> None:
        for index in indexes:
            ledger = ledger_of(index, self.rnd)
            for delta in report_deltas(None, ledger):
                self.totals[(delta.key.pk, delta.key.sk)].update(delta.adds)
            self.values.update(new_dimension_values(None, ledger))
            self.written += 1
        client = boto3.client("dynamodb", region_name=REGION)
        for (pk, sk), adds in self.totals.items():
            # the totals go to the live item: a sealed one from an earlier measurement goes
            sealed = {"pk": {"S": pk}, "sk": {"S": f"{sk}{SEALED_SUFFIX}"}}
            client.delete_item(TableName=self.table.name, Key=sealed)
            self.table.put_item(day_item(pk, sk, adds))
        for dimension, value in self.values:
            self.table.put_item(dimension_item(dimension, value))


def day_item(pk: str, sk: str, adds: dict[str, int], version: int = 1) -> dict[str, Any]:
    numbers = {name: {"N": str(number)} for name, number in adds.items()}
    return {
        "pk": {"S": pk},
        "sk": {"S": sk},
        "entity": {"S": "report_day"},
        "v": {"N": str(version)},
        **numbers,
    }


def dimension_item(dimension: str, value: str) -> dict[str, Any]:
    pk, sk = dimension_key(dimension, value)
    return {
        "pk": {"S": pk},
        "sk": {"S": sk},
        "entity": {"S": "report_dimension"},
        "dimension": {"S": dimension},
        "value": {"S": value},
    }


def shape_drift(repository: DynamoRepository, table_name: str) -> list[str]:
    """The items `apply_ledger` writes for one ticket against the hand-written ones (then removed)."""
    ledger = ledger_of(10**7, random.Random(1))
    deltas, values = report_deltas(None, ledger), new_dimension_values(None, ledger)
    repository.apply_ledger(ledger.ticket_id, None, ledger, deltas, values)
    hand = {(d.key.pk, d.key.sk): day_item(d.key.pk, d.key.sk, d.adds, _writes(d.adds)) for d in deltas}
    hand |= {dimension_key(d, v): dimension_item(d, v) for d, v in values}
    client = boto3.client("dynamodb", region_name=REGION)
    problems = []
    for (pk, sk), attrs in hand.items():
        key = {"pk": {"S": pk}, "sk": {"S": sk}}
        if client.get_item(TableName=table_name, Key=key).get("Item") != attrs:
            problems.append(f"{pk} {sk}")
        client.delete_item(TableName=table_name, Key=key)
    client.delete_item(
        TableName=table_name, Key={"pk": {"S": f"TICKET#{ledger.ticket_id}"}, "sk": {"S": "LEDGER"}}
    )
    return problems


def _writes(adds: dict[str, int]) -> int:
    """The live item's `v` after one apply: one update per `MAX_ACTIONS` attributes."""
    return -(-len(adds) // MAX_ACTIONS)


def report(repository: DynamoRepository, group_by: str) -> Any:
    request = ReportRequest(FIRST, LAST, group_by)  # type: ignore[arg-type]
    return build_report(request, ADMIN, repository, "Europe/Berlin", Freshness(), NOW)


@dataclass
class Timings:
    runs: int
    seconds: list[dict[str, float]] = field(default_factory=list)
    """Per measurement (size): median seconds per grouping, on sealed days."""
    live: list[dict[str, tuple[int, float]]] = field(default_factory=list)
    """Per measurement: items read and median seconds per grouping before the days were sealed."""
    sealing: list[tuple[float, int]] = field(default_factory=list)
    """Per measurement: seconds to seal every day of every dimension value, and the days sealed."""
    totals: list[dict[str, int]] = field(default_factory=list)
    """Per measurement: tickets created in the period (the report's own figure)."""
    differ: list[str] = field(default_factory=list)
    """Groupings whose report changed when the days were sealed (none, or the benchmark fails)."""

    def measure(self, repository: DynamoRepository) -> dict[str, tuple[int, int]]:
        with plain_attribute_values():
            live = self._measure(repository)
            live_seconds = self.seconds.pop()
            self.totals.pop()
            self.live.append({name: (live[name][1], live_seconds[name]) for name in GROUPINGS})
            answers = {name: report(repository, name).model_dump() for name in GROUPINGS}
            started = time.perf_counter()
            with item_level_rollback():
                sealed = seal_reports(repository, T0.date() - timedelta(days=1), LAST + timedelta(days=1))
            self.sealing.append((time.perf_counter() - started, sealed.sealed))
            found = self._measure(repository)
            for name in GROUPINGS:
                if report(repository, name).model_dump() != answers[name]:
                    self.differ.append(name)
            return found

    def _measure(self, repository: DynamoRepository) -> dict[str, tuple[int, int]]:
        found: dict[str, tuple[int, int]] = {}
        medians: dict[str, float] = {}
        created: dict[str, int] = {}
        for group_by in GROUPINGS:
            with Meter().active() as meter:
                answer = report(repository, group_by)
            found[group_by] = (sum(meter.requests.values()), meter.items)
            created[group_by] = answer.total.volume.created
            medians[group_by] = _median_seconds(lambda g=group_by: report(repository, g), self.runs)
        self.seconds.append(medians)
        self.totals.append(created)
        return found


def _median_seconds(call: Callable[[], Any], runs: int) -> float:
    call()  # warm-up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    timings = Timings(args.runs)
    result = at_two_sizes(args.small, args.large, Seeder, shape_drift, timings.measure)
    if isinstance(result, str):
        print(f"hand-written report items differ from apply_ledger's: {result}")
        return 1
    small_s, large_s = timings.seconds
    print(f"reports: {args.small:,} tickets vs {args.large:,}, over {REPORT_DAYS} days ({FIRST} to {LAST})")
    print(f"created in the period: {timings.totals[0]['day']:,} vs {timings.totals[1]['day']:,}")
    print("before sealing (every day a live item, one attribute per sketch bucket):")
    print(f"{'group_by':<10}{'items':>8}{'ms':>9}{'items':>8}{'ms':>9}{'time ratio':>12}")
    small_live, large_live = timings.live
    for name in GROUPINGS:
        (items, seconds), (big_items, big_seconds) = small_live[name], large_live[name]
        print(
            f"{name:<10}{items:>8}{seconds * 1000:>9.1f}{big_items:>8}{big_seconds * 1000:>9.1f}"
            f"{big_seconds / seconds:>12.2f}"
        )
    for (seconds, days), size in zip(timings.sealing, (args.small, args.large), strict=True):
        print(f"sealing every day at {size:,} tickets: {days:,} days in {seconds:.1f} s")
    print("sealed (what a report reads once the schedule has sealed the days behind it):")
    header = f"{'group_by':<10}{'requests':>10}{'items':>8}{'ms':>9}{'requests':>10}{'items':>8}{'ms':>9}"
    print(f"{header}{'time ratio':>12}")
    for name in GROUPINGS:
        (requests, items), (big_requests, big_items) = result.small[name], result.large[name]
        ratio = large_s[name] / small_s[name]
        print(
            f"{name:<10}{requests:>10}{items:>8}{small_s[name] * 1000:>9.1f}"
            f"{big_requests:>10}{big_items:>8}{large_s[name] * 1000:>9.1f}{ratio:>12.2f}"
        )
    ratio = sum(large_s.values()) / sum(small_s.values())
    print(f"the three reports together: time ratio {ratio:.2f}")
    same = all(result.small[name][1] == result.large[name][1] for name in GROUPINGS)
    print(f"target ({ITEMS_TARGET} at both sizes):", "met" if same else "NOT met")
    print(f"target (time ratio <= {RATIO_TARGET}):", "met" if ratio <= RATIO_TARGET else "NOT met")
    if any(result.small[name][0] != result.large[name][0] for name in GROUPINGS):
        print("requests differ: a Query page holds at most 1 MB, and items hold more sketch buckets")
    if timings.differ:
        print(f"sealing changed the report grouped by {', '.join(timings.differ)}: a defect")
    return 0 if same and not timings.differ else 1


if __name__ == "__main__":
    raise SystemExit(main())
