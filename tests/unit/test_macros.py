"""Canned responses: placeholders checked when saved, rendered per ticket, versions respected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.config import parse_config
from shared.errors import ConflictError
from shared.logic.macros import (
    SAMPLE,
    InvalidMacroError,
    MacroNotFoundError,
    MacroRequest,
    create_macro,
    delete_macro,
    render_body,
    ticket_context,
    update_macro,
)
from shared.logic.permissions import ForbiddenActionError, Role, may_edit_macros, may_use_macros, principal
from shared.models.macros import MacroActions
from shared.models.ticket import Channel, Customer, Ticket
from tests.fakes import MemoryRepository

AT = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
CONFIG = parse_config(
    """
teams:
  - id: support
  - id: billing
agents:
  - {id: alice, teams: [support]}
""",
    "macros",
)


def request(
    body: str = "Hi {{ customer_name }}, about #{{ ticket.number }}. {{ agent_name }}",
) -> MacroRequest:
    return MacroRequest(
        title="  Refund  ", body=body, actions=MacroActions(status="pending", tags_add=["refund"])
    )


def test_a_macro_is_created_with_its_actions_and_renders_for_a_ticket() -> None:
    repo = MemoryRepository()

    made = create_macro("support", request(), "alice", CONFIG, repo, AT)

    assert (made.team, made.title, made.version, made.updated_by) == ("support", "Refund", 1, "alice")
    assert made.actions == MacroActions(status="pending", tags_add=["refund"])
    assert repo.list_macros("support") == [made.model_copy(update={"created_at": AT, "updated_at": AT})]
    ticket = Ticket(
        id="t1",
        number=1042,
        channel=Channel.SMS,
        customer_id="c1",
        subject=None,
        created_at=AT,
        updated_at=AT,
    )
    customer = Customer(id="c1", name="Jane", created_at=AT)
    assert render_body(made.body, ticket_context(ticket, customer, "Alice")) == "Hi Jane, about #1042. Alice"
    assert render_body(made.body, ticket_context(ticket, None, "Alice")) == "Hi , about #1042. Alice"
    assert render_body(made.body, SAMPLE) == "Hi Sam, about #1042. Alice"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("Hi {{ customer_nam }}", "customer_nam"),  # a misspelt placeholder
        ("Hi {{ ticket.owner }}", "owner"),
        ("{{ ''.__class__.__mro__ }}", "unsafe"),  # the sandbox refuses internals
        ("Hi {% if %}", "body"),  # not a template
    ],
)
def test_a_body_that_cannot_render_is_refused_when_saved(body: str, why: str) -> None:
    repo = MemoryRepository()
    with pytest.raises(InvalidMacroError, match=why):
        create_macro("support", request(body), "alice", CONFIG, repo, AT)
    assert repo.list_macros("support") == []


def test_a_macro_of_an_unknown_team_is_refused() -> None:
    with pytest.raises(InvalidMacroError, match="unknown team 'sales'"):
        create_macro("sales", request(), "alice", CONFIG, MemoryRepository(), AT)


def test_an_edit_applies_to_the_version_seen_and_a_stale_one_is_a_conflict() -> None:
    repo = MemoryRepository()
    made = create_macro("support", request(), "alice", CONFIG, repo, AT)
    later = AT + timedelta(hours=1)

    edited = update_macro("support", made.id, request("Thanks {{ customer_name }}"), 1, "bob", repo, later)

    assert (edited.version, edited.body, edited.updated_by, edited.updated_at) == (
        2,
        "Thanks {{ customer_name }}",
        "bob",
        later,
    )
    assert edited.created_at == made.created_at
    with pytest.raises(ConflictError, match="version 2, not 1"):
        update_macro("support", made.id, request("Old"), 1, "carol", repo, later)
    with pytest.raises(ConflictError):
        delete_macro("support", made.id, 1, repo)
    delete_macro("support", made.id, 2, repo)
    assert repo.list_macros("support") == []
    with pytest.raises(MacroNotFoundError):
        update_macro("support", made.id, request(), 2, "bob", repo, later)


@pytest.mark.parametrize(
    ("role", "team", "use", "edit"),
    [
        (Role.AGENT, "support", True, False),
        (Role.AGENT, "billing", False, False),
        (Role.SUPERVISOR, "support", True, True),
        (Role.SUPERVISOR, "billing", False, False),
        (Role.ADMIN, "billing", True, True),
    ],
)
def test_agents_use_their_teams_macros_and_supervisors_edit_them(
    role: Role, team: str, use: bool, edit: bool
) -> None:
    caller = principal("alice", role, CONFIG)
    for check, expected in ((may_use_macros, use), (may_edit_macros, edit)):
        try:
            check(caller, team)
        except ForbiddenActionError:
            assert not expected
        else:
            assert expected
