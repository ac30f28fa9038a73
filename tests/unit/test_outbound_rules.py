"""Outbound rules without I/O: the `outbound` config and the agent's text as a WhatsApp template
parameter."""

from __future__ import annotations

import pytest

from shared.config import parse_config
from shared.errors import ConfigError
from shared.logic.agent_replies import template_parameter


def test_outbound_defaults_cap_retries_and_time_out_sends() -> None:
    outbound = parse_config("").outbound
    assert (outbound.max_send_attempts, outbound.sending_timeout_minutes) == (8, 10)
    assert outbound.whatsapp_reply_templates == {}


def test_whatsapp_reply_templates_are_read_per_language() -> None:
    config = parse_config(
        'outbound: {whatsapp_reply_templates: {en: "agent_reply:en_US", de: "agent_antwort:de"}}'
    )
    assert config.outbound.whatsapp_reply_templates["de"] == "agent_antwort:de"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('outbound: {whatsapp_reply_templates: {en: "agent_reply"}}', "is not 'name:language'"),
        ('outbound: {whatsapp_reply_templates: {en: "Agent Reply:en_US"}}', "is not 'name:language'"),
        ('outbound: {whatsapp_reply_templates: {english: "agent_reply:en_US"}}', "2 to 5 characters"),
        ("outbound: {max_send_attempts: 0}", "outbound.max_send_attempts"),
        ("outbound: {sending_timeout_minutes: 1}", "outbound.sending_timeout_minutes"),
        ("outbound: {whatsapp_reply_text_limit: 2000}", "outbound.whatsapp_reply_text_limit"),
    ],
)
def test_invalid_outbound_config_names_the_problem(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(text, "helpdesk.yaml")


def test_short_text_is_flattened_to_one_line() -> None:
    assert template_parameter("Hello,\n\nyour refund\tis   on its way.", 100) == (
        "Hello, your refund is on its way."
    )


def test_long_text_is_cut_at_a_word_with_an_ellipsis() -> None:
    text = "Your refund of the full amount was approved today."
    cut = template_parameter(text, 30)
    assert cut == "Your refund of the full…"
    assert len(cut) <= 30


def test_a_word_ending_exactly_at_the_limit_is_kept() -> None:
    assert template_parameter("abc def ghi jkl", 8) == "abc def…"


def test_one_long_word_is_cut_hard() -> None:
    assert template_parameter("x" * 50, 10) == "x" * 9 + "…"


def test_a_long_transcript_keeps_the_most_recent_messages() -> None:
    from shared.logic.transcript import transcript_text

    lines = [f"2026-03-02 10:{minute:02d} jane: message {minute}" for minute in range(60)]
    assert transcript_text(lines) == "\n".join(lines)  # short enough: all of it
    cut = transcript_text(lines, limit=200)
    assert len(cut) <= 200 + len("[…]\n")
    assert cut.startswith("[…]\n")
    assert cut.endswith("jane: message 59")
    assert "message 0\n" not in cut
    huge = transcript_text(["x" * 500], limit=100)
    assert huge.startswith("[…]\n")
    assert huge.endswith("x …")
    assert len(huge) <= 100 + len("[…]\n")
