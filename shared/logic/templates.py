"""Message templates: jinja2 in a sandbox, strict about undefined variables, per kind and language."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from shared.errors import ConfigError

TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "templates" / "followups"
DEFAULT_LANGUAGE = "en"
TIME_FORMATS = {
    "en": "%a %d %b, %H:%M {zone}",
    "de": "%d.%m. um %H:%M Uhr {zone}",
    "fr": "le %d/%m à %H:%M {zone}",
    "es": "el %d/%m a las %H:%M {zone}",
}
"""`{zone}`: the time zone's abbreviation at that moment (CET, CEST, UTC), so no reader guesses."""
BY = {"en": "by {when}", "de": "bis zum {when}", "fr": "d'ici {when}", "es": "antes de {when}"}
FROM = {"en": "from {when}", "de": "ab dem {when}", "fr": "à partir de {when}", "es": "a partir de {when}"}
CONTRACTIONS = {"fr": (("de le ", "du "),), "es": (("de el ", "del "),)}
"""The article of the time format meets the preposition: `à partir du 02/03`, `antes del 02/03`."""

SAMPLE_CONTEXT: dict[str, Any] = {
    "customer_name": "Sam",
    "ticket": {"number": 1, "token": "[#1]", "subject": "Example", "channel": "email"},
    "expected": "by Mon 02 Mar, 12:00 CET",
    "closed_now": True,
    "opens_at": "from Mon 02 Mar, 09:00 CET",
}
"""The variables every kind gets, with sample values (`opens_at` is "" unless `closed_now`)."""
KIND_CONTEXT: dict[str, dict[str, Any]] = {
    "transcript": {"transcript": "Customer: Hello\nAlice: Hi!"},
    "ooo": {"agent_name": "Alice", "agent_back": False},
}
"""The variables only some kinds get: the conversation for `transcript`; for out-of-office notices
`agent_name` (the assignee's display name or "") and `agent_back` (true when `expected` is when
they are back). A template using another kind's variable fails validation."""


def sample_context(kind: str) -> dict[str, Any]:
    """The variables a template of `kind` is rendered with, with sample values."""
    return {**SAMPLE_CONTEXT, **KIND_CONTEXT.get(kind, {})}


@cache
def _environment() -> Any:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    # The sandbox keeps operator-edited templates away from Python internals; StrictUndefined
    # turns a misspelt variable into an error (found at validation, not at send time).
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


@cache
def _catalogue(language: str) -> dict[str, dict[str, str]]:
    import yaml

    path = TEMPLATE_DIR / f"{language}.yaml"
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(kind): {str(k): str(v) for k, v in parts.items()} for kind, parts in data.items()}


def languages() -> list[str]:
    return sorted(p.stem for p in TEMPLATE_DIR.glob("*.yaml"))


def render_string(source: str, context: dict[str, Any]) -> str:
    """Render a template written by a person (an operator, a team's macro) in the sandbox; a
    variable the context lacks raises (jinja2's `UndefinedError`), as any template error does."""
    return str(_environment().from_string(source).render(**context)).strip()


def render(kind: str, part: str, language: str | None, context: dict[str, Any]) -> str:
    """Render part (`subject`, `email`, `short`) of a kind's template in the language, else English."""
    for lang in (language or DEFAULT_LANGUAGE, DEFAULT_LANGUAGE):
        source = _catalogue(lang).get(kind, {}).get(part)
        if source is not None:
            return str(_environment().from_string(source).render(**context)).strip()
    raise ConfigError(f"no template {kind}.{part} in {language} or {DEFAULT_LANGUAGE}")


def render_html(text: str) -> str:
    """A plain HTML rendering of a text message (escaped; paragraphs and line breaks kept)."""
    from markupsafe import escape

    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    body = "".join(f"<p>{escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)
    return f'<!DOCTYPE html><html><body style="font-family: sans-serif">{body}</body></html>'


def expected_phrase(language: str | None, due: datetime, timezone: str, from_time: bool = False) -> str:
    """`by Mon 02 Mar, 12:00 CET` in the customer's language, in the calendar's time zone."""
    from zoneinfo import ZoneInfo

    lang = language if language in TIME_FORMATS else DEFAULT_LANGUAGE
    local = due.astimezone(ZoneInfo(timezone))
    zone = local.tzname() or timezone
    if zone[:1] in "+-":  # zones without an abbreviation name their offset: say whose
        zone = f"UTC{zone}"
    when = local.strftime(TIME_FORMATS[lang]).format(zone=zone)
    phrase = (FROM if from_time else BY)[lang].format(when=when)
    for separate, contracted in CONTRACTIONS.get(lang, ()):
        phrase = phrase.replace(separate, contracted)
    return phrase


def _sample_contexts(kind: str) -> list[dict[str, Any]]:
    """The kind's sample values, then the same with every flag flipped and every text empty, so
    both branches of an `{% if %}` on a flag and the fallback of an `or` are rendered too."""
    sample = sample_context(kind)
    flipped = {
        name: (not value) if isinstance(value, bool) else "" if isinstance(value, str) else value
        for name, value in sample.items()
    }
    return [sample, flipped]


def validate_templates() -> list[str]:
    """Render every template with the sample values of its kind; the problems found (syntax,
    variables its kind does not get, and parts English has that a language lacks)."""
    from jinja2 import TemplateError

    problems: list[str] = []
    english = _catalogue(DEFAULT_LANGUAGE)
    for language in languages():
        catalogue = _catalogue(language)
        for kind, parts in english.items():  # a missing part would go out in English
            problems += [
                f"{language}.{kind}.{part}: missing (the English text would be sent)"
                for part in parts
                if part not in catalogue.get(kind, {})
            ]
        for kind, parts in catalogue.items():
            for part, source in parts.items():
                try:
                    for context in _sample_contexts(kind):
                        _environment().from_string(source).render(**context)
                except TemplateError as exc:
                    problems.append(f"{language}.{kind}.{part}: {exc}")
    return problems
