"""Social senders: the messaging windows, Graph API and X request shapes, long texts, error mapping."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import pytest_socket
from aws_lambda_powertools.utilities import parameters  # imported at collection: urllib3 probes sockets

from shared import clock
from shared.channels.outbound import Sender, SendError
from shared.channels.social_outbound import (
    GRAPH_API_URL,
    HEADER_LAST_INBOUND_AT,
    HEADER_WHATSAPP_TEMPLATE,
    HEADER_WHATSAPP_TEMPLATE_PARAMS,
    X_API_URL,
    HttpRequest,
    HttpResponse,
    MetaSender,
    RequestNotSentError,
    XSender,
    messaging_window,
    secret_token_provider,
    social_senders,
    split_text,
)
from shared.models.outbound import OutboundMessage
from shared.models.ticket import Channel

NOW = datetime(2025, 1, 14, 12, 0, tzinfo=UTC)
PAGE = "102938475610293"
IG_ACCOUNT = "17841400000000001"
PHONE_NUMBER_ID = "106540352242922"
OUR_X = "4337869213"
PSID = "7392015648120394"
IGSID = "5882417790211234"
WA_PHONE = "+16505551234"
X_CUSTOMER = "3001969357"
TOKENS = {
    ("messenger", PAGE): "page-token-SECRET",
    ("instagram", IG_ACCOUNT): "ig-page-token-SECRET",
    ("whatsapp", PHONE_NUMBER_ID): "wa-token-SECRET",
    ("x", OUR_X): "x-user-token-SECRET",
}
ACCOUNTS = {"messenger": PAGE, "instagram": IG_ACCOUNT, "whatsapp": PHONE_NUMBER_ID, "x": OUR_X}
RECIPIENTS = {"messenger": PSID, "instagram": IGSID, "whatsapp": WA_PHONE, "x": X_CUSTOMER}
H = timedelta(hours=1)
D = timedelta(days=1)


def tokens(channel: str, account: str) -> str:
    return TOKENS[(channel, account)]


def message(
    channel: str = "messenger",
    *,
    text: str = "Your refund is on its way.",
    automatic: bool = False,
    wrote: timedelta | None = H,
    headers: dict[str, str] | None = None,
) -> OutboundMessage:
    """An outbox message on `channel`; `wrote` is how long ago the customer last wrote (None: never)."""
    headers = dict(headers or {})
    if wrote is not None:
        headers[HEADER_LAST_INBOUND_AT] = clock.iso(NOW - wrote)
    return OutboundMessage(
        key=f"out#{channel}",
        ticket_id="t-1",
        channel=channel,
        kind="update" if automatic else "reply",
        to=RECIPIENTS[channel],
        from_address=ACCOUNTS[channel],
        text=text,
        automatic=automatic,
        headers=headers,
        created_at=NOW,
    )


def ok(body: Any, status: int = 200, **headers: str) -> HttpResponse:
    return HttpResponse(status, json.dumps(body).encode(), headers)


@dataclass
class FakeTransport:
    """Records requests and answers from a script (one response or exception per call)."""

    script: list[HttpResponse | Exception] = field(default_factory=list)
    default: Callable[[HttpRequest], HttpResponse] | None = None
    requests: list[HttpRequest] = field(default_factory=list)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        self.requests.append(request)
        if self.script:
            answer = self.script.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        assert self.default is not None, "unexpected request"
        return self.default(request)


def meta_ok(request: HttpRequest) -> HttpResponse:
    return ok({"message_id": f"m_{len(request.body)}", "messages": [{"id": f"wamid.{len(request.body)}"}]})


def meta(transport: FakeTransport, **kwargs: Any) -> MetaSender:
    return MetaSender(tokens, transport=transport, now=lambda: NOW, **kwargs)


def x_sender(transport: FakeTransport, **kwargs: Any) -> XSender:
    return XSender(tokens, transport=transport, now=lambda: NOW, **kwargs)


# ---------------------------------------------------------------------------------------------
# The window decision table


@pytest.mark.parametrize(
    ("channel", "wrote", "automatic", "template", "allowed", "mode"),
    [
        # Messenger and Instagram: 24 h for anyone, up to 7 days for human agents (HUMAN_AGENT)
        ("messenger", H, False, False, True, "response"),
        ("messenger", H, True, False, True, "response"),
        ("messenger", 24 * H - timedelta(seconds=1), True, False, True, "response"),
        ("messenger", 24 * H, False, False, True, "human_agent"),
        ("messenger", 24 * H, True, False, False, "closed"),
        ("messenger", 3 * D, False, False, True, "human_agent"),
        ("messenger", 3 * D, True, False, False, "closed"),
        ("messenger", 7 * D - timedelta(seconds=1), False, False, True, "human_agent"),
        ("messenger", 7 * D, False, False, False, "closed"),
        ("messenger", 30 * D, False, False, False, "closed"),
        ("messenger", None, False, False, False, "closed"),
        ("instagram", 2 * H, True, False, True, "response"),
        ("instagram", 2 * D, False, False, True, "human_agent"),
        ("instagram", 2 * D, True, False, False, "closed"),
        ("instagram", 8 * D, False, False, False, "closed"),
        # a template changes nothing on Messenger
        ("messenger", 8 * D, False, True, False, "closed"),
        # WhatsApp: free-form text within 24 h, afterwards only an approved template
        ("whatsapp", H, False, False, True, "free_form"),
        ("whatsapp", H, True, True, True, "free_form"),
        ("whatsapp", 24 * H, False, False, False, "closed"),
        ("whatsapp", 24 * H, False, True, True, "template"),
        ("whatsapp", 30 * D, True, True, True, "template"),
        ("whatsapp", None, False, False, False, "closed"),
        ("whatsapp", None, True, True, True, "template"),
        # X: no documented window
        ("x", None, True, False, True, "direct_message"),
        ("x", 90 * D, False, False, True, "direct_message"),
    ],
)
def test_window_decision_table(channel, wrote, automatic, template, allowed, mode):
    # Given the customer's last message `wrote` ago (None: never)
    last = NOW - wrote if wrote is not None else None
    # When the window is checked for a human or automatic message
    decision = messaging_window(channel, last, NOW, automatic, template=template)
    # Then it is allowed (or not) in the expected form, with a reason
    assert (decision.allowed, decision.mode) == (allowed, mode)
    assert len(decision.reason) > 20


def test_window_reasons_say_what_applies():
    human = messaging_window("messenger", NOW - 3 * D, NOW, automatic=False)
    auto = messaging_window("messenger", NOW - 3 * D, NOW, automatic=True)
    late = messaging_window("instagram", NOW - 8 * D, NOW, automatic=False)
    wa = messaging_window("whatsapp", NOW - 2 * D, NOW, automatic=False)
    x = messaging_window("x", None, NOW, automatic=True)
    assert "3d 0h ago" in human.reason
    assert "HUMAN_AGENT" in human.reason
    assert "automatic" in auto.reason
    assert "24-hour" in auto.reason
    assert "7-day" in late.reason
    assert "template" in wa.reason
    assert "whatsapp_template" in wa.reason
    assert "X documents no messaging window" in x.reason


def test_window_maps_to_messenger_fields():
    inside = messaging_window(Channel.MESSENGER, NOW - H, NOW, automatic=True)
    tagged = messaging_window(Channel.INSTAGRAM, NOW - 2 * D, NOW, automatic=False)
    wa = messaging_window(Channel.WHATSAPP, NOW - H, NOW, automatic=False)
    assert (inside.messaging_type, inside.tag) == ("RESPONSE", None)
    assert (tagged.messaging_type, tagged.tag) == ("MESSAGE_TAG", "HUMAN_AGENT")
    assert (wa.messaging_type, wa.tag) == (None, None)


def test_window_treats_a_customer_clock_ahead_of_ours_as_just_now():
    decision = messaging_window("messenger", NOW + 5 * timedelta(minutes=1), NOW, automatic=True)
    assert decision.mode == "response"
    assert "0m ago" in decision.reason


def test_window_refuses_channels_without_rules():
    with pytest.raises(ValueError, match="sms"):
        messaging_window("sms", NOW, NOW, automatic=True)


# ---------------------------------------------------------------------------------------------
# Request shapes


def test_messenger_reply_inside_the_window():
    # Given a human reply one hour after the customer wrote
    transport = FakeTransport([ok({"recipient_id": PSID, "message_id": "m_AbC"})])
    # When it is sent
    provider_id = meta(transport).send(message("messenger"))
    # Then it is a RESPONSE to the PSID, posted to the Page with the Page token as a Bearer header
    assert provider_id == "m_AbC"
    (request,) = transport.requests
    assert (request.method, request.url) == ("POST", f"{GRAPH_API_URL}/{PAGE}/messages")
    assert request.headers["Authorization"] == "Bearer page-token-SECRET"
    assert request.headers["Content-Type"] == "application/json"
    assert "access_token" not in request.url
    assert request.json() == {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "Your refund is on its way."},
    }


def test_messenger_human_reply_after_24_hours_is_tagged_human_agent():
    transport = FakeTransport([ok({"message_id": "m_late"})])
    assert meta(transport).send(message("messenger", wrote=3 * D)) == "m_late"
    body = transport.requests[0].json()
    assert (body["messaging_type"], body["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")


def test_automatic_message_after_24_hours_is_refused_without_a_request():
    transport = FakeTransport()
    with pytest.raises(SendError, match="not an automatic message") as caught:
        meta(transport).send(message("messenger", automatic=True, wrote=30 * H))
    assert caught.value.permanent
    assert transport.requests == []


def test_message_without_last_inbound_time_is_refused():
    transport = FakeTransport()
    with pytest.raises(SendError, match="no customer message on record") as caught:
        meta(transport).send(message("instagram", wrote=None))
    assert caught.value.permanent
    assert transport.requests == []


def test_unreadable_last_inbound_time_is_refused():
    bad = message("messenger", wrote=None, headers={HEADER_LAST_INBOUND_AT: "yesterday"})
    with pytest.raises(SendError, match="ISO 8601") as caught:
        meta(FakeTransport()).send(bad)
    assert caught.value.permanent


def test_instagram_goes_to_me_messages_with_the_accounts_page_token():
    transport = FakeTransport([ok({"recipient_id": IGSID, "message_id": "aWdfZ"})])
    assert meta(transport).send(message("instagram", automatic=True)) == "aWdfZ"
    (request,) = transport.requests
    assert request.url == f"{GRAPH_API_URL}/me/messages"
    assert request.headers["Authorization"] == "Bearer ig-page-token-SECRET"
    assert request.json()["recipient"] == {"id": IGSID}


def test_whatsapp_text_inside_the_window():
    transport = FakeTransport([ok({"messaging_product": "whatsapp", "messages": [{"id": "wamid.HBgL1"}]})])
    assert meta(transport).send(message("whatsapp", text="Bonjour, café prêt")) == "wamid.HBgL1"
    (request,) = transport.requests
    assert request.url == f"{GRAPH_API_URL}/{PHONE_NUMBER_ID}/messages"
    assert request.headers["Authorization"] == "Bearer wa-token-SECRET"
    assert request.json() == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": WA_PHONE,
        "type": "text",
        "text": {"preview_url": False, "body": "Bonjour, café prêt"},
    }
    assert "café".encode() in request.body  # UTF-8, not \u escapes


def test_whatsapp_outside_the_window_sends_the_named_template():
    # Given an automatic update two days after the customer wrote, naming an approved template
    outbound = message(
        "whatsapp",
        automatic=True,
        wrote=2 * D,
        headers={
            HEADER_WHATSAPP_TEMPLATE: "ticket_update:en_US",
            HEADER_WHATSAPP_TEMPLATE_PARAMS: '["1042"]',
        },
    )
    transport = FakeTransport([ok({"messages": [{"id": "wamid.tpl"}]})])
    # When it is sent
    assert meta(transport).send(outbound) == "wamid.tpl"
    # Then the template goes instead of the free-form text
    assert transport.requests[0].json() == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": WA_PHONE,
        "type": "template",
        "template": {
            "name": "ticket_update",
            "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "1042"}]}],
        },
    }


def test_whatsapp_inside_the_window_ignores_the_template():
    outbound = message("whatsapp", headers={HEADER_WHATSAPP_TEMPLATE: "ticket_update:en"})
    transport = FakeTransport([ok({"messages": [{"id": "wamid.txt"}]})])
    meta(transport).send(outbound)
    assert transport.requests[0].json()["type"] == "text"


def test_whatsapp_outside_the_window_without_template_is_refused():
    transport = FakeTransport()
    with pytest.raises(SendError, match="only an approved template") as caught:
        meta(transport).send(message("whatsapp", wrote=25 * H))
    assert caught.value.permanent
    assert transport.requests == []


@pytest.mark.parametrize(
    "headers",
    [
        {HEADER_WHATSAPP_TEMPLATE: "ticket_update"},
        {HEADER_WHATSAPP_TEMPLATE: "Ticket Update:en"},
        {HEADER_WHATSAPP_TEMPLATE: "ticket_update:en", HEADER_WHATSAPP_TEMPLATE_PARAMS: '{"a": 1}'},
        {HEADER_WHATSAPP_TEMPLATE: "ticket_update:en", HEADER_WHATSAPP_TEMPLATE_PARAMS: "[1, 2]"},
    ],
)
def test_whatsapp_malformed_template_headers_are_refused(headers):
    transport = FakeTransport()
    with pytest.raises(SendError, match="whatsapp_template") as caught:
        meta(transport).send(message("whatsapp", wrote=2 * D, headers=headers))
    assert caught.value.permanent
    assert transport.requests == []


def test_x_dm_has_no_window_and_returns_the_dm_event_id():
    # Given an automatic DM with no inbound time at all
    transport = FakeTransport([ok({"data": {"dm_conversation_id": "1-2", "dm_event_id": "1582"}}, 201)])
    # When it is sent
    assert x_sender(transport).send(message("x", automatic=True, wrote=None)) == "1582"
    # Then it is posted to the one-to-one conversation with our user token
    (request,) = transport.requests
    assert request.url == f"{X_API_URL}/dm_conversations/with/{X_CUSTOMER}/messages"
    assert request.headers["Authorization"] == "Bearer x-user-token-SECRET"
    assert request.json() == {"text": "Your refund is on its way."}


@pytest.mark.parametrize(
    ("sender", "outbound", "match"),
    [
        (meta, message("x"), "does not send 'x'"),
        (x_sender, message("messenger"), "does not send 'messenger'"),
        (x_sender, message("x").model_copy(update={"to": "../users/me"}), "numeric id"),
        (meta, message("messenger").model_copy(update={"from_address": None}), "from_address"),
        (meta, message("messenger").model_copy(update={"to": ""}), "no recipient"),
        (meta, message("messenger", text="   "), "empty"),
    ],
)
def test_unsendable_messages_are_refused_before_any_request(sender, outbound, match):
    transport = FakeTransport()
    with pytest.raises(SendError, match=match) as caught:
        sender(transport).send(outbound)
    assert caught.value.permanent
    assert transport.requests == []


def test_social_senders_cover_every_social_channel():
    senders: dict[str, Sender] = social_senders(tokens, transport=FakeTransport())
    assert set(senders) == {"messenger", "instagram", "whatsapp", "x"}
    assert isinstance(senders["whatsapp"], MetaSender)
    assert isinstance(senders["x"], XSender)


def test_base_url_is_configurable():
    transport = FakeTransport([ok({"message_id": "m_1"})])
    MetaSender(tokens, base_url="http://graph.local/v99.0/", transport=transport, now=lambda: NOW).send(
        message("messenger")
    )
    assert transport.requests[0].url == f"http://graph.local/v99.0/{PAGE}/messages"


# ---------------------------------------------------------------------------------------------
# Long texts


def test_split_text_prefers_paragraphs_then_sentences_then_words():
    text = "First paragraph here.\n\nSecond one is a bit longer. It has two sentences."
    assert split_text(text, 40) == [
        "First paragraph here.",
        "Second one is a bit longer.",
        "It has two sentences.",
    ]
    assert split_text("word " * 10, 12) == ["word word", "word word", "word word", "word word", "word word"]
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]
    assert split_text("  short  ", 10) == ["short"]
    assert split_text("   ", 10) == []


def test_split_text_can_measure_bytes():
    parts = split_text("é" * 700, 1000, lambda s: len(s.encode()))
    assert [len(p) for p in parts] == [500, 200]


def test_long_whatsapp_text_is_sent_in_parts_and_named_by_the_first():
    # Given a 6000-character reply in two paragraphs (WhatsApp allows 4096 per message)
    text = ("a" * 3000) + "\n\n" + ("b" * 3000)
    transport = FakeTransport([ok({"messages": [{"id": "wamid.1"}]}), ok({"messages": [{"id": "wamid.2"}]})])
    # When it is sent
    provider_id = meta(transport).send(message("whatsapp", text=text))
    # Then it went as two messages, in order, and the first id names it
    assert provider_id == "wamid.1"
    assert [r.json()["text"]["body"] for r in transport.requests] == ["a" * 3000, "b" * 3000]


def test_instagram_limit_counts_utf8_bytes():
    transport = FakeTransport(default=meta_ok)
    meta(transport).send(message("instagram", text="🙂" * 300))  # 300 characters, 1200 bytes
    sizes = [len(r.json()["message"]["text"].encode()) for r in transport.requests]
    assert len(sizes) == 2
    assert max(sizes) <= 1000


def test_text_needing_too_many_parts_is_refused():
    transport = FakeTransport()
    with pytest.raises(SendError, match="would take 6 messages") as caught:
        meta(transport, max_parts=5).send(message("messenger", text="x" * 10_001))
    assert caught.value.permanent
    assert transport.requests == []


def test_failure_after_a_part_was_delivered_is_permanent():
    # Given a transient failure on the second of two parts
    transport = FakeTransport([ok({"message_id": "m_1"}), HttpResponse(429, b"busy")])
    # When the message is sent
    with pytest.raises(SendError, match="part 2 of 2 failed") as caught:
        meta(transport).send(message("messenger", text="a" * 1500 + " " + "b" * 1500))
    # Then it is not retried, since the first part would reach the customer twice
    assert caught.value.outcome == "failed"
    assert "m_1" in str(caught.value)


# ---------------------------------------------------------------------------------------------
# Error mapping


def meta_error(code: int, message: str = "Oops", subcode: int | None = None, **extra: Any) -> bytes:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
    if subcode:
        error["error_subcode"] = subcode
    error.update(extra)
    return json.dumps({"error": error}).encode()


@pytest.mark.parametrize(
    ("status", "body", "outcome", "expected"),
    [
        (400, meta_error(100, "Invalid parameter", fbtrace_id="AbC"), "failed", "error 100: Invalid"),
        (403, meta_error(10, "Outside of allowed window", 2018278), "failed", "10/2018278"),
        (401, meta_error(190, "Error validating access token"), "failed", "validating access token"),
        (400, meta_error(131047, "Re-engagement message"), "failed", "131047"),
        (400, meta_error(613, "Calls to this api have exceeded the rate limit."), "retry", "613"),
        (400, meta_error(4, "Application request limit reached"), "retry", "limit reached"),
        (400, meta_error(130429, "Rate limit hit"), "retry", "130429"),
        (400, meta_error(131000, "Something went wrong", is_transient=True), "retry", "131000"),
        (400, meta_error(9999, "Odd", is_transient=True), "retry", "9999"),
        (429, meta_error(80007, "Rate limit issues"), "retry", "80007"),
        # a 5xx came after Meta had the request: it may have sent it, whatever the code says
        (500, meta_error(2, "Service temporarily unavailable"), "unknown", "temporarily"),
        (502, b"<html>Bad gateway</html>", "unknown", "Bad gateway"),
        (404, b"not json", "failed", "HTTP 404"),
    ],
)
def test_meta_errors_are_failed_retried_or_unknown(status, body, outcome, expected):
    transport = FakeTransport([HttpResponse(status, body)])
    with pytest.raises(SendError) as caught:
        meta(transport).send(message("messenger"))
    assert caught.value.outcome == outcome
    assert expected in str(caught.value)
    assert f"HTTP {status}" in str(caught.value)
    assert "SECRET" not in str(caught.value)


def test_meta_error_message_carries_code_details_and_trace():
    body = meta_error(
        131026, "Message undeliverable", error_data={"details": "Receiver is incapable"}, fbtrace_id="Ax9"
    )
    transport = FakeTransport([HttpResponse(400, body)])
    with pytest.raises(SendError) as caught:
        meta(transport).send(message("whatsapp"))
    assert str(caught.value) == (
        "HTTP 400, Meta error 131026: Message undeliverable (Receiver is incapable) [fbtrace_id Ax9]"
    )


@pytest.mark.parametrize(
    ("response", "outcome", "expected"),
    [
        (
            ok(
                {"title": "Forbidden", "detail": "You cannot send messages to this user.", "status": 403}, 403
            ),
            "failed",
            "X HTTP 403: Forbidden; You cannot send messages to this user.",
        ),
        (ok({"title": "Unauthorized", "status": 401}, 401), "failed", "Unauthorized"),
        (ok({"errors": [{"code": 349, "message": "You cannot send messages"}]}, 403), "failed", "349"),
        (
            ok({"title": "Too Many Requests"}, 429, **{"x-rate-limit-reset": "1736860000"}),
            "retry",
            "resets at epoch 1736860000",
        ),
        (HttpResponse(503, b"Service Unavailable"), "unknown", "X API HTTP 503"),
    ],
)
def test_x_errors_are_failed_retried_or_unknown(response, outcome, expected):
    transport = FakeTransport([response])
    with pytest.raises(SendError) as caught:
        x_sender(transport).send(message("x"))
    assert caught.value.outcome == outcome
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (ConnectionRefusedError(111, "Connection refused"), "could not be reached: ConnectionRefusedError"),
        (socket.gaierror(-2, "Name or service not known"), "could not be reached"),
        (RequestNotSentError("TimeoutError: connect timed out"), "could not be reached"),
    ],
)
@pytest.mark.parametrize("sender", [meta, x_sender])
def test_a_request_that_never_left_is_retried(failure, expected, sender):
    # Given a provider we could not connect to, When a message is sent
    channel = "whatsapp" if sender is meta else "x"
    with pytest.raises(SendError, match=expected) as caught:
        sender(FakeTransport([failure])).send(message(channel))
    # Then nothing reached it, so another try is safe
    assert caught.value.outcome == "retry"


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (TimeoutError("timed out"), "did not answer in 10s"),
        (ConnectionResetError(104, "Connection reset by peer"), "dropped the request"),
        (ConnectionError("RemoteDisconnected: Remote end closed connection"), "dropped the request"),
    ],
)
@pytest.mark.parametrize("sender", [meta, x_sender])
def test_no_answer_after_the_request_was_sent_is_unknown(failure, expected, sender):
    # Given a request that left but got no answer (read timeout, connection closed after sending)
    channel = "messenger" if sender is meta else "x"
    with pytest.raises(SendError, match=expected) as caught:
        sender(FakeTransport([failure])).send(message(channel))
    # Then the provider may have delivered it: never resent
    assert caught.value.outcome == "unknown"
    assert "not resent" in str(caught.value)


@pytest.mark.parametrize("sender", [meta, x_sender])
def test_throttling_is_retried(sender):
    channel = "instagram" if sender is meta else "x"
    answer = HttpResponse(429, meta_error(4, "Application request limit reached"))
    with pytest.raises(SendError) as caught:
        sender(FakeTransport([answer])).send(message(channel))
    assert caught.value.outcome == "retry"


def test_an_unknown_part_after_delivered_parts_stays_unknown():
    transport = FakeTransport([ok({"message_id": "m_1"}), TimeoutError("timed out")])
    with pytest.raises(SendError, match="part 2 of 2 failed") as caught:
        meta(transport).send(message("messenger", text="a" * 1500 + " " + "b" * 1500))
    assert caught.value.outcome == "unknown"


@pytest.mark.parametrize(
    "response",
    [HttpResponse(200, b""), ok({"recipient_id": PSID}), ok({"message_id": ""})],
)
def test_success_without_a_message_id_is_not_retried(response):
    with pytest.raises(SendError, match="not retried") as caught:
        meta(FakeTransport([response])).send(message("messenger"))
    assert caught.value.outcome == "unknown"


def test_token_problems():
    def missing(channel: str, account: str) -> str:
        raise KeyError(account)

    def flaky(channel: str, account: str) -> str:
        raise RuntimeError("throttled")

    with pytest.raises(SendError, match="no messenger access token") as caught:
        MetaSender(missing, transport=FakeTransport(), now=lambda: NOW).send(message("messenger"))
    assert caught.value.permanent
    with pytest.raises(SendError, match="RuntimeError") as caught:
        XSender(flaky, transport=FakeTransport(), now=lambda: NOW).send(message("x"))
    assert not caught.value.permanent


def test_request_repr_hides_the_token():
    request = HttpRequest("POST", "https://example.test/x", {"Authorization": "Bearer SECRET"}, b"{}")
    assert "SECRET" not in repr(request)


# ---------------------------------------------------------------------------------------------
# Tokens from Secrets Manager


SECRET = {
    "meta_page_tokens": {PAGE: "page-token-SECRET", IG_ACCOUNT: "ig-page-token-SECRET"},
    "whatsapp_token": "wa-token-SECRET",
    "x_bearer_token": "x-user-token-SECRET",
}


@pytest.fixture
def secret_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    calls: list[tuple[str, dict[str, Any]]] = []

    def get_secret(name: str, **kwargs: Any) -> Any:
        calls.append((name, kwargs))
        if name == "broken":
            raise parameters.exceptions.GetParameterError("AccessDeniedException")
        return "plain" if name == "not-json-object" else SECRET

    monkeypatch.setattr(parameters, "get_secret", get_secret)
    return calls


def test_secret_token_provider_reads_each_channels_token(secret_calls):
    provide = secret_token_provider("helpdesk/social")
    assert provide("messenger", PAGE) == "page-token-SECRET"
    assert provide("instagram", IG_ACCOUNT) == "ig-page-token-SECRET"
    assert provide("whatsapp", PHONE_NUMBER_ID) == "wa-token-SECRET"
    assert provide("x", OUR_X) == "x-user-token-SECRET"
    assert secret_calls[0] == ("helpdesk/social", {"transform": "json", "max_age": 300})


def test_secret_token_provider_errors_name_the_key_not_the_token(secret_calls):
    provide = secret_token_provider("helpdesk/social")
    with pytest.raises(SendError, match=r"no meta_page_tokens\['999'\]") as caught:
        provide("messenger", "999")
    assert caught.value.permanent
    assert "SECRET" not in str(caught.value)
    with pytest.raises(SendError, match="could not read the secret broken") as caught:
        secret_token_provider("broken")("x", OUR_X)
    assert not caught.value.permanent
    with pytest.raises(SendError, match="not a JSON object") as caught:
        secret_token_provider("not-json-object")("x", OUR_X)
    assert caught.value.permanent


def test_sender_with_secret_tokens_end_to_end(secret_calls):
    transport = FakeTransport([ok({"message_id": "m_9"})])
    sender = MetaSender(secret_token_provider("helpdesk/social"), transport=transport, now=lambda: NOW)
    assert sender.send(message("messenger")) == "m_9"
    assert transport.requests[0].headers["Authorization"] == "Bearer page-token-SECRET"


# ---------------------------------------------------------------------------------------------
# Against a real local HTTP server (fake Graph API and X API)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class FakeApi(BaseHTTPRequestHandler):
    """Answers like the Graph API and X API; recipients named `slow`, `throttle` or `moved` misbehave."""

    seen: list[Seen]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"null")
        self.seen.append(Seen("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        recipient = str((body or {}).get("recipient", {}).get("id", "")) if isinstance(body, dict) else ""
        if recipient == "1111":  # throttled
            self.answer(400, {"error": {"message": "Calls exceeded the rate limit", "code": 613}})
        elif recipient == "2222":  # too slow for the client's timeout
            time.sleep(0.6)
            self.answer(200, {"message_id": "m_late"})
        elif recipient == "3333":  # a redirect must not carry the token elsewhere
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:9/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path.startswith("/2/dm_conversations/with/"):
            if self.path.split("/")[4] == "4444":
                self.answer(403, {"title": "Forbidden", "detail": "You cannot send messages to this user."})
            else:
                self.answer(201, {"data": {"dm_conversation_id": "1-2", "dm_event_id": "1582"}})
        elif body.get("messaging_product") == "whatsapp":
            self.answer(200, {"messaging_product": "whatsapp", "messages": [{"id": "wamid.LOCAL"}]})
        else:
            self.answer(200, {"recipient_id": recipient, "message_id": "m_LOCAL"})

    def answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def local_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[Seen]]]:
    """A real HTTP server on 127.0.0.1 (loopback only is allowed), stopped at the end."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    pytest_socket.enable_socket()
    pytest_socket.socket_allow_hosts(["127.0.0.1"], allow_unix_socket=True)
    seen: list[Seen] = []
    handler = type("Handler", (FakeApi,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        pytest_socket.disable_socket(allow_unix_socket=True)


def test_senders_against_a_local_http_server(local_api):
    base, seen = local_api
    meta_sender = MetaSender(tokens, base_url=f"{base}/v21.0", now=lambda: NOW, timeout=5)
    x = XSender(tokens, base_url=f"{base}/2", now=lambda: NOW, timeout=5)

    # Messenger, tagged because the customer wrote three days ago
    assert meta_sender.send(message("messenger", wrote=3 * D)) == "m_LOCAL"
    assert seen[-1].path == f"/v21.0/{PAGE}/messages"
    assert seen[-1].headers["authorization"] == "Bearer page-token-SECRET"
    assert seen[-1].headers["content-type"] == "application/json"
    assert seen[-1].body["tag"] == "HUMAN_AGENT"

    # WhatsApp text
    assert meta_sender.send(message("whatsapp", text="Olá")) == "wamid.LOCAL"
    assert seen[-1].path == f"/v21.0/{PHONE_NUMBER_ID}/messages"
    assert seen[-1].body["text"] == {"preview_url": False, "body": "Olá"}

    # X DM
    assert x.send(message("x")) == "1582"
    assert seen[-1].path == f"/2/dm_conversations/with/{X_CUSTOMER}/messages"
    assert seen[-1].headers["authorization"] == "Bearer x-user-token-SECRET"
    assert seen[-1].body == {"text": "Your refund is on its way."}

    # A real 4xx from X is permanent, Meta's throttling code is retried
    with pytest.raises(SendError, match="You cannot send messages") as caught:
        x.send(message("x").model_copy(update={"to": "4444"}))
    assert caught.value.permanent
    with pytest.raises(SendError, match="613") as caught:
        meta_sender.send(message("messenger").model_copy(update={"to": "1111"}))
    assert not caught.value.permanent

    # A redirect is not followed; a slow answer times out, and since the request arrived (the
    # server answers it, late) the outcome is unknown: not resent
    count = len(seen)
    with pytest.raises(SendError, match="HTTP 302") as caught:
        meta_sender.send(message("messenger").model_copy(update={"to": "3333"}))
    assert len(seen) == count + 1
    impatient = MetaSender(tokens, base_url=f"{base}/v21.0", now=lambda: NOW, timeout=0.2)
    with pytest.raises(SendError, match=r"did not answer in 0.2s") as caught:
        impatient.send(message("messenger").model_copy(update={"to": "2222"}))
    assert caught.value.outcome == "unknown"


def test_connection_refused_is_retried(local_api):
    # Given a loopback port that is bound but not listening, so connections are refused
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        sender = MetaSender(
            tokens, base_url=f"http://127.0.0.1:{closed.getsockname()[1]}", now=lambda: NOW, timeout=2
        )
        # When a message is sent there, Then the failure is worth another try
        with pytest.raises(SendError, match="could not be reached") as caught:
            sender.send(message("messenger"))
    assert caught.value.outcome == "retry"
