"""The reply lock through the agent API (decision 108): two agents never send two answers to one
customer without knowing, including when they race."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared import clock
from shared.dal.outbox import REPLY_LOCK, DynamoOutbox
from shared.dal.pointers import Pointer
from shared.logic.outbound_send import send_outbound
from shared.models.outbound import OutboundMessage
from tests.integration.conftest import EmailHarness, mail
from tests.integration.test_agent_api import api, call  # noqa: F401 (the fixture)
from tests.integration.test_agent_replies import sender_context

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def ticking() -> None:
    moments = iter(T0 + timedelta(seconds=n) for n in range(10_000))
    clock.set_clock(lambda: next(moments))


def reply(text: str, agent: str = "alice", number: int = 1, **fields: Any) -> tuple[int, Any]:
    return call("POST", f"/tickets/{number}/replies", {"text": text, **fields}, agent=agent)


def messages(number: int = 1) -> list[dict[str, Any]]:
    """The ticket's conversation as the agent's screen shows it, the newest first."""
    status, body = call("GET", f"/tickets/{number}/messages")
    assert status == 200
    return list(body["messages"])


def test_a_reply_while_another_agents_is_in_flight_is_refused_with_it(api: EmailHarness) -> None:  # noqa: F811
    api.deliver(mail())
    assert reply("We are on it.", "alice")[0] == 202
    # bob answers while alice's reply is still in the outbox
    status, body = reply("Let me check.", "bob")
    assert status == 409
    assert body["type"].endswith("reply-collision")
    [change] = body["changes"]
    assert (change["kind"], change["by"], change["preview"]) == ("reply_in_flight", "alice", "We are on it.")
    assert [o.author for o in api.repository.list_outbound() if o.kind == "reply"] == ["alice"]
    # confirmed, it goes
    assert reply("Let me check.", "bob", confirm=True)[0] == 202
    assert sorted(o.author for o in api.repository.list_outbound() if o.kind == "reply") == ["alice", "bob"]


def test_the_same_agent_may_send_two_replies_in_a_row(api: EmailHarness) -> None:  # noqa: F811
    api.deliver(mail())
    assert reply("First part.")[0] == 202
    assert reply("Second part.")[0] == 202


def test_a_sent_answer_the_agent_has_not_seen_is_refused_until_confirmed(api: EmailHarness) -> None:  # noqa: F811
    api.deliver(mail())
    seen = messages()[0]["id"]
    status, body = reply("We are on it.", "alice")
    assert send_outbound(body["key"], sender_context(api, []), T0 + timedelta(minutes=1)) == "sent"
    # bob's screen still shows the customer's message only
    status, body = reply("Let me check.", "bob", seen_message_id=seen)
    assert status == 409
    assert [(c["kind"], c["by"]) for c in body["changes"]] == [("answered", "alice")]
    # after reading alice's answer, bob's reply goes without a confirmation
    latest = messages()[0]["id"]
    assert reply("Adding a detail.", "bob", seen_message_id=latest)[0] == 202


def test_a_customer_message_the_agent_has_not_read_is_a_change(api: EmailHarness) -> None:  # noqa: F811
    api.deliver(mail(message_id="<first@mail.customer.example>"))
    seen = messages()[0]["id"]
    follow_up = {"In-Reply-To": "<first@mail.customer.example>"}
    api.deliver(mail(subject="Re: Printer not working", body="Also, the box was open.", headers=follow_up))
    status, body = reply("Thanks!", "alice", seen_message_id=seen)
    assert status == 409
    [change] = body["changes"]
    assert change["kind"] == "customer_wrote"
    assert "box was open" in change["preview"]


def test_a_seen_message_of_another_ticket_is_refused(api: EmailHarness) -> None:  # noqa: F811
    api.deliver(mail())
    api.deliver(mail(message_id="<two@mail.customer.example>", sender="Bea <bea@other.example>"))
    other = messages(2)[0]["id"]
    status, body = reply("Hi", "alice", seen_message_id=other)
    assert status == 400
    assert "seen_message_id" in body["detail"]


def test_two_agents_racing_one_wins_the_other_learns_of_it(
    api: EmailHarness,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api.deliver(mail())
    # alice's request checks the ticket (nothing in flight); before its write, bob's reply is queued
    # (his request ran between alice's check and her write)
    real_put = DynamoOutbox.put_reply
    raced: list[int] = []

    def bob_first(self: DynamoOutbox, message: OutboundMessage, lock: Pointer, expected: str | None) -> bool:
        if message.author == "alice" and not raced:
            raced.append(1)
            monkeypatch.setattr(DynamoOutbox, "put_reply", real_put)
            assert reply("Answer from bob", "bob")[0] == 202
            monkeypatch.setattr(DynamoOutbox, "put_reply", bob_first)
        return real_put(self, message, lock, expected)

    monkeypatch.setattr(DynamoOutbox, "put_reply", bob_first)
    status, body = reply("Answer from alice", "alice")
    # alice's write finds the lock moved: refused, told of bob's reply; only bob's is queued
    assert raced
    assert status == 409
    assert [(c["kind"], c["by"]) for c in body["changes"]] == [("reply_in_flight", "bob")]
    replies = [o for o in api.repository.list_outbound() if o.kind == "reply"]
    assert [o.author for o in replies] == ["bob"]
    lock = api.repository.get_pointers([(REPLY_LOCK, replies[0].ticket_id or "")])
    assert [p.message_id for p in lock.values()] == [replies[0].key]
    # alice, having read bob's reply, confirms and sends
    assert reply("Answer from alice", "alice", confirm=True)[0] == 202


def test_a_retried_reply_is_not_a_collision_with_itself(api: EmailHarness) -> None:  # noqa: F811
    api.deliver(mail())
    key = {"Idempotency-Key": "5c1e0a6e-3f7b-4d0a-9a57-5f3c2d1e0a11"}
    first = call("POST", "/tickets/1/replies", {"text": "Hello"}, headers=key, agent="alice")
    again = call("POST", "/tickets/1/replies", {"text": "Hello"}, headers=key, agent="alice")
    assert first == again
    assert first[0] == 202


def test_a_macro_reply_is_under_the_same_lock(api: EmailHarness) -> None:  # noqa: F811
    api.deliver(mail())
    macro = {"title": "Restart", "body": "Please restart the printer."}
    status, created = call("POST", "/teams/support/macros", macro, supervisor=True, agent="bob")
    assert status == 201, created
    path = f"/tickets/1/macros/support/{created['macro']['id']}/apply"
    assert reply("We are on it.", "alice")[0] == 202
    status, body = call("POST", path, {}, agent="bob")
    assert status == 409
    assert [(c["kind"], c["by"]) for c in body["changes"]] == [("reply_in_flight", "alice")]
    assert call("POST", path, {"confirm": True}, agent="bob")[0] == 202
