"""agent_api against its own OpenAPI document: schemathesis generates requests from
docs/openapi.json (valid ones and ones the schema refuses), each is handed to the real Lambda
handler as the HTTP API v2 event API Gateway would send after its JWT authorizer (a supervisor's
ID token), on moto with seeded tickets, and every answer must be no 5xx and conform to the
document: status, media type, headers and body.

Bounded: MAX_EXAMPLES per operation keeps the whole file near half a minute on one core."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import ignored_auth, positive_data_acceptance
from schemathesis.core.transport import Response as CheckedResponse

from functions.agent_api import app
from tests.integration.conftest import EmailHarness, FakeLambdaContext, mail, use_config
from tests.integration.test_agent_api import CONFIG, id_token

MAX_EXAMPLES = 25
BASE_URL = "https://agentapi01.execute-api.us-east-1.amazonaws.com"
DOCUMENT = json.loads((Path(__file__).parents[2] / "docs" / "openapi.json").read_text())

schema = schemathesis.openapi.from_dict(DOCUMENT)


@pytest.fixture
def desk(email: EmailHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EmailHarness:
    """Two tickets (numbers 1 and 2) and a signed-in supervisor, alice."""
    use_config(CONFIG, tmp_path, monkeypatch)
    app._agent_context.cache_clear()
    email.deliver(mail(message_id="<one@mail.customer.example>"))
    email.deliver(mail(message_id="<two@mail.customer.example>", sender="Bea <bea@other.example>"))
    return email


def http_api_event(request: requests.PreparedRequest) -> dict[str, Any]:
    """The request as API Gateway's HTTP API (payload 2.0) hands it to the function: raw path and
    query, decoded parameters (repeated ones joined by commas), lower-case headers, the body as
    text or, when it is not UTF-8, base64. A request with an Authorization header stands for a
    supervisor's verified ID token (alice); one without reaches the function with no claims."""
    url = urlsplit(str(request.url))
    method = str(request.method)
    query: dict[str, str] = {}
    for name, value in parse_qsl(url.query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    body = request.body.encode() if isinstance(request.body, str) else request.body
    assert body is None or isinstance(body, bytes), "a prepared request's body is text or bytes"
    text, encoded = None, False
    if body is not None:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode(), True
    headers = {name.lower(): str(value) for name, value in request.headers.items()}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": url.path,
        "rawQueryString": url.query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "agentapi01",
            "domainName": "agentapi01.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "agentapi01",
            "http": {
                "method": method,
                "path": url.path,
                "protocol": "HTTP/1.1",
                "sourceIp": "198.51.100.7",
                "userAgent": "schemathesis",
            },
            "requestId": "req-schemathesis",
            "routeKey": "$default",
            "stage": "$default",
            "time": "02/Mar/2026:10:00:00 +0000",
            "timeEpoch": 1772445600000,
        },
        "body": text,
        "isBase64Encoded": encoded,
    }
    if query:
        event["queryStringParameters"] = query
    if "authorization" in headers:  # the JWT authorizer passed it on with the token's claims
        claims = {**id_token("alice"), "cognito:groups": "[supervisors]"}
        event["requestContext"]["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    return event


def invoke(case: Case) -> CheckedResponse:
    """Send the case to the Lambda handler and wrap its answer for schemathesis' checks."""
    request = requests.Request(**case.as_transport_kwargs(base_url=BASE_URL)).prepare()
    started = time.perf_counter()
    answer = app.handler(http_api_event(request), FakeLambdaContext())
    headers = {name: [value] for name, value in (answer.get("headers") or {}).items()}
    body = answer.get("body") or ""
    content = base64.b64decode(body) if answer.get("isBase64Encoded") else body.encode()
    return CheckedResponse(
        status_code=int(answer["statusCode"]),
        headers=headers,
        content=content,
        request=request,
        elapsed=time.perf_counter() - started,
        verify=True,
    )


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
def test_every_answer_conforms_to_the_document_and_none_is_a_5xx(desk: EmailHarness, case: Case) -> None:
    # Given a request the document allows or refuses, from a signed-in supervisor
    # When the handler answers it
    response = invoke(case)
    # Then it is no server error and it is what the document says (status, media type, body).
    # Two checks are left out: `ignored_auth` re-sends the request over the network without
    # credentials (the JWT authorizer answers those; test_agent_api.py covers the function's own
    # refusals), and `positive_data_acceptance` wants a 2xx for every schema-valid request, but
    # a schema cannot say which agents, tickets, versions and cursors exist (those are 4xx problems)
    assert response.status_code < 500, response.content[:2000]
    case.validate_response(response, excluded_checks=[ignored_auth, positive_data_acceptance])
