"""The SLA sweep as a dispatcher and workers (decision 118): each scheduled run hands one task a
shard of the deadline and unrouted indexes to the sweep queue; a worker pages its shard until it
is empty, or until its time budget is spent, and then hands the rest on as the task's next part."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.channels.sweep_queue import SweepQueue
from shared.dal.deadlines import DeadlineIndex
from shared.dal.tickets import SLA_DUE, UNROUTED, UNROUTED_SHARDS
from shared.logic.route_ticket import RouteOutcome, RoutingContext, drain_team, route_unrouted
from shared.logic.sla_sweep import PAGE, SweepContext, SweepResult, sweep_shard
from shared.models.config import HelpdeskConfig
from shared.models.sweep import SweepTask


def sweep_tasks(config: HelpdeskConfig, index: DeadlineIndex, at: datetime) -> list[SweepTask]:
    """One task per shard of the deadline index (`sla.sweep_shards`) and of the unrouted index
    that holds something to do by `at` (a one-key probe each: empty shards cost no invocation)."""
    stuck = at - timedelta(minutes=config.routing.unrouted_after_minutes)
    return [
        SweepTask(kind="due", shard=shard, at=at)
        for shard in range(config.sla.sweep_shards)
        if index.has_entries(SLA_DUE, shard, at)
    ] + [
        SweepTask(kind="unrouted", shard=shard, at=at)
        for shard in range(UNROUTED_SHARDS)
        if index.has_entries(UNROUTED, shard, stuck)
    ]


def dispatch(config: HelpdeskConfig, index: DeadlineIndex, queue: SweepQueue, at: datetime) -> int:
    """Queue this run's tasks; how many."""
    tasks = sweep_tasks(config, index, at)
    queue.send(tasks)
    return len(tasks)


@dataclass
class TaskOutcome:
    result: SweepResult = field(default_factory=SweepResult)
    routed: list[RouteOutcome] = field(default_factory=list)
    finished: bool = True
    """The shard had nothing left up to now; False: the task's next part was queued."""


@dataclass
class WorkerContext:
    sweep: SweepContext
    routing: RoutingContext
    queue: SweepQueue
    page: int = PAGE
    """Index entries read at once (one Query page, one BatchGetItem)."""


def run_task(
    task: SweepTask, ctx: WorkerContext, now: datetime, out_of_time: Callable[[], bool]
) -> TaskOutcome:
    """Sweep the task's shard up to `now`; a shard left unfinished goes back to the queue as the
    task's next part. A routing error fails the task: the queue retries it from the start of its
    shard, then dead-letters it (an alarm)."""
    outcome = TaskOutcome()
    if task.kind == "due":
        outcome.result, outcome.finished = sweep_shard(ctx.sweep, task.shard, now, out_of_time, ctx.page)
        # tickets escalated to another team wait in its queue: give them to free agents now
        for team in sorted(set(outcome.result.reassigned_teams)):
            drain_team(team, ctx.routing, now)
    else:
        outcome.routed, outcome.finished = route_unrouted(ctx.routing, now, task.shard, out_of_time, ctx.page)
    if not outcome.finished:
        ctx.queue.send([task.model_copy(update={"part": task.part + 1})])
    return outcome
