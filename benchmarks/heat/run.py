"""One key-heat run: the load replayed through the simulator with the recorders on.

`simulator.runner.Simulation` runs the generated scenario (the template deployed on moto, the real
handlers, the stream pumped through each mapping's FilterCriteria and BatchSize, the schedules fired
on their grid, SQS consumers pumped); three recorders watch it: capacity units at the DynamoDB
client (`recorder.Recorder`), every invocation with its simulated second and duration, and the
records each stream mapping was handed per second.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest import mock

from benchmarks.heat.load import Load, LoadShape, config_yaml, generate
from benchmarks.heat.recorder import Recorder
from shared import clock
from simulator.clock import SimClock
from simulator.lambda_runtime import Invocation, LambdaRuntime
from simulator.progress import Progress
from simulator.resources import Deployment, FunctionSpec
from simulator.runner import DEFAULT_TEMPLATE, Options, Simulation
from simulator.scenario import Step, load_scenario
from simulator.streams import Consumer, StreamPump
from simulator.template import ACCOUNT_ID, REGION


@dataclass
class InvocationRecord:
    function: str
    source: str
    second: int
    duration_ms: float
    ok: bool
    counts: dict[str, int] = field(default_factory=dict)
    """The integer counts of a dict response (a sweep worker's `read` and `routed`)."""


@dataclass
class MappingSpec:
    """A stream event source mapping as the template sets it."""

    label: str
    function: str
    batch_size: int
    parallelization: int


@dataclass
class Measurements:
    """Everything a run measured, for the analysis."""

    load: Load
    recorder: Recorder
    invocations: list[InvocationRecord]
    stream_records: dict[tuple[str, int], int]
    """Records handed to each mapping (by label) per simulated second."""
    mappings: list[MappingSpec]
    reserved_concurrency: dict[str, int]
    http_apis: dict[str, dict[str, Any]]
    """Per HTTP API: `functions` behind it, `rate` and `burst` (DefaultRouteSettings)."""
    sla_shards: int
    memory_mb: dict[str, int]
    tables: dict[str, str]
    """Logical id of each table, by its physical name."""
    state_counts: dict[str, Any]
    dead_letters: int
    failed_inputs: int
    refused_agent_requests: int
    tickets_created: int
    start_second: int
    end_second: int
    wall_seconds: float
    scheduled_runs: int = 0
    notes: list[str] = field(default_factory=list)


class HeatSimulation(Simulation):
    """The simulation, keeping what the analysis needs from inside the run."""

    deployment: Deployment
    kept: dict[str, Any]
    recorder: Recorder | None = None

    def _state(self, deployment: Deployment) -> dict[str, Any]:
        """The final state, read back without counting: the simulator's reads are not the load."""
        if self.recorder is not None:
            self.recorder.paused = True
        return super()._state(deployment)

    def _run(self, clock_: SimClock, steps: list[Step]) -> dict[str, Any]:
        state = super()._run(clock_, steps)
        self.kept = {"mappings": _mappings(self.pump.consumers), "routes": list(self.http.routes)}
        return state


def _mappings(consumers: list[Consumer]) -> list[MappingSpec]:
    specs = []
    for consumer in consumers:
        trigger = next(t for t in consumer.function.triggers if t.name == consumer.trigger)
        specs.append(
            MappingSpec(
                consumer.label,
                consumer.function.logical_id,
                consumer.batch_size,
                int(trigger.properties.get("ParallelizationFactor", 1)),
            )
        )
    return specs


@contextlib.contextmanager
def _watch_runtime(
    invocations: list[InvocationRecord], records: dict[tuple[str, int], int], paused: Callable[[], bool]
) -> Iterator[None]:
    original_invoke = LambdaRuntime.invoke
    original_deliver = StreamPump._deliver
    depth = [0]

    def invoke(runtime: LambdaRuntime, spec: FunctionSpec, event: Any, source: str) -> Invocation:
        result = original_invoke(runtime, spec, event, source)
        if paused():
            return result
        second = int(result.at.timestamp())
        answer = result.response if isinstance(result.response, dict) else {}
        counts = {k: v for k, v in answer.items() if isinstance(v, int) and not isinstance(v, bool)}
        invocations.append(
            InvocationRecord(spec.logical_id, source, second, result.duration_ms, result.ok, counts)
        )
        return result

    def deliver(pump: StreamPump, consumer: Consumer, batch: list[dict[str, Any]]) -> None:
        if depth[0] == 0:  # a bisected batch is delivered again in halves: count its records once
            records[(consumer.label, int(pump.now().timestamp()))] += len(batch)
        depth[0] += 1
        try:
            original_deliver(pump, consumer, batch)
        finally:
            depth[0] -= 1

    with (
        mock.patch.object(LambdaRuntime, "invoke", invoke),
        mock.patch.object(StreamPump, "_deliver", deliver),
    ):
        yield


def _backend() -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[ACCOUNT_ID][REGION]


def _reserved(template: dict[str, Any]) -> dict[str, int]:
    found = {}
    for name, resource in template.items():
        value = (resource.get("Properties") or {}).get("ReservedConcurrentExecutions")
        if isinstance(value, int):
            found[name] = value
    return found


def run(shape: LoadShape, template: Path = DEFAULT_TEMPLATE, workdir: Path | None = None) -> Measurements:
    """Generate the load of `shape`, replay it, and return what was measured."""
    load = generate(shape)
    with contextlib.ExitStack() as stack:
        here = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="heat-")))
        config = here / "helpdesk.yaml"
        config.write_text(config_yaml(shape), encoding="utf-8")
        scenario = load_scenario(load.write(here / "scenario.jsonl"))
        simulation = HeatSimulation(
            scenario, Options(template=template, config=config), Progress(io.StringIO(), quiet=True)
        )
        recorder = Recorder(clock.now, _backend)
        simulation.recorder = recorder
        invocations: list[InvocationRecord] = []
        records: dict[tuple[str, int], int] = defaultdict(int)
        started = time.monotonic()
        with recorder.install(), _watch_runtime(invocations, records, lambda: recorder.paused):
            state = simulation.run()
        wall = time.monotonic() - started
    deployment = simulation.deployment
    resources = deployment.stack.resources
    apis: dict[str, dict[str, Any]] = {}
    for route in simulation.kept["routes"]:
        settings = (resources.get(route.api, {}).get("Properties") or {}).get("DefaultRouteSettings") or {}
        entry = apis.setdefault(
            route.api,
            {
                "functions": set(),
                "rate": settings.get("ThrottlingRateLimit"),
                "burst": settings.get("ThrottlingBurstLimit"),
            },
        )
        entry["functions"].add(route.function.logical_id)
    assert simulation.config is not None
    start = _second(scenario.steps[0].at)
    return Measurements(
        load=load,
        recorder=recorder,
        invocations=invocations,
        stream_records=dict(records),
        mappings=simulation.kept["mappings"],
        reserved_concurrency=_reserved(resources),
        http_apis=apis,
        sla_shards=simulation.config.sla.sweep_shards,
        memory_mb={name: spec.memory_size for name, spec in deployment.functions.items()},
        tables={deployment.name(t): t for t in deployment.stack.of_type("AWS::DynamoDB::Table")},
        state_counts=state["counts"],
        dead_letters=int(state["counts"]["dead_letters"]),
        failed_inputs=sum(1 for i in state["inputs"] if i["outcome"] == "failed"),
        refused_agent_requests=sum(1 for r in state["api_responses"] if not 200 <= r["status"] < 300),
        tickets_created=int(state["counts"]["tickets"]["total"]),
        start_second=start,
        end_second=_second(simulation.clock.now()),
        wall_seconds=wall,
        scheduled_runs=len(state["scheduled_runs"]),
    )


def _second(at: datetime) -> int:
    return int(at.timestamp())
