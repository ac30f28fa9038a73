"""Inbound email: turn one raw MIME message into a `ParsedEmail` (pure, no I/O).

Only `parse_email` is public. Heavy libraries (nh3, inscriptis) load on first use.
"""

from shared.channels.email.parser import parse_email

__all__ = ["parse_email"]
