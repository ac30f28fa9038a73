"""live: the WebSocket API of the live workspace (decision 110). `$connect` admits an agent by the
Cognito ID token the UI sends as `?token=` (browsers cannot set headers on a WebSocket) and keeps the
connection where pushes find it; `$disconnect` removes it; on the socket it takes only presence on a
ticket (viewing, composing, left: decision 111); the agent API is where agents act."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared import clock
from shared.api.id_tokens import KeyLookup, user_pool_keys, verify_id_token
from shared.config import load_config
from shared.dal.repository import get_repository
from shared.errors import TicketNotFoundError
from shared.logic.agent_actions import InvalidRequestError, NotAuthenticatedError, PermissionDeniedError
from shared.logic.live import admit_connection, connection_partitions, note_presence
from shared.models.config import HelpdeskConfig
from shared.observability import logger, metrics, tracer
from shared.settings import LiveSettings, aws_region, get_settings


@cache
def _config() -> HelpdeskConfig:
    return load_config(get_settings(LiveSettings).helpdesk_config)


def _keys() -> KeyLookup:
    return user_pool_keys(get_settings(LiveSettings).keys_url)


def _answer(status: int, text: str) -> dict[str, Any]:
    return {"statusCode": status, "body": text}


def connect(event: dict[str, Any], connection_id: str) -> dict[str, Any]:
    settings = get_settings(LiveSettings)
    token = (event.get("queryStringParameters") or {}).get("token") or ""
    now = clock.now()
    try:
        if not token:
            raise NotAuthenticatedError("no token: connect with ?token=<the agent's ID token>")
        claims = verify_id_token(token, settings.token_issuer, settings.token_audience, _keys(), now)
        names = (settings.agent_id_claim, settings.supervisor_group, settings.admin_group)
        connection = admit_connection(claims, connection_id, _config(), names, now)
    except (NotAuthenticatedError, PermissionDeniedError) as exc:
        logger.warning("connection refused", reason=str(exc))
        metrics.add_metric(name="LiveConnectionRefused", unit=MetricUnit.Count, value=1)
        # the reason stays in our log, not with the caller
        if isinstance(exc, PermissionDeniedError):
            return _answer(403, "forbidden")
        return _answer(401, "unauthorized")
    repository = get_repository(settings.table_name, aws_region())
    repository.add_connection(connection, connection_partitions(connection))
    logger.info("connected", agent=connection.agent_id, role=connection.role, teams=connection.teams)
    metrics.add_metric(name="LiveConnected", unit=MetricUnit.Count, value=1)
    return _answer(200, "connected")


def disconnect(connection_id: str) -> dict[str, Any]:
    settings = get_settings(LiveSettings)
    repository = get_repository(settings.table_name, aws_region())
    gone = repository.drop_connection(connection_id)
    left = repository.drop_connection_viewers(connection_id)  # its agent leaves what they were on
    logger.info("disconnected", agent=gone.agent_id if gone else None, tickets_left=left)
    return _answer(200, "disconnected")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)  # type: ignore[untyped-decorator]
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = event.get("requestContext") or {}
    route, connection_id = request.get("routeKey"), str(request.get("connectionId") or "")
    logger.append_keys(connection_id=connection_id, route=route)
    if route == "$connect":
        return connect(event, connection_id)
    if route == "$disconnect":
        return disconnect(connection_id)
    return message(event, connection_id)


def message(event: dict[str, Any], connection_id: str) -> dict[str, Any]:
    """What a UI sends on the socket: only presence on a ticket (viewing, composing, left); the
    agent API is where agents act."""
    try:
        body = json.loads(event.get("body") or "{}")
    except json.JSONDecodeError:
        body = None
    if not isinstance(body, dict) or body.get("action") != "presence":
        return _answer(400, 'only {"action": "presence", ...} is taken here: act through the agent API')
    settings = get_settings(LiveSettings)
    repository = get_repository(settings.table_name, aws_region())
    try:
        changed = note_presence(connection_id, body, repository, clock.now())
    except InvalidRequestError as exc:
        return _answer(400, str(exc))
    except NotAuthenticatedError:
        return _answer(401, "unauthorized")
    except TicketNotFoundError:
        return _answer(404, "no such ticket")
    logger.info("presence", ticket_id=body.get("ticket_id"), state=body.get("state"), changed=changed)
    return _answer(200, "noted")
