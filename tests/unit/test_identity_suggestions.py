"""Identities written in a message are suggestions for agents, never links."""

from __future__ import annotations

from shared.logic.customers import suggest_identities
from shared.models.ticket import Identity, IdentityKind


def test_email_and_phone_in_text_are_suggested_once() -> None:
    text = "Call me on +44 20 7946 0958 or write to Jane.Doe@Work.example. Again: jane.doe@work.example"
    found = suggest_identities(text, [])
    assert found == [
        Identity(kind=IdentityKind.EMAIL, value="jane.doe@work.example"),
        Identity(kind=IdentityKind.PHONE, value="+442079460958"),
    ]


def test_identities_the_customer_already_has_are_not_suggested() -> None:
    known = [Identity(kind=IdentityKind.PHONE, value="+14255550182")]
    assert suggest_identities("my number is +1 425-555-0182", known) == []


def test_national_numbers_need_a_region() -> None:
    assert suggest_identities("ring 020 7946 0958", []) == []
    assert suggest_identities("ring 020 7946 0958", [], default_region="GB") == [
        Identity(kind=IdentityKind.PHONE, value="+442079460958")
    ]


def test_plain_text_suggests_nothing() -> None:
    assert suggest_identities("Order 4821 is late since 2026-03-01.", []) == []
