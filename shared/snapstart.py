"""Lambda SnapStart: the runtime hooks a function registers, and the entropy every restore renews.

With SnapStart (template parameter `SnapStart`, decision 86) Lambda initialises a function once
when a version is published, snapshots the environment, and resumes every new environment from
that snapshot. What the init phase made is then shared by all of them: it must be the same for
every environment (settings, the config, models, the OpenAPI document) and never unique or
expiring state (ids, random seeds, credentials, connections, secrets).

The hooks come from `snapshot_restore_py`, which only Lambda's managed Python runtimes have: it is
imported guardedly, so elsewhere (tests, the simulator, functions without SnapStart) registering
does nothing and the hooks stay plain functions a test calls. Without SnapStart, Lambda never runs
them either: registering costs nothing at a cold start.
"""

from __future__ import annotations

import random
from collections.abc import Callable


def register_hooks(before_snapshot: Callable[[], None], after_restore: Callable[[], None]) -> bool:
    """Register the function's hooks with the Lambda runtime; False where there is none."""
    try:
        from snapshot_restore_py import (  # type: ignore[import-not-found, unused-ignore]
            register_after_restore,
            register_before_snapshot,
        )
    except ImportError:
        return False
    register_before_snapshot(before_snapshot)
    register_after_restore(after_restore)
    return True


def renew_entropy() -> None:
    """Reseed `random` from the OS after a restore.

    Every restored environment would otherwise continue the one sequence seeded during init, so,
    for example, botocore's retry jitter would be the same in all of them. Our ids do not need
    this: `shared.ids` reads `os.urandom` on every call and keeps no state in the process."""
    random.seed()
