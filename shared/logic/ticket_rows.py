"""The tickets behind a report: a row per ticket created in a period, found without a Scan
(decision 102; docs/reports.md, "Ticket export and drill-down").

Ticket numbers are taken in time order to within `BLOCK_LIFETIME` (blocks of the counter, decision
121), and a ticket's creation time is its first message's, at most a little before its number was
taken (`CREATION_SLACK`: a delivery retried later). So the tickets created in a period lie in one
number range, found by two bisections on the counter's range (one GetItem of a number's pointer per
probe), then walked a hundred numbers at a time (BatchGetItem of pointers, tickets and ledgers),
each ticket kept if its creation time is in the period, its dimensions match the filter and the
caller may read its team.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from shared.ids import BLOCK_LIFETIME
from shared.logic.permissions import Principal, Role
from shared.logic.reports import ReportRequest, check_request
from shared.models.exports import EXPORT_MEASURES, EXPORT_TARGETS, MeasureSeconds, TicketRow
from shared.models.metrics import MetricLedger
from shared.models.reports import NONE_VALUE
from shared.models.ticket import Ticket

CREATION_SLACK = timedelta(days=1)
"""How much earlier than its number was taken a ticket's creation time may be (its first message's
time: a delivery retried hours later). The search walks this much beyond the period on each side;
a ticket created longer before its number was taken (a mail released from quarantine days later) is
listed if its number falls in the walked range, and may be missed otherwise."""
WALK_CHUNK = 100
"""Numbers read together (one BatchGetItem of pointers, one of tickets, one of ledgers)."""


class NumberedTickets(Protocol):
    def last_ticket_number(self) -> int: ...

    def ticket_created(self, number: int) -> datetime | None:
        """When the ticket numbered `number` was created (None: no ticket has that number)."""
        ...

    def tickets_numbered(self, numbers: Sequence[int]) -> list[tuple[Ticket, MetricLedger | None]]:
        """The tickets of these numbers (numbers without one left out) and their stored ledgers, in
        number order."""
        ...


@dataclass(frozen=True)
class RowsRequest:
    first: date
    last: date
    filter: tuple[str, str] | None = None
    segments: bool = False


def period_bounds(first: date, last: date, timezone: str) -> tuple[datetime, datetime]:
    """The instants the local days `first` to `last` span: [start, end)."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(first, time(), zone)
    end = datetime.combine(last + timedelta(days=1), time(), zone)
    return start, end


def check_rows_request(request: RowsRequest, caller: Principal) -> None:
    """The report's rules (`check_request`): a period of at most 366 days; admins read every ticket,
    supervisors those of their teams (a `team:` filter must be one of theirs; any other filter, or
    none, lists their teams' tickets only); anyone else nothing."""
    own_filter = request.filter if request.filter is not None and request.filter[0] == "team" else None
    as_report = ReportRequest(request.first, request.last, "none" if own_filter else "team", own_filter)
    check_request(as_report, caller)


class _Probe:
    """The creation time of the first ticket numbered at or after n (None past the last), cached."""

    def __init__(self, created: Callable[[int], datetime | None], last: int) -> None:
        self.created, self.last = created, last
        self.seen: dict[int, datetime | None] = {}
        self.reads = 0

    def __call__(self, number: int) -> datetime | None:
        for n in range(number, self.last + 1):
            if n not in self.seen:
                self.reads += 1
                self.seen[n] = self.created(n)
            if self.seen[n] is not None:
                return self.seen[n]
        return None


def _first_at_or_after(low: int, high: int, instant: datetime, probe: _Probe) -> int:
    """The first number in [low, high + 1] whose probe is at or after `instant` (bisection)."""
    while low <= high:
        middle = (low + high) // 2
        found = probe(middle)
        if found is None or found >= instant:
            high = middle - 1
        else:
            low = middle + 1
    return low


def number_range(
    created: Callable[[int], datetime | None],
    first: int,
    last: int,
    start: datetime,
    end: datetime,
    slack: timedelta = CREATION_SLACK + BLOCK_LIFETIME,
) -> tuple[int, int] | None:
    """The numbers (of `first` to `last`) to walk for the tickets created in [start, end): from the
    first ticket created at or after `start - slack` to the last before the first ticket created at
    or after `end + slack`. None when the range is empty. With every ticket created at most `D`
    before its number was taken, and a smaller number never taken more than `BLOCK_LIFETIME` after
    a larger one, no ticket created in the period lies outside it while D + BLOCK_LIFETIME <= slack:
    a ticket m left below the range would have a larger number q created before `start - slack`,
    so taken before `start - slack + D`, while m was taken at or after `start` (symmetrically
    above)."""
    probe = _Probe(created, last)
    low = _first_at_or_after(first, last, start - slack, probe)
    high = _first_at_or_after(low, last, end + slack, probe) - 1
    return (low, high) if low <= high else None


def walk_tickets(
    source: NumberedTickets, numbers: tuple[int, int]
) -> Iterator[tuple[Ticket, MetricLedger | None]]:
    """Every ticket numbered in the range, with its stored ledger, in number order."""
    low, high = numbers
    for begin in range(low, high + 1, WALK_CHUNK):
        yield from source.tickets_numbered(range(begin, min(begin + WALK_CHUNK, high + 1)))


def dimension_values(row: TicketRow, dimension: str) -> list[str]:
    """The row's values of a report dimension, as the aggregates name them (`none` for none)."""
    if dimension == "tag":
        return list(row.tags) or [NONE_VALUE]
    value = {"team": row.team, "agent": row.agent, "channel": row.channel, "inbox": row.inbox}.get(
        dimension, row.tier if dimension == "tier" else row.priority if dimension == "priority" else None
    )
    return [value or NONE_VALUE]


def readable(row: TicketRow, request: RowsRequest, caller: Principal) -> bool:
    """The filter holds for the row, and the caller may read its team."""
    if request.filter is not None and request.filter[1] not in dimension_values(row, request.filter[0]):
        return False
    return caller.role is Role.ADMIN or (row.team is not None and row.team in caller.teams)


def _measures(ledger: MetricLedger) -> dict[str, MeasureSeconds]:
    found: dict[str, MeasureSeconds] = {}
    for name in EXPORT_MEASURES:
        counted = [s for s in ledger.duration(name).segments if s.counted and s.calendar_seconds is not None]
        found[name] = MeasureSeconds(
            calendar=sum(s.calendar_seconds or 0.0 for s in counted) if counted else None,
            business=sum(s.business_seconds or 0.0 for s in counted) if counted else None,
            segments=len(counted),
        )
    return found


def _ledger_fields(ledger: MetricLedger, zone: ZoneInfo, segments: bool) -> dict[str, object]:
    first = next((s for s in ledger.duration("first_response").segments if s.stop is not None), None)
    resolutions = [h.at for h in ledger.happenings if h.name == "resolved"]
    facts = ledger.facts
    return {
        "channel": facts.channel,
        "team": facts.team,
        "agent": facts.agent,
        "inbox": facts.inbox,
        "priority": facts.priority,
        "tags": facts.tags,
        "tier": facts.customer_tier,
        "first_response_at": first.stop.at.astimezone(zone) if first and first.stop else None,
        "resolved_at": resolutions[-1].astimezone(zone) if resolutions and ledger.outcomes.resolved else None,
        "measures": _measures(ledger),
        "sla": {o.target: o.outcome for o in ledger.sla},
        "reopens": sum(1 for h in ledger.happenings if h.name == "reopened"),
        "agent_replies": ledger.outcomes.agent_replies,
        "first_contact_resolution": ledger.outcomes.first_contact_resolution,
        "satisfaction": ledger.outcomes.csat_rating,
        "segments": {d.name: d.segments for d in ledger.durations} if segments else None,
    }


def ticket_row(
    ticket: Ticket, ledger: MetricLedger | None, timezone: str, segments: bool = False
) -> TicketRow:
    """The ticket's row: dimensions, measures and outcomes from its ledger (the report figures'
    source); without a stored ledger yet, the ticket's own dimensions and no measure."""
    zone = ZoneInfo(timezone)
    created = ticket.created_at.astimezone(zone)
    fields: dict[str, object] = {
        "channel": ticket.channel.value,
        "team": ticket.team,
        "agent": ticket.assignee,
        "inbox": ticket.inbox,
        "priority": ticket.priority.value,
        "tags": sorted(ticket.tags),
        "measured": ledger is not None,
    }
    if ledger is not None:
        fields.update(_ledger_fields(ledger, zone, segments))
    return TicketRow.model_validate(
        {
            **fields,
            "number": ticket.number,
            "ticket_id": ticket.id,
            "status": ticket.status.value,
            "created_at": created,
            "created_day": created.date(),
            "merged_into": ticket.merged_into,
        }
    )


def ticket_rows(
    source: NumberedTickets,
    request: RowsRequest,
    caller: Principal,
    timezone: str,
    first_number: int = 1,
    numbers: tuple[int, int] | None = None,
) -> tuple[tuple[int, int] | None, Iterator[TicketRow]]:
    """The number range walked (found by `number_range` unless given) and the rows, in number
    order: tickets created in the period that match the filter and the caller may read."""
    check_rows_request(request, caller)
    start, end = period_bounds(request.first, request.last, timezone)
    if numbers is None:
        numbers = number_range(source.ticket_created, first_number, source.last_ticket_number(), start, end)

    def rows(walked: tuple[int, int]) -> Iterator[TicketRow]:
        for ticket, ledger in walk_tickets(source, walked):
            if start <= ticket.created_at < end:
                row = ticket_row(ticket, ledger, timezone, request.segments)
                if readable(row, request, caller):
                    yield row

    return numbers, rows(numbers) if numbers is not None else iter(())


def csv_header() -> list[str]:
    """The export's columns (docs/reports.md)."""
    return [
        "number",
        "ticket_id",
        "channel",
        "team",
        "agent",
        "inbox",
        "priority",
        "tags",
        "tier",
        "status",
        "created_at",
        "first_response_at",
        "resolved_at",
        "measured",
        *(f"{m}.{c}_seconds" for m in EXPORT_MEASURES for c in ("calendar", "business")),
        *(f"sla.{t}" for t in EXPORT_TARGETS),
        "reopens",
        "agent_replies",
        "first_contact_resolution",
        "satisfaction",
        "merged_into",
    ]


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""How a spreadsheet recognises a formula: a text cell starting so gets a `'` first (OWASP's CSV
injection advice), so an exported tag or address is never run as a formula."""


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def csv_values(row: TicketRow) -> list[object]:
    """The row's cells, in `csv_header`'s order (tags joined with `;`, empty for none)."""
    measures = [
        getattr(row.measures.get(m) or MeasureSeconds(), c)
        for m in EXPORT_MEASURES
        for c in ("calendar", "business")
    ]
    head = [row.number, row.ticket_id, row.channel, row.team, row.agent, row.inbox, row.priority]
    head += [";".join(row.tags), row.tier, row.status, row.created_at, row.first_response_at]
    head += [row.resolved_at, row.measured]
    tail = [row.reopens, row.agent_replies, row.first_contact_resolution, row.satisfaction, row.merged_into]
    return [_cell(v) for v in [*head, *measures, *(row.sla.get(t) for t in EXPORT_TARGETS), *tail]]


def rows_csv(rows: Iterable[TicketRow], header: bool = True) -> str:
    """The rows as CSV (RFC 4180, CRLF line ends), with the header first unless told not to."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(csv_header())
    for row in rows:
        writer.writerow(csv_values(row))
    return out.getvalue()
