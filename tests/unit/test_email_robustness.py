"""parse_email never raises: garbage in, best-effort ParsedEmail with defects out."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from shared.channels.email import parse_email
from shared.models.email import ParsedEmail

FIXTURES = Path(__file__).resolve().parents[1] / "events" / "emails"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00" * 64,
        b"garbage without headers",
        b"\r\n\r\n\r\n",
        b"From: \n\n",
        b"Content-Type: multipart/mixed; boundary=x\n\n--x\n\n--x--",
        b"Content-Type: multipart/mixed\n\nno boundary at all",
        b"Content-Type: message/rfc822\n\n",
        b"Content-Type: text/plain; charset=\xff\xfe\n\nbody",
        b"Subject: =?x-\xff?Q?a?=\n\nbody",
        b"Content-Transfer-Encoding: base64\n\n!!!!",
        b"Content-Transfer-Encoding: quoted-printable\n\n=ZZ=\n",
        bytes(range(256)) * 8,
    ],
)
def test_garbage_does_not_raise(raw: bytes) -> None:
    assert isinstance(parse_email(raw), ParsedEmail)


def test_wrong_input_types_do_not_raise() -> None:
    parsed = parse_email(None)  # type: ignore[arg-type]
    assert parsed.defects
    assert parse_email("From: a@example.com\n\nstr input").full_text == "str input"  # type: ignore[arg-type]


def test_mangled_fixtures_do_not_raise() -> None:
    # Given our fixtures truncated, with flipped bytes and with random junk inserted
    generator = random.Random(2025)
    for path in sorted(FIXTURES.glob("*.eml")):
        original = path.read_bytes()
        for _ in range(20):
            data = bytearray(original)
            cut = generator.randrange(len(data) + 1)
            data = data[:cut] if generator.random() < 0.3 else data
            for _ in range(generator.randint(1, 20)):
                if data:
                    data[generator.randrange(len(data))] = generator.randrange(256)
            # When parsed / Then a ParsedEmail comes back, without an internal error
            parsed = parse_email(bytes(data))
            assert not [defect for defect in parsed.defects if defect.startswith("parser-error")]


def test_internal_error_still_returns_subject_sender_and_text(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a parser bug (simulated) / When a mail is parsed / Then the basics are still read
    from shared.channels.email import parser

    def broken(raw: bytes) -> ParsedEmail:
        raise RuntimeError("boom")

    monkeypatch.setattr(parser, "_parse", broken)
    parsed = parse_email(b"From: A <a@example.com>\r\nSubject: =?utf-8?Q?Gr=C3=BC=C3=9Fe?=\r\n\r\nHello\r\n")
    assert parsed.defects == ["parser-error:RuntimeError"]
    assert parsed.subject == "Grüße"
    assert parsed.from_ is not None
    assert parsed.from_.address == "a@example.com"
    assert parsed.full_text == "Hello\n"
