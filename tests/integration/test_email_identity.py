"""Spoofed customers: From, Reply-To, DMARC, relays, IDNA and malformed senders, through the real
inbound_email handler on moto (and the agent API for where answers go)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from shared.dal.pointers import Pointer
from shared.models.ticket import Ticket
from tests.integration.conftest import EmailHarness, mail, use_config
from tests.integration.test_agent_api import call

JANE = '"Jane Doe" <jane.doe@customer.example>'
JANES_FIRST = "<first@mail.customer.example>"
CONFIG = """
teams: [{id: support}]
agents:
  - {id: alice, teams: [support]}
email:
  relay_senders: ["@forms.example", "orders@shop.example"]
"""


@pytest.fixture
def desk(email: EmailHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EmailHarness:
    """The harness with a config naming two relays and an agent who can answer."""
    use_config(CONFIG, tmp_path, monkeypatch)
    boto3.client("ses").verify_domain_identity(Domain="support.example.com")
    return email


def janes_ticket(desk: EmailHarness) -> Ticket:
    result = desk.deliver(mail(sender=JANE, message_id=JANES_FIRST))
    assert (result["outcome"], result["ticket_number"]) == ("created", 1)
    ticket = desk.repository.get_ticket(result["ticket_id"])
    assert ticket is not None
    return ticket


def ticket_of(desk: EmailHarness, result: dict[str, Any]) -> Ticket:
    ticket = desk.repository.get_ticket(result["ticket_id"])
    assert ticket is not None
    return ticket


def customer_emails(desk: EmailHarness, ticket: Ticket) -> list[str]:
    customer = desk.repository.get_customer(ticket.customer_id)
    assert customer is not None
    return [i.value for i in customer.identities if i.kind == "email"]


def answer_to(ticket: Ticket) -> str:
    """Where an agent's reply on the ticket goes, as the agent API queues it."""
    status, body = call("POST", f"/tickets/{ticket.number}/replies", {"text": "We are on it."})
    assert status == 202, body
    return str(body["to"])


def test_reply_to_of_a_stranger_neither_joins_janes_ticket_nor_speaks_as_jane(desk: EmailHarness) -> None:
    # Given Jane's ticket #1
    first = janes_ticket(desk)

    # When Mallory writes from her own address, with Jane as Reply-To and Jane's ticket token
    result = desk.deliver(
        mail(
            sender="Mallory <mallory@evil.example>",
            subject="Re: [#1] Printer not working",
            body="Please send the invoice to my new address.",
            headers={"Reply-To": "jane.doe@customer.example"},
        )
    )

    # Then it opens a new ticket linked to #1, for Mallory, and says why
    assert (result["outcome"], result["ticket_number"]) == ("created", 2)
    assert "sender-not-participant" in result["reason"]
    assert "reply_to_ignored" in result["flags"]
    assert len(desk.repository.list_messages(first.id)) == 1
    mallorys = ticket_of(desk, result)
    assert mallorys.linked_ticket_id == first.id
    assert mallorys.customer_id != first.customer_id
    assert customer_emails(desk, mallorys) == ["mallory@evil.example"]
    assert "reply_to_ignored" in mallorys.flags
    # And the ticket shows both From and Reply-To, and answers go to Mallory, not to Jane
    [message] = desk.repository.list_messages(mallorys.id)
    assert message.headers["from"] == "Mallory <mallory@evil.example>"
    assert message.headers["reply-to"] == "jane.doe@customer.example"
    created = next(e for e in desk.repository.list_events(mallorys.id) if e.type == "created")
    assert created.data["rejected"][0]["why"] == "sender-not-participant"
    assert created.data["sender"]["from"] == "mallory@evil.example"
    assert created.data["sender"]["reply_to"] == "jane.doe@customer.example"
    assert "not aligned" in created.data["sender"]["why"]
    assert answer_to(mallorys) == "mallory@evil.example"


def test_plus_address_alone_does_not_let_a_stranger_in_either(desk: EmailHarness) -> None:
    first = janes_ticket(desk)
    result = desk.deliver(
        mail(
            sender="mallory@evil.example",
            to="support+1@support.example.com",
            headers={"Reply-To": "jane.doe@customer.example"},
        ),
        recipients=["support+1@support.example.com"],
    )
    assert (result["outcome"], result["ticket_number"]) == ("created", 2)
    assert ticket_of(desk, result).linked_ticket_id == first.id
    assert len(desk.repository.list_messages(first.id)) == 1


@pytest.mark.parametrize("policy", ["reject", "quarantine"])
def test_forged_from_of_a_strict_domain_is_quarantined_never_threaded(
    desk: EmailHarness, policy: str
) -> None:
    # Given Jane's ticket
    first = janes_ticket(desk)

    # When mail claiming to be Jane, replying to her thread, fails DMARC for a domain asking to
    # reject or quarantine such mail (delivered twice, as SNS may)
    raw = mail(
        sender=JANE,
        subject="Re: [#1] Printer not working",
        message_id="<forged@evil.example>",
        headers={"In-Reply-To": JANES_FIRST},
    )
    note = desk.notification(raw, verdicts={"dmarc": "FAIL"}, dmarc_policy=policy)
    results = [desk.invoke(desk.sns_event(note))["results"][0] for _ in range(2)]

    # Then it is quarantined once, kept for review with its raw mail, and Jane's ticket is untouched
    assert [(r["outcome"], r["reason"]) for r in results] == [
        ("quarantined", "dmarc"),
        ("duplicate", "SES notification already processed"),
    ]
    [entry] = desk.repository.list_quarantine()
    assert (entry.reason, entry.ref) == ("dmarc", "<forged@evil.example>")
    assert entry.details["dmarc_policy"] == policy
    assert entry.details["verdicts"]["dmarc"] == "FAIL"
    assert entry.details["from"] == JANE
    assert entry.raw_key is not None
    kept = boto3.client("s3").get_object(Bucket=desk.bucket, Key=entry.raw_key)["Body"].read()
    assert kept == raw
    assert [t.id for t in desk.repository.scan_tickets()] == [first.id]
    assert len(desk.repository.list_messages(first.id)) == 1


def test_forged_from_of_a_lenient_domain_is_flagged_and_a_token_alone_does_not_thread_it(
    desk: EmailHarness,
) -> None:
    # Given Jane's ticket
    first = janes_ticket(desk)

    # When mail claiming to be Jane fails DMARC for a domain whose policy is `none`, with only the
    # ticket's token to go by
    result = desk.deliver(
        mail(sender=JANE, subject="Re: [#1] Printer not working", body="Change my address please."),
        verdicts={"dmarc": "FAIL"},
        dmarc_policy="none",
    )

    # Then it is not quarantined but flagged, and opens a new ticket linked to Jane's, saying why
    assert (result["outcome"], result["ticket_number"]) == ("created", 2)
    assert "sender-unverified" in result["reason"]
    assert "dmarc_fail" in result["flags"]
    second = ticket_of(desk, result)
    assert second.linked_ticket_id == first.id
    assert "dmarc_fail" in second.flags
    assert desk.repository.list_quarantine() == []
    assert len(desk.repository.list_messages(first.id)) == 1


def test_lenient_dmarc_failure_replying_in_the_thread_joins_it_flagged(desk: EmailHarness) -> None:
    # A reply quoting the thread's Message-ID (not guessable, unlike a ticket number) still threads:
    # forwarders and mailing lists break DMARC for real customers too.
    first = janes_ticket(desk)
    result = desk.deliver(
        mail(sender=JANE, subject="Re: Printer not working", headers={"In-Reply-To": JANES_FIRST}),
        verdicts={"dmarc": "FAIL"},
        dmarc_policy="none",
    )
    assert (result["outcome"], result["ticket_number"]) == ("threaded", 1)
    assert "dmarc_fail" in ticket_of(desk, result).flags
    threaded = next(e for e in desk.repository.list_events(first.id) if e.type == "message_threaded")
    assert threaded.data["method"] == "in-reply-to"
    assert threaded.data["sender"]["verified"] is False
    assert "DMARC fail" in threaded.data["sender"]["why"]


def test_aligned_reply_to_is_where_we_answer_and_the_customer_stays_from(desk: EmailHarness) -> None:
    # Given mail from Jane's company address asking for answers at her team's address
    result = desk.deliver(mail(sender=JANE, headers={"Reply-To": "Printers <printers@it.customer.example>"}))

    # Then the customer is the From address, and the agent's answer goes to the Reply-To
    ticket = ticket_of(desk, result)
    assert customer_emails(desk, ticket) == ["jane.doe@customer.example"]
    assert "reply_to_ignored" not in ticket.flags
    created = next(e for e in desk.repository.list_events(ticket.id) if e.type == "created")
    assert "aligned" in created.data["sender"]["why"]
    assert answer_to(ticket) == "printers@it.customer.example"


@pytest.mark.parametrize(
    ("sender", "customer"),
    [
        ("Contact form <noreply@forms.example>", "jane.doe@customer.example"),  # a relay domain
        ("Shop <orders@shop.example>", "jane.doe@customer.example"),  # a relay address
        ("Other shop <orders@other-shop.example>", "orders@other-shop.example"),  # no relay
    ],
)
def test_a_configured_relay_speaks_for_the_person_in_its_reply_to(
    desk: EmailHarness, sender: str, customer: str
) -> None:
    # When a web form or shop forwards a message with the person in Reply-To
    result = desk.deliver(mail(sender=sender, subject="Contact form: printer", headers={"Reply-To": JANE}))

    # Then only a relay the config names makes that person the customer and the answer's address
    ticket = ticket_of(desk, result)
    assert customer_emails(desk, ticket) == [customer]
    assert answer_to(ticket) == customer
    assert ("reply_to_ignored" in ticket.flags) is (customer != "jane.doe@customer.example")


def test_a_relay_failing_dmarc_does_not_speak_for_anyone(desk: EmailHarness) -> None:
    result = desk.deliver(
        mail(sender="contact@forms.example", headers={"Reply-To": JANE}),
        verdicts={"dmarc": "FAIL"},
        dmarc_policy="none",
    )
    ticket = ticket_of(desk, result)
    assert customer_emails(desk, ticket) == ["contact@forms.example"]
    assert "reply_to_ignored" in ticket.flags
    assert answer_to(ticket) == "contact@forms.example"


def test_unicode_and_punycode_forms_of_an_address_are_one_customer(desk: EmailHarness) -> None:
    # Given a ticket opened from the Unicode form of Jörg's address
    first = desk.deliver(mail(sender="Jörg <jörg@bücher.de>", subject="Bestellung"))

    # When Jörg writes again from the punycode form, with the ticket's token
    again = desk.deliver(mail(sender="jörg@xn--bcher-kva.de", subject="Re: [#1] Bestellung"))

    # Then both are the same customer and the second mail joins the ticket
    assert (again["outcome"], again["ticket_number"]) == ("threaded", 1)
    ticket = ticket_of(desk, first)
    assert customer_emails(desk, ticket) == ["jörg@xn--bcher-kva.de"]
    assert len(desk.repository.scan_customers()) == 1
    # And each message keeps the address as it was written
    froms = [m.headers["from"] for m in desk.repository.list_messages(ticket.id)]
    assert froms == ["Jörg <jörg@bücher.de>", "jörg@xn--bcher-kva.de"]


def test_a_customer_keyed_by_the_unicode_form_before_idna_keys_is_still_found(desk: EmailHarness) -> None:
    # Given a customer whose identity pointer was written in the Unicode form (before IDNA keys)
    desk.deliver(mail(sender="someone@example.org"))
    [customer] = desk.repository.scan_customers()
    desk.repository._write(
        [], [Pointer("identity", "email#jörg@bücher.de", customer_id=customer.id)], "2026-03-01"
    )

    # When mail comes from the punycode form of that address
    result = desk.deliver(mail(sender="jörg@XN--BCHER-KVA.DE", subject="Hallo"))

    # Then it belongs to that customer, and no second customer is made
    assert ticket_of(desk, result).customer_id == customer.id
    assert len(desk.repository.scan_customers()) == 1


@pytest.mark.parametrize(
    ("sender", "customer"),
    [
        ("a@x.example b@x.example", "a@x.example"),
        ("<pete(his account)@silly.test(his host)>", "pete@silly.test"),
    ],
)
def test_malformed_from_takes_the_first_valid_address_and_is_flagged(
    desk: EmailHarness, sender: str, customer: str
) -> None:
    result = desk.deliver(mail(sender=sender))
    assert result["outcome"] == "created"
    assert "from_malformed" in result["flags"]
    ticket = ticket_of(desk, result)
    assert customer_emails(desk, ticket) == [customer]
    assert "from_malformed" in ticket.flags
    [message] = desk.repository.list_messages(ticket.id)
    assert message.author == customer
    assert message.headers["from"] == sender


def test_malformed_from_naming_a_customer_does_not_join_by_token(desk: EmailHarness) -> None:
    # Given Jane's ticket
    first = janes_ticket(desk)

    # When a malformed From whose first valid address is Jane's comes with her token
    result = desk.deliver(
        mail(sender="jane.doe@customer.example mallory@evil.example", subject="Re: [#1] Printer")
    )

    # Then the address is read (and flagged) but a token alone does not let it in
    assert (result["outcome"], result["ticket_number"]) == ("created", 2)
    assert "sender-unverified" in result["reason"]
    assert ticket_of(desk, result).linked_ticket_id == first.id


def test_customer_rules_match_either_form_of_an_internationalised_domain(
    email: EmailHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given rules written with the Unicode form of a domain and of an address
    use_config(
        "customers:\n"
        "  - {email_domains: [bücher.de], tier: vip}\n"
        "  - {identities: [anna@café.example], fields: {region: fr}}\n",
        tmp_path,
        monkeypatch,
    )

    # When customers write from the punycode forms
    vip = email.deliver(mail(sender="jörg@xn--bcher-kva.de"))
    cafe = email.deliver(mail(sender="anna@xn--caf-dma.example"))

    # Then the rules apply to them
    jorg = email.repository.get_customer(ticket_of(email, vip).customer_id)
    anna = email.repository.get_customer(ticket_of(email, cafe).customer_id)
    assert jorg is not None
    assert anna is not None
    assert (jorg.tier, anna.fields) == ("vip", {"region": "fr"})


@pytest.mark.parametrize(
    "lookalike",
    [
        "jane.doe@ｃｕｓｔｏｍｅｒ.example",  # fullwidth letters, which IDNA 2003 folds to ASCII
        "jane.doe@cus\u00adtomer.example",  # a soft hyphen, which IDNA 2003 drops
        "jane.doe@customer\u3002example",  # an ideographic full stop, a dot to IDNA 2003
        "jane.doe@customer.ex\u0430mple",  # a Cyrillic a
    ],
)
def test_a_lookalike_domain_is_not_the_customer_of_the_ascii_one(desk: EmailHarness, lookalike: str) -> None:
    # Given Jane's ticket #1, opened from jane.doe@customer.example
    first = janes_ticket(desk)

    # When mail from a domain that only looks like Jane's (its DMARC check cannot fail: DNS has
    # no such name) comes with her ticket's token
    result = desk.deliver(mail(sender=f"Jane Doe <{lookalike}>", subject="Re: [#1] Printer not working"))

    # Then it is another customer, on a new ticket linked to Jane's, and hers is untouched
    assert (result["outcome"], result["ticket_number"]) == ("created", 2)
    assert "sender-not-participant" in result["reason"]
    second = ticket_of(desk, result)
    assert second.customer_id != first.customer_id
    assert customer_emails(desk, second) != ["jane.doe@customer.example"]
    assert len(desk.repository.list_messages(first.id)) == 1


def test_sharp_s_and_ss_are_two_domains_and_two_customers(desk: EmailHarness) -> None:
    # Given a ticket of jane@strasse.de
    first = desk.deliver(mail(sender="jane@strasse.de", subject="Lieferung"))

    # When someone at straße.de (another domain under IDNA 2008, with its own DMARC) writes with
    # that ticket's token, passing DMARC for their own domain
    result = desk.deliver(mail(sender="jane@straße.de", subject="Re: [#1] Lieferung"))

    # Then they are not Jane and do not join her ticket
    assert (result["outcome"], result["ticket_number"]) == ("created", 2)
    assert ticket_of(desk, result).customer_id != ticket_of(desk, first).customer_id
    assert customer_emails(desk, ticket_of(desk, result)) == ["jane@xn--strae-oqa.de"]


def test_case_variants_of_an_internationalised_address_stay_one_customer(desk: EmailHarness) -> None:
    first = desk.deliver(mail(sender="Jörg <jörg@bücher.de>", subject="Bestellung"))
    again = desk.deliver(mail(sender="JÖRG@BÜCHER.DE", subject="Re: [#1] Bestellung"))
    assert (again["outcome"], again["ticket_number"]) == ("threaded", 1)
    assert customer_emails(desk, ticket_of(desk, first)) == ["jörg@xn--bcher-kva.de"]


@pytest.mark.parametrize(
    ("sender", "headers"),
    [
        ("jane.doe@customer.example, mallory@evil.example", {}),  # two authors in one From
        ("<jane.doe@customer.example>mallory@evil.example", {}),  # parsers disagree on the address
        ("jane.doe@customer.example", {"From": "mallory@evil.example"}),  # a second From header
    ],
)
def test_a_from_that_may_name_someone_else_does_not_join_by_token(
    desk: EmailHarness, sender: str, headers: dict[str, str]
) -> None:
    # Given Jane's ticket #1
    first = janes_ticket(desk)

    # When Mallory, whose own domain passes DMARC, writes a From that also names Jane (DMARC may
    # have checked Mallory's address while we read Jane's), with Jane's ticket token
    result = desk.deliver(mail(sender=sender, subject="Re: [#1] Printer not working", headers=headers))

    # Then the sender is flagged and unverified, and the mail opens a new ticket linked to Jane's
    assert (result["outcome"], result["ticket_number"]) == ("created", 2)
    assert "sender-unverified" in result["reason"]
    assert "from_malformed" in result["flags"]
    assert ticket_of(desk, result).linked_ticket_id == first.id
    assert len(desk.repository.list_messages(first.id)) == 1


def test_a_from_dmarc_could_not_check_does_not_join_by_token(desk: EmailHarness) -> None:
    # Given Jane's ticket #1
    first = janes_ticket(desk)

    # When mail claiming to be Jane comes with her token and SES could not evaluate DMARC
    # (PROCESSING_FAILED: nobody knows whether the From is forged)
    result = desk.deliver(
        mail(sender=JANE, subject="Re: [#1] Printer not working"), verdicts={"dmarc": "PROCESSING_FAILED"}
    )

    # Then it is not quarantined (it may be Jane), but it does not join by the number alone
    assert (result["outcome"], result["ticket_number"]) == ("created", 2)
    assert "sender-unverified" in result["reason"]
    assert ticket_of(desk, result).linked_ticket_id == first.id
    assert desk.repository.list_quarantine() == []
    created = next(e for e in desk.repository.list_events(ticket_of(desk, result).id) if e.type == "created")
    assert created.data["sender"]["verified"] is False
    assert "DMARC processing_failed" in created.data["sender"]["why"]


def test_a_reply_in_the_thread_joins_even_when_dmarc_could_not_check(desk: EmailHarness) -> None:
    janes_ticket(desk)
    result = desk.deliver(
        mail(sender=JANE, subject="Re: Printer not working", headers={"In-Reply-To": JANES_FIRST}),
        verdicts={"dmarc": "PROCESSING_FAILED"},
    )
    assert (result["outcome"], result["ticket_number"]) == ("threaded", 1)


def test_a_participant_of_another_ticket_cannot_join_by_plus_address(desk: EmailHarness) -> None:
    # Given Jane's ticket #1 and Bob's ticket #2
    first = janes_ticket(desk)
    bobs = desk.deliver(mail(sender="Bob <bob@other.example>", subject="My own problem"))
    assert bobs["ticket_number"] == 2

    # When Bob, whose mail passes DMARC, writes to #1's plus-address with #1's token
    result = desk.deliver(
        mail(sender="bob@other.example", to="support+1@support.example.com", subject="Re: [#1] Printer"),
        recipients=["support+1@support.example.com"],
    )

    # Then being a participant elsewhere does not make him one of #1: a new ticket linked to it
    assert (result["outcome"], result["ticket_number"]) == ("created", 3)
    assert "sender-not-participant" in result["reason"]
    assert ticket_of(desk, result).linked_ticket_id == first.id
    assert len(desk.repository.list_messages(first.id)) == 1
