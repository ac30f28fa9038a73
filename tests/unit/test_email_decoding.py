"""Decoding: charsets, RFC 2047 encoded words, raw 8-bit headers, transfer encodings."""

from __future__ import annotations

import base64
import binascii

import pytest

from shared.channels.email import parse_email
from shared.channels.email.charsets import decode_bytes, guess_decode
from shared.channels.email.headers import decode_header_value, message_ids, parse_params


def mail(headers: str, body: bytes = b"body\n") -> bytes:
    return headers.strip().replace("\n", "\r\n").encode("ascii") + b"\r\n\r\n" + body


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("=?iso-8859-1?Q?Gr=FC=DFe?=", "Grüße"),
        ("=?UTF-8?B?w6TDtsO8?=", "äöü"),
        ("=?utf-8?q?a_b?= =?utf-8?q?_c?=", "a b c"),  # whitespace between encoded words is dropped
        ("Re: =?windows-1251?B?z/Do4uXy?= world", "Re: Привет world"),
        ("=?utf-8?B?4pyTIOKc?= =?utf-8?B?kyDinJM=?=", "✓ ✓ ✓"),  # a character split across two words
        ("=?utf-8?b??=", ""),  # empty encoded word
        ("=?iso-2022-jp?B?GyRCJUYlOSVIGyhC?=", "テスト"),
        ("=?unicode-1-1-utf-7?Q?+ANw-bermittlung?=", "Übermittlung"),
        ("=?x-unknown?Q?caf=E9?=", "café"),  # unknown charset: best guess
        ("=?utf-8?B?w6TDtsO8?", "=?utf-8?B?w6TDtsO8?"),  # not an encoded word: left alone
    ],
)
def test_encoded_words_are_decoded(raw: str, expected: str) -> None:
    # Given a header value with RFC 2047 encoded words / When decoded / Then the text is readable
    assert decode_header_value(raw) == expected


def test_folded_header_is_unfolded() -> None:
    assert decode_header_value("=?utf-8?Q?one?=\r\n =?utf-8?Q?_two?=\r\n three") == "one two three"


def test_raw_8bit_header_is_read_as_utf8_or_guessed() -> None:
    # Given raw bytes in headers (the stdlib keeps them as surrogate escapes)
    raw = "Subject: Gr\xfc\xdfe\nFrom: \xe6\xad\xa6 <a@example.com>\nTo: x@example.com\n".encode("latin-1")
    parsed = parse_email(raw + b"\nhi\n")
    # Then Latin-1 bytes become Latin letters and UTF-8 bytes stay UTF-8
    assert parsed.subject == "Grüße"
    assert parsed.from_ is not None
    assert parsed.from_.name == "武"


def test_raw_gb2312_subject_is_detected_even_with_a_latin1_body() -> None:
    subject = "转发：整体提升企业服务水平".encode("gb2312")
    raw = (
        b"From: a@example.com\nSubject: " + subject + b"\nContent-Type: text/plain; charset=iso-8859-1\n\nx\n"
    )
    assert parse_email(raw).subject == "转发：整体提升企业服务水平"


@pytest.mark.parametrize(
    ("data", "charset", "expected"),
    [
        ("Grüße".encode("cp1252"), "iso-8859-1", "Grüße"),
        ("“quoted” – €".encode("cp1252"), "iso-8859-1", "“quoted” – €"),  # C1 bytes read as Windows-1252
        ("简体中文".encode("gbk"), "iso-gb2312", "简体中文"),  # invalid label -> GB family
        ("简体中文".encode("gbk"), "gb2312", "简体中文"),  # gb2312 label, GBK bytes
        ("Übermittlung".encode("utf-7"), "unicode-1-1-utf-7", "Übermittlung"),
        ("日本語".encode("iso2022_jp"), "ISO-2022-JP", "日本語"),
        ("①１都".encode("cp932"), "shift_jis", "①１都"),
        (b"R\xe9clamation n\xb0 \xe0", "windows-1258", "Réclamation n° à"),
        (b"ok", "no-such-charset", "ok"),
        ("naïve".encode(), None, "naïve"),
    ],
)
def test_charsets_decode(data: bytes, charset: str | None, expected: str) -> None:
    assert decode_bytes(data, charset)[0] == expected


def test_iso_2022_jp_with_nec_extensions_is_read_via_cp932() -> None:
    # Given ISO-2022-JP bytes holding a circled digit (NEC row 13), which Python's codec rejects
    data = b"\x1b$B-!#1ET\x1b(B"
    # Then the Microsoft variant (CP50221) reading is used
    assert decode_bytes(data, "iso-2022-jp")[0] == "①１都"


def test_stray_latin1_bytes_in_utf8_keep_the_rest() -> None:
    text, defect = decode_bytes("Привет ".encode() + b"caf\xe9", "utf-8")
    assert text == "Привет café"
    assert defect == "charset-errors:utf-8"


def test_wrong_declared_charset_is_reported_as_defect() -> None:
    text, defect = decode_bytes("日本".encode(), "ascii")
    assert text == "日本"
    assert defect is not None


@pytest.mark.parametrize(
    ("text", "codec"),
    [
        ("转发：整体提升企业服务水平", "gb2312"),
        ("ツール", "cp932"),
        ("Привет мир", "cp1251"),
        ("Größe déjà", "cp1252"),
    ],
)
def test_unknown_charset_guess(text: str, codec: str) -> None:
    assert guess_decode(text.encode(codec)) == text


def test_quoted_printable_and_base64_bodies() -> None:
    qp = parse_email(
        mail(
            "From: a@example.com\nContent-Type: text/plain; charset=utf-8\n"
            "Content-Transfer-Encoding: quoted-printable",
            b"Gr=C3=BC=C3=9Fe, a long line that was soft=\r\n-wrapped.\r\n",
        )
    )
    encoded = base64.encodebytes("Grüße aus Köln\n".encode("iso-8859-15"))
    b64 = parse_email(
        mail(
            "From: a@example.com\nContent-Type: text/plain; charset=iso-8859-15\n"
            "Content-Transfer-Encoding: base64",
            encoded,
        )
    )
    assert qp.full_text == "Grüße, a long line that was soft-wrapped.\n"
    assert b64.full_text == "Grüße aus Köln\n"


def test_broken_base64_padding_is_tolerated() -> None:
    # Given base64 with a dangling last character (one more than a multiple of four)
    parsed = parse_email(
        mail(
            "From: a@example.com\nContent-Type: multipart/mixed; boundary=B",
            b"--B\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            b"aGVsbG8gd29ybGQ\r\n--B--\r\n",
        )
    )
    assert parsed.attachments[0].data.startswith(b"hello wor")


def test_uuencoded_part_without_begin_line() -> None:
    encoded = binascii.b2a_uu(b"Hello Zammad")
    parsed = parse_email(
        mail(
            "From: a@example.com\nContent-Type: multipart/mixed; boundary=B",
            b"--B\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n--B\r\n"
            b'Content-Type: application/msword; name="a.txt"\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n'
            + encoded
            + b"`\r\n--B--\r\n",
        )
    )
    assert parsed.attachments[0].data == b"Hello Zammad"


def test_crlf_becomes_lf_in_full_text() -> None:
    parsed = parse_email(mail("From: a@example.com", b"line one\r\nline two\r\n"))
    assert parsed.full_text == "line one\nline two\n"


def test_html_charset_from_meta_when_header_has_none() -> None:
    html = '<html><head><meta charset="windows-1251"></head><body>Привет</body></html>'.encode("cp1251")
    parsed = parse_email(mail("From: a@example.com\nContent-Type: text/html", html))
    assert "Привет" in parsed.full_text


def test_rfc2231_parameters() -> None:
    main, params = parse_params(
        "attachment; filename*0*=utf-8''R%C3%A9sum%C3%A9%20; filename*1=final.pdf; size=12"
    )
    assert main == "attachment"
    assert params == {"filename": "Résumé final.pdf", "size": "12"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<a@example.com>", ["<a@example.com>"]),
        ("<a@example.com>\r\n  <b@example.com>, <a@example.com>", ["<a@example.com>", "<b@example.com>"]),
        ("<test-reference-id>", ["<test-reference-id>"]),
        ("20180802145828.58E7387959@mail.example.com", ["<20180802145828.58E7387959@mail.example.com>"]),
        ("", []),
        ("<>", []),
    ],
)
def test_message_ids_keep_angle_brackets(value: str, expected: list[str]) -> None:
    assert message_ids(value) == expected


def test_utf8_labelled_as_latin1_is_read_as_utf8() -> None:
    text, defect = decode_bytes("Grüße".encode(), "iso-8859-1")
    assert text == "Grüße"
    assert defect == "charset-mismatch:cp1252"
