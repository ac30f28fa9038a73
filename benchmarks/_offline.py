"""What the benchmarks share: the offline environment (no real AWS, no tracing) and moto tweaks."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

REGION = "us-east-1"
ROOT = Path(__file__).resolve().parents[1]


def use_offline_aws() -> None:
    """Dummy credentials, moto-friendly endpoint mode, quiet Powertools; call before other imports."""
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "HelpdeskBench",
            "POWERTOOLS_SERVICE_NAME": "helpdesk-bench",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
    )
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    warnings.filterwarnings("ignore", message="No application metrics to publish")


def item_level_rollback() -> contextlib.AbstractContextManager[None]:
    """moto's TransactWriteItems at the cost of the items it names (simulator/moto_speed.py)."""
    from simulator.moto_speed import item_level_rollback as rollback

    return rollback()


@contextlib.contextmanager
def partition_queries() -> Iterator[None]:
    """Make moto's Query cost what the partition holds, not the whole table.

    moto answers a Query on the table by walking every item of the table for the partition key,
    then sorting the matches with its typed comparisons (thousands of microseconds per hundred
    items): a page of a 100,000-ticket view takes seconds. simulator/moto_speed.py gives the walk
    only the partition's items (moto keeps them by partition key already), and compares string and
    number sort keys as plain values, in the same order. What the Query answers is unchanged.
    """
    from simulator.moto_speed import fast_item_order
    from simulator.moto_speed import partition_queries as partition

    with fast_item_order(), partition():
        yield


Reads = dict[str, tuple[int, int]]
"""Per page measured: (requests, items read)."""


class Seeding(Protocol):
    written: int

    def add(self, indexes: range) -> None: ...


@dataclass(frozen=True)
class TwoSizes:
    """The same pages measured over a small and a large table (`written`: entries seeded)."""

    small: Reads
    small_written: int
    large: Reads
    large_written: int

    def same(self) -> bool:
        return all(self.small[name] == self.large.get(name) for name in self.small)


def at_two_sizes(
    small: int,
    large: int,
    seeder: Callable[[str], Seeding],
    shape_drift: Callable[[Any, str], Any],
    measure: Callable[[Any], Reads],
) -> TwoSizes | str:
    """Deploy the template on moto, check the hand-seeded items have the shape the real writer gives
    them (else return the drift), seed `small` tickets and measure, seed up to `large` and measure
    again: how the views and search benchmarks compare sizes."""
    from moto import mock_aws

    from shared.dal.repository import DynamoRepository
    from simulator.resources import deploy

    with mock_aws(), partition_queries():
        table_name = deploy(ROOT / "template.yaml").name("TicketsTable")
        repository = DynamoRepository(table_name, REGION)
        drift = shape_drift(repository, table_name)
        if drift:
            return str(drift)
        seeding = seeder(table_name)
        seeding.add(range(small))
        first, first_written = measure(repository), seeding.written
        seeding.add(range(small, large))
        return TwoSizes(first, first_written, measure(repository), seeding.written)
