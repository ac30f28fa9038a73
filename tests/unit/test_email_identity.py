"""Who sent an email and where we answer: From, Reply-To, DMARC, relays, IDNA keys, malformed From."""

from __future__ import annotations

import pytest

from shared.channels.email import parse_email
from shared.channels.email.addresses import address_key, first_valid_mailbox, legacy_keys
from shared.config import parse_config
from shared.errors import ConfigError
from shared.logic.email_identity import (
    Dmarc,
    aligned,
    from_mailbox,
    is_relay,
    organisational_domain,
    resolve_sender,
)
from shared.models.email import EmailAddress, ParsedEmail

PASS = Dmarc("PASS")
RELAYS = ["@forms.example", "orders@shop.example"]


def email(from_: str, reply_to: str | None = None, sender: str | None = None) -> ParsedEmail:
    """What the parser makes of a mail with these headers."""
    lines = [f"From: {from_}", "To: support@support.example.com", "Subject: Hi"]
    if reply_to is not None:
        lines.append(f"Reply-To: {reply_to}")
    if sender is not None:
        lines.append(f"Sender: {sender}")
    return parse_email(("\r\n".join([*lines, "", "body"])).encode())


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("jörg@bücher.de", "jörg@xn--bcher-kva.de"),
        ("Jörg@BÜCHER.de", "jörg@xn--bcher-kva.de"),
        ("jörg@xn--bcher-kva.de", "jörg@xn--bcher-kva.de"),
        ("JÖRG@XN--BCHER-KVA.DE.", "jörg@xn--bcher-kva.de"),
        (" Jane.Doe@Customer.Example ", "jane.doe@customer.example"),
        ("MAILER-DAEMON", "mailer-daemon"),
        ("x@a..example", "x@a..example"),  # not encodable: kept as written, lower-cased
    ],
)
def test_address_key_is_one_form_per_address(address: str, key: str) -> None:
    assert address_key(address) == key


@pytest.mark.parametrize(
    ("lookalike", "ascii"),
    [
        ("jane@ｃｕｓｔｏｍｅｒ.example", "jane@customer.example"),  # fullwidth letters
        ("jane@cus\u00adtomer.example", "jane@customer.example"),  # a soft hyphen
        ("jane@customer\u3002example", "jane@customer.example"),  # an ideographic full stop
        ("jane@straße.de", "jane@strasse.de"),  # IDNA 2003 maps ß to ss, IDNA 2008 does not
        ("\u212aate@customer.example", "kate@customer.example"),  # the Kelvin sign lower-cases to k
        ("jane@\u212austomer.example", "jane@kustomer.example"),
    ],
)
def test_a_lookalike_never_has_the_key_of_the_ascii_address(lookalike: str, ascii: str) -> None:
    assert address_key(lookalike) != address_key(ascii)
    assert address_key(ascii) not in legacy_keys(lookalike)


def test_legacy_keys_are_the_forms_written_before_idna_keys() -> None:
    assert legacy_keys("jörg@xn--bcher-kva.de") == ["jörg@bücher.de"]
    assert legacy_keys("Jörg@Bücher.de") == ["jörg@bücher.de"]
    assert legacy_keys("jane@customer.example") == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a@x.example b@x.example", "a@x.example"),
        ("<pete(his account)@silly.test(his host)>", "pete@silly.test"),
        ("Pete <pete(his account)@silly.test(his host)>", "pete@silly.test"),
        ("x <a@b.example> <d@e.example>", "a@b.example"),
        ("Mallory", None),
        ("a@", None),
        ("", None),
    ],
)
def test_first_valid_mailbox_reads_like_the_standard_library(value: str, expected: str | None) -> None:
    found = first_valid_mailbox(value)
    assert (found.address if found else None) == expected


@pytest.mark.parametrize(
    ("domain", "organisation"),
    [
        ("customer.example", "customer.example"),
        ("it.mail.customer.example", "customer.example"),
        ("shop.example.co.uk", "example.co.uk"),
        ("example.co.uk", "example.co.uk"),
        ("mail.bücher.de", "xn--bcher-kva.de"),
    ],
)
def test_organisational_domain(domain: str, organisation: str) -> None:
    assert organisational_domain(domain) == organisation


def test_alignment_is_the_same_organisation() -> None:
    assert aligned("printers@it.customer.example", "jane@customer.example")
    assert aligned("a@bücher.de", "b@mail.xn--bcher-kva.de")
    assert not aligned("jane@customer.example", "mallory@evil.example")
    assert not aligned("a@one.co.uk", "b@two.co.uk")
    assert not aligned("a@customer.example", "MAILER-DAEMON")


def test_relays_are_addresses_or_whole_domains() -> None:
    assert is_relay("NoReply@Forms.example", RELAYS)
    assert is_relay("orders@shop.example", RELAYS)
    assert not is_relay("sales@shop.example", RELAYS)
    assert not is_relay("a@sub.forms.example", RELAYS)


def test_customer_is_from_and_a_strangers_reply_to_is_ignored() -> None:
    identity = resolve_sender(email("Mallory <mallory@evil.example>", "jane@customer.example"), PASS, [])
    assert (identity.key, identity.answer_to, identity.source) == (
        "mallory@evil.example",
        "mallory@evil.example",
        "from",
    )
    assert identity.verified is True
    assert identity.flags == ["reply_to_ignored"]
    assert identity.reply_to == "jane@customer.example"


def test_aligned_reply_to_is_where_we_answer() -> None:
    identity = resolve_sender(email("jane@customer.example", "team@it.customer.example"), PASS, [])
    assert (identity.key, identity.answer_to) == ("jane@customer.example", "team@it.customer.example")
    assert identity.flags == []


def test_aligned_reply_to_is_ignored_when_dmarc_fails() -> None:
    identity = resolve_sender(
        email("jane@customer.example", "team@it.customer.example"), Dmarc("FAIL", "none"), []
    )
    assert identity.answer_to == "jane@customer.example"
    assert identity.verified is False
    assert identity.flags == ["reply_to_ignored"]


def test_a_relay_that_passes_dmarc_speaks_for_its_reply_to_unverified() -> None:
    parsed = email("Form <noreply@forms.example>", "Jane <Jane@Customer.example>")
    identity = resolve_sender(parsed, PASS, RELAYS)
    assert identity.customer == EmailAddress(name="Jane", address="Jane@Customer.example")
    assert (identity.key, identity.answer_to, identity.source) == (
        "jane@customer.example",
        "Jane@Customer.example",
        "relay-reply-to",
    )
    assert identity.verified is False


@pytest.mark.parametrize("status", ["FAIL", "GRAY", "PROCESSING_FAILED", "DISABLED", "NONE"])
def test_a_relay_without_a_dmarc_pass_is_just_a_sender(status: str) -> None:
    identity = resolve_sender(email("noreply@forms.example", "jane@customer.example"), Dmarc(status), RELAYS)
    assert (identity.key, identity.source) == ("noreply@forms.example", "from")


def test_several_reply_to_addresses_are_ignored() -> None:
    parsed = email("jane@customer.example", "a@customer.example, b@customer.example")
    identity = resolve_sender(parsed, PASS, RELAYS)
    assert identity.answer_to == "jane@customer.example"


def test_reply_to_never_stands_in_for_a_from_without_address() -> None:
    # The parser shows Reply-To as the sender then (Zammad's rule); identity must not take it.
    parsed = email("Jane Doe", "mallory@evil.example")
    assert parsed.from_ is not None
    assert parsed.from_.address == "mallory@evil.example"
    identity = resolve_sender(parsed, PASS, RELAYS)
    assert identity.key is None
    assert identity.source == "none"
    assert "reply_to_ignored" in identity.flags


def test_sender_header_speaks_unverified_when_from_has_no_address() -> None:
    identity = resolve_sender(email("Jane Doe", sender="jane@customer.example"), PASS, [])
    assert (identity.key, identity.source, identity.verified) == ("jane@customer.example", "sender", False)


@pytest.mark.parametrize(
    ("value", "address"),
    [
        ("a@x.example b@x.example", "a@x.example"),
        ("<pete(his account)@silly.test(his host)>", "pete@silly.test"),
    ],
)
def test_malformed_from_is_read_flagged_and_unverified(value: str, address: str) -> None:
    mailbox, flags = from_mailbox(email(value))
    assert mailbox is not None
    assert mailbox.address == address
    assert flags == ["from_malformed"]
    identity = resolve_sender(email(value), PASS, [])
    assert (identity.key, identity.verified) == (address, False)


def test_well_formed_from_is_taken_as_is() -> None:
    mailbox, flags = from_mailbox(email('"Doe, Jane" <Jane.Doe@customer.example>'))
    assert mailbox == EmailAddress(name="Doe, Jane", address="Jane.Doe@customer.example")
    assert flags == []


@pytest.mark.parametrize(
    ("dmarc", "quarantines", "policy"),
    [
        (Dmarc("FAIL", "reject"), True, "reject"),
        (Dmarc("FAIL", "QUARANTINE"), True, "quarantine"),
        (Dmarc("FAIL", "none"), False, "none"),
        (Dmarc("FAIL", None), False, "none"),
        (Dmarc("PASS", "reject"), False, "reject"),
        (Dmarc("GRAY"), False, "none"),
    ],
)
def test_dmarc_quarantines_only_a_failure_under_a_strict_policy(
    dmarc: Dmarc, quarantines: bool, policy: str
) -> None:
    assert dmarc.quarantines is quarantines
    assert dmarc.effective_policy == policy


def test_relay_senders_config_is_validated() -> None:
    config = parse_config("email: {relay_senders: ['@forms.example', ' orders@shop.example ']}")
    assert config.email.relay_senders == ["@forms.example", "orders@shop.example"]
    for bad in ("forms.example", "@localhost", "a b@shop.example"):
        with pytest.raises(ConfigError, match=r"email\.relay_senders"):
            parse_config(f"email: {{relay_senders: ['{bad}']}}")
