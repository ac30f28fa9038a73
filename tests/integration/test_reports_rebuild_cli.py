"""`helpdesk reports rebuild` on a moto table: every ticket by number, its ledger and aggregates."""

from __future__ import annotations

import io
from datetime import date, timedelta

from shared import clock
from shared.dal.pointers import Pointer
from shared.dal.repository import DynamoRepository
from shared.dal.tickets import NewTicketWrite
from simulator.cli import main
from simulator.template import REGION
from tests.integration.test_dal_contract import T0, TABLE, Repository, _moto, message, repo, ticket

__all__ = ["_moto", "repo"]


def store(repository: Repository, ticket_id: str, number: int, hours: int) -> None:
    new = ticket(ticket_id, number=number, created_at=T0 + timedelta(hours=hours))
    clock.set_clock(lambda: new.created_at)  # numbers taken hours apart come one at a time
    repository.next_ticket_number(1)
    repository.create_ticket(
        NewTicketWrite(
            ticket=new,
            message=message(ticket_id, f"m-{ticket_id}", new.created_at),
            pointers=[Pointer("number", str(number), ticket_id=ticket_id)],
        )
    )


def test_rebuild_walks_the_numbers_and_counts_each_ticket_once(repo: Repository) -> None:
    if not isinstance(repo, DynamoRepository):
        return  # the command runs against a DynamoDB table
    # Given two tickets numbered 1 and 2 (and the counter at 2)
    store(repo, "t1", 1, 0)
    store(repo, "t2", 2, 30)
    out, err = io.StringIO(), io.StringIO()
    # When the rebuild runs, twice
    args = ["reports", "rebuild", "--table", TABLE, "--region", REGION]
    assert main(args, out=out, err=err) == 0, err.getvalue()
    assert main([*args, "--quiet"], out=out, err=err) == 0
    # Then each ticket was applied once, and the second run found nothing to change
    lines = out.getvalue().splitlines()
    assert lines[:2] == ["#1 t1: applied (8 items changed)", "#2 t2: applied (8 items changed)"]
    assert lines[2] == "tickets #1 to #2: applied 2; 0 numbers without a ticket"
    assert lines[3] == "tickets #1 to #2: unchanged 2; 0 numbers without a ticket"
    days = repo.report_days("all", "*", date(2026, 3, 1), date(2026, 3, 31))
    assert [(d.day, d.counts["created"]) for d in days] == [(date(2026, 3, 2), 1), (date(2026, 3, 3), 1)]
    assert repo.dimension_values("channel") == ["email"]


def test_rebuild_refuses_a_range_that_ends_before_it_starts() -> None:
    err = io.StringIO()
    args = ["reports", "rebuild", "--table", TABLE, "--from-number", "5", "--to-number", "2"]
    assert main(args, out=io.StringIO(), err=err) == 2
    assert "before --from-number" in err.getvalue()


def test_seal_folds_the_days_in_and_the_report_days_read_the_same(repo: Repository) -> None:
    if not isinstance(repo, DynamoRepository):
        return  # the command runs against a DynamoDB table
    # Given two tickets' aggregates, rebuilt
    store(repo, "t1", 1, 0)
    store(repo, "t2", 2, 30)
    assert main(["reports", "rebuild", "--table", TABLE, "--region", REGION, "-q"], out=io.StringIO()) == 0
    march = date(2026, 3, 1), date(2026, 3, 31)
    before = [d.unsealed() for d in repo.report_days("all", "*", *march)]
    # When the month is sealed
    out = io.StringIO()
    args = [
        "reports",
        "seal",
        "--table",
        TABLE,
        "--region",
        REGION,
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-31",
    ]
    assert main(args, out=out, err=io.StringIO()) == 0
    # Then every live day of every dimension value was sealed, and the days read the same
    assert main(args, out=out, err=io.StringIO()) == 0
    first, second = out.getvalue().splitlines()
    assert first.startswith("2026-03-01 to 2026-03-31: 16 days sealed in 8 dimension values;"), first
    assert second.startswith("2026-03-01 to 2026-03-31: 0 days sealed"), second  # nothing live is left
    assert [d.unsealed() for d in repo.report_days("all", "*", *march)] == before


def test_seal_refuses_a_range_that_ends_before_it_starts() -> None:
    err = io.StringIO()
    args = ["reports", "seal", "--table", TABLE, "--from", "2026-03-05", "--to", "2026-03-01"]
    assert main(args, out=io.StringIO(), err=err) == 2
    assert "before --from" in err.getvalue()
