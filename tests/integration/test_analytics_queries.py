"""The example Athena queries (docs/analytics/*.sql) reproduce the built-in report figures.

The generated traffic of test_report_aggregates.py (email and SMS tickets on two teams in two time
zones: routed, answered, pending, resolved, reopened, merged, SLA breaches) runs through the real
functions on the simulator (moto); analytics_export, fed by the simulator's stream pump through the
template's filters, writes its objects to the analytics bucket. The whole stream is then delivered
to it once more in batches of another size, so the bucket holds every row twice under other keys,
as after retries. Each query, transpiled from Trino (Athena engine 3) to DuckDB by sqlglot, runs
with DuckDB over those very objects, read with the columns of the Glue tables in template.yaml, and
is compared with `build_report` over the live aggregates for the same period: counts exactly;
medians and 90th percentiles computed exactly from the raw durations against the report's sketch
within its 1 % relative error (decision 93).
"""

from __future__ import annotations

import io
import random
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import sqlglot

from shared.dal.repository import DynamoRepository
from shared.logic.permissions import Principal, Role
from shared.logic.reports import ReportRequest, build_report
from shared.models.reports import Freshness, Report
from simulator.clock import SimClock
from simulator.events import stream_record
from simulator.filters import matches_any, parse_pattern
from simulator.progress import Progress
from simulator.runner import DEFAULT_TEMPLATE, Options, Simulation
from simulator.scenario import Step, load_scenario
from simulator.template import REGION, load_template
from tests.integration.test_report_aggregates import CONFIG, START, traffic_of

DAYS = 1
"""Days of traffic (the report proof's generator, at its former daily density)."""
MAILS = 4
"""Mails a day."""

duckdb = pytest.importorskip("duckdb")

ROOT = Path(__file__).resolve().parents[2]
QUERIES = ROOT / "docs" / "analytics"
TIMEZONE = "Europe/Berlin"  # reports.timezone of CONFIG, as the queries have it
PERIODS = {
    "all": (date(2026, 3, 2), date(2026, 3, 2 + DAYS + 4)),
    "cut": (date(2026, 3, 3), date(2026, 3, 4)),
}
"""The whole activity, and two days in the middle (the backlog carried in, clocks stopped then)."""
REDELIVERY_BATCH = 7
SKETCH_ERROR = 0.01

TRINO_UNNEST = (
    "CROSS JOIN UNNEST(c.measures) AS m(day, metric, measure_agent, calendar_seconds, business_seconds)"
)
DUCKDB_UNNEST = (
    "CROSS JOIN LATERAL (SELECT UNNEST(c.measures, recursive := true)) "
    "AS m(day, metric, measure_agent, calendar_seconds, business_seconds)"
)
"""The one construct sqlglot does not transpile faithfully: Trino expands an array of rows into one
column per field; DuckDB's UNNEST gives one struct column, so the query keeps Trino's text and this
test substitutes DuckDB's (docs/analytics.md, "Running the queries elsewhere")."""


def duckdb_type(hive: str) -> str:
    """A Glue (Hive) column type as DuckDB's: string, bigint, double, boolean, date, array, struct."""
    hive = hive.strip()
    scalars = {
        "string": "VARCHAR",
        "bigint": "BIGINT",
        "double": "DOUBLE",
        "boolean": "BOOLEAN",
        "date": "DATE",
    }
    if hive in scalars:
        return scalars[hive]
    if hive.startswith("array<") and hive.endswith(">"):
        return f"{duckdb_type(hive[6:-1])}[]"
    if hive.startswith("struct<") and hive.endswith(">"):
        fields, depth, start, inner = [], 0, 0, hive[7:-1]
        for index, char in enumerate(inner + ","):
            depth += {"<": 1, ">": -1}.get(char, 0)
            if char == "," and depth == 0:
                name, _, kind = inner[start:index].partition(":")
                fields.append(f"{name} {duckdb_type(kind)}")
                start = index + 1
        return f"STRUCT({', '.join(fields)})"
    raise ValueError(f"no DuckDB type for {hive!r}")


def glue_columns(logical_id: str) -> dict[str, str]:
    resources = load_template(ROOT / "template.yaml")["Resources"]
    descriptor = resources[logical_id]["Properties"]["TableInput"]["StorageDescriptor"]
    return {c["Name"]: duckdb_type(c["Type"]) for c in descriptor["Columns"]}


def to_duckdb(trino: str) -> str:
    text = sqlglot.transpile(trino, read="trino", write="duckdb")[0]
    if "UNNEST(c.measures)" in trino:
        assert TRINO_UNNEST in text, "the measures UNNEST changed: update TRINO_UNNEST and the docs"
        text = text.replace(TRINO_UNNEST, DUCKDB_UNNEST)
    return text


def for_period(trino: str, first: date, last: date) -> str:
    """The query with its period's dates (and the dt bounds, a day wider) replaced."""
    text = trino.replace("DATE '2026-03-02'", f"DATE '{first}'").replace(
        "DATE '2026-03-08'", f"DATE '{last}'"
    )
    text = text.replace("'2026-03-01' AS first_dt", f"'{first - timedelta(days=1)}' AS first_dt")
    return text.replace("'2026-03-09' AS last_dt", f"'{last + timedelta(days=1)}' AS last_dt")


@dataclass
class Exported:
    root: Path
    reports: dict[tuple[str, str], Report] = field(default_factory=dict)
    """(period, group_by) -> the built-in report."""
    objects: int = 0
    failures: list[Any] = field(default_factory=list)


class ExportedSimulation(Simulation):
    """The simulation; then the stream delivered again, the bucket downloaded and the reports built,
    while its moto account still exists."""

    exported: Exported

    def _run(self, clock: SimClock, steps: list[Step]) -> dict[str, Any]:
        state = super()._run(clock, steps)
        self._redeliver()
        bucket = self.deployment.name("AnalyticsBucket")
        s3 = boto3.client("s3", region_name=REGION)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                target = self.exported.root / item["Key"]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
                self.exported.objects += 1
        table = self._table_name(self.deployment)
        assert table is not None
        store = DynamoRepository(table, REGION)
        admin = Principal("admin", Role.ADMIN, frozenset())
        for period, (first, last) in PERIODS.items():
            for group_by in ("none", "day", "team"):
                request = ReportRequest(first, last, group_by)  # type: ignore[arg-type]
                self.exported.reports[(period, group_by)] = build_report(
                    request, admin, store, TIMEZONE, Freshness(), clock.now()
                )
        return state

    def _redeliver(self) -> None:
        """Every record of the stream analytics_export's filters pass, delivered again in batches
        of another size: other first and last sequence numbers, so other object keys."""
        spec = self.deployment.functions["AnalyticsExportFunction"]
        [trigger] = [t for t in spec.triggers if t.type == "DynamoDB"]
        patterns = [parse_pattern(f["Pattern"]) for f in trigger.properties["FilterCriteria"]["Filters"]]
        streams = boto3.client("dynamodbstreams", region_name=REGION)
        arn = self.deployment.stack.get_att("TicketsTable", "StreamArn")
        raw: list[dict[str, Any]] = []
        for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            iterator = streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            while iterator:
                page = streams.get_records(ShardIterator=iterator, Limit=1000)
                raw += [dict(record) for record in page["Records"]]
                iterator = page.get("NextShardIterator", "") if page["Records"] else ""
        records = [stream_record(r, arn, START) for r in raw]
        records = [r for r in records if matches_any(patterns, r)]
        for start in range(0, len(records), REDELIVERY_BATCH):
            batch = {"Records": records[start : start + REDELIVERY_BATCH]}
            invocation = self.runtime.invoke(spec, batch, "redelivery")
            self.exported.failures += (
                [invocation.error] if invocation.error else invocation.response["batchItemFailures"]
            )


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    here = tmp_path_factory.mktemp("analytics")
    config = here / "helpdesk.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    template = here / "template.yaml"
    text = DEFAULT_TEMPLATE.read_text(encoding="utf-8").replace("rate(1 minute)", "rate(30 minutes)")
    root = DEFAULT_TEMPLATE.parent
    text = text.replace("CodeUri: functions/", f"CodeUri: {root}/functions/")
    text = text.replace("ContentUri: shared/", f"ContentUri: {root}/shared/")
    template.write_text(text, encoding="utf-8")
    scenario = load_scenario(traffic_of(DAYS, MAILS, random.Random(15)).write(here / "scenario.jsonl"))
    simulation = ExportedSimulation(
        scenario, Options(template=template, config=config), Progress(io.StringIO(), quiet=True)
    )
    simulation.exported = Exported(root=here / "bucket")
    simulation.run()
    return simulation.exported


@pytest.fixture(scope="module")
def athena(exported: Exported) -> Any:
    """DuckDB with the two Glue tables as views over the downloaded objects."""
    con = duckdb.connect()
    for name, logical_id in (("events", "AnalyticsEventsTable"), ("ledgers", "AnalyticsLedgersTable")):
        columns = ", ".join(f"'{column}': '{kind}'" for column, kind in glue_columns(logical_id).items())
        files = (exported.root / name).as_posix() + "/dt=*/*.json.gz"
        source = (
            f"read_json('{files}', format='newline_delimited', compression='gzip', "
            f"hive_partitioning=true, hive_types={{'dt': 'VARCHAR'}}, columns={{{columns}}})"
        )
        # our own download directory and the template's columns: nothing from outside
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM {source}")  # noqa: S608
    return con


def run(athena: Any, query: str, period: str) -> list[dict[str, Any]]:
    first, last = PERIODS[period]
    trino = for_period((QUERIES / query).read_text(encoding="utf-8"), first, last)
    cursor = athena.execute(to_duckdb(trino))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _day(value: Any) -> str:
    return str(value)[:10]


def test_the_bucket_holds_every_row_more_than_once_and_the_export_never_failed(
    exported: Exported, athena: Any
) -> None:
    assert exported.failures == []
    assert not list((exported.root / "rejected").glob("*/*"))
    [(events, distinct)] = athena.execute("SELECT count(*), count(DISTINCT event_id) FROM events").fetchall()
    assert distinct >= 5 * MAILS * DAYS  # every ticket's created, routed, replies, updates...
    assert events >= 2 * distinct  # the redelivery wrote every row again, under other keys
    [(ledgers, tickets)] = athena.execute(
        "SELECT count(*), count(DISTINCT ticket_id) FROM ledgers"
    ).fetchall()
    assert ledgers > 2 * tickets
    keys = {p.name for p in (exported.root / "ledgers").glob("*/*.json.gz")}
    assert all(re.fullmatch(r"\d{40}-\d{40}\.json\.gz", k) for k in keys)


@pytest.mark.parametrize("period", sorted(PERIODS))
def test_volume_and_backlog_per_day_equal_the_report(exported: Exported, athena: Any, period: str) -> None:
    report = exported.reports[(period, "day")]
    expected = {
        g.key: (v.created, v.resolved, v.reopened, v.merged, v.backlog)
        for g in report.groups
        for v in [g.figures.volume]
    }
    rows = run(athena, "volume_per_day.sql", period)
    found = {
        _day(r["day"]): (r["created"], r["resolved"], r["reopened"], r["merged"], r["backlog"]) for r in rows
    }
    assert found == expected
    if period == "all":  # every ticket, the merged one too, and some still open at the end of a day
        assert sum(v[0] for v in found.values()) >= MAILS * DAYS + 1
        assert sum(v[3] for v in found.values()) == 1
        assert any(v[4] > 0 for v in found.values())


def _near(sketch: float | None, exact: float) -> bool:
    """The sketch's answer within its relative error of the exact value (under a second counts 0)."""
    assert sketch is not None
    if exact < 1:
        return sketch < 1
    return abs(sketch - exact) <= SKETCH_ERROR * exact


@pytest.mark.parametrize("period", sorted(PERIODS))
def test_durations_by_team_match_the_report_counts_exactly_and_quantiles_within_the_sketch_error(
    exported: Exported, athena: Any, period: str
) -> None:
    groups = {g.key: g.figures for g in exported.reports[(period, "team")].groups}
    rows = run(athena, "durations_by_team.sql", period)
    if period == "all":
        assert {"first_response", "full_resolution", "handle"} <= {r["metric"] for r in rows}
        assert {"support", "texts"} <= {r["team"] for r in rows}
    for row in rows:
        stats = getattr(groups[row["team"]].durations[row["metric"]], row["clock"])
        assert stats.count == row["durations"], row
        assert stats.mean == pytest.approx(row["mean"], abs=1e-3), row
        assert _near(stats.median, row["median"]), row
        assert _near(stats.p90, row["p90"]), row
    measured = {(r["team"], r["metric"], r["clock"]) for r in rows}
    for team, figures in groups.items():
        for metric, both in figures.durations.items():
            for clock in ("calendar", "business"):
                if getattr(both, clock).count:
                    assert (team, metric, clock) in measured


@pytest.mark.parametrize("period", sorted(PERIODS))
def test_sla_achievement_equals_the_report(exported: Exported, athena: Any, period: str) -> None:
    total = exported.reports[(period, "none")].total
    rows = {r["target"]: r for r in run(athena, "sla_achievement.sql", period)}
    if period == "all":
        assert rows["first_response"]["breached"] >= 1
        assert rows["first_response"]["met"] >= 1
    for target, sla in total.sla.items():
        row = rows.get(target, {"met": 0, "breached": 0, "still_open": 0, "achievement": None})
        assert (row["met"], row["breached"], row["still_open"]) == (sla.met, sla.breached, sla.open), target
        assert row["achievement"] == (pytest.approx(sla.achievement) if sla.achievement is not None else None)
    assert set(rows) <= set(total.sla)


@pytest.mark.parametrize("period", sorted(PERIODS))
def test_resolution_rates_by_team_equal_the_report(exported: Exported, athena: Any, period: str) -> None:
    groups = {g.key: g.figures for g in exported.reports[(period, "team")].groups}
    rows = run(athena, "resolution_rates.sql", period)
    assert sum(r["resolved_tickets"] for r in rows) >= 1
    for row in rows:
        figures = groups[row["team"]]
        assert row["agent_replies"] == figures.agent_replies
        assert (row["one_touch"], row["resolved_tickets"]) == (figures.one_touch.count, figures.one_touch.of)
        fcr = figures.first_contact_resolution
        assert (row["first_contact_resolution"], row["first_contact_resolution_rate"]) == (
            fcr.count,
            pytest.approx(fcr.rate) if fcr.rate is not None else None,
        )
        assert (row["reopened_after_resolution"], row["first_resolved"]) == (
            figures.reopen.count,
            figures.reopen.of,
        )
        avoided = figures.next_issue_avoidance
        assert row["resolved_tickets"] - row["next_issue_followed"] == avoided.count
    listed = {r["team"] for r in rows}
    assert {team for team, f in groups.items() if f.agent_replies or f.one_touch.of} <= listed


@pytest.mark.parametrize("period", sorted(PERIODS))
def test_created_and_escalations_per_day_from_the_raw_events_equal_the_report(
    exported: Exported, athena: Any, period: str
) -> None:
    report = exported.reports[(period, "day")]
    rows = {_day(r["day"]): r for r in run(athena, "events_per_day.sql", period)}
    if period == "all":
        assert sum(r["created"] for r in rows.values()) >= MAILS * DAYS + 1
    for group in report.groups:
        row = rows.get(group.key, {"created": 0, "escalations_level_1": 0, "escalations_level_2": 0})
        assert row["created"] == group.figures.volume.created, group.key
        escalations = group.figures.escalations
        assert (row["escalations_level_1"], row["escalations_level_2"]) == (
            escalations.get("1", 0),
            escalations.get("2", 0),
        )
