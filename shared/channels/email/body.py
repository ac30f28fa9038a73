"""Choosing the body of a mail among its parts (Zammad's rules, see docs/email-parsing.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import Message
from typing import Literal

from shared.channels.email import html as html_render
from shared.channels.email import mime


@dataclass
class Body:
    """The chosen body and the parts it was built from (those are not attachments)."""

    content_type: Literal["text/plain", "text/html"] = "text/plain"
    full_text: str = ""
    html: str | None = None
    used: list[Message] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)


def is_attachment_like(part: Message) -> bool:
    """Whether a part is meant as a file rather than as message text."""
    return mime.disposition(part) == "attachment" or mime.filename(part) is not None


def select_body(message: Message, leaves: list[Message], fallback_charset: str | None) -> Body:
    """The body of the mail: HTML when an HTML part shows something, else the text/plain parts.

    `leaves` are the message's leaf parts in order (`mime.leaf_parts`).
    """
    body = Body()
    single = len(leaves) == 1 and leaves[0] is message
    if single:
        mime_type = mime.content_type(message)
        if mime_type == "text/html":
            html_parts, text_parts = [message], []
        elif mime_type == "text/plain" or message.get_content_maintype() == "multipart":
            html_parts, text_parts = [], [message]
        else:
            return body
    else:
        candidates = [part for part in leaves if not is_attachment_like(part)]
        html_parts = [part for part in candidates if mime.content_type(part) == "text/html"]
        text_parts = [part for part in candidates if mime.content_type(part) == "text/plain"]

    texts: list[str] = []
    for part in text_parts:
        text, defects = mime.part_text(part, fallback_charset)
        texts.append(text)
        body.defects.extend(defects)
    body.used.extend(text_parts)

    if html_parts:
        html_part = html_parts[0]
        body.used.append(html_part)
        source, defects = mime.part_text(html_part, fallback_charset)
        body.defects.extend(defects)
        if source.strip():
            sanitized = html_render.sanitize_html(source)
            body.html = sanitized
            if html_render.has_visible_content(sanitized):
                body.content_type = "text/html"

    if texts:
        body.full_text = "".join(texts)
    elif body.html is not None:
        body.full_text = html_render.html_to_text(body.html)

    if body.content_type == "text/plain" and texts and not single:
        inline_html = _text_with_inline_images(leaves, text_parts, texts)
        if inline_html is not None:
            body.content_type = "text/html"
            body.html = inline_html
    return body


def _text_with_inline_images(
    leaves: list[Message], text_parts: list[Message], texts: list[str]
) -> str | None:
    """Text parts as HTML with `<img src="cid:...">` for inline images, in part order; None without any."""
    text_by_part = {id(part): text for part, text in zip(text_parts, texts, strict=True)}
    pieces: list[str] = []
    has_image = False
    for part in leaves:
        if id(part) in text_by_part:
            pieces.append(html_render.text_to_html(text_by_part[id(part)]))
            continue
        content_id = mime.content_id(part)
        if content_id and part.get_content_maintype() == "image" and mime.disposition(part) == "inline":
            pieces.append(f'<img src="cid:{html_render.escape_attribute(content_id)}">')
            has_image = True
    return "".join(pieces) if has_image else None
