"""reports: the KPIs supervisors and admins run their teams on (docs/metrics.md), from the per-day
aggregates route_ticket keeps (decisions 92 to 95).

`GET /reports` is a route of the agent API (its JWT authorizer, its problem answers): JSON or CSV,
for a period, grouped by day, ISO week or a dimension, with one filter. `GET /reports/tickets` lists
the tickets behind the figures (a row each, up to `INLINE_ROWS`), `POST /reports/exports` exports any
number of them to S3 through the report_exports worker, `GET /reports/exports/{id}` says how far
it got and links the files (decisions 102 and 103). Its OpenAPI 3.1 document is
`openapi_document()` (committed as docs/openapi-reports.json)."""

from __future__ import annotations

from datetime import date
from functools import cache
from http import HTTPStatus
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic.json_schema import SkipJsonSchema

from shared import clock
from shared.api.edge import UnsupportedMediaTypeError, admit
from shared.api.problems import (
    INTERNAL,
    NO_ROUTE,
    VALIDATION,
    ProblemKind,
    kind_of,
    problem_response,
    refusal,
    responses,
    validation_problems,
)
from shared.api.problems import openapi_document as contract
from shared.config import load_config
from shared.dal.exports import DynamoExports, LambdaExportDispatch
from shared.dal.repository import get_repository
from shared.logic.agent_actions import (
    IdempotencyKeyReusedError,
    InvalidRequestError,
    NotAuthenticatedError,
    PermissionDeniedError,
)
from shared.logic.exports import ExportNotFoundError, export_answer, read_export, request_export
from shared.logic.permissions import ForbiddenActionError, Principal
from shared.logic.reports import ReportRequest, build_report, parse_filter, report_csv, report_timezone
from shared.logic.ticket_rows import RowsRequest, rows_csv, ticket_rows
from shared.models.config import HelpdeskConfig
from shared.models.exports import ExportAnswer, ExportRequest, TicketRows
from shared.models.reports import GroupBy, Report
from shared.observability import logger, metrics, tracer
from shared.settings import ReportExportSettings, ReportsSettings, aws_region, get_settings
from shared.storage import S3BlobStore

API_TITLE = "Helpdesk reports API"
API_VERSION = "1.0.0"
CSV = "text/csv; charset=utf-8"
INLINE_ROWS = 1000
"""Most rows `GET /reports/tickets` answers; more is an export's job (`POST /reports/exports`)."""
INLINE_WALK = 10 * INLINE_ROWS
"""Most ticket numbers an inline answer walks (a narrow filter over a long period reads many tickets
for few rows: within the API's 29 seconds, an export's otherwise)."""


class TooManyRowsError(Exception):
    """More tickets than an inline answer holds."""


app = APIGatewayHttpResolver(
    enable_validation=True, response_validation_error_http_code=HTTPStatus.INTERNAL_SERVER_ERROR
)

PROBLEMS: dict[type[Exception], ProblemKind] = {
    InvalidRequestError: ProblemKind(400, "invalid-request", "The request cannot be done as asked"),
    NotAuthenticatedError: ProblemKind(401, "not-authenticated", "No agent's ID token"),
    PermissionDeniedError: ProblemKind(403, "forbidden", "Not allowed for this caller"),
    ForbiddenActionError: ProblemKind(403, "forbidden", "Not allowed for this caller"),
    UnsupportedMediaTypeError: ProblemKind(415, "unsupported-media-type", "The body is not JSON"),
    ExportNotFoundError: ProblemKind(404, "not-found", "No such resource"),
    IdempotencyKeyReusedError: ProblemKind(422, "idempotency-key-reused", "Idempotency-Key already used"),
    TooManyRowsError: ProblemKind(422, "too-many-rows", "Too many tickets for one answer: export them"),
}
"""The domain errors and their HTTP answer, as the agent API's (decision 81)."""


@cache
def _config() -> HelpdeskConfig:
    return load_config(get_settings(ReportsSettings).helpdesk_config)


def _principal() -> Principal:
    scope: Principal = app.context["principal"]
    return scope


def _domain_error(exc: Exception) -> Response[str]:
    return problem_response(kind_of(exc, PROBLEMS), str(exc), app.current_event.path)


for _error_type in PROBLEMS:
    app.exception_handler(_error_type)(_domain_error)


@app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
def _invalid(exc: RequestValidationError) -> Response[str]:
    detail, problems = validation_problems(list(exc.errors()))
    return problem_response(VALIDATION, detail, app.current_event.path, errors=problems)


@app.exception_handler(Exception)  # type: ignore[untyped-decorator]
def _unexpected(exc: Exception) -> Response[str]:
    logger.exception("unexpected error")
    return problem_response(INTERNAL, "the helpdesk could not answer this request; it was logged", None)


@app.not_found
def _no_route(exc: NotFoundError) -> Response[str]:
    return problem_response(NO_ROUTE, f"no resource at {app.current_event.path}", app.current_event.path)


Filter = Annotated[
    str | SkipJsonSchema[None],
    Query(
        min_length=3,
        max_length=200,
        pattern=r"^(team|agent|channel|inbox|tag|tier|priority):.+$",
        description="One dimension's value the figures are limited to (`team:support`)",
    ),
]


@app.get(
    "/reports",
    summary="Report figures for a period (supervisors: their teams; admins: all)",
    description=(
        "Every figure of docs/metrics.md over the days `from` to `to` (inclusive, at most 366), "
        "grouped by day, ISO week or a dimension, optionally limited to one dimension's value; "
        "`format=csv` answers a row per group and the total. `as_of` and `behind_seconds` say how "
        "current the aggregates are."
    ),
    responses={
        **responses(200, Report, "The report", 404),
        200: {
            "description": "The report (JSON), or its rows (CSV)",
            "content": {
                content_types.APPLICATION_JSON: {"model": Report},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
    },
)
def get_reports(
    first: Annotated[
        date,
        Query(
            alias="from",
            description="The first local day, YYYY-MM-DD (days of reports.timezone; of the team's own "
            "zone with reports.days: team and a team filter)",
        ),
    ],
    last: Annotated[date, Query(alias="to", description="The last local day, YYYY-MM-DD")],
    group_by: Annotated[GroupBy, Query(description="How the rows are grouped")] = "none",
    filter: Filter = None,
    format: Annotated[Literal["json", "csv"], Query(description="The answer's media type")] = "json",
) -> Response[str]:
    config = _config()
    settings = get_settings(ReportsSettings)
    request = ReportRequest(first=first, last=last, group_by=group_by, filter=parse_filter(filter))
    repository = get_repository(settings.table_name, aws_region())
    report = build_report(
        request,
        _principal(),
        repository,
        report_timezone(config, request.filter),
        repository.report_freshness(),
        clock.now(),
        config.reports.next_issue_days,
    )
    logger.info(
        "report", group_by=group_by, filter=filter, groups=len(report.groups), by=_principal().agent_id
    )
    if format == "csv":
        name = f"report-{first.isoformat()}-{last.isoformat()}-{group_by}.csv"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        return Response(status_code=200, content_type=CSV, body=report_csv(report), headers=headers)
    body = report.model_dump_json(by_alias=True)
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=body)


@cache
def _exports() -> DynamoExports:
    return DynamoExports(get_settings(ReportsSettings).table_name, aws_region())


@cache
def _dispatch() -> LambdaExportDispatch:
    function = get_settings(ReportExportSettings).export_function
    if not function:
        raise RuntimeError("EXPORT_FUNCTION is not set: exports cannot be run")
    return LambdaExportDispatch(function)


def _files() -> S3BlobStore:
    return S3BlobStore(get_settings(ReportExportSettings).exports_bucket)


@app.get(
    "/reports/tickets",
    summary="The tickets created in a period, a row each: the drill-down behind the figures",
    description=(
        "Every ticket created on the local days `from` to `to` (the figures counted on the creation "
        f"day are theirs) that matches `filter` and the caller may read, up to {INLINE_ROWS}; more "
        "answers a 422 problem: export them with `POST /reports/exports`. `segments=true` adds each "
        "measure's segments from the ticket's metric ledger (JSON only)."
    ),
    responses={
        **responses(200, TicketRows, "The rows", 422),
        200: {
            "description": "The rows (JSON), or the CSV export's rows",
            "content": {
                content_types.APPLICATION_JSON: {"model": TicketRows},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
    },
)
def get_report_tickets(
    first: Annotated[date, Query(alias="from", description="The first local day, YYYY-MM-DD")],
    last: Annotated[date, Query(alias="to", description="The last local day, YYYY-MM-DD")],
    filter: Filter = None,
    segments: Annotated[bool, Query(description="Each measure's segments, per ticket")] = False,
    format: Annotated[Literal["json", "csv"], Query(description="The answer's media type")] = "json",
) -> Response[str]:
    config = _config()
    request = RowsRequest(first, last, parse_filter(filter), segments and format == "json")
    timezone = report_timezone(config, request.filter)
    numbers, found = ticket_rows(_exports(), request, _principal(), timezone, config.tickets.number_start)
    export = "POST /reports/exports with the same from, to and filter exports them all to a file"
    if numbers is not None and numbers[1] - numbers[0] + 1 > INLINE_WALK:
        raise TooManyRowsError(f"more than {INLINE_WALK} tickets to read for this period: {export}")
    rows = [row for _, row in zip(range(INLINE_ROWS + 1), found, strict=False)]
    if len(rows) > INLINE_ROWS:
        raise TooManyRowsError(f"more than {INLINE_ROWS} tickets: {export}")
    logger.info("report tickets", filter=filter, rows=len(rows), numbers=numbers, by=_principal().agent_id)
    if format == "csv":
        name = f"tickets-{first.isoformat()}-{last.isoformat()}.csv"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        return Response(status_code=200, content_type=CSV, body=rows_csv(rows), headers=headers)
    answer = TicketRows.model_validate(
        {"timezone": timezone, "from": first, "to": last, "filter": filter, "numbers": numbers}
        | {"count": len(rows), "rows": rows}
    )
    unasked: Any = None if request.segments else {"rows": {"__all__": {"segments"}}}
    body = answer.model_dump_json(by_alias=True, exclude=unasked)
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=body)


@app.post(
    "/reports/exports",
    summary="Export every ticket row of a period to CSV files (asynchronously)",
    description=(
        "Records an export of the rows `GET /reports/tickets` would list, without its cap, and "
        "answers 202 with the job; `GET /reports/exports/{id}` says when it is done and links the "
        "files. An Idempotency-Key makes retries give the same job."
    ),
    responses={
        **responses(202, ExportAnswer, "The export job, queued", 422),
        200: {
            "description": "The job this Idempotency-Key made before",
            "content": {content_types.APPLICATION_JSON: {"model": ExportAnswer}},
        },
    },
)
def post_report_export(
    request: Annotated[ExportRequest, Body(embed=False)],
    idempotency_key: Annotated[
        str | SkipJsonSchema[None],
        Header(alias="Idempotency-Key", description="1 to 200 printable ASCII characters, e.g. a UUID"),
    ] = None,
) -> Response[str]:
    job, new = request_export(request, _principal(), idempotency_key, clock.now(), _exports(), _dispatch())
    logger.info("export requested", job=job.id, new=new, by=_principal().agent_id)
    body = export_answer(job, _files()).model_dump_json(by_alias=True)
    headers = {"Location": f"/reports/exports/{job.id}"}
    status = 202 if new else 200
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=headers
    )


@app.get(
    "/reports/exports/<export_id>",
    summary="An export's state, and once done a pre-signed link per file",
    description="For the caller who asked for it, or an admin. Links are valid 15 minutes.",
    responses=responses(200, ExportAnswer, "The export job", 404),
)
def get_report_export(
    export_id: Annotated[str, Path(min_length=5, max_length=64, pattern=r"^exp_[0-9a-z]+$")],
) -> Response[str]:
    job = read_export(_exports(), export_id, _principal())
    body = export_answer(job, _files()).model_dump_json(by_alias=True)
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=body)


@cache
def openapi_document() -> dict[str, Any]:
    """The reports API's OpenAPI 3.1 document, with problems for refused requests."""
    description = "Report figures for supervisors and admins. See docs/reports.md and docs/metrics.md."
    return contract(app, API_TITLE, API_VERSION, description)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)  # type: ignore[untyped-decorator]
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings(ReportsSettings)
    try:
        _, scope = admit(
            event, _config(), settings.agent_id_claim, settings.supervisor_group, settings.admin_group
        )
    except (
        NotAuthenticatedError,
        PermissionDeniedError,
        InvalidRequestError,
        UnsupportedMediaTypeError,
    ) as exc:
        return refusal(kind_of(exc, PROBLEMS), str(exc), event.get("rawPath"))
    app.append_context(principal=scope)  # type: ignore[no-untyped-call]
    return app.resolve(event, context)
