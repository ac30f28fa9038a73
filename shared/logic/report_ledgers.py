"""Keeping the per-day report aggregates from the tickets: each change of a ticket computes its
metric ledger again and applies the difference to the aggregates, exactly once (decision 95).

The stored ledger is read before the ticket (both strongly consistent), and the difference is
applied only if the stored ledger is still the one read. So a redelivered or out-of-order stream
record computes the ledger of the ticket as it is now and finds nothing to change, and of two
records of one ticket processed at once, the one that read the older state loses and reads again.
`helpdesk reports rebuild` runs the same refresh for every ticket, by number.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal, Protocol

from shared.dal.customers import CustomerStore
from shared.dal.pointers import PointerReads
from shared.dal.reports import ReportStore, StoredLedger, TicketHistory, TicketHistoryReads
from shared.dal.tickets import TicketStore, TicketWalk
from shared.errors import ConflictError
from shared.logic.metrics.aggregates import new_dimension_values, report_deltas
from shared.logic.metrics.ledger import build_ledger, measuring_for
from shared.logic.metrics.outcomes import CustomerTicket
from shared.models.config import HelpdeskConfig
from shared.models.metrics import MetricLedger
from shared.models.ticket import Ticket

MAX_ATTEMPTS = 5
"""Tries against a ledger another apply keeps changing, before the record is left to be retried."""
NUMBERS_PER_READ = 100
"""Ticket numbers whose pointers one BatchGetItem reads."""


class ReportSources(
    ReportStore, TicketHistoryReads, TicketWalk, CustomerStore, TicketStore, PointerReads, Protocol
):
    """What keeping the aggregates reads and writes."""


@dataclass(frozen=True)
class LedgerRefresh:
    ticket_id: str
    outcome: Literal["applied", "unchanged", "no_ticket"]
    items: int = 0
    """Aggregate items changed."""


def ledger_for(
    history: TicketHistory,
    config: HelpdeskConfig,
    sources: ReportSources,
    also: Sequence[CustomerTicket] = (),
) -> MetricLedger:
    """The ticket's ledger now, with its customer's tier and other tickets (`also`: tickets the
    customer index may not show yet)."""
    ticket = history.ticket
    customer = sources.get_customer(ticket.customer_id)
    others = {t.id: t.created_at for t in sources.list_customer_tickets(ticket.customer_id)}
    others.update(dict(also))
    return build_ledger(
        ticket,
        history.events,
        history.messages,
        measuring_for(config, ticket),
        customer.tier if customer is not None else None,
        sorted(others.items()),
    )


def _finish(ticket_id: str, stored: StoredLedger, sources: ReportSources) -> None:
    """Go on with an apply cut short (its chunks follow from the stored ledger and the pending one)."""
    assert stored.pending is not None
    deltas = report_deltas(stored.ledger, stored.pending)
    values = new_dimension_values(stored.ledger, stored.pending)
    sources.apply_ledger(ticket_id, stored, stored.pending, deltas, values)


def _same(old: MetricLedger, new: MetricLedger) -> bool:
    """Equal but for the ticket version (a change that moves no figure writes nothing)."""
    return old.model_copy(update={"version": new.version}) == new


def refresh_ledger(
    ticket_id: str, sources: ReportSources, config: HelpdeskConfig, also: Sequence[CustomerTicket] = ()
) -> LedgerRefresh:
    """Bring the ticket's stored ledger and the aggregates to what the ticket is now.

    Raises ConflictError when other applies kept winning (the stream retries the record)."""
    for _ in range(MAX_ATTEMPTS):
        stored = sources.stored_ledger(ticket_id)  # first: the ticket read next is at least as new
        if stored is not None and stored.pending is not None:
            _finish(ticket_id, stored, sources)
            continue
        history = sources.ticket_history(ticket_id)
        if history is None:
            return LedgerRefresh(ticket_id, "no_ticket")
        ledger = ledger_for(history, config, sources, also)
        old = stored.ledger if stored is not None else None
        if old is not None and _same(old, ledger):
            return LedgerRefresh(ticket_id, "unchanged")
        deltas = report_deltas(old, ledger)
        if sources.apply_ledger(ticket_id, stored, ledger, deltas, new_dimension_values(old, ledger)):
            return LedgerRefresh(ticket_id, "applied", len(deltas))
    raise ConflictError(f"the report ledger of {ticket_id} kept changing under this update")


def refresh_customer_tickets(
    ticket: Ticket, sources: ReportSources, config: HelpdeskConfig
) -> list[LedgerRefresh]:
    """A new ticket of a customer: the ledgers of their tickets changed within the next-issue window
    before it (those resolved in it among them) are computed again, with the new ticket."""
    since = ticket.created_at - timedelta(days=config.reports.next_issue_days)
    also = [(ticket.id, ticket.created_at)]
    return [
        refresh_ledger(other.id, sources, config, also)
        for other in sorted(sources.list_customer_tickets(ticket.customer_id), key=lambda t: t.number)
        if other.id != ticket.id and other.updated_at >= since and other.created_at <= ticket.created_at
    ]


@dataclass
class ReportRebuild:
    first: int
    last: int
    outcomes: dict[str, int] = field(default_factory=dict)
    no_ticket: list[int] = field(default_factory=list)
    """Numbers without a ticket (taken by a write that failed)."""


def rebuild_reports(
    sources: ReportSources,
    config: HelpdeskConfig,
    first: int | None = None,
    last: int | None = None,
    progress: Callable[[int, LedgerRefresh], None] | None = None,
) -> ReportRebuild:
    """Refresh the ledger of every ticket numbered `first` (the config's first number) to `last`
    (the counter's last number),
    walking the numbers' pointers (no Scan). On a table whose aggregates and ledgers were removed it
    builds them from the tickets; on a live one it corrects what differs, safely beside the stream."""
    begin = first if first is not None else config.tickets.number_start
    end = last if last is not None else sources.last_ticket_number()
    report = ReportRebuild(begin, end)
    for start in range(begin, end + 1, NUMBERS_PER_READ):
        numbers = range(start, min(start + NUMBERS_PER_READ, end + 1))
        pointers = sources.get_pointers([("number", str(n)) for n in numbers])
        for number in numbers:
            pointer = pointers.get(("number", str(number)))
            if pointer is None or pointer.ticket_id is None:
                report.no_ticket.append(number)
                continue
            done = refresh_ledger(pointer.ticket_id, sources, config)
            report.outcomes[done.outcome] = report.outcomes.get(done.outcome, 0) + 1
            if progress is not None:
                progress(number, done)
    return report
