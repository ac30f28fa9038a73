"""From a run's measurements to peaks at full scale, the checks, and the written allow-list.

Scaling. The run plays the target load at `fraction` f. A partition key is **per-entity** when it
names one ticket, customer or item of theirs (`classify`): at full scale there are 1/f times as many
of them, each about as busy as in the run, so their figures are reported as measured: the highest
second of the busiest key, and the 99th percentile over the keys of each kind. Every other key is
**shared** (counters, index keys such as `OUTBOX` and `SLADUE#n`, views, reports, search words,
teams, agents, the live log): at full scale it takes 1/f times the traffic. Its figure is its busiest
`window` seconds' mean, times 1/f: at full load such a key sums thousands of independent tickets a
second, so its per-second rate is its mean; the run's single busiest second, times 1/f, would be
Poisson noise of a few events. Table totals, stream records, invocations and HTTP requests are
shared in this sense too.

A **sharded** key is one of N write shards of a family whose entries are spread by a hash of the
ticket id (the views' `VIEW#<scope>#<view>#<n>`, N the config's `views.shards`): at full scale each
shard takes 1/N of the family's traffic, thousands of tickets a second spread evenly, while in a run
at f each shard holds a handful of tickets, so its own window times 1/f would be the noise of one
ticket. Its figure is the family's (all shards summed) busiest window mean, times 1/f, over N,
reported as `<family>#*`. The outbox's `gsi2` state keys (`OUTBOXPENDING#<n>`, `OUTBOXSENDING#<n>`,
`OUTBOXRETRY#<n>`, hashed by the message key over `OUTBOX_SHARDS`, decision 119) are such families.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmarks.heat.recorder import SCAN_PARTITION
from benchmarks.heat.run import Measurements
from benchmarks.heat.sizes import MAX_ITEM_BYTES
from shared.dal.outbox import OUTBOX_SHARDS

PARTITION_WCU = 1_000
PARTITION_RCU = 3_000
TABLE_UNITS = 40_000
"""On-demand's default maximum throughput per table (and per index), read and write each."""
ACCOUNT_CONCURRENCY = 1_000
STREAM_SHARD_WCU = 1_000
"""A stream shard follows a table partition, which takes at most 1,000 write units a second: the
table's peak write rate over this is the fewest shards its stream can have."""
PER_ENTITY_ON_TABLE = ("TICKET#", "CUSTOMER#", "PTR#", "OUTBOX#", "QUARANTINE#", "DELIVERY#")
PER_ENTITY_ON_INDEX = ("CUSTOMER#",)

# On-demand list prices, us-east-1 (AWS pricing pages): DynamoDB per million request units, Lambda
# per million requests and per GB-second on arm64 (the template's architecture).
PRICE_WRITE_UNITS = 0.625
PRICE_READ_UNITS = 0.125
PRICE_LAMBDA_REQUESTS = 0.20
PRICE_LAMBDA_GB_SECOND = 0.0000133334


def hashed_families(measured: Measurements) -> dict[str, int]:
    """Index key families whose shard is a hash of the ticket id, and their shard counts: at full
    load each shard takes its even share of the family (crc32 spreads thousands of tickets a second
    evenly), while at the fraction a handful of writes land on a few shards at random, so a single
    shard's scaled peak would measure sampling noise. They are judged by the family's total / shards."""
    from shared.dal.tickets import UNROUTED_SHARDS

    return {"SLADUE#": measured.sla_shards, "UNROUTED#": UNROUTED_SHARDS}


def classify(resource: str, partition: str) -> str:
    """`entity` for a key naming one ticket, customer or item of theirs, else `shared`."""
    on_index = "/" in resource
    prefixes = PER_ENTITY_ON_INDEX if on_index else PER_ENTITY_ON_TABLE
    return "entity" if partition.startswith(prefixes) else "shared"


_VIEW_SHARD = re.compile(r"(VIEW#.+)#\d+")
_OUTBOX_SHARD = re.compile(r"(OUTBOX(?:PENDING|SENDING|RETRY))#\d+")


def shard_family(resource: str, partition: str) -> str | None:
    """The family of a hash-sharded key (`VIEW#mail#open#3` -> `VIEW#mail#open`, on gsi2
    `OUTBOXPENDING#7` -> `OUTBOXPENDING`), else None."""
    pattern = _OUTBOX_SHARD if resource.endswith("/gsi2") else None if "/" in resource else _VIEW_SHARD
    match = pattern.fullmatch(partition) if pattern is not None else None
    return match.group(1) if match else None


def family_shards(family: str, view_shards: int) -> int:
    """How many shards a family's traffic spreads over at full scale."""
    return OUTBOX_SHARDS if family.startswith("OUTBOX") else view_shards


def key_pattern(resource: str, partition: str) -> str:
    """The key as the report and the allow-list name it: per-entity keys by kind (`TICKET#*`)."""
    if classify(resource, partition) == "entity":
        return partition.split("#", 1)[0] + "#*"
    return partition


def sliding_max(per_second: dict[int, float], window: int) -> float:
    """The highest mean over `window` consecutive seconds."""
    if not per_second:
        return 0.0
    seconds = sorted(per_second)
    best = total = 0.0
    start = 0
    for end, second in enumerate(seconds):
        total += per_second[second]
        while seconds[start] <= second - window:
            total -= per_second[seconds[start]]
            start += 1
        best = max(best, total)
        del end
    return best / window


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, math.ceil(q / 100 * len(ordered)) - 1)
    return ordered[rank]


@dataclass
class KeyPeak:
    resource: str
    key: str
    kind: str
    wcu: float
    rcu: float
    keys: int = 1
    """Keys of this kind (per-entity patterns)."""
    wcu_p99: float = 0.0
    rcu_p99: float = 0.0


@dataclass
class Finding:
    check: str
    subject: str
    value: float
    limit: float
    unit: str
    detail: str = ""
    allowed_by: str | None = None

    @property
    def violated(self) -> bool:
        return self.value > self.limit

    @property
    def headroom(self) -> float:
        return self.limit / self.value if self.value else math.inf


@dataclass
class Analysis:
    fraction: float
    window: int
    peaks: list[KeyPeak]
    findings: list[Finding]
    facts: dict[str, Any]
    costs: dict[str, float]
    stale_allowances: list[dict[str, Any]] = field(default_factory=list)

    @property
    def violations(self) -> list[Finding]:
        return [f for f in self.findings if f.violated and f.allowed_by is None]


def _resource_name(measured: Measurements, resource: str) -> str:
    table, _, index = resource.partition("/")
    name = measured.tables.get(table, table)
    return f"{name}/{index}" if index else name


def _hashed(resource: str, partition: str, measured: Measurements) -> str | None:
    """The hashed family (`SLADUE#`) of a key on the deadline index, else None."""
    if not resource.endswith("/gsi3"):
        return None
    return next((family for family in hashed_families(measured) if partition.startswith(family)), None)


def _hashed_peaks(
    measured: Measurements,
    wcu: dict[tuple[str, str], dict[int, float]],
    rcu: dict[tuple[str, str], dict[int, float]],
    window: int,
) -> list[KeyPeak]:
    """Per hashed family: its summed series' scaled peak over its shard count (kind `hashed`)."""
    f = measured.load.shape.fraction
    sums: dict[tuple[str, str], tuple[dict[int, float], dict[int, float]]] = {}
    for units, slot in ((wcu, 0), (rcu, 1)):
        for (resource, partition), series in units.items():
            family = _hashed(resource, partition, measured)
            if family is None:
                continue
            pair = sums.setdefault((resource, family), ({}, {}))
            for second, value in series.items():
                pair[slot][second] = pair[slot].get(second, 0.0) + value
    shards = hashed_families(measured)
    return [
        KeyPeak(
            resource,
            family + "*",
            "hashed",
            sliding_max(w, window) / f / shards[family],
            sliding_max(r, window) / f / shards[family],
            shards[family],
        )
        for (resource, family), (w, r) in sorted(sums.items())
    ]


def key_peaks(measured: Measurements, window: int) -> list[KeyPeak]:
    """Per shared key its scaled peak; per kind of per-entity key the busiest key and the p99."""
    f = measured.load.shape.fraction
    wcu: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    rcu: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    for (resource, partition, second), usage in measured.recorder.usage.items():
        if partition == SCAN_PARTITION:
            continue  # a Scan reads every partition: it counts in the table's total only
        name = _resource_name(measured, resource)
        if usage.wcu:
            wcu[(name, partition)][second] = usage.wcu
        if usage.rcu:
            rcu[(name, partition)][second] = usage.rcu
    peaks: list[KeyPeak] = _sharded_peaks(wcu, rcu, window, f, measured.load.shape.view_shards)
    peaks += _hashed_peaks(measured, wcu, rcu, window)
    entity: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for resource, partition in set(wcu) | set(rcu):
        w, r = wcu.get((resource, partition), {}), rcu.get((resource, partition), {})
        if shard_family(resource, partition) is not None or _hashed(resource, partition, measured):
            continue
        if classify(resource, partition) == "shared":
            peaks.append(
                KeyPeak(resource, partition, "shared", sliding_max(w, window) / f, sliding_max(r, window) / f)
            )
        else:
            entity[(resource, key_pattern(resource, partition))].append(
                (max(w.values(), default=0.0), max(r.values(), default=0.0))
            )
    for (resource, pattern), values in entity.items():
        writes = [v[0] for v in values]
        reads = [v[1] for v in values]
        peaks.append(
            KeyPeak(
                resource,
                pattern,
                "entity",
                max(writes),
                max(reads),
                len(values),
                percentile(writes, 99),
                percentile(reads, 99),
            )
        )
    return peaks


def _sharded_peaks(
    wcu: dict[tuple[str, str], dict[int, float]],
    rcu: dict[tuple[str, str], dict[int, float]],
    window: int,
    f: float,
    shards: int,
) -> list[KeyPeak]:
    """Per family of sharded keys, one shard's figure at full scale: the family's busiest window
    mean x 1/f, over the shards (see the module's docstring)."""
    families: dict[tuple[str, str], tuple[dict[int, float], dict[int, float]]] = {}
    for units, at in ((wcu, 0), (rcu, 1)):
        for (resource, partition), per_second in units.items():
            family = shard_family(resource, partition)
            if family is None:
                continue
            sums = families.setdefault((resource, family), (defaultdict(float), defaultdict(float)))
            for second, value in per_second.items():
                sums[at][second] += value
    return [
        KeyPeak(
            resource,
            f"{family}#*",
            "sharded",
            sliding_max(w, window) / f / family_shards(family, shards),
            sliding_max(r, window) / f / family_shards(family, shards),
            family_shards(family, shards),
        )
        for (resource, family), (w, r) in families.items()
    ]


def _windowed(events: Iterable[tuple[int, float]], window: int) -> float:
    per_second: dict[int, float] = defaultdict(float)
    for second, value in events:
        per_second[second] += value
    return sliding_max(per_second, window)


SWEEP_WORKER = "SlaSweepWorkerFunction"


def _due_per_run(measured: Measurements) -> dict[int, int]:
    """Due tickets the workers read, by the dispatcher run (second) whose tasks they ran."""
    runs = sorted(i.second for i in measured.invocations if i.function == "SlaSweeperFunction")
    per_run: dict[int, int] = defaultdict(int)
    for inv in measured.invocations:
        if inv.function == SWEEP_WORKER and runs:
            run = max((r for r in runs if r <= inv.second), default=runs[0])
            per_run[run] += inv.counts.get("read", 0)
    return per_run


def _worker_rate(measured: Measurements) -> tuple[float, float, int]:
    """Due tickets a worker handles a second, the seconds a ticket costs, and the tasks measured:
    a least-squares line through (tickets read, duration) of the due tasks (those that routed
    nothing), its slope the time a ticket costs, the intercept the task's fixed cost; when the
    tasks all read as many tickets, their whole duration counts as per-ticket time (a lower bound
    on the rate)."""
    points = [
        (inv.counts["read"], inv.duration_ms / 1000)
        for inv in measured.invocations
        if inv.function == SWEEP_WORKER and inv.counts.get("read", 0) > 0 and not inv.counts.get("routed")
    ]
    if not points:
        return 0.0, 0.0, 0
    mean_n = sum(n for n, _ in points) / len(points)
    mean_d = sum(d for _, d in points) / len(points)
    spread = sum((n - mean_n) ** 2 for n, _ in points)
    slope = sum((n - mean_n) * (d - mean_d) for n, d in points) / spread if spread else 0.0
    per_ticket = slope if slope > 0 else mean_d / mean_n
    return 1 / per_ticket, per_ticket, len(points)


def sweeper_findings(measured: Measurements, f: float) -> list[Finding]:
    """The sweep (decision 118): a run's due tickets against what the workers handle in a minute,
    and a shard's share of the busiest run at full load against the minute, at the measured rate.
    A worker pages its shard for at most its budget, then hands the rest on."""
    from functions.sla_sweep_worker.app import BUDGET_MS

    per_run = _due_per_run(measured)
    rate, per_ticket, tasks = _worker_rate(measured)
    budget = BUDGET_MS / 1000
    most_due = max(per_run.values(), default=0)
    shard_share = most_due / f / measured.sla_shards
    how = (
        f"{rate:.1f} tickets/s a worker ({per_ticket * 1000:.0f} ms a ticket, fitted over {tasks} due tasks)"
    )
    return [
        Finding(
            "sweeper-due",
            "SlaSweepWorkerFunction due tickets per run",
            most_due / f,
            measured.sla_shards * rate * budget,
            "tickets/min",
            f"{measured.sla_shards} shards x {how} x {budget:.0f} s budget; busiest run read {most_due}"
            " at the fraction",
        ),
        Finding(
            "sweeper-duration",
            "SlaSweepWorkerFunction a shard of the busiest run",
            shard_share / rate if rate else 0.0,
            60.0,
            "s",
            f"the busiest run's due tickets x 1/f / {measured.sla_shards} shards (crc32 spreads them"
            f" evenly) = {shard_share:,.0f}, at {how}; paged until empty, handed on after the budget",
        ),
    ]


def analyse(measured: Measurements, window: int, allowed: list[dict[str, Any]]) -> Analysis:
    shape = measured.load.shape
    f = shape.fraction
    peaks = key_peaks(measured, window)
    findings: list[Finding] = []
    for peak in peaks:
        how = {
            "entity": "busiest second of the busiest key",
            "sharded": f"one of {peak.keys} shards: the family's {window}-s mean x 1/f / {peak.keys}",
            "hashed": f"{window}-s mean x 1/f / {peak.keys} shards (the family's even share a shard)",
        }.get(peak.kind, f"{window}-s mean x 1/f")
        subject = f"{peak.resource} {peak.key}"
        extra = (
            f" ({peak.keys} keys, p99 {peak.wcu_p99:.0f} WCU / {peak.rcu_p99:.1f} RCU)"
            if peak.kind == "entity"
            else ""
        )
        findings.append(Finding("partition-wcu", subject, peak.wcu, PARTITION_WCU, "WCU/s", how + extra))
        findings.append(
            Finding("partition-wcu-half", subject, peak.wcu, PARTITION_WCU / 2, "WCU/s", how + extra)
        )
        findings.append(Finding("partition-rcu", subject, peak.rcu, PARTITION_RCU, "RCU/s", how + extra))
        findings.append(
            Finding("partition-rcu-half", subject, peak.rcu, PARTITION_RCU / 2, "RCU/s", how + extra)
        )
    for (table, kind), biggest in sorted(measured.recorder.biggest.items()):
        name = measured.tables.get(table, table)
        findings.append(
            Finding(
                "item-size",
                f"{name} {kind or '?'} items",
                biggest.size,
                MAX_ITEM_BYTES,
                "bytes",
                f"largest: {biggest.partition} / {biggest.sort_key}",
            )
        )
    # table and index totals
    totals: dict[str, dict[str, dict[int, float]]] = defaultdict(
        lambda: {"wcu": defaultdict(float), "rcu": defaultdict(float)}
    )
    for (resource, _, second), usage in measured.recorder.usage.items():
        name = _resource_name(measured, resource)
        totals[name]["wcu"][second] += usage.wcu
        totals[name]["rcu"][second] += usage.rcu
    table_peak_wcu: dict[str, float] = {}
    for name, series in sorted(totals.items()):
        peak_w = sliding_max(series["wcu"], window) / f
        peak_r = sliding_max(series["rcu"], window) / f
        table_peak_wcu[name] = peak_w
        findings.append(Finding("table-wcu", name, peak_w, TABLE_UNITS, "WCU/s", f"{window}-s mean x 1/f"))
        findings.append(Finding("table-rcu", name, peak_r, TABLE_UNITS, "RCU/s", f"{window}-s mean x 1/f"))
    findings += sweeper_findings(measured, f)
    # stream mappings: records a second against shards x parallelisation x batch / batch time
    table_name = next(iter(measured.tables.values()), "")
    shards = max(1, math.ceil(table_peak_wcu.get(table_name, 0.0) / STREAM_SHARD_WCU))
    durations: dict[str, list[float]] = defaultdict(list)
    for inv in measured.invocations:
        durations[f"{inv.function}|{inv.source}"].append(inv.duration_ms)
    for mapping in measured.mappings:
        rate = (
            _windowed(
                ((s, n) for (label, s), n in measured.stream_records.items() if label == mapping.label),
                window,
            )
            / f
        )
        batch_ms = durations.get(f"{mapping.function}|DynamoDB {mapping.label.split('.', 1)[1]}", [])
        mean_batch_s = (sum(batch_ms) / len(batch_ms) / 1000) if batch_ms else 0.0
        records = sum(n for (label, _), n in measured.stream_records.items() if label == mapping.label)
        mean_size = records / len(batch_ms) if batch_ms else float(mapping.batch_size)
        per_s = (shards * mapping.parallelization * mean_size / mean_batch_s) if mean_batch_s else math.inf
        findings.append(
            Finding(
                "stream-mapping",
                mapping.label,
                rate,
                per_s,
                "records/s",
                f"{shards} shard(s) (table peak WCU / {STREAM_SHARD_WCU}) x ParallelizationFactor "
                f"{mapping.parallelization} x {mean_size:.1f} records a batch"
                f" / {mean_batch_s * 1000:.0f} ms a batch",
            )
        )
    # Lambda concurrency: busy seconds a second (Little's law), scaled. Stream consumers are bounded
    # by their mapping (checked above) and scheduled functions fire on their clock, not the load's.
    busy: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for inv in measured.invocations:
        if not inv.source.startswith(("DynamoDB", "Schedule")):
            busy[inv.function][inv.second] += inv.duration_ms / 1000
    total_concurrency = 0.0
    for function, busy_seconds in sorted(busy.items()):
        concurrency = sliding_max(busy_seconds, window) / f
        total_concurrency += concurrency
        limit = measured.reserved_concurrency.get(function)
        if limit is not None:
            findings.append(
                Finding(
                    "lambda-reserved",
                    function,
                    concurrency,
                    limit,
                    "concurrent",
                    f"ReservedConcurrentExecutions {limit}",
                )
            )
        findings.append(
            Finding(
                "lambda-concurrency",
                function,
                concurrency,
                ACCOUNT_CONCURRENCY,
                "concurrent",
                "busy seconds a second, scaled",
            )
        )
    for mapping in measured.mappings:
        total_concurrency += shards * mapping.parallelization
    findings.append(
        Finding(
            "account-concurrency",
            "all functions",
            total_concurrency,
            ACCOUNT_CONCURRENCY,
            "concurrent",
            "requests' busiest windows, plus shards x ParallelizationFactor per mapping",
        )
    )
    # HTTP API throttles
    for api, spec in sorted(measured.http_apis.items()):
        if spec["rate"] is None:
            continue
        rate = (
            _windowed(
                (
                    (inv.second, 1.0)
                    for inv in measured.invocations
                    if inv.function in spec["functions"] and inv.source.startswith("HttpApi")
                ),
                window,
            )
            / f
        )
        findings.append(
            Finding(
                "http-throttle",
                api,
                rate,
                float(spec["rate"]),
                "requests/s",
                f"DefaultRouteSettings ThrottlingRateLimit {spec['rate']}, burst {spec['burst']}",
            )
        )
    lost = measured.dead_letters + measured.failed_inputs
    findings.append(
        Finding(
            "lost",
            "dead letters and failed inputs",
            lost,
            0,
            "events",
            f"{measured.dead_letters} dead letters, {measured.failed_inputs} failed inputs",
        )
    )
    stale = apply_allowances(findings, allowed)
    seconds = max(1, measured.end_second - measured.start_second)
    facts = {
        "tickets": measured.tickets_created,
        "inbound": sum(measured.load.inbound.values()),
        "inbound_by_channel": dict(measured.load.inbound),
        "agent_steps": dict(measured.load.agent_steps),
        "refused_agent_requests": measured.refused_agent_requests,
        "simulated_seconds": seconds,
        "wall_seconds": measured.wall_seconds,
        "invocations": len(measured.invocations),
        "scheduled_runs": measured.scheduled_runs,
        "stream_shards": shards,
        "write_calls": dict(measured.recorder.operations),
        "failed_writes": measured.recorder.failed_writes,
    }
    return Analysis(f, window, peaks, findings, facts, costs(measured), stale)


def costs(measured: Measurements) -> dict[str, float]:
    """Dollars per million tickets, from the units and invocations of the run, at list prices."""
    tickets = max(1, measured.tickets_created)
    wcu = sum(u.wcu for u in measured.recorder.usage.values())
    rcu = sum(u.rcu for u in measured.recorder.usage.values())
    gb_s = sum(
        inv.duration_ms / 1000 * measured.memory_mb.get(inv.function, 128) / 1024
        for inv in measured.invocations
    )
    per_million = 1_000_000 / tickets
    return {
        "write_units_per_ticket": wcu / tickets,
        "read_units_per_ticket": rcu / tickets,
        "invocations_per_ticket": len(measured.invocations) / tickets,
        "dynamodb_writes": wcu * per_million * PRICE_WRITE_UNITS / 1_000_000,
        "dynamodb_reads": rcu * per_million * PRICE_READ_UNITS / 1_000_000,
        "lambda_requests": len(measured.invocations) * per_million * PRICE_LAMBDA_REQUESTS / 1_000_000,
        "lambda_compute": gb_s * per_million * PRICE_LAMBDA_GB_SECOND,
    }


def load_allowances(path: Path, profile: str) -> list[dict[str, Any]]:
    """The written list of violations allowed for now, for `profile`: each entry has `check` and
    `subject` (globs) and `fix` (what removes it); optional `profiles` (default: all) and `may_pass`
    (a figure timed on moto, which a faster machine may bring under its limit: never stale)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    entries = data.get("allowed") or []
    for entry in entries:
        missing = {"check", "subject", "fix"} - set(entry)
        if missing:
            raise ValueError(f"{path}: allow-list entry {entry} lacks {', '.join(sorted(missing))}")
    return [e for e in entries if profile in (e.get("profiles") or [profile])]


def apply_allowances(findings: list[Finding], allowed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mark the violations an entry allows; return the entries no violation needed (stale)."""
    used = [bool(entry.get("may_pass")) for entry in allowed]
    for finding in findings:
        if not finding.violated:
            continue
        for n, entry in enumerate(allowed):
            if fnmatch.fnmatchcase(finding.check, entry["check"]) and fnmatch.fnmatchcase(
                finding.subject, entry["subject"]
            ):
                finding.allowed_by = str(entry["fix"])
                used[n] = True
                break
    return [entry for entry, hit in zip(allowed, used, strict=True) if not hit]
