"""Mail that arrives inline in an SES notification (an SNS action's `content`) is trusted only from
the receipt rule the stack deployed; anything else is kept aside, never ingested.

The template's receipt rule stores mail in S3, so its notifications carry no content: a notification
with content then comes from some other rule, topic or publisher, and could inject mail that no
customer sent. It is quarantined with its reason, and its content is stored as received.
"""

from __future__ import annotations

import hashlib

from shared.dal.base import DuplicateError
from shared.dal.pointers import Pointer
from shared.ids import new_id
from shared.logic.ingest_email import EmailContext
from shared.logic.ingest_pipeline import IngestResult
from shared.models.events import SesNotification
from shared.models.ticket import Channel, QuarantineEntry

REFUSED_REASON = "untrusted-inline-content"
QUARANTINE_PREFIX = "quarantine/inline/"


def inline_content_refusal(notification: SesNotification, trusted_topic_arn: str | None) -> str | None:
    """Why the notification's inline content may not be ingested; None when it has none or is trusted.

    `trusted_topic_arn` is the topic of the deployed receipt rule's SNS action; None when the rule
    stores mail in S3, and then no inline content is trusted.
    """
    if notification.content is None:
        return None
    action = notification.receipt.action
    if not trusted_topic_arn:
        return (
            f"inline content from an SES {action.type} action on {action.topic_arn or 'no topic'}: "
            "the deployed receipt rule stores mail in S3 and sends none"
        )
    if action.type.upper() != "SNS" or action.topic_arn != trusted_topic_arn:
        return (
            f"inline content from an SES {action.type} action on {action.topic_arn or 'no topic'}, "
            f"not from the deployed receipt rule's SNS action on {trusted_topic_arn}"
        )
    return None


def quarantine_inline_content(notification: SesNotification, ctx: EmailContext, why: str) -> IngestResult:
    """Keep refused inline content as received (S3) with a quarantine entry saying why; once per content.

    The key is the content's digest, never the notification's own message id: a forged notification
    must not claim the id of a real mail and make it look like a duplicate.
    """
    content = (notification.content or "").encode("utf-8")
    digest = hashlib.sha256(content).hexdigest()
    raw_key = f"{QUARANTINE_PREFIX}{digest}"
    ctx.blobs.put(raw_key, content, "text/plain; charset=utf-8", {"sha256": digest})
    action = notification.receipt.action
    entry = QuarantineEntry(
        id=new_id("qtn", notification.mail.timestamp),
        reason=REFUSED_REASON,
        at=notification.mail.timestamp,
        ref=notification.mail.message_id,
        channel=Channel.EMAIL,
        raw_key=raw_key,
        details={
            "why": why,
            "ses_message_id": notification.mail.message_id,
            "action_type": action.type,
            "topic_arn": action.topic_arn,
            "encoding": action.encoding,
            "from": notification.mail.source,
            "subject": notification.mail.common_headers.subject,
        },
    )
    try:
        ctx.repository.quarantine(entry, Pointer("inbound", f"email-inline#{digest}"))
    except DuplicateError:
        return IngestResult(outcome="duplicate", reason="the same inline content was quarantined before")
    return IngestResult(outcome="quarantined", reason=REFUSED_REASON)
