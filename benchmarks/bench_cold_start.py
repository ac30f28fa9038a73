"""Cold start: importing each handler module in a fresh process, against a boto3 floor.

The floor is what any DynamoDB-backed Python function pays before its own code runs:
`import boto3; boto3.client("dynamodb")`. Each handler import is timed in its own fresh
interpreter, interleaved with floor runs so machine noise hits both alike, and reported as
ratios of medians against the target: wall-clock time, and the process's CPU time, which a
busy machine disturbs less. Handlers create their AWS clients on first use, so
the import is the whole cold-start cost of our code.

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
    ),
    Handler("RouteTicketFunction", "functions/route_ticket", "app"),
    Handler(
        "AgentApiFunction",
        "functions/agent_api",
        "app",
        {"AGENT_ID_CLAIM": "custom:agent_id", "SUPERVISOR_GROUP": "supervisors"},
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


class ImportFailedError(Exception):
    """The timed code failed in the fresh interpreter (its last error line is the message)."""


@dataclass
class Runner:
    python: str
    build_dir: Path | None

    def paths(self, handler: Handler | None) -> list[str]:
        if self.build_dir is None:
            # the dev venv: `shared` and boto3 come from site-packages (shared is installed editable)
            return [str(ROOT / handler.code_dir)] if handler else []
        layer = self.build_dir / "SharedLayer" / "python"
        code = [str(self.build_dir / handler.logical_id)] if handler else []
        return [*code, str(layer)]

    def command(self, paths: list[str], code: str) -> list[str]:
        isolation = ["-I", "-S"] if self.build_dir is not None else ["-I"]
        return [self.python, *isolation, "-c", CHILD, json.dumps(paths), code]

    def time(self, handler: Handler | None, tracing: bool) -> Timing:
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
        code = f"import {handler.module}" if handler else FLOOR
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
        wall, cpu = completed.stdout.strip().splitlines()[-1].split()
        return Timing(float(wall), float(cpu))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Cold-start import time of each handler vs a boto3 floor.")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--build-dir", type=Path, default=None, help="measure a sam build output instead")
    args = parser.parse_args(argv)
    runner = Runner(args.python, args.build_dir.resolve() if args.build_dir else None)

    where = f"built artifacts in {args.build_dir}" if args.build_dir else "development sources"
    print(f"cold start: {where}, python {args.python}, median of {args.runs} fresh processes each")
    # One untimed round first: it writes bytecode caches (so every timed run starts alike) and
    # finds combinations that do not import at all, which are reported instead of timed.
    runner.time(None, tracing=False)
    cases = [(handler, tracing) for handler in HANDLERS for tracing in (False, True)]
    failures: dict[tuple[str, bool], str] = {}
    for handler, tracing in cases:
        try:
            runner.time(handler, tracing)
        except ImportFailedError as exc:
            failures[(handler.logical_id, tracing)] = str(exc)

    floor: list[Timing] = []
    samples: dict[tuple[str, bool], list[Timing]] = {}
    for _ in range(args.runs):
        floor.append(runner.time(None, tracing=False))
        for handler, tracing in cases:
            if (handler.logical_id, tracing) not in failures:
                samples.setdefault((handler.logical_id, tracing), []).append(runner.time(handler, tracing))

    base = medians_ms(floor)
    print(f"  {'':48s}{'wall':>9s}{'CPU':>9s}  ratio to the floor (wall / CPU)")
    print(f"  {'floor: import boto3; boto3.client(dynamodb)':48s}{base.wall:7.1f}ms{base.cpu:7.1f}ms")
    for handler, tracing in cases:
        label = f"{handler.logical_id} ({'tracing on' if tracing else 'tracing off'})"
        if (handler.logical_id, tracing) in failures:
            print(f"  {label:48s} FAILED: {failures[handler.logical_id, tracing]}")
            continue
        median = medians_ms(samples[(handler.logical_id, tracing)])
        wall_ratio, cpu_ratio = median.wall / base.wall, median.cpu / base.cpu
        verdict = "within" if max(wall_ratio, cpu_ratio) <= TARGET_RATIO else "over"
        target = "for reference" if tracing else f"{verdict} target {TARGET_RATIO}x"
        ratios = f"{wall_ratio:.2f}x / {cpu_ratio:.2f}x"
        print(f"  {label:48s}{median.wall:7.1f}ms{median.cpu:7.1f}ms  {ratios}  ({target})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
