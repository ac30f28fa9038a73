"""The live workspace end to end on moto: agents connect to the WebSocket API with their Cognito ID
token, a new ticket goes through the stream to route_ticket, its change events through the live
queue to live_push, and each agent's connection receives what the agent API would let them see."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends
from moto.core import DEFAULT_ACCOUNT_ID  # type: ignore[attr-defined]

from shared import clock
from shared.dal.repository import DynamoRepository
from simulator.resources import Deployment
from tests.integration.conftest import EmailHarness, FakeLambdaContext, mail, use_config
from tests.integration.test_route_ticket import _stream_event

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
CONFIG = """
teams: [{id: support}, {id: billing}]
agents:
  - {id: alice, teams: [support]}
  - {id: carol, teams: [support]}
  - {id: bob, teams: [billing]}
routing:
  default_team: support
"""
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def live(
    email: EmailHarness, deployment: Deployment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[EmailHarness]:
    from functions.live import app as live_app
    from functions.live_push import app as push_app
    from functions.route_ticket import app as route_app

    use_config(CONFIG, tmp_path, monkeypatch)
    for function in ("LiveFunction", "LivePushFunction", "RouteTicketFunction"):
        for name, value in deployment.functions[function].environment.items():
            monkeypatch.setenv(name, value)
    monkeypatch.setattr(live_app, "_keys", lambda: lambda kid: KEY.public_key())
    for cached in (live_app._config, push_app._pusher, route_app._live_queue, route_app._routing_context):
        cached.cache_clear()
    clock.set_clock(lambda: T0)
    yield email
    for cached in (live_app._config, push_app._pusher, route_app._live_queue, route_app._routing_context):
        cached.cache_clear()


def id_token(agent: str, **claims: Any) -> str:
    settings = {k: v for k, v in os.environ.items() if k.startswith("TOKEN_")}
    now = int(T0.timestamp())
    body = {
        "sub": f"uuid-{agent}",
        "iss": settings["TOKEN_ISSUER"],
        "aud": settings["TOKEN_AUDIENCE"],
        "token_use": "id",
        "iat": now,
        "exp": now + 3600,
        "custom:agent_id": agent,
        **claims,
    }
    return jwt.encode(body, KEY, algorithm="RS256", headers={"kid": "k1"})


def ws_event(route: str, connection_id: str, token: str | None = None) -> dict[str, Any]:
    """What API Gateway sends the WebSocket API's integration on connect and disconnect."""
    event_type = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE")
    event: dict[str, Any] = {
        "headers": {"Host": "live01.execute-api.us-east-1.amazonaws.com"},
        "requestContext": {
            "routeKey": route,
            "eventType": event_type,
            "messageDirection": "IN",
            "stage": "live",
            "connectedAt": int(T0.timestamp() * 1000),
            "requestTimeEpoch": int(T0.timestamp() * 1000),
            "identity": {"sourceIp": "198.51.100.7", "userAgent": "agent-ui"},
            "requestId": f"req-{connection_id}",
            "domainName": "live01.execute-api.us-east-1.amazonaws.com",
            "connectionId": connection_id,
            "apiId": "live01",
        },
        "isBase64Encoded": False,
    }
    if token is not None:
        event["queryStringParameters"] = {"token": token}
    return event


def connect(connection_id: str, token: str | None) -> int:
    from functions.live import app

    status: int = app.handler(ws_event("$connect", connection_id, token), FakeLambdaContext())["statusCode"]
    return status


def received(connection_id: str) -> list[dict[str, Any]]:
    """What moto's management API recorded for the connection (messages are JSON objects, one per post)."""
    data = apigatewaymanagementapi_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].connections[connection_id].data
    decoder, text, found, at = json.JSONDecoder(), data.decode(), [], 0
    while at < len(text):
        value, at = decoder.raw_decode(text, at)
        found.append(value)
    return found


def test_connect_admits_agents_by_their_id_token_and_disconnect_forgets_them(live: EmailHarness) -> None:
    repository: DynamoRepository = live.repository
    assert connect("conn-alice", id_token("alice")) == 200
    assert [c.agent_id for c in repository.connections_in([("team", "support")], T0)] == ["alice"]
    # no token, a token for another client, an access token, an agent the config does not know
    assert connect("conn-x1", None) == 401
    assert connect("conn-x2", id_token("alice", aud="someoneelse")) == 401
    assert connect("conn-x3", id_token("alice", token_use="access")) == 401
    assert connect("conn-x4", id_token("mallory")) == 403
    assert [c.connection_id for c in repository.connections_in([("all", "*")], T0)] == ["conn-alice"]

    from functions.live import app

    assert app.handler(ws_event("$default", "conn-alice"), FakeLambdaContext())["statusCode"] == 400
    assert app.handler(ws_event("$disconnect", "conn-alice"), FakeLambdaContext())["statusCode"] == 200
    assert repository.connections_in([("all", "*"), ("team", "support")], T0) == []


def pump(deployment: Deployment, cursor: dict[str, str]) -> None:
    from functions.route_ticket import app as route_app

    while event := _stream_event(deployment, cursor):
        if not event["Records"]:
            return
        assert route_app.handler(event, FakeLambdaContext()) == {"batchItemFailures": []}


def deliver_pushes(deployment: Deployment) -> int:
    """Hand what waits in the live queue to live_push as the SQS event source mapping would."""
    from functions.live_push import app as push_app

    sqs = boto3.client("sqs", region_name="us-east-1")
    url = deployment.stack.physical["LiveQueue"]
    handled = 0
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        records = [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": deployment.stack.get_att("LiveQueue", "Arn"),
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
        assert push_app.handler({"Records": records}, FakeLambdaContext()) == {"batchItemFailures": []}
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        handled += len(messages)
    return handled


def test_a_new_ticket_reaches_the_agents_who_may_see_it_within_the_same_batch(
    live: EmailHarness, deployment: Deployment
) -> None:
    assert connect("conn-alice", id_token("alice")) == 200
    assert connect("conn-bob", id_token("bob")) == 200
    cursor: dict[str, str] = {}
    live.deliver(mail(subject="Printer broken"))

    pump(deployment, cursor)  # routing gives it to support in the same batch
    assert deliver_pushes(deployment) >= 2

    alice = received("conn-alice")
    kinds = [m["type"] for m in alice]
    assert kinds[0] == "ticket.created"
    assert "ticket.customer_replied" in kinds
    assert "ticket.updated" in kinds  # routed: its team set
    assert {m["ticket"]["number"] for m in alice} == {1}
    assert alice[-1]["ticket"]["team"] == "support"
    assert "Printer" not in json.dumps(alice)  # events carry no customer text
    # bob is in billing: the ticket, judged as it is when pushed, is support's
    assert received("conn-bob") == []


def test_a_push_to_a_closed_connection_forgets_it(
    live: EmailHarness, deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.live_push import app as push_app
    from shared.channels.live import ApiGatewayPusher

    assert connect("conn-alice", id_token("alice")) == 200
    assert connect("conn-old", id_token("alice")) == 200
    real_post = ApiGatewayPusher.post

    def gone_for_old(self: ApiGatewayPusher, connection_id: str, data: bytes) -> bool:
        return False if connection_id == "conn-old" else real_post(self, connection_id, data)

    push_app._pusher.cache_clear()
    monkeypatch.setattr(ApiGatewayPusher, "post", gone_for_old)  # API Gateway answers 410 Gone for it
    live.deliver(mail(subject="Printer broken"))
    pump(deployment, {})
    deliver_pushes(deployment)
    remaining = live.repository.connections_in([("all", "*")], T0 + timedelta(minutes=1))
    assert [c.connection_id for c in remaining] == ["conn-alice"]
    assert received("conn-alice")


def test_a_reconnecting_agent_catches_up_with_nothing_missed(
    live: EmailHarness, deployment: Deployment
) -> None:
    from functions.live import app
    from tests.integration.test_agent_api import call

    # alice was connected, and her UI had everything up to T0; then her connection dropped
    assert connect("conn-alice", id_token("alice")) == 200
    assert app.handler(ws_event("$disconnect", "conn-alice"), FakeLambdaContext())["statusCode"] == 200
    live.deliver(mail(subject="Printer broken"))
    pump(deployment, {})
    deliver_pushes(deployment)
    assert received("conn-alice") == []  # nothing reached her while away

    # reconnected, her UI asks what it missed since the last change it had
    assert connect("conn-alice-2", id_token("alice")) == 200
    status, body = call("GET", "/changes", query={"since": T0.isoformat()}, agent="alice")
    assert status == 200
    kinds = [c["type"] for c in body["changes"]]
    assert {"ticket.created", "ticket.customer_replied", "ticket.updated"} <= set(kinds)
    assert [c["at"] for c in body["changes"]] == sorted(c["at"] for c in body["changes"])
    assert {c["ticket"]["number"] for c in body["changes"]} == {1}
    assert body["next_cursor"] is None
    # bob (billing) missed nothing of support's ticket
    status, body = call("GET", "/changes", query={"since": T0.isoformat()}, agent="bob")
    assert (status, body["changes"]) == (200, [])


def three_agents_and_a_ticket(live: EmailHarness, deployment: Deployment) -> dict[str, str]:
    """alice and carol (support) and bob (billing) connected, then an email for support routed and
    its pushes delivered; the stream cursor, to pump what comes next."""
    for agent in ("alice", "carol", "bob"):
        assert connect(f"conn-{agent}", id_token(agent)) == 200
    live.deliver(mail(subject="Printer broken"))
    cursor: dict[str, str] = {}
    pump(deployment, cursor)
    deliver_pushes(deployment)
    return cursor


def test_an_agent_viewing_a_ticket_is_shown_to_the_others_who_see_it(
    live: EmailHarness, deployment: Deployment
) -> None:
    from functions.live import app

    cursor = three_agents_and_a_ticket(live, deployment)
    [ticket] = live.repository.scan_tickets()
    before = {agent: len(received(f"conn-{agent}")) for agent in ("alice", "carol", "bob")}

    def say(connection_id: str, state: str, ticket_id: str = ticket.id) -> int:
        body = json.dumps({"action": "presence", "ticket_id": ticket_id, "state": state})
        event = {**ws_event("$default", connection_id), "body": body}
        status: int = app.handler(event, FakeLambdaContext())["statusCode"]
        return status

    # alice opens the ticket and starts a reply; her heartbeat repeats the same state
    assert say("conn-alice", "viewing") == 200
    assert say("conn-alice", "composing") == 200
    assert say("conn-alice", "composing") == 200
    pump(deployment, cursor)
    deliver_pushes(deployment)

    told = [m for m in received("conn-carol")[before["carol"] :] if m["type"] == "presence.changed"]
    assert [(m["data"]["agent"], m["data"]["state"]) for m in told] == [
        ("alice", "viewing"),
        ("alice", "composing"),
    ]
    assert received("conn-bob")[before["bob"] :] == []  # billing does not see support's ticket
    # bob cannot say he views it: for him it does not exist
    assert say("conn-bob", "viewing") == 404
    assert say("conn-alice", "dancing") == 400


def test_a_mention_reaches_the_named_agent_alone_and_waits_in_their_catch_up(
    live: EmailHarness, deployment: Deployment
) -> None:
    from functions.live import app
    from tests.integration.test_agent_api import call

    cursor = three_agents_and_a_ticket(live, deployment)
    before = {agent: len(received(f"conn-{agent}")) for agent in ("alice", "carol", "bob")}
    # carol's connection drops before the note: she reads it back when she reconnects
    assert app.handler(ws_event("$disconnect", "conn-carol"), FakeLambdaContext())["statusCode"] == 200

    status, note = call("POST", "/tickets/1/notes", {"text": "@carol @bob Printer model?"}, agent="alice")
    assert status == 201
    pump(deployment, cursor)
    deliver_pushes(deployment)

    alice = received("conn-alice")[before["alice"] :]
    assert [m["type"] for m in alice] == ["ticket.note"]  # the author: the note, no mention
    assert received("conn-bob")[before["bob"] :] == []  # named, but billing does not see the ticket
    assert received("conn-carol")[before["carol"] :] == []  # away
    assert connect("conn-carol-2", id_token("carol")) == 200
    status, body = call("GET", "/changes", query={"since": T0.isoformat()}, agent="carol")
    [mention] = [c for c in body["changes"] if c["type"] == "mention"]
    assert mention["data"] == {"agent": "carol", "message_id": note["message_id"], "by": "alice"}
    assert mention["ticket"]["number"] == 1
    assert "Printer" not in json.dumps(mention)  # no note text, no customer text
    for agent in ("alice", "bob"):
        status, body = call("GET", "/changes", query={"since": T0.isoformat()}, agent=agent)
        assert "mention" not in [c["type"] for c in body["changes"]], agent


def test_a_mention_is_pushed_to_the_named_agents_connections(
    live: EmailHarness, deployment: Deployment
) -> None:
    from tests.integration.test_agent_api import call

    for agent in ("alice", "carol"):
        assert connect(f"conn-{agent}", id_token(agent)) == 200
    live.deliver(mail(subject="Printer broken"))
    cursor: dict[str, str] = {}
    pump(deployment, cursor)
    deliver_pushes(deployment)
    seen = len(received("conn-carol"))
    assert call("POST", "/tickets/1/notes", {"text": "ask @carol."}, agent="alice")[0] == 201
    pump(deployment, cursor)
    deliver_pushes(deployment)
    kinds = [m["type"] for m in received("conn-carol")[seen:]]
    assert sorted(kinds) == ["mention", "ticket.note"]
