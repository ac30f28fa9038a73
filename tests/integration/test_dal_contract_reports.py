"""The data layer's contract for the report aggregates and the stored ledgers: the same tests on
DynamoDB (moto) and on the in-memory fakes."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

import shared.dal.reports as reports_dal
import shared.models.reports as reports_model
import tests.fakes.reports as reports_fake
import tests.fakes.table as table_fake
from shared.dal.items import ReportClockItem, ReportDimensionItem
from shared.dal.reports import MAX_ACTIONS, MAX_TRANSACTION, StoredLedger, plan_chunks
from shared.logic.report_sealing import seal_reports
from shared.models.metrics import MetricLedger, TicketFacts
from shared.models.reports import ReportDay, ReportDelta, ReportKey
from shared.models.sketch import DurationSketch
from tests.integration.test_dal_contract import T0, Repository, _moto, create, event, message, repo

__all__ = ["_moto", "repo"]  # the fixtures, shared with test_dal_contract

MON, TUE = date(2026, 3, 2), date(2026, 3, 3)


def ledger(version: int = 1, team: str | None = "support") -> MetricLedger:
    return MetricLedger(
        ticket_id="t1",
        number=1000,
        version=version,
        timezone="UTC",
        calendar="default",
        created_day=MON,
        facts=TicketFacts(channel="email", team=team),
    )


def delta(dimension: str, value: str, day: date, **adds: int) -> ReportDelta:
    return ReportDelta(
        ReportKey(dimension, value, day), {name.replace("__", "#"): n for name, n in adds.items()}
    )


def first_response(day: date, seconds: float, sign: int = 1) -> ReportDelta:
    """One first-response duration (its count, calendar bucket and sum) on the `all` item."""
    bucket = DurationSketch().key(seconds)
    adds = {
        "c#first_response": sign,
        f"d#first_response#cal#b{bucket}": sign,
        "d#first_response#cal#ms": sign * round(seconds * 1000),
    }
    return ReportDelta(ReportKey("all", "*", day), adds)


def test_an_apply_adds_once_and_one_computed_from_an_older_ledger_changes_nothing(repo: Repository) -> None:
    # Given no stored ledger, When a ledger is applied with its deltas and dimension values
    created = delta("all", "*", MON, c__created=1)
    assert repo.apply_ledger("t1", None, ledger(), [created, first_response(MON, 90)], [("all", "*")])
    stored = repo.stored_ledger("t1")
    assert stored == StoredLedger(ledger(), 1)
    # Then the item holds the count and the sketch
    [day] = repo.report_days("all", "*", MON, MON)
    assert day.counts == {"created": 1, "first_response": 1}
    assert day.sketch("first_response", "cal") == DurationSketch().add(90)
    assert day.sketch("first_response", "bus") == DurationSketch()
    # When the same apply comes again (a redelivery that read no ledger), or one against rev 1 twice
    assert not repo.apply_ledger("t1", None, ledger(), [created], [])
    moved = [first_response(MON, 90, -1), first_response(TUE, 30)]
    assert repo.apply_ledger("t1", stored, ledger(2), moved, [])
    assert not repo.apply_ledger("t1", stored, ledger(2), moved, [])
    # Then each counted once: the duration moved to Tuesday, Monday's bucket is empty again
    [monday, tuesday] = repo.report_days("all", "*", MON, TUE)
    assert monday.counts == {"created": 1}
    assert monday.durations == {}
    assert tuesday.sketch("first_response", "cal") == DurationSketch().add(30)
    assert repo.stored_ledger("t1") == StoredLedger(ledger(2), 2)


def test_days_are_read_by_range_and_dimension_values_are_listed(repo: Repository) -> None:
    deltas = [delta("team", "support", date(2026, 3, d), c__created=d) for d in (1, 2, 3, 4)]
    values = [("team", "support"), ("team", "billing"), ("tag", "vip")]
    assert repo.apply_ledger("t1", None, ledger(), deltas, values)
    days = repo.report_days("team", "support", MON, TUE)
    assert [(d.day, d.counts) for d in days] == [(MON, {"created": 2}), (TUE, {"created": 3})]
    assert repo.report_days("team", "billing", MON, TUE) == []
    assert repo.dimension_values("team") == ["billing", "support"]
    assert repo.dimension_values("agent") == []


def many(n: int, sign: int = 1) -> list[ReportDelta]:
    """Deltas to `n` items, the first with more attributes than one update takes."""
    wide = {f"c#metric{i:03d}": sign for i in range(MAX_ACTIONS + 5)}
    return [ReportDelta(ReportKey("tag", "t000", MON), wide)] + [
        delta("tag", f"t{i:03d}", MON, c__created=sign) for i in range(1, n)
    ]


def test_a_change_over_one_transaction_is_applied_whole_and_once(repo: Repository) -> None:
    deltas = many(2 * MAX_TRANSACTION + 10)
    assert len(plan_chunks(deltas, [])) == 3
    assert repo.apply_ledger("t1", None, ledger(), deltas, [])
    assert repo.stored_ledger("t1") == StoredLedger(ledger(), 1)
    [wide] = repo.report_days("tag", "t000", MON, MON)
    assert len(wide.counts) == MAX_ACTIONS + 5
    assert repo.report_days("tag", f"t{2 * MAX_TRANSACTION + 9:03d}", MON, MON)[0].counts == {"created": 1}
    assert not repo.apply_ledger("t1", None, ledger(), deltas, [])  # a redelivery finds rev 1
    assert repo.report_days("tag", "t150", MON, MON)[0].counts == {"created": 1}


def crash_after(repo: Repository, monkeypatch: pytest.MonkeyPatch, transactions: int) -> None:
    """The store stops (as a timed-out Lambda would) after `transactions` chunk transactions."""
    done = {"n": 0}
    real = repo._transact_chunk

    def chunk(*args: Any) -> bool:
        if done["n"] == transactions:
            raise TimeoutError("the function timed out")
        done["n"] += 1
        return real(*args)

    monkeypatch.setattr(repo, "_transact_chunk", chunk)


def test_an_apply_cut_short_is_finished_by_the_next_one_and_blocks_others_until_then(
    repo: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an apply of three chunks that stops after its second
    deltas = many(2 * MAX_TRANSACTION + 10)
    with monkeypatch.context() as patch:
        crash_after(repo, patch, 2)
        with pytest.raises(TimeoutError):
            repo.apply_ledger("t1", None, ledger(), deltas, [])
    stored = repo.stored_ledger("t1")
    assert stored == StoredLedger(None, 0, pending=ledger(), step=2)
    assert repo.report_days("tag", "t000", MON, MON)[0].counts["metric000"] == 1  # chunk 1 applied
    assert repo.report_days("tag", "t209", MON, MON) == []  # chunk 3 not
    # When another change computed from the ledger read before (none) is tried, it is refused
    assert not repo.apply_ledger("t1", None, ledger(2), [], [])
    # When the apply is resumed from what was stored (twice: a race of two resumers)
    assert repo.apply_ledger("t1", stored, ledger(), deltas, [])
    assert not repo.apply_ledger("t1", stored, ledger(), deltas, [])
    # Then every item counts once
    assert repo.stored_ledger("t1") == StoredLedger(ledger(), 1)
    for value in ("t000", "t001", "t150", "t209"):
        [day] = repo.report_days("tag", value, MON, MON)
        assert day.counts.get("created", 0) + day.counts.get("metric000", 0) == 1, value
    with pytest.raises(ValueError, match="another ledger"):
        repo.apply_ledger("t1", stored, ledger(3), [], [])


def test_a_ticket_history_is_read_whole_and_the_counter_is_the_last_number(repo: Repository) -> None:
    assert repo.ticket_history("t1") is None
    assert repo.last_ticket_number() == 0
    create(repo, "t1")
    repo.add_message("t1", message("t1", "m2", T0, text="note"), [event("note_added")])
    history = repo.ticket_history("t1")
    assert history is not None
    assert history.ticket.id == "t1"
    assert sorted(m.id for m in history.messages) == ["m-t1", "m2"]
    assert "note_added" in [e.type for e in history.events]
    repo.next_ticket_number(1000)
    assert repo.last_ticket_number() == 1000


def test_the_report_clock_only_moves_forward_and_says_how_far_behind_it_was(repo: Repository) -> None:
    from datetime import UTC, datetime, timedelta

    from shared.models.reports import Freshness

    # Given no batch projected yet
    assert repo.report_freshness() == Freshness()
    monday = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    # When a batch up to 10:00 is projected at 10:00:02, then an older one arrives late
    repo.record_report_freshness(monday, monday + timedelta(seconds=2))
    repo.record_report_freshness(monday - timedelta(minutes=5), monday + timedelta(seconds=9))
    # Then the clock stays at the newest change, 2 seconds behind
    assert repo.report_freshness() == Freshness(monday, 2.0)
    # and a newer batch moves it on
    repo.record_report_freshness(monday + timedelta(minutes=1), monday + timedelta(minutes=1, seconds=30))
    assert repo.report_freshness() == Freshness(monday + timedelta(minutes=1), 30.0)


def another_process(repo: Repository) -> Repository:
    """A store on the same table with a memory of its own (another Lambda container)."""
    if isinstance(repo, reports_fake.MemoryReports):
        return type(repo)(repo.table)
    return type(repo)(repo.table_name, repo.connection.region)


def clock_items(repo: Repository) -> dict[str, str]:
    """The report clock items stored: key to `stream_at`."""
    if isinstance(repo, reports_fake.MemoryReports):
        found = [item for key in reports_dal.clock_keys() if (item := repo.table.get(key)) is not None]
        return {str(item["pk"]): str(item["stream_at"]) for item in found}
    items = ReportClockItem.batch_get(reports_dal.clock_keys())
    return {str(item.pk): str(item.stream_at) for item in items}


def test_a_process_writes_the_clock_once_a_stream_second_in_turn_and_a_read_takes_the_newest(
    repo: Repository,
) -> None:
    from datetime import UTC, datetime, timedelta

    from shared.models.reports import Freshness

    # Given two processes projecting batches (decision 127)
    monday = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    other = another_process(repo)
    # When one records three batches of the same stream second, then one of the next second
    for lag in (1, 2, 3):
        repo.record_report_freshness(monday, monday + timedelta(seconds=lag))
    repo.record_report_freshness(monday + timedelta(seconds=1), monday + timedelta(seconds=5))
    # and the other an older second, on an item the first has not written (each process starts at a
    # random item: two starting on the same one would keep only the newer second there)
    other.report_memory.next_clock = repo.report_memory.next_clock  # type: ignore[attr-defined]
    other.record_report_freshness(monday - timedelta(seconds=30), monday)
    # Then each second was written once, each time to the process's next clock item
    stored = clock_items(repo)
    assert sorted(stored.values()) == [
        "2026-03-02T09:59:30.000Z",
        "2026-03-02T10:00:00.000Z",
        "2026-03-02T10:00:01.000Z",
    ]
    first = int(min(k for k, v in stored.items() if v.startswith("2026-03-02T10:00:00")).split("#")[1])
    assert f"REPORTCLOCK#{(first + 1) % reports_dal.CLOCK_SHARDS}" in stored
    # and the aggregates read as current as the newest batch any process recorded
    assert (
        repo.report_freshness() == other.report_freshness() == Freshness(monday + timedelta(seconds=1), 4.0)
    )


def test_the_clock_item_of_older_releases_is_read_beside_the_new_ones(repo: Repository) -> None:
    from datetime import UTC, datetime

    from shared.models.reports import Freshness

    # Given the one clock item an older release wrote, newer than anything recorded since
    old = ReportClockItem(stream_at="2026-03-02T10:00:00.000Z", processed_at="2026-03-02T10:00:03.000Z")
    if isinstance(repo, reports_fake.MemoryReports):
        repo.table.transact([table_fake.put_op(old, "clock", lambda _: True)])
    else:
        old.save()
    repo.record_report_freshness(
        datetime(2026, 3, 2, 9, 0, tzinfo=UTC), datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    )
    # Then a read takes it into account (the newest wins)
    assert repo.report_freshness() == Freshness(datetime(2026, 3, 2, 10, 0, tzinfo=UTC), 3.0)


def test_a_dimension_value_is_written_once_by_a_process_and_outside_the_transactions(
    repo: Repository,
) -> None:
    # Given a process that recorded a team value with a ticket's first apply
    assert repo.apply_ledger(
        "t1", None, ledger(), [delta("team", "support", MON, c__created=1)], [("team", "support")]
    )
    assert repo.dimension_values("team") == ["support"]
    # When the value item goes (as only an operator removes it) and the process applies again
    remove_dimension_value(repo, "team", "support")
    stored = repo.stored_ledger("t1")
    assert repo.apply_ledger("t1", stored, ledger(2), [], [("team", "support")])
    # Then it is not written again: this process knows it stored it
    assert repo.dimension_values("team") == []
    # But another process, which reads the dimension's values first, writes it back
    other = another_process(repo)
    assert other.apply_ledger("t1", other.stored_ledger("t1"), ledger(3), [], [("team", "support")])
    assert other.dimension_values("team") == ["support"]
    # And a value is written even when the apply then loses to another (it is written first)
    assert not other.apply_ledger("t1", None, ledger(), [], [("team", "billing")])
    assert repo.dimension_values("team") == ["billing", "support"]


def remove_dimension_value(repo: Repository, dimension: str, value: str) -> None:
    pk, sk = reports_dal.dimension_key(dimension, value)
    if isinstance(repo, reports_fake.MemoryReports):
        repo.table.transact([table_fake.delete_op((pk, sk), "value", lambda _: True)])
    else:
        ReportDimensionItem(pk, sk).delete()


# -- sealed days (decision 112) --------------------------------------------------------------------


def test_sealing_a_day_keeps_what_it_reads_and_a_late_change_adds_to_it(repo: Repository) -> None:
    # Given a day with two first responses and a count, and a day with none
    created = delta("all", "*", MON, c__created=2)
    assert repo.apply_ledger("t1", None, ledger(), [created, first_response(MON, 90)], [("all", "*")])
    assert repo.apply_ledger("t2", None, ledger(), [first_response(MON, 4000)], [])
    [before] = repo.report_days("all", "*", MON, TUE)
    # When the days are sealed
    outcome = repo.seal_days("all", "*", MON, TUE)
    # Then Monday is one sealed item (its sketches packed) that reads the same
    assert (outcome.sealed, outcome.contended) == (1, 0)
    [sealed] = repo.report_days("all", "*", MON, TUE)
    assert (sealed.durations, set(sealed.sealed)) == ({}, {("first_response", "cal")})
    assert sealed.unsealed() == before
    assert sealed.counts == {"created": 2, "first_response": 2}
    assert repo.seal_days("all", "*", MON, TUE).sealed == 0  # nothing live is left
    # When a late change takes the 90 s response out of the sealed Monday
    stored = repo.stored_ledger("t1")
    assert repo.apply_ledger("t1", stored, ledger(2), [first_response(MON, 90, -1)], [])
    # Then Monday reads the sealed day less the change (a live item with negative counts)
    [late] = repo.report_days("all", "*", MON, MON)
    assert late.counts == {"created": 2, "first_response": 1}
    assert late.sketch("first_response", "cal") == DurationSketch().add(4000)
    # And sealing it again folds the change in
    assert repo.seal_days("all", "*", MON, MON).sealed == 1
    [again] = repo.report_days("all", "*", MON, MON)
    assert (again.durations, again.unsealed()) == ({}, late.unsealed())


def test_a_day_written_while_it_is_sealed_is_left_whole_for_the_next_run(
    repo: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a day, and a change that lands after the sealing read the day and before it wrote
    assert repo.apply_ledger("t1", None, ledger(), [first_response(MON, 90)], [("all", "*")])
    real_seal = reports_model.seal

    def seal_with_a_write_in_between(day: ReportDay) -> bytes:
        blob = real_seal(day)
        assert repo.apply_ledger("t2", None, ledger(), [first_response(MON, 30)], [])
        return blob

    monkeypatch.setattr(reports_dal, "seal", seal_with_a_write_in_between)
    monkeypatch.setattr(reports_fake, "seal", seal_with_a_write_in_between)
    # When the day is sealed
    outcome = repo.seal_days("all", "*", MON, MON)
    # Then nothing is sealed, and both responses are still counted
    assert (outcome.sealed, outcome.contended) == (0, 1)
    monkeypatch.setattr(reports_dal, "seal", real_seal)
    monkeypatch.setattr(reports_fake, "seal", real_seal)
    [day] = repo.report_days("all", "*", MON, MON)
    assert (day.sealed, day.counts) == ({}, {"first_response": 2})
    # And the next run seals both
    assert repo.seal_days("all", "*", MON, MON).sealed == 1
    [sealed] = repo.report_days("all", "*", MON, MON)
    assert sealed.sketch("first_response", "cal") == DurationSketch().add(90).add(30)


def test_a_value_whose_sum_is_corrupt_is_reported_and_the_others_are_still_sealed(repo: Repository) -> None:
    # Given a team whose day holds a negative count (what no sum of ledgers gives) and a sound one
    bad = delta("team", "broken", MON, c__created=-1)
    assert repo.apply_ledger("t1", None, ledger(), [bad, delta("team", "sound", MON, c__created=1)], [])
    assert repo.apply_ledger("t2", None, ledger(), [], [("team", "broken"), ("team", "sound")])
    # When the reports are sealed
    totals = seal_reports(repo, MON, TUE)
    # Then the sound value is sealed, the corrupt one is named and left live (still readable)
    assert (totals.sealed, list(totals.failed)) == (1, ["team:broken"])
    assert "negative" in totals.failed["team:broken"]
    assert repo.report_days("team", "broken", MON, MON)[0].counts == {"created": -1}
