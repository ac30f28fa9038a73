"""The live workspace's pure parts: which stream changes become events, who they reach (the agent
API's permissions), the push fan-out with gone connections, and the ID token check of `$connect`."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.api.id_tokens import verify_id_token
from shared.config import parse_config
from shared.dal.tickets import NewTicketWrite, event_items, message_to_item, ticket_to_item
from shared.logic.agent_actions import NotAuthenticatedError, PermissionDeniedError
from shared.logic.live import (
    admit_connection,
    audience_partitions,
    change_events,
    connection_partitions,
    push_event,
    recipients,
)
from shared.models.live import LiveConnection, LiveEvent
from shared.models.ticket import Channel, Direction, Message, Ticket, TicketEvent, TicketStatus
from tests.fakes.repository import MemoryRepository

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
CONFIG = parse_config(
    """
teams: [{id: support}, {id: billing}]
agents:
  - {id: alice, teams: [support]}
  - {id: amy, teams: [support]}
  - {id: bob, teams: [billing]}
  - {id: sam, teams: [support]}
  - {id: root, teams: [billing]}
"""
)
NAMES = ("custom:agent_id", "supervisors", "admins")


def ticket(**fields: Any) -> Ticket:
    values: dict[str, Any] = {
        "id": "t1",
        "number": 7,
        "channel": Channel.EMAIL,
        "customer_id": "c1",
        "created_at": T0,
        "updated_at": T0,
        "team": "support",
    }
    return Ticket(**(values | fields))


def record(item: Any, old: Any = None, name: str = "MODIFY", event_id: str = "e1") -> dict[str, Any]:
    new_image = item.serialize()
    raw: dict[str, Any] = {
        "Keys": {"pk": new_image["pk"], "sk": new_image["sk"]},
        "NewImage": new_image,
        "ApproximateCreationDateTime": int(T0.timestamp()),
    }
    if old is not None:
        raw["OldImage"] = old.serialize()
    return {"eventID": event_id, "eventName": name, "dynamodb": raw}


def message(direction: Direction, author: str, automatic: bool = False) -> Message:
    return Message(
        id="m2",
        ticket_id="t1",
        direction=direction,
        channel=Channel.EMAIL,
        at=T0,
        author=author,
        text="secret text",
        automatic=automatic,
    )


# -- which changes become events ------------------------------------------------------------------


def test_a_new_ticket_is_created_and_a_change_says_what_changed() -> None:
    [created] = change_events(record(ticket_to_item(ticket()), name="INSERT"))
    assert (created.type, created.ticket_id, created.id) == ("ticket.created", "t1", "e1")

    before = ticket_to_item(ticket())
    after = ticket_to_item(ticket(assignee="alice", status=TicketStatus.OPEN, tags=["vip"]))
    assigned, updated = change_events(record(after, before))
    assert (assigned.type, assigned.data) == ("ticket.assigned", {"from": None, "to": "alice"})
    assert updated.type == "ticket.updated"
    assert updated.data["changes"] == {"status": ["new", "open"], "tags": [[], ["vip"]]}
    assert {assigned.id, updated.id} == {"e1#a", "e1#u"}  # one record, two events, distinct ids


def test_a_change_of_internal_fields_only_is_no_event() -> None:
    before = ticket_to_item(ticket())
    after = ticket_to_item(ticket(version=5, updated_at=T0 + timedelta(minutes=1)))
    assert change_events(record(after, before)) == []


def test_messages_are_events_without_their_text_automatic_ones_none() -> None:
    [wrote] = change_events(
        record(message_to_item(message(Direction.INBOUND, "jane@x.example")), name="INSERT")
    )
    assert (wrote.type, wrote.data["by"]) == ("ticket.customer_replied", "jane@x.example")
    assert "secret" not in wrote.model_dump_json()
    [note] = change_events(record(message_to_item(message(Direction.NOTE, "alice")), name="INSERT"))
    assert note.type == "ticket.note"
    automatic = message(Direction.OUTBOUND, "helpdesk", automatic=True)
    assert change_events(record(message_to_item(automatic), name="INSERT")) == []


def test_an_sla_warning_goes_to_the_owners_other_history_nowhere() -> None:
    warning = TicketEvent(
        at=T0, type="sla_warning", data={"target": "first_response", "warn_at": "x", "policy": "p"}
    )
    [item] = event_items("t1", [warning])
    [event] = change_events(record(item, name="INSERT"))
    assert (event.type, event.audience, event.data) == (
        "sla.warning",
        "owners",
        {"target": "first_response", "warn_at": "x"},
    )
    [other] = event_items("t1", [TicketEvent(at=T0, type="routed", data={})])
    assert change_events(record(other, name="INSERT")) == []


def test_a_note_naming_agents_is_a_mention_for_each_of_them_without_its_text() -> None:
    note = TicketEvent(
        at=T0, type="note_added", data={"by": "alice", "message_id": "m2", "mentions": ["amy", "bob"]}
    )
    [item] = event_items("t1", [note])
    amy, bob = change_events(record(item, name="INSERT"))
    assert (amy.type, amy.audience, amy.ticket_id, amy.data) == (
        "mention",
        "mentioned",
        "t1",
        {"agent": "amy", "message_id": "m2", "by": "alice"},
    )
    assert (bob.data["agent"], {amy.id, bob.id}) == ("bob", {"e1#m0", "e1#m1"})
    [plain] = event_items("t1", [TicketEvent(at=T0, type="note_added", data={"by": "a", "message_id": "m"})])
    assert change_events(record(plain, name="INSERT")) == []


# -- who is told -------------------------------------------------------------------------------


def connected(agent: str, role: int = 1, connection_id: str | None = None) -> LiveConnection:
    found = CONFIG.agent(agent)
    return LiveConnection(
        connection_id=connection_id or f"conn-{agent}",
        agent_id=agent,
        role=role,
        teams=list(found.teams) if found else [],
        connected_at=T0,
        expires_at=T0 + timedelta(hours=2),
    )


EVERYONE = [connected("alice"), connected("amy"), connected("bob"), connected("sam", 2), connected("root", 3)]


def told(event: LiveEvent, about: Ticket) -> list[str]:
    return [c.agent_id for c in recipients(event, about, EVERYONE)]


def test_changes_reach_whoever_sees_the_ticket_through_the_agent_api() -> None:
    created = LiveEvent(id="e", type="ticket.created", at=T0, ticket_id="t1")
    assert told(created, ticket()) == ["alice", "amy", "root", "sam"]
    # assigned across teams: the assignee sees it too
    assert told(created, ticket(assignee="bob")) == ["alice", "amy", "bob", "root", "sam"]
    # no team owns it: the shared inbox, everyone
    assert told(created, ticket(team=None)) == ["alice", "amy", "bob", "root", "sam"]


def test_an_sla_warning_reaches_the_assignee_and_the_teams_supervisors_only() -> None:
    warning = LiveEvent(id="e", type="sla.warning", at=T0, ticket_id="t1", audience="owners")
    assert told(warning, ticket(assignee="alice")) == ["alice", "sam"]
    assert told(warning, ticket()) == ["sam"]


def test_a_mention_reaches_the_named_agent_only_and_only_if_they_see_the_ticket() -> None:
    def mention(agent: str) -> LiveEvent:
        data = {"agent": agent, "message_id": "m2", "by": "alice"}
        return LiveEvent(id="e", type="mention", at=T0, ticket_id="t1", audience="mentioned", data=data)

    assert told(mention("amy"), ticket()) == ["amy"]
    assert told(mention("bob"), ticket()) == []  # billing does not see support's ticket
    assert told(mention("bob"), ticket(assignee="bob")) == ["bob"]  # unless it is his
    assert told(mention("root"), ticket()) == ["root"]  # an admin sees every ticket
    assert audience_partitions(ticket(), mention("amy")) == [("agent", "amy")]


def test_the_partitions_read_hold_every_connection_that_may_be_told() -> None:
    for about in (ticket(), ticket(assignee="bob"), ticket(team=None), ticket(team="billing")):
        read = set(audience_partitions(about))
        for connection in EVERYONE:
            event = LiveEvent(id="e", type="ticket.created", at=T0, ticket_id="t1")
            if recipients(event, about, [connection]):
                assert read & set(connection_partitions(connection)), (connection.agent_id, about.team)


# -- the push -------------------------------------------------------------------------------------


class RecordingPusher:
    def __init__(self, gone: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.sent: dict[str, list[bytes]] = {}
        self.gone = gone

    def post(self, connection_id: str, data: bytes) -> bool:
        if connection_id in self.gone:
            return False
        self.sent.setdefault(connection_id, []).append(data)
        return True


def seeded() -> MemoryRepository:
    repo = MemoryRepository()
    first = message(Direction.INBOUND, "jane@x.example").model_copy(update={"id": "m1"})
    repo.create_ticket(NewTicketWrite(ticket=ticket(), message=first))
    for connection in EVERYONE:
        repo.add_connection(connection, connection_partitions(connection))
    return repo


def test_a_push_reaches_the_allowed_connections_and_drops_gone_ones() -> None:
    import json

    repo = seeded()
    pusher = RecordingPusher(gone={"conn-amy"})
    event = LiveEvent(id="e9", type="ticket.created", at=T0, ticket_id="t1")

    outcome = push_event(event, repo, pusher, T0)

    assert (outcome.reached, outcome.gone) == (3, 1)
    assert sorted(pusher.sent) == ["conn-alice", "conn-root", "conn-sam"]
    sent = json.loads(pusher.sent["conn-alice"][0])
    assert (sent["id"], sent["type"], sent["ticket"]["number"], sent["ticket"]["team"]) == (
        "e9",
        "ticket.created",
        7,
        "support",
    )
    # amy's connection was gone: it is forgotten
    assert "conn-amy" not in [c.connection_id for c in repo.connections_in([("team", "support")], T0)]


def test_a_push_about_a_ticket_that_is_gone_reaches_nobody() -> None:
    pusher = RecordingPusher()
    event = LiveEvent(id="e9", type="ticket.created", at=T0, ticket_id="elsewhere")
    assert push_event(event, seeded(), pusher, T0).reached == 0
    assert pusher.sent == {}


# -- $connect: the ID token ------------------------------------------------------------------------

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_pool01"
CLIENT = "agentuiclient01"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def keys(kid: str) -> Any:
    if kid != "k1":
        raise KeyError(kid)
    return KEY.public_key()


def token(key: Any = KEY, kid: str = "k1", **claims: Any) -> str:
    now = int(T0.timestamp())
    body = {
        "sub": "uuid-alice",
        "iss": ISSUER,
        "aud": CLIENT,
        "token_use": "id",
        "iat": now,
        "exp": now + 3600,
        "custom:agent_id": "alice",
        "cognito:groups": ["supervisors"],
        **claims,
    }
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})


def test_a_valid_id_token_admits_the_agent_with_role_and_teams() -> None:
    claims = verify_id_token(token(), ISSUER, CLIENT, keys, T0)
    connection = admit_connection(claims, "c1", CONFIG, NAMES, T0)
    assert (connection.agent_id, connection.role, connection.teams) == ("alice", 2, ["support"])
    assert connection.expires_at - T0 == timedelta(hours=2, minutes=5)


@pytest.mark.parametrize(
    ("made", "why"),
    [
        (lambda: token(aud="anotherclient"), "not valid"),
        (lambda: token(iss="https://cognito-idp.us-east-1.amazonaws.com/other"), "not valid"),
        (lambda: token(token_use="access"), "ID token"),
        (lambda: token(exp=int(T0.timestamp()) - 120), "expired"),
        (lambda: token(iat=int(T0.timestamp()) + 600), "not valid yet"),
        (lambda: token(key=OTHER_KEY), "not valid"),
        (lambda: token(kid="k2"), "key the user pool does not have"),
        (lambda: jwt.encode({"iss": ISSUER}, "secret", algorithm="HS256", headers={"kid": "k1"}), "RS256"),
        (lambda: "not.a.token", "not valid"),
    ],
)
def test_a_token_that_does_not_prove_an_agent_is_refused(made: Any, why: str) -> None:
    with pytest.raises(NotAuthenticatedError, match=why):
        verify_id_token(made(), ISSUER, CLIENT, keys, T0)


def test_an_agent_the_config_does_not_know_is_refused_even_with_a_valid_token() -> None:
    claims = verify_id_token(token(**{"custom:agent_id": "mallory"}), ISSUER, CLIENT, keys, T0)
    with pytest.raises(PermissionDeniedError, match="mallory"):
        admit_connection(claims, "c1", CONFIG, NAMES, T0)


def test_the_tokens_times_are_checked_against_our_clock_not_the_hosts() -> None:
    # the simulator's clock is not the wall clock: a token of its time is valid at its time
    assert abs(time.time() - T0.timestamp()) > 3600
    assert verify_id_token(token(), ISSUER, CLIENT, keys, T0)["custom:agent_id"] == "alice"


# -- catching up after a reconnect -----------------------------------------------------------------


def test_a_reconnecting_ui_reads_what_it_missed_as_it_would_have_been_pushed() -> None:
    from shared.logic.agent_actions import InvalidRequestError
    from shared.logic.live import changes_since
    from shared.logic.permissions import Principal, Role

    repo = seeded()
    other = ticket(id="t2", number=8, team="billing")
    repo.create_ticket(
        NewTicketWrite(
            ticket=other,
            message=message(Direction.INBOUND, "x").model_copy(update={"id": "m9", "ticket_id": "t2"}),
        )
    )
    changes = [
        LiveEvent(id=f"e{n}", type="ticket.updated", at=T0 + timedelta(minutes=n), ticket_id=t)
        for n, t in enumerate(["t1", "t2", "t1", "t2", "t1"])
    ]
    changes.append(
        LiveEvent(id="w", type="sla.warning", at=T0 + timedelta(minutes=9), ticket_id="t1", audience="owners")
    )
    for change in changes:
        repo.record_change(change)
    alice = Principal("alice", Role.AGENT, frozenset({"support"}))
    now = T0 + timedelta(minutes=30)

    first = changes_since(alice, repo, T0 + timedelta(minutes=1), None, 1, now)
    seen = [c["id"] for c in first.changes]
    cursor = first.next_cursor
    while cursor is not None:
        page = changes_since(alice, repo, None, cursor, 1, now)
        seen += [c["id"] for c in page.changes]
        cursor = page.next_cursor
    # support's changes from minute 1 on; billing's are not hers; the warning is for the owners
    assert seen == ["e2", "e4"]
    sam = Principal("sam", Role.SUPERVISOR, frozenset({"support"}))
    assert [c["id"] for c in changes_since(sam, repo, T0, None, 100, now).changes] == ["e0", "e2", "e4", "w"]
    with pytest.raises(InvalidRequestError, match="24 hours"):
        changes_since(alice, repo, T0 - timedelta(hours=25), None, 10, T0)
    with pytest.raises(InvalidRequestError, match="since"):
        changes_since(alice, repo, None, None, 10, T0)


# -- presence on a ticket --------------------------------------------------------------------------


def viewer_record(old: str | None, new: str | None) -> dict[str, Any]:
    from shared.dal.live import viewer_item

    raw: dict[str, Any] = {
        "Keys": {"pk": {"S": "TICKET#t1"}, "sk": {"S": "VIEWER#alice"}},
        "ApproximateCreationDateTime": int(T0.timestamp()),
    }
    if old is not None:
        raw["OldImage"] = viewer_item("t1", "alice", old, T0 - timedelta(seconds=30)).serialize()
    if new is not None:
        raw["NewImage"] = viewer_item("t1", "alice", new, T0).serialize()
    name = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
    return {"eventID": "v1", "eventName": name, "dynamodb": raw}


def test_presence_changes_are_events_a_confirmation_is_none() -> None:
    [viewing] = change_events(viewer_record(None, "viewing"))
    assert (viewing.type, viewing.data["agent"], viewing.data["state"]) == (
        "presence.changed",
        "alice",
        "viewing",
    )
    assert viewing.data["until"] == (T0 + timedelta(seconds=90)).isoformat()
    assert change_events(viewer_record("viewing", "viewing")) == []
    [composing] = change_events(viewer_record("viewing", "composing"))
    assert composing.data["state"] == "composing"
    [left] = change_events(viewer_record("composing", None))  # said so, or the TTL removed it
    assert (left.data["agent"], left.data["state"]) == ("alice", "left")


def test_presence_is_noted_for_a_ticket_the_agent_sees_heartbeats_write_once_a_while() -> None:
    from shared.errors import TicketNotFoundError
    from shared.logic.agent_actions import InvalidRequestError
    from shared.logic.live import note_presence

    repo = seeded()
    body = {"action": "presence", "ticket_id": "t1", "state": "viewing"}
    assert note_presence("conn-alice", body, repo, T0) is True
    assert note_presence("conn-alice", body, repo, T0 + timedelta(seconds=30)) is False  # a heartbeat
    assert note_presence("conn-alice", body, repo, T0 + timedelta(seconds=50)) is True  # refreshed
    assert (
        note_presence("conn-alice", {**body, "state": "composing"}, repo, T0 + timedelta(seconds=55)) is True
    )
    [viewer] = repo.ticket_viewers("t1", T0 + timedelta(seconds=60))
    assert (viewer.agent_id, viewer.state) == ("alice", "composing")
    assert repo.ticket_viewers("t1", T0 + timedelta(minutes=5)) == []  # unconfirmed: gone
    assert note_presence("conn-alice", {**body, "state": "left"}, repo, T0 + timedelta(seconds=70)) is True
    assert repo.ticket_viewers("t1", T0 + timedelta(seconds=71)) == []
    with pytest.raises(TicketNotFoundError):  # bob's team does not see it
        note_presence("conn-bob", body, repo, T0)
    with pytest.raises(NotAuthenticatedError):
        note_presence("conn-unknown", body, repo, T0)
    with pytest.raises(InvalidRequestError):
        note_presence("conn-alice", {**body, "state": "dancing"}, repo, T0)
    with pytest.raises(InvalidRequestError):  # never a key DynamoDB would refuse
        note_presence("conn-alice", {**body, "ticket_id": "t" * 3000}, repo, T0)
