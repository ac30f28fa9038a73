"""SnapStart in the template (decision 86): off by default, one parameter for the two functions a
person waits on, which API Gateway invokes through a published alias that follows every change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from simulator.template import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
RESOURCES: dict[str, dict[str, Any]] = TEMPLATE["Resources"]
SNAPSTART_FUNCTIONS = ("AgentApiFunction", "SocialWebhookFunction")


def test_snapstart_is_a_parameter_that_defaults_to_off() -> None:
    parameter = TEMPLATE["Parameters"]["SnapStart"]
    assert (parameter["Default"], parameter["AllowedValues"]) == ("false", ["true", "false"])
    assert TEMPLATE["Conditions"]["SnapStartOn"] == {"Fn::Equals": [{"Ref": "SnapStart"}, "true"]}


@pytest.mark.parametrize("function", SNAPSTART_FUNCTIONS)
def test_the_function_snapshots_published_versions_when_the_parameter_says_so(function: str) -> None:
    properties = RESOURCES[function]["Properties"]
    assert properties["SnapStart"] == {"ApplyOn": {"Fn::If": ["SnapStartOn", "PublishedVersions", "None"]}}
    # SnapStart applies to published versions only: API Gateway invokes the alias, and any change
    # of the function's properties publishes a version (so its alias never runs old settings)
    assert (properties["AutoPublishAlias"], properties["AutoPublishAliasAllProperties"]) == ("live", True)
    # and a replaced version is deleted, so no old snapshot stays cached (and billed)
    assert properties["VersionDeletionPolicy"] == "Delete"


def test_a_new_layer_publishes_new_versions_of_the_aliased_functions() -> None:
    assert RESOURCES["SharedLayer"]["Properties"]["PublishLambdaVersion"] is True


def test_only_the_functions_a_person_waits_on_offer_snapstart() -> None:
    offering = {
        name
        for name, spec in RESOURCES.items()
        if spec["Type"] == "AWS::Serverless::Function" and "SnapStart" in spec["Properties"]
    }
    assert offering == set(SNAPSTART_FUNCTIONS)
    # and nothing SnapStart cannot have: provisioned concurrency, EFS, ephemeral storage over 512 MB
    for function in SNAPSTART_FUNCTIONS:
        properties = RESOURCES[function]["Properties"]
        assert "ProvisionedConcurrencyConfig" not in properties
        assert "FileSystemConfigs" not in properties
        assert properties.get("EphemeralStorage", {"Size": 512})["Size"] <= 512
