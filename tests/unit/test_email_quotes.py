"""Visible text: quoted history, quote headers and signatures removed."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from shared.channels.email import parse_email, quotes
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


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # a header wrapped inside a multi-word verb ("a" / "écrit :")
        ("Merci\n\nLe 3 mars 2025, Support <s@example.com> a\nécrit :\n> vieux\n", "Merci"),
        ("Ok\n\nON 3 MAR 2025, A <a@example.com> WROTE:\n> old\n", "Ok"),
        ("Tamam\n\n3 Mart 2025, A <a@example.com> yazdi:\n> eski\n", "Tamam"),  # `ı` matches `i`
        ("Ok\n\nOn 3 Mar 2025, A <a@example.com> wrote: --\n> old\n", "Ok"),
        ("Ok\n\nOn 3 Mar 2025, A <a@example.com> wrote:\u00a0\n> old\n", "Ok"),
        ("好的\n\n在 2025年3月3日，A <a@example.com> 写道:\n> 旧\n", "好的"),
        ("Ok\n\n*From:* A <a@example.com>\n> *Sent:* Monday\n\nold\n", "Ok"),
        ("Ok\n\nDe : A <a@example.com>\nMessage   du : lundi\n\nvieux\n", "Ok"),
        ("Kiitos\n\nLähetetty iPhonesta\n", "Kiitos"),
        ("Thanks\n\n   Sent from my iPhone\n", "Thanks"),
        ("Thanks\n\nſent from my iPhone\n", "Thanks"),  # the long s matches `s`
        ("Thanks\nSent from my fridge, really?\n", "Thanks\nSent from my fridge, really?"),
    ],
)
def test_headers_and_signatures_the_cheap_line_filters_must_not_miss(body: str, expected: str) -> None:
    assert visible_text(body) == expected


class _CountingPattern:
    """A compiled pattern that counts the calls made to it."""

    def __init__(self, pattern: re.Pattern[str], counter: list[int]) -> None:
        self._pattern, self._counter = pattern, counter

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._pattern, name)
        if not callable(attribute):
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self._counter[0] += 1
            return attribute(*args, **kwargs)

        return counted


PATHOLOGICAL_LINES = [
    "On " + "a " * 100 + "\n",
    "From: x\n",
    "On 1 <" + "x@" * 140 + "\n",
    "On 1 " + "x" * 280 + "\n",
    "-" * 100 + "\n",
    "a wrote\n",
    "On 1 Jan, A <a@example.com> said\n",
    "On 1 Jan 2025\nA <a@example.com>\nsaid:\n",
    "> From: A <a@example.com>\n> Sent: Monday\n> To: B\n",
    "Subject 1: value at 10:00 from x1@example.com\n",
    "Sent from my fridge, really?\n",
    "> old\n-----\n\nOn 1 Jan 2025 A <a@b.example> wrote:\n",
    ">" * 50 + " deep\n",
    "1 e\n",
]


@pytest.mark.parametrize("line", PATHOLOGICAL_LINES)
def test_quote_stripping_work_grows_linearly_with_the_lines(
    line: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given every pattern of the quote rules counting its calls
    counter = [0]
    for name, value in vars(quotes).items():
        if isinstance(value, re.Pattern):
            monkeypatch.setattr(quotes, name, _CountingPattern(value, counter))

    def pattern_calls(repeat: int) -> int:
        counter[0] = 0
        quotes.visible_text("Hello\n" + line * repeat)
        return counter[0]

    # When the same pathological body is made twice and four times as long
    small, double, quadruple = pattern_calls(500), pattern_calls(1000), pattern_calls(2000)

    # Then the pattern work grows at most in proportion, a few calls per line at most
    lines = 1000 * line.count("\n")
    assert double <= 2 * small + 50
    assert quadruple <= 2 * double + 50
    assert double <= 6 * lines
