"""Quarantine review end to end: mail quarantined by the real inbound_email handler (and SMS by
inbound_sms), then listed, inspected and released through the real agent API handler on moto,
with HTTP API v2 events carrying the claims API Gateway's JWT authorizer checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from functions.inbound_sms import app as sms_app
from shared.models.ticket import Ticket
from tests.integration.conftest import EmailHarness, FakeLambdaContext, mail, use_config
from tests.integration.test_agent_api import call as agent_api_call
from tests.integration.test_agent_api import id_token
from tests.integration.test_inbound_sms import sms_event

JANE = '"Jane Doe" <jane.doe@customer.example>'
JANES_FIRST = "<first@mail.customer.example>"
CONFIG = """
teams: [{id: support}]
agents:
  - {id: alice, teams: [support]}
  - {id: sam, teams: [support]}
  - {id: ada, teams: [support]}
"""


@pytest.fixture
def desk(email: EmailHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EmailHarness:
    use_config(CONFIG, tmp_path, monkeypatch)
    boto3.client("ses").verify_domain_identity(Domain="support.example.com")
    return email


def call(
    method: str,
    path: str,
    *,
    query: dict[str, str] | None = None,
    agent: str = "sam",
    groups: str | None = "[supervisors]",
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """One request as API Gateway (HTTP API, payload 2.0) hands it over after the JWT authorizer:
    by default a supervisor's."""
    claims = id_token(agent)
    if groups is not None:
        claims["cognito:groups"] = groups
    return agent_api_call(method, path, claims=claims, headers=headers, query=query)


def janes_ticket(desk: EmailHarness) -> Ticket:
    result = desk.deliver(mail(sender=JANE, message_id=JANES_FIRST))
    ticket = desk.repository.get_ticket(result["ticket_id"])
    assert ticket is not None
    return ticket


def quarantine_spam(desk: EmailHarness, subject: str = "You won a prize") -> dict[str, Any]:
    raw = mail(sender="Prize Desk <win@prizes.example>", subject=subject, body="Click here.\n")
    result = desk.deliver(raw, verdicts={"spam": "FAIL"})
    assert (result["outcome"], result["reason"]) == ("quarantined", "spam")
    return result


def quarantine_forged_reply(desk: EmailHarness) -> bytes:
    """Mail claiming to be Jane, replying in her thread, failing DMARC under `p=reject`."""
    raw = mail(
        sender=JANE,
        subject="Re: [#1] Printer not working",
        message_id="<forged@evil.example>",
        headers={"In-Reply-To": JANES_FIRST},
        body="Please send the refund to my new account.\n",
    )
    result = desk.deliver(raw, verdicts={"dmarc": "FAIL"}, dmarc_policy="reject")
    assert (result["outcome"], result["reason"]) == ("quarantined", "dmarc")
    return raw


def entry_of(reason: str) -> dict[str, Any]:
    status, body = call("GET", "/quarantine", query={"reason": reason})
    assert status == 200, body
    [entry] = body["entries"]
    return dict(entry)


def test_spam_and_forged_mail_are_listed_inspected_and_released_into_new_tickets(desk: EmailHarness) -> None:
    # Given Jane's ticket, then spam and a forged reply in her thread, both quarantined on arrival
    jane = janes_ticket(desk)
    quarantine_spam(desk)
    forged = quarantine_forged_reply(desk)

    # When a supervisor lists the quarantine
    status, body = call("GET", "/quarantine")

    # Then both are there, newest first, unreleased
    assert status == 200, body
    assert [(e["reason"], e["channel"], e["released"]) for e in body["entries"]] == [
        ("dmarc", "email", False),
        ("spam", "email", False),
    ]
    assert body["next_cursor"] is None
    assert body["entries"][0]["from"] == JANE

    # And one entry shows its verdicts, the DMARC policy, the sender record and the raw mail's key
    status, body = call("GET", f"/quarantine/{entry_of('dmarc')['id']}")
    assert status == 200, body
    detail = body["entry"]
    assert detail["details"]["verdicts"]["dmarc"] == "FAIL"
    assert detail["details"]["dmarc_policy"] == "reject"
    assert detail["details"]["sender"]["source"]
    kept = boto3.client("s3").get_object(Bucket=desk.bucket, Key=detail["raw_key"])["Body"].read()
    assert kept == forged

    # When the supervisor releases the forged reply
    status, released = call("POST", f"/quarantine/{detail['id']}/release")

    # Then it opens a new ticket (never Jane's), flagged, saying who released it and why it was held
    assert status == 200, released
    assert released["outcome"] == "released"
    assert released["ticket_id"] != jane.id
    ticket = desk.repository.get_ticket(released["ticket_id"])
    assert ticket is not None
    assert {"dmarc_fail", "released"} <= set(ticket.flags)
    [event] = [e for e in desk.repository.list_events(ticket.id) if e.type == "released_from_quarantine"]
    assert (event.data["by"], event.data["reason"], event.data["entry_id"]) == ("sam", "dmarc", detail["id"])
    [message] = desk.repository.list_messages(ticket.id)
    assert "refund" in message.text
    assert "released" in message.flags
    assert len(desk.repository.list_messages(jane.id)) == 1
    assert released["entry"]["released_by"] == "sam"
    assert released["entry"]["released_ticket_id"] == ticket.id

    # When the spam is released too
    status, released_spam = call("POST", f"/quarantine/{entry_of('spam')['id']}/release")

    # Then it becomes a ticket of its own, flagged released, and the listing filters by state
    assert status == 200, released_spam
    spam_ticket = desk.repository.get_ticket(released_spam["ticket_id"])
    assert spam_ticket is not None
    assert spam_ticket.subject == "You won a prize"
    assert "released" in spam_ticket.flags
    assert call("GET", "/quarantine", query={"released": "false"})[1]["entries"] == []
    status, body = call("GET", "/quarantine", query={"released": "true"})
    assert [(e["reason"], e["released_by"]) for e in body["entries"]] == [("dmarc", "sam"), ("spam", "sam")]


def test_agents_are_refused_and_admins_may_review(desk: EmailHarness) -> None:
    # Given a quarantined spam mail
    quarantine_spam(desk)
    entry = entry_of("spam")

    # When an agent without a reviewing group asks, they are refused, and nothing is released
    for method, path in (
        ("GET", "/quarantine"),
        ("GET", f"/quarantine/{entry['id']}"),
        ("POST", f"/quarantine/{entry['id']}/release"),
    ):
        status, body = call(method, path, agent="alice", groups=None)
        assert status == 403, (path, body)
    assert desk.repository.scan_tickets() == []

    # Then an admin may list and release it
    status, body = call("GET", "/quarantine", agent="ada", groups="[admins]")
    assert (status, len(body["entries"])) == (200, 1)
    status, body = call("POST", f"/quarantine/{entry['id']}/release", agent="ada", groups="[admins]")
    assert (status, body["outcome"], body["entry"]["released_by"]) == (200, "released", "ada")


def test_releasing_twice_creates_one_ticket(desk: EmailHarness) -> None:
    # Given a quarantined spam mail released once
    quarantine_spam(desk)
    entry = entry_of("spam")
    path = f"/quarantine/{entry['id']}/release"
    first = call("POST", path, headers={"idempotency-key": "k1"})

    # When it is released again (a retry, and another supervisor)
    again = call("POST", path, headers={"idempotency-key": "k1"})
    other = call("POST", path, agent="alice", groups="[supervisors]")

    # Then the later releases answer with the same ticket and change nothing
    assert first[0] == again[0] == other[0] == 200
    assert first[1]["outcome"] == "released"
    assert [again[1]["outcome"], other[1]["outcome"]] == ["already-released", "already-released"]
    assert first[1]["ticket_id"] == again[1]["ticket_id"] == other[1]["ticket_id"]
    [ticket] = desk.repository.scan_tickets()
    assert len(desk.repository.list_messages(ticket.id)) == 1
    assert other[1]["entry"]["released_by"] == "sam"


def test_a_release_claimed_but_not_finished_is_finished_once_for_its_first_releaser(
    desk: EmailHarness,
) -> None:
    # Given a release that recorded its claim and then stopped (a timeout, or a racing release)
    quarantine_spam(desk)
    entry = entry_of("spam")
    held = desk.repository.get_quarantine(entry["id"])
    assert held is not None
    assert desk.repository.claim_release(entry["id"], "sam", held.at)
    assert call("GET", f"/quarantine/{entry['id']}")[1]["entry"]["released_ticket_id"] is None

    # When another supervisor releases it
    status, body = call("POST", f"/quarantine/{entry['id']}/release", agent="alice")

    # Then the mail becomes one ticket, recorded as the first releaser's release
    assert status == 200, body
    [ticket] = desk.repository.scan_tickets()
    assert body["ticket_id"] == ticket.id
    [event] = [e for e in desk.repository.list_events(ticket.id) if e.type == "released_from_quarantine"]
    assert event.data["by"] == "sam"
    assert body["entry"]["released_by"] == "sam"


def test_listing_pages_newest_first_across_more_entries_than_the_limit(desk: EmailHarness) -> None:
    # Given seven quarantined spam mails and one forged mail
    for n in range(7):
        quarantine_spam(desk, subject=f"Prize {n}")
    janes_ticket(desk)
    quarantine_forged_reply(desk)

    # When a supervisor pages through the spam three at a time
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        query = {"reason": "spam", "limit": "3", **({"cursor": cursor} if cursor else {})}
        status, body = call("GET", "/quarantine", query=query)
        assert status == 200, body
        pages.append([e["subject"] for e in body["entries"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break

    # Then every spam entry comes once, newest first, and nothing else
    assert pages == [["Prize 6", "Prize 5", "Prize 4"], ["Prize 3", "Prize 2", "Prize 1"], ["Prize 0"]]

    # And the unfiltered listing pages over all entries, with the channel filter applied per page
    status, body = call("GET", "/quarantine", query={"limit": "5", "channel": "email"})
    assert [e["reason"] for e in body["entries"]] == ["dmarc", "spam", "spam", "spam", "spam"]
    status, rest = call("GET", "/quarantine", query={"limit": "5", "cursor": body["next_cursor"]})
    assert [e["subject"] for e in rest["entries"]] == ["Prize 2", "Prize 1", "Prize 0"]
    assert rest["next_cursor"] is None
    assert call("GET", "/quarantine", query={"channel": "sms"})[1]["entries"] == []


def test_bad_listing_parameters_are_refused_clearly(desk: EmailHarness) -> None:
    status, body = call("GET", "/quarantine", query={"limit": "101"})
    assert status == 400
    assert "limit" in body["detail"]
    status, body = call("GET", "/quarantine", query={"cursor": "not-a-cursor"})
    assert status == 400
    assert "cursor" in body["detail"]
    status, body = call("GET", "/quarantine", query={"channel": "pigeon"})
    assert status == 400
    assert "channel" in body["detail"]
    assert call("GET", "/quarantine/qtn-missing")[0] == 404
    assert call("POST", "/quarantine/qtn-missing/release")[0] == 404


def test_an_unreadable_sms_is_kept_but_cannot_be_released(desk: EmailHarness) -> None:
    # Given an SMS whose payload inbound_sms could not read, quarantined with its raw input
    event = sms_event("x")
    event["Records"][0]["Sns"]["Message"] = "{not json"
    assert sms_app.handler(event, FakeLambdaContext())["results"][0]["outcome"] == "quarantined"
    entry = entry_of("malformed-sms")
    status, body = call("GET", f"/quarantine/{entry['id']}")
    assert body["entry"]["details"]["raw"]

    # When a supervisor releases it
    status, body = call("POST", f"/quarantine/{entry['id']}/release")

    # Then it is refused with the reason, and the entry stays unreleased
    assert status == 409
    assert "cannot be released" in body["detail"]
    assert entry_of("malformed-sms")["released"] is False
    assert desk.repository.scan_tickets() == []
