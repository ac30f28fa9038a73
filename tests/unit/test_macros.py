"""Canned responses: placeholders checked when saved, rendered per ticket, versions respected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.config import parse_config
from shared.dal.pointers import Pointer
from shared.dal.tickets import NewTicketWrite
from shared.errors import ConflictError
from shared.logic.agent_actions import (
    AgentContext,
    IdempotencyKeyReusedError,
    TicketChangeRequest,
    update_ticket,
)
from shared.logic.agent_replies import agent_reply
from shared.logic.macros import (
    SAMPLE,
    InvalidMacroCursorError,
    InvalidMacroError,
    MacroChange,
    MacroNotFoundError,
    MacroRequest,
    MacroUse,
    StaleMacroError,
    apply_macro,
    change_macro,
    create_macro,
    delete_macro,
    list_macros_page,
    macro_digest,
    preview_macro,
    render_body,
    ticket_context,
    update_macro,
)
from shared.logic.outbound import OutboundContext
from shared.logic.permissions import ForbiddenActionError, Role, may_edit_macros, may_use_macros, principal
from shared.models.macros import Macro, MacroActions
from shared.models.ticket import Channel, Customer, Direction, Message, Ticket
from tests.fakes import MemoryRepository

AT = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
CONFIG = parse_config(
    """
teams:
  - id: support
  - id: billing
agents:
  - {id: alice, teams: [support]}
  - {id: bob, teams: [support]}
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


# -- the sandbox: a body is text, placeholders and conditions, nothing that multiplies text or time


@pytest.mark.parametrize(
    "body",
    [
        "{% if customer_name %}Hi {{ customer_name|title }}{% else %}Hello{% endif %}",
        "{{ customer_name|default('there', true) }}, #{{ ticket.number }} {{ ticket.subject|lower }}",
        "{{ 'Dear ' ~ customer_name if customer_name is defined else 'Hi' }}",
        "{% if ticket.channel == 'sms' and not ticket.subject %}Short{% endif %}",
    ],
)
def test_placeholders_conditions_and_plain_filters_are_allowed(body: str) -> None:
    assert isinstance(render_body(body, SAMPLE), str)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("{% for c in customer_name %}{{ c }}{% endfor %}", "For is not allowed"),
        ("{{ 'x' * 99 }}", "Mul is not allowed"),
        ("{{ 9 ** 9 ** 9 }}", "Pow is not allowed"),
        ("{{ range(3) }}", "Call is not allowed"),
        ("{{ customer_name|center(999999999) }}", "filter 'center'"),
        ("{{ customer_name is divisibleby(3) }}", "test 'divisibleby'"),
        ("{% macro m() %}{% endmacro %}", "Macro is not allowed"),
        ("{{ ticket['number'] }}", "Getitem is not allowed"),
        ("{{ ticket.number < 'a' }}", "TypeError"),
    ],
)
def test_a_body_beyond_placeholders_and_conditions_is_refused(body: str, why: str) -> None:
    with pytest.raises(InvalidMacroError, match=why):
        render_body(body, SAMPLE)


# -- edits with versions, pages


def test_a_change_keeps_absent_fields_and_needs_the_version_seen() -> None:
    repo = MemoryRepository()
    made = create_macro("support", request(), "alice", CONFIG, repo, AT)

    with pytest.raises(InvalidMacroError, match="version"):
        change_macro("support", made.id, MacroChange(title="New"), "bob", repo, AT)
    changed = change_macro("support", made.id, MacroChange(title="New", version=1), "bob", repo, AT)

    assert (changed.title, changed.body, changed.actions, changed.version) == (
        "New",
        made.body,
        made.actions,
        2,
    )
    with pytest.raises(StaleMacroError) as stale:
        change_macro("support", made.id, MacroChange(title="Old", version=1), "carol", repo, AT)
    assert stale.value.current == changed
    assert repo.get_macro("support", made.id) == changed


def test_a_write_that_loses_a_race_is_stale_with_the_winner(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an edit that another lands between this one's read and its write
    repo = MemoryRepository()
    made = create_macro("support", request(), "alice", CONFIG, repo, AT)
    original = repo.save_macro

    def racing(macro: Macro, expected_version: int | None) -> None:
        monkeypatch.setattr(repo, "save_macro", original)
        original(made.model_copy(update={"title": "Winner", "version": 2}), expected_version=1)
        original(macro, expected_version)

    monkeypatch.setattr(repo, "save_macro", racing)
    # When the slower edit is written, Then it is refused with the macro as the winner left it
    with pytest.raises(StaleMacroError) as stale:
        update_macro("support", made.id, request("Loser"), 1, "bob", repo, AT)
    assert (stale.value.current.title, stale.value.current.version) == ("Winner", 2)


def test_pages_follow_the_titles_and_survive_an_insert() -> None:
    repo = MemoryRepository()
    for title in ("delta", "Alpha", "charlie", "bravo"):
        create_macro("support", MacroRequest(title=title, body="Hi"), "alice", CONFIG, repo, AT)

    first = list_macros_page("support", 2, None, repo)
    create_macro(
        "support", MacroRequest(title="aaa", body="Hi"), "alice", CONFIG, repo, AT
    )  # before the cursor
    second = list_macros_page("support", 2, first.cursor, repo)

    assert [m.title for m in first.macros] == ["Alpha", "bravo"]
    assert ([m.title for m in second.macros], second.cursor) == (["charlie", "delta"], None)
    assert list_macros_page("support", 5, None, repo).cursor is None
    with pytest.raises(InvalidMacroCursorError):
        list_macros_page("support", 2, "bm90IGpzb24", repo)


# -- applying: the reply and the actions, once per Idempotency-Key


def seeded(repo: MemoryRepository) -> Ticket:
    """An email ticket from Jane, findable by its number, as ingestion leaves it."""
    ticket = Ticket(
        id="t1",
        number=1042,
        channel=Channel.EMAIL,
        customer_id="c1",
        subject="Refund",
        created_at=AT,
        updated_at=AT,
    )
    first = Message(
        id="m1",
        ticket_id="t1",
        direction=Direction.INBOUND,
        channel=Channel.EMAIL,
        at=AT,
        author="jane@customer.example",
        external_id="<m1@customer.example>",
    )
    repo.create_ticket(
        NewTicketWrite(
            ticket=ticket,
            message=first,
            pointers=[Pointer("number", "1042", ticket_id="t1")],
            new_customer=Customer(id="c1", name="Jane", created_at=AT),
        )
    )
    return ticket


def contexts(repo: MemoryRepository) -> tuple[AgentContext, OutboundContext]:
    outbound = OutboundContext(
        repository=repo,
        config=CONFIG,
        support_addresses=["help@support.example"],
        support_domain="support.example",
    )
    return AgentContext(repository=repo, config=CONFIG), outbound


def test_apply_queues_the_rendered_reply_then_the_actions_and_a_retry_does_neither_again() -> None:
    repo = MemoryRepository()
    ticket = seeded(repo)
    macro = create_macro("support", request(), "alice", CONFIG, repo, AT)
    agent_ctx, outbound = contexts(repo)
    use = MacroUse(ticket, macro, "alice", idempotency_key="k1")

    applied = apply_macro(use, agent_ctx, outbound, AT)

    assert applied.reply.text == "Hi Jane, about #1042. alice"
    assert (applied.ticket.status.value, applied.ticket.tags, applied.ticket.version) == (
        "pending",
        ["refund"],
        2,
    )
    assert applied.changes == {"status": ["new", "pending"], "tags": [[], ["refund"]]}
    # two writes at the same moment: their events are in the order of their random write ids
    assert sorted(e.type for e in repo.list_events("t1")[-2:]) == ["macro_applied", "updated"]
    # When the same request is retried after someone reopened the ticket
    update_ticket("1042", TicketChangeRequest(status="open"), "bob", agent_ctx, AT)
    again = apply_macro(use, agent_ctx, outbound, AT + timedelta(seconds=5))
    # Then the first reply answers, and the reopened ticket is left as it is
    assert (again.reply, again.changes, again.ticket.status.value) == (applied.reply, {}, "open")
    assert [o.key for o in repo.list_outbound()] == [applied.reply.key]
    assert [e.type for e in repo.list_events("t1")].count("macro_applied") == 1


def test_a_retry_after_the_reply_but_before_the_actions_applies_them() -> None:
    # Given a first try that queued the reply and failed before the actions
    repo = MemoryRepository()
    ticket = seeded(repo)
    macro = create_macro("support", request(), "alice", CONFIG, repo, AT)
    agent_ctx, outbound = contexts(repo)
    agent_reply(
        ticket, "Hi Jane", "alice", outbound, AT, idempotency_key="k1", digest=macro_digest(macro, None)
    )
    # When it is retried with its key
    applied = apply_macro(MacroUse(ticket, macro, "alice", idempotency_key="k1"), agent_ctx, outbound, AT)
    # Then the reply is the one queued, and the actions are applied now, once
    assert applied.reply.text == "Hi Jane"
    assert len(repo.list_outbound()) == 1
    assert (applied.ticket.status.value, applied.ticket.tags) == ("pending", ["refund"])
    assert [e.type for e in repo.list_events("t1")].count("macro_applied") == 1


def test_the_same_key_for_another_macro_is_refused() -> None:
    repo = MemoryRepository()
    ticket = seeded(repo)
    agent_ctx, outbound = contexts(repo)
    first = create_macro("support", request(), "alice", CONFIG, repo, AT)
    other = create_macro("support", request("Bye {{ customer_name }}"), "alice", CONFIG, repo, AT)
    apply_macro(MacroUse(ticket, first, "alice", idempotency_key="k1"), agent_ctx, outbound, AT)

    with pytest.raises(IdempotencyKeyReusedError):
        apply_macro(MacroUse(ticket, other, "alice", idempotency_key="k1"), agent_ctx, outbound, AT)
    assert len(repo.list_outbound()) == 1


def test_a_preview_writes_nothing() -> None:
    repo = MemoryRepository()
    ticket = seeded(repo)
    macro = create_macro("support", request(), "alice", CONFIG, repo, AT)

    preview = preview_macro(ticket, macro, "alice", repo, CONFIG)

    assert (preview.text, preview.channel) == ("Hi Jane, about #1042. alice", "email")
    assert preview.changes == {"status": ["new", "pending"], "tags": [[], ["refund"]]}
    assert repo.get_ticket("t1") == ticket
    assert repo.list_outbound() == []
