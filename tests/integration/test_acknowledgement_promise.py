"""The acknowledgement's "we will answer by ..." is the ticket's own first-response due time.

Each case delivers an email, routes the ticket from the filtered stream (route_ticket), then lets
auto_followup acknowledge it from the same stream, as Lambda would. Calendars with holidays, DST,
an overnight shift and a country's public holidays, a rule's SLA policy, a rule that raises the
priority, and a customer in another time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared import clock
from simulator.resources import Deployment
from tests.integration.conftest import EmailHarness, FakeLambdaContext, mail, use_config
from tests.integration.test_route_ticket import _stream_event

WEEKDAYS = '{mon: ["09:00-17:00"], tue: ["09:00-17:00"], wed: ["09:00-17:00"], thu: ["09:00-17:00"], fri: ["09:00-17:00"]}'
CONFIG = f"""
calendars:
  default: {{timezone: UTC}}
  berlin: {{timezone: Europe/Berlin, hours: {WEEKDAYS}, holidays: [2026-03-03]}}
  new_york: {{timezone: America/New_York, hours: {WEEKDAYS}}}
  nights: {{timezone: UTC, hours: {{fri: ["22:00-06:00"]}}}}
  germany: {{timezone: Europe/Berlin, holiday_country: DE, hours: {WEEKDAYS}}}
teams:
  - {{id: support, calendar: berlin}}
  - {{id: us, calendar: new_york}}
  - {{id: night, calendar: nights}}
  - {{id: de, calendar: germany}}
agents:
  - {{id: alice, teams: [support, us, night, de], default_presence: online}}
customers:
  - {{email_domains: [east.example], fields: {{timezone: America/New_York}}}}
routing:
  default_team: support
  rules:
    - {{name: boston, when: {{keywords: [boston]}}, then: {{team: us}}}}
    - {{name: nightshift, when: {{keywords: [nightshift]}}, then: {{team: night}}}}
    - {{name: feiertag, when: {{keywords: [feiertag]}}, then: {{team: de}}}}
    - {{name: billing, when: {{keywords: [invoice]}}, then: {{sla_policy: billing}}}}
    - {{name: outage, when: {{keywords: [outage]}}, then: {{priority: urgent}}}}
sla:
  policies:
    - {{name: urgent, when: {{priority: [urgent]}}, first_response: {{minutes: 30, business: false}}}}
    - {{name: email, when: {{channel: [email]}}, first_response: {{minutes: 120}}}}
    - {{name: billing, when: {{channel: [sms]}}, first_response: {{minutes: 480}}}}
"""
JANE = '"Jane Doe" <jane.doe@customer.example>'


@pytest.mark.parametrize(
    ("subject", "sender", "at", "due", "phrase"),
    [
        # Monday 16:30 Berlin, two business hours: 30 minutes, Tuesday is a holiday, 90 on Wednesday
        ("Printer jam", JANE, "2026-03-02T15:30:00", "2026-03-04T09:30:00", "Wed 04 Mar, 10:30 CET"),
        # Friday 16:00 in New York: one hour, then Monday 09:00 after the switch to daylight time
        (
            "Boston office printer",
            JANE,
            "2026-03-06T21:00:00",
            "2026-03-09T14:00:00",
            "Mon 09 Mar, 10:00 EDT",
        ),
        # Thursday noon, an overnight shift from Friday 22:00: two hours of it end Saturday 00:00
        ("Nightshift scanner", JANE, "2026-03-05T12:00:00", "2026-03-07T00:00:00", "Sat 07 Mar, 00:00 UTC"),
        # Thursday 30 April 16:30 Berlin: Labour Day (a German public holiday) and the weekend skipped
        ("Feiertag question", JANE, "2026-04-30T14:30:00", "2026-05-04T08:30:00", "Mon 04 May, 10:30 CEST"),
        # a rule names the billing policy (eight business hours), not the first matching email one
        ("Invoice copy", JANE, "2026-03-02T09:15:00", "2026-03-04T09:15:00", "Wed 04 Mar, 10:15 CET"),
        # a rule raises the priority to urgent: thirty calendar minutes
        ("Outage at the depot", JANE, "2026-03-02T09:15:00", "2026-03-02T09:45:00", "Mon 02 Mar, 10:45 CET"),
        # a customer in New York is told the time in their own zone
        (
            "Printer jam",
            "Eve <eve@east.example>",
            "2026-03-02T10:00:00",
            "2026-03-02T12:00:00",
            "Mon 02 Mar, 07:00 EST",
        ),
    ],
)
def test_acknowledgement_promises_the_tickets_first_response_due_time(
    email: EmailHarness,
    deployment: Deployment,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    subject: str,
    sender: str,
    at: str,
    due: str,
    phrase: str,
) -> None:
    from functions.auto_followup import app as followup_app
    from functions.route_ticket import app as route_app

    # Given the helpdesk config, and both stream consumers reading from now on
    use_config(CONFIG, tmp_path, monkeypatch)
    routing_cursor: dict[str, str] = {}
    followup_cursor: dict[str, str] = {}
    _stream_event(deployment, routing_cursor)
    _stream_event(deployment, followup_cursor, "AutoFollowupFunction")
    created = datetime.fromisoformat(at).replace(tzinfo=UTC)
    clock.set_clock(lambda: created)

    # When an email arrives, route_ticket routes it, and auto_followup reads the stream after it
    email.deliver(mail(subject=subject, sender=sender), at=f"{at}.000Z")
    assert route_app.handler(_stream_event(deployment, routing_cursor), FakeLambdaContext()) == {
        "batchItemFailures": []
    }
    followups = _stream_event(deployment, followup_cursor, "AutoFollowupFunction")
    assert followup_app.handler(followups, FakeLambdaContext()) == {"batchItemFailures": []}

    # Then one acknowledgement promises exactly the ticket's first-response due time
    [ticket] = email.repository.scan_tickets()
    first = ticket.sla.target("first_response")
    assert first is not None
    assert first.due_at == datetime.fromisoformat(due).replace(tzinfo=UTC)
    [ack] = [o for o in email.repository.list_outbound() if o.kind == "ack"]
    assert ack.promised_due_at == first.due_at
    assert f"by {phrase}" in ack.text


def test_ticket_is_acknowledged_once_though_routing_writes_it_again(
    email: EmailHarness, deployment: Deployment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.auto_followup import app as followup_app
    from functions.route_ticket import app as route_app

    # Given a routed and acknowledged ticket
    use_config(CONFIG, tmp_path, monkeypatch)
    routing_cursor: dict[str, str] = {}
    followup_cursor: dict[str, str] = {}
    _stream_event(deployment, routing_cursor)
    _stream_event(deployment, followup_cursor, "AutoFollowupFunction")
    clock.set_clock(lambda: datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
    email.deliver(mail(), at="2026-03-02T10:00:00.000Z")
    route_app.handler(_stream_event(deployment, routing_cursor), FakeLambdaContext())
    records = _stream_event(deployment, followup_cursor, "AutoFollowupFunction")

    # When auto_followup gets the same records twice (a retried batch)
    followup_app.handler(records, FakeLambdaContext())
    followup_app.handler(records, FakeLambdaContext())

    # Then there is one acknowledgement
    assert [o.kind for o in email.repository.list_outbound()] == ["ack"]
