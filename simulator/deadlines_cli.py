"""`helpdesk index deadlines --table TABLE`: move the SLA deadline and unrouted index entries to the
layout of decision 117 (legacy `gsi2` partitions to sharded, keys-only `gsi3`), and after a change
of `sla.sweep_shards` (`--previous-shards N`) each deadline entry to its new shard. Safe while the
helpdesk runs; run it once after deploying the release that adds `gsi3`, before the next minute's
sweep would miss the legacy tickets (or soon after: a missed deadline is acted on when moved)."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from shared.config import load_config
from shared.dal.repository import DynamoRepository
from shared.logic.sla_index import LEGACY_SHARDS, migrate_deadline_index
from shared.settings import aws_region

EXIT_OK, EXIT_BAD_INPUT = 0, 2


def _shards(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 1024:
        raise argparse.ArgumentTypeError(f"a shard count is 1 to 1024, got {value!r}")
    return int(value)


def add_deadlines(actions: Any) -> None:
    """The `deadlines` action of the `index` command."""
    deadlines = actions.add_parser(
        "deadlines",
        help="move SLA deadline and unrouted index entries to their sharded gsi3 keys (decision 117)",
        description="Page the legacy gsi2 partitions (SLADUE#0..N-1, UNROUTED) and move each ticket "
        "to its gsi3 keys; with --previous-shards, also move gsi3 deadline entries to their shard "
        "under the configured sla.sweep_shards. Each move is conditional on the entry it read.",
    )
    deadlines.add_argument("--table", required=True, help="the helpdesk's DynamoDB table (stack output)")
    deadlines.add_argument("--region", help="its region (default: AWS_REGION, AWS_DEFAULT_REGION, us-east-1)")
    deadlines.add_argument("--config", help="the helpdesk config YAML (default: the bundled one)")
    deadlines.add_argument(
        "--legacy-shards", type=_shards, default=LEGACY_SHARDS, help="sla.sweep_shards before (4)"
    )
    deadlines.add_argument(
        "--previous-shards", type=_shards, help="the gsi3 shard count before a change of sla.sweep_shards"
    )
    deadlines.add_argument("--dry-run", action="store_true", help="count what would move, write nothing")


def index_deadlines(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    config = load_config(args.config)
    store = DynamoRepository(args.table, args.region or aws_region())
    report = migrate_deadline_index(store, config, args.legacy_shards, args.previous_shards, args.dry_run)
    verb = "to move" if args.dry_run else "moved"
    for name in report.moved:
        if report.moved[name] or report.left[name]:
            out.write(f"{name}: {report.moved[name]} {verb}, {report.left[name]} left\n")
    out.write(f"{sum(report.moved.values())} entries {verb}, {sum(report.left.values())} left\n")
    return EXIT_OK
