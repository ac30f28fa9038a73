"""HTTP API requests (API Gateway v2, payload format 2.0), as webhook steps deliver them.

Routes come from the template's `Type: HttpApi` function events: `Method` + `Path` (with `{name}`
path variables and a greedy `{name+}`, `ANY` for every method), or the `$default` route when
both are left out. A request goes to the route API Gateway would pick: a full match first (a
specific method before `ANY`, more literal segments before path variables), then a greedy path,
then `$default`; none gives API Gateway's `404 {"message":"Not Found"}`. The function is invoked
synchronously with the v2 event and its answer is read the way API Gateway reads it. A route the
simulator cannot serve (an authorizer, payload format 1.0, the same route on two APIs) refuses
only the steps that would take it.
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
from urllib.parse import quote, urlencode

from simulator.lambda_runtime import Invocation, UnsupportedError
from simulator.resources import Deployment, FunctionSpec
from simulator.scenario import Problem
from simulator.template import ACCOUNT_ID, REGION

IMPLICIT_API = "ServerlessHttpApi"
"""The API SAM creates for HttpApi events that name no ApiId."""
DEFAULT_SOURCE_IP = "203.0.113.10"
"""The caller's address in `requestContext.http.sourceIp` (a documentation address, RFC 5737)."""
NOT_FOUND = (404, '{"message":"Not Found"}')
INTERNAL_ERROR = (500, '{"message":"Internal Server Error"}')
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

_VARIABLE = re.compile(r"^\{([A-Za-z0-9_.-]+)(\+?)\}$")


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
    """Why the simulator cannot serve the route (a webhook step taking it is refused)."""

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
        return {name: found.group(f"v{i}") for i, name in enumerate(names, start=1)}

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
    body: str = ""


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
        default_authorizers = {
            name: ((spec.get("Properties") or {}).get("Auth") or {}).get("DefaultAuthorizer")
            for name, spec in apis.items()
        }
        for function in deployment.functions.values():
            for trigger in function.triggers:
                if trigger.type == "HttpApi":
                    self._add(function, trigger.name, trigger.properties, by_physical, default_authorizers)
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
        default_authorizers: dict[str, Any],
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
        authorizer = (props.get("Auth") or {}).get("Authorizer") or default_authorizers.get(api)
        if authorizer not in (None, "NONE"):
            refusals.append(
                f"{where}: the route is protected by the authorizer {authorizer}, which is not simulated"
            )
        path_text = str(path) if path is not None else None
        self.routes.append(Route(function, trigger, api, api_id, upper, path_text, tuple(refusals)))

    def check(self, requests: Sequence[tuple[int, str, str]]) -> list[Problem]:
        """Problems of the webhook steps' requests (line, method, path): routes they take it cannot serve.

        Raises UnsupportedError when the template's HTTP API events cannot be read at all.
        """
        if self.problems:
            raise UnsupportedError("; ".join(self.problems))
        problems: list[Problem] = []
        for line, method, path in requests:
            found = self.route(method, path)
            if found is not None:
                problems += [Problem(line, reason, "webhook") for reason in found[0].refusals]
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
) -> dict[str, Any]:
    """The API Gateway HTTP API event (payload format 2.0) for a request received at `at`."""
    domain = f"{api_id}.execute-api.{REGION}.amazonaws.com"
    epoch_ms = int(at.timestamp() * 1000)
    body = request.body.encode("utf-8")
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
    event["requestContext"] = {
        "accountId": ACCOUNT_ID,
        "apiId": api_id,
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
    if body:
        event["body"] = request.body
    event["isBase64Encoded"] = False
    return event


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
