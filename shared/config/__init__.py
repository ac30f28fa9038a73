"""Loading the helpdesk config YAML."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import ValidationError

from shared.errors import ConfigError
from shared.logic.calendar import CalendarError, build_calendar
from shared.models.config import HelpdeskConfig

DEFAULT_CONFIG_PATH = Path(__file__).with_name("default.yaml")


def parse_config(text: str, source: str = "<config>") -> HelpdeskConfig:
    """Validate a YAML document into a HelpdeskConfig; ConfigError names each problem and its path."""
    import yaml

    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the config must be a mapping, got {type(data).__name__}")
    try:
        config = HelpdeskConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{source}: {problems}") from exc
    if calendar_problems := _calendar_problems(config):
        raise ConfigError(f"{source}: {'; '.join(calendar_problems)}")
    from shared.logic.templates import validate_templates

    if template_problems := validate_templates():
        raise ConfigError(f"{source}: templates: {'; '.join(template_problems)}")
    return config


def _calendar_problems(config: HelpdeskConfig) -> list[str]:
    """Each calendar whose time zone, hours or holidays the calendar logic cannot build, and why.

    Checked here rather than in the model: the model is plain data, and building a calendar is logic."""
    problems: list[str] = []
    for name, calendar in config.calendars.items():
        try:
            build_calendar(calendar.timezone, calendar.hours, list(calendar.holidays))
        except CalendarError as exc:
            problems.append(f"calendars.{name}: {exc}")
    try:
        build_calendar(config.reports.timezone)
    except CalendarError as exc:
        problems.append(f"reports.timezone: {exc}")
    return problems


@cache
def load_config(path: str | None = None) -> HelpdeskConfig:
    """Load and validate the config at `path` (the bundled default when None), once per process."""
    target = Path(path) if path else DEFAULT_CONFIG_PATH
    try:
        text = target.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read helpdesk config {target}: {exc}") from exc
    return parse_config(text, str(target))
