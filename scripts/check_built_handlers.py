"""Import every handler of a `sam build` output in a clean Python, as the Lambda runtime would.

For each `AWS::Serverless::Function` in the built template, a fresh `python3.12 -I -S` process
(no site-packages, no PYTHONPATH, no repository on the path) gets only the built function
directory and its built layers' `python/` directories on `sys.path`, plus the environment the
template gives the function (intrinsics resolved from parameter defaults, with dummy names for
resources). It imports the handler module and checks the handler is callable. This catches a
dependency missing from the layer, a module-level import that only works from the repository,
and settings that fail to validate with the template's environment. SnapStart hooks the handler
registers (shared/snapstart.py) are run too, as Lambda would run them around a snapshot.

Compiled wheels only import on the architecture they were built for: check a build made with
the host's platform (`make check-handlers` does that with LAYER_PLATFORM).

Usage: check_built_handlers.py [--build-dir .aws-sam/build] [--python python3.12] [--param Name=Value]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
STACK_NAME = "helpdesk"
PSEUDO_PARAMETERS = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT_ID,
    "AWS::Partition": "aws",
    "AWS::StackName": STACK_NAME,
    "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{STACK_NAME}/0",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NoValue": "",
}
PYTHON_RUNTIME = re.compile(r"^python3\.\d+$")

# Runs inside the clean interpreter: argv[1] is a JSON list of path entries, argv[2] the handler.
# `snapshot_restore_py` stands in for the Lambda runtime's SnapStart hooks module: the hooks the
# handler registers run as Lambda runs them (before the snapshot in reverse order of registration,
# after a restore in order), so a hook that fails with the template's environment fails here.
CHILD = """
import importlib, json, sys, types
sys.path[:0] = json.loads(sys.argv[1])
hooks = types.ModuleType("snapshot_restore_py")
hooks.before, hooks.after = [], []
hooks.register_before_snapshot = lambda hook, *a, **k: hooks.before.append((hook, a, k))
hooks.register_after_restore = lambda hook, *a, **k: hooks.after.append((hook, a, k))
sys.modules["snapshot_restore_py"] = hooks
module_name, _, attribute = sys.argv[2].rpartition(".")
module = importlib.import_module(module_name.replace("/", "."))
handler = getattr(module, attribute, None)
if not callable(handler):
    sys.exit(f"{sys.argv[2]}: {module.__name__} has no callable {attribute!r}")
for hook, args, kwargs in [*reversed(hooks.before), *hooks.after]:
    hook(*args, **kwargs)
"""


class TemplateError(Exception):
    """The built template has something this checker cannot resolve."""


def _cfn_loader() -> type[yaml.SafeLoader]:
    """A YAML loader that turns CloudFormation short tags (`!Ref`, `!Sub`...) into their long form."""

    class Loader(yaml.SafeLoader):
        pass

    def construct(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        if suffix == "Ref":
            return {"Ref": value}
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        return {f"Fn::{suffix}": value}

    Loader.add_multi_constructor("!", construct)
    return Loader


def load_template(path: Path) -> dict[str, Any]:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_cfn_loader())  # noqa: S506 - SafeLoader subclass
    if not isinstance(data, dict):
        raise TemplateError(f"{path} is not a template")
    return data


@dataclass
class Resolver:
    """Resolves the intrinsic functions found in environment variables to plausible strings."""

    template: Mapping[str, Any]
    overrides: Mapping[str, str] = field(default_factory=dict)

    def parameter(self, name: str) -> str:
        if name in self.overrides:
            return self.overrides[name]
        spec = self.template.get("Parameters", {}).get(name, {})
        return str(spec.get("Default", f"dummy-{name}"))

    def ref(self, name: str) -> str:
        if name in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[name]
        if name in self.template.get("Parameters", {}):
            return self.parameter(name)
        if name in self.template.get("Resources", {}):
            return f"{STACK_NAME}-{name}"
        raise TemplateError(f"Ref to unknown name {name!r}")

    def get_att(self, resource: str, attribute: str) -> str:
        if resource not in self.template.get("Resources", {}):
            raise TemplateError(f"Fn::GetAtt of unknown resource {resource!r}")
        if attribute.endswith("Arn"):
            return f"arn:aws:dummy:{REGION}:{ACCOUNT_ID}:{STACK_NAME}-{resource}"
        return f"{STACK_NAME}-{resource}-{attribute}"

    def condition(self, name: str) -> bool:
        spec = self.template.get("Conditions", {}).get(name)
        if spec is None:
            raise TemplateError(f"unknown condition {name!r}")
        return self.truth(spec)

    def truth(self, spec: Any) -> bool:
        if isinstance(spec, dict) and len(spec) == 1:
            ((key, value),) = spec.items()
            if key == "Fn::Equals":
                return bool(self.value(value[0]) == self.value(value[1]))
            if key == "Fn::Not":
                return not self.truth(value[0])
            if key == "Fn::And":
                return all(self.truth(v) for v in value)
            if key == "Fn::Or":
                return any(self.truth(v) for v in value)
            if key == "Condition":
                return self.condition(value)
        raise TemplateError(f"cannot evaluate condition {spec!r}")

    def sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return self.value(variables[name])
            if "." in name:
                resource, attribute = name.split(".", 1)
                return self.get_att(resource, attribute)
            return self.ref(name)

        return re.sub(r"\$\{(?!!)([^}]+)\}", replace, text).replace("${!", "${")

    def value(self, spec: Any) -> str:
        if isinstance(spec, bool):
            return "true" if spec else "false"
        if isinstance(spec, str | int | float):
            return str(spec)
        if isinstance(spec, dict) and len(spec) == 1:
            ((key, arg),) = spec.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                resource, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return self.get_att(resource, attribute)
            if key == "Fn::If":
                return self.value(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                return self.sub(text, variables)
            if key == "Fn::Join":
                return str(arg[0]).join(self.value(v) for v in arg[1])
            if key == "Fn::Select":
                return self.value(arg[1][int(self.value(arg[0]))])
            if key == "Fn::FindInMap":
                name, top, second = (self.value(v) for v in arg)
                return self.value(self.template["Mappings"][name][top][second])
            if key == "Fn::ImportValue":
                return f"imported-{self.value(arg)}"
        raise TemplateError(f"cannot resolve {spec!r}")


@dataclass
class Function:
    name: str
    handler: str
    code_dir: Path
    layer_dirs: list[Path]
    environment: dict[str, str]
    notes: list[str]


def functions_of(template: Mapping[str, Any], build_dir: Path, resolver: Resolver) -> list[Function]:
    """Every Python zip function of the template, with its built code, layers and environment."""
    resources: Mapping[str, Any] = template.get("Resources", {})
    defaults: Mapping[str, Any] = template.get("Globals", {}).get("Function", {})
    found = []
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props: Mapping[str, Any] = resource.get("Properties", {})
        runtime = str(props.get("Runtime", defaults.get("Runtime", "")))
        image = props.get("PackageType", defaults.get("PackageType")) == "Image"
        if image or not PYTHON_RUNTIME.match(runtime):
            print(f"skip {name}: not a Python zip function (runtime {runtime or 'unset'})", flush=True)
            continue
        code_uri = props.get("CodeUri", defaults.get("CodeUri"))
        handler = props.get("Handler", defaults.get("Handler"))
        if not isinstance(code_uri, str) or not isinstance(handler, str):
            raise TemplateError(f"{name}: CodeUri and Handler must be plain strings in the built template")
        notes: list[str] = []
        layer_dirs: list[Path] = []
        # SAM appends a function's Layers to the global ones.
        for layer in [*defaults.get("Layers", []), *props.get("Layers", [])]:
            logical = layer.get("Ref") if isinstance(layer, dict) else None
            layer_resource = resources.get(logical, {}) if logical else {}
            if layer_resource.get("Type") == "AWS::Serverless::LayerVersion":
                content = layer_resource.get("Properties", {}).get("ContentUri")
                if not isinstance(content, str):
                    raise TemplateError(f"{name}: layer {logical} has no built ContentUri")
                layer_dirs.append(build_dir / content)
            else:
                notes.append(f"layer {layer!r} is not built here and was left out")
        variables = {
            **defaults.get("Environment", {}).get("Variables", {}),
            **props.get("Environment", {}).get("Variables", {}),
        }
        environment = {key: resolver.value(value) for key, value in variables.items()}
        found.append(Function(name, handler, build_dir / code_uri, layer_dirs, environment, notes))
    return found


def sys_path_of(function: Function) -> list[str]:
    """The function code first, then each layer as Lambda mounts it under /opt/python."""
    paths = [function.code_dir]
    for layer in function.layer_dirs:
        paths += [layer / "python" / "lib" / "python3.12" / "site-packages", layer / "python"]
    return [str(p.resolve()) for p in paths if p.is_dir()]


def check(function: Function, python: str, timeout: float) -> str | None:
    """Import the handler in a clean interpreter; the failure message, or None when it imports."""
    if not function.code_dir.is_dir():
        return f"built code directory {function.code_dir} does not exist"
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_LAMBDA_FUNCTION_NAME": f"{STACK_NAME}-{function.name}",
        "LAMBDA_TASK_ROOT": str(function.code_dir.resolve()),
        **function.environment,
    }
    command = [python, "-I", "-S", "-c", CHILD, json.dumps(sys_path_of(function)), function.handler]
    try:
        completed = subprocess.run(  # noqa: S603 - our own interpreter and arguments
            command,
            cwd=function.code_dir,
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"importing {function.handler} took longer than {timeout:.0f} s"
    if completed.returncode != 0:
        output = (completed.stderr or completed.stdout).strip().splitlines()
        return "\n".join(output[-15:]) or f"exit code {completed.returncode}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--build-dir", type=Path, default=Path(".aws-sam/build"))
    parser.add_argument("--python", default="python3.12", help="the Lambda runtime's Python")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a template parameter value instead of its default (repeatable)",
    )
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)

    template_path = args.build_dir / "template.yaml"
    if not template_path.is_file():
        print(f"error: {template_path} not found; run sam build first", file=sys.stderr)
        return 2
    overrides = dict(item.split("=", 1) for item in args.param if "=" in item)
    try:
        template = load_template(template_path)
        functions = functions_of(template, args.build_dir, Resolver(template, overrides))
    except TemplateError as exc:
        print(f"error: {template_path}: {exc}", file=sys.stderr)
        return 2
    if not functions:
        print(f"error: {template_path} has no Python functions to check", file=sys.stderr)
        return 2

    label = ", ".join(f"{k}={v}" for k, v in overrides.items()) or "parameter defaults"
    failed = []
    for function in functions:
        started = time.perf_counter()
        problem = check(function, args.python, args.timeout)
        elapsed = time.perf_counter() - started
        for note in function.notes:
            print(f"note {function.name}: {note}", flush=True)
        if problem is None:
            summary = f"imports in a clean Python [{label}], {elapsed:.2f} s"
            print(f"ok   {function.name} ({function.handler}) {summary}", flush=True)
        else:
            failed.append(function.name)
            print(f"FAIL {function.name} ({function.handler}) [{label}]:", flush=True)
            print("     " + problem.replace("\n", "\n     "), flush=True)
    if failed:
        print(f"error: handlers that do not import from the build: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
