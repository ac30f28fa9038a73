"""Key heat (issue 17 §1): which DynamoDB partitions, streams and functions the target load overheats.

Setup. A seeded load (benchmarks/heat/load.py: customers on a Zipf curve writing by email, SMS and
WhatsApp, a team per channel group, agents answering and resolving a share of the tickets, a 10x
burst) is replayed through the real handlers by the simulator on moto, at a fraction f of the
target: the stream is pumped through the template's FilterCriteria and BatchSize, the schedules fire
every minute, the senders are the simulator's (moto SES and SNS; WhatsApp sends fail for want of a
token, as in any simulation). A recorder on the DynamoDB client, with the items before and after
each write read from moto's backend (the stream's old and new images), counts write units (1 KB
steps, doubled in transactions, index puts, deletes and updates by projection), read units (4 KB
steps) and item sizes per (table or index, partition key, simulated second).

Scaling (benchmarks/heat/analysis.py). Keys naming one ticket or customer are per-entity: reported
as measured (busiest second of the busiest key, and the p99 over keys). Every other key is shared:
its busiest window's mean, times 1/f. Table totals, stream records, invocations and HTTP requests
scale the same way.

Targets: 500 new tickets/s and 5,000 inbound messages/s, bursts of 10x; no partition above half of
1,000 WCU/s or 3,000 RCU/s, no item above 400 KB, each table under 40,000 units/s, the SLA sweeper
keeping up with due tickets, each stream mapping keeping up with its records (shards x
ParallelizationFactor), each function within its reserved and the account's concurrency, the HTTP
APIs within their throttles, nothing lost.

Exit codes: 0 no violation outside benchmarks/heat/allowed.yaml and no stale entry in it; 1 a
violation the list does not allow, or an entry no violation needs any more (fixes shrink the list);
2 bad input (the allow-list). The `ci` profile runs in `make test` (tests/integration/
test_bench_key_heat.py); `make bench-heat` runs `full`. docs/scale.md has the method and results.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_key_heat.py [--profile ci|full] [--seed 17]
        [--fraction F] [--allowed benchmarks/heat/allowed.yaml] [--report out/key-heat.txt]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._offline import ROOT, use_offline_aws

use_offline_aws()

from benchmarks.heat.analysis import analyse, load_allowances  # noqa: E402
from benchmarks.heat.load import LoadShape  # noqa: E402
from benchmarks.heat.report import render  # noqa: E402
from benchmarks.heat.run import run  # noqa: E402

PROFILES: dict[str, tuple[LoadShape, int]] = {
    # (the load, the window in seconds shared keys are averaged over)
    "ci": (LoadShape(fraction=0.0002, steady_s=45, burst_s=25, tail_s=45, agents=3), 25),
    "full": (LoadShape(fraction=0.0001, steady_s=300, burst_s=300, tail_s=120, agents=8), 60),
}
DEFAULT_ALLOWED = ROOT / "benchmarks" / "heat" / "allowed.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), default="ci")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--fraction", type=float, default=None, help="of the target rates (overrides the profile)"
    )
    parser.add_argument("--allowed", type=Path, default=DEFAULT_ALLOWED)
    parser.add_argument("--report", type=Path, default=None, help="also write the report here")
    args = parser.parse_args(argv)
    shape, window = PROFILES[args.profile]
    if args.seed is not None:
        shape = dataclasses.replace(shape, seed=args.seed)
    if args.fraction is not None:
        if not 0 < args.fraction <= 1:
            parser.error("--fraction must be in (0, 1]")
        shape = dataclasses.replace(shape, fraction=args.fraction)
    try:
        allowed = load_allowances(args.allowed, args.profile)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    measured = run(shape)
    analysis = analyse(measured, window, allowed)
    text = render(analysis, args.profile)
    print(text, end="")
    if args.report is not None:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(text, encoding="utf-8")
    return 1 if analysis.violations or analysis.stale_allowances else 0


if __name__ == "__main__":
    sys.exit(main())
