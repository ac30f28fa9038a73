"""Known values for the template's Secrets Manager secrets, so scenarios can sign what they send.

A deployed secret holds what its operator put there (or a generated value); in a simulation the
caller must know it to compute webhook signatures. The defaults below are the test values of
`tests/events/webhooks/`; `--secrets FILE.json` overrides them per secret (logical id -> value).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3

from simulator.lambda_runtime import UnsupportedError
from simulator.template import REGION, Stack

DEFAULT_SECRETS: dict[str, Any] = {
    "WebhookSecret": {
        "meta_app_secret": "test-meta-app-secret",
        "meta_verify_token": "test-meta-verify-token",
        "x_consumer_secret": "test-x-consumer-secret",
    }
}
"""Set whenever the template has a secret of that logical id (unless --secrets gives another value)."""

SECRET_TYPE = "AWS::SecretsManager::Secret"  # noqa: S105 - a resource type, not a password


class SecretsFileError(ValueError):
    """The --secrets file cannot be used: says why."""


def load_secrets_file(path: Path) -> dict[str, Any]:
    """A JSON object mapping secret logical ids to their value (a JSON object, or a string kept as is)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SecretsFileError(f"cannot read the secrets file {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise SecretsFileError(f"{path}: not valid JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise SecretsFileError(
            f"{path}: a JSON object is expected, mapping secret logical ids to values, "
            'e.g. {"WebhookSecret": {"meta_app_secret": "..."}}'
        )
    wrong = [name for name, value in data.items() if not isinstance(value, dict | str)]
    if wrong:
        raise SecretsFileError(f"{path}: the value of {', '.join(wrong)} must be a JSON object or a string")
    return data


def secret_string(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def apply_secrets(stack: Stack, overrides: dict[str, Any]) -> dict[str, str]:
    """Put the known values into the deployed secrets; returns logical id -> where the value came from.

    Raises UnsupportedError when `overrides` names something that is not a secret of the template.
    """
    secrets = stack.of_type(SECRET_TYPE)
    unknown = [name for name in overrides if name not in secrets]
    if unknown:
        listed = ", ".join(sorted(secrets)) or "none"
        raise UnsupportedError(
            f"--secrets names {', '.join(unknown)}, which the template does not declare as "
            f"{SECRET_TYPE} (its secrets: {listed})"
        )
    client = boto3.client("secretsmanager", region_name=REGION)
    applied: dict[str, str] = {}
    for name in secrets:
        if name in overrides:
            value, origin = overrides[name], "--secrets"
        elif name in DEFAULT_SECRETS:
            value, origin = DEFAULT_SECRETS[name], "default test values"
        else:
            continue
        client.put_secret_value(SecretId=stack.physical[name], SecretString=secret_string(value))
        applied[name] = origin
    return applied
