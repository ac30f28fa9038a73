"""The reply lock's pure parts: what an agent has not seen, and what of it is a collision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.dal.outbox import REPLY_LOCK
from shared.dal.pointers import Pointer
from shared.logic.agent_actions import InvalidRequestError
from shared.logic.reply_lock import (
    collision_message,
    in_flight_change,
    message_changes,
    unseen_messages,
)
from shared.models.outbound import OutboundMessage
from shared.models.ticket import Channel, Direction, Message

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def message(id: str, minute: int, direction: Direction, author: str, automatic: bool = False) -> Message:
    return Message(
        id=id,
        ticket_id="t1",
        direction=direction,
        channel=Channel.EMAIL,
        at=T0 + timedelta(minutes=minute),
        author=author,
        text=f"text of {id} " * 20,
        automatic=automatic,
    )


CONVERSATION = [
    message("m3", 3, Direction.OUTBOUND, "bob"),
    message("m1", 1, Direction.INBOUND, "jane@customer.example"),
    message("m2", 2, Direction.OUTBOUND, "helpdesk", automatic=True),
    message("m4", 4, Direction.NOTE, "carol"),
    message("m5", 5, Direction.INBOUND, "jane@customer.example"),
    message("m6", 6, Direction.OUTBOUND, "alice"),
]


def test_unseen_are_the_messages_after_the_seen_one_in_time_order() -> None:
    assert [m.id for m in unseen_messages(CONVERSATION, "m2")] == ["m3", "m4", "m5", "m6"]
    assert unseen_messages(CONVERSATION, "m6") == []
    assert unseen_messages(CONVERSATION, None) == []


def test_a_seen_message_not_on_the_ticket_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="seen_message_id"):
        unseen_messages(CONVERSATION, "elsewhere")


def test_answers_by_others_and_customer_messages_are_changes_notes_and_automatic_ones_not() -> None:
    changes = message_changes(unseen_messages(CONVERSATION, "m1"), "alice")
    assert [(c.kind, c.id, c.by) for c in changes] == [
        ("answered", "m3", "bob"),
        ("customer_wrote", "m5", "jane@customer.example"),
    ]
    assert all(len(c.preview) <= 140 for c in changes)
    assert changes[0].preview.endswith("…")


def reply(author: str, status: str) -> OutboundMessage:
    return OutboundMessage(
        key="r1",
        ticket_id="t1",
        channel="email",
        kind="reply",
        to="jane@customer.example",
        text="On its way",
        created_at=T0,
        author=author,
        status=status,
    )


LOCK = Pointer(REPLY_LOCK, "t1", ticket_id="t1", message_id="r1")


@pytest.mark.parametrize(
    ("author", "status", "collides"),
    [
        ("bob", "pending", True),
        ("bob", "retry", True),
        ("bob", "sent", False),
        ("bob", "failed", False),
        ("alice", "pending", False),
    ],
)
def test_only_another_agents_reply_not_yet_delivered_is_in_flight(
    author: str, status: str, collides: bool
) -> None:
    change = in_flight_change(LOCK, reply(author, status), "alice")
    assert (change is not None) == collides
    if change is not None:
        assert (change.kind, change.by, change.id) == ("reply_in_flight", "bob", "r1")
    assert in_flight_change(None, None, "alice") is None


def test_the_refusal_names_each_kind_once() -> None:
    changes = message_changes(unseen_messages(CONVERSATION, "m1"), "carol")
    text = collision_message(changes)
    assert text.count("the customer got an answer") == 1
    assert "the customer wrote" in text
    assert "confirm: true" in text
