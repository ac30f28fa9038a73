"""The reports schedule through its real handler on moto: tickets come in by email and route_ticket
keeps the views and report aggregates from the stream; then the hourly run stores the digest pages
in S3, emails each digest once through SES, and publishes yesterday's range alerts once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_string
from email.policy import default
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID  # type: ignore[attr-defined]
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends

from functions.reports import schedule
from functions.route_ticket import app as route_ticket
from shared import clock
from shared.channels.report_delivery import SesDigestMailer
from shared.dal.repository import DynamoRepository
from shared.logic.report_schedule import ScheduleRetryError
from simulator.resources import Deployment
from tests.integration.conftest import EmailHarness, FakeLambdaContext, mail, use_config
from tests.integration.test_agent_api_views import pump

CONFIG = """
teams: [{id: support, name: Support}]
agents:
  - {id: alice, teams: [support]}
routing:
  default_team: support
sla:
  policies:
    - {name: email, when: {channel: [email]}, first_response: {minutes: 60, business: false}}
reports:
  digests:
    - {team: support, to: [lead@example.com, head@example.com], hour: 0, daily: true, weekly: true}
    - {team: all, to: [ops@example.com], hour: 0, daily: true}
"""
FIRST_DAY = datetime(2026, 2, 18, 10, 0, tzinfo=UTC)
DAYS = 12
"""A ticket a day from Wed 18 Feb to Sun 1 Mar 2026; none is answered, so the backlog grows daily
(the days before count as a backlog of 0: Sunday's 12 is above the 90th percentile, 8)."""
MONDAY_RUN = "2026-03-02T00:05:00Z"
"""The first run after midnight of Monday 2 March (UTC): daily and weekly digests, and alerts."""


def seed(email: EmailHarness, days: int) -> None:
    """A ticket a day for `days` days up to Sunday 1 March, each routed by route_ticket from the
    stream (views, SLA and report aggregates as deployed)."""
    cursor: dict[str, str] = {}
    for day in range(days):
        at = FIRST_DAY + timedelta(days=DAYS - days + day)
        clock.set_clock(lambda at=at: at)
        email.deliver(mail(subject=f"Problem number {day + 1}"), at=clock.iso(at))
        pump(email.deployment, cursor)


@pytest.fixture
def desk(email: EmailHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmailHarness]:
    use_config(CONFIG, tmp_path, monkeypatch)
    boto3.client("ses").verify_domain_identity(Domain="support.example.com")
    yield email
    route_ticket._routing_context.cache_clear()


def run(at: str) -> dict[str, Any]:
    clock.set_clock(lambda: clock.parse_iso(at) + timedelta(seconds=40))
    event = {"scheduledTime": at, "executionId": "8a1c7c55-0b7e-4f2a-9e61-2f1c0d3b9a10", "attemptNumber": "1"}
    result: dict[str, Any] = schedule.handler(event, FakeLambdaContext())
    return result


def emails() -> list[Any]:
    return list(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages)


def alerts() -> list[tuple[str, str | None]]:
    topics = sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].topics
    return [
        (m[1], m[2]) for t in topics.values() if t.name.endswith("alarmtopic") for m in t.sent_notifications
    ]


def page(deployment: Deployment, key: str) -> str:
    body = boto3.client("s3").get_object(Bucket=deployment.name("DigestsBucket"), Key=key)["Body"]
    text: str = body.read().decode("utf-8")
    return text


def test_the_hourly_run_stores_and_sends_each_digest_and_alert_once(
    desk: EmailHarness, deployment: Deployment
) -> None:
    seed(desk, DAYS)
    before = len(emails())
    # When the schedule runs at 00:05 on Monday
    assert run(MONDAY_RUN) == {"sent": 5, "skipped": 0, "failed": 0}

    # Then three digests went out, one email each to its addresses, from the support address
    sent = emails()[before:]
    # (moto records the raw message's To header as destinations too: hence the sets)
    assert sorted(tuple(sorted(set(m.destinations))) for m in sent) == [
        ("head@example.com", "lead@example.com"),
        ("head@example.com", "lead@example.com"),
        ("ops@example.com",),
    ]
    assert {m.source for m in sent} == {"support@support.example.com"}
    messages = [message_from_string(m.raw_data, policy=default) for m in sent]
    assert sorted(str(m["Subject"]).strip() for m in messages) == [
        "All teams: daily digest for Sun 1 Mar 2026: 1 created, 0 resolved, backlog 12",
        "Support: daily digest for Sun 1 Mar 2026: 1 created, 0 resolved, backlog 12",
        "Support: weekly digest for 2026-W09 (23 Feb – 1 Mar 2026): 7 created, 0 resolved, backlog 12",
    ]
    for message in messages:  # a text part and an HTML part
        assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    # And each page is in the bucket, listing the most overdue tickets first, ten at most
    daily = page(deployment, "digests/support/daily/2026-03-01.html")
    assert daily.startswith("<!DOCTYPE html>")
    listed = [n for n in range(1, DAYS + 1) if f"<td>#{n}</td>" in daily]
    assert listed == list(range(1, 11))
    assert daily.index("<td>#1</td>") < daily.index("<td>#2</td>")
    assert "Problem number 1<" in page(deployment, "digests/all/daily/2026-03-01.html")
    assert "2026-W09" in page(deployment, "digests/support/weekly/2026-02-23.html")

    # And the backlog of Sunday, above its usual range, alerted once for support and once for all
    published = alerts()
    assert sorted(subject or "" for _, subject in published) == [
        "Helpdesk report alert: all backlog on 2026-03-01",
        "Helpdesk report alert: support backlog on 2026-03-01",
    ]
    assert all("backlog at the end of the day on 2026-03-01 was 12" in text for text, _ in published)

    # When the same hour runs again (a retry, or the scheduler delivering twice)
    assert run(MONDAY_RUN) == {"sent": 0, "skipped": 5, "failed": 0}

    # Then nothing more was sent or published
    assert len(emails()) == before + 3
    assert len(alerts()) == 2
    # And the next hour has nothing due
    assert run("2026-03-02T01:05:00Z") == {"sent": 0, "skipped": 0, "failed": 0}


def _ses_client() -> Any:
    mailer = schedule._schedule_context().mailer
    assert isinstance(mailer, SesDigestMailer)
    return mailer.client


def test_a_refused_digest_is_recorded_and_the_others_still_go(
    desk: EmailHarness, deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given three days of tickets (Sunday's backlog, 3, is above its usual range, 0), and SES
    # refuses mail to the ops address for good (MessageRejected)
    seed(desk, 3)
    client = _ses_client()
    send_email = client.send_email

    def rejecting(**kwargs: Any) -> Any:
        if "ops@example.com" in kwargs["Destination"]["ToAddresses"]:
            error = {"Error": {"Code": "MessageRejected", "Message": "Email address is not verified."}}
            raise ClientError(error, "SendEmail")  # type: ignore[arg-type]
        return send_email(**kwargs)

    monkeypatch.setattr(client, "send_email", rejecting)
    before = len(emails())

    # When the run is made, Then the refusal is counted and the other digests and alerts go
    assert run(MONDAY_RUN) == {"sent": 4, "skipped": 0, "failed": 1}
    assert len(emails()) == before + 2
    repository = DynamoRepository(deployment.name("TicketsTable"), "us-east-1")
    refused = repository.get_delivery("digests/all/daily/2026-03-01.html")
    assert refused is not None
    assert refused.state == "failed"
    assert "MessageRejected" in str(refused.detail)
    # And a run again sends neither it (refused for good) nor anything else
    assert run(MONDAY_RUN) == {"sent": 0, "skipped": 5, "failed": 0}
    assert len(emails()) == before + 2


def test_a_transient_failure_fails_the_run_and_the_retry_sends_only_what_is_missing(
    desk: EmailHarness, deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _ses_client()
    send_email = client.send_email
    throttled = {"left": 1}

    def throttling(**kwargs: Any) -> Any:
        if throttled["left"] and "ops@example.com" in kwargs["Destination"]["ToAddresses"]:
            throttled["left"] -= 1
            error = {"Error": {"Code": "Throttling", "Message": "slow down"}}
            raise ClientError(error, "SendEmail")  # type: ignore[arg-type]
        return send_email(**kwargs)

    monkeypatch.setattr(client, "send_email", throttling)
    seed(desk, 3)
    before = len(emails())

    # When SES throttles one digest, Then the run fails (the scheduler retries it) after the rest went
    with pytest.raises(ScheduleRetryError, match=r"digests/all/daily/2026-03-01\.html"):
        run(MONDAY_RUN)
    assert len(emails()) == before + 2
    # And the retry sends only the throttled digest
    assert run(MONDAY_RUN) == {"sent": 1, "skipped": 4, "failed": 0}
    assert sorted(m.destinations[0] for m in emails()[before:])[-1] == "ops@example.com"
    assert len(emails()) == before + 3


def test_the_hourly_run_seals_the_week_of_days_that_have_ended_everywhere(
    desk: EmailHarness, deployment: Deployment
) -> None:
    # Given a ticket a day from 18 February to 1 March, each day a live aggregate item
    seed(desk, DAYS)
    table = deployment.name("TicketsTable")
    repository = DynamoRepository(table, "us-east-1")
    span = FIRST_DAY.date(), FIRST_DAY.date() + timedelta(days=DAYS)
    before = [day.unsealed() for day in repository.report_days("all", "*", *span)]
    # When the schedule runs at 00:05 on Monday 2 March
    run(MONDAY_RUN)
    # Then the days from 22 to 28 February (8 to 2 days before) are sealed, the others live
    client = boto3.client("dynamodb", region_name="us-east-1")
    found = client.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "REPORT#all#*"}},
    )["Items"]
    sealed = sorted(i["sk"]["S"][4:14] for i in found if i["sk"]["S"].endswith("#S"))
    live = sorted(i["sk"]["S"][4:] for i in found if not i["sk"]["S"].endswith("#S"))
    assert sealed == [f"2026-02-{d}" for d in range(22, 29)]
    assert live == ["2026-02-18", "2026-02-19", "2026-02-20", "2026-02-21", "2026-03-01"]
    # And every day reads as before
    assert [day.unsealed() for day in repository.report_days("all", "*", *span)] == before
    # And the next hour finds nothing more to seal in its window
    run("2026-03-02T01:05:00Z")
    again = client.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "REPORT#all#*"}},
    )["Items"]
    assert {i["sk"]["S"]: i.get("rev") for i in again} == {i["sk"]["S"]: i.get("rev") for i in found}
