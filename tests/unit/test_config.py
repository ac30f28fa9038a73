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
    ],
)
def test_invalid_config_names_the_problem(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(text, "helpdesk.yaml")


def test_missing_file_is_a_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="cannot read helpdesk config"):
        load_config(str(tmp_path / "nope.yaml"))
