"""Attachments, inline images and attached messages of a mail, with usable file names."""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.message import Message

from shared.channels.email import mime
from shared.channels.email.headers import decode_header_value, first_header
from shared.models.email import ParsedAttachment

# Names made up for parts that have none, by MIME type.
_NAME_BY_TYPE: dict[str, str] = {
    "image/jpeg": "image.jpg",
    "image/jpg": "image.jpg",
    "image/pjpeg": "image.jpg",
    "image/png": "image.png",
    "image/gif": "image.gif",
    "image/bmp": "image.bmp",
    "image/webp": "image.webp",
    "image/tiff": "image.tiff",
    "image/svg+xml": "image.svg",
    "video/quicktime": "video.mov",
    "video/mp4": "video.mp4",
    "audio/mpeg": "audio.mp3",
    "text/calendar": "calendar.ics",
    "text/html": "message.html",
    "text/plain": "file.txt",
    "text/csv": "file.csv",
    "text/rfc822-headers": "rfc822-headers.txt",
    "message/delivery-status": "delivery-status.txt",
    "message/disposition-notification": "disposition-notification.txt",
    "message/feedback-report": "feedback-report.txt",
    "application/pdf": "file.pdf",
    "application/pgp-signature": "signature.asc",
    "application/pgp-encrypted": "pgp-encrypted.asc",
    "application/pkcs7-signature": "smime.p7s",
    "application/pkcs7-mime": "smime.p7m",
    "application/x-pkcs7-signature": "smime.p7s",
    "application/x-pkcs7-mime": "smime.p7m",
    "application/ms-tnef": "winmail.dat",
}
_CID_WITH_EXTENSION = re.compile(r"^(.+?\.[A-Za-z0-9]{2,6})@")
_CID_LOCAL = re.compile(r"^(.+?)@")
_UNSAFE_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f/\\]")
_MAX_NAME_LENGTH = 200


def collect_attachments(
    parts: Iterable[Message], raw_bodies: dict[int, bytes], fallback_charset: str | None
) -> tuple[list[ParsedAttachment], list[str]]:
    """Every given part as an attachment with decoded data and a unique name, plus defects.

    `raw_bodies` (from `mime.raw_bodies`) gives attached messages and reports byte for byte.
    """
    attachments: list[ParsedAttachment] = []
    defects: list[str] = []
    taken: set[str] = set()
    for part in parts:
        mime_type = mime.content_type(part)
        raw_body = raw_bodies.get(id(part))
        if part.get_content_maintype() == "message" and raw_body is not None:
            data = mime.decode_transfer(raw_body, mime.transfer_encoding(part))
        elif mime_type == "message/rfc822":
            inner = mime.subpart_message(part)
            data = mime.message_bytes(inner) if inner is not None else b""
        elif part.get_content_maintype() == "message":
            data = _message_part_text(part)
        else:
            data, part_defects = mime.part_bytes(part)
            defects.extend(part_defects)
        name = _unique(_name_for(part, mime_type, fallback_charset), taken)
        content_id = mime.content_id(part)
        disposition = mime.disposition(part)
        inline = disposition == "inline" or (disposition is None and content_id is not None)
        attachments.append(
            ParsedAttachment(
                name=name,
                content_type=mime_type,
                size=len(data),
                data=data,
                content_id=content_id,
                disposition="inline" if inline else "attachment",
            )
        )
    return attachments, defects


def _message_part_text(part: Message) -> bytes:
    """The raw text of a message/* part the stdlib split into header blocks (delivery-status)."""
    payload = part.get_payload()
    if isinstance(payload, str):
        return mime.decode_raw_to_bytes(payload)
    blocks = [mime.message_bytes(block) for block in payload if isinstance(block, Message)]
    return b"".join(blocks)


def _name_for(part: Message, mime_type: str, fallback_charset: str | None) -> str:
    name = mime.filename(part, fallback_charset)
    if name:
        return _safe(name)
    content_id = mime.content_id(part) or ""
    match = _CID_WITH_EXTENSION.match(content_id)
    if match:
        return _safe(match.group(1))
    if mime_type == "message/rfc822":
        inner = mime.subpart_message(part)
        subject = (
            decode_header_value(first_header(inner, "Subject"), fallback_charset) if inner is not None else ""
        )
        description = decode_header_value(first_header(part, "Content-Description"), fallback_charset)
        return _safe(f"{subject.strip() or description.strip() or 'message'}.eml")
    made_up = _NAME_BY_TYPE.get(mime_type)
    if made_up:
        description = decode_header_value(first_header(part, "Content-Description"), fallback_charset)
        if description.strip() and mime_type.startswith("message/"):
            return _safe(f"{description.strip()}.txt")
        return made_up
    match = _CID_LOCAL.match(content_id)
    if match:
        return _safe(match.group(1))
    return "file"


def _safe(name: str) -> str:
    """The name without path separators or control characters, of bounded length."""
    cleaned = _UNSAFE_NAME_CHARS.sub("_", name).strip() or "file"
    if len(cleaned) > _MAX_NAME_LENGTH:
        stem, dot, extension = cleaned.rpartition(".")
        if dot and len(extension) <= 10:
            cleaned = f"{stem[: _MAX_NAME_LENGTH - len(extension) - 1]}.{extension}"
        else:
            cleaned = cleaned[:_MAX_NAME_LENGTH]
    return cleaned


def _unique(name: str, taken: set[str]) -> str:
    """`name`, or `name1.ext`, `name2.ext`... when an earlier attachment already has it."""
    if name not in taken:
        taken.add(name)
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        stem, extension = name, ""
    for counter in range(1, 10_000):
        candidate = f"{stem}{counter}.{extension}" if extension else f"{stem}{counter}"
        if candidate not in taken:
            taken.add(candidate)
            return candidate
    return name
