"""The key-heat report as text: the run, the hottest keys with their headroom, each check."""

from __future__ import annotations

import math

from benchmarks.heat.analysis import PARTITION_RCU, PARTITION_WCU, Analysis, Finding, KeyPeak


def _num(value: float) -> str:
    if math.isinf(value):
        return "inf"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def _headroom(value: float, limit: float) -> str:
    return "-" if value <= 0 else f"{limit / value:.2f}x"


def _peaks(title: str, peaks: list[KeyPeak], unit: str, limit: float, top: int) -> list[str]:
    lines = [title, f"  {'resource':<22} {'key':<44} {'kind':<7} {'peak ' + unit:>12} {'headroom':>9}"]
    for peak in peaks[:top]:
        value = peak.wcu if unit == "WCU/s" else peak.rcu
        p99 = peak.wcu_p99 if unit == "WCU/s" else peak.rcu_p99
        key = {
            "shared": peak.key,
            "sharded": f"{peak.key} (1 of {peak.keys})",
            "hashed": f"{peak.key} (a shard's share of {peak.keys})",
        }.get(peak.kind, f"{peak.key} ({peak.keys} keys, p99 {_num(p99)})")
        lines.append(
            f"  {peak.resource:<22} {key[:44]:<44} {peak.kind:<7} {_num(value):>12}"
            f" {_headroom(value, limit):>9}"
        )
    return lines


def _family(key: str) -> str:
    """`VIEW#mail#open` -> `VIEW#*`, `SLADUE#3` -> `SLADUE#*`, `OUTBOX` -> `OUTBOX`."""
    return key.split("#", 1)[0] + "#*" if "#" in key else key


def _status(finding: Finding) -> str:
    if not finding.violated:
        return "pass"
    return "ALLOWED" if finding.allowed_by else "FAIL"


def render(analysis: Analysis, profile: str, top: int = 15) -> str:
    facts = analysis.facts
    f = analysis.fraction
    seconds = facts["simulated_seconds"]
    channels = ", ".join(f"{k} {v}" for k, v in sorted(facts["inbound_by_channel"].items()))
    lines = [
        f"Key heat, profile {profile}: fraction {f:g} of the target, figures scaled to full load",
        f"  run: {facts['inbound']:,} inbound messages ({channels}),"
        f" {facts['tickets']:,} tickets, agent steps {facts['agent_steps']},"
        f" {facts['invocations']:,} invocations, {facts['scheduled_runs']} scheduled runs,"
        f" {seconds:,} simulated s in {facts['wall_seconds']:.0f} s",
        f"  mean rates at full scale: {facts['inbound'] / seconds / f:,.0f} inbound messages/s,"
        f" {facts['tickets'] / seconds / f:,.0f} new tickets/s (whole run, quiet tail included)",
        f"  DynamoDB calls: {', '.join(f'{k} {v}' for k, v in sorted(facts['write_calls'].items()))};"
        f" {facts['failed_writes']} writes refused by a condition or cancelled;"
        f" refused agent requests: {facts['refused_agent_requests']}",
        f"  shared keys: busiest {analysis.window}-s mean x {1 / f:,.0f};"
        " per-entity keys: busiest second, unscaled",
        "",
    ]
    by_wcu = sorted(analysis.peaks, key=lambda p: -p.wcu)
    by_rcu = sorted(analysis.peaks, key=lambda p: -p.rcu)
    lines += _peaks(
        f"Top keys by write units (limit {PARTITION_WCU:,}/s a partition, target half)",
        by_wcu,
        "WCU/s",
        PARTITION_WCU,
        top,
    )
    lines.append("")
    lines += _peaks(
        f"Top keys by read units (limit {PARTITION_RCU:,}/s a partition, target half)",
        by_rcu,
        "RCU/s",
        PARTITION_RCU,
        top,
    )
    lines.append("")
    lines.append("Partition checks over the limit or over half of it, by key family (the checks' subjects)")
    families: dict[tuple[str, str, str], list[Finding]] = {}
    for finding in analysis.findings:
        if finding.check.startswith("partition-") and finding.violated:
            resource, _, key = finding.subject.partition(" ")
            families.setdefault((finding.check, resource, _family(key)), []).append(finding)
    for (check, resource, family), found in sorted(
        families.items(), key=lambda kv: -max(x.value for x in kv[1])
    ):
        worst = max(found, key=lambda x: x.value)
        status = "ALLOWED" if all(x.allowed_by for x in found) else "FAIL"
        lines.append(
            f"  {status:<8} {check:<19} {resource + ' ' + family:<34} {len(found):>4} key(s),"
            f" worst {worst.subject.partition(' ')[2][:40]}"
            f" {_num(worst.value)} / {_num(worst.limit)} {worst.unit}"
        )
    hashed = [p for p in analysis.peaks if p.kind == "hashed"]
    if hashed:
        lines.append("")
        lines.append("Hash-sharded index families: a shard's even share of the family's peak (decision 117)")
        for peak in sorted(hashed, key=lambda p: (p.resource, p.key)):
            lines.append(
                f"  {peak.resource:<22} {peak.key:<12} {peak.keys:>4} shards"
                f"  {_num(peak.wcu):>8} WCU/s ({_headroom(peak.wcu, 1000)} of 1,000)"
                f"  {_num(peak.rcu):>8} RCU/s ({_headroom(peak.rcu, 3000)} of 3,000)"
            )
    lines.append("")
    lines.append("Other checks (value at full scale against the limit; ALLOWED = on the written allow-list)")
    others = [
        x
        for x in analysis.findings
        if not x.check.startswith("partition-")
        and (x.violated or x.check not in ("item-size", "lambda-concurrency"))
    ]
    for finding in others:
        lines.append(
            f"  {_status(finding):<8} {finding.check:<19} {finding.subject[:58]:<58} "
            f"{_num(finding.value):>10} / {_num(finding.limit)} {finding.unit}"
        )
        if finding.detail:
            lines.append(f"           {finding.detail}")
        if finding.allowed_by:
            lines.append(f"           allowed until: {finding.allowed_by}")
    sizes = sorted((x for x in analysis.findings if x.check == "item-size"), key=lambda x: -x.value)
    lines.append("")
    lines.append("Largest items by kind (limit 400 KB)")
    for finding in sizes[:8]:
        lines.append(f"  {finding.subject:<40} {finding.value:>9,.0f} bytes  {finding.detail[:80]}")
    costs = analysis.costs
    total = (
        costs["dynamodb_writes"]
        + costs["dynamodb_reads"]
        + costs["lambda_requests"]
        + costs["lambda_compute"]
    )
    lines += [
        "",
        "Cost per million tickets (on-demand list prices, us-east-1;"
        " Lambda time measured on moto, in-process)",
        f"  per ticket: {costs['write_units_per_ticket']:.1f} write units,"
        f" {costs['read_units_per_ticket']:.1f} read units,"
        f" {costs['invocations_per_ticket']:.1f} invocations",
        f"  DynamoDB writes ${costs['dynamodb_writes']:,.0f}, reads ${costs['dynamodb_reads']:,.0f};"
        f" Lambda requests ${costs['lambda_requests']:,.0f}, compute ${costs['lambda_compute']:,.0f};"
        f" total ${total:,.0f}",
    ]
    violations = analysis.violations
    lines.append("")
    if analysis.stale_allowances:
        lines.append("Allow-list entries no violation needs any more (remove them):")
        lines += [f"  {e['check']} {e['subject']} ({e['fix']})" for e in analysis.stale_allowances]
    if violations:
        lines.append(f"{len(violations)} violation(s) not on the allow-list:")
        lines += [
            f"  {v.check} {v.subject}: {_num(v.value)} > {_num(v.limit)} {v.unit}" for v in violations[:40]
        ]
        if len(violations) > 40:
            lines.append(f"  ... and {len(violations) - 40} more")
    if not violations and not analysis.stale_allowances:
        allowed = sum(1 for x in analysis.findings if x.violated)
        lines.append(f"OK: no violation outside the allow-list ({allowed} allowed)")
    return "\n".join(lines) + "\n"
