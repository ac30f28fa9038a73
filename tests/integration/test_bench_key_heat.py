"""The key-heat simulation's CI profile (benchmarks/bench_key_heat.py --profile ci) runs as `make
bench-heat` runs the full one, in its own process: it exits 0 only when every violation it finds is on
the written allow-list and every entry of the list is still needed, so a fix that cools a key must
take its entry off the list (docs/scale.md)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.integration.test_bench_agent_api import ROOT


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """The benchmark in its own process; 10 minutes at most (about 2 alone, more beside other tests)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(  # noqa: S603 - our own interpreter and benchmark
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def test_the_ci_profile_finds_only_the_allowed_violations() -> None:
    # When the CI profile runs (about two minutes alone on two cores)
    done = run("benchmarks/bench_key_heat.py", "--profile", "ci")
    # Then it succeeds, and its report has the hottest keys, the checks and the cost
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    out = done.stdout
    assert "Top keys by write units" in out
    assert "Other checks" in out
    assert "Cost per million tickets" in out
    assert "OK: no violation outside the allow-list" in out
