"""The measure of the one ingest pipeline: a channel it has never seen, defined here, is a parser,
a threading key and a sender, and the pipeline stores its messages unchanged.

The toy channel is a contact form on a web site: each submission is an HTTP body with the form's
id, a submission id, the visitor's email address and name, and the text they typed. Its parser
turns a submission into the normalised `InboundMessage`; its deduplication key is the submission
id scoped by the form; its threading key is the form and the visitor's address (one conversation
per visitor and form); replies go to the visitor by email, so its sender is the email sender
outbound already has. See docs/adding-a-channel.md.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.config import load_config
from shared.dal.repository import DynamoRepository
from shared.logic.ingest_message import ChatContext, ConversationInbound
from shared.logic.ingest_pipeline import IngestResult, ingest
from shared.models.inbound import InboundMessage
from shared.models.ticket import Channel, Identity, IdentityKind
from simulator.resources import Deployment

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
REPLY_CHANNEL = Channel.EMAIL
"""The form has no transport of its own: agents answer the visitor by email (outbound's sender)."""


def parse_form(body: str) -> InboundMessage:
    """The toy channel's parser: one form submission as a normalised inbound message."""
    fields: dict[str, Any] = json.loads(body)
    visitor = fields["email"].strip().lower()
    return InboundMessage(
        channel=REPLY_CHANNEL,
        provider_message_id=f"webform-{fields['submission_id']}",
        conversation_key=threading_key(fields["form_id"], visitor),
        sender=Identity(kind=IdentityKind.EMAIL, value=visitor),
        sender_name=fields.get("name"),
        recipient=f"webform:{fields['form_id']}",
        sent_at=datetime.fromisoformat(fields["submitted_at"]),
        text=fields["message"],
        metadata={"form": fields["form_id"]},
    )


def threading_key(form_id: str, visitor: str) -> str:
    """The toy channel's threading key: one conversation per visitor and form."""
    return f"webform:{form_id}:{visitor}"


def submission(submission_id: str, message: str, at: datetime) -> str:
    return json.dumps(
        {
            "form_id": "contact",
            "submission_id": submission_id,
            "email": "Ada@Customer.Example",
            "name": "Ada Lovelace",
            "message": message,
            "submitted_at": at.isoformat(),
        }
    )


def ingest_form(body: str, ctx: ChatContext) -> IngestResult:
    """The toy channel's use case: its parser, then the pipeline, through the conversation adapter."""
    return ingest(lambda: ConversationInbound(parse_form(body), ctx, body), ctx.repository, ctx.config)


def context(deployment: Deployment) -> ChatContext:
    return ChatContext(DynamoRepository(deployment.name("TicketsTable"), "us-east-1"), load_config())


def test_a_new_channel_opens_a_ticket_then_joins_it_without_an_edit_to_the_pipeline(
    deployment: Deployment,
) -> None:
    # Given a form submission from a visitor the helpdesk has never seen
    ctx = context(deployment)

    # When the submission and then a second one from the same visitor are ingested
    first = ingest_form(submission("s-1", "My order #8812 never arrived.", NOW), ctx)
    second = ingest_form(submission("s-2", "Any news on this?", NOW + timedelta(hours=1)), ctx)

    # Then the first opens a ticket for a new customer, and the second joins it by the threading key
    assert (first.outcome, second.outcome) == ("created", "threaded")
    assert second.ticket_id == first.ticket_id
    assert second.ticket_number == first.ticket_number
    assert (first.reason, second.reason) == ("new conversation", "conversation open")
    assert first.ticket_id is not None
    ticket = ctx.repository.get_ticket(first.ticket_id)
    assert ticket is not None
    assert ticket.channel == REPLY_CHANNEL
    assert ticket.inbox == "webform:contact"
    assert ticket.last_inbound_at == NOW + timedelta(hours=1)
    customer = ctx.repository.get_customer(ticket.customer_id)
    assert customer is not None
    assert customer.name == "Ada Lovelace"
    assert customer.identities == [Identity(kind=IdentityKind.EMAIL, value="ada@customer.example")]
    messages = ctx.repository.list_messages(ticket.id)
    assert [m.text for m in messages] == ["My order #8812 never arrived.", "Any news on this?"]
    assert [m.id for m in messages] == [first.message_id, second.message_id]
    assert {m.headers["form"] for m in messages} == {"contact"}
    assert [e.type for e in ctx.repository.list_events(ticket.id)][:2] == ["created", "message_threaded"]


def test_a_new_channel_gets_deduplication_from_the_pipeline(deployment: Deployment) -> None:
    # Given a form submission already ingested
    ctx = context(deployment)
    body = submission("s-1", "My order #8812 never arrived.", NOW)
    first = ingest_form(body, ctx)

    # When the same submission arrives again (a retried POST)
    again = ingest_form(body, ctx)

    # Then it is a duplicate and the ticket holds one message
    assert first.outcome == "created"
    assert (again.outcome, again.reason) == ("duplicate", "message already received")
    assert first.ticket_id is not None
    assert len(ctx.repository.list_messages(first.ticket_id)) == 1


def test_a_new_channel_finds_the_customer_other_channels_know(deployment: Deployment) -> None:
    # Given a visitor who wrote through the form about one thing
    ctx = context(deployment)
    first = ingest_form(submission("s-1", "My order #8812 never arrived.", NOW), ctx)

    # When the same visitor writes through another form (another conversation)
    other = submission("s-2", "Do you ship to Norway?", NOW + timedelta(minutes=5)).replace(
        '"contact"', '"shipping"'
    )
    second = ingest_form(other, ctx)

    # Then a second ticket opens for the same customer, found by the identity pointer
    assert (first.outcome, second.outcome) == ("created", "created")
    assert second.ticket_id != first.ticket_id
    assert first.ticket_id is not None
    assert second.ticket_id is not None
    earlier, later = ctx.repository.get_ticket(first.ticket_id), ctx.repository.get_ticket(second.ticket_id)
    assert earlier is not None
    assert later is not None
    assert later.customer_id == earlier.customer_id
    assert later.inbox == "webform:shipping"
