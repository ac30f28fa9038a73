"""SMS and webhook delivery: topics End User Messaging publishes to, HTTP API routing, v2 events."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventV2Model, SnsModel
from moto import mock_aws

from simulator.http_api import (
    Authorizer,
    Caller,
    HttpApis,
    Request,
    http_api_event,
    read_response,
    request_id,
    summarize_body,
)
from simulator.lambda_runtime import Invocation, LambdaRuntime, UnsupportedError, simulated_account
from simulator.resources import Deployment, Trigger, deploy
from simulator.runner import reset_application_caches
from simulator.secret_values import DEFAULT_SECRETS, apply_secrets
from simulator.sms import SmsReceiver, sms_message
from simulator.sns import SnsTopics

NOW = datetime(2025, 3, 12, 9, 30, tzinfo=UTC)
FIXTURES = Path(__file__).resolve().parents[1] / "events" / "webhooks"

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    Timeout: 10
Resources:
  SmsTopic:
    Type: AWS::SNS::Topic
  OtherTopic:
    Type: AWS::SNS::Topic
  SmsTopicPolicy:
    Type: AWS::SNS::TopicPolicy
    Properties:
      Topics: [!Ref SmsTopic]
      PolicyDocument:
        Statement:
          - Effect: Allow
            Principal: {Service: [sms-voice.amazonaws.com]}
            Action: sns:Publish
            Resource: !Ref SmsTopic
  OtherTopicPolicy:
    Type: AWS::SNS::TopicPolicy
    Properties:
      Topics: [!Ref OtherTopic]
      PolicyDocument:
        Statement:
          - Effect: Allow
            Principal: {Service: ses.amazonaws.com}
            Action: sns:Publish
            Resource: !Ref OtherTopic
  Failures:
    Type: AWS::SQS::Queue
  Secret:
    Type: AWS::SecretsManager::Secret
    Properties:
      SecretString: '{"token": "from-the-template"}'
  Api:
    Type: AWS::Serverless::HttpApi
  Protected:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Jwt
        Authorizers:
          Jwt:
            IdentitySource: $request.header.Authorization
            JwtConfiguration: {issuer: "https://issuer.example", audience: [app]}
  Custom:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Gate
        Authorizers:
          Gate:
            FunctionArn: arn:aws:lambda:us-east-1:123456789012:function:gate
            AuthorizerPayloadFormatVersion: "2.0"
  SmsReader:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code/
      Handler: app.sms
      EventInvokeConfig:
        MaximumRetryAttempts: 1
        DestinationConfig:
          OnFailure: {Type: SQS, Destination: !GetAtt Failures.Arn}
      Events:
        Inbound:
          Type: SNS
          Properties: {Topic: !Ref SmsTopic}
  OtherReader:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code/
      Handler: app.other
      Events:
        Other:
          Type: SNS
          Properties: {Topic: !Ref OtherTopic}
  Web:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code/
      Handler: app.web
      Events:
        Item:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: GET, Path: "/items/{id}"}
        Special:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: get, Path: /items/special}
        Anything:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: ANY, Path: "/items/{rest+}"}
        Root:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: GET, Path: /}
        Private:
          Type: HttpApi
          Properties: {ApiId: !Ref Protected, Method: GET, Path: /private}
        Open:
          Type: HttpApi
          Properties: {ApiId: !Ref Protected, Method: GET, Path: /open, Auth: {Authorizer: NONE}}
        Scoped:
          Type: HttpApi
          Properties:
            ApiId: !Ref Protected
            Method: GET
            Path: /scoped
            Auth: {AuthorizationScopes: [tickets.read]}
        Gated:
          Type: HttpApi
          Properties: {ApiId: !Ref Custom, Method: GET, Path: /gated}
  Fallback:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code/
      Handler: app.fallback
      Events:
        Default:
          Type: HttpApi
"""

HANDLERS = """\
CALLS = []


def sms(event, context):
    CALLS.append(("sms", event))
    message = event["Records"][0]["Sns"]["Message"]
    if "boom" in message:
        raise RuntimeError("boom")
    return {"results": [{"outcome": "created", "ticket_number": 7, "reason": "new conversation"}]}


def other(event, context):
    CALLS.append(("other", event))


def web(event, context):
    CALLS.append(("web", event))
    if event.get("body") == "explode":
        raise ValueError("explode")
    return {"statusCode": 201, "headers": {"Content-Type": "text/plain"}, "body": event["routeKey"]}


def fallback(event, context):
    CALLS.append(("fallback", event))
    return {"route": event["routeKey"]}
"""


@dataclass
class Sim:
    deployment: Deployment
    runtime: LambdaRuntime
    topics: SnsTopics

    def calls(self, function: str = "SmsReader") -> list[tuple[str, Any]]:
        handler = self.deployment.functions[function].load()
        calls: list[tuple[str, Any]] = handler.__globals__["CALLS"]
        return calls


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Sim]:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "app.py").write_text(HANDLERS)
    template = tmp_path / "template.yaml"
    template.write_text(TEMPLATE)
    with simulated_account(), mock_aws():
        reset_application_caches()
        deployment = deploy(template)
        runtime = LambdaRuntime(deployment.functions, lambda: NOW)
        yield Sim(deployment, runtime, SnsTopics(runtime, lambda: NOW))
        reset_application_caches()


SMS = {
    "originationNumber": "+14255550182",
    "destinationNumber": "+12125550101",
    "messageKeyword": "KEYWORD_123456789012",
    "messageBody": "Hi there",
    "inboundMessageId": "cae173d2-66b9-564c-8309-21f858e9fb84",
}


# -- SMS ------------------------------------------------------------------------------------------
def test_the_sms_topic_is_the_one_end_user_messaging_may_publish_to(sim: Sim) -> None:
    receiver = SmsReceiver(sim.deployment.stack, sim.topics)
    assert receiver.topic_arns == [sim.deployment.name("SmsTopic")]
    receiver.check()


def test_an_sms_is_the_sns_event_end_user_messaging_sends(sim: Sim) -> None:
    # Given the SMS receiver of the template
    receiver = SmsReceiver(sim.deployment.stack, sim.topics)
    # When an SMS arrives twice (a redelivery)
    results = receiver.receive(dict(SMS), seed="s.jsonl:3", deliveries=2)
    # Then only the SMS topic's subscriber got it, twice, with one SNS message id
    assert [len(r.deliveries) for r in results] == [1, 1]
    assert all(d.outcome.ok for r in results for d in r.deliveries)
    assert sim.calls("OtherReader") == []
    events = [event for _, event in sim.calls()]
    assert len(events) == 2
    first, second = (SnsModel.model_validate(e).Records[0].Sns for e in events)
    assert first.MessageId == second.MessageId
    assert first.Timestamp == NOW
    assert json.loads(str(first.Message)) == SMS
    assert str(first.TopicArn) == sim.deployment.name("SmsTopic")


def test_a_failing_sms_function_is_retried_then_dead_lettered(sim: Sim) -> None:
    receiver = SmsReceiver(sim.deployment.stack, sim.topics)
    [result] = receiver.receive({**SMS, "messageBody": "boom"}, seed="s.jsonl:4")
    [delivery] = result.deliveries
    assert not delivery.outcome.ok
    assert len(delivery.outcome.attempts) == 2  # MaximumRetryAttempts: 1
    [dead] = sim.runtime.dead_letters
    assert dead.destination is not None
    assert dead.destination.endswith(":helpdesk-failures")


def test_the_message_keeps_the_documented_field_order_and_only_the_fields_given() -> None:
    text = sms_message({"messageBody": "Hi", "originationNumber": "+1", "inboundMessageId": "x"})
    assert text == '{"originationNumber":"+1","messageBody":"Hi","inboundMessageId":"x"}'


def test_a_template_without_an_sms_destination_is_refused(sim: Sim) -> None:
    receiver = SmsReceiver(sim.deployment.stack, sim.topics)
    receiver.topic_arns = []
    with pytest.raises(UnsupportedError, match=r"no SNS topic policy .* sms-voice\.amazonaws\.com"):
        receiver.check()
    receiver.topic_arns = [sim.deployment.name("OtherTopic") + "-unsubscribed"]
    with pytest.raises(UnsupportedError, match="no function subscribes"):
        receiver.check()


# -- HTTP API routing -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "route", "parameters"),
    [
        ("GET", "/items/special", "GET /items/special", {}),  # literal beats a path variable
        ("GET", "/items/42", "GET /items/{id}", {"id": "42"}),  # a variable beats a greedy path
        ("POST", "/items/42", "ANY /items/{rest+}", {"rest": "42"}),  # the method decides
        ("GET", "/items/a/b", "ANY /items/{rest+}", {"rest": "a/b"}),
        ("GET", "/", "GET /", {}),
        ("DELETE", "/elsewhere", "$default", {}),  # anything else
    ],
)
def test_requests_take_the_most_specific_route(
    sim: Sim, method: str, path: str, route: str, parameters: dict[str, str]
) -> None:
    apis = HttpApis(sim.deployment)
    assert apis.check([(1, method, path)]) == []
    found = apis.route(method, path)
    assert found is not None
    assert (found[0].key, found[1]) == (route, parameters)


def test_without_a_default_route_an_unknown_path_has_no_route(sim: Sim) -> None:
    apis = HttpApis(sim.deployment)
    apis.routes = [r for r in apis.routes if r.path is not None]
    assert apis.route("GET", "/nowhere") is None
    assert apis.route("GET", "/items") is None


def test_only_steps_taking_a_route_the_simulator_cannot_serve_are_refused(sim: Sim) -> None:
    # Given a route declared on two APIs, one on payload format 1.0, one behind a Lambda authorizer,
    # one requiring scopes, and one behind a JWT authorizer (which the simulator serves)
    web = sim.deployment.functions["Web"]
    web.triggers.append(Trigger(name="Copy", type="HttpApi", properties={"Method": "GET", "Path": "/"}))
    web.triggers[0].properties["PayloadFormatVersion"] = "1.0"
    apis = HttpApis(sim.deployment)
    # When steps take them, and others take routes without those settings
    problems = apis.check(
        [
            (1, "GET", "/"),
            (2, "GET", "/private"),
            (3, "GET", "/open"),
            (4, "GET", "/items/7"),
            (5, "GET", "/x"),
            (6, "GET", "/gated"),
            (7, "GET", "/scoped"),
        ]
    )
    # Then each step taking an unservable route is refused with its line, the others are not
    found = [str(p) for p in problems]
    assert [p.split(":")[0] for p in found] == [
        "line 1 (webhook step)",
        "line 4 (webhook step)",
        "line 6 (webhook step)",
        "line 7 (webhook step)",
    ]
    assert (
        "route 'GET /' is declared on more than one API (Web.Root on Api, Web.Copy on ServerlessHttpApi)"
        in found[0]
    )
    assert "PayloadFormatVersion 1.0 is not simulated" in found[1]
    assert "protected by the Lambda authorizer Gate, which is not simulated" in found[2]
    assert "requires the scopes tickets.read, which simulated tokens do not carry" in found[3]


def test_jwt_routes_know_their_authorizer_and_none_turns_it_off(sim: Sim) -> None:
    apis = HttpApis(sim.deployment)
    private, _ = apis.route("GET", "/private") or (None, None)
    open_route, _ = apis.route("GET", "/open") or (None, None)
    assert private is not None
    assert open_route is not None
    assert private.authorizer == Authorizer("Jwt", "$request.header.Authorization")
    assert private.authorizer.header == "Authorization"
    assert private.refusals == ()
    assert open_route.authorizer is None


def test_agent_side_steps_need_a_route(sim: Sim) -> None:
    apis = HttpApis(sim.deployment)
    apis.routes = [r for r in apis.routes if r.path is not None]  # no $default route
    problems = apis.check([(3, "PUT", "/agents/ana/presence")], "agent", need_route=True)
    assert [str(p) for p in problems] == [
        "line 3 (agent step): no route of the template's HTTP APIs takes PUT /agents/ana/presence: "
        "agent steps need the agent API (PUT /agents/{agent_id}/presence)"
    ]
    assert apis.check([(3, "GET", "/nowhere")]) == []  # a webhook step without a route gets a 404


def test_path_parameters_are_decoded_and_the_raw_path_is_kept(sim: Sim) -> None:
    found = HttpApis(sim.deployment).route("GET", "/items/%3Cab%2Bc%40mail.example%3E")
    assert found is not None
    assert found[1] == {"id": "<ab+c@mail.example>"}


def test_http_api_events_no_route_can_be_made_of_are_refused(sim: Sim) -> None:
    web = sim.deployment.functions["Web"]
    web.triggers.append(Trigger(name="Half", type="HttpApi", properties={"Method": "GET"}))
    with pytest.raises(UnsupportedError, match="Web event Half: give both Method and Path"):
        HttpApis(sim.deployment).check([])


# -- the v2 event -----------------------------------------------------------------------------------
def test_the_event_has_the_shape_of_the_documented_fixture() -> None:
    # Given the request of the Meta verification fixture
    fixture = json.loads((FIXTURES / "apigw_v2_meta_verify_get.json").read_text())
    request = Request(
        "GET",
        "/webhooks/meta",
        query=fixture["queryStringParameters"],
        headers={"Accept": "*/*", "User-Agent": "facebookexternalua"},
    )
    moment = datetime.fromtimestamp(fixture["requestContext"]["timeEpoch"] / 1000, UTC)
    # When the simulator builds its event
    event = http_api_event(
        request, route_key="GET /webhooks/meta", api_id="abc123defg", at=moment, request_id="JKJaXmPLvHcESHA="
    )
    # Then it has the same keys and the same values where they do not depend on the run
    assert set(event) == set(fixture)
    assert set(event["requestContext"]) == set(fixture["requestContext"])
    assert set(event["headers"]) == set(fixture["headers"])
    for key in (
        "version",
        "routeKey",
        "rawPath",
        "rawQueryString",
        "queryStringParameters",
        "isBase64Encoded",
    ):
        assert event[key] == fixture[key], key
    context, expected = event["requestContext"], fixture["requestContext"]
    for key in ("accountId", "apiId", "domainName", "domainPrefix", "routeKey", "stage", "time", "timeEpoch"):
        assert context[key] == expected[key], key
    assert context["http"]["userAgent"] == "facebookexternalua"
    APIGatewayProxyEventV2Model.model_validate(event)


def test_headers_are_lower_cased_and_api_gateway_adds_its_own() -> None:
    request = Request(
        "POST",
        "/webhooks/x",
        query={"a b": "c&d", "hub.mode": "subscribe"},
        headers={"Content-Type": "application/json", "X-Forwarded-For": "10.0.0.1", "Cookie": "a=1; b=2"},
        body='{"caf\\u00e9": "ü"}',
    )
    event = http_api_event(request, route_key="POST /webhooks/x", api_id="api1234567", at=NOW, request_id="r")
    headers = event["headers"]
    assert isinstance(request.body, str)
    assert headers["content-type"] == "application/json"
    assert headers["content-length"] == str(len(request.body.encode("utf-8")))
    assert headers["x-forwarded-for"] == "10.0.0.1, 203.0.113.10"
    assert headers["host"] == "api1234567.execute-api.us-east-1.amazonaws.com"
    assert "cookie" not in headers
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["rawQueryString"] == "a%20b=c%26d&hub.mode=subscribe"
    assert event["body"] == request.body
    assert event["isBase64Encoded"] is False
    assert event["requestContext"]["timeEpoch"] == int(NOW.timestamp() * 1000)
    APIGatewayProxyEventV2Model.model_validate(event)


def test_a_jwt_caller_s_claims_are_in_the_request_context() -> None:
    # Given a supervisor signed in as "ana", and an agent who is not one
    supervisor, agent = Caller("ana", supervisor=True), Caller("bo")
    # When API Gateway passes a validated token's claims on
    event = http_api_event(
        Request("PUT", "/agents/ana/presence", body='{"status": "online"}'),
        route_key="PUT /agents/{agent_id}/presence",
        api_id="agentapi01",
        at=NOW,
        request_id="r",
        path_parameters={"agent_id": "ana"},
        claims=supervisor.claims(),
    )
    # Then they are under requestContext.authorizer.jwt, without scopes, as strings
    assert event["requestContext"]["authorizer"] == {
        "jwt": {
            "claims": {
                "sub": "ana",
                "custom:agent_id": "ana",
                "token_use": "id",
                "cognito:groups": "[supervisors]",
            },
            "scopes": None,
        }
    }
    assert agent.claims() == {"sub": "bo", "custom:agent_id": "bo", "token_use": "id"}
    APIGatewayProxyEventV2Model.model_validate(event)
    # And the bearer token carries the same claims (unsigned)
    payload = agent.token().split(".")[1]
    assert json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))) == agent.claims()


def test_a_request_without_claims_has_no_authorizer_context() -> None:
    event = http_api_event(Request("GET", "/x"), route_key="GET /x", api_id="a", at=NOW, request_id="r")
    assert "authorizer" not in event["requestContext"]


def test_a_request_without_body_or_query_leaves_them_out() -> None:
    event = http_api_event(Request("GET", "/x"), route_key="GET /x", api_id="a", at=NOW, request_id="r")
    assert "body" not in event
    assert "queryStringParameters" not in event
    assert event["rawQueryString"] == ""
    assert "content-length" not in event["headers"]


def test_request_ids_are_stable_and_look_like_api_gateways() -> None:
    assert request_id("s.jsonl:4") == request_id("s.jsonl:4") != request_id("s.jsonl:5")
    assert len(request_id("s.jsonl:4")) == 16
    assert request_id("s.jsonl:4").endswith("=")


# -- responses ------------------------------------------------------------------------------------
def invocation(response: Any = None, error: BaseException | None = None) -> Invocation:
    return Invocation("Web", "id", "HttpApi", NOW, response=response, error=error)


def test_responses_are_read_as_api_gateway_reads_them() -> None:
    answer = {"statusCode": 401, "headers": {"Content-Type": "text/plain"}, "body": "invalid signature"}
    assert read_response(invocation(answer)) == (401, "invalid signature", {"content-type": "text/plain"})
    encoded = {"statusCode": 200, "body": "aGk=", "isBase64Encoded": True}
    assert read_response(invocation(encoded))[:2] == (200, "hi")
    assert read_response(invocation({"ok": True}))[:2] == (200, '{"ok": true}')
    assert read_response(invocation("plain"))[:2] == (200, "plain")
    assert read_response(invocation(error=ValueError("x")))[:2] == (
        500,
        '{"message":"Internal Server Error"}',
    )


def test_bodies_are_summarised_in_a_few_words() -> None:
    assert summarize_body('{"stored": {"created": 1, "threaded": 0}, "receipts": 0, "ignored": 2}') == (
        "stored created 1, ignored 2"
    )
    assert summarize_body("1158201444") == "1158201444"
    assert summarize_body("x" * 100, width=10) == "x" * 9 + "…"


# -- secrets --------------------------------------------------------------------------------------
def test_known_secret_values_are_put_into_the_deployed_secrets(sim: Sim) -> None:
    stack = sim.deployment.stack
    client = boto3.client("secretsmanager")
    assert apply_secrets(stack, {"Secret": {"token": "mine"}}) == {"Secret": "--secrets"}
    value = client.get_secret_value(SecretId=sim.deployment.name("Secret"))["SecretString"]
    assert json.loads(value) == {"token": "mine"}
    assert apply_secrets(stack, {}) == {}  # no default for a secret named "Secret"
    with pytest.raises(UnsupportedError, match="--secrets names WebhookSecret"):
        apply_secrets(stack, {"WebhookSecret": "x"})
    assert set(DEFAULT_SECRETS["WebhookSecret"]) == {
        "meta_app_secret",
        "meta_verify_token",
        "x_consumer_secret",
    }
