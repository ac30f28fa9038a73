"""The tickets behind the report figures and their export, through the real reports handler and
the real export worker on moto (decisions 102 and 103): tickets made by the real email handler,
projected by route_ticket, listed inline, exported to the exports bucket and downloaded through
the pre-signed links."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import requests

from shared.storage import S3BlobStore
from tests.fakes.exports import RecordingDispatch
from tests.integration.conftest import EmailHarness, FakeLambdaContext
from tests.integration.test_agent_api import api_event, id_token
from tests.integration.test_reports_api import admin, desk, reports, supervisor

__all__ = ["desk"]  # the fixture: Monday's three tickets (support #1 resolved, #2; billing #3)
MONDAY = {"from": "2026-03-02", "to": "2026-03-02"}


@pytest.fixture
def dispatch(desk: EmailHarness, monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingDispatch]:
    """What the reports function hands to the worker (Lambda's asynchronous invoke is not on moto)."""
    from functions.report_exports import app as worker
    from functions.reports import app

    caches = (app._exports, app._dispatch, worker._run)
    for cached in caches:
        cached.cache_clear()
    recorder = RecordingDispatch()
    monkeypatch.setattr(app, "_dispatch", lambda: recorder)
    yield recorder
    for cached in caches:
        cached.cache_clear()


def call(method: str, path: str, claims: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    from functions.reports import app

    app._config.cache_clear()
    response: dict[str, Any] = app.handler(
        api_event(method, path, claims=claims, **kwargs), FakeLambdaContext()
    )
    return response


def tickets(query: dict[str, str], claims: dict[str, Any]) -> dict[str, Any]:
    return call("GET", "/reports/tickets", claims, query=query)


def run_worker(job_id: str) -> dict[str, Any]:
    from functions.report_exports import app as worker

    result: dict[str, Any] = worker.handler({"job_id": job_id}, FakeLambdaContext())
    return result


def downloaded(answer: dict[str, Any]) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for link in answer["links"]:
        response = requests.get(link["url"], timeout=10)
        assert response.status_code == 200
        rows += list(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))
    return rows


def test_the_tickets_behind_a_days_figures_inline_as_json_and_csv(dispatch: RecordingDispatch) -> None:
    # Given Monday's report (admin): three created, one resolved
    figures = json.loads(reports(MONDAY, admin())["body"])["total"]
    # When the tickets behind it are asked for
    response = tickets(MONDAY, admin())
    # Then each ticket created on Monday is a row, as many as the figure counts
    assert response["statusCode"] == 200
    answer = json.loads(response["body"])
    assert answer["count"] == figures["volume"]["created"] == 3
    rows = {r["number"]: r for r in answer["rows"]}
    assert sorted(rows) == [1, 2, 3]
    assert {n: r["team"] for n, r in rows.items()} == {1: "support", 2: "support", 3: "billing"}
    assert (rows[1]["status"], rows[1]["measured"], rows[1]["created_at"][-6:]) == (
        "resolved",
        True,
        "+01:00",
    )
    assert rows[1]["resolved_at"] is not None
    assert sum(1 for r in rows.values() if r["resolved_at"]) == figures["volume"]["resolved"]
    assert "segments" not in rows[1]
    # And with a filter, the filtered figure's tickets
    support = json.loads(reports({**MONDAY, "filter": "team:support"}, admin())["body"])["total"]
    filtered = json.loads(tickets({**MONDAY, "filter": "team:support"}, admin())["body"])
    assert [r["number"] for r in filtered["rows"]] == [1, 2]
    assert filtered["count"] == support["volume"]["created"]
    # And with segments, each measure's segments from the ledger (the drill-down)
    detailed = json.loads(tickets({**MONDAY, "segments": "true"}, admin())["body"])
    resolution = detailed["rows"][0]["segments"]["full_resolution"]
    assert resolution[0]["stop"]["kind"] == "resolved"
    assert resolution[0]["day"] == "2026-03-02"
    # And as CSV, a header and a row per ticket, as an attachment
    response = tickets({**MONDAY, "format": "csv"}, admin())
    assert response["headers"]["Content-Type"].startswith("text/csv")
    assert "attachment" in response["headers"]["Content-Disposition"]
    assert [r["number"] for r in csv.DictReader(io.StringIO(response["body"]))] == ["1", "2", "3"]


def test_more_rows_than_an_answer_holds_is_a_problem_pointing_to_the_export(
    dispatch: RecordingDispatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.reports import app

    monkeypatch.setattr(app, "INLINE_ROWS", 2)
    response = tickets(MONDAY, admin())
    assert response["statusCode"] == 422
    assert response["headers"]["Content-Type"] == "application/problem+json"
    problem = json.loads(response["body"])
    assert problem["type"] == "urn:helpdesk:problem:too-many-rows"
    assert "POST /reports/exports" in problem["detail"]
    assert problem["instance"] == "/reports/tickets"


def test_an_export_of_more_rows_than_the_cap_ends_in_s3_with_every_row_once(
    dispatch: RecordingDispatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.report_exports import app as worker
    from functions.reports import app

    monkeypatch.setattr(app, "INLINE_ROWS", 2)
    original = worker._run
    monkeypatch.setattr(worker, "_run", lambda: replace(original(), part_rows=2))
    # Given an admin's export of Monday (three rows, more than the cap of two)
    response = call("POST", "/reports/exports", admin(), body=MONDAY, headers={"Idempotency-Key": "k-1"})
    assert response["statusCode"] == 202
    job = json.loads(response["body"])
    assert (job["status"], response["headers"]["Location"]) == ("queued", f"/reports/exports/{job['id']}")
    assert dispatch.dispatched == [job["id"]]
    # When the worker runs it
    assert run_worker(job["id"]) == {"job_id": job["id"], "status": "done", "rows": 3, "parts": 2}
    # Then the job links its two files for 15 minutes, and they hold every row exactly once
    answer = json.loads(call("GET", f"/reports/exports/{job['id']}", admin())["body"])
    assert (answer["status"], answer["rows"], answer["expires_in"]) == ("done", 3, 900)
    assert [link["rows"] for link in answer["links"]] == [2, 1]
    assert all("X-Amz-Expires=900" in link["url"] for link in answer["links"])
    assert [r["number"] for r in downloaded(answer)] == ["1", "2", "3"]


def test_a_supervisor_is_refused_other_teams_and_other_callers_jobs(dispatch: RecordingDispatch) -> None:
    # A supervisor of support: their team's tickets only, with no filter or their team's
    mine = json.loads(tickets(MONDAY, supervisor())["body"])
    assert [r["number"] for r in mine["rows"]] == [1, 2]
    refused = tickets({**MONDAY, "filter": "team:billing"}, supervisor())
    assert refused["statusCode"] == 403
    assert json.loads(refused["body"])["type"] == "urn:helpdesk:problem:forbidden"
    posted = call("POST", "/reports/exports", supervisor(), body={**MONDAY, "filter": "team:billing"})
    assert posted["statusCode"] == 403
    assert dispatch.dispatched == []
    # an agent lists nothing
    assert tickets(MONDAY, id_token("alice"))["statusCode"] == 403
    # another admin's export is not the supervisor's to read
    bob = {**id_token("bob"), "cognito:groups": "[admins]"}
    job = json.loads(call("POST", "/reports/exports", bob, body=MONDAY)["body"])
    assert call("GET", f"/reports/exports/{job['id']}", supervisor())["statusCode"] == 404
    # the supervisor's own export holds their team's tickets
    own = json.loads(call("POST", "/reports/exports", supervisor(), body=MONDAY)["body"])
    run_worker(own["id"])
    answer = json.loads(call("GET", f"/reports/exports/{own['id']}", supervisor())["body"])
    assert [r["number"] for r in downloaded(answer)] == ["1", "2"]
    assert answer["requested_by"] == "sam"


def test_a_retried_export_is_not_duplicated(
    dispatch: RecordingDispatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.report_exports import app as worker

    original = worker._run
    monkeypatch.setattr(worker, "_run", lambda: replace(original(), part_rows=2))
    # Given the same export asked twice with one Idempotency-Key
    first = call("POST", "/reports/exports", admin(), body=MONDAY, headers={"Idempotency-Key": "k-2"})
    again = call("POST", "/reports/exports", admin(), body=MONDAY, headers={"Idempotency-Key": "k-2"})
    assert (first["statusCode"], again["statusCode"]) == (202, 200)
    job_id = json.loads(first["body"])["id"]
    assert json.loads(again["body"])["id"] == job_id
    # and the key reused for another export is refused
    other = call(
        "POST",
        "/reports/exports",
        admin(),
        body={**MONDAY, "filter": "channel:email"},
        headers={"Idempotency-Key": "k-2"},
    )
    assert other["statusCode"] == 422
    assert json.loads(other["body"])["type"] == "urn:helpdesk:problem:idempotency-key-reused"
    # And a first run that fails writing its second file
    puts: list[str] = []
    put = S3BlobStore.put

    def flaky(store: S3BlobStore, key: str, *args: Any, **kwargs: Any) -> None:
        puts.append(key)
        if key.endswith("part-0002.csv") and puts.count(key) == 1:
            raise ConnectionError("S3 did not answer")
        put(store, key, *args, **kwargs)

    monkeypatch.setattr(S3BlobStore, "put", flaky)
    with pytest.raises(ConnectionError):
        run_worker(job_id)
    running = json.loads(call("GET", f"/reports/exports/{job_id}", admin())["body"])
    assert (running["status"], running["rows"], running["links"]) == ("running", 2, [])
    # When Lambda retries it, and the event is delivered once more after it is done
    assert run_worker(job_id)["status"] == "done"
    assert run_worker(job_id)["status"] == "done"
    # Then the second file was written again under its key, nothing else twice, every row once
    assert [key.rsplit("/", 1)[1] for key in puts] == ["part-0001.csv", "part-0002.csv", "part-0002.csv"]
    answer = json.loads(call("GET", f"/reports/exports/{job_id}", admin())["body"])
    assert [r["number"] for r in downloaded(answer)] == ["1", "2", "3"]
