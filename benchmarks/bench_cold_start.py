"""Cold start: importing each handler module in a fresh process, against a boto3 floor.

The floor is what any DynamoDB-backed Python function pays before its own code runs:
`import boto3; boto3.client("dynamodb")`. Each handler import is timed in its own fresh
interpreter, interleaved with floor runs so machine noise hits both alike, and reported as
ratios of medians against the target: wall-clock time, and the process's CPU time, which a
busy machine disturbs less. Handlers create their AWS clients on first use, so
the import is the whole cold-start cost of our code.

The libraries every function is built on (pydantic, Powertools, PynamoDB) are timed the same way,
alone and together on top of the floor, so the report shows how much of each handler's ratio the
stack takes before our own code runs.

By default this runs the development venv's Python with the repository's sources. With
`--build-dir .aws-sam/host-build --python python3.12` it runs the built artifacts instead, in a
clean `-I -S` interpreter with only the function and layer directories on the path (as
`make check-handlers` does; the layer must be built for this machine's architecture).

Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 1.3
REGION = "us-east-1"


@dataclass(frozen=True)
class Handler:
    """A function to measure: its built logical id, code directory, module and template-like env."""

    logical_id: str
    code_dir: str
    module: str
    environment: dict[str, str] = field(default_factory=dict)
    snapstart: bool = False
    """Offers SnapStart (template parameter `SnapStart`): its before-snapshot hook is timed too."""


COMMON_ENV = {
    "TABLE_NAME": "helpdesk-tickets",
    "POWERTOOLS_SERVICE_NAME": "helpdesk",
    "POWERTOOLS_METRICS_NAMESPACE": "Helpdesk",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "POWERTOOLS_TRACE_DISABLED": "true",
}

# One line per function: later functions are added here.
HANDLERS = [
    Handler(
        "InboundEmailFunction",
        "functions/inbound_email",
        "app",
        {
            "INBOUND_BUCKET": "helpdesk-inboundmailbucket",
            "SUPPORT_DOMAIN": "support.example.com",
            "SUPPORT_ADDRESSES": "support@support.example.com",
        },
    ),
    Handler("InboundSmsFunction", "functions/inbound_sms", "app"),
    Handler(
        "SocialWebhookFunction",
        "functions/social_webhook",
        "app",
        {"WEBHOOK_SECRET_NAME": "helpdesk-webhooks"},
        snapstart=True,
    ),
    Handler("RouteTicketFunction", "functions/route_ticket", "app"),
    Handler(
        "AgentApiFunction",
        "functions/agent_api",
        "app",
        {"AGENT_ID_CLAIM": "custom:agent_id", "SUPERVISOR_GROUP": "supervisors"},
        snapstart=True,
    ),
    Handler(
        "SlaSweeperFunction",
        "functions/sla_sweeper",
        "app",
        {"ESCALATION_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:helpdesk-escalationtopic"},
    ),
    Handler(
        "AutoFollowupFunction",
        "functions/auto_followup",
        "app",
        {
            "SUPPORT_DOMAIN": "support.example.com",
            "SUPPORT_ADDRESSES": "support@support.example.com",
            "OUTBOUND_SECRET_NAME": "helpdesk-webhooks",
        },
    ),
]

FLOOR = "import boto3\nboto3.client('dynamodb')"

# The libraries every function is built on, each imported alone on top of the floor, then together:
# what the stack costs before any of our code runs (reported, not a target).
_MODEL = "from pydantic import BaseModel\nclass M(BaseModel):\n    x: int"
_POWERTOOLS = (
    "from aws_lambda_powertools import Logger, Metrics\n"
    "from aws_lambda_powertools.utilities.batch import BatchProcessor"
)
_PYNAMODB = "import pynamodb.connection, pynamodb.models, pynamodb.transactions"
LIBRARIES = [
    ("+ pydantic (one model)", f"{FLOOR}\n{_MODEL}"),
    ("+ Powertools (Logger, Metrics, batch)", f"{FLOOR}\n{_POWERTOOLS}"),
    ("+ PynamoDB", f"{FLOOR}\n{_PYNAMODB}"),
    ("+ all three: the stack alone", f"{FLOOR}\n{_MODEL}\n{_POWERTOOLS}\n{_PYNAMODB}"),
]

# Runs in the fresh interpreter: argv[1] = JSON path entries to prepend, argv[2] = code to time.
CHILD = """
import json, sys, time
sys.path[:0] = json.loads(sys.argv[1])
wall, cpu = time.perf_counter(), time.process_time()
exec(sys.argv[2])
print(time.perf_counter() - wall, time.process_time() - cpu)
"""


@dataclass(frozen=True)
class Timing:
    """Seconds one timed import took: wall clock, and CPU time of that process."""

    wall: float
    cpu: float


def medians_ms(timings: list[Timing]) -> Timing:
    return Timing(
        statistics.median(t.wall for t in timings) * 1000, statistics.median(t.cpu for t in timings) * 1000
    )


@dataclass
class Report:
    """Prints each case against the floor: milliseconds (wall and CPU), or instructions."""

    base: Timing
    instructions: bool

    def header(self) -> None:
        if self.instructions:
            print(f"  {'':48s}{'instructions':>14s}  ratio to the floor")
        else:
            print(f"  {'':48s}{'wall':>9s}{'CPU':>9s}  ratio to the floor (wall / CPU)")

    def line(self, label: str, median: Timing, role: str | None) -> None:
        wall_ratio, cpu_ratio = median.wall / self.base.wall, median.cpu / self.base.cpu
        if role == "target":
            verdict = "within" if max(wall_ratio, cpu_ratio) <= TARGET_RATIO else "over"
            note = f"  ({verdict} target {TARGET_RATIO}x)"
        elif role == "reference":
            note = "  (for reference)"
        else:
            note = f"  ({role})" if role else ""
        if self.instructions:  # medians_ms scaled the counts by 1,000: shown in millions
            ratio = f"  {cpu_ratio:.2f}x" if role else ""
            print(f"  {label:48s}{median.cpu / 1e9:10,.0f} M{ratio}{note}")
            return
        ratios = f"  {wall_ratio:.2f}x / {cpu_ratio:.2f}x" if role else ""
        print(f"  {label:48s}{median.wall:7.1f}ms{median.cpu:7.1f}ms{ratios}{note}")


@dataclass(frozen=True)
class Case:
    """One measured line: a handler imported with tracing on or off, or `code` run instead."""

    label: str
    handler: Handler
    tracing: bool
    code: str | None
    role: str = "with SnapStart: in the snapshot"


class ImportFailedError(Exception):
    """The timed code failed in the fresh interpreter (its last error line is the message)."""


@dataclass
class Runner:
    python: str
    build_dir: Path | None
    instructions: bool = False
    """Count the instructions the import executes under valgrind's callgrind instead of timing it:
    the same count for the same code, however busy the machine is."""

    def paths(self, handler: Handler | None) -> list[str]:
        if self.build_dir is None:
            # the dev venv: boto3 from site-packages, `shared` from this checkout (ahead of the
            # editable install, which may point at another worktree)
            return [str(ROOT / handler.code_dir), str(ROOT)] if handler else []
        layer = self.build_dir / "SharedLayer" / "python"
        code = [str(self.build_dir / handler.logical_id)] if handler else []
        return [*code, str(layer)]

    def command(self, paths: list[str], code: str) -> list[str]:
        isolation = ["-I", "-S"] if self.build_dir is not None else ["-I"]
        counting = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
        return [
            *(counting if self.instructions else []),
            self.python,
            *isolation,
            "-c",
            CHILD,
            json.dumps(paths),
            code,
        ]

    def time(self, handler: Handler | None, tracing: bool, code: str | None = None) -> Timing:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
            **COMMON_ENV,
        }
        if handler is not None:
            env.update(handler.environment)
        env["POWERTOOLS_TRACE_DISABLED"] = "false" if tracing else "true"
        if self.instructions:
            env["PYTHONHASHSEED"] = "0"  # the same set and dict layouts each run: the same count
        code = code or (f"import {handler.module}" if handler else FLOOR)
        cwd = ROOT / handler.code_dir if handler else ROOT
        completed = subprocess.run(
            self.command(self.paths(handler), code),
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            lines = completed.stderr.strip().splitlines()
            raise ImportFailedError(lines[-1] if lines else f"exit code {completed.returncode}")
        if self.instructions:
            # the whole interpreter's run, start-up included, as in the floor: differences are imports
            count = re.search(r"Collected : (\d+)", completed.stderr)
            if count is None:
                raise ImportFailedError("callgrind printed no instruction count")
            return Timing(float(count.group(1)), float(count.group(1)))
        wall, cpu = completed.stdout.strip().splitlines()[-1].split()
        return Timing(float(wall), float(cpu))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Cold-start import time of each handler vs a boto3 floor.")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--build-dir", type=Path, default=None, help="measure a sam build output instead")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions under valgrind (callgrind), once per case, instead of timing",
    )
    parser.add_argument(
        "--only",
        type=lambda value: set(value.split(",")),
        default=set(),
        help="comma-separated logical ids of the handlers to measure (e.g. AgentApiFunction); all by default",
    )
    args = parser.parse_args(argv)
    if args.only - {h.logical_id for h in HANDLERS}:
        parser.error(f"--only: unknown handlers {sorted(args.only - {h.logical_id for h in HANDLERS})}")
    if args.instructions and shutil.which("valgrind") is None:
        parser.error("--instructions needs valgrind on the PATH")
    runner = Runner(args.python, args.build_dir.resolve() if args.build_dir else None, args.instructions)
    if args.instructions:
        args.runs = 1  # a count does not vary from run to run

    where = f"built artifacts in {args.build_dir}" if args.build_dir else "development sources"
    measure = (
        "instructions counted by callgrind, one fresh process each"
        if args.instructions
        else f"median of {args.runs} fresh processes each"
    )
    print(f"cold start: {where}, python {args.python}, {measure}")
    # One untimed round first (never under valgrind: it is slow): it writes bytecode caches (so every
    # measured run starts alike) and finds combinations that do not import at all, which are reported
    # instead of measured.
    warm_up = Runner(runner.python, runner.build_dir)
    warm_up.time(None, tracing=False)
    for _, code in LIBRARIES:
        warm_up.time(None, tracing=False, code=code)
    chosen = [h for h in HANDLERS if not args.only or h.logical_id in args.only]
    cases = [
        Case(f"{h.logical_id} ({'tracing on' if tracing else 'tracing off'})", h, tracing, None, role)
        for h in chosen
        for tracing, role in ((False, "target"), (True, "reference"))
    ]
    # With SnapStart, the init phase also runs the before-snapshot hook, once per published version:
    # what the snapshot then holds, and what an environment without SnapStart pays on its first request.
    cases += [
        Case(
            f"{h.logical_id} + before-snapshot hook",
            h,
            False,
            f"import {h.module}\n{h.module}._before_snapshot()",
        )
        for h in chosen
        if h.snapstart
    ]
    failures: dict[str, str] = {}
    for case in cases:
        try:
            warm_up.time(case.handler, case.tracing, case.code)
        except ImportFailedError as exc:
            failures[case.label] = str(exc)

    floor: list[Timing] = []
    libraries: dict[str, list[Timing]] = {}
    samples: dict[str, list[Timing]] = {}
    for _ in range(args.runs):
        floor.append(runner.time(None, tracing=False))
        for label, code in LIBRARIES:
            libraries.setdefault(label, []).append(runner.time(None, tracing=False, code=code))
        for case in cases:
            if case.label not in failures:
                samples.setdefault(case.label, []).append(runner.time(case.handler, case.tracing, case.code))

    report = Report(medians_ms(floor), args.instructions)
    report.header()
    report.line("floor: import boto3; boto3.client(dynamodb)", report.base, None)
    for label, _ in LIBRARIES:
        report.line(label, medians_ms(libraries[label]), "libraries only")
    for case in cases:
        if case.label in failures:
            print(f"  {case.label:48s} FAILED: {failures[case.label]}")
            continue
        report.line(case.label, medians_ms(samples[case.label]), case.role)
    return 0


if __name__ == "__main__":
    sys.exit(main())
