"""The metric ledger on the example timelines of docs/metrics.md (each example there is a test here).

The examples use the `berlin` calendar (Monday to Friday 09:00-17:00, Europe/Berlin) and report in
Europe/Berlin; 2 March 2026 is a Monday (CET, UTC+1).
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from shared.config import parse_config
from shared.logic.metrics.contributions import contributions, difference
from shared.logic.metrics.ledger import build_ledger, measuring_for
from shared.logic.metrics.measuring import Measuring
from shared.models.metrics import DurationName, MetricLedger
from shared.models.ticket import (
    Channel,
    Direction,
    Message,
    Sla,
    SlaTarget,
    Ticket,
    TicketEvent,
    TicketStatus,
)

CONFIG = parse_config(
    """
calendars:
  default: {timezone: UTC}
  berlin: {timezone: Europe/Berlin, hours: {mon: ["09:00-17:00"], tue: ["09:00-17:00"], wed: ["09:00-17:00"], thu: ["09:00-17:00"], fri: ["09:00-17:00"]}}
teams: [{id: support, calendar: berlin}]
agents: [{id: alice, teams: [support]}, {id: bob, teams: [support]}]
reports: {timezone: Europe/Berlin, next_issue_days: 7}
"""
)
BERLIN = ZoneInfo("Europe/Berlin")
HOUR = 3600.0


def at(text: str) -> datetime:
    """A Berlin wall-clock time, e.g. `Mon 09:00` in the week of 2 March 2026 or `2026-03-12 10:00`."""
    days = {"Mon": 2, "Tue": 3, "Wed": 4, "Thu": 5, "Fri": 6, "Sat": 7, "Sun": 8}
    day, clock = text.split(" ")
    date_text = f"2026-03-{days[day]:02d}" if day in days else day
    return datetime.fromisoformat(f"{date_text} {clock}").replace(tzinfo=BERLIN)


class Story:
    """A ticket's history, written as it happens."""

    def __init__(self, created: str, ticket_id: str = "tkt-1", **fields: object) -> None:
        self.created = at(created)
        values: dict[str, object] = {"team": "support", **fields}
        self.ticket = Ticket(
            id=ticket_id,
            number=1,
            channel=Channel.EMAIL,
            customer_id="cus-1",
            created_at=self.created,
            updated_at=self.created,
            **values,  # type: ignore[arg-type]
        )
        self.events: list[TicketEvent] = [
            TicketEvent(at=self.created, type="created", data={"message_id": "m0"})
        ]
        self.messages: list[Message] = [self._message("m0", Direction.INBOUND, self.created, "customer")]
        self.status = "new"

    def _message(
        self, mid: str, direction: Direction, when: datetime, author: str, **extra: object
    ) -> Message:
        return Message(
            id=mid,
            ticket_id=self.ticket.id,
            direction=direction,
            channel=Channel.EMAIL,
            at=when,
            author=author,
            **extra,
        )  # type: ignore[arg-type]

    def customer(self, when: str, reopens: bool = False, automatic: bool = False) -> Story:
        mid = f"m{len(self.messages)}"
        self.messages.append(self._message(mid, Direction.INBOUND, at(when), "customer", automatic=automatic))
        self.events.append(TicketEvent(at=at(when), type="message_threaded", data={"message_id": mid}))
        if reopens:
            self.events.append(TicketEvent(at=at(when), type="reopened", data={"from_status": self.status}))
            self.status = "open"
        return self

    def rating(self, when: str, rating: int) -> Story:
        mid = f"m{len(self.messages)}"
        self.messages.append(self._message(mid, Direction.INBOUND, at(when), "customer", text=str(rating)))
        self.events.append(TicketEvent(at=at(when), type="csat", data={"rating": rating, "message_id": mid}))
        return self

    def reply(self, when: str, agent: str) -> Story:
        mid = f"m{len(self.messages)}"
        self.messages.append(
            self._message(mid, Direction.OUTBOUND, at(when), agent, headers={"kind": "reply"})
        )
        self.events.append(
            TicketEvent(at=at(when), type="message_sent", data={"kind": "reply", "message_id": mid})
        )
        return self

    def automatic(self, when: str, kind: str) -> Story:
        mid = f"m{len(self.messages)}"
        message = self._message(
            mid, Direction.OUTBOUND, at(when), "helpdesk", automatic=True, headers={"kind": kind}
        )
        self.messages.append(message)
        self.events.append(
            TicketEvent(at=at(when), type="message_sent", data={"kind": kind, "message_id": mid})
        )
        return self

    def note(self, when: str, agent: str) -> Story:
        mid = f"m{len(self.messages)}"
        self.messages.append(self._message(mid, Direction.NOTE, at(when), agent))
        self.events.append(TicketEvent(at=at(when), type="note_added", data={"by": agent, "message_id": mid}))
        return self

    def routed(self, when: str, agent: str) -> Story:
        self.events.append(TicketEvent(at=at(when), type="routed", data={"agent": agent, "team": "support"}))
        self.ticket = self.ticket.model_copy(update={"assignee": agent})
        return self

    def set_status(self, when: str, status: str, by: str = "alice") -> Story:
        changes = {"status": [self.status, status]}
        self.events.append(TicketEvent(at=at(when), type="updated", data={"by": by, "changes": changes}))
        self.status = status
        return self

    def event(self, when: str, event_type: str, **data: object) -> Story:
        self.events.append(TicketEvent(at=at(when), type=event_type, data=data))
        return self

    def ledger(self, customer_tickets: list[tuple[str, datetime]] | None = None) -> MetricLedger:
        ticket = self.ticket.model_copy(update={"status": TicketStatus(self.status)})
        return build_ledger(
            ticket, self.events, self.messages, measuring_for(CONFIG, ticket), None, customer_tickets or []
        )


def seconds(ledger: MetricLedger, name: DurationName) -> list[tuple[float | None, float | None]]:
    return [
        (s.calendar_seconds, s.business_seconds)
        for s in ledger.duration(name).segments
        if s.counted  # type: ignore[arg-type]
    ]


# -- Example 1: first response, handle time, volume ------------------------------------------------


def test_example_1_first_response_counts_from_creation_to_the_first_human_reply() -> None:
    # Given a mail at 08:30 on Monday, before opening time, acknowledged automatically at once,
    # with a note at 08:45, routed to alice at 08:31, answered by alice at 10:00
    story = (
        Story("Mon 08:30")
        .automatic("Mon 08:30", "ack")
        .routed("Mon 08:31", "alice")
        .note("Mon 08:45", "alice")
        .reply("Mon 10:00", "alice")
    )
    ledger = story.ledger()
    # Then the first response took 90 minutes, 60 of them in open hours (the ack and the note do not count)
    assert seconds(ledger, "first_response") == [(1.5 * HOUR, 1 * HOUR)]
    first = ledger.duration("first_response").segments[0]
    assert (first.start.kind, first.stop and first.stop.kind, first.agent) == (
        "created",
        "agent_reply",
        "alice",
    )
    assert str(first.day) == "2026-03-02"
    # And alice's handle time runs from her claim at 08:31 to her reply
    handle = ledger.duration("handle").segments
    assert [(s.start.kind, s.agent, s.calendar_seconds, s.business_seconds) for s in handle] == [
        ("assigned", "alice", 89 * 60.0, 1 * HOUR)
    ]
    # And it counts as created on Monday at 08 local time, with one automatic ack sent
    created = next(h for h in ledger.happenings if h.name == "created")
    assert (str(created.day), created.hour, created.weekday) == ("2026-03-02", 8, 0)
    assert [(h.name, h.detail) for h in ledger.happenings if h.name == "auto_sent"] == [("auto_sent", "ack")]
    assert ledger.calendar == "berlin"


# -- Example 2: next response --------------------------------------------------------------------


def test_example_2_next_response_counts_each_wait_after_our_reply() -> None:
    # Given a first reply, then two customer messages late on Monday, answered on Tuesday at 09:30
    story = (
        Story("Mon 09:00")
        .routed("Mon 09:00", "alice")
        .reply("Mon 09:20", "alice")
        .customer("Mon 16:30")
        .customer("Mon 16:45")
        .reply("Tue 09:30", "alice")
    )
    ledger = story.ledger()
    # Then one wait counts, from the first unanswered message: 17 hours, one open hour
    assert seconds(ledger, "next_response") == [(17 * HOUR, 1 * HOUR)]
    wait = ledger.duration("next_response").segments[0]
    assert wait.start.ref == "m2"
    assert str(wait.day) == "2026-03-03"
    # And a customer message still unanswered leaves a running clock, not a figure
    running = story.customer("Tue 10:00").ledger().duration("next_response").segments[-1]
    assert (running.stop, running.calendar_seconds, running.counted) == (None, None, True)


# -- Example 3: resolution, pending, reopen ---------------------------------------------------------


def resolved_and_reopened() -> Story:
    return (
        Story("Mon 09:00")
        .routed("Mon 09:00", "alice")
        .reply("Mon 09:30", "alice")
        .set_status("Mon 09:30", "pending")
        .customer("Mon 11:00")
        .set_status("Mon 12:00", "resolved")
        .customer("Wed 10:00", reopens=True)
        .reply("Wed 10:30", "alice")
        .set_status("Wed 11:00", "resolved")
    )


def test_example_3_resolution_times_leave_out_pending_and_resolved_time() -> None:
    ledger = resolved_and_reopened().ledger()
    # Then the first resolution took 3 hours less 1.5 pending (until the customer answered)
    assert seconds(ledger, "first_resolution") == [(1.5 * HOUR, 1.5 * HOUR)]
    # And the full resolution 50 hours less 1.5 pending and 46 resolved: 2.5 hours, also in open hours
    assert seconds(ledger, "full_resolution") == [(2.5 * HOUR, 2.5 * HOUR)]
    full = ledger.duration("full_resolution").segments[0]
    assert [p.why for p in full.pauses] == ["pending", "resolved"]
    assert str(full.day) == "2026-03-04"
    # And the reopening message started a next-response wait of 30 minutes
    assert seconds(ledger, "next_response") == [(0.5 * HOUR, 0.5 * HOUR)]
    # And it was reopened once, resolved twice, so neither one-touch nor first contact resolution
    outcomes = ledger.outcomes
    assert (outcomes.reopened, outcomes.one_touch, outcomes.first_contact_resolution) == (True, False, False)
    assert (str(outcomes.first_resolved_day), str(outcomes.resolved_day)) == ("2026-03-02", "2026-03-04")
    assert [h.name for h in ledger.happenings if h.name in ("resolved", "reopened")] == [
        "resolved",
        "reopened",
        "resolved",
    ]
    assert [(s.start, s.stop) for s in ledger.open_spans] == [
        (at("Mon 09:00"), at("Mon 12:00")),
        (at("Wed 10:00"), at("Wed 11:00")),
    ]


def test_example_3_an_open_ticket_has_a_running_full_resolution_clock() -> None:
    story = Story("Mon 09:00").reply("Mon 09:30", "alice")
    segment = story.ledger().duration("full_resolution").segments[0]
    assert (segment.stop, segment.calendar_seconds) == (None, None)
    assert story.ledger().outcomes.resolved is False


# -- Example 4: first contact resolution and one-touch -------------------------------------------


def test_example_4_one_reply_then_resolved_is_first_contact_resolution_and_a_rating_does_not_spoil_it() -> (
    None
):
    story = (
        Story("Mon 09:00")
        .reply("Mon 09:10", "alice")
        .set_status("Mon 09:11", "resolved")
        .automatic("Mon 09:12", "csat")
        .rating("Mon 09:40", 5)
    )
    outcomes = story.ledger().outcomes
    assert (outcomes.one_touch, outcomes.first_contact_resolution, outcomes.csat_rating) == (True, True, 5)


def test_example_4_a_customer_message_after_the_only_reply_is_one_touch_but_not_first_contact() -> None:
    story = (
        Story("Mon 09:00")
        .reply("Mon 09:10", "alice")
        .customer("Mon 09:30")
        .set_status("Mon 09:35", "resolved")
    )
    ledger = story.ledger()
    assert (ledger.outcomes.one_touch, ledger.outcomes.first_contact_resolution) == (True, False)
    # and the wait that the resolution ended without a reply is no next-response figure
    waits = ledger.duration("next_response").segments
    assert [(w.counted, w.stop and w.stop.kind) for w in waits] == [(False, "resolved")]


def test_example_4_a_reply_sent_just_after_the_resolution_still_answers_the_wait() -> None:
    # Given a macro that resolves at 10:00 and whose reply the outbox sends at 10:00:05
    story = (
        Story("Mon 09:00")
        .reply("Mon 09:10", "alice")
        .customer("Mon 09:30")
        .set_status("Mon 10:00", "resolved")
        .reply("Mon 10:00:05", "alice")
    )
    assert seconds(story.ledger(), "next_response") == [(30 * 60 + 5.0, 30 * 60 + 5.0)]


# -- Example 5: SLA outcomes and escalations ---------------------------------------------------------


def test_example_5_sla_outcome_per_target_and_escalations_by_level() -> None:
    sla = Sla(
        policy="email",
        calendar="berlin",
        targets=[
            SlaTarget(name="first_response", state="met", met_at=at("Mon 10:00")),
            SlaTarget(name="next_response", state="pending"),
            SlaTarget(name="resolution", state="breached", breached_at=at("Wed 09:00")),
        ],
    )
    story = (
        Story("Mon 09:00", sla=sla)
        .reply("Mon 10:00", "alice")
        .event("Wed 09:00", "sla_breached", target="resolution", policy="email", due_at="x")
        .event("Wed 09:00", "escalated", level=2, actions=[])
        .event("Wed 09:30", "followup_suppressed", kind="update", why="recent automatic message")
    )
    ledger = story.ledger()
    assert [(o.target, o.outcome) for o in ledger.sla] == [
        ("first_response", "met"),
        ("next_response", "open"),
        ("resolution", "breached"),
    ]
    assert [(h.name, h.detail) for h in ledger.happenings if h.name in ("escalated", "auto_suppressed")] == [
        ("escalated", "2"),
        ("auto_suppressed", "update"),
    ]


# -- Example 6: next issue avoidance --------------------------------------------------------------


def test_example_6_next_issue_is_the_customers_first_new_ticket_within_seven_days() -> None:
    story = Story("Mon 09:00").reply("Mon 09:10", "alice").set_status("Mon 12:00", "resolved")
    came_back = story.ledger([("tkt-2", at("Thu 08:00")), ("tkt-0", at("Mon 08:00"))]).outcomes.next_issue
    assert came_back is not None
    assert (came_back.next_ticket_id, came_back.window_ends) == ("tkt-2", at("Mon 12:00") + timedelta(days=7))
    avoided = story.ledger([("tkt-3", at("2026-03-09 12:01"))]).outcomes.next_issue
    assert avoided is not None
    assert avoided.next_ticket_id is None


# -- Example 7: merges ------------------------------------------------------------------------------


def test_example_7_a_merged_ticket_counts_as_created_and_merged_only() -> None:
    story = Story("Mon 09:00", ticket_id="tkt-b", merged_into="tkt-a").event(
        "Mon 09:05", "merged", into="tkt-a", number=1, by="alice", messages=1
    )
    story.status = "closed"
    ledger = story.ledger()
    assert [h.name for h in ledger.happenings] == ["created", "merged"]
    assert (ledger.durations, ledger.sla, ledger.outcomes.resolved) == ([], [], False)
    assert ledger.open_spans[-1].stop == at("Mon 09:05")


def test_example_7_a_message_merged_in_from_before_the_ticket_starts_no_clock() -> None:
    # Given ticket A created at 09:00 holding B's message of 08:00 (moved in by the merge)
    story = Story("Mon 09:00", ticket_id="tkt-a").reply("Mon 09:30", "alice")
    story.messages.append(
        Message(
            id="mb",
            ticket_id="tkt-a",
            direction=Direction.INBOUND,
            channel=Channel.EMAIL,
            at=at("Mon 08:00"),
            author="customer",
            merged_from=["tkt-b"],
        )
    )
    ledger = story.ledger()
    assert seconds(ledger, "first_response") == [(0.5 * HOUR, 0.5 * HOUR)]
    assert ledger.duration("next_response").segments == []


# -- Example 8: the day a ticket counts on -----------------------------------------------------------


def test_example_8_days_hours_and_weekdays_are_local_to_the_reporting_zone() -> None:
    # Given a mail at 23:30 UTC on Monday (00:30 on Tuesday in Berlin)
    ledger = Story("Tue 00:30").ledger()
    created = ledger.happenings[0]
    assert created.at.astimezone(ZoneInfo("UTC")).day == 2
    assert (str(created.day), created.hour, created.weekday, str(ledger.created_day)) == (
        "2026-03-03",
        0,
        1,
        "2026-03-03",
    )


def test_the_ledger_is_deterministic_and_serialisable() -> None:
    story = resolved_and_reopened()
    first = story.ledger()
    assert MetricLedger.model_validate_json(first.model_dump_json()) == first
    story.events.reverse()  # the order events are read in does not matter
    assert story.ledger() == first


def test_an_automatic_customer_message_starts_no_wait() -> None:
    story = Story("Mon 09:00").reply("Mon 09:10", "alice").customer("Mon 09:20", automatic=True)
    assert story.ledger().duration("next_response").segments == []


def test_measuring_uses_the_calendar_the_sla_was_planned_in() -> None:
    ticket = Story("Mon 09:00", team=None, sla=Sla(policy=None, calendar="berlin")).ticket
    measuring = measuring_for(CONFIG, ticket)
    assert isinstance(measuring, Measuring)
    assert (measuring.calendar_name, measuring.timezone, measuring.next_issue_days) == (
        "berlin",
        "Europe/Berlin",
        7,
    )
    unplanned = ticket.model_copy(update={"team": None, "sla": Sla()})
    assert measuring_for(CONFIG, unplanned).calendar_name == "default"


# -- Contributions: what a ledger adds to the per-day aggregates ------------------------------------


def test_contributions_of_example_3_count_each_figure_on_its_day() -> None:
    found = contributions(resolved_and_reopened().ledger())
    by_metric = {(str(c.day), c.metric, c.calendar_seconds) for c in found}
    assert ("2026-03-02", "first_resolution", 1.5 * HOUR) in by_metric
    assert ("2026-03-04", "full_resolution", 2.5 * HOUR) in by_metric
    assert ("2026-03-02", "reopened_after_resolution", None) in by_metric
    assert ("2026-03-04", "resolved_ticket", None) in by_metric
    assert [c.metric for c in found if c.metric.startswith("resolved.hour.")] == [
        "resolved.hour.12",
        "resolved.hour.11",
    ]


def test_the_difference_of_two_ledgers_is_only_what_changed() -> None:
    # Given a ticket answered and resolved, and later reopened by the customer
    story = Story("Mon 09:00").reply("Mon 09:10", "alice").set_status("Mon 09:11", "resolved")
    before = story.ledger()
    after = story.customer("Tue 10:00", reopens=True).ledger()
    # When the ledger changes
    removed, added = difference(before, after)
    # Then the resolved ticket's outcomes and its full resolution time go, the reopen comes, and
    # the ticket is in the backlog again from the reopening's day
    assert {c.metric for c in removed} == {
        "full_resolution",
        "resolved_ticket",
        "one_touch",
        "first_contact_resolution",
    }
    assert {c.metric for c in added} == {"reopened", "reopened_after_resolution", "backlog.opened"}
    assert [c.day for c in added if c.metric == "backlog.opened"] == [date(2026, 3, 3)]
    # And applying the difference to the old contributions gives the new ones exactly
    rebuilt = Counter(contributions(before))
    rebuilt.subtract(removed)
    rebuilt.update(added)
    assert sorted((+rebuilt).elements(), key=repr) == sorted(contributions(after), key=repr)
    # And a ledger unchanged (a redelivered stream record) changes nothing
    assert difference(after, after) == ([], [])


def test_with_team_days_a_ticket_counts_on_its_teams_local_day() -> None:
    # 00:30 Tuesday in Berlin is still Monday in UTC, the reporting zone here
    config = parse_config(
        """
calendars:
  default: {timezone: UTC}
  berlin: {timezone: Europe/Berlin}
teams: [{id: support, calendar: berlin}]
reports: {timezone: UTC, days: team}
"""
    )
    story = Story("Tue 00:30")
    team_days = build_ledger(story.ticket, story.events, story.messages, measuring_for(config, story.ticket))
    assert (team_days.timezone, team_days.created_day) == ("Europe/Berlin", date(2026, 3, 3))
    reporting = config.model_copy(update={"reports": config.reports.model_copy(update={"days": "reporting"})})
    utc_days = build_ledger(
        story.ticket, story.events, story.messages, measuring_for(reporting, story.ticket)
    )
    assert (utc_days.timezone, utc_days.created_day) == ("UTC", date(2026, 3, 2))
    # a ticket with no team counts on the reporting zone's days either way
    teamless = story.ticket.model_copy(update={"team": None})
    assert measuring_for(config, teamless).timezone == "UTC"


# -- Example 9: handle time from presence ----------------------------------------------------------


def worked(story: Story, agent: str, start: str, stop: str, state: str = "viewing") -> Story:
    """A span of the agent's presence, as route_ticket keeps it (a `worked` event at its stop)."""
    from shared import clock

    data = {"agent": agent, "state": state, "start": clock.iso(at(start)), "stop": clock.iso(at(stop))}
    story.events.append(TicketEvent(at=at(stop), type="worked", data={**data, "ended": "changed"}))
    return story


def handle_of(ledger: MetricLedger) -> list[tuple[str, str | None, float | None, str | None]]:
    return [
        (s.start.kind, s.agent, s.calendar_seconds, s.stop.kind if s.stop else None)
        for s in ledger.duration("handle").segments
    ]


def example_9() -> Story:
    story = Story("Mon 09:00").routed("Mon 09:01", "alice")
    worked(story, "alice", "Mon 09:10", "Mon 09:14")
    worked(story, "alice", "Mon 09:14", "Mon 09:20", "composing")
    worked(story, "alice", "Mon 09:12", "Mon 09:16")  # a second tab: counted once
    worked(story, "bob", "Mon 09:15", "Mon 09:18")
    story.reply("Mon 09:20", "alice")
    worked(story, "alice", "Mon 09:40", "Mon 09:45")
    return story


def test_example_9_handle_time_is_the_agents_presence_up_to_each_reply() -> None:
    ledger = example_9().ledger()
    # Then alice's reply counts her 10 minutes on the ticket (not 19 from her claim), and the
    # presence after her reply and bob's run until the ticket is resolved (a reply may still come)
    assert handle_of(ledger) == [
        ("presence", "alice", 10 * 60.0, "agent_reply"),
        ("presence", "alice", None, None),
        ("presence", "bob", None, None),
    ]
    assert [s.day for s in ledger.duration("handle").segments] == [date(2026, 3, 2), None, None]
    counted = Counter(c.metric for c in contributions(ledger))
    assert (counted["handle"], counted["handle_source.presence"], counted["handle_source.claim"]) == (1, 1, 0)


def test_example_9_work_without_a_reply_counts_once_the_ticket_is_resolved() -> None:
    story = example_9().set_status("Mon 10:00", "resolved")
    worked(story, "carol", "Mon 10:30", "Mon 10:35")  # looking at it resolved: not handle time
    ledger = story.ledger()
    assert handle_of(ledger) == [
        ("presence", "alice", 10 * 60.0, "agent_reply"),
        ("presence", "alice", 5 * 60.0, "resolved"),
        ("presence", "bob", 3 * 60.0, "resolved"),
    ]
    after_reply = ledger.duration("handle").segments[1]
    assert [(p.start, p.stop, p.why) for p in after_reply.pauses] == [
        (at("Mon 09:45"), at("Mon 10:00"), "away")
    ]
    assert seconds(ledger, "handle")[1] == (5 * 60.0, 5 * 60.0)  # open hours: business time too
    # And reopened, the work without a reply runs again (the aggregates take it out), carol's too
    reopened = story.customer("Mon 11:00", reopens=True).ledger()
    assert handle_of(reopened)[1:] == [
        ("presence", "alice", None, None),
        ("presence", "bob", None, None),
        ("presence", "carol", None, None),
    ]


def test_example_9_a_reply_without_presence_falls_back_to_claim_to_reply() -> None:
    story = example_9().reply("Mon 11:00", "bob").reply("Mon 12:00", "alice")
    ledger = story.ledger()
    # bob's reply counts his 3 minutes; alice's second reply her 5 minutes after her first
    assert handle_of(ledger) == [
        ("presence", "alice", 10 * 60.0, "agent_reply"),
        ("presence", "bob", 3 * 60.0, "agent_reply"),
        ("presence", "alice", 5 * 60.0, "agent_reply"),
    ]
    # and with no presence at all, a reply counts from the claim, as in example 1
    plain = Story("Mon 09:00").routed("Mon 09:01", "alice").reply("Mon 09:20", "alice").ledger()
    assert handle_of(plain) == [("assigned", "alice", 19 * 60.0, "agent_reply")]
    assert Counter(c.metric for c in contributions(plain))["handle_source.claim"] == 1


def test_example_9_a_ticket_merged_away_keeps_its_presence_as_handle_time() -> None:
    story = Story("Mon 09:00", ticket_id="tkt-b", merged_into="tkt-a")
    worked(story, "carol", "Mon 09:01", "Mon 09:04")
    story.event("Mon 09:05", "merged", into="tkt-a", number=1, by="carol", messages=1)
    ledger = story.ledger()
    assert [h.name for h in ledger.happenings] == ["created", "merged"]
    assert handle_of(ledger) == [("presence", "carol", 3 * 60.0, "merged")]
    assert [d.name for d in ledger.durations] == ["handle"]
