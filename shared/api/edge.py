"""Who calls an agent-facing API: the claims API Gateway's JWT authorizer verified, and what they
may do (decision 44). Checked before any route or validation, so nobody else learns anything."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from shared.logic.agent_actions import Caller, InvalidRequestError, authenticate
from shared.logic.permissions import Principal, principal, role_from_groups
from shared.models.config import HelpdeskConfig


class UnsupportedMediaTypeError(Exception):
    """A request body that is not JSON (these APIs read no forms or uploads)."""


def claims_of(event: dict[str, Any]) -> dict[str, Any]:
    context: dict[str, Any] = event.get("requestContext") or {}
    claims: dict[str, Any] = ((context.get("authorizer") or {}).get("jwt") or {}).get("claims") or {}
    return claims


def groups_of(claims: dict[str, Any]) -> list[str]:
    groups = claims.get("cognito:groups") or claims.get("groups") or []
    if isinstance(groups, str):  # the authorizer flattens lists to "[a b]"
        groups = groups.strip("[]").replace(",", " ").split()
    return [str(group) for group in groups]


def check_body_reads(event: dict[str, Any]) -> None:
    """A body must be JSON (no content type means JSON), and one marked base64 must be base64 of
    UTF-8 text (API Gateway encodes bodies itself, so this is the webhook's defence, kept here too)."""
    body = event.get("body")
    if not body:
        return
    media_type = str((event.get("headers") or {}).get("content-type") or "application/json")
    if media_type.split(";")[0].strip().lower() != "application/json":
        raise UnsupportedMediaTypeError(f"the body is {media_type}: send it as application/json")
    if not event.get("isBase64Encoded"):
        return
    try:
        base64.b64decode(body, validate=True).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequestError("body: not UTF-8 encoded JSON") from exc
    except binascii.Error as exc:
        raise InvalidRequestError("body: marked base64 but not base64") from exc


def admit(
    event: dict[str, Any],
    config: HelpdeskConfig,
    agent_id_claim: str,
    supervisor_group: str,
    admin_group: str,
) -> tuple[Caller, Principal]:
    """The calling agent of the config, with their role and teams; NotAuthenticatedError for
    anyone else, InvalidRequestError or UnsupportedMediaTypeError for a body that does not read."""
    claims = claims_of(event)
    caller = authenticate(claims, agent_id_claim, supervisor_group, config)
    check_body_reads(event)
    role = role_from_groups(groups_of(claims), supervisor_group, admin_group)
    return caller, principal(caller.agent_id, role, config)
