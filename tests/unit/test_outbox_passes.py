"""The sweeper's outbox passes on the in-memory stores: each reads every shard a page at a time
until nothing is left or its time budget is spent (decision 119); sends paced per channel wait
with the retries, never dropped (decision 120)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from shared import clock
from shared.config import parse_config
from shared.logic.outbound import OutboundContext
from shared.logic.outbound_send import (
    SWEEP_PAGE,
    flag_unknown_sends,
    redeliver_pending,
    requeue_due,
    send_outbound,
)
from shared.models.outbound import OutboundMessage
from simulator.template import load_template
from tests.fakes import MemoryRepository

ROOT = Path(__file__).resolve().parents[2]

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CONFIG = parse_config("outbound: {pending_redelivery_minutes: 15, max_redeliveries: 1}\n")
BACKLOG = SWEEP_PAGE * 2 + 7
"""More than two pages: a pass that read one page a run would leave most of it."""


def queue(repo: MemoryRepository, count: int) -> list[str]:
    keys = [f"k{n:03}" for n in range(count)]
    for n, key in enumerate(keys):
        message = OutboundMessage(
            key=key, channel="email", to="jane@example.com", kind="update", text="Hi", created_at=T0
        )
        assert repo.put_outbound(
            message.model_copy(update={"created_at": T0 + timedelta(milliseconds=n)}), []
        )
    return keys


def test_every_due_retry_is_requeued_in_one_run() -> None:
    # Given more messages waiting for a retry than one page holds, spread over the shards
    repo = MemoryRepository()
    clock.set_clock(lambda: T0)
    try:
        keys = queue(repo, BACKLOG)
        for key in keys:
            message = repo.get_outbound(key)
            assert message is not None
            assert repo.start_sending(key, T0)
            repo.outbound_failed(message.model_copy(update={"attempts": 1}), "throttled", False, [])
    finally:
        clock.set_clock(None)

    # When the pass runs after their retry time
    moved = requeue_due(repo, T0 + timedelta(minutes=5))

    # Then all of them are pending again, and nothing is left due
    assert moved == BACKLOG
    assert {m.status for m in repo.list_outbound()} == {"pending"}
    assert requeue_due(repo, T0 + timedelta(minutes=5)) == 0


def test_a_pass_stops_taking_pages_when_its_time_is_spent() -> None:
    # Given a backlog of lost stream records, and a run with time for no second page
    repo = MemoryRepository()
    queue(repo, BACKLOG)
    now = T0 + timedelta(minutes=20)

    # When the redelivery pass runs out of time after its first page
    redelivered, failed = redeliver_pending(repo, CONFIG, now, has_time=lambda: False)

    # Then it did one page; the next run, with time, takes the rest
    assert (redelivered, failed) == (SWEEP_PAGE, 0)
    assert redeliver_pending(repo, CONFIG, now) == (BACKLOG - SWEEP_PAGE, 0)
    # and after the last redelivery allowed, every one fails for good, each once
    assert redeliver_pending(repo, CONFIG, now + timedelta(minutes=20)) == (0, BACKLOG)
    assert {m.status for m in repo.list_outbound()} == {"failed"}


def test_every_send_without_a_result_is_marked_once() -> None:
    # Given more claims without a result than a page holds
    repo = MemoryRepository()
    for key in queue(repo, BACKLOG):
        assert repo.start_sending(key, T0)

    # When the pass runs after the sending timeout, twice
    first = flag_unknown_sends(repo, CONFIG, T0 + timedelta(minutes=11))
    second = flag_unknown_sends(repo, CONFIG, T0 + timedelta(minutes=11))

    # Then every one was marked, by the first run only
    assert (first, second) == (BACKLOG, 0)
    assert {(m.status, m.attempts) for m in repo.list_outbound()} == {("failed", 1)}


class CountingSender:
    """A channel's sender that records what it sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, message: OutboundMessage) -> str:
        self.sent.append(message.key)
        return f"provider-{message.key}"


def test_sends_over_the_channels_pace_wait_for_the_retry_pass_without_counting_an_attempt() -> None:
    # Given email paced at 3 sends a second, and 5 messages queued in the same second
    repo = MemoryRepository()
    sender = CountingSender()
    config = parse_config("outbound: {sends_per_second: {email: 3}}\n")
    ctx = OutboundContext(repository=repo, config=config, support_addresses=[], support_domain="example.com")
    ctx.senders["email"] = sender
    keys = queue(repo, 5)

    # When the stream delivers them all in that second
    outcomes = [send_outbound(key, ctx, T0) for key in keys]

    # Then 3 are sent, 2 wait with the retries (no attempt counted), none is dropped
    assert sorted(outcomes) == ["deferred", "deferred", "sent", "sent", "sent"]
    waiting = {m.key: m for m in repo.list_outbound() if m.status == "retry"}
    assert {m.attempts for m in waiting.values()} == {0}
    # and the retry pass a minute later puts them back; their next delivery sends them
    assert requeue_due(repo, T0 + timedelta(minutes=1)) == 2
    assert [send_outbound(key, ctx, T0 + timedelta(minutes=1)) for key in sorted(waiting)] == ["sent", "sent"]
    assert sorted(sender.sent) == keys
    assert {(m.status, m.attempts) for m in repo.list_outbound()} == {("sent", 1)}


def test_an_unpaced_channel_sends_at_once() -> None:
    # Given email paced, SMS not
    repo = MemoryRepository()
    sender = CountingSender()
    config = parse_config("outbound: {sends_per_second: {email: 1}}\n")
    ctx = OutboundContext(repository=repo, config=config, support_addresses=[], support_domain="example.com")
    ctx.senders["sms"] = sender
    for n in range(3):
        message = OutboundMessage(
            key=f"s{n}", channel="sms", to="+15550100", kind="update", text="Hi", created_at=T0
        )
        repo.put_outbound(message, [])

    # When three SMS go in one second
    outcomes = [send_outbound(f"s{n}", ctx, T0) for n in range(3)]

    # Then none waits
    assert outcomes == ["sent", "sent", "sent"]


def test_the_deferral_alarm_watches_the_metric_auto_followup_counts() -> None:
    # Given the template and the name auto_followup counts a deferred send under
    resources = load_template(ROOT / "template.yaml")["Resources"]
    counted = f"Outbound{'deferred'.title()}"  # functions/auto_followup/app.py: Outbound<outcome>

    # Then the alarm watches that metric, and the mapping runs batches of a shard in parallel
    alarm = resources["OutboundDeferredAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("Helpdesk", counted)
    mapping = resources["AutoFollowupFunction"]["Properties"]["Events"]["TicketsStream"]["Properties"]
    assert mapping["ParallelizationFactor"] == 10
