"""Exports of every ticket row of a period to S3, for more rows than `GET /reports/tickets` answers
inline (decision 103; docs/reports.md, "Ticket export and drill-down").

`request_export` records a job (the same Idempotency-Key of the same caller gives the same job) and
hands its id to the worker (an asynchronous invocation); `run_export` (the worker) walks the rows and
writes them as CSV parts of at most `PART_ROWS` rows, recording each part on the job as it goes, so
a retried run goes on after the last part recorded and rewrites at most the part it was writing
(same key: one object, never two files); `export_answer` gives the job's state and, once done,
pre-signed links.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from shared.errors import HelpdeskError
from shared.ids import new_id
from shared.logic.agent_actions import IdempotencyKeyReusedError, check_idempotency_key
from shared.logic.permissions import ForbiddenActionError, Principal, Role
from shared.logic.reports import parse_filter
from shared.logic.ticket_rows import NumberedTickets, RowsRequest, check_rows_request, rows_csv, ticket_rows
from shared.models.exports import ExportAnswer, ExportJob, ExportLink, ExportPart, ExportRequest, TicketRow

PART_ROWS = 20_000
"""Rows per CSV object (a few MB: one PutObject each, held in memory while written)."""
LINK_SECONDS = 900
"""How long a pre-signed link to a part is valid."""
KEEP = timedelta(days=7)
"""How long a job and its files are kept (the bucket's lifecycle, the job's expiry)."""
CSV_TYPE = "text/csv; charset=utf-8"


class ExportNotFoundError(HelpdeskError):
    """No export job of that id (or none the caller may read)."""


class ExportJobs(Protocol):
    def create_export_job(self, job: ExportJob) -> tuple[ExportJob, bool]:
        """Store the job unless one of its id exists: the stored job, and whether it is new."""
        ...

    def get_export_job(self, job_id: str) -> ExportJob | None: ...

    def save_export_job(self, job: ExportJob) -> None:
        """Store the job's progress if it is still the revision read (`job.rev`, then one more);
        ConflictError otherwise (another run of it went on: this one stops, and is retried)."""
        ...


class ExportDispatch(Protocol):
    def dispatch_export(self, job_id: str) -> None:
        """Hand the job to the export worker (asynchronously)."""
        ...


class ExportFiles(Protocol):
    def put(
        self, key: str, data: bytes, content_type: str, metadata: dict[str, str] | None = None
    ) -> None: ...

    def download_url(self, key: str, filename: str, expires_in: int = 300) -> str: ...


def _digest(request: ExportRequest) -> str:
    return hashlib.sha256(request.model_dump_json(by_alias=True).encode()).hexdigest()


def export_id(caller: Principal, idempotency_key: str | None) -> str:
    """The job id: fixed by the caller and their Idempotency-Key (a retry finds its job), else new."""
    if idempotency_key is None:
        return new_id("exp")
    check_idempotency_key(idempotency_key)
    seed = json.dumps([caller.agent_id, idempotency_key])
    return "exp_" + hashlib.sha256(seed.encode()).hexdigest()[:26]


def rows_request(request: ExportRequest) -> RowsRequest:
    return RowsRequest(request.from_, request.to, parse_filter(request.filter))


def request_export(
    request: ExportRequest,
    caller: Principal,
    idempotency_key: str | None,
    now: datetime,
    jobs: ExportJobs,
    dispatch: ExportDispatch,
) -> tuple[ExportJob, bool]:
    """Record the export (checked as the rows are) and hand it to the worker; with an Idempotency-Key
    used before, the job it made (handed over again while not started: a lost dispatch is made
    again; the worker runs a job once). True: a new job."""
    check_rows_request(rows_request(request), caller)
    job = ExportJob(
        id=export_id(caller, idempotency_key),
        requested_by=caller.agent_id,
        role=caller.role.name.lower(),
        teams=sorted(caller.teams),
        request=request,
        digest=_digest(request),
        created_at=now,
        updated_at=now,
    )
    stored, created = jobs.create_export_job(job)
    if stored.digest != job.digest or stored.requested_by != job.requested_by:
        raise IdempotencyKeyReusedError("this Idempotency-Key was used for another export")
    if stored.status == "queued":
        dispatch.dispatch_export(stored.id)
    return stored, created


def _caller_of(job: ExportJob) -> Principal:
    return Principal(job.requested_by, Role[job.role.upper()], frozenset(job.teams))


@dataclass(frozen=True)
class ExportRun:
    jobs: ExportJobs
    files: ExportFiles
    source: NumberedTickets
    timezone: str
    first_number: int = 1
    part_rows: int = PART_ROWS
    team_zones: Mapping[str, str] = field(default_factory=dict)
    """The zone each team's days are in (`HelpdeskConfig.day_zone`): a job filtered to a team lists
    the tickets created on that zone's days."""

    def zone_for(self, where: tuple[str, str] | None) -> str:
        if where is not None and where[0] == "team":
            return self.team_zones.get(where[1], self.timezone)
        return self.timezone


def part_key(job_id: str, index: int) -> str:
    return f"exports/{job_id}/part-{index + 1:04d}.csv"


def _write_part(run: ExportRun, job: ExportJob, rows: list[TicketRow], now: datetime) -> None:
    key = part_key(job.id, len(job.parts))
    run.files.put(key, rows_csv(rows).encode("utf-8"), CSV_TYPE, {"export": job.id})
    last = rows[-1].number if rows else job.parts[-1].last_number if job.parts else 0
    job.parts.append(ExportPart(key=key, rows=len(rows), last_number=last))
    job.rows += len(rows)
    job.updated_at = now
    run.jobs.save_export_job(job)


def run_export(run: ExportRun, job_id: str, now: datetime) -> ExportJob:
    """Write the job's rows to S3 as CSV parts, after the parts a previous run recorded (each part
    records the last ticket number it holds: the walk goes on after it, in number order)."""
    job = run.jobs.get_export_job(job_id)
    if job is None:
        raise ExportNotFoundError(f"no export job {job_id}")
    if job.status in ("done", "failed"):
        return job
    walk = job.numbers
    if walk is not None and job.parts:
        walk = (job.parts[-1].last_number + 1, walk[1])
    request = rows_request(job.request)
    zone = run.zone_for(request.filter)
    numbers, rows = ticket_rows(run.source, request, _caller_of(job), zone, run.first_number, walk)
    if job.numbers is None:
        job.numbers = numbers
    job.status, job.updated_at, job.attempts = "running", now, job.attempts + 1
    run.jobs.save_export_job(job)
    batch: list[TicketRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) == run.part_rows:
            _write_part(run, job, batch, now)
            batch = []
    if batch or not job.parts:
        _write_part(run, job, batch, now)
    job.status = "done"
    run.jobs.save_export_job(job)
    return job


def export_failed(jobs: ExportJobs, job_id: str, reason: str, now: datetime, attempts: int) -> bool:
    """After a failed run: mark the job failed, saying why, once it has had `attempts` runs (the
    worker's last; earlier ones are retried). True when it was marked."""
    job = jobs.get_export_job(job_id)
    if job is None or job.status in ("done", "failed") or job.attempts < attempts:
        return False
    job.status, job.reason, job.updated_at = "failed", reason[:500], now
    jobs.save_export_job(job)
    return True


def read_export(jobs: ExportJobs, job_id: str, caller: Principal) -> ExportJob:
    """The job, for the caller who asked for it or an admin (anyone else: as if there were none)."""
    job = jobs.get_export_job(job_id)
    if job is None or (job.requested_by != caller.agent_id and caller.role is not Role.ADMIN):
        raise ExportNotFoundError(f"no export {job_id} of yours")
    if caller.role not in (Role.ADMIN, Role.SUPERVISOR):
        raise ForbiddenActionError("exports are for supervisors and admins")
    return job


def export_answer(job: ExportJob, files: ExportFiles) -> ExportAnswer:
    """The job's state; once done, a link per part valid `LINK_SECONDS`."""
    request = job.request
    links = []
    if job.status == "done":
        for index, part in enumerate(job.parts):
            name = f"tickets-{request.from_.isoformat()}-{request.to.isoformat()}-{index + 1}.csv"
            links.append(ExportLink(url=files.download_url(part.key, name, LINK_SECONDS), rows=part.rows))
    return ExportAnswer.model_validate(
        {
            "id": job.id,
            "status": job.status,
            "from": request.from_,
            "to": request.to,
            "filter": request.filter,
            "requested_by": job.requested_by,
            "created_at": job.created_at,
            "updated_at": job.updated_at,
            "rows": job.rows,
            "links": links,
            "expires_in": LINK_SECONDS if links else None,
            "reason": job.reason,
        }
    )
