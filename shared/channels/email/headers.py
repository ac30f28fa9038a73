"""Decoding header values: unfolding, RFC 2047 encoded words, raw 8-bit bytes, message ids."""

from __future__ import annotations

import base64
import binascii
import re
from email.message import Message

from shared.channels.email.charsets import codec_for, decode_bytes, guess_decode

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
_FOLD = re.compile(r"\r?\n(?=[ \t])|\r(?=[ \t])")
_LINE_BREAK = re.compile(r"\r?\n|\r")
_QP_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")
_BRACKETED_ID = re.compile(r"<([^<>]*)>")
_BARE_ID_SEPARATORS = re.compile(r"[\s,;]+")


def unfold(value: str) -> str:
    """The header value on one line (RFC 5322 unfolding; stray line breaks become spaces)."""
    return _LINE_BREAK.sub(" ", _FOLD.sub("", value))


def raw_bytes(value: str) -> bytes:
    """The bytes of a header value read by the stdlib with `surrogateescape` (raw 8-bit kept)."""
    return value.encode("utf-8", "surrogateescape")


def decode_raw_text(value: str, fallback_charset: str | None = None) -> str:
    """Text of a header value that may carry raw 8-bit bytes.

    UTF-8 if the bytes are valid UTF-8, else the most plausible charset, the body's charset
    (`fallback_charset`) winning ties: senders often write headers in another charset than the body.
    """
    if value.isascii():
        return value
    data = raw_bytes(value)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return guess_decode(data, codec_for(fallback_charset))


def decode_header_value(value: str | None, fallback_charset: str | None = None) -> str:
    """A header value as readable text: unfolded, encoded words and raw 8-bit bytes decoded.

    Whitespace between encoded words is dropped (RFC 2047); surrounding whitespace is kept
    for the caller to strip or not (subjects keep the spaces of their encoded words).
    """
    if not value:
        return ""
    value = unfold(value)
    if "=?" not in value:
        return decode_raw_text(value, fallback_charset)

    out: list[str] = []
    pending: bytearray = bytearray()
    pending_charset: str | None = None
    position = 0

    def flush() -> None:
        nonlocal pending, pending_charset
        if pending_charset is not None:
            out.append(decode_bytes(bytes(pending), pending_charset)[0])
        pending = bytearray()
        pending_charset = None

    for match in _ENCODED_WORD.finditer(value):
        between = value[position : match.start()]
        if between and not (between.isspace() and pending_charset is not None):
            flush()
            out.append(decode_raw_text(between, fallback_charset))
        charset = match.group(1).split("*", 1)[0].lower()
        data = _decode_word(match.group(2), match.group(3))
        if pending_charset is not None and charset != pending_charset:
            flush()
        # Words in one charset are decoded together: senders split multi-byte characters.
        pending_charset = charset
        pending += data
        position = match.end()
    flush()
    out.append(decode_raw_text(value[position:], fallback_charset))
    return "".join(out)


def _decode_word(encoding: str, payload: str) -> bytes:
    if encoding in "bB":
        compact = "".join(payload.split())
        try:
            return base64.b64decode(compact + "=" * (-len(compact) % 4))
        except (binascii.Error, ValueError):
            try:
                return binascii.a2b_base64(compact.encode("ascii", "ignore"))
            except (binascii.Error, ValueError):
                return payload.encode("ascii", "ignore")
    data = payload.replace("_", " ").encode("utf-8", "surrogateescape")
    return _QP_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), data)


def message_ids(value: str | None) -> list[str]:
    """Message ids in a Message-ID / In-Reply-To / References value, `<id>` form, in order, unique.

    Ids written without angle brackets are bracketed; empty and garbage-only values give [].
    """
    if not value:
        return []
    text = decode_raw_text(unfold(value))
    found = [f"<{token.strip()}>" for token in _BRACKETED_ID.findall(text) if token.strip()]
    if not found:
        found = [
            f"<{token}>"
            for token in _BARE_ID_SEPARATORS.split(text.strip("<> \t"))
            if token and ("@" in token or len(token) > 8)
        ]
    unique: list[str] = []
    for item in found:
        compact = "".join(item.split())
        if compact not in unique:
            unique.append(compact)
    return unique


def header_values(message: Message, name: str) -> list[str]:
    """Raw values of every `name` header, 8-bit bytes kept as surrogate escapes."""
    wanted = name.lower()
    return [str(value) for key, value in message.raw_items() if key.lower() == wanted]


def first_header(message: Message, name: str) -> str | None:
    """The raw value of the first `name` header, or None."""
    values = header_values(message, name)
    return values[0] if values else None


def parse_params(value: str | None, fallback_charset: str | None = None) -> tuple[str, dict[str, str]]:
    """The main value (lower-cased) and the decoded parameters of a structured header.

    Handles quoting, RFC 2231 continuations and charsets (`name*0*=utf-8''...`), RFC 2047 encoded
    words in values and raw 8-bit bytes.
    """
    if not value:
        return "", {}
    items = _split_params(unfold(value))
    main = items[0].strip().lower() if items else ""
    plain: dict[str, str] = {}
    extended: dict[str, dict[int, tuple[bool, str]]] = {}
    for item in items[1:]:
        key, sep, raw = item.partition("=")
        if not sep:
            continue
        key = key.strip().lower()
        raw = _unquote(raw.strip())
        match = _RFC2231_KEY.match(key)
        if match:
            name, index, star = match.group(1), match.group(2), match.group(3)
            segments = extended.setdefault(name, {})
            # `name*` is one encoded value; `name*N` a plain and `name*N*` an encoded continuation.
            segments.setdefault(int(index) if index else 0, (index is None or star is not None, raw))
        elif key not in plain:
            plain[key] = raw
    params = {key: decode_header_value(raw, fallback_charset) for key, raw in plain.items()}
    for name, segments in extended.items():
        params[name] = _join_rfc2231([segments[i] for i in sorted(segments)], fallback_charset)
    return main, params


_RFC2231_KEY = re.compile(r"^([^*]+)\*(\d+)?(\*)?$")
_PERCENT = re.compile(rb"%([0-9A-Fa-f]{2})")


def _split_params(value: str) -> list[str]:
    items: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            items.append("".join(current))
            current = []
            continue
        current.append(char)
    items.append("".join(current))
    return items


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def _join_rfc2231(segments: list[tuple[bool, str]], fallback_charset: str | None) -> str:
    charset: str | None = None
    data = bytearray()
    for position, (encoded, raw) in enumerate(segments):
        if encoded:
            if position == 0 and raw.count("'") >= 2:
                charset, _, raw = raw.split("'", 2)
            data += _PERCENT.sub(lambda m: bytes([int(m.group(1), 16)]), raw_bytes(raw))
        else:
            data += raw_bytes(raw)
    if charset:
        return decode_bytes(bytes(data), charset)[0]
    return decode_raw_text(data.decode("utf-8", "surrogateescape"), fallback_charset)
