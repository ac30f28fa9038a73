"""RFC 9457 problem details: the one error shape of the agent-facing HTTP APIs (decision 81).

Each API maps its domain errors to a `ProblemKind` in one table; the answers, the validation
problems and the OpenAPI entries for them are made here, so every API answers alike.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel

from shared.models.api import PROBLEM_JSON, FieldProblem, Problem


@dataclass(frozen=True)
class ProblemKind:
    status: int
    slug: str
    title: str


VALIDATION = ProblemKind(400, "validation", "The request does not match the API's schema")
NO_ROUTE = ProblemKind(404, "not-found", "No such resource")
NO_METHOD = ProblemKind(405, "method-not-allowed", "Method not allowed on this resource")
INTERNAL = ProblemKind(500, "internal", "Internal error")


def problem(kind: ProblemKind, detail: str, instance: str | None, **extensions: Any) -> Problem:
    return Problem(
        type=f"urn:helpdesk:problem:{kind.slug}",
        title=kind.title,
        status=kind.status,
        detail=detail,
        instance=instance,
        **extensions,
    )


def problem_json(found: Problem) -> str:
    return found.model_dump_json(exclude_none=True)


def problem_response(
    kind: ProblemKind,
    detail: str,
    instance: str | None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> Response[str]:
    """The answer for a problem of `kind` with the request path as its instance."""
    body = problem_json(problem(kind, detail, instance, **extensions))
    return Response(status_code=kind.status, content_type=PROBLEM_JSON, body=body, headers=headers)


def kind_of(exc: Exception, problems: Mapping[type[Exception], ProblemKind]) -> ProblemKind:
    """The most specific class of `exc` the table names (as Powertools chose the handler)."""
    return next(problems[cls] for cls in type(exc).__mro__ if cls in problems)


def field_problem(error: Mapping[str, Any]) -> FieldProblem:
    message = str(error.get("msg", ""))
    if error.get("type") in {"string_unicode", "json_invalid"}:
        # JSON text may name a character by its UTF-16 surrogate pair (\ud83d\ude00); one half
        # alone is no character at all
        message += " (a \\uD800-\\uDFFF escape must be a surrogate pair: a lone surrogate is no character)"
    return FieldProblem(
        loc=[p if isinstance(p, int) else str(p) for p in error["loc"]], msg=message, type=error["type"]
    )


def validation_problems(errors: list[Any]) -> tuple[str, list[FieldProblem]]:
    """The detail line and the per-field problems of a request the schema refused."""
    problems = [field_problem(e) for e in errors]
    detail = "; ".join(f"{'.'.join(str(p) for p in e.loc)}: {e.msg}" for e in problems)
    return detail, problems


def responses(
    ok: int, model: type[BaseModel], description: str, *errors: int, media_type: str | None = None
) -> dict[int, OpenAPIResponse]:
    """The answers a route documents: its success and its problems (every route may answer
    400, 401, 403 and 500)."""
    answers: dict[int, OpenAPIResponse] = {
        ok: {
            "description": description,
            "content": {media_type or content_types.APPLICATION_JSON: {"model": model}},
        }
    }
    for status in sorted({400, 401, 403, 500, *errors}):
        answers[status] = {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {"model": Problem}},
        }
    return answers


def openapi_document(app: Any, title: str, version: str, description: str) -> dict[str, Any]:
    """An API's OpenAPI 3.1 document as Powertools makes it from `app`'s routes, for callers with
    an agent's ID token, with problems for what the schema refuses (`problems_only`)."""
    # the OpenAPI models take a tenth of a second to import: only for the document, not at cold start
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    bearer = HTTPBearer(bearerFormat="JWT", description="The agent's Cognito ID token (token_use id)")
    document: dict[str, Any] = json.loads(
        app.get_openapi_json_schema(
            title=title,
            version=version,
            description=description,
            security_schemes={"agentIdToken": bearer},
            security=[{"agentIdToken": []}],
        )
    )
    return problems_only(document)


def problems_only(document: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI document as Powertools makes it, with its own validation-error answers (422
    `HTTPValidationError`) removed: these APIs answer problems (400, and 500 for a bad answer)."""
    internal = {
        "description": HTTPStatus.INTERNAL_SERVER_ERROR.phrase,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for item in document["paths"].values():
        for operation in item.values():
            answers = operation["responses"]
            if "HTTPValidationError" in json.dumps(answers.get("422", {})):
                del answers["422"]  # a request the schema refuses is a 400 problem here
            if "ResponseValidationError" in json.dumps(answers.get("500", {})):
                answers["500"] = internal  # an answer the schema refuses is a 500 problem
    schemas = document["components"]["schemas"]
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(name, None)
    return document


def refusal(kind: ProblemKind, detail: str, path: str | None) -> dict[str, Any]:
    """The Lambda answer (HTTP API payload 2.0) to a request refused at the edge, before
    Powertools saw it."""
    return {
        "statusCode": kind.status,
        "headers": {"Content-Type": PROBLEM_JSON},
        "cookies": [],
        "body": problem_json(problem(kind, detail, path)),
        "isBase64Encoded": False,
    }
