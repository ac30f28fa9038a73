"""inbound_email takes mail inline (an SES SNS action's `content`) only from the receipt rule it was
deployed with: the template's rule stores mail in S3, so inline mail is quarantined, never ingested."""

from __future__ import annotations

import base64
import json

import boto3
import pytest

from shared.settings import reset_settings
from tests.integration.conftest import EVENTS, EmailHarness, mail


def _inline_notification(email: EmailHarness, raw: bytes, *, ses_id: str, topic_arn: str) -> dict:
    note = json.loads((EVENTS / "ses_sns_action_content_notification.json").read_text())
    note["mail"]["messageId"] = ses_id
    note["receipt"]["action"]["topicArn"] = topic_arn
    note["content"] = base64.b64encode(raw).decode()
    return note


def _topic(email: EmailHarness) -> str:
    return email.deployment.name("InboundMailTopic")


def test_inline_mail_is_quarantined_with_its_content_when_the_rule_stores_mail_in_s3(
    email: EmailHarness,
) -> None:
    # Given the stack as deployed (its receipt rule stores mail in S3) and a notification that
    # carries a mail inline, as an SNS action would, arriving on the inbound mail topic
    raw = mail(sender="CEO <ceo@support.example.com>", subject="Wire the money", body="Now.")
    note = _inline_notification(email, raw, ses_id="forged-1", topic_arn=_topic(email))

    # When SNS delivers it to the real handler
    [result] = email.invoke(email.sns_event(note))["results"]

    # Then no ticket or customer is made of it: it is quarantined, with the reason
    assert result["outcome"] == "quarantined"
    assert result["reason"] == "untrusted-inline-content"
    assert email.repository.scan_tickets() == []
    assert email.repository.scan_customers() == []
    [entry] = email.repository.list_quarantine()
    assert entry.reason == "untrusted-inline-content"
    assert entry.ref == "forged-1"
    assert "stores mail in S3" in entry.details["why"]
    assert entry.details["topic_arn"] == _topic(email)
    # and the content is kept exactly as it arrived, for review
    assert entry.raw_key is not None
    kept = boto3.client("s3").get_object(Bucket=email.bucket, Key=entry.raw_key)["Body"].read()
    assert kept.decode() == note["content"]


def test_the_same_inline_mail_delivered_again_is_quarantined_once(email: EmailHarness) -> None:
    note = _inline_notification(email, mail(), ses_id="forged-2", topic_arn=_topic(email))
    event = email.sns_event(note)

    outcomes = [email.invoke(event)["results"][0]["outcome"] for _ in range(3)]

    assert outcomes == ["quarantined", "duplicate", "duplicate"]
    assert len(email.repository.list_quarantine()) == 1


def test_a_forged_notification_cannot_claim_the_id_of_a_real_mail(email: EmailHarness) -> None:
    # Given inline mail that claims the SES message id of a mail SES is about to store
    forged = _inline_notification(email, mail(body="forged"), ses_id="real-ses-id", topic_arn=_topic(email))
    assert email.invoke(email.sns_event(forged))["results"][0]["outcome"] == "quarantined"

    # When the real mail with that id arrives through the S3 rule
    result = email.deliver(mail(body="the real one"), ses_id="real-ses-id")

    # Then it is ingested, not taken for a duplicate of the forgery
    assert result["outcome"] == "created"
    [ticket] = email.repository.scan_tickets()
    [message] = email.repository.list_messages(ticket.id)
    assert "the real one" in message.text


def test_with_an_sns_action_rule_inline_mail_is_taken_only_from_its_topic(
    email: EmailHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a stack whose receipt rule delivers mail inline through an SNS action on the inbound topic
    monkeypatch.setenv("INLINE_MAIL_TOPIC_ARN", _topic(email))
    reset_settings()
    other_topic = boto3.client("sns").create_topic(Name="someone-elses-rule")["TopicArn"]

    # When one notification comes from that rule's topic and another names a different topic
    trusted = email.invoke(
        email.sns_event(_inline_notification(email, mail(), ses_id="ses-trusted", topic_arn=_topic(email)))
    )["results"][0]
    foreign = email.invoke(
        email.sns_event(
            _inline_notification(
                email, mail(sender="x@elsewhere.example"), ses_id="ses-other", topic_arn=other_topic
            )
        )
    )["results"][0]

    # Then the rule's mail becomes a ticket, and the other is quarantined saying where it came from
    assert trusted["outcome"] == "created"
    assert foreign["outcome"] == "quarantined"
    [ticket] = email.repository.scan_tickets()
    assert "jane.doe@customer.example" in ticket.participants
    [entry] = email.repository.list_quarantine()
    assert other_topic in entry.details["why"]
