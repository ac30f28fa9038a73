"""S3 adapter for raw messages, attachments, large bodies and quarantine copies."""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from shared.errors import RawMessageNotFoundError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


_MEDIA_TYPE = re.compile(r"[\w!#$&^.+-]+/[\w!#$&^.+-]+(?:;[\x20-\x7e]*)?", re.ASCII)
"""A type HTTP can carry: `type/subtype` tokens, then printable ASCII parameters."""
GENERIC_TYPE = "application/octet-stream"


def served_content_type(content_type: str) -> str:
    """The Content-Type S3 may serve a stored object with: as given when HTTP can carry it, else
    generic bytes (a sender's raw UTF-8 or control characters cannot even be sent to S3)."""
    return content_type if _MEDIA_TYPE.fullmatch(content_type) else GENERIC_TYPE


MAX_LINK_SECONDS = 900
"""The longest a download link lives: long enough to click, short enough that a copied link dies."""


def attachment_disposition(filename: str) -> str:
    """`Content-Disposition: attachment` naming the file (RFC 6266): an ASCII fallback without
    quotes, separators or control characters, and the exact name UTF-8 encoded (RFC 8187)."""
    cleaned = "".join(c for c in unicodedata.normalize("NFC", filename) if unicodedata.category(c)[0] != "C")
    cleaned = cleaned.replace("/", "_").replace("\\", "_").strip() or "attachment"
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in cleaned)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(cleaned, safe='')}"


class DownloadLinks(Protocol):
    def download_url(self, key: str, filename: str, expires_in: int = 300) -> str: ...


class BlobStore(Protocol):
    def get(self, key: str) -> bytes: ...

    def put(
        self, key: str, data: bytes, content_type: str, metadata: dict[str, str] | None = None
    ) -> None: ...


class S3BlobStore:
    """BlobStore on one bucket; the boto3 client is injectable for tests."""

    def __init__(self, bucket: str, client: S3Client | None = None) -> None:
        self.bucket = bucket
        self._client = client

    @property
    def client(self) -> S3Client:
        if self._client is None:
            import boto3
            from botocore.config import Config

            # Signature V4: pre-signed links carry their lifetime (X-Amz-Expires), as every region requires
            self._client = boto3.client("s3", config=Config(signature_version="s3v4"))
        return self._client

    def get(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except self.client.exceptions.NoSuchKey as exc:
            raise RawMessageNotFoundError(f"s3://{self.bucket}/{key} does not exist") from exc
        body: Any = response["Body"]
        data: bytes = body.read()
        return data

    def put(self, key: str, data: bytes, content_type: str, metadata: dict[str, str] | None = None) -> None:
        """Store `data`; S3 serves it as a download (`Content-Disposition: attachment`), whatever its type.

        What we store comes from customers (attachments, bodies, quarantined mail): an HTML or SVG
        file served inline would run in the browser of the agent who opens it. A type no HTTP
        header can carry is stored as `application/octet-stream`.
        """
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType=served_content_type(content_type),
            ContentDisposition="attachment",
            Metadata=metadata or {},
            ServerSideEncryption="AES256",
        )

    def download_url(self, key: str, filename: str, expires_in: int = 300) -> str:
        """A pre-signed GET of a stored object that the browser saves as `filename`, never shows
        (S3 answers with `Content-Disposition: attachment`), valid `expires_in` seconds (at most
        MAX_LINK_SECONDS)."""
        seconds = max(1, min(expires_in, MAX_LINK_SECONDS))
        url: str = self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentDisposition": attachment_disposition(filename),
            },
            ExpiresIn=seconds,
        )
        return url


class ObjectWriter(Protocol):
    def write(self, key: str, body: bytes, content_type: str) -> None: ...


class S3ObjectWriter:
    """Writes whole objects to one bucket, encrypted with the bucket's default key (the analytics
    bucket's is HelpdeskKey, through KMS); the boto3 client is injectable for tests."""

    def __init__(self, bucket: str, client: S3Client | None = None) -> None:
        self.bucket = bucket
        self._client = client

    @property
    def client(self) -> S3Client:
        if self._client is None:
            import boto3

            self._client = boto3.client("s3")
        return self._client

    def write(self, key: str, body: bytes, content_type: str) -> None:
        """Store `body` at `key`, replacing any object there (a batch delivered again)."""
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
