"""The sweep as a dispatcher and workers (decision 118), on the in-memory fakes: the dispatcher
queues a task for each shard with work only, and a worker out of time hands its shard's rest on."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from shared.config import parse_config
from shared.dal.tickets import UNROUTED_SHARDS, sla_shard
from shared.logic.route_ticket import RoutingContext
from shared.logic.sla_sweep import SweepContext
from shared.logic.sweep_dispatch import WorkerContext, dispatch, run_task
from shared.models.sweep import SweepTask
from tests.fakes import MemoryRepository
from tests.unit.test_sla_sweep import CONFIG, Notes, minutes, routed

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class ListQueue:
    """A SweepQueue that keeps what it was given."""

    def __init__(self) -> None:
        self.tasks: list[SweepTask] = []

    def send(self, tasks: Sequence[SweepTask]) -> None:
        self.tasks += tasks


def worker(repo: MemoryRepository, queue: ListQueue) -> WorkerContext:
    config = parse_config(CONFIG)
    return WorkerContext(
        sweep=SweepContext(repository=repo, config=config, notifier=Notes()),
        routing=RoutingContext(repository=repo, config=config),
        queue=queue,
    )


def test_the_dispatcher_queues_a_task_only_for_each_shard_with_something_due() -> None:
    # Given two routed tickets warned at minute 30 (3 deadline shards in this config)
    repo, queue = MemoryRepository(), ListQueue()
    ctx = worker(repo, queue)
    for ticket_id in ("t1", "t2"):
        routed(repo, ctx.sweep, ticket_id)

    # When the schedule fires before anything is due, then at minute 30
    assert dispatch(ctx.sweep.config, repo, queue, minutes(29)) == 0
    count = dispatch(ctx.sweep.config, repo, queue, minutes(30))

    # Then one task per shard of theirs, none for the empty shards or the unrouted index
    shards = sorted({sla_shard(t, 3) for t in ("t1", "t2")})
    assert count == len(shards)
    assert [(t.kind, t.shard) for t in queue.tasks] == [("due", s) for s in shards]
    assert UNROUTED_SHARDS > 0


def test_a_worker_out_of_time_hands_the_rest_of_its_shard_on_as_the_next_part() -> None:
    # Given six tickets warned at minute 30, and a worker reading one entry a page
    repo, queue = MemoryRepository(), ListQueue()
    ctx = worker(repo, queue)
    ctx.page = 1
    ids = [f"t{i}" for i in range(6)]
    for ticket_id in ids:
        routed(repo, ctx.sweep, ticket_id)
    shard = max(range(3), key=lambda s: sum(sla_shard(t, 3) == s for t in ids))
    in_shard = sum(sla_shard(t, 3) == shard for t in ids)
    assert in_shard >= 2
    task = SweepTask(kind="due", shard=shard, at=minutes(30))

    # When its budget is spent after the first page
    outcome = run_task(task, ctx, minutes(30), out_of_time=lambda: True)

    # Then it handled one ticket and queued the task's next part, which handles the rest
    assert (outcome.result.read, outcome.finished) == (1, False)
    assert queue.tasks == [task.model_copy(update={"part": 1})]
    rest = run_task(queue.tasks[0], ctx, minutes(30), out_of_time=lambda: False)
    assert (rest.result.read, rest.finished) == (in_shard - 1, True)
    assert len(queue.tasks) == 1
