"""Meta webhooks (Messenger, Instagram, WhatsApp Cloud API): signatures, the verify handshake and payloads.

Pure functions over the bytes and JSON Meta sends; no I/O. One webhook delivery can batch many
entries, each with many events, so `parse_meta_payload` sorts everything into messages,
delivery receipts and ignored items, and never fails because of one odd item.

The three platforms share one walk and one set of builders (a private conversation's messages and
notices, public comments and mentions, receipts); what differs between them is data: a `_Platform`
descriptor each, and tables of which step reads which event key, change field or message type.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple, TypedDict, TypeVar, Unpack

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
_WA_STATUSES = {status.value: status for status in DeliveryStatus}
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
        _social_entry(entry, where, _INSTAGRAM if instagram else _MESSENGER, app_id, batch)
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

    def data(self) -> dict[str, Any]:
        """The attachment details beyond its address: sticker, reel and map point."""
        data: dict[str, Any] = {}
        if self.sticker_id:
            data["sticker_id"] = self.sticker_id
        if self.reel_video_id:
            data["reel_video_id"] = self.reel_video_id
        if self.coordinates:
            data.update({k: self.coordinates[k] for k in ("lat", "long") if k in self.coordinates})
        return data


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


class _ReceiptReport(_Lenient):
    watermark: str | None = None

    def message_ids(self) -> list[str]:
        raise NotImplementedError


class _Delivery(_ReceiptReport):
    mids: list[str] = Field(default_factory=list)

    def message_ids(self) -> list[str]:
        return self.mids


class _Read(_ReceiptReport):
    mid: str | None = None

    def message_ids(self) -> list[str]:
        return [self.mid] if self.mid else []


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

    @property
    def details(self) -> str | None:
        return self.error_data.details if self.error_data else None

    def describe(self) -> str:
        """`<code> <title> (<details>)`, for the metadata of a message WhatsApp did not pass on."""
        parts = [str(part) for part in (self.code, self.title or self.message) if part]
        return " ".join(parts) + (f" ({self.details})" if self.details else "")


class _WaStatus(_Lenient):
    id: str = Field(min_length=1)
    status: str
    timestamp: str
    recipient_id: str | None = None
    errors: list[_WaError] = Field(default_factory=list)


# --- what every platform shares: the platform descriptors and the shapes built from items ------


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


@dataclass(frozen=True)
class _Platform:
    """What tells Messenger, Instagram and WhatsApp apart once their items are read."""

    channel: Channel
    name: str
    """The platform as agents know it, in the note on a message it could not pass on."""
    identity: IdentityKind
    """The kind of id a customer has there: a page- or account-scoped id, or a phone number."""

    def conversation_key(self, account: str, *parts: str) -> str:
        """`<channel>:<our account>:` then the customer, or `<kind>:<post>[:<author>]` for a public item."""
        return ":".join((self.channel.value, account, *parts))

    def customer(self, value: str) -> Identity:
        return Identity(kind=self.identity, value=value)


_MESSENGER = _Platform(Channel.MESSENGER, "Messenger", IdentityKind.MESSENGER)
_INSTAGRAM = _Platform(Channel.INSTAGRAM, "Instagram", IdentityKind.INSTAGRAM)
_WHATSAPP = _Platform(Channel.WHATSAPP, "WhatsApp", IdentityKind.PHONE)


class _Content(TypedDict, total=False):
    """What a message carries besides its addressing (the `InboundMessage` fields of those names)."""

    sender_name: str | None
    text: str
    attachments: list[InboundAttachment]
    quick_reply_payload: str | None
    postback_payload: str | None
    reply_to: str | None
    post_id: str | None
    metadata: dict[str, str]
    flags: list[str]


class _NoticeContent(TypedDict, total=False):
    """What a notice carries besides its addressing (the `ConversationNotice` fields of those names)."""

    text: str
    attachments: list[InboundAttachment]
    app_id: str | None


@dataclass(frozen=True)
class _Conversation:
    """The private conversation between our account and one customer on a platform."""

    platform: _Platform
    account: str
    customer: str

    @property
    def key(self) -> str:
        return self.platform.conversation_key(self.account, self.customer)

    def message(
        self,
        provider_id: str,
        at: datetime,
        kind: InboundKind = InboundKind.MESSAGE,
        **content: Unpack[_Content],
    ) -> InboundMessage:
        """The customer's message (or postback) in this conversation."""
        return InboundMessage(
            channel=self.platform.channel,
            kind=kind,
            provider_message_id=provider_id,
            conversation_key=self.key,
            sender=self.platform.customer(self.customer),
            recipient=self.account,
            sent_at=at,
            **content,
        )

    def notice(
        self, kind: NoticeKind, provider_id: str, at: datetime, **content: Unpack[_NoticeContent]
    ) -> ConversationNotice:
        """Something that happened in this conversation that agents must see."""
        return ConversationNotice(
            kind=kind,
            channel=self.platform.channel,
            provider_message_id=provider_id,
            conversation_key=self.key,
            recipient=self.account,
            at=at,
            **content,
        )


def _public_item(
    platform: _Platform,
    kind: InboundKind,
    provider_id: str,
    account: str,
    post: str,
    author: str | None,
    at: datetime,
    **content: Unpack[_Content],
) -> InboundMessage:
    """A comment or mention on a post: one conversation per post and author (per post if none is named)."""
    thread = (kind.value, post) if author is None else (kind.value, post, author)
    return InboundMessage(
        channel=platform.channel,
        kind=kind,
        provider_message_id=provider_id,
        conversation_key=platform.conversation_key(account, *thread),
        sender=None if author is None else platform.customer(author),
        recipient=account,
        sent_at=at,
        public=True,
        **content,
    )


def _flag_unsupported(reason: str, metadata: dict[str, str], flags: list[str]) -> None:
    """Mark a message the platform could not pass on, keeping the platform's reason."""
    flags.append(UNSUPPORTED_FLAG)
    metadata["unsupported"] = reason


def _unsupported_text(platform: _Platform, what: str = "") -> str:
    """What agents read for a message the platform could not pass on (no digits: nothing to rate)."""
    kind = f" ({what})" if what else ""
    return (
        f"[The customer sent a {platform.name} message{kind} that the "
        "platform does not pass on to the helpdesk. Ask them to send it again as text or a photo.]"
    )


def _referral_metadata(referral: BaseModel | None, metadata: dict[str, str]) -> None:
    """Keep each field of the referral (the ad or link the customer came from) as `referral_<field>`."""
    if referral is None:
        return
    for key in type(referral).model_fields:
        value = getattr(referral, key)
        if value:
            metadata[f"referral_{key}"] = value


def _refuse_own(author: str, account: str, reason: str, provider_id: str) -> None:
    """A public item our own account wrote is no customer's: list it as ignored."""
    if author == account:
        raise _SkipItemError(reason, provider_id)


def _walk(batch: MetaBatch, where: str, items: list[Any], step: Callable[..., None], *args: Any) -> None:
    """Run `step` on each item of a list, each guarded on its own (`where[i]`)."""
    for index, item in enumerate(items):
        _guard(batch, f"{where}[{index}]", step, item, *args)


# --- Messenger and Instagram: entries and their `messaging[]` / `standby[]` items ---------------


@dataclass(frozen=True)
class _Entry:
    """What the items of one Messenger or Instagram entry share."""

    platform: _Platform
    id: str | None
    time: datetime | None
    app_id: str | None
    """Our app: an echo of what it sent is ours, any other echo is a reply sent elsewhere."""
    batch: MetaBatch
    standby: bool = False
    """The items come from `standby[]`: another app holds the conversation's thread control."""


@dataclass(frozen=True)
class _Event:
    """One `messaging[]` item with its parties and time, falling back on the entry's.

    `sender` and `ours` are as the item names them: the customer and our account, except on an
    echo, which goes from our account to the customer.
    """

    entry: _Entry
    item: Mapping[str, Any]
    sender: str | None
    ours: str | None
    at: datetime | None

    @property
    def platform(self) -> _Platform:
        return self.entry.platform

    @property
    def batch(self) -> MetaBatch:
        return self.entry.batch

    def conversation(self, *, echo: bool = False) -> tuple[_Conversation, datetime]:
        """The conversation and time, when the item (or its entry) names both parties and a time."""
        if not self.sender:
            raise _SkipItemError("malformed", "missing sender.id")
        if not self.ours:
            raise _SkipItemError("malformed", "missing recipient.id")
        account, customer = (self.sender, self.ours) if echo else (self.ours, self.sender)
        return _Conversation(self.platform, account, customer), _require_time(self.at)


def _social_entry(
    entry: Mapping[str, Any], where: str, platform: _Platform, app_id: str | None, batch: MetaBatch
) -> None:
    shared = _Entry(platform, _id(entry.get("id")), _epoch(entry.get("time")), app_id, batch)
    found = False
    for key in ("messaging", "standby"):
        items = entry.get(key)
        if isinstance(items, list):
            found = True
            _walk(batch, f"{where}.{key}", items, _messaging_item, replace(shared, standby=key == "standby"))
    changes = entry.get("changes")
    if isinstance(changes, list):
        found = True
        _walk(batch, f"{where}.changes", changes, _social_change, shared)
    elif "field" in entry and "value" in entry:
        # Instagram API with Instagram Login documents comments flat on the entry.
        found = True
        _guard(batch, where, _social_change, entry, shared)
    if not found:
        _ignore(batch, "empty entry", where, "no messaging, standby or changes")


def _messaging_item(item: Any, entry: _Entry) -> None:
    if not isinstance(item, Mapping):
        raise _SkipItemError("malformed", "item is not an object")
    event = _Event(
        entry,
        item,
        sender=_parse(_Ref, item.get("sender") or {}, "sender").id,
        ours=_parse(_Ref, item.get("recipient") or {}, "recipient").id or entry.id,
        at=_epoch(item.get("timestamp")) or entry.time,
    )
    for key, step in _EVENT_STEPS:
        if key in item:
            step(event, key)
            return
    kinds = sorted(set(item) - {"sender", "recipient", "timestamp"})
    raise _SkipItemError("unsupported event", ",".join(kinds) or "no event key")


def _direct_message(event: _Event, key: str) -> None:
    """A `message` item: the customer's message, an unsend, or an echo of a message to them."""
    message = _parse(_Message, event.item.get(key), key)
    if message.is_echo:
        _echo(message, event)
        return
    if message.is_self:
        raise _SkipItemError("self test", message.mid)
    conversation, at = event.conversation()
    if message.is_deleted:
        event.batch.notices.append(conversation.notice(NoticeKind.UNSENT, message.mid, at))
        return
    event.batch.messages.append(conversation.message(message.mid, at, **_direct_content(message, event)))


def _direct_content(message: _Message, event: _Event) -> _Content:
    metadata: dict[str, str] = {}
    flags: list[str] = []
    text = message.text or ""
    if message.is_unsupported:
        _flag_unsupported("is_unsupported", metadata, flags)
        text = text or _unsupported_text(event.platform)
    if event.entry.standby:
        metadata["standby"] = "true"
    _referral_metadata(message.referral, metadata)
    reply_to = _reply_to(message.reply_to, metadata)
    return _Content(
        text=text,
        attachments=_attachments(message.attachments),
        quick_reply_payload=message.quick_reply.payload if message.quick_reply else None,
        reply_to=reply_to,
        metadata=metadata,
        flags=flags,
    )


def _reply_to(reply: _ReplyTo | None, metadata: dict[str, str]) -> str | None:
    """The message (or Instagram story) answered; a story's address is kept in the metadata."""
    if reply is None:
        return None
    story = reply.story
    if story is None:
        return reply.mid
    if story.url:
        metadata["reply_to_story_url"] = story.url
    return reply.mid or story.id


def _echo(message: _Message, event: _Event) -> None:
    """An echo goes from our account (sender) to the customer (recipient).

    Our own app's sends are already on the ticket; a reply another app sent (Meta's own inbox, a
    phone) becomes an external-reply notice.
    """
    if event.entry.app_id is not None and message.app_id == event.entry.app_id:
        raise _SkipItemError("echo", message.mid)
    conversation, at = event.conversation(echo=True)
    notice = conversation.notice(
        NoticeKind.EXTERNAL_REPLY,
        message.mid,
        at,
        text=message.text or "",
        attachments=_attachments(message.attachments),
        app_id=message.app_id,
    )
    event.batch.notices.append(notice)


def _postback(event: _Event, key: str) -> None:
    postback = _parse(_Postback, event.item.get(key), key)
    conversation, at = event.conversation()
    metadata: dict[str, str] = {"standby": "true"} if event.entry.standby else {}
    _referral_metadata(postback.referral, metadata)
    # Older postbacks carry no mid: the sender and time identify them.
    provider_id = postback.mid or f"postback:{conversation.customer}:{int(at.timestamp() * 1000)}"
    message = conversation.message(
        provider_id,
        at,
        kind=InboundKind.POSTBACK,
        text=postback.title or "",
        postback_payload=postback.payload,
        metadata=metadata,
    )
    event.batch.messages.append(message)


def _receipt(event: _Event, key: str) -> None:
    """A `delivery` or `read` item: the customer (sender) received or read our messages."""
    model, status = _RECEIPT_KINDS[key]
    report = _parse(model, event.item.get(key), key)
    ids, watermark = report.message_ids(), _epoch(report.watermark)
    if not ids and watermark is None:
        raise _SkipItemError("malformed", f"{key}: neither mids nor watermark")
    if not event.ours:
        raise _SkipItemError("malformed", "missing recipient.id")
    receipt = DeliveryReceipt(
        channel=event.platform.channel,
        status=status,
        message_ids=ids,
        watermark=watermark,
        at=event.at or watermark or _now(),
        account=event.ours,
        customer=event.sender,
    )
    event.batch.receipts.append(receipt)


def _reaction(event: _Event, key: str) -> None:
    raise _SkipItemError("reaction")


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
        result.append(
            InboundAttachment(
                type=item.type,
                url=(payload.url if payload else None) or item.url,
                title=item.title or (payload.title if payload else None),
                data=payload.data() if payload is not None else {},
            )
        )
    return result


_RECEIPT_KINDS: Final[Mapping[str, tuple[type[_ReceiptReport], DeliveryStatus]]] = {
    "delivery": (_Delivery, DeliveryStatus.DELIVERED),
    "read": (_Read, DeliveryStatus.READ),
}

_EVENT_STEPS: Final[tuple[tuple[str, Callable[[_Event, str], None]], ...]] = (
    ("message", _direct_message),
    ("postback", _postback),
    ("delivery", _receipt),
    ("read", _receipt),
    ("reaction", _reaction),
)
"""Which step reads a `messaging[]` item, by the first of these keys it has."""


# --- Messenger and Instagram: `changes[]` (comments, mentions, wrapped messaging events) --------


def _social_change(change: Any, entry: _Entry) -> None:
    if not isinstance(change, Mapping):
        raise _SkipItemError("malformed", "change is not an object")
    field = change.get("field")
    value = change.get("value")
    if not isinstance(field, str) or not isinstance(value, Mapping):
        raise _SkipItemError("malformed", "change without field or value")
    if field in _MESSAGING_FIELDS and "sender" in value:
        # Some Meta tools and products wrap messaging events as changes.
        _messaging_item(value, entry)
        return
    if not entry.id:
        raise _SkipItemError("malformed", "entry without id")
    step = _PUBLIC_ITEM_STEPS.get((entry.platform.channel, field))
    if step is None:
        raise _SkipItemError("unsupported field", field)
    entry.batch.messages.append(step(value, field, entry.id, entry.time))


def _page_comment(
    value: Mapping[str, Any], field: str, page_id: str, entry_time: datetime | None
) -> InboundMessage:
    feed = _parse(_FeedValue, value, "value")
    if feed.item != "comment":
        raise _SkipItemError("unsupported feed item", feed.item or "")
    if feed.verb != "add":
        raise _SkipItemError(f"comment {feed.verb or 'change'}", feed.comment_id or "")
    author, name = _author(feed)
    _refuse_own(author, page_id, "own comment", feed.comment_id or "")
    if not feed.comment_id:
        raise _SkipItemError("malformed", "comment without comment_id")
    at = _require_time(_epoch(feed.created_time) or entry_time)
    media = (("image", feed.photo), ("video", feed.video))
    return _public_item(
        _MESSENGER,
        InboundKind.COMMENT,
        feed.comment_id,
        page_id,
        feed.post_id or "",
        author,
        at,
        sender_name=name,
        text=feed.message or "",
        attachments=[InboundAttachment(type=kind, url=url) for kind, url in media if url],
        reply_to=feed.parent_id if feed.parent_id and feed.parent_id != feed.post_id else None,
        post_id=feed.post_id,
    )


def _page_mention(
    value: Mapping[str, Any], field: str, page_id: str, entry_time: datetime | None
) -> InboundMessage:
    mention = _parse(_FeedValue, value, "value")
    if mention.verb not in (None, "add"):
        raise _SkipItemError(f"mention {mention.verb}", mention.comment_id or mention.post_id or "")
    provider_id = mention.comment_id or mention.post_id
    if not provider_id:
        raise _SkipItemError("malformed", "mention without post_id or comment_id")
    author, name = _author(mention)
    _refuse_own(author, page_id, "own mention", provider_id)
    return _public_item(
        _MESSENGER,
        InboundKind.MENTION,
        provider_id,
        page_id,
        mention.post_id or provider_id,
        author,
        _require_time(_epoch(mention.created_time) or entry_time),
        sender_name=name,
        text=mention.message or "",
        post_id=mention.post_id,
    )


def _ig_comment(
    value: Mapping[str, Any], field: str, account: str, entry_time: datetime | None
) -> InboundMessage:
    comment = _parse(_IgComment, value, "value")
    provider_id = comment.id or comment.comment_id
    if not provider_id:
        raise _SkipItemError("malformed", "comment without id")
    author = comment.from_.id if comment.from_ else None
    if not author:
        raise _SkipItemError("malformed", "comment without from.id")
    _refuse_own(author, account, "own comment", provider_id)
    at = _require_time(entry_time)
    media = comment.media.id if comment.media else None
    metadata: dict[str, str] = {}
    if comment.media and comment.media.media_product_type:
        metadata["media_product_type"] = comment.media.media_product_type
    if field == "live_comments":
        metadata["live"] = "true"
    return _public_item(
        _INSTAGRAM,
        InboundKind.COMMENT,
        provider_id,
        account,
        media or "",
        author,
        at,
        sender_name=comment.from_.username if comment.from_ else None,
        text=comment.text or "",
        reply_to=comment.parent_id,
        post_id=media,
        metadata=metadata,
    )


def _ig_mention(
    value: Mapping[str, Any], field: str, account: str, entry_time: datetime | None
) -> InboundMessage:
    """An @mention names no author (Meta sends only the media and comment ids)."""
    mention = _parse(_IgMention, value, "value")
    provider_id = mention.comment_id or mention.media_id
    if not provider_id:
        raise _SkipItemError("malformed", "mention without media_id")
    return _public_item(
        _INSTAGRAM,
        InboundKind.MENTION,
        provider_id,
        account,
        mention.media_id or provider_id,
        None,
        _require_time(entry_time),
        post_id=mention.media_id,
        metadata={"mention_in": "comment" if mention.comment_id else "caption"},
    )


def _author(value: _FeedValue) -> tuple[str, str | None]:
    if value.from_ is not None and value.from_.id:
        return value.from_.id, value.from_.name or value.sender_name
    if value.sender_id:
        return value.sender_id, value.sender_name
    raise _SkipItemError("malformed", "no author (from.id or sender_id)")


_PublicItemStep = Callable[[Mapping[str, Any], str, str, datetime | None], InboundMessage]
"""(the change's value, its field, our account, the entry's time) -> the comment or mention."""

_PUBLIC_ITEM_STEPS: Final[Mapping[tuple[Channel, str], _PublicItemStep]] = {
    (Channel.MESSENGER, "feed"): _page_comment,
    (Channel.MESSENGER, "mention"): _page_mention,
    (Channel.INSTAGRAM, "comments"): _ig_comment,
    (Channel.INSTAGRAM, "live_comments"): _ig_comment,
    (Channel.INSTAGRAM, "mentions"): _ig_mention,
}
"""Which step reads a public item, by platform and `changes[].field`; any other field is ignored."""


# --- WhatsApp -----------------------------------------------------------------------------------


class _WaParts(NamedTuple):
    """What a WhatsApp message carries, by type: its text, attachments and quick-reply payload."""

    text: str
    attachments: list[InboundAttachment]
    quick_reply: str | None


def _whatsapp_entry(entry: Mapping[str, Any], where: str, batch: MetaBatch) -> None:
    changes = entry.get("changes")
    if not isinstance(changes, list):
        _ignore(batch, "empty entry", where, "no changes")
        return
    for index, change in enumerate(changes):
        change_where = f"{where}.changes[{index}]"
        _guard(batch, change_where, _wa_change, change, change_where, batch)


def _wa_change(change: Any, where: str, batch: MetaBatch) -> None:
    if not isinstance(change, Mapping):
        raise _SkipItemError("malformed", "change is not an object")
    field = change.get("field")
    if field != "messages":
        raise _SkipItemError("unsupported field", str(field))
    value = _parse(_WaValue, change.get("value"), "value")
    if not value.messages and not value.statuses:
        raise _SkipItemError("no messages or statuses")
    names = {c.wa_id: c.profile.name for c in value.contacts if c.wa_id and c.profile and c.profile.name}
    account = value.metadata.phone_number_id
    _walk(batch, f"{where}.value.messages", value.messages, _wa_message, account, names, batch)
    _walk(batch, f"{where}.value.statuses", value.statuses, _wa_status, account, batch)


def _wa_message(raw: Any, account: str, names: Mapping[str, str], batch: MetaBatch) -> None:
    message = _parse(_WaMessage, raw, "message")
    phone = _wa_phone(message.from_)
    at = _require_time(_epoch(message.timestamp))
    metadata: dict[str, str] = {}
    flags: list[str] = []
    parts = _wa_readable_parts(message, metadata, flags)
    reply_to = None
    if message.context is not None:
        reply_to = message.context.id
        if message.context.forwarded or message.context.frequently_forwarded:
            metadata["forwarded"] = "true"
    _referral_metadata(message.referral, metadata)
    name = names.get(message.from_)
    if name is None and len(names) == 1:
        name = next(iter(names.values()))
    inbound = _Conversation(_WHATSAPP, account, phone).message(
        message.id,
        at,
        sender_name=name,
        text=parts.text,
        attachments=parts.attachments,
        quick_reply_payload=parts.quick_reply,
        reply_to=reply_to,
        metadata=metadata,
        flags=flags,
    )
    batch.messages.append(inbound)


def _wa_readable_parts(message: _WaMessage, metadata: dict[str, str], flags: list[str]) -> _WaParts:
    """The message's parts; for a type we cannot read, a note for agents and the message flagged."""
    try:
        return _wa_content(message)
    except _UnsupportedContentError as unsupported:
        _flag_unsupported(unsupported.what, metadata, flags)
        errors = [error.describe() for error in message.errors]
        if errors:
            metadata["unsupported_errors"] = "; ".join(errors)
        return _WaParts(_unsupported_text(_WHATSAPP, unsupported.what), [], None)


def _wa_content(message: _WaMessage) -> _WaParts:
    read = _WA_CONTENT.get(message.type)
    if read is None:
        raise _UnsupportedContentError(message.type)
    return read(message)


def _wa_text(message: _WaMessage) -> _WaParts:
    return _WaParts(message.text.body if message.text else "", [], None)


def _wa_media(message: _WaMessage) -> _WaParts:
    kind = message.type
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
    return _WaParts(media.caption or "", [attachment], None)


def _wa_location(message: _WaMessage) -> _WaParts:
    location = message.location or _WaLocation()
    if location.latitude is None or location.longitude is None:
        raise _SkipItemError("malformed", "location without coordinates")
    label = ", ".join(part for part in (location.name, location.address) if part)
    text = f"Location: {label + ' ' if label else ''}({location.latitude}, {location.longitude})"
    data = location.model_dump(exclude_none=True)
    return _WaParts(text, [InboundAttachment(type="location", title=location.name, data=data)], None)


def _wa_contacts(message: _WaMessage) -> _WaParts:
    if not message.contacts:
        raise _SkipItemError("malformed", "contacts message without contacts")
    lines = [_contact_line(contact) for contact in message.contacts]
    data = {"contacts": message.contacts}
    return _WaParts("\n".join(lines), [InboundAttachment(type="contacts", data=data)], None)


def _wa_interactive(message: _WaMessage) -> _WaParts:
    """A tap on a reply button or a list row we sent; other interactive types are flagged."""
    interactive = message.interactive
    reply = None
    if interactive is not None:
        reply = interactive.button_reply if interactive.type == "button_reply" else None
        reply = reply or (interactive.list_reply if interactive.type == "list_reply" else None)
    if reply is None:
        raise _UnsupportedContentError(f"interactive {interactive.type if interactive else ''}".strip())
    return _WaParts(reply.title or "", [], reply.id)


def _wa_button(message: _WaMessage) -> _WaParts:
    button = message.button or _WaButton()
    return _WaParts(button.text or "", [], button.payload)


def _wa_reaction(message: _WaMessage) -> _WaParts:
    raise _SkipItemError("reaction", message.id)


def _contact_line(contact: Mapping[str, Any]) -> str:
    name = contact.get("name")
    formatted = name.get("formatted_name") if isinstance(name, Mapping) else None
    phones = contact.get("phones")
    numbers = []
    if isinstance(phones, list):
        numbers = [p.get("phone") for p in phones if isinstance(p, Mapping) and p.get("phone")]
    label = str(formatted) if formatted else "(no name)"
    return f"Contact: {label}" + (f" ({', '.join(str(n) for n in numbers)})" if numbers else "")


_WA_CONTENT: Final[Mapping[str, Callable[[_WaMessage], _WaParts]]] = {
    "text": _wa_text,
    **dict.fromkeys(("image", "video", "audio", "document", "sticker"), _wa_media),
    "location": _wa_location,
    "contacts": _wa_contacts,
    "interactive": _wa_interactive,
    "button": _wa_button,
    "reaction": _wa_reaction,
}
"""How each WhatsApp message type is read; any other type is stored flagged `unsupported`."""


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
        ReceiptError(code=error.code, title=error.title, message=error.message, details=error.details)
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
