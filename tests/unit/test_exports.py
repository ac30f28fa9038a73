"""Export jobs (decision 103): idempotent requests, parts written once each, retried runs going on
after the last recorded part, links for the caller who asked or an admin."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest

from shared.errors import ConflictError
from shared.logic.agent_actions import IdempotencyKeyReusedError, InvalidRequestError
from shared.logic.exports import (
    LINK_SECONDS,
    ExportNotFoundError,
    ExportRun,
    export_answer,
    export_failed,
    read_export,
    request_export,
    run_export,
)
from shared.logic.permissions import ForbiddenActionError, Principal, Role
from shared.models.exports import ExportJob, ExportRequest
from tests.fakes.exports import MemoryExportJobs, MemoryFiles, MemoryTickets, RecordingDispatch
from tests.unit.test_ticket_rows import ticket

ADMIN = Principal("root", Role.ADMIN, frozenset())
SUPPORT_LEAD = Principal("sam", Role.SUPERVISOR, frozenset({"support"}))
BILLING_LEAD = Principal("bea", Role.SUPERVISOR, frozenset({"billing"}))
NOW = datetime(2026, 3, 9, 8, tzinfo=UTC)
WEEK = ExportRequest.model_validate({"from": "2026-03-02", "to": "2026-03-08"})


@pytest.fixture
def desk() -> MemoryTickets:
    """Seven support tickets and three billing ones in the week of 2 March, one number lost."""
    tickets = MemoryTickets()
    for number in range(1, 12):
        if number != 6:
            team = "billing" if number % 4 == 0 else "support"
            tickets.add(ticket(number, datetime(2026, 3, 2, tzinfo=UTC) + timedelta(hours=9 * number), team))
    return tickets


def numbers_in(files: MemoryFiles) -> list[int]:
    found = []
    for key in sorted(files.objects):
        found += [int(r["number"]) for r in csv.DictReader(io.StringIO(files.objects[key].decode()))]
    return found


def test_an_export_writes_every_row_once_in_parts_and_links_them(desk: MemoryTickets) -> None:
    jobs, files, dispatch = MemoryExportJobs(), MemoryFiles(), RecordingDispatch()
    # Given an admin's export of the week, handed to the worker
    job, new = request_export(WEEK, ADMIN, "key-1", NOW, jobs, dispatch)
    assert new
    assert dispatch.dispatched == [job.id]
    assert job.status == "queued"
    # When the worker runs it, three rows a part
    done = run_export(ExportRun(jobs, files, desk, "UTC", part_rows=3), job.id, NOW)
    # Then every ticket of the week is in the parts exactly once, in number order
    assert done.status == "done"
    assert numbers_in(files) == [1, 2, 3, 4, 5, 7, 8, 9, 10, 11]
    assert [p.rows for p in done.parts] == [3, 3, 3, 1]
    assert done.rows == 10
    # And the answer links each part for 15 minutes
    answer = export_answer(done, files)
    assert [link.rows for link in answer.links] == [3, 3, 3, 1]
    assert all(f"X-Amz-Expires={LINK_SECONDS}" in link.url for link in answer.links)
    assert LINK_SECONDS == 900


def test_a_supervisors_export_holds_their_teams_tickets_only(desk: MemoryTickets) -> None:
    jobs, files = MemoryExportJobs(), MemoryFiles()
    job, _ = request_export(WEEK, BILLING_LEAD, None, NOW, jobs, RecordingDispatch())
    run_export(ExportRun(jobs, files, desk, "UTC"), job.id, NOW)
    assert numbers_in(files) == [4, 8]
    other = ExportRequest.model_validate({"from": "2026-03-02", "to": "2026-03-08", "filter": "team:support"})
    with pytest.raises(ForbiddenActionError):
        request_export(other, BILLING_LEAD, None, NOW, jobs, RecordingDispatch())


def test_the_same_idempotency_key_gives_the_same_job_and_another_request_is_refused() -> None:
    jobs, dispatch = MemoryExportJobs(), RecordingDispatch()
    first, new = request_export(WEEK, ADMIN, "key-1", NOW, jobs, dispatch)
    again, new_again = request_export(WEEK, ADMIN, "key-1", NOW + timedelta(seconds=5), jobs, dispatch)
    assert (new, new_again, again.id, again.created_at) == (True, False, first.id, NOW)
    # a job not started yet is handed over again (the first hand-over may have been lost)
    assert dispatch.dispatched == [first.id, first.id]
    # another caller's same key is another job
    theirs, _ = request_export(WEEK, SUPPORT_LEAD, "key-1", NOW, jobs, dispatch)
    assert theirs.id != first.id
    other = ExportRequest.model_validate({"from": "2026-03-02", "to": "2026-03-03"})
    with pytest.raises(IdempotencyKeyReusedError):
        request_export(other, ADMIN, "key-1", NOW, jobs, dispatch)
    with pytest.raises(InvalidRequestError):
        request_export(WEEK, ADMIN, "", NOW, jobs, dispatch)


def test_a_retried_run_goes_on_after_its_last_part_and_writes_no_row_twice(desk: MemoryTickets) -> None:
    jobs, files = MemoryExportJobs(), MemoryFiles(fail_at={1})
    job, _ = request_export(WEEK, ADMIN, None, NOW, jobs, RecordingDispatch())
    run = ExportRun(jobs, files, desk, "UTC", part_rows=3)
    # Given a run whose second part's put fails
    with pytest.raises(ConnectionError):
        run_export(run, job.id, NOW)
    stored = jobs.get_export_job(job.id)
    assert stored is not None
    assert (stored.status, len(stored.parts), stored.attempts) == ("running", 1, 1)
    # And a ticket created in the week meanwhile (a late delivery: a higher number)
    desk.add(ticket(12, datetime(2026, 3, 8, 20, tzinfo=UTC)))
    # When Lambda runs it again
    done = run_export(run, job.id, NOW + timedelta(minutes=1))
    # Then the parts go on from the first, the second written under its own key again, and every
    # row of the walked numbers is in exactly one part
    assert files.puts == [f"exports/{job.id}/part-{n:04d}.csv" for n in (1, 2, 2, 3, 4)]
    assert numbers_in(files) == [1, 2, 3, 4, 5, 7, 8, 9, 10, 11]
    assert (done.status, done.attempts) == ("done", 2)
    # And a run of a finished job changes nothing
    assert run_export(run, job.id, NOW + timedelta(minutes=2)) == done
    assert len(files.puts) == 5


def test_the_last_failed_run_marks_the_job_failed(desk: MemoryTickets) -> None:
    jobs = MemoryExportJobs()
    job, _ = request_export(WEEK, ADMIN, None, NOW, jobs, RecordingDispatch())
    files = MemoryFiles(fail_at={0, 1, 2})
    for attempt in (1, 2, 3):
        with pytest.raises(ConnectionError):
            run_export(ExportRun(jobs, files, desk, "UTC"), job.id, NOW)
        marked = export_failed(jobs, job.id, "ConnectionError: no answer", NOW, attempts=3)
        assert marked is (attempt == 3)
    failed = jobs.get_export_job(job.id)
    assert failed is not None
    assert (failed.status, failed.reason) == ("failed", "ConnectionError: no answer")
    assert export_answer(failed, files).links == []


def test_a_job_is_read_by_who_asked_or_an_admin_only() -> None:
    jobs = MemoryExportJobs()
    job, _ = request_export(WEEK, SUPPORT_LEAD, None, NOW, jobs, RecordingDispatch())
    assert read_export(jobs, job.id, SUPPORT_LEAD).id == job.id
    assert read_export(jobs, job.id, ADMIN).id == job.id
    with pytest.raises(ExportNotFoundError):
        read_export(jobs, job.id, BILLING_LEAD)
    with pytest.raises(ExportNotFoundError):
        read_export(jobs, "exp_unknown", ADMIN)
    answer = export_answer(job, MemoryFiles())
    assert (answer.status, answer.from_, answer.rows, answer.links) == ("queued", date(2026, 3, 2), 0, [])


def test_two_runs_of_one_job_never_both_go_on(desk: MemoryTickets) -> None:
    # Given a job handed to the worker twice (a repeated POST before the first run started), whose
    # second run starts and finishes while the first writes its first part
    jobs = MemoryExportJobs()
    job, _ = request_export(WEEK, ADMIN, None, NOW, jobs, RecordingDispatch())
    files = MemoryFiles()
    run = ExportRun(jobs, files, desk, "UTC", part_rows=4)
    second: list[ExportJob] = []
    started: list[bool] = []
    put = files.put

    def put_while_another_runs(
        key: str, data: bytes, content_type: str, metadata: dict[str, str] | None = None
    ) -> None:
        if not started:
            started.append(True)
            second.append(run_export(ExportRun(jobs, files, desk, "UTC", part_rows=4), job.id, NOW))
        put(key, data, content_type, metadata)

    files.put = put_while_another_runs  # type: ignore[method-assign]
    # When the first run records its part
    with pytest.raises(ConflictError):
        run_export(run, job.id, NOW)
    # Then it stopped there: the job is the second run's, done, each row in one part once
    stored = jobs.get_export_job(job.id)
    assert stored is not None
    assert (stored.status, stored.rows, [p.rows for p in stored.parts]) == ("done", 10, [4, 4, 2])
    assert stored == second[0]
    assert numbers_in(files) == [1, 2, 3, 4, 5, 7, 8, 9, 10, 11]


def test_the_worker_is_invoked_asynchronously_with_the_job_id() -> None:
    import boto3
    from botocore.stub import Stubber

    from shared.dal.exports import LambdaExportDispatch

    client = boto3.client("lambda", region_name="us-east-1")
    with Stubber(client) as stub:
        expected = {
            "FunctionName": "helpdesk-exports",
            "InvocationType": "Event",
            "Payload": b'{"job_id": "exp_1"}',
        }
        stub.add_response("invoke", {"StatusCode": 202}, expected)
        LambdaExportDispatch("helpdesk-exports", client).dispatch_export("exp_1")
        stub.assert_no_pending_responses()
