"""Who is working and what waits: the agents with their presence and load per channel group, and
the teams with their queues, for the agent UI's sidebar and a supervisor's board.

One BatchGetItem reads every agent's live state; one Query per team reads the head of its queue
(at most `QUEUE_PEEK` entries, so a long queue costs the same as a short one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from shared.dal.agents import AgentLive
from shared.dal.queues import QueueEntry
from shared.models.config import HelpdeskConfig

QUEUE_PEEK = 100
"""How many queue entries a team listing reads: a count beyond it is shown as `more`."""


class AgentReads(Protocol):
    def get_agents(self, agent_ids: Sequence[str]) -> dict[str, AgentLive]: ...


class QueueReads(Protocol):
    def list_queue(self, team: str, limit: int = 25) -> list[QueueEntry]: ...


@dataclass(frozen=True)
class AgentOverview:
    id: str
    name: str | None
    teams: list[str]
    presence: str
    """As stored, or the config's `default_presence` until the agent sets one."""
    load: dict[str, int]
    capacity: dict[str, int]
    away_until: datetime | None


@dataclass(frozen=True)
class TeamOverview:
    id: str
    name: str | None
    lead: str | None
    strategy: str
    agents: list[str]
    online: int
    queued: int
    """Tickets waiting for an agent of the team (`QUEUE_PEEK` at most; see `more`)."""
    more: bool
    oldest_queued_at: datetime | None
    by_priority: dict[str, int]


def agents_overview(
    config: HelpdeskConfig, repository: AgentReads, team: str | None = None
) -> list[AgentOverview]:
    """Every agent of the config (or of `team`), in config order, with their live state."""
    agents = [a for a in config.agents if team is None or team in a.teams]
    live = repository.get_agents([a.id for a in agents])
    overview = []
    for agent in agents:
        stored = live.get(agent.id)
        overview.append(
            AgentOverview(
                id=agent.id,
                name=agent.name,
                teams=list(agent.teams),
                presence=(stored.presence if stored and stored.presence else agent.default_presence),
                load={group: (stored.load.get(group, 0) if stored else 0) for group in agent.capacity},
                capacity={str(group): limit for group, limit in agent.capacity.items()},
                away_until=stored.away_until if stored else None,
            )
        )
    return overview


def teams_overview(
    config: HelpdeskConfig, agents: list[AgentOverview], queues: QueueReads
) -> list[TeamOverview]:
    """Every team with its agents, how many are online, and the head of its queue."""
    overview = []
    for team in config.teams:
        members = [a for a in agents if team.id in a.teams]
        waiting = queues.list_queue(team.id, limit=QUEUE_PEEK + 1)
        shown = waiting[:QUEUE_PEEK]
        by_priority: dict[str, int] = {}
        for entry in shown:
            by_priority[entry.priority] = by_priority.get(entry.priority, 0) + 1
        overview.append(
            TeamOverview(
                id=team.id,
                name=team.name,
                lead=team.lead,
                strategy=team.strategy,
                agents=[a.id for a in members],
                online=sum(1 for a in members if a.presence == "online"),
                queued=len(shown),
                more=len(waiting) > QUEUE_PEEK,
                oldest_queued_at=min((e.queued_at for e in shown), default=None),
                by_priority=by_priority,
            )
        )
    return overview
