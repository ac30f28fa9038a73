"""Property-based tests of quote stripping and the channel parsers: they never raise on bad input
(beyond their documented errors) and never lose a part of a good one."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.channels.email.parser import parse_email
from shared.channels.email.quotes import _WROTE_VERBS, visible_text
from shared.channels.meta import parse_meta_payload
from shared.channels.sms import parse_sms
from shared.channels.x import parse_x_payload
from shared.errors import HelpdeskError
from shared.models.inbound import ConsentEvent, InboundMessage

BOUNDED = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RECEIVED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
# Plain words: no quote markers, headers, separators or signatures, so every line is new text. A
# line ending in a "wrote" verb after a digit ("0 NAPISAŁ") is a quote header without its colon,
# so the verbs of the quote headers (each word of them, in any case) are not plain words.
_VERB_WORDS = tuple(word for verb in _WROTE_VERBS for word in re.split(r"\\s\+", verb))
words = st.text(st.characters(categories=("L", "N")), min_size=1, max_size=12).filter(
    lambda word: not any(re.fullmatch(verb, word, re.IGNORECASE) for verb in _VERB_WORDS)
)
plain_lines = st.lists(st.lists(words, min_size=1, max_size=6).map(" ".join), min_size=1, max_size=6)


def _count(batch: Any) -> int:
    return len(batch.messages) + len(batch.receipts) + len(batch.notices) + len(batch.ignored)


# -- quote stripping ----------------------------------------------------------------------------


@BOUNDED
@given(st.text(max_size=400))
def test_visible_text_never_raises_and_never_invents_a_line(text: str):
    result = visible_text(text)

    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    assert set(result.split("\n")) <= set(normalized.split("\n"))
    if text.strip():
        assert result.strip()


@BOUNDED
@given(plain_lines, plain_lines, st.sampled_from(["\n", "\r\n"]))
def test_a_top_posted_reply_keeps_every_new_line_and_drops_the_quote(new, quoted, newline):
    text = newline.join([*new, "", "On Mon, 2 Mar 2026 at 09:00, Jane <jane@x.example> wrote:"])
    text += newline + newline.join(f"> {line}" for line in quoted)

    assert visible_text(text) == "\n".join(new)


# -- email --------------------------------------------------------------------------------------


@BOUNDED
@given(st.binary(max_size=600))
def test_parse_email_never_raises_on_any_bytes(raw: bytes):
    parsed = parse_email(raw)

    assert isinstance(parsed.text, str)


@BOUNDED
@given(
    plain_lines,
    st.lists(st.binary(min_size=1, max_size=200), max_size=3),
    st.sampled_from(["utf-8", "latin-1"]),
)
def test_parse_email_keeps_the_text_and_every_attachment(lines, blobs, charset):
    body = "\n".join(lines)
    try:
        body.encode(charset)
    except UnicodeEncodeError:
        charset = "utf-8"
    message = EmailMessage()
    message["From"] = "Jane <jane@customer.example>"
    message["To"] = "support@support.example.com"
    message["Subject"] = "Help"
    message["Message-ID"] = "<m1@customer.example>"
    message.set_content(body, charset=charset)
    for index, blob in enumerate(blobs):
        message.add_attachment(blob, maintype="application", subtype="octet-stream", filename=f"f{index}.bin")

    parsed = parse_email(message.as_bytes())

    assert parsed.full_text.strip() == body.strip()
    assert [(a.name, a.size) for a in parsed.attachments] == [
        (f"f{i}.bin", len(b)) for i, b in enumerate(blobs)
    ]
    assert parsed.message_id == "<m1@customer.example>"
    assert parsed.defects == []


# -- SMS ----------------------------------------------------------------------------------------


@BOUNDED
@given(
    st.dictionaries(
        st.sampled_from(
            ["originationNumber", "destinationNumber", "inboundMessageId", "messageBody", "mediaUrls"]
        ),
        json_values,
    )
)
def test_parse_sms_raises_only_its_documented_errors(payload: dict[str, Any]):
    try:
        result = parse_sms(payload, received_at=RECEIVED)
    except HelpdeskError:
        return
    assert isinstance(result, InboundMessage | ConsentEvent)


@BOUNDED
@given(st.text(max_size=300))
def test_parse_sms_keeps_the_body_exactly(body: str):
    payload = {
        "originationNumber": "+14255550182",
        "destinationNumber": "+12065550142",
        "inboundMessageId": "cae173d2-66b9-564c-8309-21f858e9fb84",
        "messageBody": body,
    }

    result = parse_sms(payload, received_at=RECEIVED)

    assert result.text == body


# -- Meta and X ---------------------------------------------------------------------------------


@BOUNDED
@given(json_values)
def test_parse_meta_payload_raises_only_its_documented_errors(body: Any):
    for wrapped in (
        body,
        {"object": "page", "entry": body},
        {"object": "page", "entry": [{"messaging": body}]},
    ):
        try:
            batch = parse_meta_payload(wrapped)
        except HelpdeskError:
            continue
        assert _count(batch) >= 0


@BOUNDED
@given(st.lists(st.one_of(st.text(min_size=1, max_size=80), json_values), min_size=1, max_size=6))
def test_every_messenger_item_becomes_a_message_or_is_listed_as_ignored(items):
    messaging = [
        {
            "sender": {"id": "7392015648120394"},
            "recipient": {"id": "102938475610293"},
            "timestamp": 1736850202100 + index,
            "message": {"mid": f"m_{index}", "text": item},
        }
        if isinstance(item, str)
        else item
        for index, item in enumerate(items)
    ]
    body = {
        "object": "page",
        "entry": [{"id": "102938475610293", "time": 1736850202871, "messaging": messaging}],
    }

    batch = parse_meta_payload(body)

    texts = [item for item in items if isinstance(item, str)]
    assert [m.text for m in batch.messages if m.provider_message_id.startswith("m_")][: len(texts)] == texts
    assert _count(batch) >= len(items)


@BOUNDED
@given(json_values)
def test_parse_x_payload_raises_only_its_documented_errors(body: Any):
    for wrapped in (
        body,
        {"for_user_id": "4337869213", "direct_message_events": body},
        {"for_user_id": "4337869213", "tweet_create_events": body},
    ):
        try:
            batch = parse_x_payload(wrapped)
        except HelpdeskError:
            continue
        assert _count(batch) >= 0


@BOUNDED
@given(st.lists(st.one_of(st.text(min_size=1, max_size=80), json_values), min_size=1, max_size=6))
def test_every_x_direct_message_becomes_a_message_or_is_listed_as_ignored(items):
    events = [
        {
            "type": "message_create",
            "id": f"18792018365734584{index:02d}",
            "created_timestamp": "1736853000123",
            "message_create": {
                "target": {"recipient_id": "4337869213"},
                "sender_id": "3001969357",
                "message_data": {"text": item},
            },
        }
        if isinstance(item, str)
        else item
        for index, item in enumerate(items)
    ]

    batch = parse_x_payload({"for_user_id": "4337869213", "direct_message_events": events})

    assert [m.text for m in batch.messages] == [item for item in items if isinstance(item, str)]
    assert _count(batch) >= len(items)
