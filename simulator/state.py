"""The simulation's final state: one JSON object read back from the deployed table and bucket.

The keys SIMULATOR.md requires are always present (`report` is the simulated period's report as
`GET /reports` answers it, decision 106; the counts over the state are `counts`); extras
(created/updated times, participants, linked tickets, message subjects and flags, agents' presence
and load, agent API responses, dead letters, the run's statistics) come alongside.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import Any, Protocol

import boto3
from boto3.dynamodb.types import TypeDeserializer

from shared import clock
from shared.models.config import HelpdeskConfig
from shared.models.ticket import (
    Channel,
    Customer,
    Direction,
    Message,
    Priority,
    QuarantineEntry,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from simulator.events import mime_headers

REQUIRED_KEYS = ("tickets", "customers", "outbound", "quarantine", "webhook_responses", "report")
LOAD_GROUPS = ("email", "sms", "social")
"""The capacity groups an agent's load is counted in."""


class StateSource(Protocol):
    """The repository reads the state needs (DynamoRepository has them)."""

    def scan_tickets(self) -> list[Ticket]: ...

    def list_messages(self, ticket_id: str) -> list[Message]: ...

    def list_events(self, ticket_id: str) -> list[TicketEvent]: ...

    def scan_customers(self) -> list[Customer]: ...

    def list_quarantine(self) -> list[QuarantineEntry]: ...


BodyReader = Callable[[str], bytes | None]
"""Reads an object of the inbound bucket by key (None when it is not there)."""
EventRank = Callable[[str, TicketEvent], int]
"""Where an event of a ticket (by id) was written among the ticket's events."""
MessageRank = Callable[[str], int]
"""Where a message (by id) was written among the messages."""
SentMime = Callable[[str], str | bytes | None]
"""The MIME message that left through SES, by the provider id the outbox recorded (None: none did)."""


def _unranked(ticket_id: str, event: TicketEvent) -> int:
    return 0


def _unranked_message(message_id: str) -> int:
    return 0


def jsonable(value: Any) -> Any:
    """Plain JSON data: datetimes as ISO 8601 UTC, enums as their values."""
    if isinstance(value, datetime):
        return clock.iso(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return value


def _iso(value: datetime | None) -> str | None:
    return clock.iso(value) if value is not None else None


def message_state(message: Message, read_body: BodyReader) -> dict[str, Any]:
    text, html = message.text, message.html
    if message.body_key:
        stored = read_body(message.body_key)
        if stored is not None:
            body = json.loads(stored)
            text, html = body.get("text", text), body.get("html", html)
    return {
        "id": message.id,
        "direction": message.direction.value,
        "channel": message.channel.value,
        "at": clock.iso(message.at),
        "author": message.author,
        "external_id": message.external_id,
        "text": text,
        "html": html,
        "automatic": message.automatic,
        "attachments": [
            {
                "name": a.name,
                "content_type": a.content_type,
                "size": a.size,
                "inline": a.inline,
                "content_id": a.content_id,
            }
            for a in message.attachments
        ],
        "subject": message.subject,
        "flags": list(message.flags),
        "provider_id": message.provider_id,
    }


def ticket_state(
    ticket: Ticket,
    messages: list[Message],
    events: list[TicketEvent],
    read_body: BodyReader,
    event_rank: EventRank = _unranked,
    message_rank: MessageRank = _unranked_message,
) -> dict[str, Any]:
    # What was written at one instant keeps its order; a ticket's creation comes first.
    def order(event: TicketEvent) -> tuple[datetime, int, bool]:
        return (event.at, event_rank(ticket.id, event), event.type != "created")

    def message_order(message: Message) -> tuple[datetime, int, str]:
        return (message.at, message_rank(message.id), message.id)

    return {
        "id": ticket.id,
        "number": ticket.number,
        "channel": ticket.channel.value,
        "status": ticket.status.value,
        "priority": ticket.priority.value,
        "subject": ticket.subject,
        "customer_id": ticket.customer_id,
        "team": ticket.team,
        "assignee": ticket.assignee,
        "tags": list(ticket.tags),
        "flags": list(ticket.flags),
        "group_id": ticket.group_id,
        "sla": {
            "policy": ticket.sla.policy,
            "escalation_level": ticket.sla.escalation_level,
            "targets": [
                {"name": t.name, "due_at": _iso(t.due_at), "state": t.state} for t in ticket.sla.targets
            ],
        },
        "messages": [message_state(m, read_body) for m in sorted(messages, key=message_order)],
        "events": [jsonable(e.as_state()) for e in sorted(events, key=order)],
        "linked_ticket_id": ticket.linked_ticket_id,
        "participants": list(ticket.participants),
        "created_at": clock.iso(ticket.created_at),
        "updated_at": clock.iso(ticket.updated_at),
    }


def customer_state(customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.id,
        "name": customer.name,
        "identities": [{"kind": i.kind.value, "value": i.value} for i in customer.identities],
        "opted_out": list(customer.opted_out),
        "consent": [
            {"at": clock.iso(c.at), "channel": c.channel, "action": c.action, "keyword": c.keyword}
            for c in customer.consent
        ],
        "created_at": clock.iso(customer.created_at),
    }


def quarantine_state(entry: QuarantineEntry) -> dict[str, Any]:
    return {
        "reason": entry.reason,
        "at": clock.iso(entry.at),
        "ref": entry.ref,
        "id": entry.id,
        "channel": entry.channel.value,
        "details": jsonable(entry.details),
    }


def read_agent_items(table_name: str, region: str | None = None) -> list[dict[str, Any]]:
    """The agents' live items of the table (`AGENT#<id>` / `AGENT`) as plain values."""
    client = boto3.client("dynamodb", region_name=region)
    deserializer = TypeDeserializer()
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(
        TableName=table_name,
        FilterExpression="sk = :agent AND begins_with(pk, :prefix)",
        ExpressionAttributeValues={":agent": {"S": "AGENT"}, ":prefix": {"S": "AGENT#"}},
    ):
        for raw in page.get("Items", []):
            item = {name: deserializer.deserialize(value) for name, value in raw.items()}
            items.append(item)
    return items


def _number(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def agents_state(config: HelpdeskConfig, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every agent of the config, then any other agent the table knows: presence (the config's
    `default_presence` until one is stored) and open tickets per capacity group."""
    stored = {str(item.get("id") or str(item["pk"]).split("#", 1)[-1]): item for item in items}
    agents: list[dict[str, Any]] = []
    for agent in config.agents:
        item = stored.pop(agent.id, None) or {}
        agents.append(
            {
                "id": agent.id,
                "presence": item.get("presence") or agent.default_presence,
                "load": {group: _number(item.get(f"load_{group}")) for group in LOAD_GROUPS},
                "name": agent.name,
                "teams": list(agent.teams),
                "skills": list(agent.skills),
                "capacity": {group: agent.capacity.get(group, 0) for group in LOAD_GROUPS},  # type: ignore[call-overload]
                "last_assigned_at": item.get("last_assigned_at") or None,
                "presence_changed_at": item.get("presence_changed_at"),
            }
        )
    for agent_id, item in sorted(stored.items()):
        agents.append(
            {
                "id": agent_id,
                "presence": item.get("presence") or "offline",
                "load": {group: _number(item.get(f"load_{group}")) for group in LOAD_GROUPS},
                "name": None,
                "teams": [str(t) for t in item.get("teams") or []],
                "skills": [],
                "capacity": None,  # not an agent of the config (any more)
                "last_assigned_at": item.get("last_assigned_at") or None,
                "presence_changed_at": item.get("presence_changed_at"),
            }
        )
    return agents


def _counts(values: list[str], keys: list[str]) -> dict[str, int]:
    counted = Counter(values)
    result = {key: counted.get(key, 0) for key in keys}
    result.update({key: n for key, n in counted.items() if key not in result})
    return result


def build_counts(state: dict[str, Any]) -> dict[str, Any]:
    """Counts over the state (its `counts`): tickets by status, channel and priority, messages,
    quarantine, outbound, agents, dead letters."""
    tickets = state["tickets"]
    messages = [m for t in tickets for m in t["messages"]]
    return {
        "tickets": {
            "total": len(tickets),
            "by_status": _counts([t["status"] for t in tickets], [s.value for s in TicketStatus]),
            "by_channel": _counts([t["channel"] for t in tickets], [c.value for c in Channel]),
            "by_priority": _counts([t["priority"] for t in tickets], [p.value for p in Priority]),
            "linked": sum(1 for t in tickets if t.get("linked_ticket_id")),
            "by_team": dict(Counter(t["team"] or "none" for t in tickets)),
            "assigned": sum(1 for t in tickets if t["assignee"]),
        },
        "messages": {
            "total": len(messages),
            "by_direction": _counts([m["direction"] for m in messages], [d.value for d in Direction]),
            "automatic": sum(1 for m in messages if m["automatic"]),
            "with_attachments": sum(1 for m in messages if m["attachments"]),
            "attachments": sum(len(m["attachments"]) for m in messages),
        },
        "customers": len(state["customers"]),
        "quarantine": {
            "total": len(state["quarantine"]),
            "by_reason": dict(Counter(q["reason"] for q in state["quarantine"])),
        },
        "outbound": {
            "total": len(state["outbound"]),
            "by_kind": dict(Counter(o["kind"] for o in state["outbound"])),
        },
        "webhook_responses": len(state["webhook_responses"]),
        "api_responses": len(state.get("api_responses", [])),
        "agents": {
            "total": len(state.get("agents", [])),
            "by_presence": dict(Counter(a["presence"] for a in state.get("agents", []))),
        },
        "dead_letters": len(state.get("dead_letters", [])),
    }


def build_state(
    repository: StateSource,
    read_body: BodyReader,
    *,
    outbound: list[dict[str, Any]] | None = None,
    webhook_responses: list[dict[str, Any]] | None = None,
    extras: dict[str, Any] | None = None,
    event_rank: EventRank = _unranked,
    message_rank: MessageRank = _unranked_message,
    sent_mime: SentMime | None = None,
    report: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The state document: tickets with their messages and history, customers, quarantine, counts,
    and `report`, the simulated period's report as `GET /reports` answers it (given by the caller).

    `event_rank` and `message_rank` order what was written at the same instant (see activity.py);
    `sent_mime` gives the outbound entries of sent mail the headers of the message that left.
    """
    tickets = [
        ticket_state(
            t,
            repository.list_messages(t.id),
            repository.list_events(t.id),
            read_body,
            event_rank,
            message_rank,
        )
        for t in repository.scan_tickets()
    ]
    state: dict[str, Any] = {
        "tickets": tickets,
        "customers": [customer_state(c) for c in repository.scan_customers()],
        "outbound": list(outbound) if outbound is not None else _outbox_state(repository, sent_mime),
        "quarantine": [quarantine_state(q) for q in sorted(repository.list_quarantine(), key=lambda q: q.at)],
        "webhook_responses": jsonable(list(webhook_responses or [])),
    }
    state.update(jsonable(extras or {}))
    state["counts"] = build_counts(state)
    state["report"] = dict(report or {})
    return state


def _outbound_headers(outbound: Any, sent_mime: SentMime | None) -> dict[str, str]:
    """The headers of the message that left (SES sets its own Message-ID), else those the outbox stored."""
    sent = sent_mime(outbound.provider_id) if sent_mime is not None and outbound.provider_id else None
    if sent is not None:
        return {**mime_headers(sent), "Message-ID": outbound.provider_id}
    return {
        **outbound.headers,
        **({"In-Reply-To": outbound.in_reply_to} if outbound.in_reply_to else {}),
        **({"Reply-To": outbound.reply_to} if outbound.reply_to else {}),
    }


def _outbox_state(repository: object, sent_mime: SentMime | None = None) -> list[dict[str, Any]]:
    """Every message in the outbox, in time order: sent ones, and those suppressed or failed with why."""
    list_outbound = getattr(repository, "list_outbound", None)
    if list_outbound is None:
        return []
    return [
        jsonable(
            {
                "channel": o.channel,
                "to": o.to,
                "ticket_id": o.ticket_id,
                "at": o.created_at,
                "kind": o.kind,
                "subject": o.subject,
                "text": o.text,
                "headers": _outbound_headers(o, sent_mime),
                "status": o.status,
                "automatic": o.automatic,
                "author": o.author,
                "provider_id": o.provider_id,
                "error": o.error,
                "promised_due_at": o.promised_due_at,
            }
        )
        for o in sorted(list_outbound(), key=lambda o: o.created_at)
    ]
