"""simulator/moto_speed.py: moto answers the same with its speed-ups as without them.

One table (a range key, an index, a stream) holds items of every attribute type, nested maps and
lists, binary values and sets; each read is made without the patches, then with them, and the
parsed answers compared whole.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from simulator.moto_speed import faster_moto

REGION = "us-east-1"
TABLE = "speed"


def _items() -> list[dict[str, Any]]:
    items = []
    for n in range(12):
        items.append(
            {
                "pk": {"S": f"P#{n % 3}"},
                "sk": {"S": f"S#{n:03d}"},
                "gpk": {"S": f"G#{n % 2}"},
                "gsk": {"N": str(100 - n)},
                "text": {"S": f"word {n}"},
                "empty": {"S": ""},
                "number": {"N": f"{n}.5"},
                "blob": {"B": bytes([n, 255, 0])},
                "flag": {"BOOL": n % 2 == 0},
                "nothing": {"NULL": True},
                "words": {"SS": ["a", f"b{n}"]},
                "numbers": {"NS": ["1", str(n + 2)]},
                "blobs": {"BS": [b"\x00\x01", bytes([n + 7])]},
                "map": {
                    "M": {
                        "inner": {"M": {"deep": {"L": [{"N": "1"}, {"S": "x"}, {"B": b"\xfe"}]}}},
                        "none": {"M": {}},
                        "list": {"L": []},
                    }
                },
                "list": {"L": [{"M": {"k": {"BOOL": False}}}, {"NS": ["3", "4"]}, {"NULL": True}]},
            }
        )
    return items


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        ddb.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
                {"AttributeName": "gpk", "AttributeType": "S"},
                {"AttributeName": "gsk", "AttributeType": "N"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "gsi",
                    "KeySchema": [
                        {"AttributeName": "gpk", "KeyType": "HASH"},
                        {"AttributeName": "gsk", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        for item in _items():
            ddb.put_item(TableName=TABLE, Item=item)
        ddb.update_item(
            TableName=TABLE,
            Key={"pk": {"S": "P#0"}, "sk": {"S": "S#000"}},
            UpdateExpression="ADD #c :one REMOVE #b",
            ExpressionAttributeNames={"#c": "count", "#b": "blob"},
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
        ddb.delete_item(TableName=TABLE, Key={"pk": {"S": "P#1"}, "sk": {"S": "S#004"}})
        yield ddb


def _reads(ddb: Any) -> dict[str, Any]:
    """Every kind of read the simulator makes, each answer without its request metadata."""
    streams: Any = boto3.client("dynamodbstreams", region_name=REGION)
    arn = ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    [shard] = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    keys = [{"pk": {"S": "P#0"}, "sk": {"S": f"S#{n:03d}"}} for n in (0, 3, 6)]
    calls: dict[str, Callable[[], dict[str, Any]]] = {
        "query": lambda: ddb.query(
            TableName=TABLE,
            KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
            ExpressionAttributeValues={":p": {"S": "P#1"}, ":a": {"S": "S#001"}, ":b": {"S": "S#010"}},
        ),
        "query page": lambda: ddb.query(
            TableName=TABLE,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "P#2"}},
            Limit=2,
            ScanIndexForward=False,
            ExclusiveStartKey={"pk": {"S": "P#2"}, "sk": {"S": "S#011"}},
        ),
        "index query": lambda: ddb.query(
            TableName=TABLE,
            IndexName="gsi",
            KeyConditionExpression="gpk = :g AND gsk < :n",
            ExpressionAttributeValues={":g": {"S": "G#1"}, ":n": {"N": "97"}},
        ),
        "get": lambda: ddb.get_item(TableName=TABLE, Key=keys[0]),
        "batch get": lambda: ddb.batch_get_item(RequestItems={TABLE: {"Keys": keys}}),
        "scan": lambda: ddb.scan(TableName=TABLE, Limit=5),
        "stream": lambda: streams.get_records(ShardIterator=iterator),
    }
    answers = {}
    for name, call in calls.items():
        answer = call()
        answer.pop("ResponseMetadata", None)
        answer.pop("NextShardIterator", None)  # a new random iterator each time
        answers[name] = answer
    return answers


def test_reads_answer_the_same_with_the_speed_ups(client: Any) -> None:
    # Given a table written with every attribute type, updates and a delete
    # When each read is made without the patches, then with them
    plain = _reads(client)
    with faster_moto():
        fast = _reads(client)
    # Then every answer is the same, and holds what was written
    assert fast == plain
    assert plain["get"]["Item"]["blobs"] == {"BS": [b"\x00\x01", b"\x07"]}
    assert plain["get"]["Item"]["map"]["M"]["inner"]["M"]["deep"]["L"][2] == {"B": b"\xfe"}
    assert [i["sk"]["S"] for i in plain["query"]["Items"]] == ["S#001", "S#007", "S#010"]
    assert [i["gsk"]["N"] for i in plain["index query"]["Items"]] == ["89", "91", "93", "95"]
    assert len(plain["stream"]["Records"]) == 14


def test_a_query_on_the_table_sees_only_its_partition_and_an_index_query_every_item(client: Any) -> None:
    # Given moto's walk of the table, watched
    from moto.dynamodb.models.table import Table

    walked: list[int] = []
    with faster_moto():
        original = Table.all_items

        def all_items(table: Any) -> list[Any]:
            found = original(table)
            walked.append(len(found))
            return found

        with _patched(Table, "all_items", all_items):
            # When the table and the index are queried
            client.query(
                TableName=TABLE,
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": "P#0"}},
            )
            client.query(
                TableName=TABLE,
                IndexName="gsi",
                KeyConditionExpression="gpk = :g",
                ExpressionAttributeValues={":g": {"S": "G#0"}},
            )
    # Then the first walk is the partition's 4 items, the second the table's 11
    assert walked == [4, 11]


@contextlib.contextmanager
def _patched(owner: Any, name: str, value: Any) -> Iterator[None]:
    saved = owner.__dict__[name]
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, saved)
