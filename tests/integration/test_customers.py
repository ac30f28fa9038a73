"""Merging customers and undoing a merge, on moto."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.logic.customers import MergeError, merge_customers, unmerge_customers
from tests.integration.conftest import EmailHarness, mail

AT = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


def customers_by_email(email: EmailHarness) -> dict[str, str]:
    return {c.identities[0].value: c.id for c in email.repository.scan_customers() if c.identities}


def test_merge_moves_identities_and_tickets_and_unmerge_restores_them(email: EmailHarness) -> None:
    # Given two customers who are the same person, one ticket each
    email.deliver(mail(sender="jane@home.example", subject="From home"))
    email.deliver(mail(sender="jane@work.example", subject="From work"))
    ids = customers_by_email(email)
    home, work = ids["jane@home.example"], ids["jane@work.example"]

    # When an agent merges work into home
    record = merge_customers(email.repository, work, home, by="agent:alice", at=AT)

    # Then home owns both identities and both tickets; a new mail from work joins home
    merged = email.repository.get_customer(home)
    assert merged is not None
    assert {i.value for i in merged.identities} == {"jane@home.example", "jane@work.example"}
    assert {t.subject for t in email.repository.list_customer_tickets(home)} == {"From home", "From work"}
    assert email.repository.list_customer_tickets(work) == []
    email.deliver(mail(sender="jane@work.example", subject="Third"))
    assert len(email.repository.list_customer_tickets(home)) == 3

    # When the merge is undone
    undone = unmerge_customers(email.repository, home, record.id, by="agent:bob", at=AT)

    # Then the moved identity and tickets go back; the merge stays recorded as undone
    assert undone.undone_by == "agent:bob"
    assert [t.subject for t in email.repository.list_customer_tickets(work)] == ["From work"]
    restored = email.repository.get_customer(work)
    assert restored is not None
    assert restored.merged_into is None
    assert [i.value for i in restored.identities] == ["jane@work.example"]
    home_after = email.repository.get_customer(home)
    assert home_after is not None
    assert home_after.merges[0].undone_at == AT


def test_invalid_merges_are_refused(email: EmailHarness) -> None:
    email.deliver(mail(sender="a@x.example"))
    email.deliver(mail(sender="b@x.example"))
    ids = customers_by_email(email)
    with pytest.raises(MergeError, match="itself"):
        merge_customers(email.repository, ids["a@x.example"], ids["a@x.example"], by="agent", at=AT)
    with pytest.raises(MergeError, match="no customer"):
        merge_customers(email.repository, "cus_missing", ids["a@x.example"], by="agent", at=AT)
    record = merge_customers(email.repository, ids["b@x.example"], ids["a@x.example"], by="agent", at=AT)
    with pytest.raises(MergeError, match="already merged"):
        merge_customers(email.repository, ids["b@x.example"], ids["a@x.example"], by="agent", at=AT)
    unmerge_customers(email.repository, ids["a@x.example"], record.id, by="agent", at=AT)
    with pytest.raises(MergeError, match="already undone"):
        unmerge_customers(email.repository, ids["a@x.example"], record.id, by="agent", at=AT)


def test_address_written_in_a_message_is_suggested_not_linked(email: EmailHarness) -> None:
    email.deliver(mail(body="Please also use my work address jane@work.example or +1 425 555 0182."))
    [ticket] = email.repository.scan_tickets()
    [suggested] = [e for e in email.repository.list_events(ticket.id) if e.type == "identity_suggested"]
    assert {i["value"] for i in suggested.data["identities"]} == {"jane@work.example", "+14255550182"}
    assert len(email.repository.scan_customers()) == 1
    customer = email.repository.get_customer(ticket.customer_id)
    assert customer is not None
    assert [i.value for i in customer.identities] == ["jane.doe@customer.example"]
