"""Visible text: quoted history, quote headers and signatures removed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from shared.channels.email import parse_email
from shared.channels.email.quotes import visible_text

FIXTURES = Path(__file__).resolve().parents[1] / "events" / "emails"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Thanks!\n\nOn Mon, Mar 3, 2025 at 5:02 PM Support <s@example.com> wrote:\n> old\n", "Thanks!"),
        ("Danke\n\nAm 03.03.2025 um 17:02 schrieb Support <s@example.com>:\n> alt\n", "Danke"),
        ("Merci\n\nLe lun. 3 mars 2025 à 17:02, Support <s@example.com> a écrit :\n> vieux\n", "Merci"),
        (
            "Grazie\n\nIl giorno 3 mar 2025, alle ore 17:02, Support <s@ex.com> ha scritto:\n> vecchio\n",
            "Grazie",
        ),
        ("Спасибо\n\nср, 30 апр. 2025 г. в 15:19, John Doe <doe@example.com>:\n> старое\n", "Спасибо"),
        # a Gmail header wrapped over three lines
        (
            "Sure.\n\nOn Dec 16, 2011, at 12:47 PM, Corey Donohoe\n<reply@example.com>\nwrote:\n\n> q\n",
            "Sure.",
        ),
        ("Ok\n\n-----Original Message-----\nFrom: A\nSent: today\n\nold text\n", "Ok"),
        ("Ok\n\n-----Ursprüngliche Nachricht-----\nVon: A\n\nalt\n", "Ok"),
        # Outlook header block without separator line, localised
        ("Ok\n\nVon: Max <max@example.de>\nGesendet: Montag\nAn: Erika\nBetreff: Hallo\n\nalt\n", "Ok"),
        ("Ok\n________________________________\nFrom: A <a@example.com>\nSent: Friday\nTo: B\n\nold\n", "Ok"),
        (
            "Reply\n\n*From:* A [mailto:a@example.com]\n*Sent:* Thursday\n*To:* b@example.com\n\nold\n",
            "Reply",
        ),
    ],
)
def test_quote_headers_cut_the_history(body: str, expected: str) -> None:
    assert visible_text(body) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Here it is\n\nSent from my iPhone\n", "Here it is"),
        ("Here it is\n\nVon meinem iPhone gesendet\n", "Here it is"),
        ("Here it is\n\nGet Outlook for iOS<https://aka.ms/o0ukef>\n", "Here it is"),
        ("Here it is\n\n-- \nJohn Doe\nACME Inc.\n", "Here it is"),
        ("Here it is\n--\nrick\n", "Here it is"),
        # not signatures
        ("Here it is\n\nSent from my desk, is much easier then my mobile phone.", None),
        ("This has a -- in the middle of a line.\nAnd more.", None),
        ("Points:\n-- first\n-- second\n", None),
        ("Our app was sent from my iPhone app to all users.", None),
    ],
)
def test_signatures(body: str, expected: str | None) -> None:
    assert visible_text(body) == (expected if expected is not None else body.strip("\n"))


def test_bottom_posted_reply_keeps_only_the_new_text() -> None:
    body = "On 04/02/2012 06:26 PM, Megan One wrote:\n> Hi\nHello\n"
    assert visible_text(body) == "Hello"


def test_interleaved_reply_keeps_the_conversation() -> None:
    body = (
        "On Tue, Apr 29, 2014 at 4:22 PM, Dev <dev@example.com> wrote:\n\n> question one?\n\n"
        "answer one\n\n> question two?\n\nanswer two\n\n> trailing quote\n\n-- \nsig\n"
    )
    visible = visible_text(body)
    assert visible.startswith("On Tue")
    assert "answer one" in visible
    assert visible.endswith("answer two")


def test_sentences_starting_with_on_are_not_headers() -> None:
    body = "On the surface this looks like a header.\n\nOn average it is fine.\n"
    assert visible_text(body) == body.strip("\n")


def test_nothing_left_returns_the_whole_text() -> None:
    body = "-----Original Message-----\nFrom: a\nSent: b\n\nforwarded text"
    assert visible_text(body) == body


def test_crlf_is_normalised() -> None:
    assert visible_text("Yes\r\n\r\nOn 1 Jan 2025, A <a@example.com> wrote:\r\n> no\r\n") == "Yes"


@pytest.mark.parametrize("repeat", [5_000])
def test_pathological_input_is_fast(repeat: int) -> None:
    # Given inputs that make backtracking regexes explode (long runs, many near-headers)
    bodies = [
        ">" * 500_000,
        ("On " + "a " * 100 + "\n") * repeat,
        ("From: x\n" * repeat),
        ("On 1 <" + "x@" * 140 + "\n") * repeat,
        ("On 1 " + "x" * 280 + "\n") * repeat,
        ("-" * 100 + "\n") * repeat,
        "x" * 1_000_000,
    ]
    for body in bodies:
        started = time.perf_counter()
        visible_text(body)
        assert time.perf_counter() - started < 1.0


def test_parse_email_text_is_visible_part_and_full_text_is_everything() -> None:
    parsed = parse_email((FIXTURES / "plain_reply.eml").read_bytes())
    assert parsed.text == "Hallo,\n\ndie Lieferung ist angekommen, danke!\n\nViele Grüße\nJörg"
    assert "Ihre Bestellung wurde versandt." in parsed.full_text
    assert "\r" not in parsed.full_text
