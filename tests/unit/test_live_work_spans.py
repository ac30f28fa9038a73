"""Presence kept as work: when a viewer's state began, which stream records of a viewer item end a
span (another state, left, closed, lapsed, removed by the TTL) and when, kept once per span."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.dal.live import Viewer, viewer_item
from shared.logic.work_spans import MAX_WORK_SPANS, ended_span, keep_work_span, viewer_since, worked_spans
from tests.fakes.repository import MemoryRepository

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
S = timedelta(seconds=1)
TTL = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def image(state: str, since: datetime, at: datetime) -> dict[str, Any]:
    item: dict[str, Any] = viewer_item("t1", "alice", state, at, since, "c1").serialize()
    return item


def record(
    old: dict[str, Any] | None, new: dict[str, Any] | None, when: datetime, identity: Any = None
) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "Keys": {"pk": {"S": "TICKET#t1"}, "sk": {"S": "VIEWER#alice"}},
        "ApproximateCreationDateTime": int(when.timestamp()),
        "SequenceNumber": "1",
    }
    if old is not None:
        raw["OldImage"] = old
    if new is not None:
        raw["NewImage"] = new
    name = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
    found = {"eventID": "v1", "eventName": name, "dynamodb": raw}
    if identity is not None:
        found["userIdentity"] = identity
    return found


def test_a_state_begins_when_first_said_and_confirmations_keep_it() -> None:
    viewing = Viewer("alice", "viewing", T0, T0 + 90 * S, T0 - 600 * S)
    assert viewer_since(None, "viewing", T0) == T0
    assert viewer_since(viewing, "viewing", T0 + 30 * S) is None  # confirmed recently: no write
    assert viewer_since(viewing, "viewing", T0 + 50 * S) == T0 - 600 * S  # refreshed: same start
    assert viewer_since(viewing, "composing", T0 + 10 * S) == T0 + 10 * S
    # lapsed (the TTL has not removed it yet): the agent is back, a new span
    assert viewer_since(viewing, "viewing", T0 + 120 * S) == T0 + 120 * S


def test_which_records_end_a_span_and_when() -> None:
    began = T0 - 300 * S
    old = image("viewing", began, T0)
    # a new viewer, a confirmation: no span ends
    assert ended_span(record(None, old, T0)) is None
    assert ended_span(record(old, image("viewing", began, T0 + 50 * S), T0 + 50 * S)) is None
    # another state: the span ends as the new one begins
    changed = ended_span(record(old, image("composing", T0 + 20 * S, T0 + 20 * S), T0 + 20 * S))
    assert changed is not None
    assert (changed.agent, changed.state, changed.start, changed.stop, changed.ended) == (
        "alice",
        "viewing",
        began,
        T0 + 20 * S,
        "changed",
    )
    # left (the UI said so, or its connection closed): when removed
    left = ended_span(record(old, None, T0 + 40 * S))
    assert left is not None
    assert (left.stop, left.ended) == (T0 + 40 * S, "left")
    # the TTL removed it (days later): at its last confirmation, no later
    lapsed = ended_span(record(old, None, T0 + timedelta(days=1), TTL))
    assert lapsed is not None
    assert (lapsed.stop, lapsed.ended) == (T0, "lapsed")
    # a removal or a new span after the old one lapsed: also at its last confirmation
    late = ended_span(record(old, None, T0 + 200 * S))
    assert late is not None
    assert (late.stop, late.ended) == (T0, "lapsed")
    again = ended_span(record(old, image("viewing", T0 + 300 * S, T0 + 300 * S), T0 + 300 * S))
    assert again is not None
    assert (again.start, again.stop, again.ended) == (began, T0, "lapsed")
    # the same span ended by any record has one key
    assert changed.key == left.key == lapsed.key


def test_a_span_is_kept_once_as_a_worked_event_and_a_ticket_holds_at_most_the_cap() -> None:
    repo = MemoryRepository()
    old = image("viewing", T0 - 300 * S, T0)
    removed = record(old, None, T0 + 40 * S)
    kept = keep_work_span(removed, repo)
    assert kept is not None
    assert kept[1] == "recorded"
    again = keep_work_span(removed, repo)  # the stream retries the record
    assert again is not None
    assert again[1] == "repeated"
    events = repo.list_events("t1")
    [span] = worked_spans(events)
    assert (span.agent, span.state, span.start, span.stop) == ("alice", "viewing", T0 - 300 * S, T0 + 40 * S)
    outcomes = []
    for n in range(MAX_WORK_SPANS + 1):
        start = T0 + timedelta(minutes=n + 1)
        flip = record(image("viewing", start, start), image("composing", start + S, start + S), start + S)
        found = keep_work_span(flip, repo)
        assert found is not None
        outcomes.append(found[1])
    assert outcomes.count("recorded") == MAX_WORK_SPANS - 1
    assert outcomes[-2:] == ["full", "full"]
    assert len(worked_spans(repo.list_events("t1"))) == MAX_WORK_SPANS
