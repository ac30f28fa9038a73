"""Bringing the SLA deadline and unrouted index entries to the layout of decision 117: tickets
indexed in the legacy `gsi2` partitions (`SLADUE#0..3`, `UNROUTED`) move to their sharded `gsi3`
keys, and after a change of `sla.sweep_shards` the `gsi3` entries move to their new shard. Run by
`helpdesk index deadlines`; safe while the helpdesk runs (each move is conditional)."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.dal.deadlines import DeadlineMigrationStore, index_partition
from shared.dal.tickets import SLA_DUE, UNROUTED
from shared.models.config import HelpdeskConfig

LEGACY_SHARDS = 4
"""`sla.sweep_shards` before decision 117 (its default): the legacy `SLADUE#<n>` partitions."""


@dataclass
class DeadlineMigrationReport:
    moved: dict[str, int] = field(default_factory=dict)
    """Entries moved (or, on a dry run, to move), by the partition they were in."""
    left: dict[str, int] = field(default_factory=dict)
    """Entries left where they were: already at their keys, or their ticket changed meanwhile."""


def migrate_deadline_index(
    store: DeadlineMigrationStore,
    config: HelpdeskConfig,
    legacy_shards: int = LEGACY_SHARDS,
    previous_shards: int | None = None,
    dry_run: bool = False,
) -> DeadlineMigrationReport:
    """Move the legacy entries to `gsi3`; with `previous_shards` (the count before a change of
    `sla.sweep_shards`), also move each `gsi3` deadline entry to its shard under the new count."""
    partitions = [(index_partition(SLA_DUE, n), True) for n in range(legacy_shards)]
    partitions.append((UNROUTED, True))
    if previous_shards is not None:
        partitions += [(index_partition(SLA_DUE, n), False) for n in range(previous_shards)]
    report = DeadlineMigrationReport()
    for partition, legacy in partitions:
        moved, left = store.move_entries(partition, legacy, config.sla.sweep_shards, dry_run)
        name = f"{'gsi2' if legacy else 'gsi3'} {partition}"
        report.moved[name] = report.moved.get(name, 0) + moved
        report.left[name] = report.left.get(name, 0) + left
    return report
