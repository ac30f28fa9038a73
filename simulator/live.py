"""The live workspace in the simulator: an agent who goes online connects their UI to the WebSocket
API (the real `$connect`, with an ID token of the simulator's user pool), goes offline and
disconnects; what each would have received is read back from moto's management API and kept with
the step that made it (state `pushes`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from simulator.cognito import LocalUserPool
from simulator.template import ACCOUNT_ID, REGION

LIVE_FUNCTION = "LiveFunction"


def connection_id(agent: str) -> str:
    return f"sim-{agent}"


def ws_event(route: str, agent: str, at_ms: int, token: str | None = None) -> dict[str, Any]:
    """What API Gateway sends the WebSocket API's integration on connect and disconnect."""
    event: dict[str, Any] = {
        "headers": {"Host": "live.execute-api.us-east-1.amazonaws.com"},
        "requestContext": {
            "routeKey": route,
            "eventType": "CONNECT" if route == "$connect" else "DISCONNECT",
            "messageDirection": "IN",
            "stage": "live",
            "connectedAt": at_ms,
            "requestTimeEpoch": at_ms,
            "identity": {"sourceIp": "198.51.100.7", "userAgent": "helpdesk-agent-ui (simulated)"},
            "requestId": f"{route}-{agent}-{at_ms}",
            "domainName": "live.execute-api.us-east-1.amazonaws.com",
            "connectionId": connection_id(agent),
            "apiId": "live",
        },
        "isBase64Encoded": False,
    }
    if token is not None:
        event["queryStringParameters"] = {"token": token}
    return event


@dataclass
class LiveAgents:
    """Agents' connections and what was pushed to each, in order, with the step that made it."""

    pool: LocalUserPool
    connected: set[str] = field(default_factory=set)
    read: dict[str, int] = field(default_factory=dict)
    pushes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def collect(self, step: int | None, at: str) -> None:
        """Read what moto's management API holds for each connection since the last read."""
        from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends

        held = apigatewaymanagementapi_backends[ACCOUNT_ID][REGION].connections
        for agent in sorted(set(self.read) | self.connected):
            data = held[connection_id(agent)].data if connection_id(agent) in held else b""
            text = data.decode()[self.read.get(agent, 0) :]
            self.read[agent] = len(data.decode())
            for message in _messages(text):
                entry = {"step": step, "at": at, "type": message.get("type"), "id": message.get("id")}
                ticket = message.get("ticket") or {}
                entry.update({"ticket": ticket.get("number"), "data": message.get("data") or {}})
                self.pushes.setdefault(agent, []).append(entry)


def _messages(text: str) -> list[dict[str, Any]]:
    """The JSON objects posted one after another (moto keeps a connection's posts as one string)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(text):
        value, at = decoder.raw_decode(text, at)
        found.append(value)
    return found
