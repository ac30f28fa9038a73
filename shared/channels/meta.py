"""Meta webhooks (Messenger, Instagram, WhatsApp Cloud API): signatures, the verify handshake and payloads.

Pure functions over the bytes and JSON Meta sends; no I/O. One webhook delivery can batch many
entries, each with many events, so `parse_meta_payload` sorts everything into messages,
delivery receipts and ignored items, and never fails because of one odd item.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.errors import InvalidEventError
from shared.models.inbound import (
    ChannelBatch,
    ConversationNotice,
    DeliveryReceipt,
    DeliveryStatus,
    IgnoredItem,
    InboundAttachment,
    InboundKind,
    InboundMessage,
    NoticeKind,
    ReceiptError,
)
from shared.models.ticket import Channel, Identity, IdentityKind

SIGNATURE_HEADER = "x-hub-signature-256"
OBJECT_PAGE = "page"
OBJECT_INSTAGRAM = "instagram"
OBJECT_WHATSAPP = "whatsapp_business_account"
SUPPORTED_OBJECTS = (OBJECT_PAGE, OBJECT_INSTAGRAM, OBJECT_WHATSAPP)

_CHALLENGE = re.compile(r"[0-9]{1,64}")
"""Meta's `hub.challenge` is "an int you must pass back": nothing else is ever echoed (decision 38)."""
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")
_MS_THRESHOLD = 100_000_000_000  # epoch values above this are milliseconds (year 1973 in ms, 5138 in s)
_MESSAGING_FIELDS = frozenset(
    {"messages", "messaging_postbacks", "message_reactions", "messaging_seen", "message_echoes"}
)
_WA_MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
_WA_STATUSES = {status.value: status for status in DeliveryStatus}
_PLATFORM_NAMES = {
    Channel.MESSENGER: "Messenger",
    Channel.INSTAGRAM: "Instagram",
    Channel.WHATSAPP: "WhatsApp",
}
UNSUPPORTED_FLAG = "unsupported"
_M = TypeVar("_M", bound=BaseModel)


class UnsupportedPayloadError(InvalidEventError):
    """A Meta webhook for an `object` the helpdesk does not handle (not page, instagram or WhatsApp)."""


class MalformedPayloadError(InvalidEventError):
    """A Meta webhook body without the documented envelope (`object`, `entry[]`)."""


class MetaBatch(ChannelBatch):
    """What one Meta webhook delivery carried."""

    object: str


def verify_signature(raw_body: bytes, header: str | None, app_secret: str) -> bool:
    """Whether `X-Hub-Signature-256` (`sha256=<hex>`) is the app secret's HMAC-SHA256 of the exact body.

    The HMAC covers the bytes as received (Meta escapes non-ASCII as `\\uXXXX`), so the body must
    never be re-serialised before checking. A missing header, one that is not 64 hex digits, or an
    empty secret fails.
    """
    if not header or not app_secret:
        return False
    scheme, _, received = header.strip().partition("=")
    digest = received.strip().lower()
    if scheme.lower() != "sha256" or not _HEX_SHA256.fullmatch(digest):
        return False
    expected = hmac.new(app_secret.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), digest.encode("ascii"))


def verification_response(query: Mapping[str, str | None] | None, verify_token: str) -> str | None:
    """The challenge to answer Meta's subscribe handshake with, or None to refuse it (403).

    Needs `hub.mode=subscribe`, a `hub.verify_token` equal to ours (never an empty one) and a
    challenge of 1 to 64 digits, the only shape Meta sends; the names may also arrive with
    underscores (`hub_mode`). The challenge is returned as received, for a text/plain body.
    """
    if not query or not verify_token:
        return None

    def param(name: str) -> str:
        value = query.get(f"hub.{name}")
        if value is None:
            value = query.get(f"hub_{name}")
        return value or ""

    token = param("verify_token")
    challenge = param("challenge")
    if param("mode") != "subscribe" or not token:
        return None
    if not hmac.compare_digest(token.encode("utf-8", "surrogatepass"), verify_token.encode("utf-8")):
        return None
    if not _CHALLENGE.fullmatch(challenge):
        return None
    return challenge


def parse_meta_payload(
    body: Any, *, instagram_account_ids: Collection[str] = (), app_id: str | None = None
) -> MetaBatch:
    """Sort a Meta webhook body into inbound messages, delivery receipts, notices and ignored items.

    Handles `object` page (Messenger and Page comments), instagram (DMs, comments, @mentions)
    and whatsapp_business_account (messages and statuses), in every entry and every
    `messaging[]`, `standby[]` and `changes[]` item. A message the platform could not pass on
    (WhatsApp `unsupported` or an unknown type, Messenger/Instagram `is_unsupported`) is still a
    message, flagged `unsupported`. An unsend (`is_deleted`) and an echo of a reply that another
    app sent (its `app_id` is not our `app_id`, e.g. Meta's own inbox) become notices. Echoes of
    our own sends, reactions, edits, unknown or malformed items are listed in `ignored` with a
    reason. Page entries whose id is in `instagram_account_ids` are read as Instagram (the
    Facebook-Login route may say "page").
    Raises UnsupportedPayloadError for another `object` and MalformedPayloadError when the
    envelope itself is not as documented.
    """
    if not isinstance(body, Mapping):
        raise MalformedPayloadError("Meta webhook body is not a JSON object")
    obj = body.get("object")
    if not isinstance(obj, str) or not obj:
        raise MalformedPayloadError("Meta webhook body has no 'object'")
    if obj not in SUPPORTED_OBJECTS:
        raise UnsupportedPayloadError(f"unsupported Meta webhook object {obj!r}")
    entries = body.get("entry")
    if not isinstance(entries, list):
        raise MalformedPayloadError("Meta webhook body has no 'entry' list")

    batch = MetaBatch(object=obj)
    for index, entry in enumerate(entries):
        where = f"entry[{index}]"
        if not isinstance(entry, Mapping):
            _ignore(batch, "malformed", where, "entry is not an object")
            continue
        if obj == OBJECT_WHATSAPP:
            _whatsapp_entry(entry, where, batch)
            continue
        entry_id = _id(entry.get("id"))
        instagram = obj == OBJECT_INSTAGRAM or (entry_id is not None and entry_id in instagram_account_ids)
        _social_entry(entry, where, Channel.INSTAGRAM if instagram else Channel.MESSENGER, app_id, batch)
    return batch


# --- payload shapes (lenient: unknown fields are ignored, numbers are read as strings) ----------


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, coerce_numbers_to_str=True)


class _Ref(_Lenient):
    id: str | None = None


class _AttachmentPayload(_Lenient):
    url: str | None = None
    title: str | None = None
    sticker_id: str | None = None
    reel_video_id: str | None = None
    coordinates: dict[str, Any] | None = None


class _Attachment(_Lenient):
    type: str = "unknown"
    payload: _AttachmentPayload | None = None
    title: str | None = None
    url: str | None = None


class _Story(_Lenient):
    id: str | None = None
    url: str | None = None


class _ReplyTo(_Lenient):
    mid: str | None = None
    story: _Story | None = None


class _Payload(_Lenient):
    payload: str | None = None


class _Referral(_Lenient):
    ref: str | None = None
    source: str | None = None
    type: str | None = None
    ad_id: str | None = None


class _Message(_Lenient):
    mid: str = Field(min_length=1)
    text: str | None = None
    attachments: list[_Attachment] = Field(default_factory=list)
    quick_reply: _Payload | None = None
    reply_to: _ReplyTo | None = None
    referral: _Referral | None = None
    is_echo: bool = False
    is_deleted: bool = False
    is_unsupported: bool = False
    is_self: bool = False
    app_id: str | None = None
    """On an echo: the app that sent the message."""


class _Postback(_Lenient):
    mid: str | None = None
    title: str | None = None
    payload: str | None = None
    referral: _Referral | None = None


class _Delivery(_Lenient):
    mids: list[str] = Field(default_factory=list)
    watermark: str | None = None


class _Read(_Lenient):
    watermark: str | None = None
    mid: str | None = None


class _From(_Lenient):
    id: str | None = None
    name: str | None = None
    username: str | None = None


class _FeedValue(_Lenient):
    item: str | None = None
    verb: str | None = None
    comment_id: str | None = None
    post_id: str | None = None
    parent_id: str | None = None
    message: str | None = None
    created_time: str | None = None
    from_: _From | None = Field(default=None, alias="from")
    sender_id: str | None = None
    sender_name: str | None = None
    photo: str | None = None
    video: str | None = None


class _IgMedia(_Lenient):
    id: str | None = None
    media_product_type: str | None = None


class _IgComment(_Lenient):
    id: str | None = None
    comment_id: str | None = None
    text: str | None = None
    parent_id: str | None = None
    from_: _From | None = Field(default=None, alias="from")
    media: _IgMedia | None = None


class _IgMention(_Lenient):
    media_id: str | None = None
    comment_id: str | None = None


class _WaMetadata(_Lenient):
    phone_number_id: str = Field(min_length=1)
    display_phone_number: str | None = None


class _WaProfile(_Lenient):
    name: str | None = None


class _WaContact(_Lenient):
    wa_id: str | None = None
    profile: _WaProfile | None = None


class _WaValue(_Lenient):
    metadata: _WaMetadata
    contacts: list[_WaContact] = Field(default_factory=list)
    messages: list[Any] = Field(default_factory=list)
    statuses: list[Any] = Field(default_factory=list)


class _WaText(_Lenient):
    body: str = ""


class _WaMedia(_Lenient):
    id: str | None = None
    mime_type: str | None = None
    caption: str | None = None
    filename: str | None = None
    url: str | None = None
    sha256: str | None = None
    voice: bool | None = None
    animated: bool | None = None


class _WaLocation(_Lenient):
    latitude: float | None = None
    longitude: float | None = None
    name: str | None = None
    address: str | None = None
    url: str | None = None


class _WaReply(_Lenient):
    id: str | None = None
    title: str | None = None
    description: str | None = None


class _WaInteractive(_Lenient):
    type: str = ""
    button_reply: _WaReply | None = None
    list_reply: _WaReply | None = None


class _WaButton(_Lenient):
    payload: str | None = None
    text: str | None = None


class _WaContext(_Lenient):
    id: str | None = None
    from_: str | None = Field(default=None, alias="from")
    forwarded: bool | None = None
    frequently_forwarded: bool | None = None


class _WaReferral(_Lenient):
    source_url: str | None = None
    source_id: str | None = None
    source_type: str | None = None


class _WaMessage(_Lenient):
    from_: str = Field(alias="from", min_length=1)
    id: str = Field(min_length=1)
    timestamp: str
    type: str = "unknown"
    text: _WaText | None = None
    image: _WaMedia | None = None
    video: _WaMedia | None = None
    audio: _WaMedia | None = None
    document: _WaMedia | None = None
    sticker: _WaMedia | None = None
    location: _WaLocation | None = None
    contacts: list[dict[str, Any]] = Field(default_factory=list)
    interactive: _WaInteractive | None = None
    button: _WaButton | None = None
    context: _WaContext | None = None
    referral: _WaReferral | None = None
    errors: list[_WaError] = Field(default_factory=list)
    """On `type: unsupported`: why WhatsApp could not pass the message on (e.g. code 131051)."""


class _WaErrorData(_Lenient):
    details: str | None = None


class _WaError(_Lenient):
    code: str | None = None
    title: str | None = None
    message: str | None = None
    error_data: _WaErrorData | None = None


class _WaStatus(_Lenient):
    id: str = Field(min_length=1)
    status: str
    timestamp: str
    recipient_id: str | None = None
    errors: list[_WaError] = Field(default_factory=list)


# --- Messenger and Instagram --------------------------------------------------------------------


class _SkipItemError(Exception):
    """An item to list as ignored instead of parsing further."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


class _UnsupportedContentError(Exception):
    """A customer message whose content we cannot read: stored flagged, never dropped."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def _social_entry(
    entry: Mapping[str, Any], where: str, channel: Channel, app_id: str | None, batch: MetaBatch
) -> None:
    entry_id = _id(entry.get("id"))
    entry_time = _epoch(entry.get("time"))
    found = False
    for key in ("messaging", "standby"):
        items = entry.get(key)
        if isinstance(items, list):
            found = True
            for index, item in enumerate(items):
                standby = key == "standby"
                item_where = f"{where}.{key}[{index}]"
                _guard(
                    batch,
                    item_where,
                    _messaging_item,
                    item,
                    channel,
                    entry_id,
                    entry_time,
                    standby,
                    app_id,
                    batch,
                )
    changes = entry.get("changes")
    if isinstance(changes, list):
        found = True
        for index, change in enumerate(changes):
            change_where = f"{where}.changes[{index}]"
            _guard(batch, change_where, _social_change, change, channel, entry_id, entry_time, app_id, batch)
    elif "field" in entry and "value" in entry:
        # Instagram API with Instagram Login documents comments flat on the entry.
        found = True
        _guard(batch, where, _social_change, entry, channel, entry_id, entry_time, app_id, batch)
    if not found:
        _ignore(batch, "empty entry", where, "no messaging, standby or changes")


def _messaging_item(
    item: Any,
    channel: Channel,
    entry_id: str | None,
    entry_time: datetime | None,
    standby: bool,
    app_id: str | None,
    batch: MetaBatch,
) -> None:
    if not isinstance(item, Mapping):
        raise _SkipItemError("malformed", "item is not an object")
    sender = _parse(_Ref, item.get("sender") or {}, "sender").id
    ours = _parse(_Ref, item.get("recipient") or {}, "recipient").id or entry_id
    at = _epoch(item.get("timestamp")) or entry_time
    if "message" in item:
        _messenger_message(item, channel, sender, ours, at, standby, app_id, batch)
    elif "postback" in item:
        _postback(item, channel, sender, ours, at, standby, batch)
    elif "delivery" in item:
        _receipt(item, "delivery", channel, sender, ours, at, batch)
    elif "read" in item:
        _receipt(item, "read", channel, sender, ours, at, batch)
    elif "reaction" in item:
        raise _SkipItemError("reaction")
    else:
        kinds = sorted(set(item) - {"sender", "recipient", "timestamp"})
        raise _SkipItemError("unsupported event", ",".join(kinds) or "no event key")


def _messenger_message(
    item: Mapping[str, Any],
    channel: Channel,
    sender: str | None,
    ours: str | None,
    at: datetime | None,
    standby: bool,
    app_id: str | None,
    batch: MetaBatch,
) -> None:
    message = _parse(_Message, item.get("message"), "message")
    if message.is_echo:
        # An echo goes from our account (sender) to the customer (recipient).
        if app_id is not None and message.app_id == app_id:
            raise _SkipItemError("echo", message.mid)
        _external_reply(message, channel, account=sender, customer=ours, at=at, batch=batch)
        return
    if message.is_self:
        raise _SkipItemError("self test", message.mid)
    sender, ours, at = _require_parties(sender, ours, at)
    if message.is_deleted:
        batch.notices.append(
            ConversationNotice(
                kind=NoticeKind.UNSENT,
                channel=channel,
                provider_message_id=message.mid,
                conversation_key=f"{channel.value}:{ours}:{sender}",
                recipient=ours,
                at=at,
            )
        )
        return

    metadata: dict[str, str] = {}
    flags: list[str] = []
    text = message.text or ""
    if message.is_unsupported:
        flags.append(UNSUPPORTED_FLAG)
        metadata["unsupported"] = "is_unsupported"
        text = text or _unsupported_text(channel)
    if standby:
        metadata["standby"] = "true"
    _referral_metadata(message.referral, metadata)
    reply_to = None
    if message.reply_to is not None:
        reply_to = message.reply_to.mid
        story = message.reply_to.story
        if story is not None:
            reply_to = reply_to or story.id
            if story.url:
                metadata["reply_to_story_url"] = story.url
    batch.messages.append(
        InboundMessage(
            channel=channel,
            provider_message_id=message.mid,
            conversation_key=f"{channel.value}:{ours}:{sender}",
            sender=Identity(kind=_identity_kind(channel), value=sender),
            recipient=ours,
            sent_at=at,
            text=text,
            attachments=_attachments(message.attachments),
            quick_reply_payload=message.quick_reply.payload if message.quick_reply else None,
            reply_to=reply_to,
            metadata=metadata,
            flags=flags,
        )
    )


def _external_reply(
    message: _Message,
    channel: Channel,
    *,
    account: str | None,
    customer: str | None,
    at: datetime | None,
    batch: MetaBatch,
) -> None:
    """An echo of a reply another app sent (Meta's own inbox, a phone): a notice for the ticket."""
    account, customer, at = _require_parties(account, customer, at)
    batch.notices.append(
        ConversationNotice(
            kind=NoticeKind.EXTERNAL_REPLY,
            channel=channel,
            provider_message_id=message.mid,
            conversation_key=f"{channel.value}:{account}:{customer}",
            recipient=account,
            at=at,
            text=message.text or "",
            attachments=_attachments(message.attachments),
            app_id=message.app_id,
        )
    )


def _unsupported_text(channel: Channel, what: str = "") -> str:
    """What agents read for a message the platform could not pass on (no digits: nothing to rate)."""
    kind = f" ({what})" if what else ""
    return (
        f"[The customer sent a {_PLATFORM_NAMES.get(channel, channel.value)} message{kind} that the "
        "platform does not pass on to the helpdesk. Ask them to send it again as text or a photo.]"
    )


def _postback(
    item: Mapping[str, Any],
    channel: Channel,
    sender: str | None,
    ours: str | None,
    at: datetime | None,
    standby: bool,
    batch: MetaBatch,
) -> None:
    postback = _parse(_Postback, item.get("postback"), "postback")
    sender, ours, at = _require_parties(sender, ours, at)
    metadata: dict[str, str] = {"standby": "true"} if standby else {}
    _referral_metadata(postback.referral, metadata)
    # Older postbacks carry no mid: the sender and time identify them.
    provider_id = postback.mid or f"postback:{sender}:{int(at.timestamp() * 1000)}"
    batch.messages.append(
        InboundMessage(
            channel=channel,
            kind=InboundKind.POSTBACK,
            provider_message_id=provider_id,
            conversation_key=f"{channel.value}:{ours}:{sender}",
            sender=Identity(kind=_identity_kind(channel), value=sender),
            recipient=ours,
            sent_at=at,
            text=postback.title or "",
            postback_payload=postback.payload,
            metadata=metadata,
        )
    )


def _receipt(
    item: Mapping[str, Any],
    key: str,
    channel: Channel,
    customer: str | None,
    ours: str | None,
    at: datetime | None,
    batch: MetaBatch,
) -> None:
    if key == "delivery":
        delivery = _parse(_Delivery, item.get(key), key)
        status, ids, watermark = DeliveryStatus.DELIVERED, delivery.mids, _epoch(delivery.watermark)
    else:
        read = _parse(_Read, item.get(key), key)
        status, ids, watermark = DeliveryStatus.READ, [read.mid] if read.mid else [], _epoch(read.watermark)
    if not ids and watermark is None:
        raise _SkipItemError("malformed", f"{key}: neither mids nor watermark")
    if not ours:
        raise _SkipItemError("malformed", "missing recipient.id")
    batch.receipts.append(
        DeliveryReceipt(
            channel=channel,
            status=status,
            message_ids=ids,
            watermark=watermark,
            at=at or watermark or _now(),
            account=ours,
            customer=customer,
        )
    )


def _social_change(
    change: Any,
    channel: Channel,
    entry_id: str | None,
    entry_time: datetime | None,
    app_id: str | None,
    batch: MetaBatch,
) -> None:
    if not isinstance(change, Mapping):
        raise _SkipItemError("malformed", "change is not an object")
    field = change.get("field")
    value = change.get("value")
    if not isinstance(field, str) or not isinstance(value, Mapping):
        raise _SkipItemError("malformed", "change without field or value")
    if field in _MESSAGING_FIELDS and "sender" in value:
        # Some Meta tools and products wrap messaging events as changes.
        _messaging_item(value, channel, entry_id, entry_time, False, app_id, batch)
        return
    if not entry_id:
        raise _SkipItemError("malformed", "entry without id")
    if channel is Channel.INSTAGRAM:
        if field in ("comments", "live_comments"):
            _ig_comment(value, field, entry_id, entry_time, batch)
        elif field == "mentions":
            _ig_mention(value, entry_id, entry_time, batch)
        else:
            raise _SkipItemError("unsupported field", field)
    elif field == "feed":
        _page_feed(value, entry_id, entry_time, batch)
    elif field == "mention":
        _page_mention(value, entry_id, entry_time, batch)
    else:
        raise _SkipItemError("unsupported field", field)


def _page_feed(value: Mapping[str, Any], page_id: str, entry_time: datetime | None, batch: MetaBatch) -> None:
    feed = _parse(_FeedValue, value, "value")
    if feed.item != "comment":
        raise _SkipItemError("unsupported feed item", feed.item or "")
    if feed.verb != "add":
        raise _SkipItemError(f"comment {feed.verb or 'change'}", feed.comment_id or "")
    author, name = _author(feed)
    if author == page_id:
        raise _SkipItemError("own comment", feed.comment_id or "")
    if not feed.comment_id:
        raise _SkipItemError("malformed", "comment without comment_id")
    at = _require_time(_epoch(feed.created_time) or entry_time)
    post = feed.post_id or ""
    attachments = []
    if feed.photo:
        attachments.append(InboundAttachment(type="image", url=feed.photo))
    if feed.video:
        attachments.append(InboundAttachment(type="video", url=feed.video))
    batch.messages.append(
        InboundMessage(
            channel=Channel.MESSENGER,
            kind=InboundKind.COMMENT,
            provider_message_id=feed.comment_id,
            conversation_key=f"messenger:{page_id}:comment:{post}:{author}",
            sender=Identity(kind=IdentityKind.MESSENGER, value=author),
            sender_name=name,
            recipient=page_id,
            sent_at=at,
            text=feed.message or "",
            attachments=attachments,
            reply_to=feed.parent_id if feed.parent_id and feed.parent_id != feed.post_id else None,
            post_id=feed.post_id,
            public=True,
        )
    )


def _page_mention(
    value: Mapping[str, Any], page_id: str, entry_time: datetime | None, batch: MetaBatch
) -> None:
    mention = _parse(_FeedValue, value, "value")
    if mention.verb not in (None, "add"):
        raise _SkipItemError(f"mention {mention.verb}", mention.comment_id or mention.post_id or "")
    provider_id = mention.comment_id or mention.post_id
    if not provider_id:
        raise _SkipItemError("malformed", "mention without post_id or comment_id")
    author, name = _author(mention)
    if author == page_id:
        raise _SkipItemError("own mention", provider_id)
    at = _require_time(_epoch(mention.created_time) or entry_time)
    batch.messages.append(
        InboundMessage(
            channel=Channel.MESSENGER,
            kind=InboundKind.MENTION,
            provider_message_id=provider_id,
            conversation_key=f"messenger:{page_id}:mention:{mention.post_id or provider_id}:{author}",
            sender=Identity(kind=IdentityKind.MESSENGER, value=author),
            sender_name=name,
            recipient=page_id,
            sent_at=at,
            text=mention.message or "",
            post_id=mention.post_id,
            public=True,
        )
    )


def _ig_comment(
    value: Mapping[str, Any], field: str, account: str, entry_time: datetime | None, batch: MetaBatch
) -> None:
    comment = _parse(_IgComment, value, "value")
    provider_id = comment.id or comment.comment_id
    if not provider_id:
        raise _SkipItemError("malformed", "comment without id")
    author = comment.from_.id if comment.from_ else None
    if not author:
        raise _SkipItemError("malformed", "comment without from.id")
    if author == account:
        raise _SkipItemError("own comment", provider_id)
    at = _require_time(entry_time)
    media = comment.media.id if comment.media else None
    metadata: dict[str, str] = {}
    if comment.media and comment.media.media_product_type:
        metadata["media_product_type"] = comment.media.media_product_type
    if field == "live_comments":
        metadata["live"] = "true"
    batch.messages.append(
        InboundMessage(
            channel=Channel.INSTAGRAM,
            kind=InboundKind.COMMENT,
            provider_message_id=provider_id,
            conversation_key=f"instagram:{account}:comment:{media or ''}:{author}",
            sender=Identity(kind=IdentityKind.INSTAGRAM, value=author),
            sender_name=comment.from_.username if comment.from_ else None,
            recipient=account,
            sent_at=at,
            text=comment.text or "",
            reply_to=comment.parent_id,
            post_id=media,
            public=True,
            metadata=metadata,
        )
    )


def _ig_mention(
    value: Mapping[str, Any], account: str, entry_time: datetime | None, batch: MetaBatch
) -> None:
    mention = _parse(_IgMention, value, "value")
    provider_id = mention.comment_id or mention.media_id
    if not provider_id:
        raise _SkipItemError("malformed", "mention without media_id")
    batch.messages.append(
        InboundMessage(
            channel=Channel.INSTAGRAM,
            kind=InboundKind.MENTION,
            provider_message_id=provider_id,
            conversation_key=f"instagram:{account}:mention:{mention.media_id or provider_id}",
            sender=None,
            recipient=account,
            sent_at=_require_time(entry_time),
            post_id=mention.media_id,
            public=True,
            metadata={"mention_in": "comment" if mention.comment_id else "caption"},
        )
    )


def _attachments(items: list[_Attachment]) -> list[InboundAttachment]:
    stickers = {
        item.payload.sticker_id
        for item in items
        if item.type == "sticker" and item.payload is not None and item.payload.sticker_id
    }
    result = []
    for item in items:
        payload = item.payload
        if item.type == "image" and payload and payload.sticker_id and payload.sticker_id in stickers:
            continue  # the sticker transition sends each sticker twice, as "sticker" and as "image"
        data: dict[str, Any] = {}
        if payload is not None:
            if payload.sticker_id:
                data["sticker_id"] = payload.sticker_id
            if payload.reel_video_id:
                data["reel_video_id"] = payload.reel_video_id
            if payload.coordinates:
                data.update({k: payload.coordinates[k] for k in ("lat", "long") if k in payload.coordinates})
        result.append(
            InboundAttachment(
                type=item.type,
                url=(payload.url if payload else None) or item.url,
                title=item.title or (payload.title if payload else None),
                data=data,
            )
        )
    return result


def _author(value: _FeedValue) -> tuple[str, str | None]:
    if value.from_ is not None and value.from_.id:
        return value.from_.id, value.from_.name or value.sender_name
    if value.sender_id:
        return value.sender_id, value.sender_name
    raise _SkipItemError("malformed", "no author (from.id or sender_id)")


def _referral_metadata(referral: _Referral | None, metadata: dict[str, str]) -> None:
    if referral is None:
        return
    for key in ("ref", "source", "type", "ad_id"):
        value = getattr(referral, key)
        if value:
            metadata[f"referral_{key}"] = value


def _identity_kind(channel: Channel) -> IdentityKind:
    return IdentityKind.INSTAGRAM if channel is Channel.INSTAGRAM else IdentityKind.MESSENGER


def _require_parties(sender: str | None, ours: str | None, at: datetime | None) -> tuple[str, str, datetime]:
    if not sender:
        raise _SkipItemError("malformed", "missing sender.id")
    if not ours:
        raise _SkipItemError("malformed", "missing recipient.id")
    return sender, ours, _require_time(at)


# --- WhatsApp -----------------------------------------------------------------------------------


def _whatsapp_entry(entry: Mapping[str, Any], where: str, batch: MetaBatch) -> None:
    changes = entry.get("changes")
    if not isinstance(changes, list):
        _ignore(batch, "empty entry", where, "no changes")
        return
    for index, change in enumerate(changes):
        change_where = f"{where}.changes[{index}]"
        if not isinstance(change, Mapping):
            _ignore(batch, "malformed", change_where, "change is not an object")
            continue
        field = change.get("field")
        if field != "messages":
            _ignore(batch, "unsupported field", change_where, str(field))
            continue
        try:
            value = _parse(_WaValue, change.get("value"), "value")
        except _SkipItemError as skip:
            _ignore(batch, skip.reason, change_where, skip.detail)
            continue
        if not value.messages and not value.statuses:
            _ignore(batch, "no messages or statuses", change_where)
            continue
        names = {c.wa_id: c.profile.name for c in value.contacts if c.wa_id and c.profile and c.profile.name}
        account = value.metadata.phone_number_id
        for i, raw in enumerate(value.messages):
            _guard(batch, f"{change_where}.value.messages[{i}]", _wa_message, raw, account, names, batch)
        for i, raw in enumerate(value.statuses):
            _guard(batch, f"{change_where}.value.statuses[{i}]", _wa_status, raw, account, batch)


def _wa_message(raw: Any, account: str, names: Mapping[str, str], batch: MetaBatch) -> None:
    message = _parse(_WaMessage, raw, "message")
    phone = _wa_phone(message.from_)
    at = _require_time(_epoch(message.timestamp))
    metadata: dict[str, str] = {}
    flags: list[str] = []
    try:
        text, attachments, quick_reply = _wa_content(message)
    except _UnsupportedContentError as unsupported:
        flags.append(UNSUPPORTED_FLAG)
        metadata["unsupported"] = unsupported.what
        errors = [_wa_error_text(error) for error in message.errors]
        if errors:
            metadata["unsupported_errors"] = "; ".join(errors)
        text, attachments, quick_reply = _unsupported_text(Channel.WHATSAPP, unsupported.what), [], None
    reply_to = None
    if message.context is not None:
        reply_to = message.context.id
        if message.context.forwarded or message.context.frequently_forwarded:
            metadata["forwarded"] = "true"
    if message.referral is not None:
        for key in ("source_url", "source_id", "source_type"):
            ref_value = getattr(message.referral, key)
            if ref_value:
                metadata[f"referral_{key}"] = ref_value
    name = names.get(message.from_)
    if name is None and len(names) == 1:
        name = next(iter(names.values()))
    batch.messages.append(
        InboundMessage(
            channel=Channel.WHATSAPP,
            provider_message_id=message.id,
            conversation_key=f"whatsapp:{account}:{phone}",
            sender=Identity(kind=IdentityKind.PHONE, value=phone),
            sender_name=name,
            recipient=account,
            sent_at=at,
            text=text,
            attachments=attachments,
            quick_reply_payload=quick_reply,
            reply_to=reply_to,
            metadata=metadata,
            flags=flags,
        )
    )


def _wa_error_text(error: _WaError) -> str:
    parts = [str(part) for part in (error.code, error.title or error.message) if part]
    details = error.error_data.details if error.error_data else None
    return " ".join(parts) + (f" ({details})" if details else "")


def _wa_content(message: _WaMessage) -> tuple[str, list[InboundAttachment], str | None]:
    kind = message.type
    if kind == "text":
        return (message.text.body if message.text else ""), [], None
    if kind in _WA_MEDIA_TYPES:
        media: _WaMedia | None = getattr(message, kind)
        if media is None or not (media.id or media.url):
            raise _SkipItemError("malformed", f"{kind} message without media id")
        data: dict[str, Any] = {}
        if media.sha256:
            data["sha256"] = media.sha256
        if media.voice is not None:
            data["voice"] = media.voice
        if media.animated is not None:
            data["animated"] = media.animated
        attachment = InboundAttachment(
            type=kind,
            media_id=media.id,
            url=media.url,
            mime_type=media.mime_type,
            caption=media.caption,
            filename=media.filename,
            data=data,
        )
        return media.caption or "", [attachment], None
    if kind == "location":
        location = message.location or _WaLocation()
        if location.latitude is None or location.longitude is None:
            raise _SkipItemError("malformed", "location without coordinates")
        label = ", ".join(part for part in (location.name, location.address) if part)
        text = f"Location: {label + ' ' if label else ''}({location.latitude}, {location.longitude})"
        data = location.model_dump(exclude_none=True)
        return text, [InboundAttachment(type="location", title=location.name, data=data)], None
    if kind == "contacts":
        if not message.contacts:
            raise _SkipItemError("malformed", "contacts message without contacts")
        lines = [_contact_line(contact) for contact in message.contacts]
        data = {"contacts": message.contacts}
        return "\n".join(lines), [InboundAttachment(type="contacts", data=data)], None
    if kind == "interactive":
        interactive = message.interactive
        reply = None
        if interactive is not None:
            reply = interactive.button_reply if interactive.type == "button_reply" else None
            reply = reply or (interactive.list_reply if interactive.type == "list_reply" else None)
        if reply is None:
            raise _UnsupportedContentError(f"interactive {interactive.type if interactive else ''}".strip())
        return reply.title or "", [], reply.id
    if kind == "button":
        button = message.button or _WaButton()
        return button.text or "", [], button.payload
    if kind == "reaction":
        raise _SkipItemError("reaction", message.id)
    raise _UnsupportedContentError(kind)


def _contact_line(contact: Mapping[str, Any]) -> str:
    name = contact.get("name")
    formatted = name.get("formatted_name") if isinstance(name, Mapping) else None
    phones = contact.get("phones")
    numbers = []
    if isinstance(phones, list):
        numbers = [p.get("phone") for p in phones if isinstance(p, Mapping) and p.get("phone")]
    label = str(formatted) if formatted else "(no name)"
    return f"Contact: {label}" + (f" ({', '.join(str(n) for n in numbers)})" if numbers else "")


def _wa_status(raw: Any, account: str, batch: MetaBatch) -> None:
    status = _parse(_WaStatus, raw, "status")
    if status.status not in _WA_STATUSES:
        raise _SkipItemError("unsupported status", status.status)
    customer = None
    if status.recipient_id:
        try:
            customer = _wa_phone(status.recipient_id)
        except _SkipItemError:
            customer = status.recipient_id  # a group or a number libphonenumber cannot read
    errors = [
        ReceiptError(
            code=error.code,
            title=error.title,
            message=error.message,
            details=error.error_data.details if error.error_data else None,
        )
        for error in status.errors
    ]
    batch.receipts.append(
        DeliveryReceipt(
            channel=Channel.WHATSAPP,
            status=_WA_STATUSES[status.status],
            message_ids=[status.id],
            at=_require_time(_epoch(status.timestamp)),
            account=account,
            customer=customer,
            errors=errors,
        )
    )


def _wa_phone(wa_id: str) -> str:
    from shared.channels.sms import InvalidPhoneNumberError, normalize_phone

    digits = wa_id.strip().lstrip("+")
    try:
        # Meta checked the number already; only its form is ours to fix.
        return normalize_phone(f"+{digits}", strict=False)
    except InvalidPhoneNumberError as exc:
        raise _SkipItemError("invalid sender number", wa_id) from exc


# --- helpers ------------------------------------------------------------------------------------


def _guard(batch: ChannelBatch, where: str, parse: Callable[..., None], *args: Any) -> None:
    """Run one item's parser; an item that cannot be used is listed as ignored with its reason."""
    try:
        parse(*args)
    except ValidationError as exc:  # a value our models refuse (e.g. an empty id): never fail the batch
        _ignore_error(batch, where, exc)
    except _SkipItemError as skip:
        _ignore(batch, skip.reason, where, skip.detail)


def _ignore(batch: ChannelBatch, reason: str, where: str, detail: str = "") -> None:
    batch.ignored.append(IgnoredItem(reason=reason, where=where, detail=detail))


def _parse(model: type[_M], value: Any, name: str) -> _M:
    if not isinstance(value, Mapping):
        raise _SkipItemError("malformed", f"{name} is not an object")
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise _SkipItemError("malformed", f"{name}: {_summary(exc)}") from exc


def _summary(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        loc = ".".join(str(part) for part in error["loc"])
        parts.append(f"{loc}: {error['msg']}" if loc else error["msg"])
    return "; ".join(parts)


def _id(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | str) and str(value):
        return str(value)
    return None


def _epoch(value: Any) -> datetime | None:
    """An epoch time in seconds or milliseconds (told apart by size), as int or digit string."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text.isdigit():
            return None
        number = int(text)
    elif isinstance(value, int | float):
        number = int(value)
    else:
        return None
    if number <= 0:
        return None
    seconds = number / 1000 if number >= _MS_THRESHOLD else number
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _require_time(value: datetime | None) -> datetime:
    if value is None:
        raise _SkipItemError("malformed", "no usable timestamp")
    return value


def _now() -> datetime:
    from shared import clock

    return clock.now()


def _ignore_error(batch: ChannelBatch, where: str, exc: ValidationError) -> None:
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": str(exc)}
    loc = ".".join(str(part) for part in first["loc"])
    batch.ignored.append(IgnoredItem(reason="malformed", where=where, detail=f"{loc}: {first['msg']}"))
