"""The key-heat recorder counts what DynamoDB would charge: known writes and reads on the template's
table, by hand; and one inbound email through the real handler, against the table's stream."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto.dynamodb.models import dynamodb_backends

from benchmarks.heat.recorder import Recorder
from benchmarks.heat.sizes import item_size, python_item, write_units
from shared import clock
from simulator.resources import Deployment
from simulator.template import ACCOUNT_ID, REGION
from tests.integration.conftest import EmailHarness


def _recorder() -> Recorder:
    return Recorder(clock.now, lambda: dynamodb_backends[ACCOUNT_ID][REGION])


def _units(recorder: Recorder) -> dict[tuple[str, str], tuple[float, float]]:
    totals: dict[tuple[str, str], tuple[float, float]] = {}
    for (resource, partition, _), usage in recorder.usage.items():
        w, r = totals.get((resource.split("-", 1)[-1], partition), (0.0, 0.0))
        totals[(resource.split("-", 1)[-1], partition)] = (w + usage.wcu, r + usage.rcu)
    return totals


def test_known_writes_and_reads_cost_what_the_guide_says(deployment: Deployment) -> None:
    table = deployment.name("TicketsTable")
    client: Any = boto3.client("dynamodb", region_name=REGION)
    big = "x" * 1500  # the item is 1.5 KB and more: 2 write units, its index entry too
    item = {"pk": "TICKET#t1", "sk": "TICKET", "gsi2pk": "SLADUE#1", "gsi2sk": "2026-03-02#t1", "text": big}
    recorder = _recorder()
    with recorder.install():
        # Given a put into the table and gsi2
        client.put_item(TableName=table, Item=python_item(item))
        # When its gsi2 sort key moves (a delete and a put on the index), then a refused conditional put
        client.update_item(
            TableName=table,
            Key=python_item({"pk": "TICKET#t1", "sk": "TICKET"}),
            UpdateExpression="SET gsi2sk = :s",
            ExpressionAttributeValues={":s": {"S": "2026-03-03#t1"}},
        )
        with pytest.raises(client.exceptions.ConditionalCheckFailedException):
            client.put_item(
                TableName=table, Item=python_item(item), ConditionExpression="attribute_not_exists(pk)"
            )
        # And a transaction writes a small item; a Query reads the index partition
        client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": table,
                        "Item": python_item({"pk": "COUNTER#tickets", "sk": "COUNTER", "n": 1}),
                    }
                }
            ]
        )
        client.query(
            TableName=table,
            IndexName="gsi2",
            KeyConditionExpression="gsi2pk = :p",
            ExpressionAttributeValues={":p": {"S": "SLADUE#1"}},
        )
    units = _units(recorder)
    # Then: table put 2 + update 2 + refused put 2 (DynamoDB charges a failed condition)
    assert units[("ticketstable", "TICKET#t1")] == (6.0, 0.0)
    # gsi2: put 2, then delete 2 + put 2; the refused put costs the index nothing; the Query reads
    # one item of under 4 KB: half a unit, eventually consistent
    assert units[("ticketstable/gsi2", "SLADUE#1")] == (6.0, 0.5)
    # a transactional write of a small item: 2 units
    assert units[("ticketstable", "COUNTER#tickets")] == (2.0, 0.0)
    assert recorder.failed_writes == 1


def _stream_records(table_arn: str) -> list[dict[str, Any]]:
    streams: Any = boto3.client("dynamodbstreams", region_name=REGION)
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=table_arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=table_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            records += page["Records"]
            iterator = page.get("NextShardIterator") if page["Records"] else None
    return records


def test_an_inbound_email_through_the_handler_matches_its_stream_images(
    deployment: Deployment, email: EmailHarness
) -> None:
    # Given a new customer's mail delivered through the real inbound_email handler
    raw = (
        b"From: Jane <jane@customer.example>\r\nTo: support@support.example.com\r\nSubject: Printer\r\n"
        b"Message-ID: <heat-1@mail.customer.example>\r\nDate: Mon, 02 Mar 2026 10:00:00 +0000\r\n\r\nIt is broken.\r\n"
    )
    recorder = _recorder()
    with recorder.install():
        outcome = email.deliver(raw)
    assert outcome["outcome"] == "created"
    # When the ticket partition's write units are computed by hand from the stream's old and new
    # images (each record: the larger image, 1 KB steps; doubled when the handler wrote in a
    # transaction, which the stream does not say, so both bounds are taken)
    arn = deployment.stack.get_att("TicketsTable", "StreamArn")
    ticket_records = [
        r for r in _stream_records(arn) if r["dynamodb"]["Keys"]["pk"]["S"].startswith("TICKET#")
    ]
    assert ticket_records
    plain = sum(
        write_units(max(item_size(r["dynamodb"].get("OldImage")), item_size(r["dynamodb"].get("NewImage"))))
        for r in ticket_records
    )
    counted = sum(
        w
        for (resource, partition), (w, _) in _units(recorder).items()
        if resource == "ticketstable" and partition.startswith("TICKET#")
    )
    # Then the recorder's count lies between the plain and the all-transactional figure, and every
    # write it counted on the ticket's partition is in the stream (no refused writes there)
    assert plain <= counted <= 2 * plain
    assert counted >= len(ticket_records)
