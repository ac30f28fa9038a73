"""HTTP API requests (API Gateway v2, payload format 2.0), as webhook steps deliver them.

Routes come from the template's `Type: HttpApi` function events: `Method` + `Path` (with `{name}`
path variables and a greedy `{name+}`, `ANY` for every method), or the `$default` route when
both are left out. A request goes to the route API Gateway would pick: a full match first (a
specific method before `ANY`, more literal segments before path variables), then a greedy path,
then `$default`; none gives API Gateway's `404 {"message":"Not Found"}`. The function is invoked
synchronously with the v2 event and its answer is read the way API Gateway reads it.

A route behind a JWT authorizer gets what API Gateway passes on once it has validated a token:
the token's claims in `requestContext.authorizer.jwt`. Only agent-side steps carry an identity
(a `Caller`); a request without one is answered 401 without calling the function. A route the
simulator cannot serve (a Lambda or IAM authorizer, required scopes, payload format 1.0, the same
route on two APIs) refuses only the steps that would take it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote, urlencode

from simulator.lambda_runtime import Invocation, UnsupportedError
from simulator.resources import Deployment, FunctionSpec
from simulator.scenario import Problem
from simulator.template import ACCOUNT_ID, REGION

IMPLICIT_API = "ServerlessHttpApi"
"""The API SAM creates for HttpApi events that name no ApiId."""
DEFAULT_SOURCE_IP = "203.0.113.10"
"""The caller's address in `requestContext.http.sourceIp` (a documentation address, RFC 5737)."""
NOT_FOUND = (404, '{"message":"Not Found"}')
UNAUTHORIZED = (401, '{"message":"Unauthorized"}')
SUPERVISOR_GROUP = "supervisors"
"""The user pool group a supervisor's token names in `cognito:groups`."""
INTERNAL_ERROR = (500, '{"message":"Internal Server Error"}')
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
AGENT_ROUTES = {
    "agent": "PUT /agents/{agent_id}/presence",
    "update": "PATCH /tickets/{ref}",
    "reply": "POST /tickets/{ref}/replies",
    "note": "POST /tickets/{ref}/notes",
}
"""The agent API's routes the agent-side steps call."""

_VARIABLE = re.compile(r"^\{([A-Za-z0-9_.-]+)(\+?)\}$")


@dataclass(frozen=True)
class Authorizer:
    """A JWT authorizer of an HTTP API (the only kind the simulator serves)."""

    name: str
    identity_source: str = "$request.header.Authorization"

    @property
    def header(self) -> str:
        """The request header the token comes in (Authorization unless IdentitySource names another)."""
        prefix = "$request.header."
        source = self.identity_source
        return source[len(prefix) :] if source.startswith(prefix) else "Authorization"


@dataclass(frozen=True)
class Caller:
    """Who sends an agent-side request: an agent signed in to the user pool, as their token says."""

    agent: str
    supervisor: bool = False
    given: tuple[tuple[str, str], ...] | None = None
    """Exact claims (an `api` step's `claims`) instead of those of the agent."""

    @classmethod
    def with_claims(cls, claims: Mapping[str, str]) -> Caller:
        """A caller whose token has exactly `claims`."""
        agent = claims.get("custom:agent_id") or claims.get("sub") or ""
        return cls(agent, SUPERVISOR_GROUP in claims.get("cognito:groups", ""), tuple(claims.items()))

    def claims(self) -> dict[str, str]:
        """The token's claims as API Gateway passes them on (values are strings, groups `[a b]`)."""
        if self.given is not None:
            return dict(self.given)
        claims = {"sub": self.agent, "custom:agent_id": self.agent, "token_use": "id"}
        if self.supervisor:
            claims["cognito:groups"] = f"[{SUPERVISOR_GROUP}]"
        return claims

    def token(self) -> str:
        """A JWT-shaped bearer token with the claims (unsigned: nothing in the simulation checks it)."""

        def part(value: dict[str, Any]) -> str:
            text = json.dumps(value).encode()  # ASCII: claims with lone surrogates too
            return base64.urlsafe_b64encode(text).decode().rstrip("=")

        return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(self.claims())}.simulated"


@dataclass(frozen=True)
class Route:
    """One route of an HTTP API and the function behind it."""

    function: FunctionSpec
    trigger: str
    api: str
    """The API's logical id."""
    api_id: str
    """The API's physical id (what `requestContext.apiId` holds)."""
    method: str
    """An HTTP method, or ANY."""
    path: str | None
    """None for the `$default` route."""
    refusals: tuple[str, ...] = ()
    """Why the simulator cannot serve the route (a step taking it is refused)."""
    authorizer: Authorizer | None = None
    """The JWT authorizer protecting the route, if any."""

    @property
    def key(self) -> str:
        return "$default" if self.path is None else f"{self.method} {self.path}"

    @property
    def greedy(self) -> bool:
        return self.path is not None and self.path.endswith("+}")

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters when the route takes this request, else None."""
        if self.path is None:
            return {}
        if self.method not in ("ANY", method):
            return None
        segments = [s for s in self.path.split("/") if s]
        if not segments:
            return {} if path == "/" else None
        pattern, names = "", []
        for segment in segments:
            variable = _VARIABLE.match(segment)
            if variable is None:
                pattern += "/" + re.escape(segment)
                continue
            names.append(variable.group(1))
            group = f"v{len(names)}"
            pattern += f"/(?P<{group}>.+)" if variable.group(2) else f"/(?P<{group}>[^/]+)"
        found = re.fullmatch(pattern, path)
        if found is None:
            return None
        # API Gateway decodes request parameters; rawPath keeps what the client sent.
        return {name: unquote(found.group(f"v{i}")) for i, name in enumerate(names, start=1)}

    def rank(self) -> tuple[int, int, int, int]:
        """Lower is more specific: full match, then greedy, then $default; a method before ANY."""
        if self.path is None:
            return (2, 0, 0, 0)
        segments = self.path.strip("/").split("/")
        literals = sum(1 for s in segments if _VARIABLE.match(s) is None)
        return (1 if self.greedy else 0, -literals, -len(segments), 1 if self.method == "ANY" else 0)


@dataclass
class Request:
    """A webhook step's request: method, path, query parameters, headers, raw body."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: str | bytes = ""
    """Text is sent as its UTF-8 bytes."""

    @property
    def payload(self) -> bytes:
        """The body's bytes, as they travel."""
        return self.body.encode("utf-8") if isinstance(self.body, str) else self.body


@dataclass
class Response:
    """What API Gateway answered, and which route and function (if any) produced it."""

    status: int
    body: str
    headers: dict[str, str]
    route: Route | None
    invocation: Invocation | None = None

    @property
    def error(self) -> BaseException | None:
        return self.invocation.error if self.invocation is not None else None


class HttpApis:
    """The template's HTTP API routes, and what keeps the simulator from serving some of them."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.routes: list[Route] = []
        self.problems: list[str] = []
        """Template settings no route can be made of (a Method without a Path, ...)."""
        apis = deployment.stack.of_type("AWS::Serverless::HttpApi")
        by_physical = {deployment.stack.physical.get(name, name): name for name in apis}
        self.auth = {name: (spec.get("Properties") or {}).get("Auth") or {} for name, spec in apis.items()}
        for function in deployment.functions.values():
            for trigger in function.triggers:
                if trigger.type == "HttpApi":
                    self._add(function, trigger.name, trigger.properties, by_physical)
        by_key: dict[str, list[Route]] = {}
        for route in self.routes:
            by_key.setdefault(route.key, []).append(route)
        for key, same in by_key.items():
            if len(same) > 1:
                where = ", ".join(f"{r.function.logical_id}.{r.trigger} on {r.api}" for r in same)
                reason = (
                    f"route {key!r} is declared on more than one API ({where}): a webhook step names no "
                    "API, so the simulator cannot tell which one is meant"
                )
                for route in same:
                    index = self.routes.index(route)
                    self.routes[index] = replace(route, refusals=(*route.refusals, reason))

    def _add(
        self,
        function: FunctionSpec,
        trigger: str,
        props: dict[str, Any],
        by_physical: dict[str, str],
    ) -> None:
        where = f"{function.logical_id} event {trigger}"
        api_id = str(props.get("ApiId") or IMPLICIT_API.lower())
        api = by_physical.get(api_id, IMPLICIT_API if not props.get("ApiId") else api_id)
        method, path = props.get("Method"), props.get("Path")
        if (method is None) != (path is None):
            self.problems.append(f"{where}: give both Method and Path, or neither (the $default route)")
            return
        if path is not None and not str(path).startswith("/"):
            self.problems.append(f"{where}: Path {path!r} must start with /")
            return
        upper = str(method).upper() if method is not None else "ANY"
        if upper == "X-AMAZON-APIGATEWAY-ANY-METHOD":
            upper = "ANY"
        if upper not in (*METHODS, "ANY"):
            self.problems.append(f"{where}: Method {method!r} is not an HTTP method")
            return
        refusals: list[str] = []
        version = str(props.get("PayloadFormatVersion") or "2.0")
        if version != "2.0":
            refusals.append(f"{where}: PayloadFormatVersion {version} is not simulated (only 2.0)")
        authorizer, refusal = self._authorizer(where, api, props.get("Auth") or {})
        if refusal:
            refusals.append(refusal)
        path_text = str(path) if path is not None else None
        self.routes.append(
            Route(function, trigger, api, api_id, upper, path_text, tuple(refusals), authorizer)
        )

    def _authorizer(
        self, where: str, api: str, route_auth: dict[str, Any]
    ) -> tuple[Authorizer | None, str | None]:
        """The route's JWT authorizer, or why the simulator cannot serve the route's authorization."""
        api_auth = self.auth.get(api) or {}
        name = route_auth.get("Authorizer") or api_auth.get("DefaultAuthorizer")
        if name in (None, "NONE"):
            return None, None
        if name == "AWS_IAM":
            return None, f"{where}: the route needs IAM authorization (AWS_IAM), which is not simulated"
        spec = (api_auth.get("Authorizers") or {}).get(name)
        if not isinstance(spec, dict):
            return None, f"{where}: the authorizer {name} is not one of the API's Auth.Authorizers"
        if "JwtConfiguration" not in spec:
            return (
                None,
                f"{where}: the route is protected by the Lambda authorizer {name}, which is not simulated",
            )
        scopes = route_auth.get("AuthorizationScopes") or api_auth.get("DefaultAuthorizationScopes")
        if scopes:
            return None, (
                f"{where}: the route requires the scopes {', '.join(map(str, scopes))}, "
                "which simulated tokens do not carry"
            )
        source = spec.get("IdentitySource") or "$request.header.Authorization"
        return Authorizer(str(name), str(source)), None

    def check(
        self, requests: Sequence[tuple[int, str, str]], kind: str = "webhook", *, need_route: bool = False
    ) -> list[Problem]:
        """Problems of the steps' requests (line, method, path): routes they take it cannot serve, and
        with `need_route` (agent-side steps, which expect the agent API) requests no route takes.

        Raises UnsupportedError when the template's HTTP API events cannot be read at all.
        """
        if self.problems:
            raise UnsupportedError("; ".join(self.problems))
        problems: list[Problem] = []
        for line, method, path in requests:
            found = self.route(method, path)
            if found is not None:
                problems += [Problem(line, reason, kind) for reason in found[0].refusals]
            elif need_route:
                problems.append(
                    Problem(
                        line,
                        f"no route of the template's HTTP APIs takes {method} {path}: "
                        f"{kind} steps need the agent API ({AGENT_ROUTES.get(kind, 'its routes')})",
                        kind,
                    )
                )
        return problems

    def route(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route API Gateway picks for the request, with its path parameters."""
        found = [(r, p) for r in self.routes if (p := r.match(method, path)) is not None]
        if not found:
            return None
        return min(found, key=lambda pair: pair[0].rank())


def request_id(seed: str) -> str:
    """An API Gateway-like request id (`JKJaXmPLvHcESHA=`), derived from `seed`."""
    return base64.b64encode(hashlib.sha256(seed.encode()).digest()[:11]).decode()


def http_api_event(
    request: Request,
    *,
    route_key: str,
    api_id: str,
    at: datetime,
    request_id: str,
    path_parameters: Mapping[str, str] | None = None,
    source_ip: str = DEFAULT_SOURCE_IP,
    claims: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The API Gateway HTTP API event (payload format 2.0) for a request received at `at`; `claims`
    are those of the token a JWT authorizer validated."""
    domain = f"{api_id}.execute-api.{REGION}.amazonaws.com"
    epoch_ms = int(at.timestamp() * 1000)
    body = request.payload
    given = {name.lower(): value for name, value in request.headers.items()}
    cookies = [c.strip() for c in given.pop("cookie", "").split(";") if c.strip()]
    forwarded = given.pop("x-forwarded-for", "")
    trace = f"Root=1-{epoch_ms // 1000:08x}-{hashlib.sha256(request_id.encode()).hexdigest()[:24]}"
    headers = {
        "host": domain,
        "x-amzn-trace-id": trace,
        **given,
        "x-forwarded-for": f"{forwarded}, {source_ip}" if forwarded else source_ip,
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    if body:
        headers["content-length"] = str(len(body))
    else:
        headers.pop("content-length", None)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.path,
        "rawQueryString": urlencode(request.query, quote_via=quote),
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = dict(sorted(headers.items()))
    if request.query:
        event["queryStringParameters"] = dict(request.query)
    context: dict[str, Any] = {"accountId": ACCOUNT_ID, "apiId": api_id}
    if claims is not None:
        context["authorizer"] = {"jwt": {"claims": dict(claims), "scopes": None}}
    event["requestContext"] = {
        **context,
        "domainName": domain,
        "domainPrefix": api_id,
        "http": {
            "method": request.method,
            "path": request.path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": at.astimezone(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": epoch_ms,
    }
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    binary = bool(body) and is_binary(body, headers.get("content-type"))
    if body:
        event["body"] = base64.b64encode(body).decode("ascii") if binary else body.decode("utf-8")
    event["isBase64Encoded"] = binary
    return event


_TEXT_TYPES = re.compile(
    r"^(text/[^;]+|[^/;]+/([^;]*[+.])?(json|xml|javascript|yaml|x-www-form-urlencoded))\s*(;.*)?$",
    re.IGNORECASE,
)


def is_binary(body: bytes, content_type: str | None) -> bool:
    """Whether API Gateway hands the function this body base64-encoded: bytes that are not UTF-8, or a
    Content-Type that is not a text type (decision 54); text with no Content-Type is passed as text."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return content_type is not None and _TEXT_TYPES.match(content_type.strip()) is None


def read_response(invocation: Invocation) -> tuple[int, str, dict[str, str]]:
    """Status, body and headers as API Gateway makes them of a payload 2.0 function's answer.

    An unhandled error is a 500; a dict with `statusCode` is the response (a base64 body is
    decoded); anything else is a 200 whose JSON body is the returned value (a string as is).
    """
    if invocation.error is not None:
        status, body = INTERNAL_ERROR
        return status, body, {"content-type": "application/json"}
    answer = invocation.response
    if isinstance(answer, dict) and "statusCode" in answer:
        try:
            status = int(answer["statusCode"])
        except (TypeError, ValueError):
            status, body = INTERNAL_ERROR
            return status, body, {"content-type": "application/json"}
        headers = {str(k).lower(): str(v) for k, v in (answer.get("headers") or {}).items()}
        for name, values in (answer.get("multiValueHeaders") or {}).items():
            headers[str(name).lower()] = ",".join(str(v) for v in values)
        raw = answer.get("body")
        text = "" if raw is None else raw if isinstance(raw, str) else json.dumps(raw)
        if answer.get("isBase64Encoded") and text:
            text = base64.b64decode(text).decode("utf-8", errors="replace")
        return status, text, headers
    text = answer if isinstance(answer, str) else json.dumps(answer)
    return 200, text, {"content-type": "application/json"}


def summarize_body(body: str, width: int = 70) -> str:
    """A response body in a few words: JSON objects as `key value` pairs (zeros and empties left out)."""
    try:
        data = json.loads(body)
    except ValueError:
        data = body

    def words(value: Any) -> str:
        if isinstance(value, dict):
            parts = [f"{k} {words(v)}".strip() for k, v in value.items() if v not in (0, "", [], {}, None)]
            return ", ".join(parts)
        if isinstance(value, list):
            return ", ".join(words(v) for v in value)
        return str(value)

    text = " ".join(words(data).split()) if isinstance(data, dict | list) else " ".join(str(data).split())
    return text if len(text) <= width else text[: width - 1] + "…"
