"""The per-day report aggregates, proved on generated traffic (issue 15 §2).

A month of email and SMS tickets (a mail a day from three customers, one a VIP; an SMS every third
day) on two teams whose calendars are in two time zones (Berlin, New York; both change to summer
time within the month), routed by rules, answered, set pending, resolved, reopened after resolution,
merged (a duplicate on the first day, and each week one into the day before's ticket), with
first-response breaches (calendar time) and resolution breaches in each team's business hours,
runs through the real functions on the simulator (moto), whose stream pump feeds route_ticket.
Then:
- the live aggregates equal a direct computation: every ticket's ledger built from its events and
  messages in plain Python, its contributions summed per item;
- the whole stream delivered again to route_ticket changes nothing;
- with the aggregates and ledgers removed, `rebuild_reports` gives the same items again.
Counts and sketches compare exactly.

The month takes about 150 s of CPU and 0.9 GB (simulator/moto_speed.py makes moto cost what a
request touches; before it, one day took 80 s and two days over 10 GB). `REPORTS_PROOF_DAYS`,
`REPORTS_PROOF_MAILS` and `REPORTS_PROOF_SCHEDULE` change the traffic.
"""

from __future__ import annotations

import io
import json
import os
import random
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from shared.config import load_config
from shared.dal.repository import DynamoRepository
from shared.logic.metrics.aggregates import aggregate
from shared.logic.metrics.ledger import build_ledger, measuring_for
from shared.logic.report_ledgers import rebuild_reports
from shared.models.reports import DIMENSIONS, SEALED_SUFFIX, ReportDay, ReportKey
from simulator.clock import SimClock
from simulator.events import stream_record
from simulator.filters import matches_any, parse_pattern
from simulator.progress import Progress
from simulator.runner import DEFAULT_TEMPLATE, Options, Simulation
from simulator.scenario import Step, load_scenario
from simulator.template import REGION

START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
DAYS = int(os.environ.get("REPORTS_PROOF_DAYS", "30"))
"""Days on which tickets open (their handling runs on for days): a month by default (with fewer,
the traffic lacks some of what `test_the_traffic_has_what_it_is_meant_to_prove` expects)."""
MAILS = int(os.environ.get("REPORTS_PROOF_MAILS", "1"))
"""Mails a day (`REPORTS_PROOF_MAILS=4` for a busier month, which takes about four times as long)."""
SCHEDULE = os.environ.get("REPORTS_PROOF_SCHEDULE", "rate(3 hours)")
"""How often the SLA sweeper and the queue-overflow task run, instead of every minute: a month of
them every minute would be most of the run's time (breaches are recorded by the reply or
resolution that stops a clock all the same)."""
FIRST, LAST = date(2026, 2, 1), date(2026, 5, 1)

CONFIG = """
calendars:
  default: {timezone: UTC}
  berlin:
    timezone: Europe/Berlin
    hours: {mon: ["09:00-17:00"], tue: ["09:00-17:00"], wed: ["09:00-17:00"], thu: ["09:00-17:00"], fri: ["09:00-17:00"]}
  newyork:
    timezone: America/New_York
    hours: {mon: ["08:00-18:00"], tue: ["08:00-18:00"], wed: ["08:00-18:00"], thu: ["08:00-18:00"], fri: ["08:00-18:00"]}
teams:
  - {id: support, strategy: least_loaded, calendar: berlin, lead: sam}
  - {id: texts, strategy: least_loaded, calendar: newyork}
agents:
  - {id: alice, teams: [support], capacity: {email: 50, sms: 50, social: 50}}
  - {id: bob, teams: [support], capacity: {email: 50, sms: 50, social: 50}}
  - {id: carol, teams: [texts], capacity: {email: 50, sms: 50, social: 50}}
  - {id: sam, teams: [support], capacity: {email: 0, sms: 0, social: 0}}
customers:
  - {email_domains: [bigcorp.example], tier: vip}
routing:
  default_team: support
  rules:
    - {name: texts, weight: 90, when: {channel: [sms]}, then: {team: texts}}
    - {name: refunds, weight: 50, when: {keywords: [refund]}, then: {team: support, tags: [billing]}}
sla:
  policies:
    - name: standard
      first_response: {minutes: 60, business: false}
      resolution: {minutes: 240}
reports: {timezone: Europe/Berlin, next_issue_days: 7}
"""


@dataclass
class Traffic:
    """The scenario's steps, by time."""

    steps: list[tuple[datetime, dict[str, Any]]] = field(default_factory=list)

    def add(self, at: datetime, step: dict[str, Any]) -> None:
        self.steps.append((at, step))

    def write(self, path: Path) -> Path:
        lines = []
        for at, step in sorted(self.steps, key=lambda s: s[0]):
            lines.append(json.dumps({"at": at.strftime("%Y-%m-%dT%H:%M:%SZ"), **step}))
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


def email(message_id: str, sender: str, subject: str, at: datetime) -> dict[str, Any]:
    raw = (
        f"From: {sender}\r\nTo: Support <support@support.example.com>\r\nSubject: {subject}\r\n"
        f"Date: {at.strftime('%a, %d %b %Y %H:%M:%S +0000')}\r\nMessage-ID: <{message_id}>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Hello, about {subject.lower()}: please help.\r\n"
    )
    return {"email": {"raw": raw}}


def sms(message_id: str, number: str, text: str) -> dict[str, Any]:
    return {
        "sms": {
            "originationNumber": number,
            "destinationNumber": "+12125550101",
            "messageBody": text,
            "inboundMessageId": message_id,
        }
    }


def _work(traffic: Traffic, ref: str, agent: str, opened: datetime, rng: random.Random, kind: int) -> None:
    """What the agents do with one ticket: answer and resolve, with a pending wait, a reopen, or
    first a wait long enough to breach the first-response target."""
    first = opened + timedelta(minutes=rng.randint(150, 240) if kind == 3 else rng.randint(10, 50))
    traffic.add(first, {"reply": {"ticket": ref, "agent": agent, "text": f"Looking into it ({ref})."}})
    if kind == 1:
        traffic.add(
            first + timedelta(minutes=5), {"update": {"ticket": ref, "agent": agent, "status": "pending"}}
        )
    done = first + timedelta(hours=[1, 5, 26, 2][kind])
    traffic.add(done, {"update": {"ticket": ref, "agent": agent, "status": "resolved"}})
    if kind == 2:
        again = done + timedelta(days=1, minutes=7)
        traffic.add(again, {"update": {"ticket": ref, "agent": agent, "status": "open"}})
        traffic.add(
            again + timedelta(minutes=30), {"reply": {"ticket": ref, "agent": agent, "text": "Fixed now."}}
        )
        traffic.add(
            again + timedelta(minutes=40), {"update": {"ticket": ref, "agent": agent, "status": "resolved"}}
        )


def _merge(traffic: Traffic, at: datetime, ref: str, sender: str, into: str) -> None:
    """A duplicate mail at `at`, merged into `into` by an agent three minutes later."""
    traffic.add(at, email(ref, sender, "Again: printer", at))
    path = urllib.parse.quote(f"<{ref}>", safe="")
    merge = {"method": "POST", "path": f"/tickets/{path}/merge", "agent": "alice"}
    traffic.add(at + timedelta(minutes=3), {"api": {**merge, "body": {"into": f"<{into}>"}}})


def traffic_of(days: int, mails: int, rng: random.Random) -> Traffic:
    """`days` days of traffic: `mails` mails a day from three customers (one a VIP) in turn, each
    handled one of four ways, an SMS every third day (handled the same ways, so the New York team
    breaches too), a duplicate merged on the first day and, each week, one merged into the day
    before's first ticket."""
    traffic = Traffic()
    traffic.add(START, {"tick": {}})
    for agent in ("alice", "bob", "carol"):
        traffic.add(START + timedelta(minutes=1), {"agent": {"id": agent, "status": "online"}})
    senders = [
        "Customer 0 <c0@customer.example>",
        "Customer 1 <c1@customer.example>",
        "Vic <vic@bigcorp.example>",
    ]
    for day in range(days):
        morning = START + timedelta(days=day, hours=1)
        for n in range(mails):
            opened = morning + timedelta(hours=n * 3, minutes=rng.randint(0, 90))
            ref = f"m{day}-{n}@mail.customer.example"
            words = ["Refund for order", "Printer broken", "Login fails"][(day + n) % 3]
            traffic.add(opened, email(ref, senders[(day + n) % 3], f"{words} {day}-{n}", opened))
            _work(traffic, f"<{ref}>", ["alice", "bob"][(day + n) % 2], opened, rng, (day + n) % 4)
        if day % 3 == 0:
            opened = morning + timedelta(hours=4, minutes=rng.randint(0, 50))
            ref = f"sms-{day}"
            traffic.add(opened, sms(ref, f"+1206555{day:04d}", f"Where is my parcel {day}?"))
            _work(traffic, ref, "carol", opened, rng, (day // 3) % 4)
        if day % 7 == 6:  # the customer of the day before's first mail writes again
            at = morning + timedelta(hours=2, minutes=rng.randint(0, 50))
            before = f"m{day - 1}-0@mail.customer.example"
            _merge(traffic, at, f"dup{day}@mail.customer.example", senders[(day - 1) % 3], before)
    # a duplicate written minutes after the first mail, merged into it
    duplicate = START + timedelta(hours=1, minutes=95)
    _merge(traffic, duplicate, "dup@mail.customer.example", senders[0], "m0-0@mail.customer.example")
    traffic.add(START + timedelta(days=days + 2), {"tick": {}})
    return traffic


Items = dict[ReportKey, ReportDay]


def live_items(table: str) -> Items:
    """Every report item of the table, read the way reports read them (one Query per dimension
    value; the values from the dimension items)."""
    store = DynamoRepository(table, REGION)
    found: Items = {}
    for dimension in DIMENSIONS:
        for value in store.dimension_values(dimension):
            for day in store.report_days(dimension, value, FIRST, LAST):
                plain = day.unsealed()
                if plain.counts or plain.durations:
                    found[day.key] = plain
    return found


def sealing(table: str) -> tuple[int, int]:
    """Sealed days at the end of the run, and of them those a change wrote to after they were sealed:
    sealed again (`rev` above 1) or with a live item beside the sealed one (decision 112; a test's
    Scan)."""
    client = boto3.client("dynamodb", region_name=REGION)
    keys, again = set(), set()
    for page in client.get_paginator("scan").paginate(TableName=table, ProjectionExpression="pk, sk, rev"):
        for item in page["Items"]:
            pk, sk = item["pk"]["S"], item["sk"]["S"]
            if pk.startswith("REPORT#"):
                keys.add((pk, sk))
                if sk.endswith(SEALED_SUFFIX) and int(item["rev"]["N"]) > 1:
                    again.add((pk, sk.removesuffix(SEALED_SUFFIX)))
    sealed = {(pk, sk.removesuffix(SEALED_SUFFIX)) for pk, sk in keys if sk.endswith(SEALED_SUFFIX)}
    return len(sealed), len(again | (sealed & keys))


def direct_items(table: str, config_path: Path) -> Items:
    """The aggregates computed in plain Python from the raw tickets (a Scan: a test may)."""
    store = DynamoRepository(table, REGION)
    config = load_config(str(config_path))
    ledgers = []
    for ticket in store.scan_tickets():
        customer = store.get_customer(ticket.customer_id)
        others = [(t.id, t.created_at) for t in store.list_customer_tickets(ticket.customer_id)]
        ledgers.append(
            build_ledger(
                ticket,
                store.list_events(ticket.id),
                store.list_messages(ticket.id),
                measuring_for(config, ticket),
                customer.tier if customer is not None else None,
                others,
            )
        )
    return {key: day for key, day in aggregate(ledgers).items() if day.counts}


def wipe_reports(table: str) -> int:
    """Remove every aggregate, dimension value and ledger item (a test's Scan)."""
    client = boto3.client("dynamodb", region_name=REGION)
    removed = 0
    for page in client.get_paginator("scan").paginate(TableName=table, ProjectionExpression="pk, sk"):
        for item in page["Items"]:
            pk, sk = item["pk"]["S"], item["sk"]["S"]
            if pk.startswith(("REPORT#", "REPORTDIM#")) or sk == "LEDGER":
                client.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
                removed += 1
    return removed


def whole_stream(simulation: Simulation) -> dict[str, Any]:
    """Every record of the table's stream since the start, filtered for route_ticket."""
    deployment = simulation.deployment
    streams = boto3.client("dynamodbstreams", region_name=REGION)
    arn = deployment.stack.get_att("TicketsTable", "StreamArn")
    raw: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            raw += [dict(record) for record in page["Records"]]
            iterator = page.get("NextShardIterator", "") if page["Records"] else ""
    spec = deployment.functions["RouteTicketFunction"]
    [trigger] = [t for t in spec.triggers if t.type == "DynamoDB"]
    patterns = [parse_pattern(f["Pattern"]) for f in trigger.properties["FilterCriteria"]["Filters"]]
    records = [stream_record(r, arn, START) for r in raw]
    return {"Records": [r for r in records if matches_any(patterns, r)]}


@dataclass
class Proof:
    state: dict[str, Any]
    live: Items
    direct: Items
    redelivered: Items
    rebuilt: Items
    removed: int
    records: int
    failures: list[Any]
    sealed: tuple[int, int] = (0, 0)
    """Sealed days at the end of the month, and those written again after they were sealed."""


class ProvedSimulation(Simulation):
    """The simulation, then the comparisons, while its moto account still exists."""

    proof: Proof

    def _run(self, clock: SimClock, steps: list[Step]) -> dict[str, Any]:
        state = super()._run(clock, steps)
        table = self._table_name(self.deployment)
        assert table is not None
        assert self.options.config is not None
        live = live_items(table)
        sealed = sealing(table)
        direct = direct_items(table, self.options.config)
        stream = whole_stream(self)
        spec = self.deployment.functions["RouteTicketFunction"]
        failures: list[Any] = []
        for start in range(0, len(stream["Records"]), 10):  # the batch size of the template
            batch = {"Records": stream["Records"][start : start + 10]}
            invocation = self.runtime.invoke(spec, batch, "redelivery")
            failures += [invocation.error] if invocation.error else invocation.response["batchItemFailures"]
        redelivered = live_items(table)
        removed = wipe_reports(table)
        config = load_config(str(self.options.config))
        rebuild_reports(DynamoRepository(table, REGION), config)
        rebuilt = live_items(table)
        self.proof = Proof(
            state, live, direct, redelivered, rebuilt, removed, len(stream["Records"]), failures, sealed
        )
        return state


@pytest.fixture(scope="module")
def proof(tmp_path_factory: pytest.TempPathFactory) -> Proof:
    here = tmp_path_factory.mktemp("report-month")
    config = here / "helpdesk.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    template = here / "template.yaml"
    text = DEFAULT_TEMPLATE.read_text(encoding="utf-8").replace("rate(1 minute)", SCHEDULE)
    root = DEFAULT_TEMPLATE.parent
    text = text.replace("CodeUri: functions/", f"CodeUri: {root}/functions/")
    text = text.replace("ContentUri: shared/", f"ContentUri: {root}/shared/")
    template.write_text(text, encoding="utf-8")
    scenario = load_scenario(traffic_of(DAYS, MAILS, random.Random(15)).write(here / "scenario.jsonl"))
    options = Options(template=template, config=config)
    simulation = ProvedSimulation(scenario, options, Progress(io.StringIO(), quiet=True))
    simulation.run()
    return simulation.proof


def _summary(items: Items) -> dict[str, int]:
    totals: dict[str, int] = {}
    for key, day in items.items():
        if key.dimension == "all":
            for metric, count in day.counts.items():
                totals[metric] = totals.get(metric, 0) + count
    return totals


def test_the_traffic_has_what_it_is_meant_to_prove(proof: Proof) -> None:
    totals = _summary(proof.direct)
    assert totals["created"] == len(proof.state["tickets"]) >= MAILS * DAYS + 1
    assert totals["merged"] == 1 + (DAYS + 1) // 7  # the first day's, and one a week
    assert totals["reopened"] >= 1
    assert totals["reopened_after_resolution"] >= 1
    assert totals["sla.first_response.breached"] >= 1
    assert totals["first_response"] >= MAILS * DAYS
    assert totals.get("next_issue.followed", 0) >= 1
    channels = {key.value for key in proof.direct if key.dimension == "channel"}
    assert channels == {"email", "sms"}
    assert {key.value for key in proof.direct if key.dimension == "team"} >= {"support", "texts"}
    assert {key.value for key in proof.direct if key.dimension == "tier"} == {"vip", "none"}
    # resolution targets count business time: breaches in Berlin's hours, and (from the SMS of day
    # 18, a Friday) in New York's
    breached = {
        key.value
        for key, day in proof.direct.items()
        if key.dimension == "team" and day.counts.get("sla.resolution.breached")
    }
    assert breached == ({"support", "texts"} if DAYS > 18 else {"support"})
    days = {key.day for key in proof.direct if key.dimension == "all"}
    assert len(days) >= DAYS
    # the hourly schedule sealed the days behind it, and later changes wrote to sealed days again
    # (reopenings, merges, resolutions of older tickets), so the comparisons read both kinds of items
    sealed, written_again = proof.sealed
    assert sealed >= DAYS
    assert written_again >= 1


def test_live_aggregates_equal_a_direct_computation_over_the_tickets(proof: Proof) -> None:
    assert sorted(proof.live) == sorted(proof.direct)
    for key, day in proof.direct.items():
        assert proof.live[key] == day, key


def test_the_whole_stream_delivered_again_changes_nothing(proof: Proof) -> None:
    assert proof.records >= 5 * len(proof.state["tickets"])  # every ticket's changes and messages
    assert proof.failures == []
    assert proof.redelivered == proof.live


def test_a_rebuild_from_the_tickets_gives_the_live_aggregates(proof: Proof) -> None:
    assert proof.removed > len(proof.state["tickets"])
    assert proof.rebuilt == proof.live
