"""Senders for Messenger, Instagram and WhatsApp (Meta Graph API) and for X DMs, and the window rules.

Meta lets a business answer only while a conversation is open, counted from the customer's last
message (`messaging_window`):

- Messenger and Instagram: any reply within 24 hours (`messaging_type: RESPONSE`); from 24 hours
  to 7 days only a human agent's reply, tagged `MESSAGE_TAG` + `HUMAN_AGENT`; nothing after that.
- WhatsApp: free-form text within the 24-hour customer service window; after it only an approved
  template message.
- X: no window is documented for DMs; whether a DM arrives depends on the recipient's settings.

On a public comment or mention two other shapes go out, named by a header of the outbox message
(decision 90): a public answer under the comment (`public_reply_to`: Facebook
`POST /{comment-id}/comments`, Instagram `POST /{ig-comment-id}/replies`, X a reply post
`POST /2/tweets`), or Meta's private reply to its author (`private_reply_to`: the Send API with
`recipient.comment_id`, one message per comment, within 7 days of the comment).

The senders check the window when they send (not when the message was queued), so a retry that
crosses a boundary is tagged, switched to a template or refused. HTTP goes through an injectable
`transport` (stdlib urllib by default); tokens come from an injectable `token_provider` and are
never logged or put into error messages or URLs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Literal
from urllib.parse import quote

from shared import clock
from shared.channels.outbound import Sender, SendError
from shared.models.outbound import OutboundMessage

GRAPH_API_URL: Final = "https://graph.facebook.com/v21.0"
X_API_URL: Final = "https://api.x.com/2"

HEADER_LAST_INBOUND_AT: Final = "last_inbound_at"
"""`OutboundMessage.headers` key: ISO time of the customer's last message (set by the queuing code)."""
HEADER_WHATSAPP_TEMPLATE: Final = "whatsapp_template"
"""`OutboundMessage.headers` key: an approved WhatsApp template, `name:language` (`ticket_update:en_US`)."""
HEADER_WHATSAPP_TEMPLATE_PARAMS: Final = "whatsapp_template_params"
"""`OutboundMessage.headers` key (optional): JSON list of strings for the template body's {{1}}, {{2}}…"""
HEADER_PUBLIC_REPLY_TO: Final = "public_reply_to"
"""`OutboundMessage.headers` key: the comment (Meta) or post (X) the message answers in public,
under it, instead of privately."""
HEADER_PRIVATE_REPLY_TO: Final = "private_reply_to"
"""`OutboundMessage.headers` key: the public comment (Meta) or mention (X) whose author the message
answers privately; on Meta it is the recipient (`recipient.comment_id`), `last_inbound_at` its time."""

STANDARD_WINDOW: Final = timedelta(hours=24)
HUMAN_AGENT_WINDOW: Final = timedelta(days=7)
PRIVATE_REPLY_WINDOW: Final = timedelta(days=7)
"""Meta's private reply to a comment: within 7 days of the comment (Instagram Live: during the live)."""

META_CHANNELS: Final = frozenset({"messenger", "instagram", "whatsapp"})
SOCIAL_CHANNELS: Final = META_CHANNELS | {"x"}

TEXT_LIMITS: Final[Mapping[str, int]] = {
    "messenger": 2000,  # characters (Send API: message.text)
    "instagram": 1000,  # UTF-8 bytes (Instagram messaging text)
    "whatsapp": 4096,  # characters (Cloud API text.body)
    "x": 10_000,  # characters (POST /2/dm_conversations/with/:participant_id/messages)
}
"""Longest text one message may carry; longer texts are split into up to `max_parts` messages."""

PUBLIC_TEXT_LIMITS: Final[Mapping[str, int]] = {
    "messenger": 8000,  # characters of a Facebook comment
    "instagram": 2200,  # characters of an Instagram comment
    "x": 280,  # characters of a post (X weighs some characters double and links as 23)
}
"""Longest public answer under a comment or post: one comment or post, never split."""
PUBLIC_REPLY_CHANNELS: Final = frozenset(PUBLIC_TEXT_LIMITS)

# Meta answers throttling and outages with HTTP 400 and these codes, saying to wait and retry, so
# they are retried (Graph API error handling; WhatsApp Cloud API error codes). With a 5xx status
# the outcome is unknown whatever the code: the request reached Meta, which may have acted on it.
META_TRANSIENT_CODES: Final = frozenset(
    {
        1,  # API unknown: possibly a temporary outage
        2,  # API service: temporary outage
        4,  # application request limit reached
        17,  # user request limit reached
        32,  # page request limit reached
        341,  # application limit reached
        613,  # calls to this API exceeded the rate limit
        80007,  # WhatsApp Business Account rate limit
        130429,  # WhatsApp throughput limit reached
        131000,  # WhatsApp: something went wrong
        131016,  # WhatsApp service temporarily unavailable
        131056,  # WhatsApp pair rate limit (too many messages to one customer)
    }
)

MAX_RESPONSE_BYTES: Final = 1_000_000
DEFAULT_TIMEOUT: Final = 10.0
DEFAULT_MAX_PARTS: Final = 5

WindowMode = Literal["response", "human_agent", "free_form", "template", "direct_message", "closed"]

_NUMERIC_ID = re.compile(r"^[0-9]{1,30}$")
_GRAPH_ID = re.compile(r"^[0-9]{1,30}(_[0-9]{1,30})?$")  # a Page comment id is `<post>_<comment>`
_TEMPLATE_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
_TEMPLATE_LANGUAGE = re.compile(r"^[a-z]{2,3}(_[A-Za-z0-9]{2,8})?$")


# --------------------------------------------------------------------------------------------
# The messaging window (pure)


@dataclass(frozen=True)
class WindowDecision:
    """Whether a message may go out on a channel now, in which form, and why."""

    allowed: bool
    mode: WindowMode
    reason: str

    @property
    def messaging_type(self) -> str | None:
        """Messenger / Instagram `messaging_type`: RESPONSE, MESSAGE_TAG, or None for other modes."""
        return {"response": "RESPONSE", "human_agent": "MESSAGE_TAG"}.get(self.mode)

    @property
    def tag(self) -> str | None:
        """Messenger / Instagram message tag: HUMAN_AGENT in the 24 h – 7 day human-agent window."""
        return "HUMAN_AGENT" if self.mode == "human_agent" else None


def _age(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m"


def messaging_window(
    channel: str,
    last_inbound_at: datetime | None,
    now: datetime,
    automatic: bool,
    *,
    template: bool = False,
) -> WindowDecision:
    """Decide whether a message may be sent now on a social channel, and how.

    `last_inbound_at` is when the customer last wrote to us (None: never, as far as we know);
    `automatic` is True for messages no person wrote (acknowledgements, reminders…); `template` says
    whether the message names an approved WhatsApp template to fall back on. Windows are half-open:
    exactly 24 hours after the customer's message the standard window is closed.
    """
    if channel == "x":
        return _X_DIRECT_MESSAGE
    if channel not in META_CHANNELS:
        raise ValueError(f"no messaging window rules for channel {channel!r}")
    if last_inbound_at is None:
        return _no_customer_message(channel, template)
    age = max(now - last_inbound_at, timedelta(0))  # a clock ahead of ours counts as "just now"
    ago = f"the customer last wrote {_age(age)} ago"
    if channel == "whatsapp":
        return _whatsapp_window(age, ago, template)
    return _messenger_window(age, ago, automatic)


_X_DIRECT_MESSAGE: Final = WindowDecision(
    True,
    "direct_message",
    "X documents no messaging window for DMs: the recipient's DM settings decide (they follow "
    "us, accept DMs from everyone, or already have a conversation with us), and X refuses the "
    "send otherwise",
)


def _no_customer_message(channel: str, template: bool) -> WindowDecision:
    """Meta: nobody wrote first, so only a WhatsApp template may open the conversation."""
    if channel == "whatsapp" and template:
        return WindowDecision(
            True,
            "template",
            "no customer message on record, so no WhatsApp customer service window is open: "
            "sending the approved template",
        )
    extra = " (or an approved template, and this message names none)" if channel == "whatsapp" else ""
    return WindowDecision(
        False,
        "closed",
        f"no customer message on record on {channel}: Meta only allows a business to answer "
        f"someone who wrote first{extra}",
    )


def _whatsapp_window(age: timedelta, ago: str, template: bool) -> WindowDecision:
    """WhatsApp: free-form text inside the 24-hour customer service window, a template after it."""
    if age < STANDARD_WINDOW:
        return WindowDecision(True, "free_form", f"{ago}, inside WhatsApp's 24-hour customer service window")
    if template:
        return WindowDecision(
            True,
            "template",
            f"{ago}, outside WhatsApp's 24-hour customer service window: sending the approved "
            "template instead of free-form text",
        )
    return WindowDecision(
        False,
        "closed",
        f"{ago}, outside WhatsApp's 24-hour customer service window: only an approved template "
        f"may be sent, and this message names none (headers[{HEADER_WHATSAPP_TEMPLATE!r}])",
    )


def _messenger_window(age: timedelta, ago: str, automatic: bool) -> WindowDecision:
    """Messenger and Instagram: any reply within 24 hours, then only a human agent's, up to 7 days."""
    if age < STANDARD_WINDOW:
        return WindowDecision(True, "response", f"{ago}, inside Meta's 24-hour standard messaging window")
    if age >= HUMAN_AGENT_WINDOW:
        return WindowDecision(
            False,
            "closed",
            f"{ago}, beyond the 7-day human agent window: Meta allows no message until the customer "
            "writes again",
        )
    if automatic:
        return WindowDecision(
            False,
            "closed",
            f"{ago}, outside Meta's 24-hour standard messaging window: only a human agent may still "
            "answer (HUMAN_AGENT tag, up to 7 days), not an automatic message",
        )
    return WindowDecision(
        True,
        "human_agent",
        f"{ago}, outside the 24-hour standard messaging window: a human agent's reply, sent with "
        "the HUMAN_AGENT tag (allowed up to 7 days)",
    )


def message_last_inbound_at(message: OutboundMessage) -> datetime | None:
    """The customer's last message time carried by the outbound message, or None when absent."""
    value = message.headers.get(HEADER_LAST_INBOUND_AT)
    if not value:
        return None
    try:
        return clock.parse_iso(value)
    except ValueError as exc:
        raise SendError(
            f"headers[{HEADER_LAST_INBOUND_AT!r}] is not an ISO 8601 time: {value[:40]!r}", permanent=True
        ) from exc


# --------------------------------------------------------------------------------------------
# Splitting long texts


def _utf8_length(text: str) -> int:
    return len(text.encode("utf-8"))


def _cut(text: str, limit: int, measure: Callable[[str], int]) -> int:
    """The longest prefix length of `text` that measures at most `limit` (binary search)."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if measure(text[:middle]) <= limit:
            low = middle
        else:
            high = middle - 1
    return low


def split_text(text: str, limit: int, measure: Callable[[str], int] = len) -> list[str]:
    """Split `text` into parts that each measure at most `limit`, at paragraph, line, sentence or
    word boundaries when possible (a word longer than the limit is cut)."""
    text = text.strip()
    parts: list[str] = []
    while text:
        if measure(text) <= limit:
            parts.append(text)
            break
        hard = max(_cut(text, limit, measure), 1)
        window = text[:hard]
        cut = 0
        for separator in ("\n\n", "\n", ". ", "! ", "? ", " "):
            found = window.rfind(separator)
            if found > hard // 3:  # a boundary too early would leave a tiny part
                cut = found + len(separator.rstrip())
                break
        cut = cut or hard
        head = text[:cut].rstrip()
        if head:
            parts.append(head)
        text = text[cut:].lstrip()
    return parts


# --------------------------------------------------------------------------------------------
# HTTP


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request; headers (with the token) are kept out of its repr."""

    method: str
    url: str
    headers: Mapping[str, str] = field(repr=False)
    body: bytes = field(default=b"", repr=False)
    timeout: float = DEFAULT_TIMEOUT

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The JSON body, or None when it is empty or not JSON."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)


Transport = Callable[[HttpRequest], HttpResponse]
"""Sends a request and returns the response, whatever its status. Raises RequestNotSentError when
the request certainly never reached the provider; any other exception means it may have."""


class RequestNotSentError(ConnectionError):
    """The request never reached the provider (DNS, refused, connect timeout, TLS handshake)."""


TokenProvider = Callable[[str, str], str]
"""`(channel, account_id) -> access token`; account_id is the message's from_address (our account)."""


def urllib_transport(request: HttpRequest) -> HttpResponse:
    """The production transport: stdlib urllib, redirects not followed (the token stays with the host)."""
    import http.client
    import urllib.error
    import urllib.request

    if not request.url.startswith(("https://", "http://")):
        raise ValueError(f"not an HTTP URL: {request.url!r}")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None  # the 3xx comes back as an HTTPError, i.e. an unexpected status

    opener = urllib.request.build_opener(NoRedirect)
    prepared = urllib.request.Request(  # noqa: S310 (scheme checked above)
        request.url, data=request.body or None, headers=dict(request.headers), method=request.method
    )
    try:
        with opener.open(prepared, timeout=request.timeout) as response:
            return HttpResponse(
                response.status, response.read(MAX_RESPONSE_BYTES), dict(response.headers.items())
            )
    except urllib.error.HTTPError as error:
        with error:
            body = error.read(MAX_RESPONSE_BYTES)
        return HttpResponse(error.code, body, dict(error.headers.items()) if error.headers else {})
    except urllib.error.URLError as exc:  # urllib wraps only failures to connect and send the request
        raise RequestNotSentError(f"{type(exc.reason).__name__}: {exc.reason}") from exc
    except http.client.HTTPException as exc:  # a broken response: the request was sent
        raise ConnectionError(f"{type(exc).__name__}: {exc}") from exc


# --------------------------------------------------------------------------------------------
# Tokens


def secret_token_provider(secret_name: str, max_age: int = 300) -> TokenProvider:
    """Tokens from a Secrets Manager JSON secret, cached by Powertools for `max_age` seconds.

    Keys: `meta_page_tokens` ({Page id or Instagram account id: Page access token}),
    `whatsapp_token` (system user token) and `x_bearer_token` (OAuth 2.0 user-context token of
    our X account with dm.write, and tweet.write for public replies; X does not accept app-only
    tokens for DMs).
    """

    def provide(channel: str, account_id: str) -> str:
        from aws_lambda_powertools.utilities import parameters

        try:
            value: Any = parameters.get_secret(secret_name, transform="json", max_age=max_age)
        except Exception as exc:  # throttling, network, permissions: retried through the outbox
            raise SendError(
                f"could not read the secret {secret_name}: {type(exc).__name__}", permanent=False
            ) from exc
        if not isinstance(value, dict):
            raise SendError(f"the secret {secret_name} is not a JSON object", permanent=True)
        token: Any
        if channel in ("messenger", "instagram"):
            tokens = value.get("meta_page_tokens")
            token = tokens.get(account_id) if isinstance(tokens, dict) else None
            missing = f"meta_page_tokens[{account_id!r}]"
        elif channel == "whatsapp":
            token, missing = value.get("whatsapp_token"), "whatsapp_token"
        elif channel == "x":
            token, missing = value.get("x_bearer_token"), "x_bearer_token"
        else:
            raise SendError(f"no token for channel {channel!r}", permanent=True)
        if not isinstance(token, str) or not token:
            raise SendError(f"the secret {secret_name} has no {missing}", permanent=True)
        return token

    return provide


# --------------------------------------------------------------------------------------------
# Senders


def _numeric_id(value: str | None, what: str) -> str:
    if not value or not _NUMERIC_ID.match(value):
        raise SendError(f"{what} must be a numeric id, got {value!r}", permanent=True)
    return value


def _graph_id(value: str | None, what: str) -> str:
    if not value or not _GRAPH_ID.match(value):
        raise SendError(f"{what} must be a Graph API id, got {value!r}", permanent=True)
    return value


def single_text(channel: str, text: str, limit: int, what: str, measure: Callable[[str], int] = len) -> str:
    """The text of a message that must go out whole, as one comment, post or private reply:
    refused for good when it is empty or longer than `limit`."""
    text = text.strip()
    if not text:
        raise SendError(f"{channel} {what} not sent: the text is empty", permanent=True)
    size = measure(text)
    if size > limit:
        unit = "bytes" if measure is _utf8_length else "characters"
        raise SendError(
            f"{channel} {what} not sent: {size} {unit}, over the {limit} one {what} may carry (it "
            "cannot be split)",
            permanent=True,
        )
    return text


def private_reply_window(comment_at: datetime | None, now: datetime) -> str | None:
    """Why Meta would refuse a private reply to a comment written at `comment_at` now (None: it
    would not): the comment's time is unknown, or 7 days have passed."""
    if comment_at is None:
        return "the comment's time is unknown, so Meta's 7-day limit for a private reply cannot be checked"
    age = max(now - comment_at, timedelta(0))
    if age >= PRIVATE_REPLY_WINDOW:
        return (
            f"the comment was written {_age(age)} ago: Meta allows a private reply only within 7 days of "
            "the comment"
        )
    return None


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _HttpSender:
    """What the Meta and X senders share: tokens, the window, splitting, HTTP and error mapping."""

    provider = "HTTP"
    default_base_url = ""

    def __init__(
        self,
        token_provider: TokenProvider,
        *,
        base_url: str | None = None,
        transport: Transport | None = None,
        now: Callable[[], datetime] = clock.now,
        timeout: float = DEFAULT_TIMEOUT,
        max_parts: int = DEFAULT_MAX_PARTS,
    ) -> None:
        self.token_provider = token_provider
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.transport: Transport = transport or urllib_transport
        self.now = now
        self.timeout = timeout
        self.max_parts = max_parts

    def _token(self, channel: str, account_id: str) -> str:
        try:
            return self.token_provider(channel, account_id)
        except SendError:
            raise
        except KeyError as exc:
            raise SendError(f"no {channel} access token for account {account_id}", permanent=True) from exc
        except Exception as exc:  # a provider failure is worth another try later
            raise SendError(
                f"could not get the {channel} access token: {type(exc).__name__}", permanent=False
            ) from exc

    def _window(self, message: OutboundMessage, template: bool = False) -> WindowDecision:
        inbound, now = message_last_inbound_at(message), self.now()
        decision = messaging_window(message.channel, inbound, now, message.automatic, template=template)
        if not decision.allowed:
            raise SendError(f"{message.channel} message not sent: {decision.reason}", permanent=True)
        return decision

    def _parts(self, channel: str, text: str) -> list[str]:
        limit = TEXT_LIMITS[channel]
        measure = _utf8_length if channel == "instagram" else len
        parts = split_text(text, limit, measure)
        if not parts:
            raise SendError(f"{channel} message not sent: the text is empty", permanent=True)
        if len(parts) > self.max_parts:
            unit = "bytes" if channel == "instagram" else "characters"
            raise SendError(
                f"{channel} message not sent: {measure(text)} {unit} would take {len(parts)} messages "
                f"of at most {limit} {unit}; the limit is {self.max_parts} messages",
                permanent=True,
            )
        return parts

    @staticmethod
    def _each(parts: list[str], send_one: Callable[[str], str]) -> str:
        """Send the parts in order; the first part's id names the message. A failure after some
        parts went out is not retried: a retry would send those parts to the customer twice."""
        ids: list[str] = []
        for number, part in enumerate(parts, start=1):
            try:
                ids.append(send_one(part))
            except SendError as exc:
                if not ids:
                    raise
                raise SendError(
                    f"part {number} of {len(parts)} failed after parts 1-{number - 1} were delivered "
                    f"(ids {', '.join(ids)}); not retried, so they are not sent twice: {exc}",
                    permanent=True,
                    unknown=exc.outcome == "unknown",
                ) from exc
        return ids[0]

    def _post(self, path: str, payload: dict[str, Any], token: str) -> Any:
        """POST JSON and return the decoded 2xx body; any failure becomes a SendError."""
        request = HttpRequest(
            "POST",
            f"{self.base_url}{path}",
            {
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            json.dumps(payload, ensure_ascii=False).encode("utf-8"),
            self.timeout,
        )
        try:
            response = self.transport(request)
        except Exception as exc:  # classified: sent or not
            raise self._no_answer(exc) from exc
        if 200 <= response.status < 300:
            body = response.json()
            if body is None:
                raise SendError(
                    f"{self.provider} answered HTTP {response.status} without a JSON body; the message "
                    "may have been sent, so it is not retried",
                    unknown=True,
                )
            return body
        raise self._failure(response)

    def _no_answer(self, exc: Exception) -> SendError:
        """A request without an answer: retried only when it certainly never left us (DNS,
        refused, connect timeout, TLS); a read timeout or a dropped connection after the request
        was sent leaves the outcome unknown, so it is not resent."""
        import socket

        reason = f"{type(exc).__name__}: {_short(str(exc), 200)}"
        if isinstance(exc, (RequestNotSentError, ConnectionRefusedError, socket.gaierror)):
            return SendError(f"{self.provider} could not be reached: {reason}", permanent=False)
        if isinstance(exc, TimeoutError):
            return SendError(
                f"{self.provider} did not answer in {self.timeout:g}s; it may have sent the message, "
                "so it is not resent",
                unknown=True,
            )
        return SendError(
            f"{self.provider} dropped the request after it was sent ({reason}); it may have sent the "
            "message, so it is not resent",
            unknown=True,
        )

    def _failure(self, response: HttpResponse) -> SendError:
        """An HTTP error status: 429 is retried; a 5xx after the request was sent is unknown (the
        provider may have acted); other statuses were refused for good."""
        text = f"{self.provider} HTTP {response.status}: {_short(response.body.decode('utf-8', 'replace'))}"
        return _by_status(response.status, text)

    def _id(self, body: Any, *path: str | int) -> str:
        value = body
        for step in path:
            try:
                value = value[step]
            except (KeyError, IndexError, TypeError):
                value = None
                break
        if not isinstance(value, str) or not value:
            raise SendError(
                f"{self.provider} accepted the message but its answer has no {'.'.join(map(str, path))}; "
                "not retried, it may have been sent",
                unknown=True,
            )
        return value


def _by_status(status: int, text: str, retry: bool = False) -> SendError:
    """The outcome of an HTTP error answer: 429 (or `retry`: the provider said to try again) is
    retried, a 5xx is unknown, anything else is refused for good."""
    if status >= 500:
        return SendError(f"{text} (the provider may have sent it; not resent)", unknown=True)
    return SendError(text, permanent=not (retry or status == 429))


class MetaSender(_HttpSender):
    """Sends Messenger, Instagram and WhatsApp messages through the Graph API.

    Messenger: `POST /{page_id}/messages`; Instagram: `POST /me/messages` (the Page token of the
    Instagram account's Page names the sender); WhatsApp: `POST /{phone_number_id}/messages`.
    `message.from_address` is our account (Page id, Instagram account id, phone_number_id) and the
    key for the token; `message.to` is the PSID, IGSID or phone number. The window comes from
    `headers["last_inbound_at"]`; returns the first (or only) message id Meta assigned.
    """

    provider = "Meta Graph API"
    default_base_url = GRAPH_API_URL

    def send(self, message: OutboundMessage) -> str:
        channel = message.channel
        if channel not in META_CHANNELS:
            raise SendError(f"MetaSender does not send {channel!r} messages", permanent=True)
        account = _numeric_id(message.from_address, f"our {channel} account (from_address)")
        if HEADER_PUBLIC_REPLY_TO in message.headers:
            return self._send_public_reply(message, account)
        if HEADER_PRIVATE_REPLY_TO in message.headers:
            return self._send_private_reply(message, account)
        if not message.to:
            raise SendError(f"{channel} message not sent: no recipient", permanent=True)
        if channel == "whatsapp":
            return self._send_whatsapp(message, account)
        decision = self._window(message)
        parts = self._parts(channel, message.text)
        token = self._token(channel, account)
        path = f"/{account}/messages" if channel == "messenger" else "/me/messages"

        def send_one(text: str) -> str:
            payload: dict[str, Any] = {
                "recipient": {"id": message.to},
                "messaging_type": decision.messaging_type,
                "message": {"text": text},
            }
            if decision.tag:
                payload["tag"] = decision.tag
            return self._id(self._post(path, payload, token), "message_id")

        return self._each(parts, send_one)

    def _send_public_reply(self, message: OutboundMessage, account: str) -> str:
        """A comment under the customer's comment: Facebook `POST /{comment-id}/comments`,
        Instagram `POST /{ig-comment-id}/replies`, each `{"message"}`; returns the new comment's id."""
        channel = message.channel
        if channel not in PUBLIC_REPLY_CHANNELS:
            raise SendError(f"{channel} has no public comments to answer", permanent=True)
        comment = _graph_id(message.headers[HEADER_PUBLIC_REPLY_TO], "the comment answered (public_reply_to)")
        text = single_text(channel, message.text, PUBLIC_TEXT_LIMITS[channel], "public reply")
        token = self._token(channel, account)
        edge = "comments" if channel == "messenger" else "replies"
        body = self._post(f"/{comment}/{edge}", {"message": text}, token)
        return self._id(body, "id")

    def _send_private_reply(self, message: OutboundMessage, account: str) -> str:
        """Meta's private reply: one message to the author of a comment, named by the comment
        (`recipient.comment_id`), within 7 days of it; never split, since only one is allowed."""
        channel = message.channel
        if channel not in ("messenger", "instagram"):
            raise SendError(f"{channel} has no private replies to comments", permanent=True)
        comment = _graph_id(message.headers[HEADER_PRIVATE_REPLY_TO], "the comment (private_reply_to)")
        refused = private_reply_window(message_last_inbound_at(message), self.now())
        if refused is not None:
            raise SendError(f"{channel} private reply not sent: {refused}", permanent=True)
        measure = _utf8_length if channel == "instagram" else len
        text = single_text(channel, message.text, TEXT_LIMITS[channel], "private reply", measure)
        token = self._token(channel, account)
        path = f"/{account}/messages" if channel == "messenger" else "/me/messages"
        payload = {"recipient": {"comment_id": comment}, "message": {"text": text}}
        return self._id(self._post(path, payload, token), "message_id")

    def _send_whatsapp(self, message: OutboundMessage, account: str) -> str:
        template = message.headers.get(HEADER_WHATSAPP_TEMPLATE)
        decision = self._window(message, template=bool(template))
        path = f"/{account}/messages"
        envelope = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": message.to}
        if decision.mode == "template":
            payload = {**envelope, "type": "template", "template": whatsapp_template(message)}
            token = self._token("whatsapp", account)
            return self._id(self._post(path, payload, token), "messages", 0, "id")
        parts = self._parts("whatsapp", message.text)
        token = self._token("whatsapp", account)

        def send_one(text: str) -> str:
            payload = {**envelope, "type": "text", "text": {"preview_url": False, "body": text}}
            return self._id(self._post(path, payload, token), "messages", 0, "id")

        return self._each(parts, send_one)

    def _failure(self, response: HttpResponse) -> SendError:
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return super()._failure(response)
        code, subcode = error.get("code"), error.get("error_subcode")
        data = error.get("error_data")
        details = data.get("details") if isinstance(data, dict) else None
        text = f"Meta error {code}" + (f"/{subcode}" if subcode else "") + f": {error.get('message', '')}"
        if details:
            text += f" ({details})"
        if error.get("fbtrace_id"):
            text += f" [fbtrace_id {error['fbtrace_id']}]"
        retry = code in META_TRANSIENT_CODES or error.get("is_transient") is True
        return _by_status(response.status, f"HTTP {response.status}, {_short(text, 500)}", retry)


def whatsapp_template(message: OutboundMessage) -> dict[str, Any]:
    """The Cloud API `template` object from the message's `whatsapp_template` headers."""
    raw = message.headers.get(HEADER_WHATSAPP_TEMPLATE, "")
    name, _, language = raw.partition(":")
    if not _TEMPLATE_NAME.match(name) or not _TEMPLATE_LANGUAGE.match(language):
        raise SendError(
            f"headers[{HEADER_WHATSAPP_TEMPLATE!r}] must be 'name:language' (e.g. 'ticket_update:en_US'), "
            f"got {raw[:80]!r}",
            permanent=True,
        )
    template: dict[str, Any] = {"name": name, "language": {"code": language}}
    raw_params = message.headers.get(HEADER_WHATSAPP_TEMPLATE_PARAMS)
    if raw_params:
        try:
            params = json.loads(raw_params)
        except ValueError:
            params = None
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            raise SendError(
                f"headers[{HEADER_WHATSAPP_TEMPLATE_PARAMS!r}] must be a JSON list of strings",
                permanent=True,
            )
        if params:
            template["components"] = [
                {"type": "body", "parameters": [{"type": "text", "text": p} for p in params]}
            ]
    return template


class XSender(_HttpSender):
    """Sends X DMs: `POST /dm_conversations/with/{participant_id}/messages` with `{"text"}`.

    `message.to` is the customer's X user id; `message.from_address` (our X user id) only selects
    the token, which must be an OAuth 2.0 user-context token of our account (scope dm.write).
    Returns the `dm_event_id`.
    """

    provider = "X API"
    default_base_url = X_API_URL

    def send(self, message: OutboundMessage) -> str:
        if message.channel != "x":
            raise SendError(f"XSender does not send {message.channel!r} messages", permanent=True)
        if HEADER_PUBLIC_REPLY_TO in message.headers:
            return self._send_public_reply(message)
        participant = _numeric_id(message.to, "the X recipient (to)")
        self._window(message)
        parts = self._parts("x", message.text)
        token = self._token("x", message.from_address or "")
        path = f"/dm_conversations/with/{quote(participant, safe='')}/messages"
        return self._each(
            parts, lambda text: self._id(self._post(path, {"text": text}, token), "data", "dm_event_id")
        )

    def _send_public_reply(self, message: OutboundMessage) -> str:
        """A reply post: `POST /tweets` with `reply.in_reply_to_tweet_id` (the token needs
        tweet.write); one post, never a thread. Returns the new post's id."""
        post = _numeric_id(message.headers[HEADER_PUBLIC_REPLY_TO], "the post to answer (public_reply_to)")
        text = single_text("x", message.text, PUBLIC_TEXT_LIMITS["x"], "public reply")
        token = self._token("x", message.from_address or "")
        payload = {"text": text, "reply": {"in_reply_to_tweet_id": post}}
        return self._id(self._post("/tweets", payload, token), "data", "id")

    def _failure(self, response: HttpResponse) -> SendError:
        body = response.json()
        if not isinstance(body, dict):
            return super()._failure(response)
        # v2 errors are RFC 7807 problem details; older endpoints answer {"errors": [{code, message}]}
        pieces = [str(body[key]) for key in ("title", "detail") if body.get(key)]
        for item in body.get("errors") or []:
            if isinstance(item, dict):
                pieces.append(
                    " ".join(str(item[k]) for k in ("code", "title", "message", "detail") if item.get(k))
                )
        text = "; ".join(p for p in pieces if p) or response.body.decode("utf-8", "replace")
        reset = response.header("x-rate-limit-reset")
        if response.status == 429 and reset:
            text += f" (rate limit resets at epoch {reset})"
        return _by_status(response.status, f"X HTTP {response.status}: {_short(text, 500)}")


def social_senders(
    token_provider: TokenProvider,
    *,
    transport: Transport | None = None,
    graph_url: str = GRAPH_API_URL,
    x_url: str = X_API_URL,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict[str, Sender]:
    """One sender per social channel, ready for `OutboundContext.senders`."""
    meta = MetaSender(token_provider, base_url=graph_url, transport=transport, timeout=timeout)
    x = XSender(token_provider, base_url=x_url, transport=transport, timeout=timeout)
    return {"messenger": meta, "instagram": meta, "whatsapp": meta, "x": x}
