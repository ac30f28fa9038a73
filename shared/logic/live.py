"""The live workspace (decision 110): who may hold a WebSocket connection, which changes of the
tickets stream become pushed events, and which connections each event reaches.

Pure functions of plain data: the stream record's images, the connections' stored scopes, the
ticket as it is now. Permissions are the agent API's (`shared.logic.permissions.visible`), so a push
never tells an agent about a ticket the API would answer 404 for.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from shared import clock
from shared.channels.live import Pusher
from shared.dal.live import ChangePage, Partition, TicketViewers
from shared.dal.tickets import message_from_stream_image, ticket_from_stream_image
from shared.errors import TicketNotFoundError
from shared.logic.agent_actions import InvalidRequestError, NotAuthenticatedError, authenticate
from shared.logic.cursors import decode_cursor, encode_cursor
from shared.logic.permissions import Principal, Role, principal, role_from_groups, visible
from shared.logic.work_spans import viewer_since
from shared.models.config import HelpdeskConfig
from shared.models.live import LiveConnection, LiveEvent, LiveEventType, LiveTicket
from shared.models.ticket import Direction, Ticket

CONNECTION_LIFETIME = timedelta(hours=2, minutes=5)
"""API Gateway closes a WebSocket connection after 2 hours: its items expire a little later, so one
whose `$disconnect` never ran is gone from the table all the same."""
TRACKED = ("status", "priority", "team", "tags", "subject")
"""The ticket fields whose change is a `ticket.updated` (the assignee has its own event)."""
SLA_EVENTS: Mapping[str, LiveEventType] = {"sla_warning": "sla.warning", "sla_breached": "sla.breached"}
MESSAGE_EVENTS: Mapping[Direction, LiveEventType] = {
    Direction.INBOUND: "ticket.customer_replied",
    Direction.OUTBOUND: "ticket.replied",
    Direction.NOTE: "ticket.note",
}


def admit_connection(
    claims: Mapping[str, Any],
    connection_id: str,
    config: HelpdeskConfig,
    claim_names: tuple[str, str, str],
    now: datetime,
) -> LiveConnection:
    """The connection of the agent the verified ID token names (NotAuthenticatedError without one,
    PermissionDeniedError for one the config does not know),
    with the role and teams its pushes are filtered by. `claim_names`: the agent id claim, the
    supervisor and the admin groups (as the agent API's settings name them)."""
    agent_claim, supervisor_group, admin_group = claim_names
    caller = authenticate(claims, agent_claim, supervisor_group, config)
    groups = claims.get("cognito:groups") or []
    role = role_from_groups(groups if isinstance(groups, list) else [], supervisor_group, admin_group)
    scope = principal(caller.agent_id, role, config)
    return LiveConnection(
        connection_id=connection_id,
        agent_id=scope.agent_id,
        role=int(scope.role),
        teams=sorted(scope.teams),
        connected_at=now,
        expires_at=now + CONNECTION_LIFETIME,
    )


def scope_of(connection: LiveConnection) -> Principal:
    return Principal(connection.agent_id, Role(connection.role), frozenset(connection.teams))


def live_ticket(ticket: Ticket) -> LiveTicket:
    return LiveTicket(
        id=ticket.id,
        number=ticket.number,
        channel=ticket.channel.value,
        status=ticket.status.value,
        priority=ticket.priority.value,
        team=ticket.team,
        assignee=ticket.assignee,
    )


def _record_time(raw: Mapping[str, Any]) -> datetime:
    seconds = raw.get("ApproximateCreationDateTime")
    return datetime.fromtimestamp(float(seconds), UTC) if seconds is not None else datetime.now(UTC)


def _ticket_events(event_id: str, old: Ticket | None, new: Ticket, at: datetime) -> list[LiveEvent]:
    if old is None:
        return [_event(event_id, "ticket.created", at, new.id, {})]
    found = []
    if old.assignee != new.assignee:
        data = {"from": old.assignee, "to": new.assignee}
        found.append(
            LiveEvent(id=f"{event_id}#a", type="ticket.assigned", at=at, ticket_id=new.id, data=data)
        )
    changes = {
        name: [_plain(getattr(old, name)), _plain(getattr(new, name))]
        for name in TRACKED
        if getattr(old, name) != getattr(new, name)
    }
    if changes:
        found.append(
            LiveEvent(
                id=f"{event_id}#u", type="ticket.updated", at=at, ticket_id=new.id, data={"changes": changes}
            )
        )
    return found


def _event(
    event_id: str, kind: LiveEventType, at: datetime, ticket_id: str, data: dict[str, Any]
) -> LiveEvent:
    return LiveEvent(id=event_id, type=kind, at=at, ticket_id=ticket_id, data=data)


def _plain(value: Any) -> Any:
    return value.value if hasattr(value, "value") else value


def change_events(record: Mapping[str, Any]) -> list[LiveEvent]:
    """The events one tickets-stream record makes (`record_events`), with its sequence number."""
    sequence = str(record["dynamodb"].get("SequenceNumber") or "").rjust(40, "0")
    return [event.model_copy(update={"sequence": sequence}) for event in record_events(record)]


def record_events(record: Mapping[str, Any]) -> list[LiveEvent]:
    """The events one tickets-stream record makes: a ticket created, assigned or changed; a message
    stored (customer reply, agent reply, note); an SLA warning or breach recorded by the sweeper.
    A note naming agents (`note_added` with `mentions`) makes a `mention` for each of them alone.
    Everything else (views, search entries, ledgers, internal fields) makes none."""
    raw: Mapping[str, Any] = record["dynamodb"]
    keys, new_image, old_image = raw["Keys"], raw.get("NewImage"), raw.get("OldImage")
    sort_key, event_id, at = keys["sk"]["S"], str(record["eventID"]), _record_time(raw)
    ticket_id = keys["pk"]["S"].removeprefix("TICKET#")
    if keys["pk"]["S"].startswith("TICKET#") and sort_key.startswith("VIEWER#"):
        return _presence_events(event_id, ticket_id, old_image, new_image, at)
    if not keys["pk"]["S"].startswith("TICKET#") or not new_image:
        return []
    if sort_key == "TICKET":
        old = ticket_from_stream_image(old_image) if old_image else None
        return _ticket_events(event_id, old, ticket_from_stream_image(new_image), at)
    if record.get("eventName") != "INSERT":
        return []
    if sort_key.startswith("MSG#"):
        return _message_event(event_id, ticket_id, new_image, at)
    kind = new_image.get("type", {}).get("S")
    if sort_key.startswith("EVENT#") and kind == "note_added":
        return _mention_events(event_id, ticket_id, _json(new_image), at)
    if sort_key.startswith("EVENT#") and kind in SLA_EVENTS:
        data = {k: v for k, v in _json(new_image).items() if k in {"target", "due_at", "warn_at"}}
        return [
            LiveEvent(
                id=event_id, type=SLA_EVENTS[kind], at=at, ticket_id=ticket_id, audience="owners", data=data
            )
        ]
    return []


def _presence_events(
    event_id: str,
    ticket_id: str,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
    at: datetime,
) -> list[LiveEvent]:
    """An agent began viewing or composing, or left (their UI said so, or stopped confirming and
    the TTL removed them); a confirmation of the same state is no event, unless it had lapsed (the
    others dropped the viewer at its `until`: they are told again)."""
    before = (old or {}).get("state", {}).get("S")
    if old and new and int(old["expires_at"]["N"]) < clock.parse_iso(new["at"]["S"]).timestamp():
        before = None
    after = (new or {}).get("state", {}).get("S") or "left"
    if before == after:
        return []
    image = new or old or {}
    data: dict[str, Any] = {"agent": image.get("agent_id", {}).get("S"), "state": after}
    if new and "expires_at" in new:
        data["until"] = datetime.fromtimestamp(int(new["expires_at"]["N"]), UTC).isoformat()
    return [_event(event_id, "presence.changed", at, ticket_id, data)]


def _mention_events(event_id: str, ticket_id: str, data: Mapping[str, Any], at: datetime) -> list[LiveEvent]:
    """A note named agents: an event for each of them alone, naming the note and its author (what
    `ticket.note` says), never its text."""
    named = data.get("mentions")
    agents = [a for a in named if isinstance(a, str)] if isinstance(named, list) else []
    note = {"message_id": data.get("message_id"), "by": data.get("by")}
    return [
        LiveEvent(
            id=f"{event_id}#m{index}",
            type="mention",
            at=at,
            ticket_id=ticket_id,
            audience="mentioned",
            data={"agent": agent, **note},
        )
        for index, agent in enumerate(agents)
    ]


def _json(image: Mapping[str, Any]) -> dict[str, Any]:
    text = image.get("data", {}).get("S")
    found = json.loads(text) if text else {}
    return found if isinstance(found, dict) else {}


def _message_event(event_id: str, ticket_id: str, image: Mapping[str, Any], at: datetime) -> list[LiveEvent]:
    message = message_from_stream_image(dict(image))
    if message.automatic:
        return []
    data = {
        "message_id": message.id,
        "by": message.author,
        "channel": message.channel.value,
        "message_at": message.at.isoformat(),
    }
    kind = MESSAGE_EVENTS[message.direction]
    return [LiveEvent(id=event_id, type=kind, at=at, ticket_id=ticket_id, data=data)]


def reaches(event: LiveEvent, ticket: Ticket, scope: Principal) -> bool:
    """Whether the agent is told: viewers, everyone who sees the ticket; mentioned, the agent named,
    if they see it; owners, its assignee and the supervisors of its team (an admin only as its
    assignee or a team supervisor)."""
    if event.audience == "viewers":
        return visible(scope, ticket)
    if event.audience == "mentioned":
        return scope.agent_id == event.data.get("agent") and visible(scope, ticket)
    if ticket.assignee == scope.agent_id:
        return True
    return scope.role >= Role.SUPERVISOR and ticket.team is not None and ticket.team in scope.teams


def audience_partitions(ticket: Ticket, event: LiveEvent | None = None) -> list[tuple[str, str]]:
    """Where the connections that may be told about the ticket are kept: the named agent's for a
    mention; all of them for a ticket no team owns (everyone sees it); else its team's, its
    assignee's and the admins'."""
    if event is not None and event.audience == "mentioned":
        return [("agent", str(event.data.get("agent")))]
    if ticket.team is None:
        return [("all", "*")]
    found = [("team", ticket.team), ("admin", "*")]
    if ticket.assignee:
        found.append(("agent", ticket.assignee))
    return found


def recipients(
    event: LiveEvent, ticket: Ticket, connections: Iterable[LiveConnection]
) -> list[LiveConnection]:
    """The connections the event reaches, each once, in connection id order."""
    unique = {c.connection_id: c for c in connections}
    return [unique[k] for k in sorted(unique) if reaches(event, ticket, scope_of(unique[k]))]


def encode(event: LiveEvent, ticket: Ticket) -> bytes:
    return json.dumps(event.message(live_ticket(ticket)), separators=(",", ":")).encode("utf-8")


def connection_partitions(connection: LiveConnection) -> list[tuple[str, str]]:
    """The partitions a connection is listed in (`audience_partitions` reads them)."""
    found = [("all", "*"), ("agent", connection.agent_id)]
    found += [("team", team) for team in connection.teams]
    if connection.role >= Role.ADMIN:
        found.append(("admin", "*"))
    return found


PUSH_WORKERS = 16
"""Connections posted to at once: a change reaching 500 agents takes about 500 / 16 round trips."""


class LiveReads(Protocol):
    def get_ticket(self, ticket_id: str) -> Ticket | None: ...

    def connections_in(self, partitions: Sequence[Partition], now: datetime) -> list[LiveConnection]: ...

    def drop_connection(self, connection_id: str) -> LiveConnection | None: ...


@dataclass(frozen=True)
class PushOutcome:
    reached: int
    gone: int
    """Connections found closed: removed, so the next push does not try them."""


def push_event(event: LiveEvent, reads: LiveReads, pusher: Pusher, now: datetime) -> PushOutcome:
    """Post the event to every connection whose agent may see its ticket as it is now (a ticket
    gone or moved away since the change is judged as it is: nobody learns of what they may not
    see); a connection found gone is removed."""
    ticket = reads.get_ticket(event.ticket_id)
    if ticket is None:
        return PushOutcome(0, 0)
    targets = recipients(event, ticket, reads.connections_in(audience_partitions(ticket, event), now))
    data = encode(event, ticket)
    with ThreadPoolExecutor(max_workers=PUSH_WORKERS) as pool:
        delivered = list(pool.map(lambda c: pusher.post(c.connection_id, data), targets))
    gone = [c.connection_id for c, ok in zip(targets, delivered, strict=True) if not ok]
    for connection_id in gone:
        reads.drop_connection(connection_id)
    return PushOutcome(len(targets) - len(gone), len(gone))


CATCH_UP = timedelta(hours=24)
"""How far back `GET /changes` reads: a UI away longer reloads its views instead."""


class ChangeReads(Protocol):
    def changes_after(self, after: str, until: datetime, limit: int) -> ChangePage: ...

    def get_ticket(self, ticket_id: str) -> Ticket | None: ...


@dataclass(frozen=True)
class ChangesPage:
    changes: list[dict[str, Any]]
    """Each as a push delivers it (`LiveEvent.message`), oldest first."""
    next_cursor: str | None


def _is_change_key(text: str) -> bool:
    moment, _, rest = text.partition("#")
    return bool(rest) and _is_time(moment)


def _is_time(text: str) -> bool:
    try:
        clock.parse_iso(text)
    except ValueError:
        return False
    return True


def changes_since(
    caller: Principal,
    reads: ChangeReads,
    since: datetime | None,
    cursor: str | None,
    limit: int,
    now: datetime,
) -> ChangesPage:
    """The changes the caller would have been pushed since `since` (or after the cursor of the page
    before), judged on the tickets as they are now: what a UI missed while not connected."""
    if cursor is not None:
        after = decode_cursor(cursor, 1, _is_change_key)[0]
        start = clock.parse_iso(after.partition("#")[0])
    elif since is not None:
        after, start = clock.iso(since), since
    else:
        raise InvalidRequestError("since: the time of the last change the UI had (or a cursor)")
    if start < now - CATCH_UP:
        raise InvalidRequestError("since: at most 24 hours back; reload the views instead")
    events, last = reads.changes_after(after, now, limit)
    tickets = {
        ticket_id: reads.get_ticket(ticket_id) for ticket_id in dict.fromkeys(e.ticket_id for e in events)
    }
    changes = [
        event.message(live_ticket(ticket))
        for event in events
        if (ticket := tickets[event.ticket_id]) is not None and reaches(event, ticket, caller)
    ]
    return ChangesPage(changes, encode_cursor([last]) if last is not None else None)


PRESENCE_STATES = ("viewing", "composing", "left")


class PresenceReads(TicketViewers, Protocol):
    """The viewers of a ticket (shared.dal.live), the connection that speaks and the ticket."""

    def get_connection(self, connection_id: str) -> LiveConnection | None: ...

    def get_ticket(self, ticket_id: str) -> Ticket | None: ...


def note_presence(connection_id: str, body: Mapping[str, Any], reads: PresenceReads, now: datetime) -> bool:
    """An agent's UI says they view a ticket, compose a reply on it, or left it (`{"action":
    "presence", "ticket_id": ..., "state": ...}`, every 30 seconds while it holds); recorded with a
    short life for the ticket's other viewers to be told, and when the state began, for the span of
    work it ends to be kept (False: the same state, confirmed recently; nothing written).
    InvalidRequestError for a body that says something else; NotAuthenticatedError for a connection
    we do not hold; TicketNotFoundError for a ticket the agent may not see."""
    state, ticket_id = body.get("state"), body.get("ticket_id")
    if state not in PRESENCE_STATES or not isinstance(ticket_id, str) or not 0 < len(ticket_id) <= 100:
        raise InvalidRequestError(
            'send {"action": "presence", "ticket_id": "...", "state": "viewing|composing|left"}'
        )
    connection = reads.get_connection(connection_id)
    if connection is None:
        raise NotAuthenticatedError("this connection is not admitted (connect again)")
    ticket = reads.get_ticket(ticket_id)
    if ticket is None or not visible(scope_of(connection), ticket):
        raise TicketNotFoundError(f"no ticket {ticket_id}")
    agent = connection.agent_id
    if state == "left":
        return reads.drop_viewer(ticket_id, agent)
    stored = reads.get_viewer(ticket_id, agent)
    since = viewer_since(stored, state, now)
    if since is None:
        return False
    return reads.put_viewer(ticket_id, agent, state, since, now, connection_id, stored)
