"""Who may do what in the agent API: roles from Cognito groups, scopes from the config's teams.

- An **agent** sees and works the tickets of their teams and the tickets assigned to them.
- A **supervisor** sees everything in their teams, may reassign those tickets to anyone, move them
  to another team, and set the presence of the agents of their teams.
- An **admin** sees and does everything.
- A ticket **no team owns** (not routed yet, or no rule and no default team took it) is the shared
  inbox: every agent sees it and may take it, so nothing waits unseen; moving it to a team or giving
  it to someone else is an admin's.

A ticket outside the caller's scope does not exist for them: the API answers 404, never 403, so a
number or message id cannot be probed (`visible` decides; `TicketNotFoundError` is raised by the
caller's lookup). Inside the scope, an action the role may not take is 403 (`PermissionDeniedError`).
Pure functions of plain data: the permission matrix test in tests/unit/test_permissions.py is the
specification.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from shared.errors import HelpdeskError
from shared.models.config import HelpdeskConfig
from shared.models.ticket import Ticket


class Role(IntEnum):
    """Ordered: a higher role may do all a lower one may."""

    AGENT = 1
    SUPERVISOR = 2
    ADMIN = 3


class ForbiddenActionError(HelpdeskError):
    """The caller sees the ticket but their role may not take this action (HTTP 403)."""


@dataclass(frozen=True)
class Principal:
    """The caller of the agent API: who, in which role, and the teams of the config they belong to."""

    agent_id: str
    role: Role
    teams: frozenset[str]


def role_from_groups(groups: Iterable[str], supervisor_group: str, admin_group: str) -> Role:
    """The highest role the Cognito groups give (no group: agent)."""
    names = set(groups)
    if admin_group in names:
        return Role.ADMIN
    if supervisor_group in names:
        return Role.SUPERVISOR
    return Role.AGENT


def principal(agent_id: str, role: Role, config: HelpdeskConfig) -> Principal:
    """The caller with their teams from the config (an agent the config does not know has none)."""
    agent = config.agent(agent_id)
    return Principal(agent_id, role, frozenset(agent.teams) if agent is not None else frozenset())


def visible(caller: Principal, ticket: Ticket) -> bool:
    """Whether the ticket exists for the caller: their team's, no team's, assigned to them, or any
    for an admin."""
    if caller.role is Role.ADMIN or ticket.assignee == caller.agent_id or ticket.team is None:
        return True
    return ticket.team in caller.teams


def may_work(caller: Principal, ticket: Ticket) -> None:
    """Reply, write a note, change status, priority or tags: anyone who sees the ticket."""
    if not visible(caller, ticket):  # the lookup should have answered 404 already
        raise ForbiddenActionError("the ticket is outside your teams")


def may_assign(caller: Principal, ticket: Ticket, assignee: str | None) -> None:
    """Assign, claim or unassign. An agent may take an unassigned ticket of their teams, or give
    back their own; reassigning a ticket someone else holds, or giving it to someone else, takes a
    supervisor of the ticket's team (or an admin)."""
    may_work(caller, ticket)
    if caller.role is Role.ADMIN:
        return
    leads_team = caller.role is Role.SUPERVISOR and ticket.team is not None and ticket.team in caller.teams
    if leads_team:
        return
    if assignee == caller.agent_id and ticket.assignee in (None, caller.agent_id):
        return
    if assignee is None and ticket.assignee == caller.agent_id:
        return
    raise ForbiddenActionError("only a supervisor of the ticket's team reassigns tickets to others")


def may_transfer(caller: Principal, ticket: Ticket, to_team: str) -> None:
    """Move a ticket to another team: a supervisor of its current team, or an admin."""
    may_work(caller, ticket)
    if caller.role is Role.ADMIN:
        return
    if caller.role is Role.SUPERVISOR and ticket.team is not None and ticket.team in caller.teams:
        return
    raise ForbiddenActionError(f"only a supervisor of team {ticket.team!r} moves its tickets to {to_team!r}")


def may_merge(caller: Principal, source: Ticket, target: Ticket) -> None:
    """Merge `source` into `target`, or undo it: anyone who works both tickets. When both belong
    to teams and the teams differ, the source's conversation leaves its team: a supervisor of the
    source's team (or an admin), as for a transfer."""
    may_work(caller, source)
    may_work(caller, target)
    if source.team is None or target.team is None or source.team == target.team:
        return
    if caller.role is Role.ADMIN:
        return
    if caller.role is Role.SUPERVISOR and source.team in caller.teams:
        return
    raise ForbiddenActionError(
        f"only a supervisor of team {source.team!r} merges its tickets into team {target.team!r}'s"
    )


def may_split(caller: Principal, ticket: Ticket) -> None:
    """Split a message of a ticket into a new ticket: anyone who works the ticket (the new ticket is
    routed as any new one)."""
    may_work(caller, ticket)


def may_reply_privately(caller: Principal, ticket: Ticket) -> None:
    """Move a public comment to a private conversation (a private reply to its author): anyone who
    works the ticket, as for any reply."""
    may_work(caller, ticket)


def may_set_presence(caller: Principal, agent_teams: Iterable[str], agent_id: str) -> None:
    """Set an agent's presence: their own; a supervisor for the agents of their teams; an admin for all."""
    if agent_id == caller.agent_id or caller.role is Role.ADMIN:
        return
    if caller.role is Role.SUPERVISOR and caller.teams & set(agent_teams):
        return
    raise ForbiddenActionError("only a supervisor of one of the agent's teams sets their presence")


def may_read_agent(caller: Principal, agent_teams: Iterable[str], agent_id: str) -> None:
    """Read an agent's actions (their audit trail): their own; a supervisor for the agents of their
    teams; an admin for all."""
    if agent_id == caller.agent_id or caller.role is Role.ADMIN:
        return
    if caller.role is Role.SUPERVISOR and caller.teams & set(agent_teams):
        return
    raise ForbiddenActionError("only a supervisor of one of the agent's teams reads their actions")


def may_merge_customers(caller: Principal) -> None:
    """Merge two customers, or undo a merge: supervisors and admins (a customer's tickets may be
    other teams' too)."""
    if caller.role < Role.SUPERVISOR:
        raise ForbiddenActionError("only supervisors and admins merge customers")


def may_review_quarantine(caller: Principal) -> None:
    """List, inspect and release quarantined input: supervisors and admins."""
    if caller.role < Role.SUPERVISOR:
        raise ForbiddenActionError("only supervisors and admins review the quarantine")


def may_use_macros(caller: Principal, team: str) -> None:
    """List a team's macros and reply with them: its agents (and admins)."""
    if caller.role is not Role.ADMIN and team not in caller.teams:
        raise ForbiddenActionError(f"the macros of team {team!r} are for its agents")


def may_edit_macros(caller: Principal, team: str) -> None:
    """Create, change or delete a team's macros: its supervisors (and admins)."""
    if caller.role is Role.ADMIN:
        return
    if caller.role is not Role.SUPERVISOR or team not in caller.teams:
        raise ForbiddenActionError(f"only a supervisor of team {team!r} edits its macros")
