"""A sweep task: one shard of the deadline or the unrouted index for a sweep worker (decision 118)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SweepTask(BaseModel):
    """Sweep one shard up to `at` (the scheduled run's time): `due` acts on the SLA deadlines come,
    `unrouted` routes the tickets route_ticket gave up on. `part` counts the hand-overs of a shard
    whose worker ran out of time before the shard was empty."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["due", "unrouted"]
    shard: int = Field(ge=0)
    at: datetime
    part: int = Field(default=0, ge=0)
