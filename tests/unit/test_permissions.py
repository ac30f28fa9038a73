"""The permission matrix of the agent API: role x action x the ticket's relation to the caller.

This table is the specification (issue 14, "Who may do what"). `visible` False means the ticket does
not exist for the caller (404); an action refused on a visible ticket is 403.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.config import parse_config
from shared.logic.permissions import (
    ForbiddenActionError,
    Principal,
    Role,
    may_assign,
    may_merge,
    may_merge_customers,
    may_reply_privately,
    may_review_quarantine,
    may_set_presence,
    may_split,
    may_transfer,
    may_work,
    principal,
    role_from_groups,
    visible,
)
from shared.models.ticket import Channel, Ticket

AT = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
CONFIG = parse_config(
    """
teams:
  - id: support
  - id: billing
agents:
  - {id: alice, teams: [support]}
  - {id: bob, teams: [support]}
  - {id: carol, teams: [billing]}
  - {id: dave, teams: [support, billing]}
""",
    "permissions",
)

# the caller is alice (teams: support) in every role
RELATIONS = {
    "own team, unassigned": ("support", None),
    "own team, held by bob": ("support", "bob"),
    "other team, assigned to me": ("billing", "alice"),
    "other team, held by carol": ("billing", "carol"),
    "no team yet": (None, None),
}
ACTIONS = (
    "see",
    "work",
    "reply privately",
    "claim",
    "unassign",
    "assign to bob",
    "transfer to billing",
    "split",
    "merge into a support ticket",
    "merge into billing's, mine",
)

# one letter per relation, in the order of RELATIONS: Y allowed, n refused
MATRIX: dict[Role, dict[str, str]] = {
    Role.AGENT: {
        "see": "YYYnY",
        "work": "YYYnY",
        "reply privately": "YYYnY",
        "claim": "YnYnY",
        "unassign": "nnYnn",
        "assign to bob": "nnnnn",
        "transfer to billing": "nnnnn",
        "split": "YYYnY",
        "merge into a support ticket": "YYnnY",
        "merge into billing's, mine": "nnYnY",
    },
    Role.SUPERVISOR: {
        "see": "YYYnY",
        "work": "YYYnY",
        "reply privately": "YYYnY",
        "claim": "YYYnY",
        "unassign": "YYYnn",
        "assign to bob": "YYnnn",
        "transfer to billing": "YYnnn",
        "split": "YYYnY",
        "merge into a support ticket": "YYnnY",
        "merge into billing's, mine": "YYYnY",
    },
    Role.ADMIN: {
        "see": "YYYYY",
        "work": "YYYYY",
        "reply privately": "YYYYY",
        "claim": "YYYYY",
        "unassign": "YYYYY",
        "assign to bob": "YYYYY",
        "transfer to billing": "YYYYY",
        "split": "YYYYY",
        "merge into a support ticket": "YYYYY",
        "merge into billing's, mine": "YYYYY",
    },
}


def ticket(team: str | None, assignee: str | None) -> Ticket:
    return Ticket(
        id="t1",
        number=1001,
        channel=Channel.EMAIL,
        customer_id="c1",
        subject="Printer",
        team=team,
        assignee=assignee,
        created_at=AT,
        updated_at=AT,
    )


def allowed(caller: Principal, action: str, subject: Ticket) -> bool:
    if action == "see":
        return visible(caller, subject)
    checks = {
        "work": lambda: may_work(caller, subject),
        "reply privately": lambda: may_reply_privately(caller, subject),
        "claim": lambda: may_assign(caller, subject, caller.agent_id),
        "unassign": lambda: may_assign(caller, subject, None),
        "assign to bob": lambda: may_assign(caller, subject, "bob"),
        "transfer to billing": lambda: may_transfer(caller, subject, "billing"),
        "split": lambda: may_split(caller, subject),
        "merge into a support ticket": lambda: may_merge(caller, subject, ticket("support", None)),
        "merge into billing's, mine": lambda: may_merge(caller, subject, ticket("billing", "alice")),
    }
    try:
        checks[action]()
    except ForbiddenActionError:
        return False
    return True


CASES = [
    pytest.param(
        role, action, relation, MATRIX[role][action][index] == "Y", id=f"{role.name}-{action}-{relation}"
    )
    for role in Role
    for action in ACTIONS
    for index, relation in enumerate(RELATIONS)
]


@pytest.mark.parametrize(("role", "action", "relation", "expected"), CASES)
def test_the_permission_matrix(role: Role, action: str, relation: str, expected: bool) -> None:
    # Given alice in a role and a ticket in a relation to her
    caller = principal("alice", role, CONFIG)
    team, assignee = RELATIONS[relation]
    # When she tries the action / Then it is allowed exactly where the matrix says
    assert allowed(caller, action, ticket(team, assignee)) is expected


def test_unassigning_someone_elses_ticket_needs_a_supervisor_even_when_the_agent_sees_it() -> None:
    caller = principal("alice", Role.AGENT, CONFIG)
    with pytest.raises(ForbiddenActionError, match="supervisor"):
        may_assign(caller, ticket("support", "bob"), None)


@pytest.mark.parametrize(
    ("role", "target", "expected"),
    [
        (Role.AGENT, "alice", True),
        (Role.AGENT, "bob", False),
        (Role.SUPERVISOR, "bob", True),  # shares support
        (Role.SUPERVISOR, "dave", True),  # support and billing
        (Role.SUPERVISOR, "carol", False),  # billing only
        (Role.ADMIN, "carol", True),
    ],
)
def test_who_sets_whose_presence(role: Role, target: str, expected: bool) -> None:
    caller = principal("alice", role, CONFIG)
    agent = CONFIG.agent(target)
    assert agent is not None
    try:
        may_set_presence(caller, agent.teams, target)
    except ForbiddenActionError:
        assert not expected
    else:
        assert expected


@pytest.mark.parametrize(
    ("role", "expected"), [(Role.AGENT, False), (Role.SUPERVISOR, True), (Role.ADMIN, True)]
)
def test_only_supervisors_and_admins_review_the_quarantine(role: Role, expected: bool) -> None:
    caller = principal("alice", role, CONFIG)
    try:
        may_review_quarantine(caller)
    except ForbiddenActionError:
        assert not expected
    else:
        assert expected


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        ([], Role.AGENT),
        (["other"], Role.AGENT),
        (["supervisors"], Role.SUPERVISOR),
        (["admins"], Role.ADMIN),
        (["supervisors", "admins"], Role.ADMIN),
    ],
)
def test_the_role_is_the_highest_group(groups: list[str], expected: Role) -> None:
    assert role_from_groups(groups, "supervisors", "admins") is expected


def test_an_agent_the_config_does_not_know_has_no_team_and_sees_only_what_is_assigned_to_them() -> None:
    stranger = principal("zed", Role.AGENT, CONFIG)
    assert stranger.teams == frozenset()
    assert not visible(stranger, ticket("support", None))
    assert visible(stranger, ticket("support", "zed"))
    assert visible(stranger, ticket(None, None))  # the shared inbox


@pytest.mark.parametrize(
    ("role", "expected"), [(Role.AGENT, False), (Role.SUPERVISOR, True), (Role.ADMIN, True)]
)
def test_only_supervisors_and_admins_merge_customers(role: Role, expected: bool) -> None:
    caller = principal("alice", role, CONFIG)
    try:
        may_merge_customers(caller)
    except ForbiddenActionError:
        assert not expected
    else:
        assert expected
