"""`helpdesk reports rebuild`: recompute every ticket's report ledger and the per-day aggregates
from the tickets themselves (shared/logic/report_ledgers.py), walking ticket numbers (no Scan);
`helpdesk reports seal`: seal the per-day aggregates of a date range (decision 112).

Safe beside the live stream consumer: each ticket's change is applied against the ledger it read
(decision 95). To rebuild from nothing, remove the `REPORT#`, `REPORTDIM#` and `LEDGER` items first
with route_ticket's stream paused."""

from __future__ import annotations

import argparse
from datetime import date
from typing import Any, TextIO

from shared.config import load_config
from shared.dal.repository import DynamoRepository
from shared.errors import ConfigError, ConflictError
from shared.logic.report_ledgers import LedgerRefresh, rebuild_reports
from shared.logic.report_sealing import seal_reports
from shared.settings import aws_region

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
PROGRESS_EVERY = 100


def _number(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"a ticket number is 1 or more, got {value!r}")
    return int(value)


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a day is YYYY-MM-DD, got {value!r}") from None


def add_reports(commands: Any) -> None:
    """The `reports` command and its `rebuild` and `seal` actions, on the CLI's subcommands."""
    reports = commands.add_parser("reports", help="the report aggregates kept from the tickets stream")
    actions = reports.add_subparsers(dest="action", required=True, parser_class=type(reports))
    rebuild = actions.add_parser(
        "rebuild",
        help="recompute every ticket's report ledger and the aggregates (no Scan)",
        description="Walk the tickets by number (the ticket counter, then each number's pointer), "
        "compute each one's metric ledger and apply its difference to the per-day aggregates.",
    )
    rebuild.add_argument("--table", required=True, help="the helpdesk's DynamoDB table (stack output)")
    rebuild.add_argument("--region", help="its region (default: AWS_REGION, AWS_DEFAULT_REGION, us-east-1)")
    rebuild.add_argument(
        "--config", help="the helpdesk config YAML the functions run with (default: the bundled one)"
    )
    rebuild.add_argument("--from-number", type=_number, help="the first ticket number (the config's first)")
    rebuild.add_argument("--to-number", type=_number, help="the last ticket number (the counter's)")
    rebuild.add_argument("--quiet", "-q", action="store_true", help="print only the summary")
    seal = actions.add_parser(
        "seal",
        help="fold the live per-day aggregates of a date range into their sealed items",
        description="What the reports schedule does hourly for the last week (decision 112), for any "
        "range: after a rebuild, or to seal the history of an older deployment. Reports read the "
        "same before and after.",
    )
    seal.add_argument("--table", required=True, help="the helpdesk's DynamoDB table (stack output)")
    seal.add_argument("--region", help="its region (default: AWS_REGION, AWS_DEFAULT_REGION, us-east-1)")
    seal.add_argument("--from", dest="first", type=_day, required=True, help="the first day, YYYY-MM-DD")
    seal.add_argument("--to", dest="last", type=_day, required=True, help="the last day, YYYY-MM-DD")


def _progress(out: TextIO, quiet: bool) -> Any:
    def report(number: int, done: LedgerRefresh) -> None:
        if not quiet and (done.outcome == "applied" or number % PROGRESS_EVERY == 0):
            out.write(f"#{number} {done.ticket_id}: {done.outcome} ({done.items} items changed)\n")
            out.flush()

    return report


def reports_rebuild(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.to_number is not None and args.from_number is not None and args.to_number < args.from_number:
        err.write("error: --to-number is before --from-number\n")
        return EXIT_BAD_INPUT
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        err.write(f"error: {exc}\n")
        return EXIT_BAD_INPUT
    stores = DynamoRepository(args.table, args.region or aws_region())
    try:
        report = rebuild_reports(stores, config, args.from_number, args.to_number, _progress(out, args.quiet))
    except ConflictError as exc:
        err.write(f"error: {exc}; run it again from that number (--from-number)\n")
        return EXIT_FAILED
    outcomes = ", ".join(f"{name} {n}" for name, n in sorted(report.outcomes.items())) or "no tickets"
    out.write(
        f"tickets #{report.first} to #{report.last}: {outcomes}; "
        f"{len(report.no_ticket)} numbers without a ticket\n"
    )
    return EXIT_OK


def reports_seal(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.last < args.first:
        err.write("error: --to is before --from\n")
        return EXIT_BAD_INPUT
    totals = seal_reports(DynamoRepository(args.table, args.region or aws_region()), args.first, args.last)
    out.write(
        f"{args.first} to {args.last}: {totals.sealed} days sealed in {totals.partitions} dimension values"
        f"; {totals.contended} written meanwhile (run it again)\n"
    )
    for value, reason in sorted(totals.failed.items()):
        err.write(f"error: {value} not sealed: {reason}\n")
    return EXIT_OK if not totals.contended and not totals.failed else EXIT_FAILED
