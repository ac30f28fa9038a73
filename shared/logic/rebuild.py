"""Rebuild the views and the search index from the tickets (decision 91): for tickets created before
route_ticket kept them, or after a projection bug is fixed.

Every ticket is walked without a Scan: its numbers run from 1 to the ticket counter's last, and each
number's pointer (`PTR#number#<n>`) leads to its ticket. For each ticket and index, the rebuild
reads the ticket's state in that index, then the ticket (and for search its messages) strongly
consistently, and applies what the stream's projection makes of the ticket as it is now
(shared/logic/views.py and search.py `rebuild_changes`): missing entries written, entries the
state has and the ticket no longer gives removed, counts moved, nothing done when all is so.

It keeps the state's sequence number and is written only if the state is still the one it read,
as every live change is: a live record applied meanwhile makes the rebuild read and compute again
(`ATTEMPTS` times, then the ticket is reported busy, to be run again), and a live record applied
after it is computed against the rebuilt state. The state is read before the ticket, so the ticket
is at least as new as every record the state has seen; a newer record is applied after the rebuild
as it would have been without it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from shared.dal.pointers import PointerReads
from shared.dal.search import SearchIndex
from shared.dal.tickets import TicketWalk
from shared.dal.views import ViewIndex
from shared.logic import search, views

Index = Literal["views", "search"]
INDEXES: tuple[Index, ...] = ("views", "search")
ATTEMPTS = 3
"""Reads and writes of one ticket's state before it is reported busy (its stream keeps changing it)."""
CHUNK = 100
"""Ticket numbers whose pointers are read together (one BatchGetItem)."""


class RebuildStores(TicketWalk, PointerReads, ViewIndex, SearchIndex, Protocol):
    """What a rebuild reads and writes: the ticket counter, number pointers, tickets and messages,
    and both indexes."""


@dataclass(frozen=True)
class RebuildOptions:
    indexes: Sequence[Index] = INDEXES
    first: int = 1
    last: int | None = None
    """The last ticket number to rebuild (None: the counter's last)."""
    dry_run: bool = False
    """Report what would change, write nothing."""
    view_shards: int = 1
    """The shards the views are laid out in (the config's `views.shards`): entries in another
    layout are moved into it (decision 126)."""


@dataclass(frozen=True)
class TicketRebuild:
    """What rebuilding one ticket in one index did (or, in a dry run, would do)."""

    number: int
    ticket_id: str
    index: Index
    outcome: Literal["in_sync", "repaired", "would_repair", "busy"]
    written: int = 0
    """Entries written (missing, or another summary)."""
    deleted: int = 0
    """Stale entries removed."""


@dataclass
class RebuildReport:
    first: int
    last: int
    tickets: int = 0
    """Numbers that led to a ticket."""
    no_ticket: list[int] = field(default_factory=list)
    """Numbers with no pointer (a number taken by a creation that failed)."""
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(index, outcome) -> tickets."""
    busy: list[int] = field(default_factory=list)
    """Numbers of tickets left as they were: their state kept changing (run them again)."""


def _attempts(
    number: int,
    ticket_id: str,
    index: Index,
    attempt: Callable[[], tuple[Any, int, int] | None],
    apply: Callable[[Any], bool],
    dry_run: bool,
) -> TicketRebuild:
    """Compute a ticket's changes (`attempt`: None when in sync, else the changes with how many
    entries they write and delete) and apply them conditionally, a few times while the stream
    keeps changing the ticket's state."""
    for _ in range(ATTEMPTS):
        computed = attempt()
        if computed is None:
            return TicketRebuild(number, ticket_id, index, "in_sync")
        changes, written, deleted = computed
        if dry_run or apply(changes):
            outcome: Literal["repaired", "would_repair"] = "would_repair" if dry_run else "repaired"
            return TicketRebuild(number, ticket_id, index, outcome, written, deleted)
    return TicketRebuild(number, ticket_id, index, "busy")


def _rebuild_views(
    number: int, ticket_id: str, stores: RebuildStores, options: RebuildOptions
) -> TicketRebuild:
    def attempt() -> tuple[Any, int, int] | None:
        before = stores.view_state(ticket_id)  # before the ticket: see the module's docstring
        ticket = stores.current_ticket(ticket_id)
        changes = views.rebuild_changes(ticket_id, ticket, before, stores, options.view_shards)
        return None if changes is None else (changes, len(changes.writes), len(changes.stale))

    return _attempts(number, ticket_id, "views", attempt, stores.apply_view_changes, options.dry_run)


def _rebuild_search(
    number: int, ticket_id: str, stores: RebuildStores, options: RebuildOptions
) -> TicketRebuild:
    def attempt() -> tuple[Any, int, int] | None:
        before = stores.search_state(ticket_id)  # before the ticket and its messages
        ticket = stores.current_ticket(ticket_id)
        messages = stores.current_messages(ticket_id) if ticket is not None else []
        changes = search.rebuild_changes(ticket_id, ticket, messages, before, stores)
        return None if changes is None else (changes, len(changes.puts), len(changes.deletes))

    return _attempts(number, ticket_id, "search", attempt, stores.apply_search_changes, options.dry_run)


REBUILDERS: dict[Index, Callable[[int, str, RebuildStores, RebuildOptions], TicketRebuild]] = {
    "views": _rebuild_views,
    "search": _rebuild_search,
}


def rebuild_indexes(
    stores: RebuildStores,
    options: RebuildOptions,
    progress: Callable[[TicketRebuild], None] = lambda _: None,
) -> RebuildReport:
    """Rebuild the chosen indexes for the tickets numbered `options.first` to `options.last`, in
    order, telling `progress` about each ticket and index."""
    last = options.last if options.last is not None else stores.last_ticket_number()
    report = RebuildReport(options.first, last)
    for start in range(options.first, last + 1, CHUNK):
        numbers = range(start, min(start + CHUNK, last + 1))
        pointers = stores.get_pointers([("number", str(n)) for n in numbers])
        for number in numbers:
            pointer = pointers.get(("number", str(number)))
            if pointer is None or pointer.ticket_id is None:
                report.no_ticket.append(number)
                continue
            report.tickets += 1
            for index in options.indexes:
                done = REBUILDERS[index](number, pointer.ticket_id, stores, options)
                report.outcomes[(index, done.outcome)] += 1
                if done.outcome == "busy" and number not in report.busy:
                    report.busy.append(number)
                progress(done)
    return report
