"""Reading the MIME structure: repairing raw input, walking parts, decoding part contents."""

from __future__ import annotations

import binascii
import email
import re
from email.generator import BytesGenerator
from email.message import Message
from email.policy import compat32
from io import BytesIO

from shared.channels.email.charsets import decode_bytes
from shared.channels.email.headers import decode_raw_text, first_header, parse_params

_HEADER_LINE = re.compile(rb"^[\x21-\x39\x3b-\x7e]+[ \t]*:")
_MBOX_FROM = re.compile(rb"^From [^\r\n]*\r?\n")
_MAX_JUNK_LINES = 5
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_CRLF = re.compile(r"\r\n?")
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/=]")
_KNOWN_ENCODINGS = frozenset({"7bit", "8bit", "binary", "base64", "quoted-printable"})
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")


def repair_raw(raw: bytes) -> tuple[bytes, list[str]]:
    """The raw message with what breaks header parsing fixed, and the defects found.

    Removes an mbox `From ` line and junk lines before the first header, and turns header
    lines that lack the leading whitespace of a continuation into continuations.
    """
    defects: list[str] = []
    if raw.startswith(b"From "):
        match = _MBOX_FROM.match(raw)
        raw = raw[match.end() :] if match else b""
    raw = raw.lstrip(b"\r\n")

    lines = raw.splitlines(keepends=True)
    if lines and not _HEADER_LINE.match(lines[0]):
        for index in range(1, min(len(lines), _MAX_JUNK_LINES + 1)):
            if (
                _HEADER_LINE.match(lines[index])
                and index + 1 < len(lines)
                and _HEADER_LINE.match(lines[index + 1])
            ):
                defects.append("junk-before-headers")
                lines = lines[index:]
                break

    end = next((i for i, line in enumerate(lines) if not line.strip(b"\r\n")), len(lines))
    last_header = max((i for i in range(end) if _HEADER_LINE.match(lines[i])), default=-1)
    repaired = False
    for index in range(1, end):
        line = lines[index]
        if _HEADER_LINE.match(line) or line[:1] in (b" ", b"\t"):
            continue
        # Inside the header block, or right after a value that announces more (`...;`).
        if index < last_header or lines[index - 1].rstrip().endswith((b";", b",")):
            lines[index] = b" " + line
            repaired = True
        else:
            break
    if repaired:
        defects.append("header-continuation-without-whitespace")
    return b"".join(lines), defects


def parse_message(raw: bytes) -> Message:
    """The stdlib message tree (compat32: header values stay raw strings, decoded by us)."""
    return email.message_from_bytes(raw, policy=compat32)


def content_type(part: Message) -> str:
    """The part's lower-cased MIME type ('text/plain' when absent or unreadable)."""
    return part.get_content_type()


def all_parts(message: Message) -> list[Message]:
    """The message and every part below it in document order; attached messages are not opened."""
    parts: list[Message] = []
    stack = [message]
    while stack:
        part = stack.pop()
        parts.append(part)
        payload = part.get_payload()
        if part.get_content_maintype() == "multipart" and isinstance(payload, list):
            stack.extend(reversed([sub for sub in payload if isinstance(sub, Message)]))
    return parts


def is_container(part: Message) -> bool:
    """Whether the part is a multipart with sub-parts (as opposed to a leaf)."""
    return part.get_content_maintype() == "multipart" and isinstance(part.get_payload(), list)


def leaf_parts(message: Message) -> list[Message]:
    """All non-multipart parts in document order; attached messages are leaves, not opened."""
    return [part for part in all_parts(message) if not is_container(part)]


def part_charset(part: Message) -> str | None:
    """The declared charset parameter of the part, if any."""
    return parse_params(first_header(part, "Content-Type"))[1].get("charset") or None


def content_type_param(part: Message, name: str) -> str | None:
    """A parameter of the part's Content-Type (e.g. `report-type`), decoded."""
    return parse_params(first_header(part, "Content-Type"))[1].get(name) or None


def transfer_encoding(part: Message) -> str:
    """The part's Content-Transfer-Encoding in lower case ('' when absent)."""
    return decode_raw_text(first_header(part, "Content-Transfer-Encoding") or "").strip().lower()


def decode_transfer(data: bytes, encoding: str) -> bytes:
    """Raw body bytes with a base64 or quoted-printable transfer encoding undone."""
    if encoding == "base64":
        return _b64decode(data, [])
    if encoding == "quoted-printable":
        import quopri

        return quopri.decodestring(data)
    return data


def part_bytes(part: Message) -> tuple[bytes, list[str]]:
    """The part body with its Content-Transfer-Encoding undone, plus defects."""
    defects: list[str] = []
    encoding = transfer_encoding(part)
    payload = part.get_payload()
    if encoding in ("x-uuencode", "uuencode", "x-uue", "uue") and isinstance(payload, str):
        return _uudecode(decode_raw_to_bytes(payload)), defects
    if encoding == "base64" and isinstance(payload, str):
        return _b64decode(decode_raw_to_bytes(payload), defects), defects
    decoded: object = None
    try:
        decoded = part.get_payload(decode=True)
    except Exception:  # the stdlib decoders raise assorted errors on broken input
        defects.append("undecodable-payload")
    if isinstance(decoded, bytes):
        data = decoded
    else:
        data = decode_raw_to_bytes(payload) if isinstance(payload, str) else b""
    if encoding and encoding not in _KNOWN_ENCODINGS and not encoding.startswith("x-"):
        defects.append(f"unknown-transfer-encoding:{encoding[:30]}")
    return data, defects


def _b64decode(data: bytes, defects: list[str]) -> bytes:
    """Base64 that tolerates junk characters, missing padding and a dangling last character."""
    compact = _NOT_BASE64.sub(b"", data)
    try:
        return binascii.a2b_base64(compact)
    except binascii.Error:
        pass
    compact = compact.replace(b"=", b"")
    if len(compact) % 4 == 1:
        defects.append("base64-truncated")
        compact = compact[:-1]
    return binascii.a2b_base64(compact + b"=" * (-len(compact) % 4))


def decode_raw_to_bytes(payload: str) -> bytes:
    """Bytes of a payload string the stdlib read with `surrogateescape`."""
    return payload.encode("utf-8", "surrogateescape")


def _uudecode(data: bytes) -> bytes:
    """uuencoded lines decoded; the `begin`/`end` lines are optional."""
    out = bytearray()
    for line in data.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(b"begin ") or stripped == b"`":
            continue
        if stripped == b"end":
            break
        try:
            out += binascii.a2b_uu(line)
        except binascii.Error:
            # Some encoders pad lines wrongly; decode the bytes the length byte announces.
            count = (((line[0] - 32) & 63) * 4 + 5) // 3
            try:
                out += binascii.a2b_uu(line[:count])
            except binascii.Error:
                continue
    return bytes(out)


def part_text(part: Message, fallback_charset: str | None = None) -> tuple[str, list[str]]:
    """The part decoded to text with LF line endings, plus defects."""
    data, defects = part_bytes(part)
    charset = part_charset(part)
    if charset is None and content_type(part) == "text/html":
        sniffed = _META_CHARSET.search(data[:4096])
        charset = sniffed.group(1).decode("ascii") if sniffed else None
    text, defect = decode_bytes(data, charset or fallback_charset)
    if defect:
        defects.append(defect)
    return _CRLF.sub("\n", text), defects


def filename(part: Message, fallback_charset: str | None = None) -> str | None:
    """The decoded file name from Content-Disposition `filename` or Content-Type `name`."""
    candidates = (
        parse_params(first_header(part, "Content-Disposition"), fallback_charset)[1].get("filename"),
        parse_params(first_header(part, "Content-Type"), fallback_charset)[1].get("name"),
    )
    for name in candidates:
        if name:
            cleaned = name.replace("\\", "/").rsplit("/", 1)[-1].strip().strip("\"'")
            if cleaned:
                return cleaned
    return None


def disposition(part: Message) -> str | None:
    """The Content-Disposition type in lower case ('inline', 'attachment'), if declared."""
    return parse_params(first_header(part, "Content-Disposition"))[0] or None


def content_id(part: Message) -> str | None:
    """The Content-ID without angle brackets."""
    value = first_header(part, "Content-ID")
    if not value:
        return None
    text = decode_raw_text(value).strip().strip("<>").strip()
    return text or None


def subpart_message(part: Message) -> Message | None:
    """The message inside a message/rfc822 part."""
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    if isinstance(payload, str) and payload.strip():
        return parse_message(decode_raw_to_bytes(payload))
    return None


def raw_bodies(raw: bytes, message: Message) -> dict[int, bytes]:
    """The undecoded body bytes of each leaf part, by `id(part)`, cut from the raw message.

    Attached messages and delivery reports are kept byte for byte this way (the stdlib tree
    cannot give them back unchanged). Subtrees whose raw layout does not match the parsed tree
    are left out; callers fall back to re-serialising those parts.
    """
    bodies: dict[int, bytes] = {}
    stack: list[tuple[Message, bytes]] = [(message, _after_headers(raw))]
    while stack:
        part, region = stack.pop()
        payload = part.get_payload()
        if part.get_content_maintype() == "multipart" and isinstance(payload, list):
            boundary = part.get_boundary()
            subparts = [sub for sub in payload if isinstance(sub, Message)]
            pieces = _split_multipart(region, boundary) if boundary else []
            if len(pieces) == len(subparts):
                stack.extend(
                    (sub, _after_headers(piece)) for sub, piece in zip(subparts, pieces, strict=True)
                )
        else:
            bodies[id(part)] = region
    return bodies


def _after_headers(data: bytes) -> bytes:
    """The body of a raw entity: what follows the first empty line."""
    if data.startswith((b"\r\n", b"\n")):
        return data[2:] if data.startswith(b"\r\n") else data[1:]
    match = _BLANK_LINE.search(data)
    return data[match.end() :] if match else b""


def _split_multipart(region: bytes, boundary: str) -> list[bytes]:
    """The raw parts (headers and body) between the delimiter lines of a multipart body."""
    delimiter = re.compile(
        rb"^--" + re.escape(boundary.encode("utf-8", "surrogateescape")) + rb"(--)?[ \t]*(?:\r\n|\r|\n|$)",
        re.M,
    )
    pieces: list[bytes] = []
    start: int | None = None
    for match in delimiter.finditer(region):
        if start is not None:
            # The line break before a delimiter belongs to the delimiter (RFC 2046).
            end = match.start()
            if region.endswith(b"\r\n", start, end):
                end -= 2
            elif region.endswith((b"\n", b"\r"), start, end):
                end -= 1
            pieces.append(region[start:end])
        if match.group(1):
            return pieces
        start = match.end()
    if start is not None:
        pieces.append(region[start:])
    return pieces


def message_bytes(message: Message) -> bytes:
    """The message serialised again, as close to its original bytes as the parsed tree allows."""
    buffer = BytesIO()
    _RawHeaderGenerator(buffer, mangle_from_=False, maxheaderlen=0, policy=compat32).flatten(message)
    return buffer.getvalue()


class _RawHeaderGenerator(BytesGenerator):
    """Writes header fields as read (no space added after an empty value, no refolding)."""

    def _write_headers(self, msg: Message) -> None:
        linesep = self.policy.linesep if self.policy else "\n"
        for name, value in msg.raw_items():
            self.write(f"{name}:{' ' if value else ''}{value}{linesep}")
        self.write(linesep)
