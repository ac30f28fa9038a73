"""Lambda / EventBridge content filtering as the simulator applies it to stream records."""

from __future__ import annotations

import pytest

from simulator.filters import FilterPatternError, matches, matches_any, parse_pattern

RECORD = {
    "eventName": "MODIFY",
    "eventSource": "aws:dynamodb",
    "dynamodb": {
        "Keys": {"pk": {"S": "TICKET#tkt_1"}, "sk": {"S": "TICKET"}},
        "NewImage": {
            "status": {"S": "open"},
            "priority": {"S": "High"},
            "number": {"N": "42"},
            "tags": {"L": [{"S": "vip"}, {"S": "billing"}]},
            "attachment": {"S": "invoice.PDF"},
        },
        "OldImage": {"status": {"S": "new"}},
    },
}


def match(pattern: str) -> bool:
    return matches(parse_pattern(pattern), RECORD)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ('{"eventName": ["MODIFY"]}', True),
        ('{"eventName": ["INSERT", "MODIFY"]}', True),
        ('{"eventName": ["INSERT"]}', False),
        ('{"dynamodb": {"NewImage": {"status": {"S": ["open"]}}}}', True),
        ('{"dynamodb": {"NewImage": {"status": {"S": ["closed"]}}}}', False),
        ('{"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "TICKET#"}]}}}}', True),
        ('{"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "CUSTOMER#"}]}}}}', False),
        ('{"dynamodb": {"NewImage": {"attachment": {"S": [{"suffix": ".PDF"}]}}}}', True),
        (
            '{"dynamodb": {"NewImage": {"attachment": {"S": [{"suffix": {"equals-ignore-case": ".pdf"}}]}}}}',
            True,
        ),
        ('{"dynamodb": {"NewImage": {"attachment": {"S": [{"suffix": ".pdf"}]}}}}', False),
        ('{"dynamodb": {"NewImage": {"priority": {"S": [{"equals-ignore-case": "high"}]}}}}', True),
        ('{"dynamodb": {"NewImage": {"status": {"S": [{"anything-but": ["closed", "resolved"]}]}}}}', True),
        ('{"dynamodb": {"NewImage": {"status": {"S": [{"anything-but": "open"}]}}}}', False),
        ('{"dynamodb": {"NewImage": {"status": {"S": [{"anything-but": {"prefix": "op"}}]}}}}', False),
        ('{"dynamodb": {"NewImage": {"number": {"N": [{"numeric": [">", 40, "<=", 42]}]}}}}', True),
        ('{"dynamodb": {"NewImage": {"number": {"N": [{"numeric": ["=", 41]}]}}}}', False),
        ('{"dynamodb": {"NewImage": {"status": {"S": [{"exists": true}]}}}}', True),
        ('{"dynamodb": {"NewImage": {"team": [{"exists": false}]}}}', True),
        ('{"dynamodb": {"NewImage": {"status": [{"exists": false}]}}}', False),
        ('{"dynamodb": {"NewImage": {"status": [{"exists": true}]}}}', False),  # leaf nodes only
        ('{"dynamodb": {"NewImage": {"attachment": {"S": [{"wildcard": "*.PDF"}]}}}}', True),
        ('{"dynamodb": {"NewImage": {"tags": {"L": {"S": ["vip"]}}}}}', True),  # any element of a list
        ('{"dynamodb": {"NewImage": {"team": {"S": ["support"]}}}}', False),  # missing field
        (
            '{"$or": [{"eventName": ["INSERT"]}, {"dynamodb": {"OldImage": {"status": {"S": ["new"]}}}}]}',
            True,
        ),
    ],
)
def test_pattern_matches_record_like_lambda(pattern: str, expected: bool) -> None:
    # Given a DynamoDB stream record and a FilterCriteria pattern, When matched, Then as Lambda decides
    assert match(pattern) is expected


def test_every_key_of_a_pattern_must_match() -> None:
    pattern = '{"eventName": ["MODIFY"], "dynamodb": {"NewImage": {"status": {"S": ["closed"]}}}}'
    assert match(pattern) is False


def test_filters_are_or_ed_and_no_filter_lets_everything_through() -> None:
    insert_only = parse_pattern('{"eventName": ["INSERT"]}')
    modify_only = parse_pattern('{"eventName": ["MODIFY"]}')
    assert matches_any([insert_only, modify_only], RECORD)
    assert not matches_any([insert_only], RECORD)
    assert matches_any([], RECORD)


def test_exact_values_are_type_aware() -> None:
    event = {"count": 5, "flag": True, "none": None, "text": "5"}
    assert matches(parse_pattern('{"count": [5]}'), event)
    assert matches(parse_pattern('{"count": [5.0]}'), event)
    assert not matches(parse_pattern('{"text": [5]}'), event)
    assert not matches(parse_pattern('{"flag": [1]}'), event)
    assert matches(parse_pattern('{"flag": [true]}'), event)
    assert matches(parse_pattern('{"none": [null]}'), event)
    assert not matches(parse_pattern('{"missing": [null]}'), event)


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ('{"eventName": "INSERT"}', "must be in a list"),
        ("[1, 2]", "non-empty JSON object"),
        ("{not json", "not valid JSON"),
        ('{"eventName": []}', "empty list"),
        ('{"a": [{"startsWith": "x"}]}', "unknown operator"),
        ('{"a": [{"numeric": [">>", 1]}]}', "unknown numeric operator"),
        ('{"a": [{"numeric": ["<", 1, ">", 5]}]}', "numeric range"),
        ('{"a": [{"exists": "yes"}]}', "exists takes true or false"),
        ('{"a": [{"cidr": "10.0.0.0/24"}]}', "not supported"),
        ('{"$or": [{"a": ["x"]}]}', "at least two patterns"),
    ],
)
def test_invalid_patterns_are_refused_with_the_reason(pattern: str, problem: str) -> None:
    with pytest.raises(FilterPatternError, match=problem):
        parse_pattern(pattern)
