"""A ticket's history reads back in the order it was written, even within one millisecond."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.dal.pointers import Pointer
from shared.models.ticket import TicketEvent
from tests.integration.conftest import EmailHarness, mail

INSTANT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_writes_in_the_same_millisecond_never_interleave(email: EmailHarness) -> None:
    ticket_id = email.deliver(mail())["ticket_id"]
    for write in ("a", "b", "c"):
        events = [TicketEvent(at=INSTANT, type=f"{write}{step}", data={}) for step in range(1, 4)]
        email.repository.add_events(ticket_id, events, Pointer("inbound", f"history-test#{write}"))

    history = [e.type for e in email.repository.list_events(ticket_id) if e.at == INSTANT]

    assert sorted(history) == sorted(f"{w}{s}" for w in "abc" for s in range(1, 4))
    runs = [history[i : i + 3] for i in range(0, 9, 3)]
    assert all(run == [f"{run[0][0]}{s}" for s in range(1, 4)] for run in runs), history
