"""A stream record a projection (the agents' views, the search index) cannot store, ever: DynamoDB
refused the write for good (an entry over 400 KB, an invalid attribute). Retrying it would only hold
up its shard for five tries before the failure queue; instead it is kept in the quarantine with its
raw form and the reason, counted (`InputQuarantined` raises the quarantine alarm), and the rest of the
record's work (routing, the other projection) and of its batch goes on. Once the cause is fixed,
`helpdesk index rebuild` projects the ticket again."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from shared.dal.quarantine import QuarantineWrites
from shared.logic.quarantine import quarantine_input
from shared.models.ticket import Channel

STREAM_RECORD: Final = "stream_record"
"""`details["kind"]` of a quarantined stream record: kept for diagnosis, never released."""


def quarantine_stream_record(
    repository: QuarantineWrites, record: Mapping[str, Any], projection: str, reason: str, at: datetime
) -> bool:
    """Keep the stream `record` (as Lambda delivered it) that `projection` could not store, once per
    record and projection; False when it was kept before (a redelivered batch).

    Raises KeyError or ValueError when the record names no channel: it is then retried like any
    other failure and ends in the failure queue, which alarms too."""
    change = record["dynamodb"]
    image = change.get("NewImage") or change.get("OldImage") or {}
    channel = Channel(image["channel"]["S"])
    keys = change["Keys"]
    ref = f"{keys['pk']['S']} {keys['sk']['S']} @{change.get('SequenceNumber', '?')}"
    return quarantine_input(
        repository,
        channel=channel,
        reason=f"{projection}-refused",
        ref=ref,
        at=at,
        raw=json.dumps(record, sort_keys=True, default=str),
        dedupe_key=f"{projection}#{record.get('eventID') or ref}",
        details={
            "kind": STREAM_RECORD,
            "projection": projection,
            "error": reason[:1_000],
            "event_name": record.get("eventName"),
        },
    )
