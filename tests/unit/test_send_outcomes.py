"""How the AWS senders (SES, SNS, End User Messaging) classify a failed send for the outbox: retry
only what certainly never reached the customer, never resend what may have, and leave no retries to
botocore; and which `Auto-Submitted` value automatic mail carries."""

from __future__ import annotations

import email
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
import pytest_socket
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from shared.channels.eum import EumSmsSender
from shared.channels.outbound import SendError, SesEmailSender, SnsSmsSender, build_mime
from shared.models.outbound import OutboundMessage

AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
URL = "https://aws.example"


def outbound(channel: str = "email", kind: str = "reply", automatic: bool = False) -> OutboundMessage:
    return OutboundMessage(
        key=f"{kind}#tkt_1",
        ticket_id="tkt_1",
        channel=channel,
        kind=kind,  # type: ignore[arg-type]
        to="customer@example.com" if channel == "email" else "+14255550182",
        from_address="support@support.example.com" if channel == "email" else "+12125550101",
        subject="[#7] Printer" if channel == "email" else None,
        text="Hello",
        automatic=automatic,
        created_at=AT,
    )


class FailingClient:
    """A boto3 client whose send call raises `failure`, counting the calls."""

    def __init__(self, failure: Exception) -> None:
        self.failure, self.calls = failure, 0

    def _fail(self, **_: Any) -> Any:
        self.calls += 1
        raise self.failure

    send_email = publish = send_text_message = _fail


SENDERS: dict[str, Callable[[Any], Any]] = {
    "ses": lambda client: SesEmailSender("us-east-1", client),
    "sns": SnsSmsSender,
    "eum": EumSmsSender,
}


def service_error(code: str, status: int) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "Send")


THROTTLED = {"ses": "TooManyRequestsException", "sns": "Throttling", "eum": "ThrottlingException"}
REFUSED = {"ses": "MessageRejected", "sns": "InvalidParameter", "eum": "ValidationException"}
INTERNAL = {"ses": "InternalFailure", "sns": "InternalError", "eum": "InternalServerException"}


@pytest.mark.parametrize("name", SENDERS)
@pytest.mark.parametrize(
    ("failure", "outcome"),
    [
        (ReadTimeoutError(endpoint_url=URL), "unknown"),
        (ConnectionClosedError(endpoint_url=URL), "unknown"),
        (ConnectTimeoutError(endpoint_url=URL), "retry"),
        (EndpointConnectionError(endpoint_url=URL), "retry"),
        (service_error("ServiceUnavailable", 503), "retry"),
        (RuntimeError("something unforeseen"), "unknown"),
    ],
)
def test_transport_failures_retry_only_what_never_left(name: str, failure: Exception, outcome: str) -> None:
    # Given a send call that fails this way, When the message is sent
    client = FailingClient(failure)
    with pytest.raises(SendError) as raised:
        SENDERS[name](client).send(outbound("email" if name == "ses" else "sms"))
    # Then the outbox learns whether it may try again, and the sender itself tried once
    assert raised.value.outcome == outcome
    assert client.calls == 1


@pytest.mark.parametrize("name", SENDERS)
@pytest.mark.parametrize(
    ("codes", "status", "outcome"),
    [(THROTTLED, 400, "retry"), (REFUSED, 400, "failed"), (INTERNAL, 500, "unknown")],
)
def test_service_errors_by_provider(name: str, codes: dict[str, str], status: int, outcome: str) -> None:
    client = FailingClient(service_error(codes[name], status))
    with pytest.raises(SendError) as raised:
        SENDERS[name](client).send(outbound("email" if name == "ses" else "sms"))
    assert raised.value.outcome == outcome
    assert codes[name] in str(raised.value)


def test_an_unknown_outcome_counts_as_permanent_for_older_callers() -> None:
    assert SendError("x", unknown=True).permanent
    assert SendError("x", permanent=True).outcome == "failed"
    assert SendError("x", permanent=False).outcome == "retry"


@pytest.mark.parametrize("name", SENDERS)
def test_send_clients_leave_retries_to_the_outbox(name: str) -> None:
    # Given a sender that creates its own client, Then botocore makes one attempt only
    client = SENDERS[name](None).client
    assert client.meta.config.retries["total_max_attempts"] == 1
    assert client.meta.config.connect_timeout <= 5


class SlowApi(BaseHTTPRequestHandler):
    """Reads the request, then answers too late for the client's read timeout."""

    requests: list[str]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.requests.append(self.path)
        time.sleep(1.0)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def slow_api() -> Iterator[tuple[str, list[str]]]:
    pytest_socket.enable_socket()
    pytest_socket.socket_allow_hosts(["127.0.0.1"], allow_unix_socket=True)
    requests: list[str] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (SlowApi,), {"requests": requests}))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        pytest_socket.disable_socket(allow_unix_socket=True)


def test_a_real_read_timeout_is_unknown_and_sent_once(slow_api, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given SES behind an endpoint that takes the request but answers after the read timeout
    from shared.channels import outbound as module

    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(module, "SEND_READ_TIMEOUT", 0.3)
    url, requests = slow_api
    client = boto3.client("sesv2", endpoint_url=url, config=module.send_client_config())
    # When a message is sent
    with pytest.raises(SendError) as raised:
        SesEmailSender("us-east-1", client).send(outbound())
    # Then the request went out once (no botocore retry), and its outcome is unknown
    assert raised.value.outcome == "unknown"
    assert "ReadTimeoutError" in str(raised.value)
    assert len(requests) == 1


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("ack", "auto-replied"),
        ("ooo", "auto-replied"),
        ("update", "auto-generated"),
        ("reminder", "auto-generated"),
        ("auto_resolve", "auto-generated"),
        ("csat", "auto-generated"),
        ("transcript", "auto-generated"),
        ("escalation", "auto-generated"),
    ],
)
def test_auto_submitted_says_whether_it_answers_a_message(kind: str, expected: str) -> None:
    # RFC 3834: auto-replied answers a message; time- or event-triggered mail is auto-generated
    mime = email.message_from_bytes(build_mime(outbound(kind=kind, automatic=True)), policy=policy.default)
    assert mime["Auto-Submitted"] == expected
    assert mime["X-Auto-Response-Suppress"] == "All"


def test_an_agents_reply_is_not_auto_submitted() -> None:
    mime = email.message_from_bytes(build_mime(outbound()), policy=policy.default)
    assert mime["Auto-Submitted"] is None


def test_a_message_that_cannot_be_built_fails_for_good_and_is_never_sent() -> None:
    # Given an email whose header cannot be written (a line break inside the recipient)
    message = outbound().model_copy(update={"to": "customer@example.com\r\nBcc: victim@example.com"})
    client = FailingClient(AssertionError("must not be called"))

    # When it is sent
    with pytest.raises(SendError) as raised:
        SesEmailSender("us-east-1", client=client).send(message)  # type: ignore[arg-type]

    # Then nothing went out and the failure is permanent, not "may have been sent"
    assert client.calls == 0
    assert raised.value.outcome == "failed"


@pytest.mark.parametrize("separator", ["\r\n", "\n", "\r", "\u2028", "\u2029", "\x85", "\x0b", "\x1c", "\t"])
def test_a_subject_with_a_line_separator_is_sent_on_one_line(separator: str) -> None:
    message = outbound().model_copy(update={"subject": f"[#7] Printer{separator}not working"})
    parsed = email.message_from_bytes(build_mime(message), policy=policy.default)
    assert parsed["Subject"] == "[#7] Printer not working"
