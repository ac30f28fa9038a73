"""Ticket events and metric ledgers as analytics rows and objects (shared/logic/analytics_export.py),
and the Glue tables of template.yaml that read them."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from shared.logic.analytics_export import event_row, export_objects, ledger_row, object_key, rejected_row
from shared.logic.metrics.contributions import contributions
from shared.models.analytics import EventChange, EventRow, LedgerChange, LedgerRow, StreamPosition
from shared.models.ticket import TicketEvent
from simulator.template import load_template
from tests.unit.test_metrics_ledger import resolved_and_reopened

ROOT = Path(__file__).resolve().parents[2]
WRITTEN = datetime(2026, 3, 4, 23, 59, 59, 500_000, tzinfo=UTC)
POSITION = StreamPosition(sequence="1100000000017454423018", written_at=WRITTEN)


def _event_change(data: dict[str, Any]) -> EventChange:
    event = TicketEvent(at=datetime(2026, 3, 2, 23, 30, tzinfo=UTC), type="escalated", data=data)
    sort_key = "EVENT#2026-03-02T23:30:00.000Z#evt_1#000"
    return EventChange(ticket_id="tkt-1", sort_key=sort_key, event=event, position=POSITION)


def test_an_event_row_has_a_unique_id_its_utc_day_and_its_data_as_json() -> None:
    placed = event_row(_event_change({"level": 2, "by": "alice"}))

    assert (placed.dataset, placed.dt) == ("events", "2026-03-02")
    row = placed.row
    assert isinstance(row, EventRow)
    assert row.event_id == "tkt-1/2026-03-02T23:30:00.000Z#evt_1#000"
    assert (row.type, row.at, row.actor) == ("escalated", "2026-03-02T23:30:00.000Z", "alice")
    assert json.loads(row.data) == {"level": 2, "by": "alice"}
    assert row.sequence == "0" * 18 + "1100000000017454423018"
    assert len(row.sequence) == 40


def test_an_event_without_an_agent_has_no_actor() -> None:
    row = event_row(_event_change({"level": 1})).row
    assert isinstance(row, EventRow)
    assert row.actor is None


def test_a_ledger_row_carries_the_facts_and_every_contribution_of_the_ledger() -> None:
    ledger = resolved_and_reopened().ledger()

    placed = ledger_row(LedgerChange(ticket_id="tkt-1", ledger=ledger, rev=3, position=POSITION))

    assert placed is not None
    assert (placed.dataset, placed.dt) == ("ledgers", "2026-03-04")
    row = placed.row
    assert isinstance(row, LedgerRow)
    assert (row.rev, row.removed, row.team, row.channel, row.timezone) == (
        3,
        False,
        "support",
        "email",
        "Europe/Berlin",
    )
    measured = [(m.day, m.metric, m.agent, m.calendar_seconds, m.business_seconds) for m in row.measures]
    expected = [
        (c.day, c.metric, c.agent, c.calendar_seconds, c.business_seconds) for c in contributions(ledger)
    ]
    assert measured == expected
    # example 3 of docs/metrics.md: first resolution 1.5 h on Monday, full resolution 2.5 h on Wednesday
    durations = {(m.metric, m.day): m.calendar_seconds for m in row.measures if m.calendar_seconds}
    assert durations[("first_resolution", date(2026, 3, 2))] == 1.5 * 3600
    assert durations[("full_resolution", date(2026, 3, 4))] == 2.5 * 3600


def test_no_ledger_row_while_an_apply_is_pending_or_before_a_ledger_is_stored() -> None:
    ledger = resolved_and_reopened().ledger()
    pending = LedgerChange(ticket_id="tkt-1", ledger=ledger, rev=3, pending=True, position=POSITION)
    empty = LedgerChange(ticket_id="tkt-1", ledger=None, position=POSITION)

    assert ledger_row(pending) is None
    assert ledger_row(empty) is None


def test_a_removed_ledger_is_a_row_that_counts_nowhere() -> None:
    placed = ledger_row(LedgerChange(ticket_id="tkt-1", ledger=None, removed=True, position=POSITION))

    assert placed is not None
    assert isinstance(placed.row, LedgerRow)
    assert (placed.row.removed, placed.row.measures, placed.row.team) == (True, [], None)


def test_objects_are_one_per_dataset_and_day_and_the_same_rows_give_the_same_bytes() -> None:
    ledger = resolved_and_reopened().ledger()
    placed = [
        event_row(_event_change({"level": 1})),
        ledger_row(LedgerChange(ticket_id="tkt-1", ledger=ledger, rev=1, position=POSITION)),
        event_row(_event_change({"level": 2})),
    ]
    rows = [p for p in placed if p is not None]

    first = export_objects(rows, "17", "1100000000017454423018")
    again = export_objects(rows, "17", "1100000000017454423018")

    assert [o.key for o in first] == [
        object_key("events", "2026-03-02", "17", "1100000000017454423018"),
        object_key("ledgers", "2026-03-04", "17", "1100000000017454423018"),
    ]
    assert first[0].key == (
        "events/dt=2026-03-02/"
        + "17".rjust(40, "0")
        + "-"
        + "1100000000017454423018".rjust(40, "0")
        + ".json.gz"
    )
    assert [o.body for o in first] == [o.body for o in again]
    lines = gzip.decompress(first[0].body).decode().splitlines()
    assert [json.loads(line)["data"] for line in lines] == ['{"level": 1}', '{"level": 2}']
    assert first[0].rows == 2


def test_a_rejected_record_keeps_its_raw_form_and_reason() -> None:
    placed = rejected_row('{"eventID": "e1"}', "InvalidEventError: unreadable", "e1", WRITTEN)

    assert (placed.dataset, placed.dt) == ("rejected", "2026-03-04")
    assert placed.row.model_dump() == {
        "event_id": "e1",
        "reason": "InvalidEventError: unreadable",
        "record": '{"eventID": "e1"}',
        "written_at": "2026-03-04T23:59:59.500Z",
    }


def _glue_columns(logical_id: str) -> list[str]:
    resources = load_template(ROOT / "template.yaml")["Resources"]
    table = resources[logical_id]["Properties"]["TableInput"]
    return [c["Name"] for c in table["StorageDescriptor"]["Columns"]]


def test_the_glue_tables_declare_exactly_the_columns_written() -> None:
    assert _glue_columns("AnalyticsEventsTable") == list(EventRow.model_fields)
    assert _glue_columns("AnalyticsLedgersTable") == list(LedgerRow.model_fields)


def test_the_glue_tables_read_the_prefixes_the_consumer_writes_by_projection() -> None:
    resources = load_template(ROOT / "template.yaml")["Resources"]
    for logical_id, prefix in (("AnalyticsEventsTable", "events"), ("AnalyticsLedgersTable", "ledgers")):
        table = resources[logical_id]["Properties"]["TableInput"]
        assert table["StorageDescriptor"]["Location"] == {"Fn::Sub": f"s3://${{AnalyticsBucket}}/{prefix}/"}
        parameters = table["Parameters"]
        assert parameters["projection.enabled"] == "true"
        assert parameters["storage.location.template"] == {
            "Fn::Sub": f"s3://${{AnalyticsBucket}}/{prefix}/dt=${{!dt}}/"
        }
        assert [k["Name"] for k in table["PartitionKeys"]] == ["dt"]
