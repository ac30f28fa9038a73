"""Shared helpers for the corpus tests: locating the corpus, loading expectations, comparing."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.channels.email import parse_email
from shared.channels.email.html import html_to_text
from shared.models.email import ParsedAttachment

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "email"

# Lines printed in the terminal summary (see conftest.py).
RATES: list[str] = []


def corpus_dir(*parts: str) -> Path:
    """A corpus folder; skips the test when it is missing (fails instead when CI is "true")."""
    path = CORPUS.joinpath(*parts)
    if not path.is_dir():
        reason = (
            f"email corpus folder {path} is missing (expected next to the repository: ../shared/corpus/email)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def listing(*parts: str, pattern: str) -> list[str]:
    """File stems in a corpus folder (empty when the folder is missing: the tests then skip)."""
    path = CORPUS.joinpath(*parts)
    return sorted(p.stem for p in path.glob(pattern)) if path.is_dir() else []


def rate(label: str, passed: int, total: int) -> float:
    """Record and return a pass rate."""
    value = passed / total if total else 0.0
    RATES.append(f"{label}: {passed}/{total} = {value:.1%}")
    return value


# ---------------------------------------------------------------- zammad


class _RubyYamlLoader(yaml.SafeLoader):
    """SafeLoader that reads Zammad's Psych dumps (see the corpus README)."""


_RubyYamlLoader.add_multi_constructor(
    "!ruby/hash:", lambda loader, _suffix, node: loader.construct_mapping(node, deep=True)
)
_RubyYamlLoader.add_constructor(
    "!binary",
    lambda loader, node: base64.b64decode(loader.construct_scalar(node)),  # type: ignore[arg-type]
)

ZAMMAD_FIELDS = ("from_email", "from_display_name", "subject", "content_type", "body", "attachments")
_NO_BODY = "no visible content"
_BRACKETS = str.maketrans({"\u27e8": "\u3008", "\u27e9": "\u3009"})


def load_zammad(name: str) -> tuple[bytes, dict[str, Any]]:
    folder = corpus_dir("zammad")
    expected = yaml.load((folder / f"{name}.yml").read_text(encoding="utf-8"), Loader=_RubyYamlLoader)  # noqa: S506 - a SafeLoader subclass
    return (folder / f"{name}.box").read_bytes(), expected


def _plain(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n")).strip("\n")


def loose_text(html: str) -> str:
    """Visible text of HTML with all whitespace removed (NFKC, one spelling for angle brackets)."""
    return "".join(unicodedata.normalize("NFKC", html_to_text(html).translate(_BRACKETS)).split())


def _md5_variants(attachment: ParsedAttachment) -> set[str]:
    """MD5s Zammad could have stored: raw bytes, or text as UTF-8 with LF and trailing newline variants."""
    variants = {attachment.data}
    for codec in ("utf-8", "cp1252", "gb18030"):
        try:
            text = attachment.data.decode(codec)
        except UnicodeDecodeError:
            continue
        lf = text.replace("\r\n", "\n")
        variants.update(v.encode() for v in (text, lf, lf.rstrip("\n"), lf.rstrip("\n") + "\n"))
    return {hashlib.md5(v).hexdigest() for v in variants}  # noqa: S324 - a content fingerprint, as upstream


@cache
def zammad_mismatches(name: str) -> dict[str, tuple[str, str]]:
    """Fields where our parse differs from Zammad's expectation: field -> (expected, got)."""
    raw, expected = load_zammad(name)
    parsed = parse_email(raw)
    sender = parsed.from_
    got: dict[str, str] = {
        "from_email": sender.address if sender else "",
        "from_display_name": sender.name if sender else "",
        "subject": parsed.subject,
        "content_type": parsed.content_type,
    }
    want: dict[str, str] = {key: expected.get(key) or "" for key in got}

    body = expected["body"]
    if body == _NO_BODY and expected["content_type"] == "text/plain":
        want["body"] = _NO_BODY
        got["body"] = _NO_BODY if not parsed.full_text.strip() else parsed.full_text
    elif expected["content_type"] == "text/plain":
        want["body"], got["body"] = _plain(body), _plain(parsed.full_text)
    else:
        ours, theirs = loose_text(parsed.html or ""), loose_text(body)
        # Zammad keeps <title> text we drop (and we keep a little it drops): containment of at least
        # nine tenths of the text either way is a match.
        shorter, longer = sorted((ours, theirs), key=len)
        same = bool(shorter) and shorter in longer and len(shorter) >= 0.9 * len(longer)
        want["body"], got["body"] = theirs, (theirs if same else ours)

    ours_md5 = set().union(*(_md5_variants(a) for a in parsed.attachments)) if parsed.attachments else set()
    missing = []
    for item in expected["attachments"]:
        if item.get("preferences", {}).get("content-alternative"):
            continue  # Zammad's copy of the HTML alternative: ours is ParsedEmail.html (sanitised)
        data = item["data"].encode() if isinstance(item["data"], str) else item["data"]
        if hashlib.md5(data).hexdigest() not in ours_md5:  # noqa: S324
            missing.append(item["filename"])
    want["attachments"], got["attachments"] = "", ", ".join(missing)
    return {field: (want[field], got[field]) for field in ZAMMAD_FIELDS if want[field] != got[field]}


# ---------------------------------------------------------------- reply stripping

Check = tuple[str, Callable[[str], bool] | None]


def normalized(text: str) -> str:
    """Text with CRLF as LF, trailing spaces on lines and surrounding blank lines removed."""
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n")).strip()


def expectations(folder: str) -> dict[str, Any]:
    path = CORPUS / "reply_stripping" / folder / "expectations.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def visible_checks(
    assertions: list[dict[str, Any]], body: str, common: str | None, flavour: str
) -> list[Check]:
    """Fragment-level upstream assertions restated as checks on the visible reply text.

    See docs/email-parsing.md ("Reply-stripping corpus") for the translation rules.
    """
    hidden: list[bool] | None = next(
        (a["value"] for a in assertions if a["kind"] == "fragment_flags" and a["flag"] == "hidden"), None
    )
    body = body.replace("\r\n", "\n")

    def value(raw: str) -> str:
        return common if raw == "$COMMON_FIRST_FRAGMENT" and common is not None else raw

    checks: list[Check] = []
    for item in assertions:
        kind, index = item["kind"], item.get("index")
        if kind in (
            "parse_reply_equals",
            "visible_text_equals",
            "visible_text_trimmed_equals",
            "parse_reply_stripped_equals",
            "derived_visible_text",
        ) or (kind == "fragment_trimmed_equals" and index == 0):
            want = normalized(value(item["value"]))
            checks.append((f"{kind} == {want[:40]!r}", lambda vis, want=want: normalized(vis) == want))
        elif kind == "fragment_equals" and index == 0:
            want = normalized(value(item["value"]))
            checks.append(
                (f"starts with {want[:40]!r}", lambda vis, want=want: normalized(vis).startswith(want))
            )
        elif kind == "fragment_count" and item["value"] == 1:
            checks.append(("nothing stripped", lambda vis: normalized(vis) == normalized(body)))
        elif kind in ("fragment_regex", "fragment_contains", "fragment_trimmed_regex") and index is not None:
            if kind == "fragment_contains":
                pattern, flags = re.escape(item["value"]), 0
            else:
                pattern = item["pattern"]
                flags = re.MULTILINE if flavour == "ruby" or item.get("js_flags") == "m" else 0
            if index == 0:
                checks.append(
                    (
                        f"visible matches {pattern!r}",
                        lambda vis, p=pattern, f=flags: bool(re.search(p, vis.strip(), f)),
                    )
                )
            elif hidden is not None and not hidden[index]:
                checks.append(
                    (f"visible has {pattern!r}", lambda vis, p=pattern: bool(re.search(p, vis, re.MULTILINE)))
                )
            elif hidden is not None:
                checks.append(
                    (f"hidden part has {pattern!r}", lambda vis, p=pattern: _after_visible(p, vis, body))
                )
        elif kind == "parse_reply_contains":
            checks.append((f"contains {item['value']!r}", lambda vis, v=item["value"]: v in vis))
        elif kind == "parse_reply_not_contains":
            checks.append((f"lacks {item['value']!r}", lambda vis, v=item["value"]: v not in vis))
        elif kind == "max_seconds":
            checks.append(("max_seconds", None))
    return checks


def _after_visible(pattern: str, visible: str, body: str) -> bool:
    """Whether `pattern` matches in the part of the body after the visible text (i.e. it was hidden)."""
    shown = visible.strip()
    at = body.find(shown)
    if at < 0:
        return re.search(pattern, visible, re.MULTILINE) is None
    return re.search(pattern, body[at + len(shown) :], re.MULTILINE) is not None
