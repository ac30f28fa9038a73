"""agent_api: the HTTP API the hosted agent UI talks to (JWT-authorised through API Gateway).

Its contract is this module: Powertools validates every request and response against the typed
parameters and pydantic models below, and `openapi_document()` is the OpenAPI 3.1 document they
make (committed as docs/openapi.json, served at GET /openapi.json). Every error is an RFC 9457
problem (`application/problem+json`), mapped from its exception in one table (`PROBLEMS`)."""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import datetime
from functools import cache
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
    ResponseValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic.json_schema import SkipJsonSchema

from shared import clock, snapstart
from shared.api.edge import UnsupportedMediaTypeError, admit
from shared.api.problems import (
    INTERNAL,
    NO_METHOD,
    NO_ROUTE,
    VALIDATION,
    ProblemKind,
    kind_of,
    problem_response,
    refusal,
    validation_problems,
)
from shared.api.problems import openapi_document as contract
from shared.api.problems import responses as _responses
from shared.channels.social_outbound import HEADER_PRIVATE_REPLY_TO
from shared.config import load_config
from shared.dal.items import reset_connections
from shared.dal.repository import TicketRepository, get_repository
from shared.errors import ConflictError, PermanentWriteError, TicketNotFoundError
from shared.language import detect_language
from shared.logic.agent_actions import (
    AgentContext,
    Caller,
    IdempotencyKeyReusedError,
    InvalidRequestError,
    NotAuthenticatedError,
    NoteRequest,
    PermissionDeniedError,
    PresenceRequest,
    ReplyRequest,
    StaleVersionError,
    TextTooLargeError,
    TicketChangeRequest,
    TicketLookup,
    resolve_ticket,
    set_presence,
    update_ticket,
)
from shared.logic.agent_replies import add_note, agent_reply
from shared.logic.cursors import InvalidCursorError
from shared.logic.customers import MergeError, merge_customers, unmerge_customers
from shared.logic.identity_suggestions import Decision, IdentityTakenError, decide_suggestion
from shared.logic.live import changes_since
from shared.logic.lookups import InvalidIdentityError, customer_tickets
from shared.logic.macros import (
    DEFAULT_MACRO_PAGE,
    MAX_MACRO_PAGE,
    InvalidMacroCursorError,
    InvalidMacroError,
    MacroApplyRequest,
    MacroChange,
    MacroExistsError,
    MacroNotFoundError,
    MacroRequest,
    MacroUse,
    StaleMacroError,
    apply_macro,
    change_macro,
    create_macro,
    delete_macro,
    existing_macro,
    list_macros_page,
    preview_macro,
)
from shared.logic.outbound import OutboundContext
from shared.logic.permissions import (
    ForbiddenActionError,
    Principal,
    may_edit_macros,
    may_merge_customers,
    may_reply_privately,
    may_review_quarantine,
    may_set_presence,
    may_use_macros,
    visible,
)
from shared.logic.quarantine_review import (
    DEFAULT_PAGE,
    MAX_PAGE,
    NotReleasableError,
    QuarantineEntryNotFoundError,
    QuarantineListRequest,
    entry_summary,
    get_entry,
    list_quarantine,
    release_entry,
)
from shared.logic.reply_lock import ReplyCollisionError, ReplyGuard
from shared.logic.search import InvalidSearchError, search_tickets
from shared.logic.social_replies import (
    PrivateReplyRefusedError,
    PrivateReplyRequest,
    PrivateReplySentError,
    private_reply,
)
from shared.logic.team_reads import agents_overview, teams_overview
from shared.logic.ticket_detail import ticket_detail
from shared.logic.ticket_moves import (
    Merged,
    MergeRequest,
    MoveContext,
    NotMergeableError,
    NotMergedError,
    NotSplittableError,
    merge_ticket,
    split_message,
    unmerge_ticket,
)
from shared.logic.ticket_reads import (
    AgentNotFoundError,
    AttachmentNotFoundError,
    Conversation,
    CustomerNotFoundError,
    MessageNotFoundError,
    agent_actions,
    agent_mentions,
    attachment_link,
    conversation,
    lookup_customer,
    message_ref,
    ticket_events,
    whole_message,
)
from shared.logic.views import InvalidViewError, read_view, view_counts
from shared.models.api import (
    AgentActionPageView,
    AgentActionView,
    AgentListView,
    AgentSummary,
    ConversationMessage,
    ConversationPageView,
    CustomerMergeRequest,
    CustomerMergeView,
    CustomerView,
    DownloadLinkView,
    EventPageView,
    IdentityDecisionRequest,
    IdentityDecisionView,
    MacroAppliedView,
    MacroPage,
    MacroPreviewView,
    MacroState,
    MentionPageView,
    MentionView,
    MergeView,
    MessageWhole,
    NoteCreated,
    PresenceState,
    PrivateReplyQueued,
    QuarantineEntryView,
    QuarantinePage,
    QuarantineSummary,
    ReleaseOutcome,
    ReplyQueued,
    SearchPageView,
    SplitView,
    TargetState,
    TeamListView,
    TeamSummary,
    TicketDetailView,
    TicketState,
    TicketSummary,
    ViewCount,
    ViewListView,
    ViewPageView,
    WindowState,
)
from shared.models.live import LiveChangePage
from shared.models.macros import Macro
from shared.models.ticket import Channel, Customer, Identity, IdentityKind, Ticket
from shared.observability import logger, metrics, tracer
from shared.settings import AgentApiSettings, aws_region, get_settings
from shared.storage import S3BlobStore

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse, OpenAPIResponseHeader

    from shared.logic.ingest_email import EmailContext

API_TITLE = "Helpdesk agent API"
API_VERSION = "1.0.0"
PUBLIC_PATHS = frozenset({"/openapi.json"})
"""Paths answered without a caller: the contract itself (decision 80)."""

app = APIGatewayHttpResolver(
    enable_validation=True, response_validation_error_http_code=HTTPStatus.INTERNAL_SERVER_ERROR
)


@cache
def _agent_context() -> AgentContext:
    settings = get_settings(AgentApiSettings)
    return AgentContext(
        repository=get_repository(settings.table_name, aws_region()),
        config=load_config(settings.helpdesk_config),
    )


# -- the edge: who calls, and whether the body reads, before any route or validation ------------


def _admit(event: dict[str, Any]) -> None:
    """Every route but the public ones answers only a configured agent with an ID token
    (decision 44): checked here, before routing and validation, so nobody else learns anything."""
    if event.get("rawPath") in PUBLIC_PATHS:
        return
    settings = get_settings(AgentApiSettings)
    config = _agent_context().config
    caller, scope = admit(
        event, config, settings.agent_id_claim, settings.supervisor_group, settings.admin_group
    )
    app.append_context(caller=caller, principal=scope)  # type: ignore[no-untyped-call]


def _caller() -> Caller:
    caller: Caller = app.context["caller"]
    return caller


def _principal() -> Principal:
    """The caller with their role and teams: what they may see and do (shared/logic/permissions.py)."""
    scope: Principal = app.context["principal"]
    return scope


def _reviewer() -> str:
    """The caller's agent id when they may review the quarantine (supervisor or admin group)."""
    may_review_quarantine(_principal())
    return _caller().agent_id


def _scoped_ticket(ref: str, repository: TicketLookup) -> Ticket:
    """The ticket `ref` names, if the caller may see it; one outside their scope is not found, as
    one that does not exist (no probing by number or message id)."""
    ticket = resolve_ticket(unquote(ref), repository)
    if not visible(_principal(), ticket):
        raise TicketNotFoundError(f"no ticket with number or message id {unquote(ref)!r}")
    return ticket


# -- problems: the one error shape ---------------------------------------------------------------


PROBLEMS: dict[type[Exception], ProblemKind] = {
    InvalidRequestError: ProblemKind(400, "invalid-request", "The request cannot be done as asked"),
    InvalidCursorError: ProblemKind(400, "invalid-cursor", "Not a cursor this listing handed out"),
    InvalidMacroCursorError: ProblemKind(400, "invalid-cursor", "Not a cursor this listing handed out"),
    InvalidMacroError: ProblemKind(400, "invalid-macro", "The macro cannot be saved or used as written"),
    InvalidSearchError: ProblemKind(400, "invalid-search", "No word to search for"),
    NotAuthenticatedError: ProblemKind(401, "not-authenticated", "No agent's ID token"),
    PermissionDeniedError: ProblemKind(403, "forbidden", "Not allowed for this caller"),
    ForbiddenActionError: ProblemKind(403, "forbidden", "Not allowed for this caller"),
    TicketNotFoundError: ProblemKind(404, "ticket-not-found", "No such ticket"),
    MessageNotFoundError: ProblemKind(404, "message-not-found", "No such message on this ticket"),
    AttachmentNotFoundError: ProblemKind(404, "attachment-not-found", "No such attachment"),
    AgentNotFoundError: ProblemKind(404, "agent-not-found", "No such agent"),
    CustomerNotFoundError: ProblemKind(404, "customer-not-found", "No such customer"),
    InvalidViewError: ProblemKind(404, "view-not-found", "No such view"),
    InvalidIdentityError: ProblemKind(400, "invalid-identity", "Not an identity of that kind"),
    IdentityTakenError: ProblemKind(409, "identity-taken", "The identity is another customer's"),
    MergeError: ProblemKind(409, "customer-merge-refused", "The customers cannot be merged or unmerged so"),
    QuarantineEntryNotFoundError: ProblemKind(404, "quarantine-entry-not-found", "No such quarantine entry"),
    MacroNotFoundError: ProblemKind(404, "macro-not-found", "No such macro"),
    NotReleasableError: ProblemKind(409, "not-releasable", "The entry cannot be released"),
    NotMergeableError: ProblemKind(409, "not-mergeable", "The tickets cannot be merged"),
    NotMergedError: ProblemKind(409, "not-merged", "The ticket's merge cannot be undone"),
    NotSplittableError: ProblemKind(409, "not-splittable", "The message cannot open a ticket of its own"),
    MacroExistsError: ProblemKind(409, "macro-exists", "The team has a macro with that id"),
    StaleVersionError: ProblemKind(409, "stale-version", "The ticket is at another version"),
    StaleMacroError: ProblemKind(409, "stale-macro-version", "The macro is at another version"),
    ConflictError: ProblemKind(409, "conflict", "Changed meanwhile"),
    TextTooLargeError: ProblemKind(413, "text-too-large", "Text over the size limit"),
    IdempotencyKeyReusedError: ProblemKind(422, "idempotency-key-reused", "Idempotency-Key already used"),
    ReplyCollisionError: ProblemKind(409, "reply-collision", "The ticket changed since you last saw it"),
    PrivateReplySentError: ProblemKind(409, "private-reply-sent", "The comment has its private reply"),
    PrivateReplyRefusedError: ProblemKind(422, "private-reply-refused", "No private reply can answer this"),
    PermanentWriteError: ProblemKind(422, "unstorable", "The request cannot be stored"),
    UnsupportedMediaTypeError: ProblemKind(415, "unsupported-media-type", "The body is not JSON"),
}
"""The domain errors and their HTTP answer: the one place they map to HTTP (decision 81)."""


def _answer(
    kind: ProblemKind, detail: str, headers: dict[str, str] | None = None, **extensions: Any
) -> Response[str]:
    return problem_response(kind, detail, app.current_event.path, headers, **extensions)


def _domain_error(exc: Exception) -> Response[str]:
    kind = kind_of(exc, PROBLEMS)
    if isinstance(exc, PermanentWriteError):  # DynamoDB refused the write for good: retrying cannot help
        logger.warning("write refused for good", error=str(exc))
        return _answer(
            kind, "the helpdesk cannot store this request as it is (too large or malformed); it was not saved"
        )
    if isinstance(exc, StaleVersionError):
        return _answer(kind, str(exc), current=_state(exc.current))
    if isinstance(exc, StaleMacroError):
        return _answer(kind, str(exc), current=_macro_state(exc.current))
    if isinstance(exc, ReplyCollisionError):
        return _answer(kind, str(exc), changes=[c.as_json() for c in exc.changes])
    if isinstance(exc, IdentityTakenError):
        return _answer(kind, str(exc), owner=exc.owner)
    if isinstance(exc, ConflictError):
        return _answer(kind, "the ticket changed meanwhile; reload and retry")
    return _answer(kind, str(exc))


for _error_type in PROBLEMS:
    app.exception_handler(_error_type)(_domain_error)


@app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
def _invalid(exc: RequestValidationError) -> Response[str]:
    detail, problems = validation_problems(list(exc.errors()))
    return _answer(VALIDATION, detail, errors=problems)


@app.exception_handler(RequestUnsupportedContentType)  # type: ignore[untyped-decorator]
def _not_json(exc: RequestUnsupportedContentType) -> Response[str]:
    return _answer(PROBLEMS[UnsupportedMediaTypeError], "send the body as application/json")


@app.exception_handler(ResponseValidationError)  # type: ignore[untyped-decorator]
def _bad_answer(exc: ResponseValidationError) -> Response[str]:
    logger.error("response does not match the API's schema", errors=str(exc.errors()))
    return _answer(INTERNAL, "the helpdesk could not answer this request; it was logged")


@app.exception_handler(Exception)  # type: ignore[untyped-decorator]
def _unexpected(exc: Exception) -> Response[str]:
    logger.exception("unexpected error")
    return _answer(INTERNAL, "the helpdesk could not answer this request; it was logged")


@app.not_found
def _no_route(exc: NotFoundError) -> Response[str]:
    allowed = _methods_of(app.current_event.path)
    method = app.current_event.http_method.upper()
    if allowed:
        return _answer(NO_METHOD, f"{method} is not allowed here", headers={"Allow": ", ".join(allowed)})
    return _answer(NO_ROUTE, f"no resource at {app.current_event.path}")


# -- the contract ---------------------------------------------------------------------------------


def _with_etag(answers: dict[int, OpenAPIResponse]) -> dict[int, OpenAPIResponse]:
    """`answers` with the ticket's version as the success answer's ETag header."""
    etag: OpenAPIResponseHeader = {
        "description": 'The ticket\'s version, for If-Match (`"3"`)',
        "schema": {"type": "string", "pattern": '^"[1-9][0-9]*"$'},
    }
    return {
        status: {**answer, "headers": {"ETag": etag}} if status < 300 else answer
        for status, answer in answers.items()
    }


TicketRef = Annotated[
    str,
    Path(
        min_length=1,
        max_length=1000,
        description="A ticket number (`42`, `#42`) or the id of any of its messages (URL-encoded)",
        examples=["1"],
    ),
]
IfMatch = Annotated[
    str | SkipJsonSchema[None],
    Header(
        alias="If-Match",
        pattern=r'^(W/)?"?[1-9][0-9]{0,9}"?$',
        description='The ticket version the change was made on (the ETag of GET, e.g. `"3"`)',
    ),
]
IdempotencyKey = Annotated[
    str | SkipJsonSchema[None],
    Header(alias="Idempotency-Key", description="1 to 200 printable ASCII characters, e.g. a UUID"),
]
EntryId = Annotated[str, Path(min_length=1, max_length=200, description="A quarantine entry id")]
PageLimit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Items per page (at most 100)")]
Cursor = Annotated[
    str | SkipJsonSchema[None],
    Query(min_length=1, max_length=2048, description="`next_cursor` of the page before"),
]


@cache
def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI 3.1 document, as Powertools makes it from the routes, with Powertools'
    own validation-error answers (422 `HTTPValidationError`) removed: this API answers problems."""
    return contract(
        app, API_TITLE, API_VERSION, "The API the hosted agent UI talks to. See docs/agent-api.md."
    )


def _path_pattern(template: str) -> re.Pattern[str]:
    """`/tickets/{ref}` as a pattern matching `/tickets/42`."""
    segments = ("[^/]+" if s.startswith("{") else re.escape(s) for s in template.split("/"))
    return re.compile("^" + "/".join(segments) + "$")


@cache
def _route_patterns() -> list[tuple[re.Pattern[str], str]]:
    return [
        (_path_pattern(path), method.upper())
        for path, item in openapi_document()["paths"].items()
        for method in item
    ]


def _methods_of(path: str) -> list[str]:
    return sorted({method for pattern, method in _route_patterns() if pattern.match(path)})


@app.get(
    "/openapi.json",
    summary="This API's OpenAPI 3.1 document (no token needed)",
    openapi_extensions={"security": []},
)
def get_openapi() -> dict[str, Any]:
    return openapi_document()


# -- agents ---------------------------------------------------------------------------------------


@app.put(
    "/agents/<agent_id>/presence",
    summary="Set an agent's presence",
    description="One's own; a supervisor sets the presence of the agents of their teams, an admin anyone's.",
    responses=_responses(200, PresenceState, "The presence as set", 415),
)
def put_presence(
    agent_id: Annotated[str, Path(min_length=1, max_length=200, examples=["alice"])], request: PresenceRequest
) -> PresenceState:
    caller = _caller()
    ctx = _agent_context()
    agent = ctx.config.agent(agent_id)
    if agent is not None:  # an unknown agent is the use case's 400
        may_set_presence(_principal(), agent.teams, agent_id)
    set_presence(agent_id, request, caller.agent_id, True, ctx, clock.now())
    until = clock.iso(request.until) if request.until else None
    logger.info("presence", agent=agent_id, status=request.status, until=until, by=caller.agent_id)
    return PresenceState(agent=agent_id, status=request.status, until=until)


AgentId = Annotated[str, Path(min_length=1, max_length=200, examples=["alice"])]


@app.get(
    "/agents",
    summary="The agents with their presence and load per channel group",
    description="`team` keeps the agents of one team.",
    responses=_responses(200, AgentListView, "Every agent of the config, in its order"),
)
def get_agents(
    team: Annotated[str | SkipJsonSchema[None], Query(min_length=1, max_length=64)] = None,
) -> AgentListView:
    _no_unknown_query("team")
    ctx = _agent_context()
    agents = agents_overview(ctx.config, ctx.repository, team)
    return AgentListView(agents=[AgentSummary.model_validate(asdict(a)) for a in agents])


@app.get(
    "/agents/<agent_id>/actions",
    summary="What an agent did to tickets, newest first (their own; a supervisor's team; an admin anyone's)",
    responses=_responses(200, AgentActionPageView, "One page of actions", 404),
)
def get_agent_actions(
    agent_id: AgentId, limit: PageLimit = DEFAULT_PAGE, cursor: Cursor = None
) -> AgentActionPageView:
    _no_unknown_query("limit", "cursor")
    ctx = _agent_context()
    page = agent_actions(_principal(), agent_id, ctx.config, ctx.repository, limit, cursor)
    actions = [AgentActionView(ticket_id=a.ticket_id, event=a.event) for a in page.actions]
    return AgentActionPageView(agent=agent_id, actions=actions, limit=limit, next_cursor=page.cursor)


@app.get(
    "/agents/<agent_id>/mentions",
    summary="Notes that named an agent (`@alice`), newest first: their own, or their team's for a supervisor",
    responses=_responses(200, MentionPageView, "One page of mentions", 404),
)
def get_agent_mentions(
    agent_id: AgentId, limit: PageLimit = DEFAULT_PAGE, cursor: Cursor = None
) -> MentionPageView:
    _no_unknown_query("limit", "cursor")
    ctx = _agent_context()
    page = agent_mentions(_principal(), agent_id, ctx.config, ctx.repository, limit, cursor)
    mentions = [
        MentionView(
            ticket_id=m.ticket_id,
            ticket_number=m.ticket_number,
            message_id=m.message_id,
            by=m.by,
            at=m.at,
            excerpt=m.excerpt,
        )
        for m in page.mentions
    ]
    return MentionPageView(agent=agent_id, mentions=mentions, limit=limit, next_cursor=page.cursor)


@app.get(
    "/changes",
    summary="What a reconnecting UI missed: the changes it would have been pushed, oldest first",
    description='The live updates (docs/agent-api.md, "Live updates") of the last 24 hours since '
    "`since` (the `at` of the last change the UI had; changes at that time again, drop those seen by "
    "`id`), judged on the tickets as they are now; `next_cursor` while more follow.",
    responses=_responses(200, LiveChangePage, "One page of changes", 400),
)
def get_changes(
    since: Annotated[
        datetime | SkipJsonSchema[None],
        Query(description="ISO 8601 time: the `at` of the last change the UI had (at most 24 hours back)"),
    ] = None,
    limit: PageLimit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> LiveChangePage:
    _no_unknown_query("since", "limit", "cursor")
    ctx = _agent_context()
    page = changes_since(_principal(), ctx.repository, since, cursor, limit, clock.now())
    return LiveChangePage.model_validate({"changes": page.changes, "next_cursor": page.next_cursor})


@app.get(
    "/teams",
    summary="The teams with their agents, how many are online, and what waits in their queues",
    responses=_responses(200, TeamListView, "Every team of the config, in its order"),
)
def get_teams() -> TeamListView:
    _no_unknown_query()
    ctx = _agent_context()
    teams = teams_overview(ctx.config, agents_overview(ctx.config, ctx.repository), ctx.repository)
    return TeamListView(teams=[TeamSummary.model_validate(asdict(t)) for t in teams])


IdentityQuery = Annotated[str | SkipJsonSchema[None], Query(min_length=1, max_length=320)]


@app.get(
    "/customers",
    summary="Find a customer by one identity: email, phone, or a social account",
    description="Exactly one of the parameters. An email address is matched as mail arrives "
    "(`Jane@Example.COM` finds `jane@example.com`), a phone number in any common writing "
    "(`(425) 555-0182`, in the config's default region). A merged customer leads to the one it "
    "was merged into. The tickets are those the caller may see; `hidden` counts the others.",
    responses=_responses(200, CustomerView, "The customer and their tickets", 404),
)
def get_customer(
    email: IdentityQuery = None,
    phone: IdentityQuery = None,
    messenger: IdentityQuery = None,
    instagram: IdentityQuery = None,
    whatsapp: IdentityQuery = None,
    x: IdentityQuery = None,
) -> CustomerView:
    kinds = [kind.value for kind in IdentityKind]
    _no_unknown_query(*kinds)
    given = {"email": email, "phone": phone, "messenger": messenger, "instagram": instagram}
    given |= {"whatsapp": whatsapp, "x": x}
    asked = [(IdentityKind(k), v) for k, v in given.items() if v is not None]
    if len(asked) != 1:
        raise InvalidRequestError(f"give exactly one of {', '.join(kinds)}")
    ((kind, value),) = asked
    ctx = _agent_context()
    found = lookup_customer(_principal(), kind, value, ctx.repository, ctx.config.chat.default_sms_region)
    if found is None:
        raise CustomerNotFoundError(f"no customer with {kind.value} {value!r}")
    return CustomerView(customer=found.customer, tickets=found.tickets, hidden=found.hidden)


TeamQuery = Annotated[
    str | SkipJsonSchema[None],
    Query(min_length=1, max_length=64, description="One team of the caller's (`-`: tickets no team owns)"),
]


@app.get(
    "/views",
    summary="The caller's views with how many tickets each holds",
    description="Over the caller's teams and the tickets no team owns (an admin: every team), or one "
    "team with `team`. Tag and inbox views are counted when read (`GET /views/tag:printer`).",
    responses=_responses(200, ViewListView, "Every view with its count"),
)
def get_views(team: TeamQuery = None) -> ViewListView:
    _no_unknown_query("team")
    ctx = _agent_context()
    counts = view_counts(_principal(), ctx.config, team, ctx.repository)
    return ViewListView(views=[ViewCount(name=name, count=count) for name, count in counts.items()])


@app.get(
    "/views/<view>",
    summary="One page of a view: mine, unassigned, open, waiting, breaching, recent, status:, priority:, "
    "channel:, tag:, inbox:",
    description="Newest update first (`breaching`: soonest SLA due time first, overdue before all).",
    responses=_responses(200, ViewPageView, "One page of the view", 404),
)
def get_view(
    view: Annotated[str, Path(min_length=1, max_length=220, examples=["mine", "status:open", "tag:printer"])],
    team: TeamQuery = None,
    limit: PageLimit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> ViewPageView:
    _no_unknown_query("team", "limit", "cursor")
    ctx = _agent_context()
    page = read_view(_principal(), ctx.config, unquote(view), team, limit, cursor, ctx.repository)
    tickets = [TicketSummary.model_validate(t) for t in page.tickets]
    return ViewPageView(
        view=page.view, count=page.count, tickets=tickets, limit=limit, next_cursor=page.cursor
    )


CustomerId = Annotated[str, Path(min_length=1, max_length=100, description="A customer id (`cus_...`)")]


def _customer(customer_id: str) -> Customer:
    customer = _agent_context().repository.get_customer(unquote(customer_id))
    if customer is None:
        raise CustomerNotFoundError(f"no customer {unquote(customer_id)!r}")
    return customer


@app.get(
    "/customers/<customer_id>",
    summary="A customer by id, with the tickets the caller may see",
    responses=_responses(200, CustomerView, "The customer and their tickets", 404),
)
def get_customer_by_id(customer_id: CustomerId) -> CustomerView:
    _no_unknown_query()
    customer = _customer(customer_id)
    tickets = customer_tickets(customer, _agent_context().repository)
    shown = [t for t in tickets if visible(_principal(), t)]
    return CustomerView(customer=customer, tickets=shown, hidden=len(tickets) - len(shown))


@app.post(
    "/customers/<customer_id>/merge",
    summary="Merge a customer into another (supervisors and admins): identities and tickets move",
    description="The same person writing from two addresses or channels. Undo with "
    "`POST /customers/{into}/merges/{merge_id}/undo`.",
    responses=_responses(200, CustomerMergeView, "The merge, and the customer it went into", 404, 409, 415),
)
def post_customer_merge(customer_id: CustomerId, request: CustomerMergeRequest) -> CustomerMergeView:
    may_merge_customers(_principal())
    actor = _caller().agent_id
    source, target = _customer(customer_id), _customer(request.into)
    repository = _agent_context().repository
    record = merge_customers(repository, source.id, target.id, actor, clock.now())
    logger.info("customers merged", source=source.id, target=target.id, merge_id=record.id, by=actor)
    return CustomerMergeView(merge=record, customer=_customer(target.id))


@app.post(
    "/customers/<customer_id>/merges/<merge_id>/undo",
    summary="Undo a merge into this customer (supervisors and admins): identities and tickets go back",
    responses=_responses(200, CustomerMergeView, "The merge as undone, and the customer restored", 404, 409),
)
def post_customer_unmerge(
    customer_id: CustomerId, merge_id: Annotated[str, Path(min_length=1, max_length=100)]
) -> CustomerMergeView:
    may_merge_customers(_principal())
    actor = _caller().agent_id
    target = _customer(customer_id)
    record = unmerge_customers(_agent_context().repository, target.id, unquote(merge_id), actor, clock.now())
    logger.info("customers unmerged", source=record.source_id, target=target.id, merge_id=record.id, by=actor)
    return CustomerMergeView(merge=record, customer=_customer(record.source_id))


# -- search ---------------------------------------------------------------------------------------


@app.get(
    "/search",
    summary="Tickets whose subject and messages hold every word of `q`, newest ticket first",
    description="Over the caller's teams and the tickets no team owns (an admin: every team), or one "
    "team with `team`. Words are matched whole, ignoring case and accents; a page may hold fewer than "
    "`limit` tickets and still have a `next_cursor`.",
    responses=_responses(200, SearchPageView, "One page of the tickets found"),
)
def get_search(
    q: Annotated[str, Query(min_length=1, max_length=500, examples=["printer toner"])],
    team: TeamQuery = None,
    limit: PageLimit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> SearchPageView:
    _no_unknown_query("q", "team", "limit", "cursor")
    ctx = _agent_context()
    page = search_tickets(_principal(), ctx.config, q, team, limit, cursor, ctx.repository)
    tickets = [TicketSummary.model_validate(t) for t in page.tickets]
    return SearchPageView(q=q, terms=page.terms, tickets=tickets, limit=limit, next_cursor=page.cursor)


# -- tickets --------------------------------------------------------------------------------------


def _state(ticket: Ticket) -> TicketState:
    return TicketState(ticket=ticket, version=ticket.version)


def _etag(ticket: Ticket) -> dict[str, str]:
    return {"ETag": f'"{ticket.version}"'}


MessageRef = Annotated[
    str, Path(min_length=1, max_length=2048, description="A message's `ref`, from a conversation page")
]
FIRST_PAGE = 20
"""How many of the newest messages a ticket's detail carries."""


def _no_unknown_query(*known: str) -> None:
    """A misspelt filter or paging parameter must not silently list something else."""
    unknown = set(app.current_event.query_string_parameters or {}) - set(known)
    if unknown:
        raise InvalidRequestError(f"unknown query parameter(s): {', '.join(sorted(unknown))}")


def _conversation_view(page: Conversation, limit: int) -> ConversationPageView:
    messages = [
        ConversationMessage.model_validate(
            {**e.message.model_dump(), "ref": message_ref(e.key), "html_bytes": e.html_bytes}
        )
        for e in page.entries
    ]
    return ConversationPageView(messages=messages, limit=limit, next_cursor=page.cursor)


@app.get(
    "/tickets/<ref>",
    summary="A ticket as an agent opens it: SLA clocks, routing, customer, grouped tickets, newest messages",
    description=f"The conversation's newest {FIRST_PAGE} messages come with it, without their HTML; page "
    "further with `GET /tickets/{ref}/messages?cursor=`, open one whole with its `ref`. The events "
    "(the audit trail) are at `GET /tickets/{ref}/events`.",
    responses=_with_etag(
        _responses(200, TicketDetailView, "The ticket (its version also as the ETag header)", 404)
    ),
)
def get_ticket(ref: TicketRef) -> Response[TicketDetailView]:
    _no_unknown_query()
    repository = _agent_context().repository
    ticket = _scoped_ticket(ref, repository)
    detail = ticket_detail(ticket, repository, clock.now())
    page = conversation(ticket, repository, FIRST_PAGE, None)
    view = TicketDetailView(
        ticket=ticket,
        version=ticket.version,
        sla=[TargetState.model_validate(asdict(t)) for t in detail.sla],
        routing=detail.routing,
        customer=detail.customer,
        grouped=detail.grouped,
        window=WindowState.model_validate(asdict(detail.window)) if detail.window else None,
        conversation=_conversation_view(page, FIRST_PAGE),
    )
    return Response(200, content_types.APPLICATION_JSON, view, headers=_etag(ticket))


@app.get(
    "/tickets/<ref>/messages",
    summary="A page of the ticket's conversation, newest first, without HTML",
    responses=_responses(200, ConversationPageView, "One page of messages", 404),
)
def get_messages(
    ref: TicketRef, limit: PageLimit = DEFAULT_PAGE, cursor: Cursor = None
) -> ConversationPageView:
    _no_unknown_query("limit", "cursor")
    repository = _agent_context().repository
    ticket = _scoped_ticket(ref, repository)
    return _conversation_view(conversation(ticket, repository, limit, cursor), limit)


def _download_links() -> S3BlobStore | None:
    bucket = get_settings(AgentApiSettings).inbound_bucket
    return _blob_store(bucket) if bucket else None


@cache
def _blob_store(bucket: str) -> S3BlobStore:
    """The process's store of a bucket, so its S3 client (made on first use, never before a
    snapshot) serves every request: making one took most of an attachment link's own time."""
    return S3BlobStore(bucket)


@app.get(
    "/tickets/<ref>/messages/<message_ref>",
    summary="One message whole: its HTML (sanitised) and its full text with the quoted history",
    responses=_responses(200, MessageWhole, "The message", 404),
)
def get_message(ref: TicketRef, message_ref: MessageRef) -> MessageWhole:
    _no_unknown_query()
    repository = _agent_context().repository
    ticket = _scoped_ticket(ref, repository)
    return MessageWhole(
        ref=message_ref, message=whole_message(ticket, message_ref, repository, _download_links())
    )


@app.get(
    "/tickets/<ref>/messages/<message_ref>/attachments/<index>",
    summary="A short-lived link that downloads one attachment of a message",
    description="A stored attachment: a pre-signed S3 GET valid 5 minutes, always saved as a file "
    "(`Content-Disposition: attachment`), never shown inline. One the platform keeps (social media): "
    "the platform's link.",
    responses=_responses(200, DownloadLinkView, "The link", 404),
)
def get_attachment_link(
    ref: TicketRef,
    message_ref: MessageRef,
    index: Annotated[int, Path(ge=0, le=999, description="The attachment's position in `attachments`")],
) -> DownloadLinkView:
    _no_unknown_query()
    repository = _agent_context().repository
    ticket = _scoped_ticket(ref, repository)
    message = whole_message(ticket, message_ref, repository)  # the attachments are on the item
    link = attachment_link(message, index, _download_links(), clock.now())
    logger.info(
        "attachment link", ticket_id=ticket.id, index=index, stored=link.stored, by=_caller().agent_id
    )
    return DownloadLinkView(
        url=link.url,
        expires_at=link.expires_at,
        stored=link.stored,
        name=link.attachment.name,
        content_type=link.attachment.content_type,
        size=link.attachment.size,
    )


@app.get(
    "/tickets/<ref>/events",
    summary="A page of the ticket's events, oldest first: who changed what, and when",
    responses=_responses(200, EventPageView, "One page of events", 404),
)
def get_events(ref: TicketRef, limit: PageLimit = DEFAULT_PAGE, cursor: Cursor = None) -> EventPageView:
    _no_unknown_query("limit", "cursor")
    repository = _agent_context().repository
    ticket = _scoped_ticket(ref, repository)
    page = ticket_events(ticket, repository, limit, cursor)
    return EventPageView(events=page.events, limit=limit, next_cursor=page.cursor)


def _expected_version(if_match: str | None, request: TicketChangeRequest) -> TicketChangeRequest:
    """The version a change names: `If-Match` (`"3"`, `W/"3"` or `3`) or the body's `version`."""
    if if_match is None:
        return request
    value = if_match.strip().removeprefix("W/").strip('"')
    if not value.isdigit() or int(value) < 1:
        raise InvalidRequestError(f'If-Match: a ticket version, e.g. "3", not {if_match!r}')
    if request.version is not None and request.version != int(value):
        raise InvalidRequestError(f"If-Match ({value}) and version ({request.version}) disagree")
    return request.model_copy(update={"version": int(value)})


@app.patch(
    "/tickets/<ref>",
    summary="Change a ticket's status, priority, assignee or tags",
    description="Absent fields stay as they are. With `If-Match` or `version`, a ticket at another "
    "version is not changed: 409 with the ticket as it is now (`current`).",
    responses=_with_etag(
        _responses(200, TicketState, "The ticket as changed, with its new version", 404, 409, 415, 422)
    ),
)
def patch_ticket(
    ref: TicketRef, request: TicketChangeRequest, if_match: IfMatch = None
) -> Response[TicketState]:
    actor = _caller().agent_id
    request = _expected_version(if_match, request)
    ticket = update_ticket(unquote(ref), request, actor, _agent_context(), clock.now(), scope=_principal())
    # a resolution's survey and transcript are queued by auto_followup from the stream, once
    logger.info("ticket updated", ticket_id=ticket.id, by=actor, version=ticket.version)
    return Response(200, content_types.APPLICATION_JSON, _state(ticket), headers=_etag(ticket))


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


@app.post(
    "/tickets/<ref>/replies",
    summary="Queue a public reply",
    description="On the ticket's channel or another of the customer's (`channel`); auto_followup sends "
    "it once. On a public ticket (a comment or mention) it answers in public under the latest comment "
    "or post; `POST /tickets/{ref}/private-reply` answers its author privately. An Idempotency-Key "
    "header makes retries safe. The reply lock answers `409 reply-collision` with the `changes` when "
    "another agent's reply is still being sent, or (given `seen_message_id`, the last message the "
    "screen showed) the customer wrote or was answered since; `confirm: true` sends anyway.",
    responses=_responses(202, ReplyQueued, "The reply, queued", 404, 409, 413, 415, 422),
)
def post_reply(
    ref: TicketRef, request: ReplyRequest, idempotency_key: IdempotencyKey = None
) -> Response[ReplyQueued]:
    actor = _caller().agent_id
    ctx = _outbound_context()
    ticket = _scoped_ticket(ref, ctx.repository)
    outbound = agent_reply(
        ticket,
        request.text,
        actor,
        ctx,
        clock.now(),
        idempotency_key=idempotency_key,
        channel=request.channel,
        guard=ReplyGuard(request.seen_message_id, request.confirm),
    )
    logger.info(
        "reply queued",
        ticket_id=ticket.id,
        key=outbound.key,
        by=actor,
        channel=outbound.channel,
        template=outbound.template,
    )
    queued = ReplyQueued(
        key=outbound.key, channel=outbound.channel, to=outbound.to, template=outbound.template
    )
    return Response(202, content_types.APPLICATION_JSON, queued)


@app.post(
    "/tickets/<ref>/private-reply",
    summary="Answer a public comment's author privately",
    description="On a public ticket (a comment or mention): one private message to the author of its "
    "latest comment, through Meta's private replies on Messenger and Instagram (one per comment, within "
    "7 days of it) or an X DM. Refused with `409 private-reply-sent` when that comment was answered "
    "privately already, `422 private-reply-refused` when it cannot be (not public, too old, a mention "
    "on Meta). An Idempotency-Key header makes retries safe.",
    responses=_responses(202, PrivateReplyQueued, "The private reply, queued", 404, 409, 413, 415, 422),
)
def post_private_reply(
    ref: TicketRef, request: PrivateReplyRequest, idempotency_key: IdempotencyKey = None
) -> Response[PrivateReplyQueued]:
    actor = _caller().agent_id
    ctx = _outbound_context()
    ticket = _scoped_ticket(ref, ctx.repository)
    may_reply_privately(_principal(), ticket)
    outbound = private_reply(ticket, request.text, actor, ctx, clock.now(), idempotency_key=idempotency_key)
    comment = outbound.headers.get(HEADER_PRIVATE_REPLY_TO, "")
    logger.info("private reply queued", ticket_id=ticket.id, key=outbound.key, by=actor, comment_id=comment)
    queued = PrivateReplyQueued(
        key=outbound.key, channel=outbound.channel, to=outbound.to, comment_id=comment
    )
    return Response(202, content_types.APPLICATION_JSON, queued)


@app.post(
    "/tickets/<ref>/notes",
    summary="Add an internal note (never sent)",
    responses=_responses(201, NoteCreated, "The note, added", 404, 413, 415, 422),
)
def post_note(ref: TicketRef, request: NoteRequest) -> Response[NoteCreated]:
    actor = _caller().agent_id
    ctx = _outbound_context()
    ticket = _scoped_ticket(ref, ctx.repository)
    note = add_note(ticket, request.text, actor, ctx, clock.now())
    return Response(201, content_types.APPLICATION_JSON, NoteCreated(message_id=note.id))


# -- identity suggestions -----------------------------------------------------------------------


def _decide(ref: str, request: IdentityDecisionRequest, decision: Decision) -> IdentityDecisionView:
    actor = _caller().agent_id
    repository = _agent_context().repository
    ticket = _scoped_ticket(ref, repository)
    identity = Identity(kind=request.kind, value=request.value)
    outcome = decide_suggestion(ticket, identity, decision, actor, repository, clock.now())
    logger.info(
        "identity suggestion", ticket_id=ticket.id, decision=decision, kind=identity.kind.value, by=actor
    )
    return IdentityDecisionView(
        decision=outcome.decision, identity=outcome.identity, customer=outcome.customer
    )


@app.post(
    "/tickets/<ref>/identity-suggestions/confirm",
    summary="Link an identity the message text suggested to the ticket's customer",
    description="Only one suggested on this ticket (`identity_suggested`). One that is another customer's "
    "already is `409 identity-taken` with that customer's id (`owner`): merge the customers instead.",
    responses=_responses(200, IdentityDecisionView, "The identity linked, and the customer", 404, 409, 415),
)
def post_identity_confirm(ref: TicketRef, request: IdentityDecisionRequest) -> IdentityDecisionView:
    return _decide(ref, request, "confirmed")


@app.post(
    "/tickets/<ref>/identity-suggestions/reject",
    summary="Record that a suggested identity is not the customer's",
    responses=_responses(200, IdentityDecisionView, "The decision recorded", 404, 415),
)
def post_identity_reject(ref: TicketRef, request: IdentityDecisionRequest) -> IdentityDecisionView:
    return _decide(ref, request, "rejected")


# -- merging and splitting tickets: one conversation from two tickets, or two from one -----------


def _move_context() -> MoveContext:
    ctx = _agent_context()
    return MoveContext(store=ctx.repository, config=ctx.config)


def _source_version(if_match: str | None, version: int | None) -> int | None:
    """The version of the merged ticket a merge names: `If-Match` (`"3"`, `W/"3"` or `3`) or the
    body's `version` (neither: the version read)."""
    if if_match is None:
        return version
    value = if_match.strip().removeprefix("W/").strip('"')
    if not value.isdigit() or int(value) < 1:
        raise InvalidRequestError(f'If-Match: a ticket version, e.g. "3", not {if_match!r}')
    if version is not None and version != int(value):
        raise InvalidRequestError(f"If-Match ({value}) and version ({version}) disagree")
    return int(value)


def _merge_view(merged: Merged) -> MergeView:
    return MergeView(source=_state(merged.source), target=_state(merged.target), moved=merged.moved)


@app.post(
    "/tickets/<ref>/merge",
    summary="Merge the ticket into another of the same customer",
    description="The ticket's messages join `into`'s conversation; the ticket is closed with `merged_into`, "
    "its SLA clocks stop and its capacity is given back, and the customer's replies to its thread join "
    "`into`. With `If-Match` or `version` (of this ticket), a ticket at another version is not merged: "
    "409 with the ticket now (`current`). Asked again, it answers the merge made.",
    responses=_with_etag(
        _responses(200, MergeView, "Both tickets (the merged one's version also as the ETag)", 404, 409, 415)
    ),
)
def post_merge(ref: TicketRef, request: MergeRequest, if_match: IfMatch = None) -> Response[MergeView]:
    actor = _caller().agent_id
    ctx = _move_context()
    source = _scoped_ticket(ref, ctx.store)
    target = _scoped_ticket(request.into, ctx.store)
    version = _source_version(if_match, request.version)
    merged = merge_ticket(source, target, version, _principal(), ctx, clock.now())
    logger.info("ticket merged", ticket_id=source.id, into=target.id, by=actor, moved=merged.moved)
    return Response(200, content_types.APPLICATION_JSON, _merge_view(merged), headers=_etag(merged.source))


@app.post(
    "/tickets/<ref>/unmerge",
    summary="Undo the ticket's merge into another",
    description="The ticket gets back its status, SLA and the messages the merge moved; messages that "
    "reached the other ticket through its thread meanwhile stay there. 409 when the other ticket was "
    "merged elsewhere since (undo that first) or the ticket is not merged.",
    responses=_with_etag(
        _responses(200, MergeView, "Both tickets (the restored one's version as the ETag)", 404, 409)
    ),
)
def post_unmerge(ref: TicketRef) -> Response[MergeView]:
    actor = _caller().agent_id
    ctx = _move_context()
    source = _scoped_ticket(ref, ctx.store)
    merged = unmerge_ticket(source, _principal(), ctx, clock.now())
    logger.info("ticket unmerged", ticket_id=source.id, by=actor, moved=merged.moved)
    return Response(200, content_types.APPLICATION_JSON, _merge_view(merged), headers=_etag(merged.source))


@app.post(
    "/tickets/<ref>/messages/<message_ref>/split",
    summary="Move a customer's message to a new ticket, linked to this one",
    description="The new ticket (same customer, the message's channel) is routed as any new ticket; the "
    "message's id leads to it. Asked again, it answers the ticket made.",
    responses=_with_etag(
        _responses(201, SplitView, "Both tickets (the new one's version as the ETag)", 404, 409)
    ),
)
def post_split(ref: TicketRef, message_ref: MessageRef) -> Response[SplitView]:
    actor = _caller().agent_id
    ctx = _move_context()
    ticket = _scoped_ticket(ref, ctx.store)
    split = split_message(ticket, unquote(message_ref), _principal(), ctx, clock.now())
    logger.info(
        "message split", ticket_id=ticket.id, into=split.ticket.id, message_id=split.message_id, by=actor
    )
    view = SplitView(
        original=_state(split.original), ticket=_state(split.ticket), message_id=split.message_id
    )
    return Response(201, content_types.APPLICATION_JSON, view, headers=_etag(split.ticket))


# -- macros: a team's canned responses; its agents use them, its supervisors edit them ----------

TeamId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$",
        description="A team id of the helpdesk config",
        examples=["support"],
    ),
]
MacroId = Annotated[str, Path(min_length=1, max_length=100, description="A macro id", examples=["mac_01"])]
MacroIfMatch = Annotated[
    str | SkipJsonSchema[None],
    Header(
        alias="If-Match",
        pattern=r'^(W/)?"?[1-9][0-9]{0,9}"?$',
        description='The macro version the edit was made on (the ETag of GET, e.g. `"3"`)',
    ),
]
MACRO_QUERY = frozenset({"limit", "cursor"})


def _macro_state(macro: Macro) -> MacroState:
    return MacroState(macro=macro, version=macro.version)


def _macro_answer(status: int, macro: Macro) -> Response[MacroState]:
    return Response(
        status, content_types.APPLICATION_JSON, _macro_state(macro), headers={"ETag": f'"{macro.version}"'}
    )


def _with_macro_etag(answers: dict[int, OpenAPIResponse]) -> dict[int, OpenAPIResponse]:
    """`answers` with the macro's version as the success answer's ETag header."""
    etag: OpenAPIResponseHeader = {
        "description": 'The macro\'s version, for If-Match (`"3"`)',
        "schema": {"type": "string", "pattern": '^"[1-9][0-9]*"$'},
    }
    return {
        status: {**answer, "headers": {"ETag": etag}} if status < 300 else answer
        for status, answer in answers.items()
    }


def _macro_version(if_match: str | None, version: int | None) -> int:
    """The macro version an edit names: `If-Match` (`"3"`, `W/"3"` or `3`) or `version`; one is needed."""
    if if_match is not None:
        value = if_match.strip().removeprefix("W/").strip('"')
        if not value.isdigit() or int(value) < 1:
            raise InvalidRequestError(f'If-Match: a macro version, e.g. "3", not {if_match!r}')
        if version is not None and version != int(value):
            raise InvalidRequestError(f"If-Match ({value}) and version ({version}) disagree")
        return int(value)
    if version is None or version < 1:
        raise InvalidRequestError("version: name the macro version the edit was made on (or If-Match)")
    return version


@app.get(
    "/teams/<team>/macros",
    summary="A team's macros by title (its agents, supervisors and admins)",
    description="`limit` and `cursor` page. A team's macros are one Query; the page is cut from them.",
    responses=_responses(200, MacroPage, "One page of macros"),
)
def get_macros(
    team: TeamId,
    limit: Annotated[int, Query(ge=1, le=MAX_MACRO_PAGE, description="Macros per page")] = DEFAULT_MACRO_PAGE,
    cursor: Annotated[
        str | SkipJsonSchema[None],
        Query(min_length=1, max_length=2048, description="`next_cursor` of the page before"),
    ] = None,
) -> MacroPage:
    may_use_macros(_principal(), team)
    unknown = set(app.current_event.query_string_parameters or {}) - MACRO_QUERY
    if unknown:  # a misspelt parameter must not be ignored
        raise InvalidRequestError(f"unknown query parameter(s): {', '.join(sorted(unknown))}")
    listing = list_macros_page(team, limit, cursor, _agent_context().repository)
    return MacroPage(macros=listing.macros, limit=limit, next_cursor=listing.cursor)


@app.post(
    "/teams/<team>/macros",
    summary="Create a macro (the team's supervisors and admins)",
    description="The body is checked when saved: only known placeholders, `{% if %}`, comparisons, `~` "
    "and a few filters (see docs/agent-api.md).",
    responses=_with_macro_etag(
        _responses(201, MacroState, "The macro as created, at version 1", 409, 415, 422)
    ),
)
def post_macro(team: TeamId, request: MacroRequest) -> Response[MacroState]:
    actor = _caller().agent_id
    may_edit_macros(_principal(), team)
    ctx = _agent_context()
    macro = create_macro(team, request, actor, ctx.config, ctx.repository, clock.now())
    logger.info("macro created", team=team, macro_id=macro.id, by=actor)
    return _macro_answer(201, macro)


@app.get(
    "/teams/<team>/macros/<macro_id>",
    summary="One macro with its version (the team's agents, supervisors and admins)",
    responses=_with_macro_etag(_responses(200, MacroState, "The macro (its version also as the ETag)", 404)),
)
def get_macro(team: TeamId, macro_id: MacroId) -> Response[MacroState]:
    may_use_macros(_principal(), team)
    return _macro_answer(200, existing_macro(team, unquote(macro_id), _agent_context().repository))


@app.patch(
    "/teams/<team>/macros/<macro_id>",
    summary="Change a macro (the team's supervisors and admins)",
    description="Absent fields stay as they are. The version the edit was made on is needed (`If-Match` "
    "or `version`); a macro at another version is not changed: 409 with the macro now (`current`).",
    responses=_with_macro_etag(
        _responses(200, MacroState, "The macro as changed, with its new version", 404, 409, 415, 422)
    ),
)
def patch_macro(
    team: TeamId, macro_id: MacroId, request: MacroChange, if_match: MacroIfMatch = None
) -> Response[MacroState]:
    actor = _caller().agent_id
    may_edit_macros(_principal(), team)
    change = request.model_copy(update={"version": _macro_version(if_match, request.version)})
    macro = change_macro(team, unquote(macro_id), change, actor, _agent_context().repository, clock.now())
    logger.info("macro changed", team=team, macro_id=macro.id, by=actor, version=macro.version)
    return _macro_answer(200, macro)


@app.delete(
    "/teams/<team>/macros/<macro_id>",
    summary="Delete a macro (the team's supervisors and admins)",
    description="The version it is deleted at is needed (`If-Match` or `version`); a macro at another "
    "version is not deleted: 409 with the macro now (`current`).",
    responses={
        204: {"description": "Deleted"},
        **{s: a for s, a in _responses(200, MacroState, "", 404, 409).items() if s != 200},
    },
)
def delete_macro_route(
    team: TeamId,
    macro_id: MacroId,
    if_match: MacroIfMatch = None,
    version: Annotated[
        int | SkipJsonSchema[None], Query(description="The macro version, 1 or more (or If-Match)")
    ] = None,
) -> Response[None]:
    actor = _caller().agent_id
    may_edit_macros(_principal(), team)
    expected = _macro_version(if_match, version)
    delete_macro(team, unquote(macro_id), expected, _agent_context().repository)
    logger.info("macro deleted", team=team, macro_id=unquote(macro_id), by=actor, version=expected)
    return Response(204, None, None)


def _macro_for_ticket(ref: str, team: str, macro_id: str) -> tuple[Ticket, Macro]:
    """The ticket (404 outside the caller's scope) and the team's macro, once the caller may use
    the team's macros (checked first: a refusal reads no ticket)."""
    may_use_macros(_principal(), team)
    repository = _agent_context().repository
    ticket = _scoped_ticket(ref, repository)
    return ticket, existing_macro(team, unquote(macro_id), repository)


@app.post(
    "/tickets/<ref>/macros/<team>/<macro_id>/preview",
    summary="What a macro would send on a ticket and change on it (nothing is written)",
    responses=_responses(200, MacroPreviewView, "The rendered reply and the changes", 404),
)
def post_macro_preview(ref: TicketRef, team: TeamId, macro_id: MacroId) -> MacroPreviewView:
    ticket, macro = _macro_for_ticket(ref, team, macro_id)
    ctx = _agent_context()
    preview = preview_macro(ticket, macro, _caller().agent_id, ctx.repository, ctx.config)
    return MacroPreviewView(
        team=macro.team,
        macro_id=macro.id,
        title=macro.title,
        version=macro.version,
        text=preview.text,
        channel=preview.channel,
        actions=macro.actions,
        changes=preview.changes,
    )


@app.post(
    "/tickets/<ref>/macros/<team>/<macro_id>/apply",
    summary="Reply with a macro and apply its actions",
    description="Queues the macro's reply rendered for the ticket (on its channel or `channel`), then "
    "sets the macro's status and tags, in one request. With an Idempotency-Key a retry queues no "
    "second reply and applies nothing again. The reply lock applies as to a reply (`409 "
    "reply-collision`, `seen_message_id`, `confirm`).",
    responses=_with_etag(
        _responses(202, MacroAppliedView, "The reply, queued, and the ticket after", 404, 409, 413, 415, 422)
    ),
)
def post_macro_apply(
    ref: TicketRef,
    team: TeamId,
    macro_id: MacroId,
    request: MacroApplyRequest,
    idempotency_key: IdempotencyKey = None,
) -> Response[MacroAppliedView]:
    actor = _caller().agent_id
    ticket, macro = _macro_for_ticket(ref, team, macro_id)
    guard = ReplyGuard(request.seen_message_id, request.confirm)
    use = MacroUse(ticket, macro, actor, request.channel, idempotency_key, guard)
    applied = apply_macro(use, _agent_context(), _outbound_context(), clock.now(), scope=_principal())
    reply = applied.reply
    logger.info(
        "macro applied",
        ticket_id=ticket.id,
        macro_id=macro.id,
        key=reply.key,
        by=actor,
        changes=sorted(applied.changes),
    )
    view = MacroAppliedView(
        reply=ReplyQueued(key=reply.key, channel=reply.channel, to=reply.to, template=reply.template),
        ticket=applied.ticket,
        version=applied.ticket.version,
        changes=applied.changes,
    )
    return Response(202, content_types.APPLICATION_JSON, view, headers=_etag(applied.ticket))


# -- quarantine review: supervisors and admins list, inspect and release quarantined input --------


def _email_context() -> EmailContext | None:
    """How a release ingests mail again; ingestion is imported here, on the first release, so the
    email parser is not part of every cold start."""
    from shared.logic.ingest_email import EmailContext

    settings = get_settings(AgentApiSettings)
    if not settings.inbound_bucket or not settings.support_addresses:
        return None
    ctx = _agent_context()
    return EmailContext(
        repository=ctx.repository,
        blobs=_blob_store(settings.inbound_bucket),
        config=ctx.config,
        support_addresses=settings.support_addresses,
        support_domain=settings.support_domain,
    )


def _quarantine_repository() -> TicketRepository:
    return _agent_context().repository


@app.get(
    "/quarantine",
    summary="Quarantine entries, newest first (supervisors and admins)",
    description="`reason`, `channel` and `released` filter; `limit` and `cursor` page.",
    responses=_responses(200, QuarantinePage, "One page of entries"),
)
def get_quarantine_list(
    reason: Annotated[str | SkipJsonSchema[None], Query(min_length=1, max_length=64)] = None,
    channel: Annotated[Channel | SkipJsonSchema[None], Query()] = None,
    released: Annotated[bool | SkipJsonSchema[None], Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Entries per page")] = DEFAULT_PAGE,
    cursor: Annotated[
        str | SkipJsonSchema[None],
        Query(min_length=1, max_length=512, description="`next_cursor` of the page before"),
    ] = None,
) -> QuarantinePage:
    actor = _reviewer()
    unknown = set(app.current_event.query_string_parameters or {}) - set(QuarantineListRequest.model_fields)
    if unknown:  # a misspelt filter must not list everything
        raise InvalidRequestError(f"unknown query parameter(s): {', '.join(sorted(unknown))}")
    request = QuarantineListRequest(
        reason=reason, channel=channel, released=released, limit=limit, cursor=cursor
    )
    listing = list_quarantine(request, _quarantine_repository())
    logger.info("quarantine listed", by=actor, count=len(listing.entries))
    return QuarantinePage(
        entries=[QuarantineSummary.model_validate(entry_summary(e)) for e in listing.entries],
        limit=limit,
        next_cursor=listing.cursor,
    )


@app.get(
    "/quarantine/<entry_id>",
    summary="One quarantine entry with its details (supervisors and admins)",
    responses=_responses(200, QuarantineEntryView, "The entry", 404),
)
def get_quarantine_entry(entry_id: EntryId) -> QuarantineEntryView:
    _reviewer()
    return QuarantineEntryView(entry=get_entry(unquote(entry_id), _quarantine_repository()))


@app.post(
    "/quarantine/<entry_id>/release",
    summary="Release a quarantined email into a ticket (supervisors and admins)",
    description="Ingests the entry's kept input as if it had passed; once, however often it is asked "
    "(an Idempotency-Key header is welcome but not needed: the entry itself is the key).",
    responses=_responses(200, ReleaseOutcome, "The release, and the ticket it made or found", 404, 409, 422),
)
def post_quarantine_release(entry_id: EntryId) -> ReleaseOutcome:
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
    return ReleaseOutcome(
        outcome=result.outcome,
        ticket_id=result.ticket_id,
        ticket_number=result.ticket_number,
        entry=result.entry,
    )


# -- SnapStart (decision 86): what the snapshot holds, and what each restored environment renews --


def _before_snapshot() -> None:
    """Made once into the snapshot, the same for every environment: the settings, the config and
    the context (no AWS call: the DynamoDB connection opens on the first request), and the OpenAPI
    document the 405 answers read. Nothing unique, secret or expiring."""
    _agent_context()
    _route_patterns()


def _after_restore() -> None:
    """Renewed in each environment resumed from the snapshot: `random`'s seed, the DynamoDB
    connections and the S3 client (none is made before the snapshot; dropped anyway, so no socket
    or credentials made during init can be shared by the environments)."""
    snapstart.renew_entropy()
    reset_connections()
    _blob_store.cache_clear()


snapstart.register_hooks(_before_snapshot, _after_restore)


# -- the Lambda handler ---------------------------------------------------------------------------


def _refusal(event: dict[str, Any], exc: Exception) -> dict[str, Any]:
    """The answer to a request refused at the edge, before Powertools saw it."""
    return refusal(kind_of(exc, PROBLEMS), str(exc), event.get("rawPath"))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)  # type: ignore[untyped-decorator]
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        _admit(event)
    except (
        NotAuthenticatedError,
        PermissionDeniedError,
        InvalidRequestError,
        UnsupportedMediaTypeError,
    ) as exc:
        return _refusal(event, exc)
    return app.resolve(event, context)
