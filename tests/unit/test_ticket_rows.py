"""The tickets behind a report: the number-range search, the rows and their CSV (decision 102)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import clock
from shared.ids import NumberBlocks
from shared.logic.permissions import ForbiddenActionError, Principal, Role
from shared.logic.ticket_rows import (
    CREATION_SLACK,
    RowsRequest,
    csv_header,
    number_range,
    period_bounds,
    rows_csv,
    ticket_row,
    ticket_rows,
)
from shared.models.ticket import Channel, Ticket, TicketStatus
from tests.fakes.exports import MemoryTickets
from tests.unit.test_metrics_ledger import HOUR, Story
from tests.unit.test_ticket_numbers import Counter

ADMIN = Principal("root", Role.ADMIN, frozenset())
SUPPORT_LEAD = Principal("sam", Role.SUPERVISOR, frozenset({"support"}))
START = datetime(2026, 3, 1, tzinfo=UTC)


def ticket(number: int, created: datetime, team: str | None = "support", **fields: object) -> Ticket:
    return Ticket(
        id=f"tkt-{number}",
        number=number,
        channel=Channel.EMAIL,
        customer_id="cus-1",
        team=team,
        created_at=created,
        updated_at=created,
        **fields,  # type: ignore[arg-type]
    )


@st.composite
def desks(draw: st.DrawFn) -> tuple[MemoryTickets, datetime, datetime]:
    """Tickets numbered in the order their numbers were taken, each created up to the slack before
    (a delivery retried later), some numbers without a ticket, times with ties and long gaps; and
    a period."""
    steps = draw(st.lists(st.sampled_from([0, 0, 1, 30, 600, 1440, 4 * 1440]), min_size=0, max_size=60))
    desk = MemoryTickets()
    taken = START
    for number, step in enumerate(steps, start=1):
        taken += timedelta(minutes=step)
        if draw(st.integers(0, 9)) == 0:
            continue  # a number taken by a creation that failed
        delay = draw(
            st.sampled_from([timedelta(0), timedelta(minutes=5), CREATION_SLACK - timedelta(seconds=1)])
        )
        desk.add(ticket(number, taken - delay))
    desk.last = max(desk.last, len(steps))
    first = START + timedelta(minutes=draw(st.integers(-1440, 20 * 1440)))
    return desk, first, first + timedelta(minutes=draw(st.integers(0, 10 * 1440)))


@settings(max_examples=300, deadline=None)
@given(desks())
def test_the_number_range_holds_every_ticket_created_in_the_period(
    found: tuple[MemoryTickets, datetime, datetime],
) -> None:
    # Given tickets whose creation times are out of number order by less than the slack
    desk, start, end = found
    # When the period's number range is searched
    numbers = number_range(desk.ticket_created, 1, desk.last, start, end)
    # Then every ticket created in the period is in it
    inside = {n for n, (t, _) in desk.tickets.items() if start <= t.created_at < end}
    walked = set(range(numbers[0], numbers[1] + 1)) if numbers else set()
    assert inside <= walked
    # And the search read a bounded number of creation times: two bisections, each probe going
    # past the numbers without a ticket
    longest_gap = max((len(list(g)) for g in _gaps(desk)), default=0)
    assert len(desk.reads) <= 2 * (desk.last.bit_length() + 1) * (longest_gap + 1)


@st.composite
def block_desks(draw: st.DrawFn) -> tuple[MemoryTickets, datetime, datetime]:
    """Tickets numbered by three processes taking blocks of one counter (decision 121), interleaved,
    each created up to the slack before its number was taken; and a period."""
    steps = draw(
        st.lists(st.tuples(st.integers(0, 2), st.sampled_from([0, 1, 5, 30, 59, 61, 600])), max_size=80)
    )
    counter, allocators, desk = Counter(), [NumberBlocks() for _ in range(3)], MemoryTickets()
    moment = [START]
    clock.set_clock(lambda: moment[0])
    try:
        for process, seconds in steps:
            moment[0] += timedelta(seconds=seconds)
            number = allocators[process].take(counter, 1)
            delay = draw(st.sampled_from([timedelta(0), CREATION_SLACK - timedelta(seconds=1)]))
            desk.add(ticket(number, moment[0] - delay))
    finally:
        clock.set_clock(None)
    desk.last = max(desk.last, counter.value or 0)
    first = START + timedelta(seconds=draw(st.integers(-90_000, 50_000)))
    return desk, first, first + timedelta(seconds=draw(st.integers(0, 50_000)))


@settings(max_examples=300, deadline=None)
@given(block_desks())
def test_the_number_range_holds_every_ticket_when_numbers_come_from_blocks(
    found: tuple[MemoryTickets, datetime, datetime],
) -> None:
    # Given tickets numbered from blocks held by several processes (a smaller number taken up to a
    # block's lifetime after a larger one), each created up to the slack before its number
    desk, start, end = found
    # When the period's number range is searched with the default slack
    numbers = number_range(desk.ticket_created, 1, desk.last, start, end)
    # Then every ticket created in the period is in it
    inside = {n for n, (t, _) in desk.tickets.items() if start <= t.created_at < end}
    walked = set(range(numbers[0], numbers[1] + 1)) if numbers else set()
    assert inside <= walked


def test_the_walk_is_widened_by_a_block_lifetime_for_a_smaller_number_taken_later() -> None:
    # Given #1 taken 59 s after #2 (one process's older block), #2 a delivery retried almost a day
    # later (created the slack before its number), and #3 created after both
    desk = MemoryTickets()
    desk.add(ticket(1, START + timedelta(seconds=59)))
    desk.add(ticket(2, START + timedelta(seconds=2) - CREATION_SLACK))
    desk.add(ticket(3, START + timedelta(seconds=90)))
    start, end = START + timedelta(seconds=30), START + timedelta(hours=1)
    # When the numbers for a period holding #1's creation are searched
    # Then #1 is walked, though a walk widened by the delivery slack alone would miss it
    assert number_range(desk.ticket_created, 1, 3, start, end) == (1, 3)
    assert number_range(desk.ticket_created, 1, 3, start, end, slack=CREATION_SLACK) == (3, 3)


def _gaps(desk: MemoryTickets) -> list[list[int]]:
    runs: list[list[int]] = [[]]
    for n in range(1, desk.last + 1):
        if n in desk.tickets:
            runs.append([])
        else:
            runs[-1].append(n)
    return runs


def test_the_rows_are_the_tickets_created_on_the_local_days_in_number_order() -> None:
    # Given tickets around midnight in Berlin (UTC+1 in March), one number without a ticket, and
    # one created before the ticket numbered before it (a retried delivery)
    desk = MemoryTickets()
    desk.add(ticket(1, datetime(2026, 3, 1, 22, 59, tzinfo=UTC)))  # Sunday 23:59 in Berlin
    desk.add(ticket(2, datetime(2026, 3, 1, 23, 0, tzinfo=UTC)))  # Monday 00:00
    desk.add(ticket(4, datetime(2026, 3, 2, 12, 0, tzinfo=UTC)))
    desk.add(ticket(5, datetime(2026, 3, 2, 11, 0, tzinfo=UTC)))  # created before #4
    desk.add(ticket(6, datetime(2026, 3, 2, 23, 0, tzinfo=UTC)))  # Tuesday 00:00
    desk.last = 7
    # When Monday's rows are listed in Berlin time
    numbers, rows = ticket_rows(desk, RowsRequest(date(2026, 3, 2), date(2026, 3, 2)), ADMIN, "Europe/Berlin")
    listed = list(rows)
    # Then Monday's tickets, each once, in number order, with local times
    assert [r.number for r in listed] == [2, 4, 5]
    assert numbers is not None
    assert numbers[0] <= 2
    assert numbers[1] >= 5
    assert listed[0].created_at.isoformat() == "2026-03-02T00:00:00+01:00"
    assert {r.created_day for r in listed} == {date(2026, 3, 2)}
    assert period_bounds(date(2026, 3, 2), date(2026, 3, 2), "Europe/Berlin") == (
        datetime(2026, 3, 1, 23, 0, tzinfo=UTC),
        datetime(2026, 3, 2, 23, 0, tzinfo=UTC),
    )


def test_an_empty_period_or_desk_has_no_rows() -> None:
    desk = MemoryTickets()
    numbers, rows = ticket_rows(desk, RowsRequest(date(2026, 3, 2), date(2026, 3, 8)), ADMIN, "UTC")
    assert (numbers, list(rows)) == (None, [])
    desk.add(ticket(1, datetime(2026, 3, 20, tzinfo=UTC)))
    numbers, rows = ticket_rows(desk, RowsRequest(date(2026, 3, 2), date(2026, 3, 8)), ADMIN, "UTC")
    assert (numbers, list(rows)) == (None, [])


def test_the_filter_applies_per_row_and_a_supervisor_sees_their_teams_only() -> None:
    monday = datetime(2026, 3, 2, 10, tzinfo=UTC)
    desk = MemoryTickets()
    desk.add(ticket(1, monday, "support", tags=["vip"]))
    desk.add(ticket(2, monday, "billing", tags=["vip"]))
    desk.add(ticket(3, monday, None))
    desk.add(ticket(4, monday, "support"))
    day = date(2026, 3, 2)

    def listed(request: RowsRequest, caller: Principal) -> list[int]:
        return [r.number for r in ticket_rows(desk, request, caller, "UTC")[1]]

    assert listed(RowsRequest(day, day), ADMIN) == [1, 2, 3, 4]
    assert listed(RowsRequest(day, day, ("tag", "vip")), ADMIN) == [1, 2]
    assert listed(RowsRequest(day, day, ("team", "none")), ADMIN) == [3]
    assert listed(RowsRequest(day, day, ("tag", "none")), ADMIN) == [3, 4]
    # a supervisor: their teams' tickets, with any filter, or one of their teams
    assert listed(RowsRequest(day, day), SUPPORT_LEAD) == [1, 4]
    assert listed(RowsRequest(day, day, ("tag", "vip")), SUPPORT_LEAD) == [1]
    assert listed(RowsRequest(day, day, ("team", "support")), SUPPORT_LEAD) == [1, 4]
    with pytest.raises(ForbiddenActionError):
        ticket_rows(desk, RowsRequest(day, day, ("team", "billing")), SUPPORT_LEAD, "UTC")
    with pytest.raises(ForbiddenActionError):
        ticket_rows(
            desk, RowsRequest(day, day), Principal("alice", Role.AGENT, frozenset({"support"})), "UTC"
        )


def test_a_row_carries_the_ledgers_measures_and_outcomes() -> None:
    # Given a mail at 08:30 on Monday (Berlin), answered by alice at 10:00 and resolved at 10:30
    story = Story("Mon 08:30", tags=["printer"]).routed("Mon 08:31", "alice").reply("Mon 10:00", "alice")
    story = story.set_status("Mon 10:30", "resolved").rating("Mon 11:00", 5)
    story.ticket = story.ticket.model_copy(update={"status": TicketStatus.RESOLVED, "assignee": "alice"})
    ledger = story.ledger()
    # When its row is made, in the reports' zone
    row = ticket_row(story.ticket, ledger, "Europe/Berlin", segments=True)
    # Then its times are local, its measures the ledger's, its outcomes the ticket's
    assert (row.number, row.team, row.agent, row.tags, row.status) == (
        1,
        "support",
        "alice",
        ["printer"],
        "resolved",
    )
    assert row.created_at.isoformat() == "2026-03-02T08:30:00+01:00"
    assert row.first_response_at is not None
    assert row.first_response_at.isoformat() == "2026-03-02T10:00:00+01:00"
    assert row.resolved_at is not None
    assert row.resolved_at.isoformat() == "2026-03-02T10:30:00+01:00"
    first = row.measures["first_response"]
    assert (first.calendar, first.business, first.segments) == (1.5 * HOUR, 1 * HOUR, 1)
    assert row.measures["full_resolution"].calendar == 2 * HOUR
    assert (row.first_contact_resolution, row.reopens, row.agent_replies, row.satisfaction) == (True, 0, 1, 5)
    # And with segments, the ledger's own, each with the day it counts on
    assert row.segments is not None
    assert row.segments["first_response"] == ledger.duration("first_response").segments
    assert row.segments["first_response"][0].day == date(2026, 3, 2)


def test_a_ticket_without_a_ledger_yet_is_listed_unmeasured() -> None:
    row = ticket_row(ticket(7, datetime(2026, 3, 2, 9, tzinfo=UTC), priority="high"), None, "UTC")
    assert (row.measured, row.priority, row.measures, row.sla, row.tier) == (False, "high", {}, {}, None)


def test_the_csv_has_a_header_and_a_row_per_ticket_with_every_column() -> None:
    story = Story("Mon 08:30", tags=["a", "b"]).reply("Mon 10:00", "alice")
    rows = [
        ticket_row(story.ticket, story.ledger(), "Europe/Berlin"),
        ticket_row(ticket(2, START), None, "UTC"),
    ]
    text = rows_csv(rows)
    assert text.endswith("\r\n")
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert list(parsed[0]) == csv_header()
    assert [p["number"] for p in parsed] == ["1", "2"]
    assert parsed[0]["tags"] == "a;b"
    assert float(parsed[0]["first_response.calendar_seconds"]) == 1.5 * HOUR
    assert (parsed[0]["measured"], parsed[1]["measured"]) == ("true", "false")
    assert parsed[1]["first_response.calendar_seconds"] == ""
    assert rows_csv(rows, header=False) == text.split("\r\n", 1)[1]


def test_a_text_cell_a_spreadsheet_would_run_as_a_formula_is_quoted() -> None:
    row = ticket_row(ticket(3, START, tags=["=HYPERLINK(1)", "-x"], inbox="@support"), None, "UTC")
    [parsed] = list(csv.DictReader(io.StringIO(rows_csv([row]))))
    assert (parsed["tags"], parsed["inbox"], parsed["team"]) == ("'-x;=HYPERLINK(1)", "'@support", "support")
