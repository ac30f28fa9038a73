"""Reply stripping against the talon, github, zapier and crisp fixtures (visible reply text).

Upstream assertions are about each library's fragments; `helpers.visible_checks` restates them
as checks on our visible text (rules in docs/email-parsing.md).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import pytest

from shared.channels.email import parse_email
from shared.channels.email.html import html_to_text
from shared.channels.email.quotes import visible_text

from .helpers import CORPUS, Check, corpus_dir, expectations, loose_text, normalized, rate, visible_checks

pytestmark = pytest.mark.corpus

ROOT = CORPUS / "reply_stripping"

# Failures we accept, with the reason (see docs/email-parsing.md).
_SIGN_OFF = "keeps the '-Abhishek Kona' sign-off, as crisp expects for the same text"
_UNDELIMITED = "signature without delimiter: needs talon's sender-aware classifier"
ACCEPTED: dict[str, str] = {
    "github/email_1_1.txt": _SIGN_OFF,
    "github/email_1_3.txt": _SIGN_OFF,
    "talon/reply-separated-by-hr.html": "talon also drops the line above the <hr> ('Bob'), we keep it",
    "talon-signature/jeff_body": _UNDELIMITED,
    "talon-signature/johndoeexamplecom_body": _UNDELIMITED,
    "talon-signature/long_body": _UNDELIMITED,
    "talon-signature/short_url_body": _UNDELIMITED,
    "talon-signature/sparse_body": _UNDELIMITED,
}
# Pass-rate floors per set (what the current rules reach).
FLOORS = {"talon": 23 / 24, "github": 20 / 22, "zapier": 1.0, "crisp": 1.0, "talon-signature": 1 / 6}
# talon keeps signatures in its expected replies; we strip delimited ones and mobile footers.
_TALON_SIGNATURE = re.compile(r"\n(?:-- ?\n.*|Sent (?:from|with) .*)\Z", re.DOTALL)


@dataclass(frozen=True)
class Case:
    """One fixture: how to get our visible text and what must hold for it."""

    set: str
    name: str
    source: str
    kind: str
    checks: tuple[Check, ...] = ()
    expected: str = ""

    @property
    def id(self) -> str:
        return f"{self.set}/{self.name}"


def _text_cases(folder: str, subdir: str, set_name: str, flavour: str) -> list[Case]:
    data = expectations(folder)
    common = data.get("COMMON_FIRST_FRAGMENT")
    cases = []
    for name, fixture in data.get("fixtures", {}).items():
        path = ROOT / folder / subdir / name
        checks = visible_checks(fixture["assertions"], path.read_text(encoding="utf-8"), common, flavour)
        if checks:
            cases.append(Case(set_name, name, str(path), "text", tuple(checks)))
    return cases


def _talon_cases() -> list[Case]:
    data = expectations("talon")
    if not data:
        return []
    folder = ROOT / "talon"
    cases = [
        Case("talon", name, str(folder / name), "eml", expected=item["expected_reply"])
        for name, item in data["standard_replies"]["cases"].items()
    ]
    cases += [
        Case("talon", name, str(folder / name), "html", expected=item["expected_reply_text"])
        for name, item in data["html_replies"]["cases"].items()
    ]
    cases += [
        Case(
            "talon",
            name,
            str(folder / name),
            "html-fragment",
            expected=item["expected_html_whitespace_removed"],
        )
        for name, item in data["single_fixtures"].items()
        if name.endswith(".html")
    ]
    cases.append(
        Case(
            "talon",
            "reply-quotations-share-block.eml",
            str(folder / "reply-quotations-share-block.eml"),
            "share-block",
        )
    )
    for body_file in data["signature_extraction"]["cases"]:
        stem = body_file.rsplit("/", 1)[-1]
        signature = (folder / body_file.replace("_body", "_signature")).read_text(encoding="utf-8").strip()
        cases.append(Case("talon-signature", stem, str(folder / body_file), "signature", expected=signature))
    return cases


def all_cases() -> list[Case]:
    if not ROOT.is_dir():
        return []
    return (
        _talon_cases()
        + _text_cases("github_email_reply_parser", "emails", "github", "ruby")
        + _text_cases("zapier_email_reply_parser", "emails", "zapier", "python")
        + _text_cases("crisp_email_reply_parser", "fixtures", "crisp", "js")
    )


CASES = all_cases()


def failures(case: Case) -> list[str]:
    """What does not hold for our visible text of this fixture (empty when it passes)."""
    with open(case.source, "rb") as handle:
        data = handle.read()
    started = time.perf_counter()
    if case.kind == "eml" or case.kind == "share-block":
        visible = parse_email(data).text
    elif case.kind in ("html", "html-fragment"):
        visible = visible_text(html_to_text(data.decode("utf-8")))
    else:
        visible = visible_text(data.decode("utf-8"))
    elapsed = time.perf_counter() - started

    if case.kind == "eml":
        expected = case.expected.strip()
        ok = normalized(visible) in (normalized(expected), normalized(_TALON_SIGNATURE.sub("", expected)))
        return [] if ok else [f"expected {expected!r}, got {visible!r}"]
    if case.kind == "html":
        ok = "".join(visible.split()) == "".join(case.expected.split())
        return [] if ok else [f"expected {case.expected!r}, got {visible!r}"]
    if case.kind == "html-fragment":
        ok = loose_text(visible) == loose_text(case.expected)
        return [] if ok else [f"expected the text of {case.expected!r}, got {visible!r}"]
    if case.kind == "share-block":
        ok = bool(visible.strip()) and "From" not in visible and visible.rstrip().endswith("Joe XXX")
        return [] if ok else [f"expected a reply ending with 'Joe XXX', got {visible[-200:]!r}"]
    if case.kind == "signature":
        body = data.decode("utf-8").strip()
        expected = body[: len(body) - len(case.expected)].strip() if case.expected else body
        return (
            []
            if normalized(visible) == normalized(expected)
            else [f"expected {expected[-80:]!r}, got {visible[-80:]!r}"]
        )
    problems = []
    for description, check in case.checks:
        if check is None:
            if elapsed > 1.0:
                problems.append(f"took {elapsed:.2f}s")
        elif not check(visible):
            problems.append(description)
    return problems


def test_corpus_is_present() -> None:
    for folder in (
        "talon",
        "github_email_reply_parser",
        "zapier_email_reply_parser",
        "crisp_email_reply_parser",
    ):
        corpus_dir("reply_stripping", folder)


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(case, id=case.id, marks=pytest.mark.xfail(reason=ACCEPTED[case.id], strict=False))
        if case.id in ACCEPTED
        else pytest.param(case, id=case.id)
        for case in CASES
    ],
)
def test_visible_reply(case: Case) -> None:
    # Given a fixture body / When we strip quotes and signatures / Then the upstream facts hold
    assert failures(case) == []


def test_reply_stripping_pass_rates() -> None:
    if not CASES:
        corpus_dir("reply_stripping")
    by_set: dict[str, list[Any]] = {}
    for case in CASES:
        by_set.setdefault(case.set, []).append((case.id, failures(case)))
    unexpected = []
    for set_name, results in by_set.items():
        passed = sum(not problems for _, problems in results)
        value = rate(f"reply stripping {set_name}", passed, len(results))
        assert value >= FLOORS[set_name], set_name
        unexpected += [case_id for case_id, problems in results if problems and case_id not in ACCEPTED]
    assert unexpected == []


def test_pathological_bodies_are_fast() -> None:
    folder = corpus_dir("reply_stripping", "github_email_reply_parser", "emails")
    for name in ("pathological.txt", "email_long_quote.txt"):
        body = (folder / name).read_text(encoding="utf-8")
        started = time.perf_counter()
        visible_text(body)
        assert time.perf_counter() - started < 1.0, name
