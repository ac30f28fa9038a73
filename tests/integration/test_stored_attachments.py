"""Attachments customers send are stored so that a browser downloads them, never renders them."""

from __future__ import annotations

import boto3

from tests.integration.conftest import EmailHarness

HTML_ATTACHMENT = (
    b"From: Jane <jane.doe@customer.example>\r\nTo: support@support.example.com\r\n"
    b"Subject: Page\r\nMessage-ID: <html-att@customer.example>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="m"\r\n\r\n'
    b"--m\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the page attached.\r\n"
    b'--m\r\nContent-Type: text/html; name="page.html"\r\n'
    b'Content-Disposition: inline; filename="page.html"\r\n\r\n'
    b"<html><script>alert(document.cookie)</script></html>\r\n--m--\r\n"
)


def test_a_stored_html_attachment_is_served_as_a_download(email: EmailHarness) -> None:
    # Given a customer's mail with an HTML file the sender marked inline
    email.deliver(HTML_ATTACHMENT)

    # When the stored attachment is fetched from the bucket
    [ticket] = email.repository.scan_tickets()
    [message] = email.repository.list_messages(ticket.id)
    [attachment] = message.attachments
    assert attachment.key is not None
    head = boto3.client("s3").head_object(Bucket=email.bucket, Key=attachment.key)

    # Then S3 serves it with Content-Disposition: attachment, so a browser saves it instead of running it
    assert head["ContentDisposition"] == "attachment"
    assert head["ContentType"] == "text/html"


def odd_type_attachment(content_type: bytes) -> bytes:
    return (
        b"From: Jane <jane.doe@customer.example>\r\nTo: support@support.example.com\r\n"
        b"Subject: File\r\nMessage-ID: <odd-type@customer.example>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="m"\r\n\r\n'
        b"--m\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe file.\r\n"
        b"--m\r\nContent-Type: " + content_type + b'; name="a.bin"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--m--\r\n"
    )


def test_an_attachment_type_no_http_header_can_carry_is_stored_as_octet_stream(email: EmailHarness) -> None:
    # Given a mail whose attachment declares a type with raw UTF-8 and one with a control character
    # (moto accepts any header value; botocore's HTTP layer cannot send these to S3 at all, so the
    # mail would fail on every retry)
    for declared in ("application/x-中文".encode(), b"text/h\x01ml"):
        email.deliver(
            odd_type_attachment(declared).replace(b"<odd-type@", b"<" + declared.hex().encode() + b"@")
        )

    # Then each attachment is stored, served as a download of generic bytes
    heads = []
    for ticket in email.repository.scan_tickets():
        [message] = email.repository.list_messages(ticket.id)
        [attachment] = message.attachments
        assert attachment.key is not None
        heads.append(boto3.client("s3").head_object(Bucket=email.bucket, Key=attachment.key))
    assert len(heads) == 2
    assert [h["ContentType"] for h in heads] == ["application/octet-stream"] * 2
    assert all(h["ContentDisposition"] == "attachment" for h in heads)
