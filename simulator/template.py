"""Reading template.yaml: CloudFormation short-form tags, parameters, and intrinsic resolution.

The simulator and the tests create their moto resources from the template itself, so the
infrastructure and what runs locally cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
STACK_NAME = "helpdesk"


class _Tagged(dict[str, Any]):
    """A short-form intrinsic turned into its long form, e.g. `!Ref X` -> {"Ref": "X"}."""


def _construct(tag: str) -> Any:
    name = "Ref" if tag == "Ref" else f"Fn::{tag}"

    def build(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if tag == "GetAtt":
                value = str(value).split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return _Tagged({name: value})

    return build


class TemplateLoader(yaml.SafeLoader):
    """A SafeLoader that understands CloudFormation's short-form tags."""


for _tag in (
    "Ref",
    "GetAtt",
    "Sub",
    "Join",
    "If",
    "Equals",
    "Not",
    "And",
    "Or",
    "Select",
    "Split",
    "FindInMap",
    "ImportValue",
    "Base64",
    "Cidr",
    "GetAZs",
    "Condition",
):
    TemplateLoader.add_constructor(f"!{_tag}", _construct(_tag))


def load_template(path: Path) -> dict[str, Any]:
    """Parse a SAM/CloudFormation template into plain data with long-form intrinsics."""
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=TemplateLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(data, dict) or "Resources" not in data:
        raise ValueError(f"{path} is not a CloudFormation template (no Resources)")
    return data


@dataclass
class Stack:
    """A template with values for its parameters and the physical names of its resources."""

    template: dict[str, Any]
    root: Path
    parameters: dict[str, Any] = field(default_factory=dict)
    physical: dict[str, str] = field(default_factory=dict)
    attributes: dict[tuple[str, str], Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, overrides: dict[str, Any] | None = None) -> Stack:
        template = load_template(path)
        params = {name: spec.get("Default") for name, spec in (template.get("Parameters") or {}).items()}
        params.update(overrides or {})
        missing = [name for name, value in params.items() if value is None]
        if missing:
            raise ValueError(f"template parameters without a value: {', '.join(missing)}")
        return cls(template=template, root=path.parent, parameters=params)

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.template["Resources"]
        return resources

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: spec for name, spec in self.resources.items() if spec.get("Type") == kind}

    def condition(self, name: str) -> bool:
        return bool(self.resolve((self.template.get("Conditions") or {})[name]))

    def pseudo(self, name: str) -> Any:
        return {
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Region": REGION,
            "AWS::Partition": "aws",
            "AWS::StackName": STACK_NAME,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": None,
        }[name]

    def ref(self, name: str) -> Any:
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical:
            return self.physical[name]
        raise KeyError(f"!Ref {name}: no such parameter or created resource")

    def get_att(self, name: str, attribute: str) -> Any:
        if (name, attribute) in self.attributes:
            return self.attributes[(name, attribute)]
        raise KeyError(f"!GetAtt {name}.{attribute}: resource not created or attribute unknown")

    def resolve(self, value: Any) -> Any:
        """Resolve intrinsics against parameters and created resources."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                parts = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return self.get_att(parts[0], parts[1])
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Join":
                sep, items = arg
                return sep.join(str(self.resolve(i)) for i in self.resolve(items))
            if key == "Fn::If":
                cond, yes, no = arg
                return self.resolve(yes if self.condition(cond) else no)
            if key == "Fn::Equals":
                left, right = (self.resolve(v) for v in arg)
                return left == right
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(v) for v in arg)
            if key == "Fn::Or":
                return any(self.resolve(v) for v in arg)
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(sep)
            if key == "Condition":
                return self.condition(arg)
        return {k: self.resolve(v) for k, v in value.items()}

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                return str(self.get_att(resource, attribute))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}!]+)\}", replace, text)

    def function_environment(self, logical_id: str) -> dict[str, str]:
        """A function's environment variables as the template sets them (Globals merged in)."""
        globals_env = (
            ((self.template.get("Globals") or {}).get("Function") or {}).get("Environment") or {}
        ).get("Variables") or {}
        own = (self.resources[logical_id].get("Properties", {}).get("Environment") or {}).get(
            "Variables"
        ) or {}
        merged = {**globals_env, **own}
        return {name: str(self.resolve(value)) for name, value in merged.items()}
