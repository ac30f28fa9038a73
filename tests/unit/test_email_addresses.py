"""Addresses, sender fallback, threading ids and malformed headers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.channels.email import parse_email
from shared.channels.email.addresses import choose_sender, parse_address_list
from shared.models.email import EmailAddress

FIXTURES = Path(__file__).resolve().parents[1] / "events" / "emails"


def test_plain_reply_headers() -> None:
    parsed = parse_email((FIXTURES / "plain_reply.eml").read_bytes())
    assert parsed.from_ == EmailAddress(name="Müller, Jörg", address="joerg.mueller@example.com")
    assert parsed.from_header == '"Müller, Jörg" <joerg.mueller@example.com>'
    assert parsed.to == [
        EmailAddress(name="Support", address="support@example.com"),
        EmailAddress(name="Zürich Team", address="zurich@example.com"),
    ]
    assert parsed.cc == [EmailAddress(address="boss@example.com")]
    assert parsed.reply_to == [EmailAddress(name="Jörg", address="replies@example.com")]
    assert parsed.subject == "Re: Bestellung № 42"
    assert parsed.message_id == "<reply-1@example.com>"
    assert parsed.in_reply_to == ["<ticket-42@support.example.com>"]
    assert parsed.references == ["<ticket-41@support.example.com>", "<ticket-42@support.example.com>"]
    assert parsed.date == datetime(2025, 3, 4, 9, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"Smith, Karoline" <k@example.com>', [("Smith, Karoline", "k@example.com")]),
        (
            "Smith, Karoline <k@example.com>, b@example.com",
            [("Smith, Karoline", "k@example.com"), ("", "b@example.com")],
        ),
        ("a@example.com (Alice A.)", [("Alice A.", "a@example.com")]),
        ("undisclosed-recipients:;", []),
        ("Team: a@example.com, b@example.com;", [("", "a@example.com"), ("", "b@example.com")]),
        ("<vishnu@example.com>vishnu@example.com", [("vishnu@example.com", "vishnu@example.com")]),
        ("vishnu@example.com www.example.com", [("www.example.com", "vishnu@example.com")]),
        ('"" (Mail Delivery System)', []),
        ("=?utf-8?B?6YO955C5?= <g@example.cn>", [("都琹", "g@example.cn")]),
        ("", []),
    ],
)
def test_address_lists_are_read_tolerantly(value: str, expected: list[tuple[str, str]]) -> None:
    assert [(a.name, a.address) for a in parse_address_list(value)] == expected


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        (["Alice <alice@example.com>", "r@example.com", None, None], ("Alice", "alice@example.com")),
        (["", "<reply@example.com>", None, None], ("", "reply@example.com")),  # empty From -> Reply-To
        (
            ['"Me" <>', None, "<bounce@example.com>", None],
            ("", "bounce@example.com"),
        ),  # From <> -> Return-Path
        (["[garbage]", None, None, "Sender <s@example.com>"], ("Sender", "s@example.com")),
        (['"Y Ltd " <>, "LTD" <ly@example.com>', None, None, None], ("LTD", "ly@example.com")),
        (
            ['"x" <power quadrant system@example.com>', None, None, None],
            ("x", "power quadrant system@example.com"),
        ),
        (
            ["MAILER-DAEMON (Mail Delivery System)", None, None, None],
            ("Mail Delivery System", "MAILER-DAEMON"),
        ),
        (['"" (Mail Delivery System)', None, None, None], None),
        ([None, None, None, None], None),
    ],
)
def test_sender_fallback(candidates: list[str | None], expected: tuple[str, str] | None) -> None:
    sender = choose_sender(candidates)
    assert (None if sender is None else (sender.name, sender.address)) == expected


def test_sender_return_path_and_empty_return_path() -> None:
    raw = b"Return-Path: <>\nSender: Bot <bot@example.com>\nFrom: a@example.com\nSubject: x\n\nbody\n"
    parsed = parse_email(raw)
    assert parsed.return_path == ""
    assert parsed.sender == EmailAddress(name="Bot", address="bot@example.com")
    raw = b"Return-Path: <bounces@example.com>\nFrom: a@example.com\n\nbody\n"
    assert parse_email(raw).return_path == "bounces@example.com"
    assert parse_email(b"From: a@example.com\n\nbody\n").return_path is None


def test_duplicate_from_headers_take_the_one_with_an_address() -> None:
    raw = b"From: [??????]\nFrom: =?utf-8?B?6YO955C5?= <g@example.cn>\nSubject: x\n\nbody\n"
    parsed = parse_email(raw)
    assert parsed.from_ == EmailAddress(name="都琹", address="g@example.cn")
    assert parsed.from_header == "都琹 <g@example.cn>"


def test_mbox_from_line_is_stripped() -> None:
    raw = (FIXTURES / "forwarded_message.eml").read_bytes()
    parsed = parse_email(raw)
    assert parsed.from_ == EmailAddress(name="Dave", address="dave@example.com")
    assert parsed.subject == "Fwd: テスト"
    assert "mailer@example.com" not in parsed.full_text


def test_junk_before_headers_is_skipped() -> None:
    raw = (
        b"---- Original email message ----\r\nReturn-Path: x@example.com\r\n"
        b"From: x@example.com\r\nSubject: Hi\r\n\r\nbody\r\n"
    )
    parsed = parse_email(raw)
    assert parsed.subject == "Hi"
    assert parsed.full_text == "body\n"
    assert "junk-before-headers" in parsed.defects


def test_continuation_line_without_whitespace_is_repaired() -> None:
    raw = (
        b"From: a@example.com\r\nX-Tracker: H4sIAAAA\r\nQMD4w7GqSf8DjFKc\r\nSubject: still seen\r\n"
        b'Content-Type: multipart/alternative;\r\nboundary="XX"\r\n\r\n'
        b"--XX\r\nContent-Type: text/plain\r\n\r\nsome text\r\n--XX--\r\n"
    )
    parsed = parse_email(raw)
    assert parsed.subject == "still seen"
    assert parsed.full_text == "some text"
    assert "header-continuation-without-whitespace" in parsed.defects


def test_subject_keeps_inner_spaces_and_empty_subject_is_empty() -> None:
    assert parse_email(b"Subject: =?utf-8?Q?_Hi_?= \nFrom: a@example.com\n\nx").subject == " Hi "
    assert parse_email(b"From: a@example.com\nSubject:\n\nx").subject == ""


def test_missing_and_invalid_dates() -> None:
    assert parse_email(b"From: a@example.com\nDate:\n\nx").date is None
    assert parse_email(b"From: a@example.com\nDate: yesterday-ish\n\nx").date is None
    naive = parse_email(b"From: a@example.com\nDate: Mon, 1 Jan 2024 06:31:44 -0000\n\nx").date
    assert naive == datetime(2024, 1, 1, 6, 31, 44, tzinfo=UTC)
