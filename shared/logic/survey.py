"""The satisfaction survey's answer: the rating a customer gives in reply, on any channel.

Ingestion reads it from an inbound message; the survey itself is queued by `automatic.on_resolution`.
"""

from __future__ import annotations

import re

_RATING = re.compile(
    r"^\s*([1-5])(?:\s*(?:/\s*5|stars?|sterne?|étoiles?|estrellas?))?\s*(?:[-–,:;!]|\.?\s*(?:\n|$))",
    re.IGNORECASE,
)


def csat_rating(text: str) -> int | None:
    """The 1-5 rating at the start of a customer's reply to the satisfaction survey, if any."""
    match = _RATING.match(text or "")
    return int(match.group(1)) if match else None
