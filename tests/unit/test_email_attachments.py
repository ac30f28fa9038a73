"""Attachments, inline images and attached messages: none lost, usable names."""

from __future__ import annotations

from pathlib import Path

from shared.channels.email import parse_email

FIXTURES = Path(__file__).resolve().parents[1] / "events" / "emails"


def multipart(*parts: bytes, subject: bytes = b"Files") -> bytes:
    body = b"".join(b"--B\r\n" + part + b"\r\n" for part in parts) + b"--B--\r\n"
    return (
        b"From: a@example.com\r\nSubject: "
        + subject
        + b"\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
        + body
    )


TEXT = b"Content-Type: text/plain\r\n\r\nsee files"


def test_inline_image_named_attachment_and_deduplicated_names() -> None:
    # Given a mail with an inline image, an RFC 2231 named PDF and two unnamed images
    parsed = parse_email((FIXTURES / "alternative_inline_image.eml").read_bytes())
    # Then every part is an attachment; missing names are made up and made unique
    summary = [(a.name, a.content_type, a.disposition, a.content_id, a.size) for a in parsed.attachments]
    assert summary == [
        ("image.png", "image/png", "inline", "shot@example.net", 8),
        ("Rechnung März.pdf", "application/pdf", "attachment", None, 9),
        ("image1.png", "image/png", "attachment", None, 8),
        ("image2.png", "image/png", "attachment", None, 11),
    ]
    assert parsed.attachments[1].data == b"%PDF-1.4\n"


def test_attached_message_keeps_raw_bytes_and_subject_name() -> None:
    parsed = parse_email((FIXTURES / "forwarded_message.eml").read_bytes())
    message = parsed.attachments[0]
    assert message.name == "Original question.eml"
    assert message.content_type == "message/rfc822"
    assert message.data == (
        b"From: Erin <erin@example.org>\nSubject: Original question\nMessage-ID: <original@example.org>\n\n"
        b"What is the status?"
    )
    assert message.size == len(message.data)
    assert parsed.attachments[1].name == "notes.txt"
    assert parsed.attachments[1].data == b"hello"


def test_encoded_and_raw_8bit_file_names() -> None:
    parsed = parse_email(
        multipart(
            TEXT,
            b'Content-Type: application/pdf; name="=?utf-8?B?w4RuZGVydW5nLnBkZg==?="\r\n\r\nx',
            b"Content-Type: application/octet-stream\r\n"
            b'Content-Disposition: attachment; filename="K\xe4se.txt"\r\n\r\ny',
            b"Content-Type: application/octet-stream\r\nContent-Disposition: attachment;\r\n"
            b" filename*0*=iso-8859-1''Gr%FC%DFe; filename*1=.doc\r\n\r\nz",
        )
    )
    assert [a.name for a in parsed.attachments] == ["Änderung.pdf", "Käse.txt", "Grüße.doc"]


def test_made_up_names() -> None:
    parsed = parse_email(
        multipart(
            TEXT,
            b"Content-Type: image/jpeg\r\n\r\njpg",
            b"Content-Type: message/delivery-status\r\n\r\nAction: failed\r\n",
            b"Content-Type: application/octet-stream\r\n\r\nbin",
            b"Content-Type: application/octet-stream\r\n\r\nbin2",
            b"Content-Type: image/png\r\nContent-ID: <logo.png@01D3>\r\n\r\npng",
            b"Content-Type: text/calendar\r\nContent-Disposition: attachment\r\n\r\nBEGIN:VCALENDAR",
        )
    )
    assert [a.name for a in parsed.attachments] == [
        "image.jpg",
        "delivery-status.txt",
        "file",
        "file1",
        "logo.png",
        "calendar.ics",
    ]


def test_path_components_in_names_are_removed() -> None:
    parsed = parse_email(multipart(TEXT, b'Content-Type: text/plain; name="..\\\\..\\\\evil.bat"\r\n\r\nx'))
    assert parsed.attachments[0].name == "evil.bat"


def test_text_attachment_is_not_part_of_the_body() -> None:
    parsed = parse_email(
        multipart(
            TEXT,
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b'Content-Disposition: attachment; filename="log.txt"\r\n\r\nlog',
        )
    )
    assert parsed.full_text == "see files"
    assert [(a.name, a.data) for a in parsed.attachments] == [("log.txt", b"log")]


def test_non_text_single_part_mail_is_an_attachment() -> None:
    raw = (
        b"From: scanner@example.com\r\nSubject: Scan\r\nContent-Type: application/pdf; name=scan.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n"
    )
    parsed = parse_email(raw)
    assert parsed.full_text == ""
    assert [(a.name, a.data) for a in parsed.attachments] == [("scan.pdf", b"%PDF-1.4\n")]


def test_second_html_part_is_kept_as_attachment() -> None:
    parsed = parse_email(
        multipart(
            b"Content-Type: text/html\r\n\r\n<p>first</p>", b"Content-Type: text/html\r\n\r\n<p>second</p>"
        )
    )
    assert parsed.html == "<p>first</p>"
    assert [(a.name, a.data) for a in parsed.attachments] == [("message.html", b"<p>second</p>")]
