"""agent_api: the HTTP API the hosted agent UI talks to (JWT-authorised through API Gateway)."""

from __future__ import annotations

import binascii
import json
from functools import cache
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import BadRequestError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from shared import clock
from shared.config import load_config
from shared.dal.repository import TicketRepository, get_repository
from shared.errors import ConflictError, PermanentWriteError, TicketNotFoundError
from shared.language import detect_language
from shared.logic.agent_actions import (
    AgentContext,
    IdempotencyKeyReusedError,
    InvalidRequestError,
    NotAuthenticatedError,
    NoteRequest,
    PermissionDeniedError,
    PresenceRequest,
    ReplyRequest,
    TextTooLargeError,
    TicketChangeRequest,
    authenticate,
    resolve_ticket,
    set_presence,
    update_ticket,
)
from shared.logic.agent_replies import add_note, agent_reply
from shared.logic.ingest_email import EmailContext
from shared.logic.outbound import OutboundContext
from shared.logic.quarantine_review import (
    InvalidCursorError,
    NotReleasableError,
    QuarantineEntryNotFoundError,
    QuarantineListRequest,
    entry_summary,
    get_entry,
    list_quarantine,
    release_entry,
)
from shared.observability import logger, metrics, tracer
from shared.settings import AgentApiSettings, aws_region, get_settings
from shared.storage import S3BlobStore

app = APIGatewayHttpResolver()


@cache
def _agent_context() -> AgentContext:
    settings = get_settings(AgentApiSettings)
    return AgentContext(
        repository=get_repository(settings.table_name, aws_region()),
        config=load_config(settings.helpdesk_config),
    )


def _caller() -> tuple[str, bool]:
    """The calling agent's id and whether they are a supervisor, from the JWT the API checked;
    every route calls this first, so no route answers a caller who is not a configured agent."""
    context: dict[str, Any] = app.current_event.raw_event.get("requestContext") or {}
    claims: dict[str, Any] = ((context.get("authorizer") or {}).get("jwt") or {}).get("claims") or {}
    settings = get_settings(AgentApiSettings)
    caller = authenticate(claims, settings.agent_id_claim, settings.supervisor_group, _agent_context().config)
    return caller.agent_id, caller.supervisor


def _body(
    model: type[PresenceRequest] | type[TicketChangeRequest] | type[ReplyRequest] | type[NoteRequest],
) -> Any:
    try:
        return model.model_validate_json(app.current_event.decoded_body or "{}")
    except UnicodeDecodeError as exc:  # a base64-encoded body that is not UTF-8
        raise BadRequestError("body: not UTF-8 encoded JSON") from exc
    except binascii.Error as exc:  # marked base64 by API Gateway's caller, but it is not
        raise BadRequestError("body: marked base64 but not base64") from exc
    except ValidationError as exc:
        problems = "; ".join(_problem(e) for e in exc.errors())
        raise BadRequestError(problems) from exc


def _problem(error: ErrorDetails) -> str:
    where = ".".join(str(p) for p in error["loc"]) or "body"
    message = error["msg"]
    if error["type"] == "json_invalid" and "hex escape" in message:
        # JSON text may name a character by its UTF-16 surrogate pair (\ud83d\ude00); one half
        # alone is no character at all
        message += " (a \\uD800-\\uDFFF escape must be a surrogate pair: a lone surrogate is no character)"
    return f"{where}: {message}"


def _ticket_json(ref: str) -> dict[str, Any]:
    ctx = _agent_context()
    ticket = resolve_ticket(unquote(ref), ctx.repository)
    return {
        "ticket": ticket.model_dump(mode="json"),
        "messages": [
            m.model_dump(mode="json", exclude={"full_text"}) for m in ctx.repository.list_messages(ticket.id)
        ],
        "events": [e.model_dump(mode="json") for e in ctx.repository.list_events(ticket.id)],
    }


@app.put("/agents/<agent_id>/presence")
def put_presence(agent_id: str) -> dict[str, Any]:
    actor, supervisor = _caller()
    request = _body(PresenceRequest)
    set_presence(agent_id, request, actor, supervisor, _agent_context(), clock.now())
    until = clock.iso(request.until) if request.until else None
    logger.info("presence", agent=agent_id, status=request.status, until=until, by=actor)
    return {"agent": agent_id, "status": request.status, **({"until": until} if until else {})}


@app.get("/tickets/<ref>")
def get_ticket(ref: str) -> dict[str, Any]:
    _caller()
    return _ticket_json(ref)


@app.patch("/tickets/<ref>")
def patch_ticket(ref: str) -> dict[str, Any]:
    actor, _ = _caller()
    request = _body(TicketChangeRequest)
    now = clock.now()
    ticket = update_ticket(unquote(ref), request, actor, _agent_context(), now)
    # a resolution's survey and transcript are queued by auto_followup from the stream, once
    logger.info("ticket updated", ticket_id=ticket.id, by=actor)
    return {"ticket": ticket.model_dump(mode="json")}


def _error(status: int, message: str) -> Response[str]:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps({"message": message})
    )


def _outbound_context() -> OutboundContext:
    settings = get_settings(AgentApiSettings)
    ctx = _agent_context()
    return OutboundContext(
        repository=ctx.repository,
        config=ctx.config,
        support_addresses=settings.support_addresses,
        support_domain=settings.support_domain,
        detect_language=detect_language,  # survey and transcript in the customer's language
    )


@app.post("/tickets/<ref>/replies")
def post_reply(ref: str) -> Response[str]:
    """Queue a public reply, on the ticket's channel or another of the customer's (`channel`);
    auto_followup sends it once. An Idempotency-Key header makes retries safe."""
    actor, _ = _caller()
    request = _body(ReplyRequest)
    ctx = _outbound_context()
    ticket = resolve_ticket(unquote(ref), ctx.repository)
    outbound = agent_reply(
        ticket,
        request.text,
        actor,
        ctx,
        clock.now(),
        idempotency_key=app.current_event.headers.get("idempotency-key"),
        channel=request.channel,
    )
    logger.info(
        "reply queued",
        ticket_id=ticket.id,
        key=outbound.key,
        by=actor,
        channel=outbound.channel,
        template=outbound.template,
    )
    return Response(
        status_code=202,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(
            {
                "key": outbound.key,
                "channel": outbound.channel,
                "to": outbound.to,
                "status": "queued",
                "template": outbound.template,
            }
        ),
    )


@app.post("/tickets/<ref>/notes")
def post_note(ref: str) -> Response[str]:
    actor, _ = _caller()
    request = _body(NoteRequest)
    ctx = _outbound_context()
    ticket = resolve_ticket(unquote(ref), ctx.repository)
    note = add_note(ticket, request.text, actor, ctx, clock.now())
    return Response(
        status_code=201, content_type=content_types.APPLICATION_JSON, body=json.dumps({"message_id": note.id})
    )


# -- quarantine review: supervisors and admins list, inspect and release quarantined input --------


def _reviewer() -> str:
    """The caller's agent id when they may review the quarantine (supervisor or admin group)."""
    actor, supervisor = _caller()
    if supervisor:
        return actor
    context: dict[str, Any] = app.current_event.raw_event.get("requestContext", {})
    claims: dict[str, Any] = ((context.get("authorizer") or {}).get("jwt") or {}).get("claims") or {}
    groups = claims.get("cognito:groups") or claims.get("groups") or ""
    if isinstance(groups, str):
        groups = groups.strip("[]").replace(",", " ").split()
    if get_settings(AgentApiSettings).admin_group in groups:
        return actor
    raise PermissionDeniedError("only supervisors and admins review the quarantine")


def _email_context() -> EmailContext | None:
    settings = get_settings(AgentApiSettings)
    if not settings.inbound_bucket or not settings.support_addresses:
        return None
    ctx = _agent_context()
    return EmailContext(
        repository=ctx.repository,
        blobs=S3BlobStore(settings.inbound_bucket),
        config=ctx.config,
        support_addresses=settings.support_addresses,
        support_domain=settings.support_domain,
    )


def _quarantine_repository() -> TicketRepository:
    return _agent_context().repository


@app.get("/quarantine")
def get_quarantine_list() -> dict[str, Any]:
    """Quarantine entries newest first; `reason`, `channel`, `released` filter, `cursor` pages."""
    actor = _reviewer()
    try:
        request = QuarantineListRequest.model_validate(app.current_event.query_string_parameters or {})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise BadRequestError(problems) from exc
    listing = list_quarantine(request, _quarantine_repository())
    logger.info("quarantine listed", by=actor, count=len(listing.entries))
    return {"entries": [entry_summary(e) for e in listing.entries], "cursor": listing.cursor}


@app.get("/quarantine/<entry_id>")
def get_quarantine_entry(entry_id: str) -> dict[str, Any]:
    _reviewer()
    entry = get_entry(unquote(entry_id), _quarantine_repository())
    return {"entry": entry.model_dump(mode="json")}


@app.post("/quarantine/<entry_id>/release")
def post_quarantine_release(entry_id: str) -> dict[str, Any]:
    """Ingest the entry's kept input as if it had passed; once, however often it is asked
    (an Idempotency-Key header is welcome but not needed: the entry itself is the key)."""
    actor = _reviewer()
    result = release_entry(unquote(entry_id), actor, _quarantine_repository(), _email_context(), clock.now())
    logger.info(
        "quarantine released",
        entry_id=result.entry.id,
        reason=result.entry.reason,
        outcome=result.outcome,
        ticket_id=result.ticket_id,
        by=actor,
    )
    return {
        "outcome": result.outcome,
        "ticket_id": result.ticket_id,
        "ticket_number": result.ticket_number,
        "entry": result.entry.model_dump(mode="json"),
    }


# The domain errors answered with their own message, and their status: the one place they map to HTTP.
_STATUS_OF: dict[type[Exception], int] = {
    InvalidRequestError: 400,
    InvalidCursorError: 400,
    NotAuthenticatedError: 401,
    PermissionDeniedError: 403,
    TicketNotFoundError: 404,
    QuarantineEntryNotFoundError: 404,
    NotReleasableError: 409,
    TextTooLargeError: 413,
    IdempotencyKeyReusedError: 422,
}


def _domain_error(exc: Exception) -> Response[str]:
    # the most specific class first, as Powertools chose the handler
    status = next(_STATUS_OF[cls] for cls in type(exc).__mro__ if cls in _STATUS_OF)
    return _error(status, str(exc))


for _error_type in _STATUS_OF:
    app.exception_handler(_error_type)(_domain_error)


@app.exception_handler(PermanentWriteError)  # type: ignore[untyped-decorator]
def _unstorable(exc: PermanentWriteError) -> Response[str]:
    # DynamoDB refused the write for good (e.g. an item over 400 KB): retrying cannot help
    logger.warning("write refused for good", error=str(exc))
    return _error(
        422, "the helpdesk cannot store this request as it is (too large or malformed); it was not saved"
    )


@app.exception_handler(ConflictError)  # type: ignore[untyped-decorator]
def _conflict(exc: ConflictError) -> Response[str]:
    return _error(409, "the ticket changed meanwhile; reload and retry")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)  # type: ignore[untyped-decorator]
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
