"""Reading address headers tolerantly, and choosing the sender the way Zammad does."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from shared.channels.email.headers import decode_header_value, decode_raw_text, unfold
from shared.models.email import EmailAddress

_ADDR_SPEC = re.compile(r'^(?:"[^"]*"|[^\s@<>()",;:\[\]]+)@[^\s@<>()",;]+$')
_HAS_WORD = re.compile(r"\w")
_LOOKS_LIKE_EMAIL = re.compile(r".+@.+")
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$")
_NAME_BEFORE_BRACKET = re.compile(r"^(.+?)<((.+?)@(.+?))>")


def split_address_list(value: str) -> list[str]:
    """The mailbox items of an address header, split at top-level commas.

    A piece that holds neither `@` nor `<` is a display name cut at an unquoted comma
    (`Smith, Karoline <k@example.com>`) and is joined to the next piece.
    """
    pieces: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    angle = paren = 0
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\" and (quoted or paren):
            escaped = True
        elif char == '"' and not paren:
            quoted = not quoted
        elif not quoted:
            if char == "(":
                paren += 1
            elif char == ")" and paren:
                paren -= 1
            elif char == "<" and not paren:
                angle += 1
            elif char == ">" and angle and not paren:
                angle -= 1
            elif char in ",;" and not angle and not paren:
                pieces.append("".join(current))
                current = []
                continue
        current.append(char)
    pieces.append("".join(current))

    merged: list[str] = []
    carry = ""
    for piece in pieces:
        if not piece.strip():
            continue
        text = f"{carry},{piece}" if carry else piece
        if "@" not in text and "<" not in text:
            carry = text
            continue
        carry = ""
        merged.append(text.strip())
    if carry.strip():
        merged.append(carry.strip())
    return merged


def parse_mailbox(piece: str) -> tuple[str, str]:
    """(raw display name, raw address) of one mailbox item; either may be ''.

    The address is the last `<...>` outside quotes and comments; without one, the whole item
    minus comments. The name is the rest, unquoted, or else the first comment.
    """
    parts = _take_apart(_strip_group_name(piece.strip()))
    first_comment = parts.comments[0].strip() if parts.comments else ""
    if parts.bracket is not None:
        return parts.outside.strip() or first_comment, parts.bracket.strip()
    return _unbracketed_mailbox(parts.quoted, first_comment)


@dataclass(frozen=True)
class _MailboxParts:
    """One mailbox item taken apart by a single scan that honours quotes, escapes and comments."""

    outside: str
    """The text outside comments and `<...>`, quotes removed."""
    quoted: str
    """The same text with its quotes kept."""
    comments: list[str]
    """Each top-level `(comment)`, nested ones included in their parent."""
    bracket: str | None
    """The last `<...>` outside quotes and comments (to the end when unclosed), or None."""


def _take_apart(piece: str) -> _MailboxParts:
    comments: list[str] = []
    outside: list[str] = []
    raw: list[str] = []
    bracket: str | None = None
    quoted = escaped = False
    depth = 0
    index = 0
    while index < len(piece):
        char = piece[index]
        index += 1
        if escaped:
            escaped = False
        elif char == "\\" and (quoted or depth):
            escaped = True
            continue
        elif char == '"' and not depth:
            quoted = not quoted
            raw.append(char)
            continue
        elif not quoted and char == "(":
            depth += 1
            if depth == 1:
                comments.append("")
                continue
        elif not quoted and char == ")" and depth:
            depth -= 1
            if not depth:
                continue
        elif not quoted and not depth and char == "<":
            end = piece.find(">", index)
            end = len(piece) if end == -1 else end
            bracket = piece[index:end]
            index = end + 1
            continue
        if depth:
            comments[-1] += char
        else:
            outside.append(char)
            raw.append(char)
    return _MailboxParts("".join(outside), "".join(raw), comments, bracket)


def _unbracketed_mailbox(text: str, first_comment: str) -> tuple[str, str]:
    """A mailbox without `<...>`: the address alone, or `Name name@example.com`."""
    bare = text.strip("<> \t")
    tokens = bare.split()
    with_at = [token for token in tokens if "@" in token]
    if len(tokens) > 1 and len(with_at) == 1 and '"' not in bare:
        name = " ".join(token for token in tokens if token is not with_at[0])
        return first_comment or name, with_at[0].strip("<>")
    return first_comment, bare


def _strip_group_name(piece: str) -> str:
    colon = piece.find(":")
    if colon > 0 and "<" not in piece[:colon] and "@" not in piece[:colon] and '"' not in piece[:colon]:
        return piece[colon + 1 :].strip()
    return piece


def parse_address_list(value: str | None, fallback_charset: str | None = None) -> list[EmailAddress]:
    """Mailboxes of an address header with decoded names; items without an address are left out."""
    if not value:
        return []
    result: list[EmailAddress] = []
    for piece in split_address_list(unfold(value)):
        name, address = parse_mailbox(piece)
        if not _HAS_WORD.search(address):
            continue
        result.append(
            EmailAddress(
                name=decode_header_value(name, fallback_charset).strip(),
                address=decode_raw_text(address, fallback_charset).strip(),
            )
        )
    return result


def choose_sender(
    candidates: Sequence[str | None], fallback_charset: str | None = None
) -> EmailAddress | None:
    """The sender address, chosen like Zammad's `Channel::EmailParser.sender_attributes`.

    `candidates` are raw header values in order of preference (each From, then Reply-To,
    Return-Path, Sender). The first one holding something like `x@y` wins, else the first
    non-empty one. Its first well-formed mailbox is the sender; a value the address grammar
    cannot read falls back to `name <local@domain>` matching, then to the whole value. A
    local part without domain (`MAILER-DAEMON`) is kept. Returns None when nothing usable is found.
    """
    present = [raw for raw in candidates if raw and raw.strip()]
    chosen = next(
        (raw for raw in present if _LOOKS_LIKE_EMAIL.search(decode_header_value(raw, fallback_charset))), None
    )
    if chosen is None:
        return _local_only_sender(present, fallback_charset)
    for piece in split_address_list(unfold(chosen)):
        piece = piece.replace("<>", "")
        name, address = parse_mailbox(piece)
        address = decode_raw_text(address, fallback_charset).strip()
        if _has_stray_bracket(piece):
            break  # `"name"@example.com>`: not a mailbox, use the whole value like Zammad
        if _ADDR_SPEC.match(address):
            return EmailAddress(
                name=_clean_name(decode_header_value(name, fallback_charset)), address=address
            )
        if address.startswith('"') and address.endswith('"') and "@" in address:
            return EmailAddress(name="", address=address)  # `"user@example.com"`, kept as written
    text = decode_header_value(unfold(chosen).replace("<>", ""), fallback_charset).strip()
    match = _NAME_BEFORE_BRACKET.match(text)
    if match:
        return EmailAddress(name=_clean_name(match.group(1)), address=match.group(2).strip())
    return EmailAddress(name=_clean_name(text), address=text)


def _has_stray_bracket(piece: str) -> bool:
    outside_quotes = re.sub(r'"[^"]*"', "", piece)
    return outside_quotes.count("<") != outside_quotes.count(">")


def _local_only_sender(present: list[str], fallback_charset: str | None) -> EmailAddress | None:
    """`MAILER-DAEMON (Mail Delivery System)`: a sender with a local part only."""
    if not present:
        return None
    for piece in split_address_list(unfold(present[0])):
        name, address = parse_mailbox(piece)
        address = decode_raw_text(address, fallback_charset).strip()
        if _LOCAL_PART.match(address):
            return EmailAddress(
                name=_clean_name(decode_header_value(name, fallback_charset)), address=address
            )
    return None


def _clean_name(name: str) -> str:
    return name.replace('"', "").strip().strip("'").strip()


def is_addr_spec(address: str) -> bool:
    """Whether `address` is one plain `local@domain`: no spaces, comments, brackets or second `@`."""
    return bool(_PLAIN_ADDR_SPEC.match(address))


_PLAIN_ADDR_SPEC = re.compile(r'^[^\s@<>()",;:\[\]\\]+@[^\s@<>()",;:\[\]\\]+$')


def first_valid_mailbox(value: str) -> EmailAddress | None:
    """The first mailbox of an address header that the standard library reads as `local@domain`.

    For malformed values the stdlib's RFC 5322 parser (`email.policy.default`) is the reference:
    `a@x.example b@x.example` gives `a@x.example`, and comments inside an address
    (`<pete(his account)@silly.test(his host)>`) are dropped, giving `pete@silly.test`.
    """
    from email import policy

    try:
        header = policy.default.header_factory("From", unfold(value).strip())
        addresses = getattr(header, "addresses", ())
    except Exception:  # the stdlib parser raises on some garbage (`a@`): then nothing is valid
        return None
    for address in addresses:
        spec = f"{address.username}@{address.domain}"
        if address.username and address.domain and is_addr_spec(spec):
            return EmailAddress(name=_clean_name(address.display_name), address=spec)
    return None


def address_domain(address: str) -> str:
    """The domain of an address, lower case, without a trailing dot ('' without one)."""
    return address.strip().rpartition("@")[2].strip().rstrip(".").lower() if "@" in address else ""


def ascii_domain(domain: str) -> str:
    """A domain in its IDNA (punycode) form, `bücher.de` -> `xn--bcher-kva.de`; lower case.

    Each label is lower-cased and, when not ASCII, punycode-encoded exactly as written: no IDNA
    2003 mapping, which would make lookalikes the same domain (`ｃｕｓｔｏｍｅｒ.example` or
    `cus<soft hyphen>tomer.example` folded to `customer.example`, `straße.de` to `strasse.de`).
    Only `.` separates labels. See docs/decisions.md (66).
    """
    labels = []
    for label in _fold_case(domain.strip().rstrip(".")).split("."):
        if not label.isascii():
            with contextlib.suppress(UnicodeError):  # else kept as written: still not an ASCII key
                label = "xn--" + label.encode("punycode").decode("ascii")
        labels.append(label)
    return ".".join(labels)


def unicode_domain(domain: str) -> str:
    """A domain in its Unicode form, `xn--bcher-kva.de` -> `bücher.de` (labels kept when undecodable)."""
    labels = []
    for label in ascii_domain(domain).split("."):
        if label.startswith("xn--"):
            with contextlib.suppress(UnicodeError):
                label = label[4:].encode("ascii").decode("punycode")
        labels.append(label)
    return ".".join(labels)


def _fold_case(text: str) -> str:
    """Lower case, except that no non-ASCII character becomes ASCII (the Kelvin sign stays, not `k`)."""
    return "".join(c.lower() if c.isascii() or not c.lower().isascii() else c for c in text)


def address_key(address: str) -> str:
    """An address as identities and participants are keyed: trimmed, lower case, domain in IDNA form.

    `Jörg@Bücher.de` and `jörg@xn--bcher-kva.de` give the same key, `jörg@xn--bcher-kva.de`; a
    lookalike (`jane@ｃｕｓｔｏｍｅｒ.example`) never gives the key of an ASCII address.
    """
    address = address.strip()
    local, at, domain = address.rpartition("@")
    if not at:
        return _fold_case(address)
    return f"{_fold_case(local)}@{ascii_domain(domain)}"


def legacy_keys(address: str) -> list[str]:
    """Keys an address may have been stored under before keys used the IDNA form (lower case as
    written: the domain in Unicode or in punycode), the current key excluded."""
    key = address_key(address)
    local, _, domain = key.rpartition("@")
    if not local:
        return []
    forms = [f"{local}@{unicode_domain(domain)}", _fold_case(address.strip())]
    return [k for k in dict.fromkeys(forms) if k != key]
