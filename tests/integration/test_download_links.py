"""Attachments reach agents through short-lived pre-signed links that always download."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from botocore.config import Config
from moto import mock_aws

from shared.storage import MAX_LINK_SECONDS, S3BlobStore, attachment_disposition


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3BlobStore]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1", config=Config(signature_version="s3v4"))
        client.create_bucket(Bucket="inbound")
        yield S3BlobStore("inbound", client)


def test_a_link_downloads_the_file_under_its_name_and_says_when_it_expires(store: S3BlobStore) -> None:
    store.put("attachments/t1/invoice.html", b"<script>alert(1)</script>", "text/html")

    url = store.download_url("attachments/t1/invoice.html", "Rechnung M\u00e4rz.html", expires_in=120)
    response = requests.get(url, timeout=5)

    assert response.status_code == 200
    assert response.content == b"<script>alert(1)</script>"
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"Rechnung M_rz.html\"; filename*=UTF-8''Rechnung%20M%C3%A4rz.html"
    )
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["120"]


def test_a_link_never_lives_longer_than_the_limit(store: S3BlobStore) -> None:
    url = store.download_url("attachments/t1/a.pdf", "a.pdf", expires_in=86_400)
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == [str(MAX_LINK_SECONDS)]


@pytest.mark.parametrize(
    ("name", "disposition"),
    [
        (
            'x"; evil=1\r\n.html',
            "attachment; filename=\"x__ evil=1.html\"; filename*=UTF-8''x%22%3B%20evil%3D1.html",
        ),
        ("../../etc/passwd", "attachment; filename=\".._.._etc_passwd\"; filename*=UTF-8''.._.._etc_passwd"),
        ("\u0000\u0007", "attachment; filename=\"attachment\"; filename*=UTF-8''attachment"),
    ],
)
def test_a_sender_chosen_name_cannot_break_out_of_the_header(name: str, disposition: str) -> None:
    assert attachment_disposition(name) == disposition
