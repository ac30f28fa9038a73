"""Items read and requests per page of a search, at 10,000 and 100,000 tickets, on moto.

A search page (shared/logic/search.py `search_tickets`) reads, for each of the caller's scopes,
one Query of at most `limit + 1` entries of the longest word's partition, then the page's tickets
in one BatchGetItem and, with several words, their search states in another. The target: the same
number of items read, and of requests, at 100,000 tickets as at 10,000.

Setup as benchmarks/bench_views.py: the table from template.yaml inside `moto.mock_aws`, the real
`DynamoRepository`, tickets generated with a fixed seed over three teams and the shared inbox, each
with a subject of three words from a small vocabulary and a ticket-specific word; the tickets, their
search states and entries (as `ticket_state` gives them) written straight into moto's table object.
One ticket indexed the way route_ticket does it is compared with the hand-written items first (a
difference exits with status 1). Counted at the botocore client, as there.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._offline import at_two_sizes, use_offline_aws  # noqa: E402

use_offline_aws()

import boto3  # noqa: E402
from moto.core.models import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.dynamodb.models import dynamodb_backends  # noqa: E402

from benchmarks.bench_views import ALICE, CONFIG, LIMIT, REGION, Meter, ticket  # noqa: E402
from shared.dal.items import SearchEntryItem  # noqa: E402
from shared.dal.repository import DynamoRepository  # noqa: E402
from shared.dal.search import SearchChanges, state_item  # noqa: E402
from shared.dal.tickets import ticket_to_item  # noqa: E402
from shared.logic.search import search_tickets, ticket_state  # noqa: E402
from shared.models.ticket import Ticket  # noqa: E402

WORDS = ("printer", "invoice", "refund", "password", "delivery", "broken", "screen", "login")
SEARCHES = ("printer", "printer broken", "login password screen", "refund ticket123")


def subject_ticket(index: int, rnd: random.Random) -> Ticket:
    words = rnd.sample(WORDS, 3)
    return ticket(index, rnd).model_copy(update={"subject": f"{' '.join(words)} ticket{index}"})


class Seeder:
    def __init__(self, table_name: str) -> None:
        self.table = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].get_table(table_name)
        self.rnd = random.Random(7)
        self.written = 0

    def add(self, indexes: range) -> None:
        for index in indexes:
            t = subject_ticket(index, self.rnd)
            state = ticket_state(t, 1, None)
            self.table.put_item(ticket_to_item(t).serialize() | _keys(f"TICKET#{t.id}", "TICKET"))
            self.table.put_item(state_item(t.id, state).serialize() | _keys(f"TICKET#{t.id}", "SEARCH"))
            for pk, sk in state.entries(t.id):
                self.table.put_item(_entry(pk, sk, t.id))
                self.written += 1


def _entry(pk: str, sk: str, ticket_id: str) -> dict[str, Any]:
    return SearchEntryItem(pk=pk, sk=sk, ticket_id=ticket_id).serialize()


def _keys(pk: str, sk: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def measure(repository: DynamoRepository) -> dict[str, tuple[int, int]]:
    """(requests, items read) of each search's first and third page."""
    found: dict[str, tuple[int, int]] = {}
    for q in SEARCHES:
        cursor = None
        for page in (1, 2, 3):
            with Meter().active() as meter:
                result = search_tickets(ALICE, CONFIG, q, None, LIMIT, cursor, repository)
            if page in (1, 3):
                found[f"{q} p{page}"] = (sum(meter.requests.values()), meter.items)
            cursor = result.cursor
            if cursor is None:
                break
    return found


def shape_drift(repository: DynamoRepository, table_name: str) -> list[str]:
    """The items route_ticket's path writes for one ticket against the hand-written ones."""
    sample = subject_ticket(10**7, random.Random(1))
    state = ticket_state(sample, 1, None)
    repository.apply_search_changes(SearchChanges(sample.id, None, state))
    client = boto3.client("dynamodb", region_name=REGION)
    hand = {(pk, sk): _entry(pk, sk, sample.id) for pk, sk in state.entries(sample.id)}
    hand[(f"TICKET#{sample.id}", "SEARCH")] = state_item(sample.id, state).serialize()
    problems = []
    for (pk, sk), attrs in hand.items():
        stored = client.get_item(TableName=table_name, Key=_keys(pk, sk)).get("Item")
        if stored != attrs | _keys(pk, sk):
            problems.append(f"{pk} {sk}")
        client.delete_item(TableName=table_name, Key=_keys(pk, sk))
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000)
    args = parser.parse_args()
    result = at_two_sizes(args.small, args.large, Seeder, shape_drift, measure)
    if isinstance(result, str):
        print(f"hand-written search items differ from route_ticket's: {result}")
        return 1
    print(
        f"search: {args.small:,} tickets ({result.small_written:,} entries) "
        f"vs {args.large:,} ({result.large_written:,})"
    )
    print(f"agent of 2 teams (3 scopes with the shared inbox), limit {LIMIT}")
    print(f"{'page':<30}{'requests':>10}{'items':>8}{'requests':>10}{'items':>8}")
    for name, (requests, items) in result.small.items():
        big_requests, big_items = result.large.get(name, (0, 0))
        print(f"{name:<30}{requests:>10}{items:>8}{big_requests:>10}{big_items:>8}")
    print("target (same requests and items read at both sizes):", "met" if result.same() else "NOT met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
