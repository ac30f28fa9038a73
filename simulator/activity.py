"""What the application wrote while a step ran, read from the table's stream.

The stream pump keeps every record it read. After a step, the records since the previous step tell
which tickets were routed, queued or moved and which agents got capacity back (for the progress
lines), without another read of the table; ticket numbers come from the ticket items in the same
records. The records also keep the order in which messages and history events were written: simulated time
stands still during a step, so what was written at one instant is ordered by the stream instead
(an acknowledgement after the message it answers, a routing decision after the ticket's creation).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

ROUTING_EVENTS = ("routed", "queued", "load_released")
TICKET_PREFIX = "TICKET#"


class RecordSource(Protocol):
    """The stream logs of a pump: `streams` maps a stream ARN to a log with its `records`."""

    @property
    def streams(self) -> Mapping[str, Any]: ...


def _string(image: Mapping[str, Any], name: str) -> str | None:
    value = image.get(name) or {}
    found = value.get("S") if isinstance(value, dict) else None
    return str(found) if found is not None else None


def event_key(at: str, event_type: str, data: Any) -> str:
    """What identifies a history event among those of its ticket: time, type and data."""
    return json.dumps([at, event_type, data], sort_keys=True, default=str)


def describe(event_type: str, data: Mapping[str, Any], ticket: str) -> str:
    """One routing event in words: `#3 -> alice (support, from the queue after 10 min)`."""
    if event_type == "routed":
        why = []
        if data.get("manual"):
            why.append("manual assignment")
        elif data.get("team"):
            why.append(str(data["team"]))
        if data.get("from_queue"):
            waited = data.get("waited_seconds")
            minutes = f" after {float(waited) / 60:.0f} min" if isinstance(waited, int | float) else ""
            why.append(f"from the queue{minutes}")
        elif data.get("rule"):
            why.append(f"rule {data['rule']}")
        return f"{ticket} -> {data.get('agent')}" + (f" ({', '.join(why)})" if why else "")
    if event_type == "queued":
        team = data.get("team")
        where = f"queued for {team}" if team else "not routed"
        reason = str(data.get("why") or "")
        if data.get("from_team"):
            reason += f", from {data['from_team']}"
        return f"{ticket} {where}" + (f" ({reason})" if reason else "")
    return f"{ticket} gave {data.get('agent')}'s capacity back ({data.get('why')})"


class Activity:
    """Reads routing decisions, and the order events were written in, from the stream records."""

    def __init__(self, source: RecordSource) -> None:
        self.source = source
        self.positions: dict[str, int] = {arn: len(log.records) for arn, log in source.streams.items()}
        self.numbers: dict[str, int] = {}
        """Ticket number by ticket id."""
        self.written: dict[str, dict[str, int]] = {}
        """Per ticket id, the position at which each event (by `event_key`) was first written."""
        self.messages: dict[str, int] = {}
        """The position at which each message (by id) was first written."""

    def _new_records(self) -> Iterable[dict[str, Any]]:
        for arn, log in self.source.streams.items():
            start = self.positions.get(arn, 0)
            self.positions[arn] = len(log.records)
            yield from log.records[start:]

    def since_last(self) -> list[str]:
        """Routing decisions in the records since the last call, in the order they were written."""
        found: list[tuple[str, str, dict[str, Any]]] = []
        for record in self._new_records():
            change = record.get("dynamodb") or {}
            keys = change.get("Keys") or {}
            image = change.get("NewImage") or {}
            pk, sk = _string(keys, "pk") or "", _string(keys, "sk") or ""
            if not pk.startswith(TICKET_PREFIX):
                continue
            ticket_id = pk[len(TICKET_PREFIX) :]
            number = (image.get("number") or {}).get("N") if sk == "TICKET" else None
            if number is not None:
                self.numbers[ticket_id] = int(number)
            if record.get("eventName") == "INSERT" and sk.startswith("MSG#"):
                self.messages.setdefault(_string(image, "id") or sk, len(self.messages))
            if record.get("eventName") != "INSERT" or not sk.startswith("EVENT#"):
                continue
            event_type = _string(image, "type") or ""
            try:
                data = json.loads(_string(image, "data") or "{}")
            except ValueError:
                data = {}
            written = self.written.setdefault(ticket_id, {})
            written.setdefault(event_key(_string(image, "at") or "", event_type, data), len(written))
            if event_type in ROUTING_EVENTS:
                found.append((ticket_id, event_type, data if isinstance(data, dict) else {}))
        lines = []
        for ticket_id, event_type, data in found:
            number = self.numbers.get(ticket_id)
            lines.append(describe(event_type, data, f"#{number}" if number else ticket_id))
        return lines

    def rank(self, ticket_id: str, at: str, event_type: str, data: Any) -> int:
        """Where the event was written among its ticket's events (unknown ones last)."""
        written = self.written.get(ticket_id, {})
        return written.get(event_key(at, event_type, data), len(written))

    def message_rank(self, message_id: str) -> int:
        """Where the message was written among all messages (unknown ones last)."""
        return self.messages.get(message_id, len(self.messages))
