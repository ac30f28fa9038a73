"""What the SMS and social channel parsers produce: channel-neutral messages, receipts and consent (no I/O).

Every channel parser (SMS, Messenger, Instagram, WhatsApp, X) turns its provider's payload into
these shapes, so ingestion, threading and storage never look at a provider format.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.models.ticket import Channel, Identity


class InboundKind(StrEnum):
    """What kind of customer action an inbound item is."""

    MESSAGE = "message"
    """A private message (SMS, DM)."""
    COMMENT = "comment"
    """A public comment on one of our posts."""
    MENTION = "mention"
    """A public post or comment that mentions our account."""
    POSTBACK = "postback"
    """A tap on a button we sent (Messenger/Instagram postback)."""


class InboundAttachment(BaseModel):
    """Media or structured content that came with an inbound message, still at the provider.

    Either `url` (Messenger/Instagram CDN links, which expire; X media URLs; MMS media) or
    `media_id` (WhatsApp media, fetched through the Graph API `/media` endpoint) says where it is.
    `data` holds structured content that is not a file (location coordinates, shared contacts).
    """

    model_config = ConfigDict(frozen=True)

    type: str
    """Provider type: image, video, audio, file, document, sticker, story_mention, share, ig_reel,
    location, contacts, fallback, media..."""
    url: str | None = None
    media_id: str | None = None
    mime_type: str | None = None
    caption: str | None = None
    filename: str | None = None
    title: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class InboundMessage(BaseModel):
    """One customer message from SMS or a social channel, in channel-neutral form.

    `provider_message_id` is the provider's own id (SMS `inboundMessageId`, Meta `mid`, WhatsApp
    `wamid`, X DM or post id, comment id); `dedupe_key` scopes it by channel and our account.
    `conversation_key` groups messages into one conversation: for private messages
    `<channel>:<our account>:<customer>`, for public items
    `<channel>:<our account>:<kind>:<post>:<customer>`.
    `sender` is None only for thin notifications that name no author (Instagram @mentions,
    which must be looked up through the Graph API).
    """

    model_config = ConfigDict(frozen=True)

    channel: Channel
    kind: InboundKind = InboundKind.MESSAGE
    provider_message_id: str = Field(min_length=1)
    conversation_key: str = Field(min_length=1)
    sender: Identity | None
    sender_name: str | None = None
    recipient: str = Field(min_length=1)
    """Our side: SMS number, Page id, Instagram account id, WhatsApp phone_number_id, X user id."""
    sent_at: AwareDatetime
    text: str = ""
    attachments: list[InboundAttachment] = Field(default_factory=list)
    quick_reply_payload: str | None = None
    postback_payload: str | None = None
    reply_to: str | None = None
    """The platform id of the message or comment this one answers."""
    post_id: str | None = None
    """The post, media or tweet a public comment or mention belongs to."""
    public: bool = False
    metadata: dict[str, str] = Field(default_factory=dict)
    """Provider details worth keeping (SMS keyword, media product type, referral, standby...)."""
    flags: list[str] = Field(default_factory=list)
    """Flags for the stored message and a ticket it opens, e.g. `unsupported` for a message the
    platform could not pass on (its text then says so and `metadata` holds the platform's reason)."""

    @property
    def dedupe_key(self) -> str:
        """The idempotency key: provider id scoped by channel and our account."""
        return f"{self.channel.value}:{self.recipient}:{self.provider_message_id}"


class NoticeKind(StrEnum):
    """Something that happened in a conversation that is not a customer message."""

    UNSENT = "message_unsent"
    """The customer took a message back (Instagram unsend: `is_deleted` with the same mid)."""
    EXTERNAL_REPLY = "external_reply"
    """A reply to the customer that the helpdesk did not send: someone answered from the
    platform's own inbox or another app (a Meta echo whose app is not ours)."""


class ConversationNotice(BaseModel):
    """A conversation event agents must see on the ticket, though it is no customer message.

    `conversation_key` is the conversation's key as for `InboundMessage`; `provider_message_id`
    the platform id of the message concerned (the unsent message, or the external reply).
    """

    model_config = ConfigDict(frozen=True)

    kind: NoticeKind
    channel: Channel
    provider_message_id: str = Field(min_length=1)
    conversation_key: str = Field(min_length=1)
    recipient: str = Field(min_length=1)
    """Our side: Page id, Instagram account id."""
    at: AwareDatetime
    text: str = ""
    attachments: list[InboundAttachment] = Field(default_factory=list)
    app_id: str | None = None
    """For an external reply: the id of the app that sent it, as the platform reports it."""

    @property
    def dedupe_key(self) -> str:
        """The idempotency key: what happened to which message, scoped by channel and our account."""
        return f"{self.kind.value}:{self.channel.value}:{self.recipient}:{self.provider_message_id}"


class DeliveryStatus(StrEnum):
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


class ReceiptError(BaseModel):
    """One error a provider reports for a message it could not deliver."""

    model_config = ConfigDict(frozen=True)

    code: str | None = None
    title: str | None = None
    message: str | None = None
    details: str | None = None


class DeliveryReceipt(BaseModel):
    """A provider's word on messages we sent: sent, delivered, read or failed.

    Either `message_ids` names the messages, or `watermark` says that every message we sent
    before that instant reached the status (Messenger delivery/read), or both.
    """

    model_config = ConfigDict(frozen=True)

    channel: Channel
    status: DeliveryStatus
    message_ids: list[str] = Field(default_factory=list)
    watermark: AwareDatetime | None = None
    at: AwareDatetime
    account: str = Field(min_length=1)
    """Our side: Page id, Instagram account id, WhatsApp phone_number_id."""
    customer: str | None = None
    """The customer the message went to (PSID, IGSID, E.164 phone)."""
    errors: list[ReceiptError] = Field(default_factory=list)

    @property
    def dedupe_key(self) -> str:
        """The idempotency key: the messages (or the watermark) and the status they reached."""
        if self.message_ids:
            ref = ",".join(sorted(self.message_ids))
        elif self.watermark is not None:
            ref = f"watermark={int(self.watermark.timestamp() * 1000)}"
        else:
            ref = f"at={int(self.at.timestamp() * 1000)}"
        who = self.customer or ""
        return f"{self.channel.value}:{self.account}:{who}:{ref}:{self.status.value}"


class ConsentAction(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"


class ConsentEvent(BaseModel):
    """A customer's SMS keyword (STOP, START, HELP...) instead of a message for a ticket."""

    model_config = ConfigDict(frozen=True)

    channel: Channel = Channel.SMS
    action: ConsentAction
    keyword: str
    """The keyword as matched, upper case (e.g. `STOP`, `OPT-OUT`)."""
    sender: Identity
    recipient: str
    provider_message_id: str = Field(min_length=1)
    at: AwareDatetime
    text: str = ""
    """The body as received."""

    @property
    def dedupe_key(self) -> str:
        """The idempotency key: provider id scoped by channel and our number."""
        return f"{self.channel.value}:{self.recipient}:{self.provider_message_id}"


class IgnoredItem(BaseModel):
    """A webhook item that produced neither a message nor a receipt, and why."""

    model_config = ConfigDict(frozen=True)

    reason: str
    """A short stable reason: `echo`, `reaction`, `own message`, `malformed`, `unsupported ...`."""
    where: str = ""
    """Where in the payload, e.g. `entry[0].messaging[2]`."""
    detail: str = ""


class ChannelBatch(BaseModel):
    """Everything one webhook delivery carried, sorted into messages, receipts, notices and ignored items."""

    messages: list[InboundMessage] = Field(default_factory=list)
    receipts: list[DeliveryReceipt] = Field(default_factory=list)
    notices: list[ConversationNotice] = Field(default_factory=list)
    ignored: list[IgnoredItem] = Field(default_factory=list)

    @property
    def ignored_count(self) -> int:
        return len(self.ignored)

    def ignored_reasons(self) -> dict[str, int]:
        """How many items were ignored for each reason (for logs and metrics)."""
        counts: dict[str, int] = {}
        for item in self.ignored:
            counts[item.reason] = counts.get(item.reason, 0) + 1
        return counts
