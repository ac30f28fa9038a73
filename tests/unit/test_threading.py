"""Threading decisions: pure functions over parsed emails and tickets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.logic.threading import (
    Candidate,
    Method,
    decide_thread,
    is_ours,
    normalize_message_id,
    participants_of,
    plus_token,
    reference_chain,
    subject_token,
)
from shared.models.email import EmailAddress, ParsedEmail
from shared.models.ticket import Ticket, TicketStatus

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WINDOW = timedelta(days=14)
SUPPORT = ["support@support.example.com", "billing@acme.example"]
DOMAIN = "support.example.com"


def ticket(status: TicketStatus = TicketStatus.OPEN, **changes: object) -> Ticket:
    values: dict[str, object] = {
        "id": "tkt_1",
        "number": 1,
        "channel": "email",
        "status": status,
        "customer_id": "cus_jane",
        "created_at": NOW - timedelta(days=2),
        "updated_at": NOW - timedelta(days=1),
        "participants": ["jane@customer.example", "bob@customer.example"],
    }
    values.update(changes)
    return Ticket.model_validate(values)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<a@b>", "<a@b>"),
        ("  <a@b>  ", "<a@b>"),
        ("a@b", "<a@b>"),
        ("garbage", None),
        ("", None),
        ("Re: <x@y> (comment)", "<x@y>"),
    ],
)
def test_message_ids_are_normalised_with_angle_brackets(raw: str, expected: str | None) -> None:
    assert normalize_message_id(raw) == expected


def test_reference_chain_is_in_reply_to_then_references_newest_first_without_repeats() -> None:
    parsed = ParsedEmail(in_reply_to=["<c@x>"], references=["<a@x>", "<b@x>", "<c@x>"])
    assert reference_chain(parsed) == [
        ("in-reply-to", "<c@x>"),
        ("references", "<b@x>"),
        ("references", "<a@x>"),
    ]


def test_reference_chain_is_bounded() -> None:
    parsed = ParsedEmail(references=[f"<{i}@x>" for i in range(500)])
    assert len(reference_chain(parsed)) == 40


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: [#42] Printer", 42),
        ("[ # 7 ] spaced", 7),
        ("Fwd: [#1] old [#2] newer", 2),
        ("Order #42 is late", None),
        ("", None),
    ],
)
def test_subject_token(subject: str, expected: int | None) -> None:
    assert subject_token(subject) == expected


def test_subject_token_uses_the_configured_prefix() -> None:
    assert subject_token("Re: [T-12] x", prefix="T-") == 12
    assert subject_token("Re: [#12] x", prefix="T-") is None


@pytest.mark.parametrize(
    ("recipients", "expected"),
    [
        (["support+42@support.example.com"], 42),
        (["Support+42@Support.Example.com"], 42),
        (["billing+7@acme.example"], 7),
        (["someone+42@other.example"], None),
        (["support@support.example.com"], None),
        (["support+abc@support.example.com"], None),
    ],
)
def test_plus_token(recipients: list[str], expected: int | None) -> None:
    assert plus_token(recipients, SUPPORT, DOMAIN) == expected


def test_our_addresses_include_plus_tags_and_the_whole_domain() -> None:
    assert is_ours("Support+5@support.example.com", SUPPORT, DOMAIN)
    assert is_ours("sales@support.example.com", SUPPORT, DOMAIN)
    assert is_ours("billing+x@acme.example", SUPPORT, DOMAIN)
    assert not is_ours("jane@customer.example", SUPPORT, DOMAIN)


def test_participants_exclude_our_addresses_and_repeat_nobody() -> None:
    parsed = ParsedEmail(
        from_=EmailAddress(address="Jane@customer.example"),
        to=[
            EmailAddress(address="support@support.example.com"),
            EmailAddress(address="jane@customer.example"),
        ],
        cc=[EmailAddress(address="bob@customer.example")],
    )
    assert participants_of(parsed, SUPPORT, DOMAIN) == ["jane@customer.example", "bob@customer.example"]


def test_participants_are_keyed_with_the_idna_domain() -> None:
    parsed = ParsedEmail(from_=EmailAddress(address="Jörg@Bücher.de"))
    assert participants_of(parsed, SUPPORT, DOMAIN) == ["jörg@xn--bcher-kva.de"]


def decide(
    candidates, tickets, sender="jane@customer.example", customer="cus_jane", automatic=False, verified=True
):
    return decide_thread(candidates, tickets, sender, customer, NOW, WINDOW, automatic, verified)


def test_no_candidate_means_a_new_ticket() -> None:
    decision = decide([], {})
    assert decision.ticket_id is None
    assert decision.linked_ticket_id is None


def test_customer_joins_open_ticket_without_reopen() -> None:
    decision = decide([Candidate("tkt_1", "in-reply-to", "<a@x>")], {"tkt_1": ticket()})
    assert (decision.ticket_id, decision.method, decision.reopen) == ("tkt_1", "in-reply-to", False)


@pytest.mark.parametrize("status", [TicketStatus.PENDING, TicketStatus.RESOLVED])
def test_customer_reply_reopens_waiting_or_resolved_ticket(status: TicketStatus) -> None:
    decision = decide([Candidate("tkt_1", "references", "<a@x>")], {"tkt_1": ticket(status)})
    assert decision.ticket_id == "tkt_1"
    assert decision.reopen is True


def test_automatic_message_joins_but_never_reopens() -> None:
    decision = decide(
        [Candidate("tkt_1", "in-reply-to", "<a@x>")], {"tkt_1": ticket(TicketStatus.RESOLVED)}, automatic=True
    )
    assert decision.ticket_id == "tkt_1"
    assert decision.reopen is False


def test_participant_who_is_not_the_customer_may_join() -> None:
    decision = decide(
        [Candidate("tkt_1", "in-reply-to", "<a@x>")],
        {"tkt_1": ticket()},
        sender="bob@customer.example",
        customer=None,
    )
    assert decision.ticket_id == "tkt_1"


def test_stranger_does_not_join_and_the_new_ticket_is_linked() -> None:
    decision = decide(
        [Candidate("tkt_1", "references", "<a@x>")],
        {"tkt_1": ticket()},
        sender="deals@news.example",
        customer=None,
    )
    assert decision.ticket_id is None
    assert decision.linked_ticket_id == "tkt_1"
    assert decision.rejected == [
        {"ticket_id": "tkt_1", "method": "references", "why": "sender-not-participant"}
    ]


def test_closed_ticket_reopens_within_window_else_new_linked_ticket() -> None:
    recent = ticket(TicketStatus.CLOSED, closed_at=NOW - timedelta(days=3))
    old = ticket(TicketStatus.CLOSED, closed_at=NOW - timedelta(days=30))
    reopened = decide([Candidate("tkt_1", "in-reply-to", "<a@x>")], {"tkt_1": recent})
    assert (reopened.ticket_id, reopened.reopen) == ("tkt_1", True)
    fresh = decide([Candidate("tkt_1", "in-reply-to", "<a@x>")], {"tkt_1": old})
    assert (fresh.ticket_id, fresh.linked_ticket_id) == (None, "tkt_1")
    assert "closed-too-long" in fresh.reason


@pytest.mark.parametrize("method", ["subject-token", "plus-address"])
def test_unverified_sender_never_joins_by_a_ticket_number_alone(method: Method) -> None:
    # Given mail claiming to be the ticket's own customer, whose From is not authenticated
    decision = decide([Candidate("tkt_1", method, "1")], {"tkt_1": ticket()}, verified=False)

    # Then a guessable number does not let it in: a new ticket, linked, with the reason
    assert (decision.ticket_id, decision.linked_ticket_id) == (None, "tkt_1")
    assert decision.rejected == [{"ticket_id": "tkt_1", "method": method, "why": "sender-unverified"}]
    assert decision.reason == "new ticket: sender-unverified"


def test_unverified_sender_joins_by_a_message_id_of_the_thread() -> None:
    decision = decide(
        [Candidate("tkt_1", "subject-token", "1"), Candidate("tkt_1", "references", "<a@x>")],
        {"tkt_1": ticket()},
        verified=False,
    )
    assert (decision.ticket_id, decision.method) == ("tkt_1", "references")


def test_participants_stored_in_unicode_form_still_match_the_idna_key() -> None:
    old = ticket(participants=["jörg@bücher.de"], customer_id="cus_other")
    decision = decide(
        [Candidate("tkt_1", "subject-token", "1")],
        {"tkt_1": old},
        sender="jörg@xn--bcher-kva.de",
        customer=None,
    )
    assert decision.ticket_id == "tkt_1"


@pytest.mark.parametrize("value", ["0\r@", "a\tb@example.com", "id@host\u2003x", "x@y\nz"])
def test_a_bare_id_with_whitespace_inside_is_not_an_id(value: str) -> None:
    # Given a value without angle brackets whose whitespace is not a plain space
    # When it is normalised / Then it is refused, as one with a space is
    assert normalize_message_id(value) is None
