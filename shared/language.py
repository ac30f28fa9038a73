"""Language detection for routing rules (py3langid; its model loads on first use)."""

from __future__ import annotations

from functools import cache
from typing import Any

MIN_CHARS = 12


@cache
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str, min_probability: float = 0.5) -> str | None:
    """The ISO 639-1 code of the text's language, or None when the text is too short or unclear."""
    sample = " ".join(text.split())[:2000]
    if len(sample) < MIN_CHARS:
        return None
    language, probability = _identifier().classify(sample)
    return str(language) if probability >= min_probability else None
