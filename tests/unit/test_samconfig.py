"""samconfig.toml: a dev and a prod environment whose parameter overrides the template accepts."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from simulator.template import load_template

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "samconfig.toml").read_text())
PARAMETERS: dict[str, dict[str, Any]] = load_template(ROOT / "template.yaml")["Parameters"]


def _overrides(env: str) -> dict[str, str]:
    raw = CONFIG[env]["deploy"]["parameters"]["parameter_overrides"]
    items = raw if isinstance(raw, list) else raw.split()
    return dict(item.split("=", 1) for item in items)


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_each_environment_deploys_its_own_stack(env: str) -> None:
    deploy = CONFIG[env]["deploy"]["parameters"]
    assert CONFIG[env]["global"]["parameters"]["stack_name"] == f"helpdesk-{env}"
    assert deploy["resolve_s3"] is True
    assert "CAPABILITY_IAM" in deploy["capabilities"]


def test_prod_asks_before_changing_and_dev_does_not() -> None:
    assert CONFIG["prod"]["deploy"]["parameters"]["confirm_changeset"] is True
    assert CONFIG["dev"]["deploy"]["parameters"]["confirm_changeset"] is False


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_parameter_overrides_are_values_the_template_accepts(env: str) -> None:
    overrides = _overrides(env)
    assert overrides, "no overrides"
    for name, value in overrides.items():
        assert name in PARAMETERS, f"{name} is not a template parameter"
        spec = PARAMETERS[name]
        if "AllowedValues" in spec:
            assert value in spec["AllowedValues"], (name, value)
        if "AllowedPattern" in spec:
            assert re.fullmatch(spec["AllowedPattern"], value), (name, value)
        if spec["Type"] == "Number":
            assert spec.get("MinValue", 0) <= int(value), (name, value)


def test_dev_and_prod_use_different_receipt_rule_sets_and_domains() -> None:
    dev, prod = _overrides("dev"), _overrides("prod")
    assert dev["ReceiptRuleSetName"] != prod["ReceiptRuleSetName"]
    assert dev["SupportDomain"] != prod["SupportDomain"]
