"""Chatwoot's inbound-mail fixtures: the facts that are about parsing (expectations.json).

Facts about application logic (conversation matching, contact choice, routing) are left to
the threading/ingest tests.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache, lru_cache
from typing import Any

import pytest

from shared.channels.email import parse_email
from shared.models.email import ParsedEmail

from .helpers import CORPUS, corpus_dir

pytestmark = pytest.mark.corpus

FOLDER = CORPUS / "chatwoot"


@cache
def parsed(name: str) -> ParsedEmail:
    return parse_email((corpus_dir("chatwoot") / name).read_bytes())


@lru_cache(maxsize=1)
def facts() -> dict[str, Any]:
    return json.loads((corpus_dir("chatwoot") / "expectations.json").read_text(encoding="utf-8"))["fixtures"]  # type: ignore[no-any-return]


def expect(name: str) -> dict[str, Any]:
    return facts()[name]["expect"]  # type: ignore[no-any-return]


def bare(ids: list[str]) -> list[str]:
    return [message_id.strip("<>") for message_id in ids]


def all_fixtures() -> list[str]:
    return sorted(path.name for path in FOLDER.glob("*.eml")) if FOLDER.is_dir() else []


@pytest.mark.parametrize("name", all_fixtures())
def test_every_fixture_parses_without_internal_error(name: str) -> None:
    assert not [defect for defect in parsed(name).defects if defect.startswith("parser-error")]


@pytest.mark.parametrize(
    "name",
    [
        "welcome.eml",
        "non_utf_encoded_mail.eml",
        "welcome_html.eml",
        "mail_with_no_subject.eml",
        "only_text.eml",
        "only_html.eml",
    ],
)
def test_subjects(name: str) -> None:
    assert parsed(name).subject == expect(name)["subject"]


def test_in_reply_to_takes_the_first_of_several() -> None:
    assert (
        bare(parsed("multiple_in_reply_to.eml").in_reply_to)[0]
        == expect("multiple_in_reply_to.eml")["in_reply_to"]
    )
    assert bare(parsed("welcome.eml").in_reply_to)[0] == expect("welcome.eml")["in_reply_to"]


def test_absent_threading_headers_give_empty_lists() -> None:
    mail = parsed("reply_cc.eml")
    assert mail.in_reply_to == []
    assert mail.references == expect("reply_cc.eml")["references"] == []


@pytest.mark.parametrize("name", ["references.eml", "mail_with_references.eml"])
def test_references_include_ids_without_at_sign(name: str) -> None:
    assert bare(parsed(name).references) == expect(name)["references"]


def test_duplicate_in_reply_to_ids_are_listed_once() -> None:
    mail = parsed("reply.eml")
    assert len(mail.in_reply_to) == len(set(mail.in_reply_to)) == 1


@pytest.mark.parametrize(
    "name",
    [
        "auto_reply.eml",
        "auto_reply_with_auto_submitted.eml",
        "bounced_gmail.eml",
        "welcome.eml",
        "non_utf_encoded_mail.eml",
    ],
)
def test_auto_reply_flags(name: str) -> None:
    wanted = expect(name).get(
        "auto_reply", name == "non_utf_encoded_mail.eml"
    )  # that one carries Auto-Submitted too
    assert parsed(name).automatic is wanted


def test_gmail_bounce_names_the_original_message() -> None:
    mail = parsed("bounced_gmail.eml")
    assert mail.bounce is True
    assert mail.bounced_message_ids == [
        "<conversation/93775311-9416-4428-964b-862001f8a8b2/messages/27855337@gmail.com>"
    ]


def test_bounce_without_from_address_does_not_raise() -> None:
    mail = parsed("bounced_with_no_from.eml")
    assert mail.from_ is None
    assert mail.from_header == '"" (Mail Delivery System)'
    assert mail.bounce is True
    assert mail.automatic is True


@pytest.mark.parametrize("name", ["mail_with_invalid_to.eml", "mail_with_invalid_to_2.eml"])
def test_malformed_to_is_read_as_well_as_possible(name: str) -> None:
    assert [address.normalized for address in parsed(name).to] == ["vishnu@chatwoot.com"]


@pytest.mark.parametrize(
    "name",
    [
        "only_text.eml",
        "only_html.eml",
        "support.eml",
        "reply.eml",
        "reply_mail_without_uuid.eml",
        "in_reply_to.eml",
    ],
)
def test_content(name: str) -> None:
    assert parsed(name).text == expect(name)["content"]


def test_quote_is_stripped_from_gmail_reply() -> None:
    # Chatwoot keeps the quote; with quotes stripped only the first line remains (see its README).
    expected = expect("mail_with_quote.eml")["content"]
    mail = parsed("mail_with_quote.eml")
    assert mail.text == expected.split("\n", 1)[0]
    assert "Any update on this?" in mail.full_text


@pytest.mark.parametrize("name", ["non_utf_encoded_mail.eml", "welcome_html.eml"])
def test_text_prefixes(name: str) -> None:
    prefix = expect(name)["text_content_reply_first_71_chars"]
    assert parsed(name).text.startswith(prefix.rstrip())


def test_welcome_full_text_date_sender_and_attachments() -> None:
    mail, wanted = parsed("welcome.eml"), expect("welcome.eml")
    assert mail.full_text == wanted["text_content_full"]
    assert mail.date == datetime.fromisoformat(wanted["date_iso"])
    assert mail.from_ is not None
    assert mail.from_.normalized == wanted["from_first_lowercased"]
    assert len(mail.attachments) == wanted["number_of_attachments"]
    assert {attachment.disposition for attachment in mail.attachments} == {"inline"}


@pytest.mark.parametrize("name", ["support.eml", "reply.eml"])
def test_attachment_counts(name: str) -> None:
    assert len(parsed(name).attachments) == expect(name)["attachments"]


def test_reply_to_and_sender_headers_are_exposed_for_contact_choice() -> None:
    reply_to = parsed("support_in_reply_to.eml").reply_to
    assert [f"{a.name} <{a.address}>" for a in reply_to] == [
        expect("support_in_reply_to.eml")["reply_to_header_value"]
    ]
    assert (
        parsed("group_sender_support.eml").headers["x-original-sender"]
        == expect("group_sender_support.eml")["contact_email"]
    )
    assert "6bdc3f4d-0bec-4515-a284-5d916fdde489" in parsed("forwarder_email.eml").headers["x-forwarded-for"]
    assert parsed("support_without_sender_name.eml").from_ is not None


def test_empty_date_is_none() -> None:
    assert parsed("mail_with_no_date.eml").date is None
