"""Which refused DynamoDB writes may be retried and which are permanent."""

from __future__ import annotations

import pytest
from pynamodb.exceptions import (
    CancellationReason,
    PutError,
    TransactWriteError,
    UpdateError,
    VerboseClientError,
)

from shared.dal.base import permanent_reason
from shared.dal.pointers import MAX_KEY_VALUE_BYTES, pointer_key


def _cancelled(*codes: str | None) -> TransactWriteError:
    reasons = [CancellationReason(code=code, message=f"{code} happened") if code else None for code in codes]
    cause = VerboseClientError(
        {"Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"}},
        "TransactWriteItems",
        cancellation_reasons=reasons,
    )
    return TransactWriteError("Failed to write transaction items", cause=cause)


def _refused(error: type[PutError] | type[UpdateError] | type[TransactWriteError], code: str) -> Exception:
    cause = VerboseClientError({"Error": {"Code": code, "Message": f"{code} message"}}, "PutItem")
    return error("failed", cause=cause)


@pytest.mark.parametrize(
    "codes",
    [
        (None, "ConditionalCheckFailed"),
        ("TransactionConflict", None),
        (None, "ThrottlingError", None),
        ("ProvisionedThroughputExceeded",),
        (None, None),
    ],
)
def test_races_conflicts_and_throttling_may_be_retried(codes: tuple[str | None, ...]) -> None:
    assert permanent_reason(_cancelled(*codes)) is None


@pytest.mark.parametrize(
    "codes",
    [
        (None, "ValidationError"),
        ("ItemCollectionSizeLimitExceeded", None),
        ("ConditionalCheckFailed", "ValidationError"),
        (None, "UnicodeEncodeError"),  # moto's report of a string DynamoDB cannot store
    ],
)
def test_every_other_cancellation_reason_is_permanent(codes: tuple[str | None, ...]) -> None:
    reason = permanent_reason(_cancelled(*codes))
    assert reason is not None
    assert next(code for code in codes if code and code != "ConditionalCheckFailed") in reason


@pytest.mark.parametrize("error", [PutError, UpdateError, TransactWriteError])
@pytest.mark.parametrize("code", ["ValidationException", "SerializationException"])
def test_validation_of_the_whole_request_is_permanent(
    error: type[PutError] | type[UpdateError] | type[TransactWriteError], code: str
) -> None:
    reason = permanent_reason(_refused(error, code))  # type: ignore[arg-type]
    assert reason is not None
    assert reason.startswith(code)


@pytest.mark.parametrize(
    "code", ["ProvisionedThroughputExceededException", "ThrottlingException", "InternalServerError"]
)
def test_throttling_and_server_errors_may_be_retried(code: str) -> None:
    assert permanent_reason(_refused(PutError, code)) is None  # type: ignore[arg-type]


def test_a_failure_without_a_response_may_be_retried() -> None:
    assert permanent_reason(PutError("connection reset")) is None


def test_pointer_keys_stay_readable_while_short_and_bounded_when_long() -> None:
    assert pointer_key("ref", "<a@b.example>") == "PTR#ref#<a@b.example>"
    long_id = "<" + "x" * 3000 + "@b.example>"
    key = pointer_key("ref", long_id)
    assert len(key.encode()) < 100 + MAX_KEY_VALUE_BYTES
    assert key == pointer_key("ref", long_id)
    assert key != pointer_key("ref", long_id + "y")
    # a lone surrogate cannot be stored in a key: it is keyed by its digest too
    assert pointer_key("identity", "sms#\ud800").startswith("PTR#identity#sha256:")
