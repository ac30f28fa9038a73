"""Answers on public tickets (decision 90): a private reply to the author of the latest comment or
mention, once per comment, and an agent's ordinary reply going out in public under the comment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.channels.social_outbound import (
    HEADER_LAST_INBOUND_AT,
    HEADER_PRIVATE_REPLY_TO,
    HEADER_PUBLIC_REPLY_TO,
)
from shared.config import parse_config
from shared.dal.pointers import Pointer
from shared.dal.tickets import NewTicketWrite
from shared.logic.agent_actions import IdempotencyKeyReusedError, InvalidRequestError
from shared.logic.agent_replies import agent_reply
from shared.logic.outbound import OutboundContext
from shared.logic.social_replies import PrivateReplyRefusedError, PrivateReplySentError, private_reply
from shared.models.ticket import Channel, Customer, Direction, Message, Ticket
from tests.fakes import MemoryRepository

AT = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
LATER = AT + timedelta(hours=2)
CONFIG = parse_config(
    "teams: [{id: support}]\nagents: [{id: alice, teams: [support]}, {id: bob, teams: [support]}]\n",
    "replies",
)
ACCOUNTS = {
    Channel.MESSENGER: "102938475610293",
    Channel.INSTAGRAM: "17841405726653026",
    Channel.X: "4337869213",
}
AUTHOR = "5813213455891442"
COMMENT = "102938475610293_8877665544332211"


def seeded(
    repo: MemoryRepository,
    channel: Channel = Channel.MESSENGER,
    kind: str = "comment",
    public: bool = True,
    comment: str = COMMENT,
    **headers: str,
) -> Ticket:
    """A ticket opened by a customer's comment (or mention, or private message) as ingestion leaves it."""
    ticket = Ticket(
        id="t1",
        number=1042,
        channel=channel,
        customer_id="c1",
        created_at=AT,
        updated_at=AT,
        last_inbound_at=AT,
        inbox=ACCOUNTS[channel],
        flags=["public"] if public else [],
    )
    first = Message(
        id="m1",
        ticket_id="t1",
        direction=Direction.INBOUND,
        channel=channel,
        at=AT,
        author=AUTHOR,
        external_id=comment,
        flags=["public"] if public else [],
        headers={"kind": kind, **headers},
        text="My order #4821 still hasn't shipped",
    )
    repo.create_ticket(
        NewTicketWrite(
            ticket=ticket,
            message=first,
            pointers=[Pointer("number", "1042", ticket_id="t1")],
            new_customer=Customer(id="c1", name="Jane", created_at=AT),
        )
    )
    return ticket


def context(repo: MemoryRepository) -> OutboundContext:
    return OutboundContext(
        repository=repo,
        config=CONFIG,
        support_addresses=["help@support.example"],
        support_domain="support.example",
    )


def events(repo: MemoryRepository, kind: str) -> list[dict[str, object]]:
    return [e.data for e in repo.list_events("t1") if e.type == kind]


def test_a_private_reply_answers_the_comments_author_through_the_comment_and_is_recorded() -> None:
    # Given a Page comment ticket
    repo = MemoryRepository()
    ticket = seeded(repo)
    # When alice moves the comment to a private conversation
    queued = private_reply(ticket, "Could you send us your order number?", "alice", context(repo), LATER)
    # Then one reply is queued, naming the comment and its time (Meta's 7 days count from it)
    assert (queued.channel, queued.to, queued.from_address, queued.kind) == (
        "messenger",
        AUTHOR,
        ACCOUNTS[Channel.MESSENGER],
        "reply",
    )
    assert queued.headers == {
        HEADER_PRIVATE_REPLY_TO: COMMENT,
        HEADER_LAST_INBOUND_AT: "2026-03-02T10:00:00.000Z",
    }
    assert (queued.automatic, queued.author, queued.status) == (False, "alice", "pending")
    assert repo.list_outbound() == [queued]
    # And the ticket says who moved which comment
    assert events(repo, "private_reply_queued") == [
        {"by": "alice", "comment_id": COMMENT, "channel": "messenger", "to": AUTHOR, "key": queued.key}
    ]


def test_one_private_reply_per_comment_whoever_asks_and_a_retry_gets_the_first() -> None:
    repo = MemoryRepository()
    ticket = seeded(repo)
    ctx = context(repo)
    first = private_reply(ticket, "Please DM us.", "alice", ctx, LATER, idempotency_key="k-1")

    # When the same request is retried, it gets the reply queued the first time, recorded once
    assert private_reply(ticket, "Please DM us.", "alice", ctx, LATER, idempotency_key="k-1") == first
    # But another private reply to the same comment, by anyone, is refused
    with pytest.raises(
        PrivateReplySentError, match=f"a private reply to {COMMENT} was already queued by alice"
    ):
        private_reply(ticket, "Me too.", "bob", ctx, LATER)
    with pytest.raises(PrivateReplySentError):
        private_reply(ticket, "Other text.", "alice", ctx, LATER, idempotency_key="k-1")
    with pytest.raises(PrivateReplySentError):
        private_reply(ticket, "Please DM us.", "alice", ctx, LATER)  # no key: not a retry
    assert len(repo.list_outbound()) == 1
    assert len(events(repo, "private_reply_queued")) == 1


@pytest.mark.parametrize(
    ("setup", "now", "match"),
    [
        ({"public": False}, LATER, "private conversation already"),
        ({}, AT + timedelta(days=7), "within 7 days of the comment"),
        ({"kind": "mention"}, LATER, "answer comments on our messenger posts"),
        ({"channel": Channel.INSTAGRAM, "kind": "mention"}, LATER, "latest item of ticket 1042 is a mention"),
    ],
)
def test_a_private_reply_the_platform_would_not_take_is_refused(
    setup: dict, now: datetime, match: str
) -> None:
    repo = MemoryRepository()
    ticket = seeded(repo, **setup)
    with pytest.raises(PrivateReplyRefusedError, match=match):
        private_reply(ticket, "Hello", "alice", context(repo), now)
    assert repo.list_outbound() == []
    assert events(repo, "private_reply_queued") == []


def test_a_private_reply_must_fit_the_one_message_meta_allows() -> None:
    repo = MemoryRepository()
    ticket = seeded(repo, channel=Channel.INSTAGRAM, comment="17865799348089039")
    with pytest.raises(InvalidRequestError, match="at most 1,000 bytes"):
        private_reply(ticket, "é" * 501, "alice", context(repo), LATER)


def test_an_x_mention_is_answered_privately_by_dm_to_its_author_at_any_age() -> None:
    repo = MemoryRepository()
    ticket = seeded(repo, channel=Channel.X, kind="mention", comment="1879210000000000000")

    queued = private_reply(ticket, "x" * 3000, "alice", context(repo), AT + timedelta(days=30))

    assert (queued.channel, queued.to, queued.headers[HEADER_PRIVATE_REPLY_TO]) == (
        "x",
        AUTHOR,
        "1879210000000000000",
    )


def test_an_agents_reply_on_a_public_ticket_goes_under_the_comment_whatever_its_age() -> None:
    # Given a Page comment written 10 days ago (beyond any messaging window)
    repo = MemoryRepository()
    ticket = seeded(repo)
    # When alice replies as on any ticket
    queued = agent_reply(ticket, "We are on it!", "alice", context(repo), AT + timedelta(days=10))
    # Then it answers the comment in public, not as a message to its author
    assert queued.headers == {HEADER_PUBLIC_REPLY_TO: COMMENT}
    assert (queued.channel, queued.to, queued.from_address) == (
        "messenger",
        AUTHOR,
        ACCOUNTS[Channel.MESSENGER],
    )


@pytest.mark.parametrize(
    ("setup", "text", "error", "match"),
    [
        (
            {"channel": Channel.X, "kind": "mention"},
            "x" * 281,
            InvalidRequestError,
            "one post of at most 280",
        ),
        (
            {"channel": Channel.INSTAGRAM, "kind": "mention"},
            "Hi",
            InvalidRequestError,
            "answer it on Instagram",
        ),
        ({"channel": Channel.INSTAGRAM, "live": "true"}, "Hi", InvalidRequestError, "live video"),
    ],
)
def test_a_public_reply_the_platform_would_not_take_is_refused(
    setup: dict, text: str, error: type[Exception], match: str
) -> None:
    repo = MemoryRepository()
    ticket = seeded(repo, **setup)
    with pytest.raises(error, match=match):
        agent_reply(ticket, text, "alice", context(repo), LATER)
    assert repo.list_outbound() == []


def test_a_reply_key_reused_for_other_text_on_a_public_ticket_is_still_refused() -> None:
    repo = MemoryRepository()
    ticket = seeded(repo)
    agent_reply(ticket, "One", "alice", context(repo), LATER, idempotency_key="k")
    with pytest.raises(IdempotencyKeyReusedError):
        agent_reply(ticket, "Two", "alice", context(repo), LATER, idempotency_key="k")


def test_no_automatic_message_is_posted_under_a_public_comment_and_why_is_recorded() -> None:
    from shared.logic.automatic import PUBLIC_CONVERSATION, acknowledge

    # Given a ticket opened by a comment on our post, and one opened by a private message
    repo = MemoryRepository()
    public = seeded(repo)
    # When the acknowledgement is due
    queued, why = acknowledge(public, context(repo), AT)
    # Then none goes out (not under the comment, not as a DM Meta refuses), and the ticket says why
    assert (queued, why) == (None, PUBLIC_CONVERSATION)
    assert events(repo, "followup_suppressed") == [{"kind": "ack", "why": PUBLIC_CONVERSATION}]
    private_repo = MemoryRepository()
    queued, why = acknowledge(seeded(private_repo, public=False), context(private_repo), AT)
    assert (queued is not None, why) == (True, "queued")
