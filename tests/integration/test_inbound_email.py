"""inbound_email end to end: SES (S3 action + SNS) events into the real handler, on moto."""

from __future__ import annotations

import json
from datetime import timedelta

import boto3
import pytest

from shared import clock
from shared.dal.pointers import Pointer
from shared.errors import InvalidEventError, RawMessageNotFoundError
from tests.integration.conftest import EmailHarness, mail


def _only_ticket(email: EmailHarness):
    tickets = email.repository.scan_tickets()
    assert len(tickets) == 1
    return tickets[0]


def test_new_email_opens_ticket_one_with_customer_and_message(email: EmailHarness) -> None:
    # Given a first email from a new customer
    raw = mail(message_id="<first@mail.customer.example>")

    # When SES delivers it
    result = email.deliver(raw)

    # Then ticket number 1 is opened for a new customer keyed by the lower-cased address
    assert result["outcome"] == "created"
    assert result["ticket_number"] == 1
    ticket = _only_ticket(email)
    assert ticket.number == 1
    assert ticket.channel == "email"
    assert ticket.status == "new"
    assert ticket.subject == "Printer not working"
    assert "jane.doe@customer.example" in ticket.participants
    customer = email.repository.get_customer(ticket.customer_id)
    assert customer is not None
    assert customer.name == "Jane Doe"
    assert [(i.kind, i.value) for i in customer.identities] == [("email", "jane.doe@customer.example")]
    [message] = email.repository.list_messages(ticket.id)
    assert message.direction == "inbound"
    assert message.external_id == "<first@mail.customer.example>"
    assert "error E42" in message.text
    assert message.raw_key is not None
    assert message.raw_key.startswith("raw/")
    events = email.repository.list_events(ticket.id)
    assert [e.type for e in events] == ["created"]
    assert "no reference" in events[0].data["reason"]


def test_same_notification_delivered_three_times_stores_one_message(email: EmailHarness) -> None:
    # Given one SES notification
    event = email.sns_event(email.notification(mail(), ses_id="dup-ses-id"))

    # When SNS/Lambda deliver it three times
    outcomes = [email.invoke(event)["results"][0]["outcome"] for _ in range(3)]

    # Then one ticket with one message exists, and the retries report duplicates
    assert outcomes == ["created", "duplicate", "duplicate"]
    ticket = _only_ticket(email)
    assert len(email.repository.list_messages(ticket.id)) == 1


def test_same_message_id_through_another_ses_message_is_not_stored_twice(email: EmailHarness) -> None:
    raw = mail(message_id="<same@mail.customer.example>")
    assert email.deliver(raw, ses_id="ses-a")["outcome"] == "created"
    assert email.deliver(raw, ses_id="ses-b")["outcome"] == "duplicate"
    assert len(email.repository.list_messages(_only_ticket(email).id)) == 1


def test_reply_threads_by_in_reply_to_then_by_references(email: EmailHarness) -> None:
    # Given a ticket opened by a first mail
    email.deliver(mail(message_id="<first@mail.customer.example>"))

    # When the customer replies to it, then writes again referencing only the thread
    first = email.deliver(
        mail(
            subject="Re: Printer not working",
            body="It also shows E43 now.",
            message_id="<second@mail.customer.example>",
            headers={"In-Reply-To": "<first@mail.customer.example>"},
        )
    )
    second = email.deliver(
        mail(
            subject="Re: Printer not working",
            body="Any news?",
            message_id="<third@mail.customer.example>",
            headers={"References": "<first@mail.customer.example> <unknown@elsewhere.example>"},
        )
    )

    # Then both join ticket 1, with the method recorded
    assert (first["outcome"], first["ticket_number"]) == ("threaded", 1)
    assert (second["outcome"], second["ticket_number"]) == ("threaded", 1)
    ticket = _only_ticket(email)
    assert len(email.repository.list_messages(ticket.id)) == 3
    methods = [
        e.data.get("method") for e in email.repository.list_events(ticket.id) if e.type == "message_threaded"
    ]
    assert methods == ["in-reply-to", "references"]


def test_subject_token_and_plus_address_thread_a_reply(email: EmailHarness) -> None:
    email.deliver(mail())
    by_token = email.deliver(mail(subject="Re: [#1] Printer not working", body="Token reply"))
    by_plus = email.deliver(
        mail(subject="Another subject", to="support+1@support.example.com", body="Plus reply"),
        recipients=["support+1@support.example.com"],
    )
    assert by_token["reason"] == "matched by subject-token"
    assert by_plus["reason"] == "matched by plus-address"
    assert {by_token["ticket_number"], by_plus["ticket_number"]} == {1}


def test_foreign_sender_replying_into_a_thread_opens_a_linked_ticket(email: EmailHarness) -> None:
    # Given Jane's ticket
    email.deliver(mail(message_id="<first@mail.customer.example>"))

    # When a newsletter-like sender who never took part replies with Jane's references
    result = email.deliver(
        mail(
            sender="Deals <deals@newsletter.example>",
            subject="Re: Printer not working",
            body="Buy toner now!",
            headers={"In-Reply-To": "<first@mail.customer.example>"},
        )
    )

    # Then it does not join Jane's ticket: a new one is opened and linked, with the reason
    assert result["outcome"] == "created"
    assert result["ticket_number"] == 2
    assert "sender-not-participant" in result["reason"]
    tickets = email.repository.scan_tickets()
    assert tickets[1].linked_ticket_id == tickets[0].id
    assert len(email.repository.list_messages(tickets[0].id)) == 1


def test_participant_on_cc_may_reply_into_the_ticket(email: EmailHarness) -> None:
    email.deliver(mail(message_id="<first@mail.customer.example>", cc="Bob <bob@customer.example>"))
    result = email.deliver(
        mail(sender="Bob <Bob@Customer.example>", headers={"In-Reply-To": "<first@mail.customer.example>"})
    )
    assert (result["outcome"], result["ticket_number"]) == ("threaded", 1)


def test_reply_to_resolved_ticket_reopens_it(email: EmailHarness) -> None:
    email.deliver(mail(message_id="<first@mail.customer.example>"))
    ticket = _only_ticket(email)
    email.repository.set_status(ticket.id, "resolved", ticket.created_at, ticket.version)

    result = email.deliver(
        mail(body="Broken again", headers={"In-Reply-To": "<first@mail.customer.example>"})
    )

    assert result["outcome"] == "threaded"
    reopened = _only_ticket(email)
    assert reopened.status == "open"
    assert reopened.resolved_at is None
    assert "reopened" in [e.type for e in email.repository.list_events(reopened.id)]


def test_reply_to_ticket_closed_longer_than_window_opens_linked_ticket(email: EmailHarness) -> None:
    email.deliver(mail(message_id="<first@mail.customer.example>"), at="2026-01-02T09:00:00.000Z")
    ticket = _only_ticket(email)
    email.repository.set_status(ticket.id, "closed", ticket.created_at + timedelta(days=1), ticket.version)

    result = email.deliver(
        mail(headers={"In-Reply-To": "<first@mail.customer.example>"}), at="2026-03-02T09:00:00.000Z"
    )

    assert result["outcome"] == "created"
    assert "closed-too-long" in result["reason"]
    old, new = email.repository.scan_tickets()
    assert old.status == "closed"
    assert new.linked_ticket_id == old.id


def test_reply_to_recently_closed_ticket_reopens_it(email: EmailHarness) -> None:
    email.deliver(mail(message_id="<first@mail.customer.example>"), at="2026-03-01T09:00:00.000Z")
    ticket = _only_ticket(email)
    email.repository.set_status(ticket.id, "closed", ticket.created_at + timedelta(hours=2), ticket.version)
    result = email.deliver(
        mail(headers={"In-Reply-To": "<first@mail.customer.example>"}), at="2026-03-02T09:00:00.000Z"
    )
    assert result["outcome"] == "threaded"
    assert _only_ticket(email).status == "open"


@pytest.mark.parametrize("verdict", ["spam", "virus"])
def test_spam_or_virus_goes_to_quarantine_not_a_ticket(email: EmailHarness, verdict: str) -> None:
    result = email.deliver(mail(message_id="<bad@spam.example>"), verdicts={verdict: "FAIL"})
    assert result == {**result, "outcome": "quarantined", "reason": verdict}
    assert email.repository.scan_tickets() == []
    [entry] = email.repository.list_quarantine()
    assert entry.reason == verdict
    assert entry.ref == "<bad@spam.example>"
    assert entry.raw_key is not None
    body = boto3.client("s3").get_object(Bucket=email.bucket, Key=entry.raw_key)["Body"].read()
    assert b"Printer not working" in body


def test_dmarc_failure_is_flagged_on_message_and_ticket(email: EmailHarness) -> None:
    email.deliver(mail(), verdicts={"dmarc": "FAIL"}, dmarc_policy="none")
    ticket = _only_ticket(email)
    assert "dmarc_fail" in ticket.flags
    [message] = email.repository.list_messages(ticket.id)
    assert "dmarc_fail" in message.flags


def test_auto_reply_is_marked_automatic_and_does_not_reopen(email: EmailHarness) -> None:
    email.deliver(mail(message_id="<first@mail.customer.example>"))
    ticket = _only_ticket(email)
    email.repository.set_status(ticket.id, "resolved", ticket.created_at, ticket.version)

    result = email.deliver(
        mail(
            subject="Automatic reply: Printer not working",
            body="I am out of office until Monday.",
            headers={"In-Reply-To": "<first@mail.customer.example>", "Auto-Submitted": "auto-replied"},
        )
    )

    assert result["outcome"] == "threaded"
    ticket = _only_ticket(email)
    assert ticket.status == "resolved"
    auto = email.repository.list_messages(ticket.id)[-1]
    assert auto.automatic is True


def test_newsletter_opens_ticket_flagged_automatic(email: EmailHarness) -> None:
    email.deliver(
        mail(
            sender="News <news@vendor.example>",
            headers={"List-Id": "<news.vendor.example>", "Precedence": "bulk"},
        )
    )
    ticket = _only_ticket(email)
    assert "automatic" in ticket.flags
    assert email.repository.list_messages(ticket.id)[0].automatic is True


BOUNCE = (
    "From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>\r\n"
    "To: support@support.example.com\r\n"
    "Subject: Undelivered Mail Returned to Sender\r\n"
    "Message-ID: <bounce-1@mx.customer.example>\r\n"
    "Auto-Submitted: auto-replied\r\n"
    "MIME-Version: 1.0\r\n"
    'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n'
    "\r\n"
    "--b1\r\n"
    "Content-Type: text/plain; charset=us-ascii\r\n"
    "\r\n"
    "Your message could not be delivered to jane.doe@customer.example.\r\n"
    "--b1\r\n"
    "Content-Type: message/delivery-status\r\n"
    "\r\n"
    "Reporting-MTA: dns; mx.customer.example\r\n"
    "\r\n"
    "Final-Recipient: rfc822; jane.doe@customer.example\r\n"
    "Action: failed\r\n"
    "Status: 5.1.1\r\n"
    "--b1\r\n"
    "Content-Type: text/rfc822-headers\r\n"
    "\r\n"
    "From: support@support.example.com\r\n"
    "To: jane.doe@customer.example\r\n"
    "Subject: Re: [#1] Printer not working\r\n"
    "Message-ID: {ours}\r\n"
    "--b1--\r\n"
)


def test_bounce_of_our_message_is_attached_to_its_ticket(email: EmailHarness) -> None:
    # Given a ticket and one message we sent on it
    email.deliver(mail())
    ticket = _only_ticket(email)
    ours = "<0100019462b1c3d4-reply-000000@email.amazonses.com>"
    email.repository._write(
        [], [Pointer("ref", ours, ticket_id=ticket.id, direction="outbound")], "2026-03-02"
    )

    # When its bounce comes back
    result = email.deliver(BOUNCE.replace("{ours}", ours).encode())

    # Then it is stored on that ticket as an automatic message, and the ticket is flagged
    assert (result["outcome"], result["ticket_number"]) == ("threaded", 1)
    assert "bounce" in _only_ticket(email).flags
    assert email.repository.list_messages(ticket.id)[-1].automatic is True


def test_bounce_of_unknown_message_is_quarantined(email: EmailHarness) -> None:
    result = email.deliver(BOUNCE.replace("{ours}", "<never-sent@support.example.com>").encode())
    assert (result["outcome"], result["reason"]) == ("quarantined", "bounce-unmatched")
    assert [q.reason for q in email.repository.list_quarantine()] == ["bounce-unmatched"]


def test_attachments_are_stored_in_s3_with_name_type_and_size(email: EmailHarness) -> None:
    raw = (
        b"From: Jane <jane.doe@customer.example>\r\nTo: support@support.example.com\r\n"
        b"Subject: Invoice\r\nMessage-ID: <att@customer.example>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="m"\r\n\r\n'
        b"--m\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the invoice attached.\r\n"
        b'--m\r\nContent-Type: application/pdf; name="invoice.pdf"\r\n'
        b'Content-Disposition: attachment; filename="invoice.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        b"JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PD4+CmVuZG9iagp0cmFpbGVyCjw8Pj4KJSVFT0YK\r\n--m--\r\n"
    )
    email.deliver(raw)
    [message] = email.repository.list_messages(_only_ticket(email).id)
    [attachment] = message.attachments
    assert (attachment.name, attachment.content_type) == ("invoice.pdf", "application/pdf")
    assert attachment.key is not None
    stored = boto3.client("s3").get_object(Bucket=email.bucket, Key=attachment.key)["Body"].read()
    assert stored.startswith(b"%PDF-1.4")
    assert attachment.size == len(stored)


def test_large_body_is_kept_in_s3_with_a_preview(email: EmailHarness) -> None:
    body = "Long log follows.\n" + ("line of a very long log output\n" * 5000)
    email.deliver(mail(body=body))
    [message] = email.repository.list_messages(_only_ticket(email).id)
    assert message.body_key is not None
    assert message.text.startswith("Long log follows.")
    stored = json.loads(
        boto3.client("s3").get_object(Bucket=email.bucket, Key=message.body_key)["Body"].read()
    )
    assert stored["full_text"].count("line of a very long log output") == 5000


def test_parser_crash_still_opens_a_ticket_flagged_unparsed(
    email: EmailHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shared.channels.email as email_channel

    def broken(raw: bytes) -> None:
        raise UnicodeError("simulated parser bug")

    monkeypatch.setattr(email_channel, "parse_email", broken)
    result = email.deliver(mail(subject="Help me"))
    assert result["outcome"] == "created"
    ticket = _only_ticket(email)
    assert "unparsed" in ticket.flags
    assert ticket.subject == "Printer not working"  # from SES's commonHeaders, the raw is kept
    assert email.repository.list_messages(ticket.id)[0].raw_key is not None


def test_event_that_is_not_an_ses_notification_fails_for_retry_and_dead_letter(email: EmailHarness) -> None:
    event = email.sns_event({"notificationType": "Bounce", "mail": {}})
    with pytest.raises(InvalidEventError, match="not an SES receipt notification"):
        email.invoke(event)


def test_missing_raw_object_fails_so_the_event_is_retried(email: EmailHarness) -> None:
    note = email.notification(mail())
    note["receipt"]["action"]["objectKey"] = "raw/does-not-exist"
    with pytest.raises(RawMessageNotFoundError):
        email.invoke(email.sns_event(note))


def test_customer_has_all_tickets_listed(email: EmailHarness) -> None:
    email.deliver(mail(subject="First problem"))
    email.deliver(mail(subject="Second problem", sender="JANE.DOE@customer.example"))
    tickets = email.repository.scan_tickets()
    assert len(tickets) == 2
    assert tickets[0].customer_id == tickets[1].customer_id
    listed = email.repository.list_customer_tickets(tickets[0].customer_id)
    assert [t.number for t in listed] == [1, 2]


def test_ticket_numbers_start_where_the_config_says(
    email: EmailHarness, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.integration.conftest import _reset_process_caches

    config = tmp_path / "helpdesk.yaml"
    config.write_text("version: 1\ntickets:\n  number_start: 1000\n")
    monkeypatch.setenv("HELPDESK_CONFIG", str(config))
    _reset_process_caches()
    assert email.deliver(mail())["ticket_number"] == 1000
    assert email.deliver(mail(subject="other"))["ticket_number"] == 1001


def test_message_time_is_when_ses_received_it(email: EmailHarness) -> None:
    clock.set_clock(lambda: clock.parse_iso("2030-01-01T00:00:00Z"))
    email.deliver(mail(), at="2026-03-02T09:15:02.412Z")
    [message] = email.repository.list_messages(_only_ticket(email).id)
    assert clock.iso(message.at) == "2026-03-02T09:15:02.412Z"
