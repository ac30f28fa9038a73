"""The live fan-out benchmark runs in its own process, as `make bench` runs it, with few agents:
each change reaches whom the permissions say, with one ticket read and its partitions' queries.
Its shape is checked, never its timings."""

from __future__ import annotations

import re

from tests.integration.test_bench_agent_api import run


def test_the_fan_out_benchmark_reaches_the_right_agents_with_bounded_reads() -> None:
    result = run("benchmarks/bench_live.py", "--agents", "40", "--teams", "4", "--runs", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {line.split()[0] + " " + line.split()[1]: line for line in result.stdout.splitlines()[2:]}
    # team00 holds 10 agents (2 of the 5 admins among them); the other 3 admins see it too
    assert re.search(
        r"\s13 .*PostToConnection 13, dynamodb.GetItem 1, dynamodb.Query 3\s", rows["team ticket"]
    )
    assert re.search(r"\s40 .*PostToConnection 40, dynamodb.GetItem 1, dynamodb.Query 1\s", rows["no team"])
    # the SLA warning: team00's assignee, its supervisor and its 2 admins
    assert re.search(r"\s4 .*PostToConnection 4, dynamodb.GetItem 1, dynamodb.Query 3\s", rows["SLA warning"])
    assert "WRONG" not in result.stdout
