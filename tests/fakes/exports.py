"""NumberedTickets, ExportJobs, ExportFiles and ExportDispatch in memory, for the export logic's
tests (the DynamoDB and S3 ones are exercised on moto in tests/integration/test_report_exports.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from shared.errors import ConflictError
from shared.models.exports import ExportJob
from shared.models.metrics import MetricLedger
from shared.models.ticket import Ticket


@dataclass
class MemoryTickets:
    """Tickets by number (a number may have none: taken by a creation that failed)."""

    tickets: dict[int, tuple[Ticket, MetricLedger | None]] = field(default_factory=dict)
    last: int = 0
    reads: list[int] = field(default_factory=list)
    """Numbers whose creation time was read (one GetItem each on the table)."""

    def add(self, ticket: Ticket, ledger: MetricLedger | None = None) -> None:
        self.tickets[ticket.number] = (ticket, ledger)
        self.last = max(self.last, ticket.number)

    def last_ticket_number(self) -> int:
        return self.last

    def ticket_created(self, number: int) -> datetime | None:
        self.reads.append(number)
        found = self.tickets.get(number)
        return found[0].created_at if found else None

    def tickets_numbered(self, numbers: Sequence[int]) -> list[tuple[Ticket, MetricLedger | None]]:
        return [self.tickets[n] for n in sorted(numbers) if n in self.tickets]


@dataclass
class MemoryExportJobs:
    jobs: dict[str, str] = field(default_factory=dict)
    """Stored as JSON, as the table keeps them: a job read is a copy."""

    def create_export_job(self, job: ExportJob) -> tuple[ExportJob, bool]:
        if job.id in self.jobs:
            return ExportJob.model_validate_json(self.jobs[job.id]), False
        self.jobs[job.id] = job.model_dump_json()
        return job, True

    def get_export_job(self, job_id: str) -> ExportJob | None:
        stored = self.jobs.get(job_id)
        return ExportJob.model_validate_json(stored) if stored else None

    def save_export_job(self, job: ExportJob) -> None:
        stored = ExportJob.model_validate_json(self.jobs[job.id])
        if stored.rev != job.rev:
            raise ConflictError(f"export job {job.id} was changed by another run")
        job.rev += 1
        self.jobs[job.id] = job.model_dump_json()


@dataclass
class MemoryFiles:
    objects: dict[str, bytes] = field(default_factory=dict)
    puts: list[str] = field(default_factory=list)
    fail_at: set[int] = field(default_factory=set)
    """Put numbers (0-based over the fake's life) that fail, once each."""

    def put(self, key: str, data: bytes, content_type: str, metadata: dict[str, str] | None = None) -> None:
        index = len(self.puts)
        self.puts.append(key)
        if index in self.fail_at:
            raise ConnectionError(f"S3 did not answer the put of {key}")
        self.objects[key] = data

    def download_url(self, key: str, filename: str, expires_in: int = 300) -> str:
        return f"https://exports.example/{key}?X-Amz-Expires={expires_in}&filename={filename}"


@dataclass
class RecordingDispatch:
    dispatched: list[str] = field(default_factory=list)

    def dispatch_export(self, job_id: str) -> None:
        self.dispatched.append(job_id)
