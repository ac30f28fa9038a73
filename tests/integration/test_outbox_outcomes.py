"""The outbox on moto: what each sender's failure does to a message (retried, failed, or of unknown
outcome and never resent), the interval guard under concurrent automatic messages, and what the
automatic messages are rendered with."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

from shared import clock
from shared.channels.eum import EumSmsSender
from shared.channels.outbound import SesEmailSender, SnsSmsSender
from shared.channels.social_outbound import (
    HEADER_LAST_INBOUND_AT,
    HttpResponse,
    MetaSender,
    RequestNotSentError,
    XSender,
)
from shared.config import load_config
from shared.logic import templates
from shared.logic.agent_replies import agent_reply
from shared.logic.automatic import RECENT_AUTOMATIC, acknowledge, queue_automatic
from shared.logic.outbound import OutboundContext
from shared.logic.outbound_send import send_outbound
from shared.models.outbound import OutboundMessage
from shared.models.ticket import Ticket
from tests.integration.conftest import EmailHarness, mail, outbound_context, use_config
from tests.unit.test_send_outcomes import FailingClient, service_error
from tests.unit.test_social_outbound import FakeTransport, meta_error

MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
CONFIG = """
teams: [{id: support}]
agents: [{id: alice, teams: [support], default_presence: online}]
followups: {min_interval_minutes: 60}
email: {subject_token_prefix: "HD-"}
"""


@pytest.fixture
def outbound(email: EmailHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> OutboundContext:
    return outbound_context(email.repository, use_config(CONFIG, tmp_path, monkeypatch))


def new_ticket(email: EmailHarness, **kwargs: Any) -> Ticket:
    ticket = email.repository.get_ticket(email.deliver(mail(**kwargs))["ticket_id"])
    assert ticket is not None
    return ticket


# -- what each sender's failure does to the message ---------------------------------------------

PAGE, PSID, OUR_X, X_CUSTOMER = "102938475610293", "7392015648120394", "4337869213", "3001969357"
FAILURES = ("read timeout", "connect failure", "throttling", "refused")


def aws_failure(failure: str, throttled: str, refused: str) -> Exception:
    return {
        "read timeout": ReadTimeoutError(endpoint_url="https://aws.example"),
        "connect failure": EndpointConnectionError(endpoint_url="https://aws.example"),
        "throttling": service_error(throttled, 400),
        "refused": service_error(refused, 400),
    }[failure]


def http_failure(failure: str, refused: HttpResponse) -> HttpResponse | Exception:
    failures: dict[str, HttpResponse | Exception] = {
        "read timeout": TimeoutError("timed out"),
        "connect failure": RequestNotSentError("ConnectionRefusedError: [Errno 111] Connection refused"),
        "throttling": HttpResponse(429, meta_error(4, "Application request limit reached")),
        "refused": refused,
    }
    return failures[failure]


def page_token(channel: str, account: str) -> str:
    return "token"


SENDERS = {"ses": "email", "sns": "sms", "eum": "sms", "meta": "messenger", "x": "x"}
"""Each sender under test and the channel it sends."""


def failing_sender(name: str, failure: str) -> tuple[Any, Callable[[], int]]:
    """The sender `name` failing this way, and how many requests it has made."""
    if name in ("ses", "sns", "eum"):
        throttled, refused = {
            "ses": ("TooManyRequestsException", "MessageRejected"),
            "sns": ("Throttling", "InvalidParameter"),
            "eum": ("ThrottlingException", "ValidationException"),
        }[name]
        client: Any = FailingClient(aws_failure(failure, throttled, refused))
        sender: Any = {
            "ses": lambda: SesEmailSender("us-east-1", client),
            "sns": lambda: SnsSmsSender(client),
            "eum": lambda: EumSmsSender(client),
        }[name]()
        return sender, lambda: int(client.calls)
    if name == "meta":
        transport = FakeTransport([http_failure(failure, HttpResponse(400, meta_error(100)))])
        sender = MetaSender(page_token, transport=transport, now=lambda: MONDAY_10)
    else:
        transport = FakeTransport([http_failure(failure, HttpResponse(403, b'{"title": "Forbidden"}'))])
        sender = XSender(page_token, transport=transport, now=lambda: MONDAY_10)
    return sender, lambda: len(transport.requests)


ADDRESSES = {
    "email": ("customer@example.com", "support@support.example.com"),
    "sms": ("+14255550182", "+12125550101"),
    "messenger": (PSID, PAGE),
    "x": (X_CUSTOMER, OUR_X),
}


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("name", SENDERS)
def test_each_senders_failures_are_retried_failed_or_unknown(
    email: EmailHarness, outbound: OutboundContext, name: str, failure: str
) -> None:
    # Given an agent's reply in the outbox and a provider that fails this way
    channel = SENDERS[name]
    sender, requests = failing_sender(name, failure)
    outbound.senders[channel] = sender
    ticket = new_ticket(email)
    to, ours = ADDRESSES[channel]
    message = OutboundMessage(
        key=f"out#{name}",
        ticket_id=ticket.id,
        channel=channel,
        kind="reply",
        to=to,
        from_address=ours,
        subject="[#HD-1] Printer" if channel == "email" else None,
        text="Please restart the printer.",
        created_at=MONDAY_10,
        headers={HEADER_LAST_INBOUND_AT: clock.iso(MONDAY_10)},
    )
    assert email.repository.put_outbound(message, [])
    clock.set_clock(lambda: MONDAY_10)

    # When the outbox sends it
    outcome = send_outbound(message.key, outbound, MONDAY_10)

    # Then only a request that certainly never reached the customer is tried again
    expected = {"read timeout": "unknown", "connect failure": "retry", "throttling": "retry"}
    assert outcome == expected.get(failure, "failed")
    assert requests() == 1
    [item] = email.repository.list_outbound()
    assert item.status == ("retry" if outcome == "retry" else "failed")
    flags = email.repository.get_ticket(ticket.id).flags  # type: ignore[union-attr]
    events = [e for e in email.repository.list_events(ticket.id) if e.type.startswith("delivery_")]
    if outcome == "unknown":
        assert "delivery_unknown" in flags
        assert "delivery_failed" not in flags
        [event] = events
        assert (event.type, event.data["channel"], event.data["to"]) == ("delivery_unknown", channel, to)
        assert item.error is not None
        assert item.error.startswith("send outcome unknown")
        assert "not resent" in item.error
        # and nothing ever sends it again: no retry is scheduled, a redelivery is skipped
        assert email.repository.requeue_due_outbound(MONDAY_10 + timedelta(days=1)) == 0
        assert send_outbound(message.key, outbound, MONDAY_10 + timedelta(days=1)) == "skipped"
        assert requests() == 1
    elif outcome == "retry":
        assert [e.type for e in events] == ["delivery_retry"]
        assert not {"delivery_unknown", "delivery_failed"} & set(flags)
    else:
        assert [e.type for e in events] == ["delivery_failed"]
        assert "delivery_failed" in flags


# -- the interval guard under concurrent automatic messages -----------------------------------


class StaleReads:
    """The repository as seen by a process that read the customer's pointers before another wrote."""

    def __init__(self, repository: Any, pointers: dict[Any, Any]) -> None:
        self._repository, self._pointers = repository, pointers

    def __getattr__(self, name: str) -> Any:
        return getattr(self._repository, name)

    def get_pointers(self, keys: Any) -> dict[Any, Any]:
        return self._pointers


def test_two_acks_racing_for_one_customer_queue_one_and_suppress_the_other(
    email: EmailHarness, outbound: OutboundContext
) -> None:
    # Given two new tickets of one customer, whose acknowledgements both read the customer's
    # last-automatic pointer before either is queued
    first, second = new_ticket(email, subject="one"), new_ticket(email, subject="two")
    assert first.customer_id == second.customer_id
    read_before = email.repository.get_pointers([("lastauto", first.customer_id)])
    stale = replace(outbound, repository=StaleReads(email.repository, read_before))

    # When both are queued
    queued, why = acknowledge(first, outbound, MONDAY_10)
    late, late_why = acknowledge(second, stale, MONDAY_10 + timedelta(seconds=1))

    # Then one is pending, the other suppressed for the interval, as the guard would have
    assert (queued is not None, why) == (True, "queued")
    assert (late, late_why) == (None, RECENT_AUTOMATIC)
    statuses = {m.key: (m.status, m.error) for m in email.repository.list_outbound()}
    assert statuses == {
        f"ack#{first.id}": ("pending", None),
        f"ack#{second.id}": ("suppressed", RECENT_AUTOMATIC),
    }
    suppressed = [e for e in email.repository.list_events(second.id) if e.type == "followup_suppressed"]
    assert [e.data for e in suppressed] == [{"kind": "ack", "why": RECENT_AUTOMATIC}]
    # and a redelivery of the suppressed one is a duplicate, not a second chance
    assert acknowledge(second, outbound, MONDAY_10 + timedelta(hours=2)) == (None, "already acknowledged")


def test_two_acks_in_threads_for_one_customer_queue_exactly_one(
    email: EmailHarness, outbound: OutboundContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # moto is not thread-safe: each request is made atomic, processes still interleave between
    # their reads and writes (as in test_route_ticket)
    from botocore.client import BaseClient

    request_lock = threading.Lock()
    original = getattr(BaseClient, "_make_api_call")  # noqa: B009 - private botocore hook, patched for this test

    def atomic_call(self: Any, operation_name: str, api_params: Any) -> Any:
        with request_lock:
            return original(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", atomic_call)
    first, second = new_ticket(email, subject="one"), new_ticket(email, subject="two")
    both_read = threading.Barrier(2, timeout=30)
    put = email.repository.put_outbound

    def put_after_both_read(message: OutboundMessage, guards: list[Any], *rest: Any) -> bool:
        if guards:  # the guarded put: neither writes before both have passed the guard
            both_read.wait()
        return put(message, guards, *rest)

    monkeypatch.setattr(email.repository, "put_outbound", put_after_both_read)
    results: list[str] = []

    def ack(ticket: Ticket) -> None:
        results.append(acknowledge(ticket, outbound, MONDAY_10)[1])

    threads = [threading.Thread(target=ack, args=(t,)) for t in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(results) == sorted(["queued", RECENT_AUTOMATIC])
    assert sorted(m.status for m in email.repository.list_outbound()) == ["pending", "suppressed"]


def test_kinds_without_the_interval_guard_overwrite_the_pointer(
    email: EmailHarness, outbound: OutboundContext
) -> None:
    # Given an acknowledgement a minute ago, When the ticket is resolved and surveyed
    ticket = new_ticket(email)
    assert acknowledge(ticket, outbound, MONDAY_10)[1] == "queued"
    queued, why = queue_automatic(
        ticket, "csat", f"csat#{ticket.id}", outbound, MONDAY_10 + timedelta(minutes=1)
    )
    # Then the survey goes out (it answers the resolution) and becomes the customer's last one
    assert (queued is not None, why) == (True, "queued")
    pointer = email.repository.get_pointers([("lastauto", ticket.customer_id)])[
        ("lastauto", ticket.customer_id)
    ]
    assert pointer.created_at == clock.iso(MONDAY_10 + timedelta(minutes=1))


# -- what automatic messages are rendered with -------------------------------------------------


def test_automatic_messages_get_the_configured_ticket_token(
    email: EmailHarness, outbound: OutboundContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    contexts: list[dict[str, Any]] = []
    render = templates.render

    def capture(kind: str, part: str, language: str, context: dict[str, Any]) -> str:
        contexts.append(context)
        return render(kind, part, language, context)

    monkeypatch.setattr(templates, "render", capture)
    queued, _ = acknowledge(new_ticket(email), outbound, MONDAY_10)
    assert queued is not None
    assert {c["ticket"]["token"] for c in contexts} == {"[HD-1]"}


def test_whatsapp_reply_template_follows_the_detected_language(email: EmailHarness, tmp_path: Path) -> None:
    # Given a WhatsApp conversation silent for 30 hours, reply templates per language, and a ticket
    # whose language was not recorded
    from tests.integration.test_agent_replies import CONFIG as REPLIES
    from tests.integration.test_agent_replies import TEMPLATES, WHATSAPP_WROTE_AT
    from tests.integration.test_social_webhook import META_SECRET, meta_post
    from tests.integration.test_social_webhook import call as webhook

    boto3.client("secretsmanager").put_secret_value(
        SecretId=email.deployment.name("WebhookSecret"),
        SecretString=json.dumps(
            {"meta_app_secret": META_SECRET, "meta_verify_token": "t", "x_consumer_secret": "x"}
        ),
    )
    assert webhook(meta_post("meta_whatsapp_text.body"))["statusCode"] == 200
    [ticket] = email.repository.scan_tickets()
    path = tmp_path / "replies.yaml"
    path.write_text(REPLIES + TEMPLATES)
    ctx = OutboundContext(
        repository=email.repository,
        config=load_config(str(path)),
        support_addresses=["support@support.example.com"],
        support_domain="support.example.com",
        detect_language=lambda text: "de",
    )
    later = WHATSAPP_WROTE_AT + timedelta(hours=30)

    # When an agent replies
    reply = agent_reply(
        ticket.model_copy(update={"language": None}), "Ihre Erstattung ist unterwegs.", "alice", ctx, later
    )

    # Then the German template is chosen, as queue_automatic would choose German
    assert reply.template == "agent_antwort:de"
