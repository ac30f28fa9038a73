"""X (Twitter) Account Activity webhooks: the CRC check, signatures and DM / mention payloads (no I/O)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.errors import InvalidEventError
from shared.models.inbound import (
    ChannelBatch,
    IgnoredItem,
    InboundAttachment,
    InboundKind,
    InboundMessage,
)
from shared.models.ticket import Channel, Identity, IdentityKind

SIGNATURE_HEADER = "x-twitter-webhooks-signature"
_ENVELOPE_KEYS = frozenset({"for_user_id", "users", "apps", "user_has_blocked", "is_blocked_by", "source"})
_EVENT_KEYS = ("direct_message_events", "tweet_create_events")
_M = TypeVar("_M", bound=BaseModel)
_CRC_TOKEN = re.compile(r"[A-Za-z0-9_=-]{16,128}")
"""X's CRC tokens: UUIDs in X's documentation and sample, base64url-like at most (decision 37)."""
_PHOTO_MIME = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
}


class MalformedPayloadError(InvalidEventError):
    """An X webhook body without the documented envelope (`for_user_id`)."""


class InvalidCrcTokenError(InvalidEventError):
    """A `crc_token` that is not shaped like the tokens X sends; it is never signed."""


class XBatch(ChannelBatch):
    """What one X Account Activity delivery carried for the subscribed account `for_user_id`."""

    for_user_id: str


def crc_response(crc_token: str, consumer_secret: str) -> dict[str, str]:
    """The answer to X's challenge-response check: `{"response_token": "sha256=<base64 HMAC>"}`.

    The HMAC-SHA256 of the `crc_token` query parameter, keyed with the app's consumer secret; the
    same key signs X's POST bodies, so only tokens shaped like X's are signed: 16 to 128
    characters of `A-Z a-z 0-9 _ - =` that are not themselves a JSON value. No webhook body (a
    JSON object) can have that shape, so the answer can never pass as a body's signature.
    Raises InvalidCrcTokenError for any other token, ValueError when the secret is empty.
    """
    if not is_crc_token(crc_token):
        raise InvalidCrcTokenError("crc_token is not shaped like an X CRC token")
    if not consumer_secret:
        raise ValueError("X consumer secret is empty")
    digest = hmac.new(consumer_secret.encode("utf-8"), crc_token.encode("ascii"), hashlib.sha256).digest()
    return {"response_token": "sha256=" + base64.b64encode(digest).decode("ascii")}


def is_crc_token(value: object) -> bool:
    """Whether `value` has the shape of an X CRC token (see `crc_response`)."""
    if not isinstance(value, str) or not _CRC_TOKEN.fullmatch(value):
        return False
    try:
        json.loads(value)  # over this alphabet only a bare number, true, false, null or NaN parse
    except ValueError:
        return True
    return False


def verify_signature(raw_body: bytes, header: str | None, consumer_secret: str) -> bool:
    """Whether `x-twitter-webhooks-signature` (`sha256=<base64>`) is the HMAC-SHA256 of the exact body.

    Keyed with the consumer secret, compared in constant time. A missing or undecodable header
    or an empty secret fails, and so does a body shaped like a CRC token: `crc_response` signs such
    bytes for anyone who asks, so their signature proves nothing.
    """
    if not header or not consumer_secret or not header.isascii():
        return False
    if _CRC_TOKEN.fullmatch(raw_body.decode("ascii", "replace")):
        return False
    scheme, _, received = header.strip().partition("=")
    if scheme.lower() != "sha256" or not received:
        return False
    try:
        received_digest = base64.b64decode(received.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    expected = hmac.new(consumer_secret.encode("utf-8"), raw_body, hashlib.sha256).digest()
    return hmac.compare_digest(expected, received_digest)


def parse_x_payload(body: Any) -> XBatch:
    """Sort an Account Activity delivery into inbound messages and ignored items.

    `direct_message_events` become private messages (our own sends, where the sender is the
    subscribed account, are ignored); `tweet_create_events` that mention or reply to the
    subscribed account become public mentions. Everything else (likes, follows, typing,
    read receipts, retweets, our own posts) is listed as ignored with a reason.
    Raises MalformedPayloadError when the body has no `for_user_id`.
    """
    if not isinstance(body, Mapping):
        raise MalformedPayloadError("X webhook body is not a JSON object")
    for_user = body.get("for_user_id")
    if isinstance(for_user, int) and not isinstance(for_user, bool):
        for_user = str(for_user)
    if not isinstance(for_user, str) or not for_user:
        raise MalformedPayloadError("X webhook body has no 'for_user_id'")

    batch = XBatch(for_user_id=for_user)
    users = _users(body.get("users"))
    events = body.get("direct_message_events")
    if events is not None:
        for index, event in enumerate(_as_list(events, "direct_message_events", batch)):
            _guard(batch, f"direct_message_events[{index}]", _dm, event, for_user, users, batch)
    tweets = body.get("tweet_create_events")
    if tweets is not None:
        blocked = str(body.get("user_has_blocked", "")).lower() == "true"
        for index, tweet in enumerate(_as_list(tweets, "tweet_create_events", batch)):
            _guard(batch, f"tweet_create_events[{index}]", _tweet, tweet, for_user, blocked, batch)
    for key in sorted(set(body) - _ENVELOPE_KEYS - set(_EVENT_KEYS)):
        batch.ignored.append(IgnoredItem(reason="unsupported event", where=key))
    return batch


# --- payload shapes -----------------------------------------------------------------------------


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, coerce_numbers_to_str=True)


class _User(_Lenient):
    id: str | None = None
    id_str: str | None = None
    name: str | None = None
    screen_name: str | None = None

    @property
    def key(self) -> str | None:
        return self.id_str or self.id


class _Variant(_Lenient):
    bitrate: int | None = None
    content_type: str | None = None
    url: str | None = None


class _VideoInfo(_Lenient):
    variants: list[_Variant] = Field(default_factory=list)


class _Media(_Lenient):
    id: str | None = None
    id_str: str | None = None
    type: str = "photo"
    media_url_https: str | None = None
    media_url: str | None = None
    url: str | None = None
    """The t.co link X appends to the text for the media."""
    video_info: _VideoInfo | None = None


class _DmAttachment(_Lenient):
    type: str = "media"
    media: _Media | None = None


class _QuickReplyResponse(_Lenient):
    type: str | None = None
    metadata: str | None = None


class _MessageData(_Lenient):
    text: str = ""
    attachment: _DmAttachment | None = None
    quick_reply_response: _QuickReplyResponse | None = None


class _Target(_Lenient):
    recipient_id: str | None = None


class _MessageCreate(_Lenient):
    sender_id: str = Field(min_length=1)
    target: _Target | None = None
    message_data: _MessageData = Field(default_factory=_MessageData)


class _DmEvent(_Lenient):
    type: str = ""
    id: str = Field(min_length=1)
    created_timestamp: str
    message_create: _MessageCreate | None = None


class _Mentioned(_Lenient):
    id: str | None = None
    id_str: str | None = None


class _Entities(_Lenient):
    user_mentions: list[_Mentioned] = Field(default_factory=list)
    media: list[_Media] = Field(default_factory=list)


class _ExtendedTweet(_Lenient):
    full_text: str | None = None
    entities: _Entities | None = None
    extended_entities: _Entities | None = None


class _Tweet(_Lenient):
    id: str | None = None
    id_str: str | None = None
    text: str | None = None
    full_text: str | None = None
    extended_tweet: _ExtendedTweet | None = None
    user: _User | None = None
    entities: _Entities | None = None
    extended_entities: _Entities | None = None
    in_reply_to_status_id_str: str | None = None
    in_reply_to_user_id_str: str | None = None
    retweeted_status: dict[str, Any] | None = None
    created_at: str | None = None
    timestamp_ms: str | None = None


# --- events -------------------------------------------------------------------------------------


class _SkipItemError(Exception):
    """An item to list as ignored instead of parsing further."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def _dm(raw: Any, for_user: str, users: Mapping[str, _User], batch: XBatch) -> None:
    event = _parse(_DmEvent, raw, "direct message event")
    if event.type != "message_create" or event.message_create is None:
        raise _SkipItemError("unsupported direct message event", event.type or "no type")
    create = event.message_create
    if create.sender_id == for_user:
        raise _SkipItemError("own message", event.id)
    at = _ms(event.created_timestamp)
    data = create.message_data
    attachments: list[InboundAttachment] = []
    text = data.text
    if data.attachment is not None and data.attachment.media is not None:
        attachments.append(_attachment(data.attachment.media))
        text = _strip_link(text, data.attachment.media.url)
    sender = users.get(create.sender_id)
    metadata = {"screen_name": sender.screen_name} if sender and sender.screen_name else {}
    recipient = (create.target.recipient_id if create.target else None) or for_user
    batch.messages.append(
        InboundMessage(
            channel=Channel.X,
            provider_message_id=event.id,
            conversation_key=f"x:{recipient}:{create.sender_id}",
            sender=Identity(kind=IdentityKind.X, value=create.sender_id),
            sender_name=sender.name if sender else None,
            recipient=recipient,
            sent_at=at,
            text=text,
            attachments=attachments,
            quick_reply_payload=data.quick_reply_response.metadata if data.quick_reply_response else None,
            metadata=metadata,
        )
    )


def _tweet(raw: Any, for_user: str, blocked: bool, batch: XBatch) -> None:
    tweet = _parse(_Tweet, raw, "tweet")
    tweet_id = tweet.id_str or tweet.id
    if not tweet_id:
        raise _SkipItemError("malformed", "tweet without id_str")
    author = tweet.user.key if tweet.user else None
    if not author:
        raise _SkipItemError("malformed", "tweet without user.id_str")
    if author == for_user:
        raise _SkipItemError("own post", tweet_id)
    if tweet.retweeted_status is not None:
        raise _SkipItemError("retweet", tweet_id)
    extended = tweet.extended_tweet
    entities = (extended.entities if extended else None) or tweet.entities or _Entities()
    mentioned = {m.id_str or m.id for m in entities.user_mentions}
    if for_user not in mentioned and tweet.in_reply_to_user_id_str != for_user:
        raise _SkipItemError("not a mention", tweet_id)
    if blocked:
        raise _SkipItemError("blocked author", tweet_id)
    at = _tweet_time(tweet)
    media_entities = (extended.extended_entities if extended else None) or tweet.extended_entities or entities
    text = (extended.full_text if extended else None) or tweet.full_text or tweet.text or ""
    attachments = []
    for media in media_entities.media:
        attachments.append(_attachment(media))
        text = _strip_link(text, media.url)
    user = tweet.user
    metadata = {"screen_name": user.screen_name} if user and user.screen_name else {}
    post = tweet.in_reply_to_status_id_str or tweet_id
    batch.messages.append(
        InboundMessage(
            channel=Channel.X,
            kind=InboundKind.MENTION,
            provider_message_id=tweet_id,
            conversation_key=f"x:{for_user}:mention:{post}:{author}",
            sender=Identity(kind=IdentityKind.X, value=author),
            sender_name=user.name if user else None,
            recipient=for_user,
            sent_at=at,
            text=text,
            attachments=attachments,
            reply_to=tweet.in_reply_to_status_id_str,
            post_id=post,
            public=True,
            metadata=metadata,
        )
    )


def _attachment(media: _Media) -> InboundAttachment:
    url = media.media_url_https or media.media_url
    mime = None
    if media.type in ("video", "animated_gif") and media.video_info is not None:
        mp4 = [v for v in media.video_info.variants if v.url and v.content_type == "video/mp4"]
        best = max(mp4, key=lambda v: v.bitrate or 0) if mp4 else None
        if best is not None:
            url, mime = best.url, best.content_type
    elif url:
        mime = _PHOTO_MIME.get(url.rsplit(".", 1)[-1].lower())
    return InboundAttachment(
        type="image" if media.type == "photo" else "video",
        url=url,
        media_id=media.id_str or media.id,
        mime_type=mime,
        data={"x_type": media.type},
    )


def _strip_link(text: str, link: str | None) -> str:
    """The text without the t.co link X appends for attached media."""
    if link and text.rstrip().endswith(link):
        return text.rstrip()[: -len(link)].rstrip()
    return text


def _tweet_time(tweet: _Tweet) -> datetime:
    if tweet.timestamp_ms:
        return _ms(tweet.timestamp_ms)
    if tweet.created_at:
        try:
            return datetime.strptime(tweet.created_at, "%a %b %d %H:%M:%S %z %Y").astimezone(UTC)
        except ValueError as exc:
            raise _SkipItemError("malformed", f"unreadable created_at {tweet.created_at!r}") from exc
    raise _SkipItemError("malformed", "tweet without timestamp_ms or created_at")


def _ms(value: str) -> datetime:
    text = value.strip()
    if not text.isdigit():
        raise _SkipItemError("malformed", f"not a millisecond timestamp: {value!r}")
    return datetime.fromtimestamp(int(text) / 1000, UTC)


def _users(value: Any) -> dict[str, _User]:
    users: dict[str, _User] = {}
    if not isinstance(value, Mapping):
        return users
    for key, raw in value.items():
        if not isinstance(raw, Mapping):
            continue
        try:
            user = _User.model_validate(raw)
        except ValidationError:
            continue
        users[str(key)] = user
    return users


def _as_list(value: Any, name: str, batch: XBatch) -> list[Any]:
    if isinstance(value, list):
        return value
    batch.ignored.append(IgnoredItem(reason="malformed", where=name, detail="not a list"))
    return []


def _guard(batch: XBatch, where: str, parse: Callable[..., None], *args: Any) -> None:
    """Run one item's parser; an item that cannot be used is listed as ignored with its reason."""
    try:
        parse(*args)
    except ValidationError as exc:  # a value our models refuse (e.g. an empty id): never fail the batch
        _ignore_error(batch, where, exc)
    except _SkipItemError as skip:
        batch.ignored.append(IgnoredItem(reason=skip.reason, where=where, detail=skip.detail))


def _parse(model: type[_M], value: Any, name: str) -> _M:
    if not isinstance(value, Mapping):
        raise _SkipItemError("malformed", f"{name} is not an object")
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(part) for part in first["loc"])
        raise _SkipItemError("malformed", f"{name}: {loc}: {first['msg']}") from exc


def _ignore_error(batch: ChannelBatch, where: str, exc: ValidationError) -> None:
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": str(exc)}
    loc = ".".join(str(part) for part in first["loc"])
    batch.ignored.append(IgnoredItem(reason="malformed", where=where, detail=f"{loc}: {first['msg']}"))
