"""Bounds on what we store of inbound input, measured in UTF-8 bytes (a 4-byte character counts 4).

DynamoDB refuses an item over 400 KB and strings that are not valid Unicode. Values we cannot
predict the size of (a subject, a header, the list of attachments) are cut to these bounds and the
message is flagged, so an agent knows; the whole raw input stays where it was kept (the raw email
in S3, the quarantine for chat input). docs/data-model.md lists the bounds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SUBJECT_MAX_BYTES = 2_000
"""A subject (ticket and message); RFC 5322 limits a header line to 998 characters anyway."""
HEADER_VALUE_MAX_BYTES = 2_000
"""Each header value kept on a message (the parser's selection, To, Cc, recipients)."""
NAME_MAX_BYTES = 500
"""An attachment's file name, a sender's display name."""
MAX_ATTACHMENTS = 100
"""Attachments stored per message; the rest are listed in the `omitted_attachments` header."""
PREVIEW_MAX_BYTES = 4_000
"""The text kept inline when the whole body is moved to S3."""
RULES_PREVIEW_MAX_BYTES = 1_000
"""The ticket's preview that routing rules read."""

REPLACEMENT = "\ufffd"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def repair(value: str) -> str:
    """`value` with every lone surrogate (not valid Unicode, refused by DynamoDB) replaced by U+FFFD."""
    return _LONE_SURROGATE.sub(REPLACEMENT, value)


def clip(value: str, max_bytes: int) -> str:
    """The longest prefix of `value` whose UTF-8 form fits in `max_bytes`, cut between characters."""
    encoded = value.encode("utf-8", "surrogatepass")
    if len(encoded) <= max_bytes:
        return value
    return encoded[:max_bytes].decode("utf-8", "ignore")


@dataclass
class Bounder:
    """Repairs and clips the values of one message, remembering which flags the message needs."""

    flags: list[str] = field(default_factory=list)

    def _flag(self, flag: str) -> None:
        if flag not in self.flags:
            self.flags.append(flag)

    def text(self, value: str, max_bytes: int | None = None, flag: str = "text_truncated") -> str:
        """`value` repaired (flag `text_repaired`) and, with `max_bytes`, clipped (flag `flag`)."""
        repaired = repair(value)
        if repaired != value:
            self._flag("text_repaired")
        if max_bytes is None:
            return repaired
        clipped = clip(repaired, max_bytes)
        if clipped != repaired:
            self._flag(flag)
        return clipped

    def optional(
        self, value: str | None, max_bytes: int | None = None, flag: str = "text_truncated"
    ) -> str | None:
        return None if value is None else self.text(value, max_bytes, flag)

    def headers(self, values: dict[str, str]) -> dict[str, str]:
        """Header values repaired and clipped to HEADER_VALUE_MAX_BYTES (flag `headers_truncated`)."""
        return {
            self.text(name, NAME_MAX_BYTES, "headers_truncated"): self.text(
                value, HEADER_VALUE_MAX_BYTES, "headers_truncated"
            )
            for name, value in values.items()
        }

    def omitted(self, names: list[str]) -> str | None:
        """The header listing attachments not stored (count, then names), or None when none were left out."""
        if not names:
            return None
        self._flag("attachments_omitted")
        listing = f"{len(names)}: " + ", ".join(repair(n) for n in names)
        return clip(listing, HEADER_VALUE_MAX_BYTES)
