"""The key-heat simulation's size and capacity maths, its key classification and allow-list.

The examples are AWS's: "DynamoDB item sizes and formats" and "DynamoDB read and write operations"
in the DynamoDB developer guide
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html), and
"Provisioned throughput considerations for Global Secondary Indexes" (GSI.html#GSI.ThroughputConsiderations).
"""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.heat.analysis import (
    Finding,
    _sharded_peaks,
    apply_allowances,
    classify,
    key_pattern,
    percentile,
    shard_family,
    sliding_max,
)
from benchmarks.heat.recorder import item_kind, query_partition
from benchmarks.heat.sizes import (
    IndexSpec,
    batch_read_units,
    index_entry_size,
    index_writes,
    item_size,
    number_size,
    python_item,
    read_units,
    value_size,
    write_units,
)

KB = 1024


def test_strings_are_name_plus_utf8_bytes() -> None:
    # Given a string attribute with a multi-byte character; then name bytes + UTF-8 bytes
    assert item_size({"name": {"S": "café"}}) == 4 + 5


def test_numbers_take_a_byte_per_two_significant_digits_plus_one() -> None:
    assert number_size("2099") == 3  # 4 digits -> 2 bytes + 1
    assert number_size("12345") == 4  # 5 digits -> 3 bytes + 1
    assert number_size("0.0012300") == 3  # leading and trailing zeros trimmed: 123
    assert number_size("-7") == 2
    assert number_size("1000") == 2  # trailing zeros trimmed: 1


def test_binary_null_and_boolean() -> None:
    assert item_size({"b": {"B": b"\x00\x01\x02"}}) == 1 + 3
    assert item_size({"flag": {"BOOL": True}, "none": {"NULL": True}}) == (4 + 1) + (4 + 1)


def test_lists_and_maps_cost_three_bytes_and_one_per_element() -> None:
    # Given an empty list and a map of two strings
    assert item_size({"l": {"L": []}}) == 1 + 3
    nested = {"m": {"M": {"a": {"S": "xy"}, "bb": {"S": "z"}}}}
    # Then 3 bytes + per element (name + value + 1)
    assert item_size(nested) == 1 + 3 + (1 + 2 + 1) + (2 + 1 + 1)
    assert value_size({"L": [{"S": "ab"}, {"N": "5"}]}) == 3 + (2 + 1) + (2 + 1)


def test_an_item_of_strings_and_a_number() -> None:
    # Given eight attributes as a published item-size calculator example sizes them (141 bytes)
    item = {
        "itemType": {"S": "SLOT"},
        "id": {"S": "abc1231"},
        "hostName": {"S": "Harry Mason"},
        "timeSlot": {"S": "February 23, 1999"},
        "slotStatus": {"S": "OPEN"},
        "createdAt": {"S": "February 1, 1999"},
        "updatedAt": {"S": "February 1, 1999"},
        "expiresAt": {"N": "2099"},
    }
    assert item_size(item) == 141


def test_read_units_aws_examples() -> None:
    # "reading a 3,500-byte item consumes the same throughput as reading a 4 KB item"
    assert read_units(3500, consistent=True) == 1
    # "an 8 KB item: 2 read units strongly consistent, 1 eventually consistent, 4 transactional"
    assert read_units(8 * KB, consistent=True) == 2
    assert read_units(8 * KB) == 1
    assert read_units(8 * KB, transactional=True) == 4
    # "If you read a 10 KB item, DynamoDB rounds the item size to 12 KB"
    assert read_units(10 * KB, consistent=True) == 3
    # BatchGetItem of 1.5 KB and 6.5 KB items is 12 KB (4 KB + 8 KB), not 8 KB
    assert batch_read_units([int(1.5 * KB), int(6.5 * KB)], consistent=True) == 3
    # Query: 10 items totalling 40.8 KB are rounded once, to 44 KB
    assert read_units(int(40.8 * KB), consistent=True) == 11


def test_write_units_aws_examples() -> None:
    # "if you put or delete an item of 1.6 KB, DynamoDB rounds the item size up to 2 KB"
    assert write_units(int(1.6 * KB)) == 2
    assert write_units(500) == 1
    assert write_units(0) == 1  # a write costs at least one unit
    # a transactional write of up to 1 KB takes 2 write units
    assert write_units(KB, transactional=True) == 2


INDEX = IndexSpec("gsi2", "gsi2pk", "gsi2sk")
KEYS = ("pk", "sk")


def _ticket(**extra: str) -> dict[str, dict[str, str]]:
    return python_item({"pk": "TICKET#t1", "sk": "TICKET", "status": "open", **extra})


def test_index_entry_is_the_projection_plus_100_bytes() -> None:
    item = _ticket(gsi2pk="SLADUE#1", gsi2sk="2026#t1")
    assert index_entry_size(item) == item_size(item) + 100


def test_index_writes_follow_the_item_in_and_out_of_the_index() -> None:
    outside = _ticket()
    inside = _ticket(gsi2pk="SLADUE#1", gsi2sk="2026#t1")
    moved = _ticket(gsi2pk="SLADUE#1", gsi2sk="2027#t1")
    # Not in the index before or after: no index write
    assert index_writes(outside, _ticket(status="pending"), INDEX, KEYS) == []
    # Into the index: a put on its partition
    assert [(w.kind, w.partition) for w in index_writes(outside, inside, INDEX, KEYS)] == [
        ("put", "SLADUE#1")
    ]
    # The index key changes: a delete and a put (two writes)
    assert [w.kind for w in index_writes(inside, moved, INDEX, KEYS)] == ["delete", "put"]
    # A projected attribute changes, the key does not: one update
    changed = _ticket(gsi2pk="SLADUE#1", gsi2sk="2026#t1", status="pending")
    assert [w.kind for w in index_writes(inside, changed, INDEX, KEYS)] == ["update"]
    # Out of the index (deleted item or removed key): a delete
    assert [w.kind for w in index_writes(inside, None, INDEX, KEYS)] == ["delete"]
    # Unchanged: nothing
    assert index_writes(inside, dict(inside), INDEX, KEYS) == []


def test_keys_only_projection_ignores_other_attributes() -> None:
    keys_only = IndexSpec("k", "gsi2pk", "gsi2sk", "KEYS_ONLY")
    inside = _ticket(gsi2pk="A", gsi2sk="1")
    changed = _ticket(gsi2pk="A", gsi2sk="1", status="closed")
    assert index_writes(inside, changed, keys_only, KEYS) == []


@pytest.mark.parametrize(
    ("resource", "key", "kind", "pattern"),
    [
        ("TicketsTable", "TICKET#tkt_01", "entity", "TICKET#*"),
        ("TicketsTable", "CUSTOMER#cus_01", "entity", "CUSTOMER#*"),
        ("TicketsTable", "PTR#email#a@b.example", "entity", "PTR#*"),
        ("TicketsTable", "OUTBOX#ack#tkt_01", "entity", "OUTBOX#*"),
        ("TicketsTable/gsi1", "CUSTOMER#cus_01", "entity", "CUSTOMER#*"),
        ("TicketsTable/gsi1", "OUTBOX", "shared", "OUTBOX"),
        ("TicketsTable/gsi2", "SLADUE#3", "shared", "SLADUE#3"),
        ("TicketsTable/gsi2", "QUARANTINE#spam", "shared", "QUARANTINE#spam"),
        ("TicketsTable", "COUNTER#tickets", "shared", "COUNTER#tickets"),
        ("TicketsTable", "VIEW#-#open", "shared", "VIEW#-#open"),
        ("TicketsTable", "AGENT#alice", "shared", "AGENT#alice"),
    ],
)
def test_key_classification(resource: str, key: str, kind: str, pattern: str) -> None:
    assert classify(resource, key) == kind
    assert key_pattern(resource, key) == pattern


def test_a_sharded_family_is_reported_as_one_shards_share_of_its_traffic() -> None:
    # Given two shards of a view busy in different seconds, and an unsharded key
    assert shard_family("TicketsTable", "VIEW#mail#open#3") == "VIEW#mail#open"
    assert shard_family("TicketsTable", "VIEW#@alice#mine#0") == "VIEW#@alice#mine"
    assert shard_family("TicketsTable", "SLADUE#3") is None
    assert shard_family("TicketsTable/gsi2", "VIEW#mail#open#3") is None
    assert shard_family("TicketsTable/gsi2", "OUTBOXPENDING#7") == "OUTBOXPENDING"
    assert shard_family("TicketsTable/gsi2", "OUTBOXPENDING") is None  # the unsharded key of old items
    assert shard_family("TicketsTable", "OUTBOX#ack#t1") is None
    wcu = {
        ("TicketsTable", "VIEW#mail#open#0"): {0: 4.0, 1: 4.0},
        ("TicketsTable", "VIEW#mail#open#1"): {1: 8.0},
        ("TicketsTable", "COUNTER#tickets"): {0: 1.0},
    }
    # When scaled at f = 0.5 over 4 shards with a 2-s window
    (peak,) = _sharded_peaks(wcu, {}, window=2, f=0.5, shards=4)
    # Then the family's busiest 2-s mean (16 / 2) x 1/f, over the 4 shards
    assert (peak.key, peak.kind, peak.wcu, peak.rcu, peak.keys) == (
        "VIEW#mail#open#*",
        "sharded",
        4.0,
        0.0,
        4,
    )


def test_the_outbox_families_spread_over_the_outbox_shards() -> None:
    # Given two outbox shards of one state busy in one second
    wcu = {
        ("TicketsTable/gsi2", "OUTBOXSENDING#0"): {0: 3.0},
        ("TicketsTable/gsi2", "OUTBOXSENDING#9"): {0: 3.0},
    }
    # When scaled at f = 0.5 with a 1-s window (the views' shard count does not apply)
    (peak,) = _sharded_peaks(wcu, {}, window=1, f=0.5, shards=4)
    # Then the family's 6 units x 1/f, over the outbox's 32 shards
    assert (peak.key, peak.wcu, peak.keys) == ("OUTBOXSENDING#*", 12.0 / 32, 32)


def test_sliding_max_is_the_busiest_window_mean() -> None:
    series = {0: 10.0, 1: 0.0, 5: 30.0, 6: 30.0, 20: 5.0}
    assert sliding_max(series, 1) == 30.0
    assert sliding_max(series, 2) == 30.0  # seconds 5 and 6
    assert sliding_max(series, 10) == 7.0  # seconds 0..9: 70 / 10
    assert sliding_max({}, 5) == 0.0


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 99) == 99.0
    assert percentile([3.0], 99) == 3.0


def test_allowances_mark_violations_and_report_stale_entries() -> None:
    # Given two violations and three entries, one matching nothing, one timed on moto
    findings = [
        Finding("partition-wcu", "TicketsTable VIEW#-#open", 2000, 1000, "WCU/s"),
        Finding("partition-wcu-half", "TicketsTable VIEW#-#open", 2000, 500, "WCU/s"),
        Finding("partition-wcu", "TicketsTable TICKET#*", 3, 1000, "WCU/s"),
    ]
    allowed: list[dict[str, Any]] = [
        {"check": "partition-wcu*", "subject": "TicketsTable VIEW#*", "fix": "views"},
        {"check": "partition-rcu", "subject": "*", "fix": "gone"},
        {"check": "lambda-concurrency", "subject": "*", "fix": "timed", "may_pass": True},
    ]
    # When they are applied
    stale = apply_allowances(findings, allowed)
    # Then both view violations are allowed, the passing key is not marked, and only the unused,
    # untimed entry is stale
    assert [f.allowed_by for f in findings] == ["views", "views", None]
    assert stale == [allowed[1]]


def test_query_partition_reads_the_key_condition() -> None:
    params = {
        "KeyConditionExpression": "#0 = :0 AND #1 <= :1",
        "ExpressionAttributeNames": {"#0": "gsi2pk", "#1": "gsi2sk"},
        "ExpressionAttributeValues": {":0": {"S": "SLADUE#2"}, ":1": {"S": "2026"}},
    }
    assert query_partition(params, "gsi2pk") == "SLADUE#2"
    assert (
        query_partition(
            {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "X"}}}, "pk"
        )
        == "X"
    )


def test_item_kind() -> None:
    assert item_kind("MSG#2026-03-02#msg_1") == "MSG"
    assert item_kind("TICKET") == "TICKET"
    assert item_kind("2026-03-02T09:00:00Z#1") == ""
