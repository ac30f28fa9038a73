"""`helpdesk simulate SCENARIO.jsonl`: run the helpdesk on a scenario, locally, and write the final state.
`helpdesk index rebuild --table TABLE`: rebuild the views and the search index of a table's tickets.
`helpdesk index deadlines --table TABLE`: move SLA deadline and unrouted entries to gsi3 (decision 117).
`helpdesk reports rebuild --table TABLE`: recompute every ticket's report ledger and the aggregates.

Exit codes: 0 done; 1 the simulation failed (or some tickets were busy and left to run again);
2 the input is wrong (scenario, config, template settings the simulator cannot run, options),
reported before any step runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

from shared.dal.repository import DynamoRepository
from shared.errors import ConfigError
from shared.logic.rebuild import INDEXES, RebuildOptions, RebuildReport, TicketRebuild, rebuild_indexes
from shared.settings import aws_region
from simulator.clock import ScheduleError
from simulator.deadlines_cli import add_deadlines, index_deadlines
from simulator.events import utf8_json
from simulator.lambda_runtime import SimulationError, UnsupportedError
from simulator.progress import Progress
from simulator.reports_cli import add_reports, reports_rebuild, reports_seal
from simulator.runner import DEFAULT_TEMPLATE, Options, Simulation
from simulator.scenario import ScenarioError, load_scenario, parse_at
from simulator.secret_values import SecretsFileError, load_secrets_file
from simulator.streams import PumpLimitError, StreamConfigError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_BAD_INPUT)


def _interval(value: str) -> timedelta:
    """`30s`, `15m`, `1h`: how often scheduled functions fire at most (`--schedule-every`)."""
    units = {"s": 1, "m": 60, "h": 3600}
    number, unit = value[:-1], value[-1:]
    if unit not in units or not number.isdigit() or int(number) <= 0:
        raise argparse.ArgumentTypeError(f"{value!r}: a whole number with s, m or h, e.g. 15m")
    return timedelta(seconds=int(number) * units[unit])


def _until(value: str) -> datetime:
    try:
        return parse_at(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace('"at"', "--until")) from None


def _parameter(value: str) -> tuple[str, str]:
    name, sep, setting = value.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"template parameters are Name=Value, got {value!r}")
    return name, setting


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="helpdesk", description="The helpdesk's command line.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    simulate = commands.add_parser(
        "simulate",
        help="run a scenario on a local simulation of the stack (moto, no AWS account)",
        description="Deploy the template on moto, deliver each step as AWS would, write the final state.",
    )
    simulate.add_argument("scenario", type=Path, help="the scenario, JSON Lines (docs/simulator.md)")
    simulate.add_argument(
        "--config", type=Path, help="helpdesk config YAML given to the functions (HELPDESK_CONFIG)"
    )
    simulate.add_argument(
        "--out", type=Path, default=Path("state.json"), help="where to write the state (state.json)"
    )
    simulate.add_argument(
        "--digest-dir",
        type=Path,
        metavar="DIR",
        help="write the digest of the simulated period (all teams) to DIR/digest.html",
    )
    simulate.add_argument("--until", type=_until, help="run until this ISO 8601 time (with zone)")
    simulate.add_argument(
        "--schedule-every",
        type=_interval,
        metavar="INTERVAL",
        help="fire each scheduled function at most this often (e.g. 15m): a long scenario runs "
        "faster, with SLA warnings and follow-ups up to that much later than deployed",
    )
    simulate.add_argument(
        "--template", type=Path, default=DEFAULT_TEMPLATE, help="the SAM template (the repo's)"
    )
    simulate.add_argument(
        "--parameter",
        "-p",
        type=_parameter,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a template parameter override (repeatable)",
    )
    simulate.add_argument(
        "--secrets",
        type=Path,
        metavar="FILE.json",
        help="values for the template's secrets: a JSON object of logical id -> value "
        "(default: WebhookSecret holds the test values of tests/events/webhooks)",
    )
    simulate.add_argument("--logs", type=Path, help="write the functions' own log output to this file")
    simulate.add_argument("--quiet", "-q", action="store_true", help="print only the summary")
    simulate.add_argument("--strict", action="store_true", help="exit 1 if any event ended in a dead letter")
    _add_index(commands)
    add_reports(commands)
    return parser


def _number(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"a ticket number is 1 or more, got {value!r}")
    return int(value)


def _add_index(commands: argparse._SubParsersAction[_Parser]) -> None:
    index = commands.add_parser("index", help="the views and the search index kept from the tickets stream")
    actions = index.add_subparsers(dest="action", required=True, parser_class=_Parser)
    rebuild = actions.add_parser(
        "rebuild",
        help="rebuild the views and/or the search index from the tickets (no Scan)",
        description="Walk the tickets by number (the ticket counter, then each number's pointer) and "
        "bring their view and search entries to what route_ticket makes of them; safe while it runs.",
    )
    rebuild.add_argument("--table", required=True, help="the helpdesk's DynamoDB table (stack output)")
    rebuild.add_argument("--region", help="its region (default: AWS_REGION, AWS_DEFAULT_REGION, us-east-1)")
    rebuild.add_argument("--views", action="store_true", help="rebuild the views (default: both)")
    rebuild.add_argument("--search", action="store_true", help="rebuild the search index (default: both)")
    rebuild.add_argument("--from-number", type=_number, default=1, help="the first ticket number (1)")
    rebuild.add_argument("--to-number", type=_number, help="the last ticket number (the counter's)")
    rebuild.add_argument(
        "--view-shards",
        type=_number,
        default=1,
        help="the shards of each view: the config's views.shards (1); entries in another layout are moved",
    )
    rebuild.add_argument("--dry-run", action="store_true", help="report what would change, write nothing")
    rebuild.add_argument("--quiet", "-q", action="store_true", help="print only the summary")
    add_deadlines(actions)


def _report_ticket(out: TextIO, quiet: bool) -> Callable[[TicketRebuild], None]:
    def report(done: TicketRebuild) -> None:
        if done.outcome != "in_sync" and not quiet:
            out.write(
                f"#{done.number} {done.ticket_id} {done.index}: {done.outcome.replace('_', ' ')}"
                f" ({done.written} entries to write, {done.deleted} to delete)\n"
                if done.outcome != "busy"
                else f"#{done.number} {done.ticket_id} {done.index}: busy (kept changing; run it again)\n"
            )
        if done.number % 100 == 0 and not quiet:
            out.write(f"... up to #{done.number}\n")
        out.flush()

    return report


def _summary(report: RebuildReport, out: TextIO) -> None:
    outcomes = ", ".join(
        f"{index} {outcome.replace('_', ' ')}: {n}" for (index, outcome), n in sorted(report.outcomes.items())
    )
    out.write(
        f"tickets #{report.first} to #{report.last}: {report.tickets} rebuilt, "
        f"{len(report.no_ticket)} numbers without a ticket; {outcomes or 'nothing to do'}\n"
    )
    if report.busy:
        numbers = " ".join(str(n) for n in report.busy)
        out.write(f"busy, run again (--from-number/--to-number): {numbers}\n")


def index_rebuild(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.to_number is not None and args.to_number < args.from_number:
        err.write("error: --to-number is before --from-number\n")
        return EXIT_BAD_INPUT
    chosen = [i for i in INDEXES if getattr(args, i)] or list(INDEXES)
    stores = DynamoRepository(args.table, args.region or aws_region())
    options = RebuildOptions(chosen, args.from_number, args.to_number, args.dry_run, args.view_shards)
    report = rebuild_indexes(stores, options, _report_ticket(out, args.quiet))
    _summary(report, out)
    return EXIT_FAILED if report.busy else EXIT_OK


def simulate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        err.write(f"error: {exc.render()}\n")
        return EXIT_BAD_INPUT
    if not args.template.is_file():
        err.write(f"error: template not found: {args.template}\n")
        return EXIT_BAD_INPUT
    if args.config is not None and not args.config.is_file():
        err.write(f"error: helpdesk config not found: {args.config}\n")
        return EXIT_BAD_INPUT
    try:
        secrets = load_secrets_file(args.secrets) if args.secrets is not None else {}
    except SecretsFileError as exc:
        err.write(f"error: {exc}\n")
        return EXIT_BAD_INPUT
    progress = Progress(out, quiet=args.quiet)
    if args.logs is not None:
        args.logs.parent.mkdir(parents=True, exist_ok=True)
    logs = args.logs.open("w", encoding="utf-8") if args.logs else None
    try:
        simulation = Simulation(
            scenario,
            Options(
                template=args.template.resolve(),
                config=args.config,
                parameters=dict(args.parameter),
                until=args.until,
                schedule_every=args.schedule_every,
                logs=logs,
                secrets=secrets,
            ),
            progress,
        )
        state = simulation.run()
    except ScenarioError as exc:
        err.write(f"error: {exc.render()}\n")
        return EXIT_BAD_INPUT
    except (ConfigError, ScheduleError, StreamConfigError, UnsupportedError) as exc:
        err.write(f"error: {exc}\n")
        return EXIT_BAD_INPUT
    except (SimulationError, PumpLimitError) as exc:
        err.write(f"error: the simulation failed: {exc}\n")
        return EXIT_FAILED
    finally:
        if logs is not None:
            logs.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(utf8_json(state, indent=2) + "\n", encoding="utf-8")
    digest_path = None
    if args.digest_dir is not None and simulation.digest is not None:
        args.digest_dir.mkdir(parents=True, exist_ok=True)
        digest_path = args.digest_dir / "digest.html"
        digest_path.write_text(simulation.digest.html, encoding="utf-8")
    progress.summary(state, simulation.function_stats(), str(args.out), digest_path and str(digest_path))
    if args.strict and state["counts"]["dead_letters"]:
        err.write(f"error: {state['counts']['dead_letters']} event(s) ended in dead letters (--strict)\n")
        return EXIT_FAILED
    return EXIT_OK


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Entry point of the `helpdesk` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "simulate":
        return simulate(args, out or sys.stdout, err or sys.stderr)
    if args.command == "index" and args.action == "deadlines":
        return index_deadlines(args, out or sys.stdout, err or sys.stderr)
    if args.command == "index":
        return index_rebuild(args, out or sys.stdout, err or sys.stderr)
    if args.command == "reports" and args.action == "seal":
        return reports_seal(args, out or sys.stdout, err or sys.stderr)
    if args.command == "reports":
        return reports_rebuild(args, out or sys.stdout, err or sys.stderr)
    parser.error(f"unknown command {args.command!r}")
    return EXIT_BAD_INPUT  # pragma: no cover


if __name__ == "__main__":
    raise SystemExit(main())
