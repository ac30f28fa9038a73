"""Routing under load on moto, and the CPU cost of routing rules.

1. **A burst.** 1,000 new tickets arrive at once for 50 agents of capacity 3 (one team,
   `least_loaded`, everyone online). Several worker threads route them with the real use case,
   `shared.logic.route_ticket.route_new_ticket`, as concurrent stream batches would. Then the
   table is read back: exactly 150 tickets must be assigned and 850 queued, no agent may hold more
   than 3, and every ticket is either assigned or waiting in the queue. DynamoDB requests are
   counted per routing decision (target: at most 4), for assigned and queued tickets apart.

   The table comes from template.yaml (simulator.resources) inside `moto.mock_aws`. DynamoDB
   applies each request atomically; moto's in-memory backend is not thread-safe, so every request
   holds one lock (as tests/integration/test_route_ticket.py does). Routers still interleave
   between their reads and their conditional writes, so they race for the same agents exactly as
   they would against DynamoDB, and lose claims. moto's transactions are made to roll back item by
   item (`item_level_rollback`, benchmarks/_offline.py): its own rollback copies the whole table for
   every item, which would make the burst take hours. Wall time is reported, but it measures moto
   behind that lock more than it measures routing; the router's own CPU per decision, outside AWS
   calls, is reported apart.

2. **Rules.** `time.process_time` of `shared.logic.routing.match_rule` over the same ticket facts
   with 200 generated rules (most tickets match late or not at all) against a baseline of the same
   loop with 1 rule, in the same run.

Correctness problems in the burst (over-assignment, a ticket neither assigned nor queued) exit
with status 1; timings and counts are printed, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
AGENTS = 50
CAPACITY = 3
TICKETS = 1_000
REQUEST_TARGET = 4
RULES = 200
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday inside the default calendar's hours

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._offline import item_level_rollback, use_offline_aws  # noqa: E402

use_offline_aws()  # before anything reads the environment

from botocore.client import BaseClient  # noqa: E402
from moto import mock_aws  # noqa: E402

from shared.config import parse_config  # noqa: E402
from shared.ids import new_id  # noqa: E402
from shared.logic.routing import TicketFacts, match_rule  # noqa: E402
from shared.models.ticket import Channel, Customer, Direction, Message, Ticket, TicketEvent  # noqa: E402
from simulator.resources import deploy  # noqa: E402

if TYPE_CHECKING:
    from shared.dal.repository import DynamoRepository
    from shared.logic.route_ticket import RouteOutcome
    from shared.models.config import HelpdeskConfig


def burst_config() -> HelpdeskConfig:
    """One least-loaded team of 50 agents, each of capacity 3 in every channel group."""
    agents = "\n".join(
        f"  - {{id: agent{n:02d}, teams: [support], default_presence: offline,"
        f" capacity: {{email: {CAPACITY}, sms: {CAPACITY}, social: {CAPACITY}}}}}"
        for n in range(AGENTS)
    )
    return parse_config(
        f"teams:\n  - {{id: support, strategy: least_loaded}}\nagents:\n{agents}\n"
        "routing:\n  default_team: support\n",
        "bench-routing.yaml",
    )


# -- the burst --------------------------------------------------------------------------------------
@dataclass
class Requests:
    """DynamoDB requests (by operation) and the ones DynamoDB refused (a failed condition)."""

    calls: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    aws_cpu: float = 0.0
    """CPU seconds this thread spent inside AWS calls (botocore, and moto answering them)."""

    def add(self, other: Requests) -> None:
        self.calls.update(other.calls)
        self.refused.update(other.refused)
        self.aws_cpu += other.aws_cpu

    @property
    def total(self) -> int:
        return sum(self.calls.values())


class AtomicCounter:
    """Makes every botocore request atomic (one lock), and counts it for the calling thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.local = threading.local()

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        original = BaseClient.__dict__["_make_api_call"]
        local, lock = self.local, self.lock

        def atomic(client: Any, operation_name: str, api_params: Any) -> Any:
            requests: Requests | None = getattr(local, "requests", None)
            if requests is not None and client.meta.service_model.service_name == "dynamodb":
                requests.calls[operation_name] += 1
            with lock:
                started = time.thread_time()
                try:
                    return original(client, operation_name, api_params)
                except Exception:
                    if requests is not None:
                        requests.refused[operation_name] += 1
                    raise
                finally:
                    if requests is not None:
                        requests.aws_cpu += time.thread_time() - started

        with mock.patch.object(BaseClient, "_make_api_call", atomic):
            yield

    @contextlib.contextmanager
    def counting(self) -> Iterator[Requests]:
        """Count this thread's requests while the block runs."""
        self.local.requests = Requests()
        try:
            yield self.local.requests
        finally:
            self.local.requests = None


def new_tickets(repository: DynamoRepository, count: int, first: int = 1) -> list[Ticket]:
    """`count` new email tickets of distinct customers, written as ingestion writes them."""
    from shared.dal.pointers import Pointer
    from shared.dal.tickets import NewTicketWrite

    tickets = []
    for number in range(first, first + count):
        at = NOW - timedelta(seconds=count - number)
        customer = Customer(id=new_id("cus", at), name=f"Customer {number}", created_at=at)
        ticket_id = new_id("tkt", at)
        text = f"Order {number} has not arrived yet, can you check where it is?"
        message = Message(
            id=new_id("msg", at),
            ticket_id=ticket_id,
            direction=Direction.INBOUND,
            channel=Channel.EMAIL,
            at=at,
            author=f"customer{number}@customer.example",
            text=text,
        )
        ticket = Ticket(
            id=ticket_id,
            number=number,
            channel=Channel.EMAIL,
            subject=f"Where is order {number}?",
            customer_id=customer.id,
            inbox="support@support.example.com",
            preview=text,
            created_at=at,
            updated_at=at,
            last_inbound_at=at,
        )
        repository.create_ticket(
            NewTicketWrite(
                ticket=ticket,
                message=message,
                events=[TicketEvent(at=at, type="created", data={"message_id": message.id})],
                pointers=[Pointer("number", str(number), ticket_id=ticket_id)],
                new_customer=customer,
            )
        )
        tickets.append(ticket)
    return tickets


@dataclass
class Decision:
    outcome: RouteOutcome
    requests: Requests
    cpu: float
    """CPU seconds of the routing thread for this decision, AWS calls included."""


def burst(workers: int) -> bool:
    """Route TICKETS new tickets with `workers` threads; print the figures; True if all checks hold."""
    from shared.dal.repository import DynamoRepository
    from shared.logic.route_ticket import RoutingContext, route_new_ticket

    config = burst_config()
    with mock_aws(), item_level_rollback():
        deployment = deploy(ROOT / "template.yaml")
        repository = DynamoRepository(deployment.name("TicketsTable"), REGION)
        for agent in config.agents:
            repository.set_presence(agent.id, "online", list(agent.teams), NOW)
        started = time.perf_counter()
        tickets = new_tickets(repository, TICKETS)
        created_in = time.perf_counter() - started
        context = RoutingContext(repository=repository, config=config)
        counter = AtomicCounter()

        def route(ticket: Ticket) -> Decision:
            with counter.counting() as requests:
                started = time.thread_time()
                outcome = route_new_ticket(ticket, context, NOW)
                cpu = time.thread_time() - started
            return Decision(outcome, requests, cpu)

        with counter.installed(), ThreadPoolExecutor(max_workers=workers) as pool:
            wall, cpu = time.perf_counter(), time.process_time()
            decisions = list(pool.map(route, tickets))
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu

        print(
            f"burst: {TICKETS:,} new email tickets, {AGENTS} agents of capacity {CAPACITY} online"
            f" (one team, least_loaded), {workers} router threads, moto"
        )
        print(f"  tickets written first: {created_in:.1f} s ({created_in / TICKETS * 1000:.1f} ms each)")
        own = sum(d.cpu - d.requests.aws_cpu for d in decisions)
        print(
            f"  routing wall time: {wall:.1f} s ({TICKETS / wall:.0f} decisions/s; moto answers one"
            f" request at a time), process CPU {cpu:.1f} s"
        )
        print(
            f"  router CPU outside AWS calls: {own / TICKETS * 1000:.2f} ms per decision"
            " (rules, ranking, PynamoDB items; botocore and moto excluded)"
        )
        report_requests(decisions)
        return verify(repository, config, decisions)


def report_requests(decisions: list[Decision]) -> None:
    by_outcome: dict[str, list[Decision]] = {}
    for decision in decisions:
        by_outcome.setdefault(decision.outcome.outcome, []).append(decision)
    everything = Requests()
    for decision in decisions:
        everything.add(decision.requests)
    per = everything.total / len(decisions)
    verdict = "within" if per <= REQUEST_TARGET else "OVER"
    print(
        f"  DynamoDB requests per routing decision: {per:.2f}"
        f" ({everything.total:,} for {len(decisions):,}; {verdict} target {REQUEST_TARGET})"
    )
    for outcome, group in sorted(by_outcome.items()):
        requests = Requests()
        for decision in group:
            requests.add(decision.requests)
        counts = sorted(d.requests.total for d in group)
        ops = ", ".join(f"{op} {n / len(group):.2f}" for op, n in sorted(requests.calls.items()))
        print(
            f"    {outcome:9s} {len(group):5,} decisions: {requests.total / len(group):.2f} requests each"
            f" (median {counts[len(counts) // 2]}, max {counts[-1]}; per decision: {ops})"
        )
    lost = everything.refused.get("TransactWriteItems", 0)
    print(
        f"    claims lost to another router (TransactWriteItems refused): {lost:,}"
        f" ({lost / len(decisions):.2f} per decision)"
    )


def verify(repository: DynamoRepository, config: HelpdeskConfig, decisions: list[Decision]) -> bool:
    """Read the table back and check the burst's invariants; print each check."""
    outcomes = Counter(d.outcome.outcome for d in decisions)
    live = repository.get_agents([a.id for a in config.agents])
    loads = {agent_id: state.load.get("email", 0) for agent_id, state in live.items()}
    tickets = repository.scan_tickets()
    holders = Counter(t.assignee for t in tickets if t.assignee)
    assigned = {t.id for t in tickets if t.assignee}
    waiting = {t.id for t in tickets if t.queued_at is not None}
    queue = {entry.ticket_id for entry in repository.list_queue("support", limit=TICKETS + 1)}
    capacity = AGENTS * CAPACITY
    others = Counter({k: n for k, n in outcomes.items() if k not in {"assigned", "queued"}})
    checks: list[tuple[str, bool]] = [
        (
            f"outcomes: assigned {outcomes['assigned']} (expected {capacity})",
            outcomes["assigned"] == capacity,
        ),
        (
            f"outcomes: queued {outcomes['queued']} (expected {TICKETS - capacity})",
            outcomes["queued"] == TICKETS - capacity,
        ),
        (
            f"other outcomes: {dict(others) or 'none'}",
            set(outcomes) <= {"assigned", "queued"},
        ),
        (
            f"highest agent load {max(loads.values(), default=0)} (capacity {CAPACITY})",
            max(loads.values(), default=0) <= CAPACITY,
        ),
        (f"agents read back: {len(loads)} of {AGENTS}", len(loads) == AGENTS),
        (
            f"sum of agent loads {sum(loads.values())} = tickets with an assignee {len(assigned)}",
            sum(loads.values()) == len(assigned),
        ),
        (
            "each agent's load = the tickets assigned to them",
            all(loads.get(agent, 0) == n for agent, n in holders.items()),
        ),
        (
            f"every ticket assigned or queued, never both: {len(assigned | waiting)} of {len(tickets)}",
            len(assigned | waiting) == len(tickets) == TICKETS and not assigned & waiting,
        ),
        (f"queue entries {len(queue)} = queued tickets {len(waiting)}", queue == waiting),
    ]
    for label, ok in checks:
        print(f"  check: {label}: {'ok' if ok else 'FAILED'}")
    return all(ok for _, ok in checks)


# -- the rules --------------------------------------------------------------------------------------
SAMPLE_TEXT = (
    "hello my order has not arrived yet and the tracking page shows no update since monday "
    "could you please check what happened with the parcel and tell me when it will be "
    "delivered i also need a copy of the invoice for my records thank you for your help"
)


def rule_yaml(index: int) -> str:
    """One of ten kinds of rule, each naming its own words, so that a ticket matches few of them."""
    n = f"{index:03d}"
    kind = index % 10
    when = {
        0: f"{{keywords: [sku{n}, model{n}]}}",
        1: f'{{subject_matches: "\\\\border {n}\\\\b"}}',
        2: f"{{channel: [sms, whatsapp], keywords: [code{n}]}}",
        3: f"{{inbox: [team{n}@support.example.com]}}",
        4: f'{{body_matches: "ref-{n}\\\\b"}}',
        5: f"{{tags: [tag{n}]}}",
        6: f"{{customer_tier: [tier{n}]}}",
        7: f"{{language: [de], keywords: [produkt{n}]}}",
        8: f"{{business_hours: out, keywords: [urgent{n}]}}",
        9: f"{{customer_fields: {{plan: [plan{n}]}}, prior_contacts: {{min: 3, days: 7}}}}",
    }[kind]
    return f"    - {{name: rule-{n}, when: {when}, then: {{team: support, priority: high}}}}"


def rules_config(count: int) -> HelpdeskConfig:
    rules = "\n".join(rule_yaml(i) for i in range(count))
    return parse_config(
        "calendars:\n  default: {timezone: Europe/Berlin,"
        " hours: {mon: ['08:00-18:00'], tue: ['08:00-18:00']}}\n"
        "teams: [{id: support}]\n"
        f"routing:\n  default_team: support\n  rules:\n{rules}\n",
        f"bench-{count}-rules.yaml",
    )


def ticket_facts(count: int, rules: int, seed: int = 7) -> list[TicketFacts]:
    """Tickets with a 1,000-character preview (the most rules see); one in ten names the word of a
    rule near the end, the others match nothing."""
    rng = random.Random(seed)
    words = SAMPLE_TEXT.split()
    facts = []
    for i in range(count):
        body = " ".join(rng.choice(words) for _ in range(200))[:1000]
        if i % 10 == 0:
            body += f" sku{rules - 10:03d}"  # a keywords rule among the last ten
        facts.append(
            TicketFacts(
                channel="email",
                inbox="support@support.example.com",
                subject=f"Question about order {rng.randint(1000, 9999)}",
                body=body,
                tags=("web",),
                language="en",
                customer_tier=None,
                customer_fields={"plan": "basic"},
                prior_contact_times=(NOW - timedelta(days=2),),
                now=NOW,
            )
        )
    return facts


def best_cpu(repetitions: int, work: Callable[[], object]) -> float:
    """The smallest process CPU time of `repetitions` runs of `work`."""
    best = float("inf")
    for _ in range(repetitions):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best


def rules_cpu(count: int, repetitions: int) -> None:
    many, one = rules_config(RULES), rules_config(1)
    facts = ticket_facts(count, RULES)
    matched = Counter(match_rule(f, many).rule is not None for f in facts)
    tried = sum(len(match_rule(f, many).tried) for f in facts) / len(facts)

    def run(config: HelpdeskConfig) -> Callable[[], None]:
        def loop() -> None:
            for f in facts:
                match_rule(f, config)

        return loop

    run(many)()  # warm: regex and calendar caches, as in a warm Lambda container
    base = best_cpu(repetitions, run(one))
    heavy = best_cpu(repetitions, run(many))
    print(
        f"rules: match_rule over {count:,} tickets (1,000-character previews), best of {repetitions},"
        " process CPU"
    )
    print(
        f"  {RULES} rules: {matched[True]} tickets matched a late rule, {matched[False]} none;"
        f" {tried:.0f} rules tried per ticket on average"
    )
    print(f"  baseline, 1 rule:  {base / count * 1e6:8.1f} us per decision")
    print(
        f"  {RULES} rules:        {heavy / count * 1e6:8.1f} us per decision"
        f"  ({heavy / base:.0f}x the baseline, {heavy / count / tried * 1e6:.2f} us per rule tried)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Routing burst on moto, and routing rule CPU.")
    parser.add_argument("--workers", type=int, default=8, help="router threads in the burst")
    parser.add_argument("--facts", type=int, default=2_000, help="tickets matched against the rules")
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args(argv)
    ok = burst(args.workers)
    rules_cpu(args.facts, args.repetitions)
    if not ok:
        print("routing burst: a correctness check FAILED (see above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
