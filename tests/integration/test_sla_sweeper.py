"""SLA end to end with time travel: targets planned at routing, sweeps that escalate once, pauses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID  # type: ignore[attr-defined]
from moto.sns import sns_backends  # type: ignore[attr-defined]

from shared import clock
from shared.channels.outbound import Sender
from shared.config import load_config
from shared.logic.agent_actions import AgentContext, TicketChangeRequest, update_ticket
from shared.logic.outbound import OutboundContext
from shared.logic.route_ticket import RoutingContext, route_new_ticket
from shared.logic.sla_sweep import SweepContext, sweep
from shared.notify import SnsNotifier
from tests.fakes.deadlines import due_in
from tests.integration.conftest import (
    EmailHarness,
    FakeLambdaContext,
    mail,
    outbound_context,
    run_sweep,
    use_config,
)

MONDAY_9 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # Europe/Berlin 10:00, inside business hours

CONFIG = """
calendars:
  default: {timezone: UTC}
  berlin: {timezone: Europe/Berlin, hours: {mon: ["09:00-17:00"], tue: ["09:00-17:00"], wed: ["09:00-17:00"], thu: ["09:00-17:00"], fri: ["09:00-17:00"]}}
teams:
  - {id: support, calendar: berlin, lead: lena}
  - {id: escalations, calendar: berlin}
agents:
  - {id: alice, teams: [support], default_presence: online}
  - {id: lena, teams: [support], default_presence: away}
  - {id: eric, teams: [escalations], default_presence: online}
sla:
  sweep_shards: 3
  policies:
    - name: email
      when: {channel: [email]}
      first_response: {minutes: 60}
      resolution: {minutes: 480}
      warning_at: 0.5
      escalation:
        - {level: 1, at: warning, notify: [assignee]}
        - {level: 2, at: breach, notify: [assignee, team_lead], raise_priority: true}
        - {level: 3, at: breach, after_minutes: 30, reassign_team: escalations}
"""


@pytest.fixture
def helpdesk(email: EmailHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmailHarness]:
    use_config(CONFIG, tmp_path, monkeypatch)
    from functions.sla_sweep_worker import app

    app._context.cache_clear()
    yield email
    app._context.cache_clear()


def contexts(email: EmailHarness) -> tuple[RoutingContext, SweepContext]:
    config = load_config(str(Path(__import__("os").environ["HELPDESK_CONFIG"])))
    topic = email.deployment.name("EscalationTopic")
    return (
        RoutingContext(repository=email.repository, config=config),
        SweepContext(repository=email.repository, config=config, notifier=SnsNotifier(topic)),
    )


def routed_ticket(email: EmailHarness, at: datetime = MONDAY_9):
    routing, _ = contexts(email)
    result = email.deliver(mail(), at=clock.iso(at))
    ticket = email.repository.get_ticket(result["ticket_id"])
    assert ticket is not None
    route_new_ticket(ticket, routing, at)
    routed = email.repository.get_ticket(ticket.id)
    assert routed is not None
    return routed


def published() -> list[dict]:
    topics = sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].topics
    return [
        json.loads(m[1])
        for t in topics.values()
        if t.name.endswith("escalationtopic")
        for m in t.sent_notifications
    ]


def types(email: EmailHarness, ticket_id: str) -> list[str]:
    return [e.type for e in email.repository.list_events(ticket_id)]


def test_routing_plans_targets_in_business_hours(helpdesk: EmailHarness) -> None:
    ticket = routed_ticket(helpdesk)
    assert ticket.sla.policy == "email"
    first = ticket.sla.target("first_response")
    assert first is not None
    assert (first.due_at, first.warn_at) == (MONDAY_9 + timedelta(hours=1), MONDAY_9 + timedelta(minutes=30))
    late = routed_ticket(helpdesk, datetime(2026, 3, 6, 15, 30, tzinfo=UTC))  # Friday 16:30 Berlin
    first = late.sla.target("first_response")
    assert first is not None
    assert first.due_at == datetime(2026, 3, 9, 8, 30, tzinfo=UTC)  # Monday 09:30 Berlin


def test_sweeper_warns_breaches_and_escalates_each_level_once(helpdesk: EmailHarness) -> None:
    ticket = routed_ticket(helpdesk)
    _, ctx = contexts(helpdesk)

    assert sweep(ctx, MONDAY_9 + timedelta(minutes=10)).read == 0  # nothing due: nothing read

    warned = sweep(ctx, MONDAY_9 + timedelta(minutes=31))
    assert (warned.read, warned.warnings, warned.escalations) == (1, 1, 1)
    assert published()[-1]["notify"] == ["alice"]

    breached = sweep(ctx, MONDAY_9 + timedelta(minutes=61))
    assert (breached.breaches, breached.escalations) == (1, 1)
    after_breach = helpdesk.repository.get_ticket(ticket.id)
    assert after_breach is not None
    assert after_breach.priority == "high"
    assert after_breach.sla.escalation_level == 2
    assert published()[-1]["notify"] == ["alice", "lena"]

    assert sweep(ctx, MONDAY_9 + timedelta(minutes=70)).read == 0  # level 3 waits 30 minutes

    reassigned = sweep(ctx, MONDAY_9 + timedelta(minutes=91))
    assert reassigned.escalations == 1
    final = helpdesk.repository.get_ticket(ticket.id)
    assert final is not None
    assert (final.team, final.assignee, final.sla.escalation_level) == ("escalations", None, 3)
    assert [e.ticket_id for e in helpdesk.repository.list_queue("escalations")] == [ticket.id]
    assert types(helpdesk, ticket.id).count("escalated") == 3
    assert sweep(ctx, MONDAY_9 + timedelta(hours=5)).escalations == 0
    assert len(published()) == 2


def test_overlapping_sweeps_escalate_once(helpdesk: EmailHarness) -> None:
    ticket = routed_ticket(helpdesk)
    _, ctx = contexts(helpdesk)
    stale = (
        due_in(helpdesk.repository, 0, MONDAY_9 + timedelta(minutes=31))
        + due_in(helpdesk.repository, 1, MONDAY_9 + timedelta(minutes=31))
        + due_in(helpdesk.repository, 2, MONDAY_9 + timedelta(minutes=31))
    )
    assert [t.id for t in stale] == [ticket.id]
    first = sweep(ctx, MONDAY_9 + timedelta(minutes=31))
    from shared.logic.sla_sweep import SweepResult, sweep_ticket

    second = SweepResult()
    sweep_ticket(stale[0], ctx, MONDAY_9 + timedelta(minutes=31), second)  # a second run with the same read
    assert (first.escalations, second.escalations, second.skipped) == (1, 0, 1)
    assert types(helpdesk, ticket.id).count("sla_warning") == 1
    assert len(published()) == 1


def test_pending_pauses_the_clock_and_the_customer_reply_resumes_it(helpdesk: EmailHarness) -> None:
    ticket = routed_ticket(helpdesk)
    routing, ctx = contexts(helpdesk)
    agents = AgentContext(repository=helpdesk.repository, config=routing.config)
    update_ticket(
        str(ticket.number),
        TicketChangeRequest(status="pending"),
        "alice",
        agents,
        MONDAY_9 + timedelta(minutes=20),
    )
    assert sweep(ctx, MONDAY_9 + timedelta(hours=6)).read == 0  # paused: nothing due

    # the customer answers on Tuesday 09:00 Berlin: 40 business minutes were left
    tuesday = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
    helpdesk.deliver(mail(subject=f"Re: [#{ticket.number}] Printer not working"), at=clock.iso(tuesday))
    resumed = helpdesk.repository.get_ticket(ticket.id)
    assert resumed is not None
    assert resumed.status == "open"
    first = resumed.sla.target("first_response")
    assert first is not None
    assert (first.state, first.due_at) == ("pending", tuesday + timedelta(minutes=40))


def test_urgent_priority_replans_and_resolution_meets_target(
    helpdesk: EmailHarness, tmp_path: Path, monkeypatch
) -> None:
    config = CONFIG.replace(
        "    - name: email\n",
        "    - name: urgent\n      when: {priority: [urgent]}\n      first_response: {minutes: 15, business: false}\n      resolution: {minutes: 120, business: false}\n    - name: email\n",
    )
    path = tmp_path / "urgent.yaml"
    path.write_text(config)
    monkeypatch.setenv("HELPDESK_CONFIG", str(path))
    ticket = routed_ticket(helpdesk)
    routing, _ = contexts(helpdesk)
    agents = AgentContext(repository=helpdesk.repository, config=routing.config)
    urgent = update_ticket(
        str(ticket.number),
        TicketChangeRequest(priority="urgent"),
        "alice",
        agents,
        MONDAY_9 + timedelta(minutes=5),
    )
    first = urgent.sla.target("first_response")
    assert first is not None
    assert (urgent.sla.policy, first.due_at) == ("urgent", MONDAY_9 + timedelta(minutes=15))
    resolved = update_ticket(
        str(ticket.number),
        TicketChangeRequest(status="resolved"),
        "alice",
        agents,
        MONDAY_9 + timedelta(minutes=50),
    )
    resolution = resolved.sla.target("resolution")
    assert resolution is not None
    assert resolution.state == "met"


def test_the_schedule_dispatches_a_task_a_shard_and_the_worker_handler_sweeps_them(
    helpdesk: EmailHarness,
) -> None:
    from functions.sla_sweep_worker import app as worker
    from functions.sla_sweeper import app

    # Given a routed ticket whose first response is breached at minute 61
    ticket = routed_ticket(helpdesk)
    clock.set_clock(lambda: MONDAY_9 + timedelta(minutes=61))

    # When the schedule fires: one task per shard with something due (the ticket's; none unrouted)
    result = app.handler(
        {"scheduledTime": "2026-03-02T10:01:00Z", "executionId": "x", "attemptNumber": "1"},
        FakeLambdaContext(),
    )
    assert result == {
        "tasks": 1,
        "outbound_retried": 0,
        "outbound_unknown": 0,
        "outbound_redelivered": 0,
        "outbound_undeliverable": 0,
    }

    # Then the worker handler, given the queued tasks as SQS delivers them, sweeps them all
    sqs, url = boto3.client("sqs"), app._queue().queue_url
    handled = 0
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        records = [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
                "awsRegion": "us-east-1",
                "md5OfBody": "",
            }
            for m in messages
        ]
        assert worker.handler({"Records": records}, FakeLambdaContext()) == {
            "batchItemFailures": [],
            "read": 1,
            "routed": 0,
        }
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        handled += len(messages)
    assert handled == 1
    types = [e.type for e in helpdesk.repository.list_events(ticket.id)]
    assert (types.count("sla_breached"), types.count("escalated")) == (1, 2)


class CrashingSender:
    """The function dies while sending (a time-out or crash): no result is ever recorded."""

    def __init__(self) -> None:
        self.calls = 0

    def send(self, message: object) -> str:
        self.calls += 1
        raise TimeoutError("Task timed out after 60.00 seconds")


def sending_with(email: EmailHarness, sender: Sender) -> OutboundContext:
    """An OutboundContext on the test's config whose email goes through `sender`."""
    _, sweep_ctx = contexts(email)
    return outbound_context(email.repository, sweep_ctx.config, {"email": sender})


def sweep_at(moment: datetime) -> dict[str, int]:
    return run_sweep(moment)


def test_send_without_a_result_is_flagged_for_an_agent_not_resent(helpdesk: EmailHarness) -> None:
    from shared.logic.agent_replies import agent_reply
    from shared.logic.outbound_send import send_outbound

    # Given a reply whose sending function died after claiming it
    ticket = routed_ticket(helpdesk)
    crashing = CrashingSender()
    outbound = sending_with(helpdesk, crashing)
    reply = agent_reply(ticket, "Try turning it off and on.", "alice", outbound, MONDAY_9)
    with pytest.raises(TimeoutError):
        send_outbound(reply.key, outbound, MONDAY_9)

    # When the sweeper runs before the sending timeout (default 10 minutes), nothing happens
    assert sweep_at(MONDAY_9 + timedelta(minutes=9))["outbound_unknown"] == 0
    assert "delivery_unknown" not in types(helpdesk, ticket.id)

    # Then after it the send is failed with an unknown outcome and flagged on the ticket, once
    assert sweep_at(MONDAY_9 + timedelta(minutes=11))["outbound_unknown"] == 1
    assert sweep_at(MONDAY_9 + timedelta(minutes=12))["outbound_unknown"] == 0
    [item] = [o for o in helpdesk.repository.list_outbound() if o.key == reply.key]
    assert item.status == "failed"
    assert item.error is not None
    assert item.error.startswith("send outcome unknown")
    flagged = helpdesk.repository.get_ticket(ticket.id)
    assert flagged is not None
    assert flagged.flags.count("delivery_unknown") == 1
    [event] = [e for e in helpdesk.repository.list_events(ticket.id) if e.type == "delivery_unknown"]
    assert (event.data["key"], event.data["attempt"], event.data["to"]) == (
        reply.key,
        1,
        "jane.doe@customer.example",
    )

    # And it is never sent again, neither by a redelivered stream record nor by a retry
    assert send_outbound(reply.key, outbound, MONDAY_9 + timedelta(minutes=13)) == "skipped"
    assert helpdesk.repository.requeue_due_outbound(MONDAY_9 + timedelta(days=1)) == 0
    assert crashing.calls == 1


def test_two_sweeps_racing_for_a_stuck_send_mark_it_once(helpdesk: EmailHarness) -> None:
    from shared.logic.agent_replies import agent_reply
    from shared.logic.outbound_send import send_outbound

    ticket = routed_ticket(helpdesk)
    outbound = sending_with(helpdesk, CrashingSender())
    reply = agent_reply(ticket, "Hello", "alice", outbound, MONDAY_9)
    with pytest.raises(TimeoutError):
        send_outbound(reply.key, outbound, MONDAY_9)

    # Both sweeps read the stuck send before either writes
    first = helpdesk.repository.stuck_sending(MONDAY_9 + timedelta(minutes=1))
    second = helpdesk.repository.stuck_sending(MONDAY_9 + timedelta(minutes=1))
    assert [s.message.key for s in first] == [s.message.key for s in second] == [reply.key]

    assert helpdesk.repository.outbound_unknown(first[0], "send outcome unknown", []) is True
    assert helpdesk.repository.outbound_unknown(second[0], "send outcome unknown", []) is False
    flagged = helpdesk.repository.get_ticket(ticket.id)
    assert flagged is not None
    assert flagged.flags.count("delivery_unknown") == 1


def test_a_sent_message_is_never_flagged_unknown(helpdesk: EmailHarness) -> None:
    from shared.logic.agent_replies import agent_reply
    from shared.logic.outbound_send import send_outbound

    class FineSender:
        def send(self, message: object) -> str:
            return "<ok@email.amazonses.com>"

    ticket = routed_ticket(helpdesk)
    outbound = sending_with(helpdesk, FineSender())
    reply = agent_reply(ticket, "Hello", "alice", outbound, MONDAY_9)
    assert send_outbound(reply.key, outbound, MONDAY_9) == "sent"

    assert sweep_at(MONDAY_9 + timedelta(hours=1))["outbound_unknown"] == 0
    after = helpdesk.repository.get_ticket(ticket.id)
    assert after is not None
    assert "delivery_unknown" not in after.flags


def test_the_sweepers_follow_ups_speak_the_customers_language(helpdesk: EmailHarness) -> None:
    routing, _ = contexts(helpdesk)
    german = mail(
        subject="Drucker druckt nicht mehr",
        body="Guten Tag,\n\nunser Drucker zeigt seit heute Morgen den Fehler E42 und druckt nicht mehr.\n",
    )
    ticket = helpdesk.repository.get_ticket(helpdesk.deliver(german, at=clock.iso(MONDAY_9))["ticket_id"])
    assert ticket is not None
    route_new_ticket(ticket, routing, MONDAY_9)
    agents = AgentContext(repository=helpdesk.repository, config=routing.config)
    update_ticket(str(ticket.number), TicketChangeRequest(status="pending"), "alice", agents, MONDAY_9)

    sweep_at(MONDAY_9 + timedelta(hours=48, minutes=1))  # the default reminder after 48 hours

    [reminder] = [o for o in helpdesk.repository.list_outbound() if o.kind == "reminder"]
    assert reminder.subject is not None
    assert "Wir warten auf Ihre Antwort" in reminder.subject
    assert "brauchen wir noch Ihre Antwort" in reminder.text


def test_a_message_whose_stream_delivery_was_lost_is_delivered_again_and_sent_once(
    helpdesk: EmailHarness,
) -> None:
    # Given an agent's reply whose stream record Lambda gave up on (never handed to auto_followup)
    from functions.auto_followup import app as followup_app
    from shared.logic.agent_replies import agent_reply
    from tests.integration.test_route_ticket import _stream_event

    ticket = routed_ticket(helpdesk)
    sent: list[str] = []

    class Recording:
        def send(self, message: object) -> str:
            sent.append(getattr(message, "key", ""))
            return f"<sent-{len(sent)}@email.amazonses.com>"

    reply = agent_reply(ticket, "Fixed it.", "alice", sending_with(helpdesk, Recording()), MONDAY_9)
    cursor: dict[str, str] = {}
    _stream_event(helpdesk.deployment, cursor)  # the original record is lost

    # When the sweeper runs: nothing before the redelivery time, then the message is written again
    assert sweep_at(MONDAY_9 + timedelta(minutes=10))["outbound_redelivered"] == 0
    assert sweep_at(MONDAY_9 + timedelta(minutes=16))["outbound_redelivered"] == 1
    assert sweep_at(MONDAY_9 + timedelta(minutes=17))["outbound_redelivered"] == 0  # not twice

    # Then the new stream record reaches auto_followup, which sends it; the index forgets it
    followup_app._outbound_context.cache_clear()
    context = followup_app._outbound_context()
    context.senders["email"] = Recording()
    event = _stream_event(helpdesk.deployment, cursor, "AutoFollowupFunction")
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"]] == [f"OUTBOX#{reply.key}"]
    assert followup_app.handler(event, FakeLambdaContext()) == {"batchItemFailures": []}
    assert followup_app.handler(event, FakeLambdaContext()) == {"batchItemFailures": []}  # redelivered
    assert sent == [reply.key]
    assert sweep_at(MONDAY_9 + timedelta(hours=3))["outbound_redelivered"] == 0
    followup_app._outbound_context.cache_clear()


def test_a_message_that_is_never_picked_up_fails_after_the_redeliveries(helpdesk: EmailHarness) -> None:
    from shared.logic.agent_replies import agent_reply

    ticket = routed_ticket(helpdesk)
    reply = agent_reply(ticket, "Fixed it.", "alice", sending_with(helpdesk, CrashingSender()), MONDAY_9)

    counts = [sweep_at(MONDAY_9 + timedelta(minutes=16 * n)) for n in range(1, 6)]

    assert [(c["outbound_redelivered"], c["outbound_undeliverable"]) for c in counts] == [
        (1, 0),
        (1, 0),
        (1, 0),
        (0, 1),
        (0, 0),
    ]
    [item] = [o for o in helpdesk.repository.list_outbound() if o.key == reply.key]
    assert item.status == "failed"
    assert item.error is not None
    assert item.error.startswith("never sent")
    flagged = helpdesk.repository.get_ticket(ticket.id)
    assert flagged is not None
    assert flagged.flags.count("delivery_failed") == 1
