"""The helpdesk config: defaults, validation and clear errors."""

from __future__ import annotations

import pytest

from shared.config import DEFAULT_CONFIG_PATH, load_config, parse_config
from shared.errors import ConfigError


def test_bundled_default_config_is_valid() -> None:
    config = load_config(str(DEFAULT_CONFIG_PATH))
    assert config.tickets.number_start == 1
    assert config.email.reopen_closed_within_days == 14


def test_empty_document_takes_every_default() -> None:
    assert parse_config("").email.subject_token_prefix == "#"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tickets: {number_start: 0}", "tickets.number_start"),
        ("email: {reopen_closed_within_days: -1}", "email.reopen_closed_within_days"),
        ("emial: {}", "emial: Extra inputs are not permitted"),
        ("- a list", "must be a mapping"),
        ("tickets: [", "not valid YAML"),
        ("reports: {timezone: Mars/Olympus}", "reports.timezone: unknown time zone"),
        ("reports: {next_issue_days: 0}", "reports.next_issue_days"),
    ],
)
def test_invalid_config_names_the_problem(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(text, "helpdesk.yaml")


def test_missing_file_is_a_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="cannot read helpdesk config"):
        load_config(str(tmp_path / "nope.yaml"))


# -- follow-up templates: each kind validated with the variables it actually gets ---------------
def test_a_template_using_another_kinds_variable_fails_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.logic import templates

    real = templates._catalogue

    def ack_naming_the_agent(language: str) -> dict[str, dict[str, str]]:
        catalogue = dict(real(language))
        if language == "en":
            catalogue["ack"] = {**catalogue["ack"], "short": "{{ agent_name }} will answer {{ expected }}."}
        return catalogue

    # Given an acknowledgement that uses a variable only out-of-office notices get
    monkeypatch.setattr(templates, "_catalogue", ack_naming_the_agent)
    # Then validation names it (at send time it would fail: the acknowledgement has no agent)
    assert templates.validate_templates() == ["en.ack.short: 'agent_name' is undefined"]
    assert "agent_name" in templates.sample_context("ooo")
    assert "transcript" not in templates.sample_context("update")


def test_times_name_their_zone_and_the_german_reminder_says_when_not_until() -> None:
    from datetime import UTC, datetime

    from shared.logic import templates

    winter, summer = datetime(2026, 3, 2, 11, 0, tzinfo=UTC), datetime(2026, 7, 2, 11, 0, tzinfo=UTC)
    assert templates.expected_phrase("en", winter, "Europe/Berlin") == "by Mon 02 Mar, 12:00 CET"
    assert templates.expected_phrase("en", summer, "Europe/Berlin") == "by Thu 02 Jul, 13:00 CEST"
    assert templates.expected_phrase("en", winter, "Asia/Dubai") == "by Mon 02 Mar, 15:00 UTC+04"
    closes = templates.expected_phrase("de", winter, "Europe/Berlin")
    reminder = templates.render(
        "reminder", "email", "de", {**templates.sample_context("reminder"), "expected": closes}
    )
    assert (
        "Wenn wir bis zum 02.03. um 12:00 Uhr CET nichts von Ihnen hören, schließen wir das Ticket"
        in reminder
    )


def test_subjects_carry_the_configured_token() -> None:
    from shared.logic import templates

    context = {
        **templates.sample_context("csat"),
        "ticket": {"number": 7, "token": "[HD-7]", "subject": "", "channel": "email"},
    }
    for language in templates.languages():
        assert templates.render("csat", "subject", language, context).startswith("[HD-7] ")
