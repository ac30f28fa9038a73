"""The speed benchmarks of the agent API (`make bench-api`) run and report every route: each is
run once with tiny settings, in its own process as `make` runs it. Their shape is checked, never
their timings."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RATIO = r"\s+\d+x"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(  # noqa: S603 - our own interpreter and benchmark
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_the_warm_latency_benchmark_reports_every_route_against_the_floor() -> None:
    # When the benchmark runs with a tiny data set and one timed call per route
    done = run("benchmarks/bench_agent_api.py", "--calls", "1", "--tickets", "3", "--messages", "2")
    # Then it succeeds: every route answered as expected and every route of the template was measured
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert "routes of the template not measured: none" in lines
    assert any(line.startswith("data set: a conversation of 2 HTML emails, 3 one-email") for line in lines)
    # And each route's line has its p50, p95 and own p50 as ratios to the floor, then ms and requests
    rows = [
        line
        for line in lines
        if re.match(rf"  (floor|[A-Z]+ /).*{RATIO}{RATIO}{RATIO}\s+[\d.]+\s+\d+$", line)
    ]
    assert rows[0].startswith("  floor: refused at the edge")
    assert len(rows) == 40  # the floor and 39 lines for the 38 routes (a ticket is read two ways)
    assert not [line for line in lines if "UNEXPECTED" in line]


def test_the_cold_start_benchmark_reports_agent_api_and_its_snapshot_hook() -> None:
    done = run("benchmarks/bench_cold_start.py", "--runs", "1", "--only", "AgentApiFunction")

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "FAILED" not in done.stdout
    labels = [
        line.split("  ")[1] for line in done.stdout.splitlines() if line.startswith("  ") and "ms" in line
    ]
    assert [label for label in labels if label.startswith("AgentApiFunction")] == [
        "AgentApiFunction (tracing off)",
        "AgentApiFunction (tracing on)",
        "AgentApiFunction + before-snapshot hook",
    ]
