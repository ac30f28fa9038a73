"""The reports API's ticket rows and export jobs on the table, and the export worker's dispatch (decisions 102
and 103).

- `ticket_created(number)`: one GetItem of the number's pointer (`PTR#number#<n>`), whose
  `created_at` is the ticket's creation time (written with the ticket, from its first message);
- `tickets_numbered(numbers)`: BatchGetItem of the numbers' pointers, then of their tickets and
  ledgers (`TICKET#<id>` / `TICKET` and `LEDGER`); no Scan;
- export jobs: `EXPORT#<id>` / `EXPORT`, created once (conditional put), expiring with the table's
  TTL after `KEEP`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError

from shared import clock
from shared.dal.base import raise_if_permanent, ticket_pk
from shared.dal.items import MAX_BATCH_GET, ExportJobItem, LedgerItem, PointerItem, TicketItem
from shared.dal.pointers import pointer_key
from shared.dal.reports import LEDGER_SK, unpack
from shared.dal.tickets import DynamoTickets, ticket_from_item
from shared.errors import ConflictError
from shared.models.exports import ExportJob
from shared.models.metrics import MetricLedger
from shared.models.ticket import Ticket

KEEP = timedelta(days=7)
"""How long a job is kept (the exports bucket keeps its files as long)."""


def export_pk(job_id: str) -> str:
    return f"EXPORT#{job_id}"


def _job_item(job: ExportJob) -> ExportJobItem:
    expires = int((job.created_at + KEEP).timestamp())
    return ExportJobItem(
        pk=export_pk(job.id), sk="EXPORT", job=job.model_dump_json(), rev=job.rev, expires_at=expires
    )


class DynamoExports(DynamoTickets):
    """NumberedTickets and ExportJobs on the table."""

    def ticket_created(self, number: int) -> datetime | None:
        try:
            item = PointerItem.get(pointer_key("number", str(number)), "PTR")
        except DoesNotExist:
            return None
        return clock.parse_iso(str(item.created_at)) if item.ticket_id else None

    def tickets_numbered(self, numbers: Sequence[int]) -> list[tuple[Ticket, MetricLedger | None]]:
        wanted = {pointer_key("number", str(n)): n for n in numbers}
        ids: dict[str, int] = {}
        keys = list(wanted)
        for start in range(0, len(keys), MAX_BATCH_GET):
            for pointer in PointerItem.batch_get([(k, "PTR") for k in keys[start : start + MAX_BATCH_GET]]):
                if pointer.ticket_id:
                    ids[str(pointer.ticket_id)] = wanted[str(pointer.pk)]
        tickets: dict[str, Ticket] = {}
        ledgers: dict[str, MetricLedger | None] = {}
        pks = [ticket_pk(i) for i in ids]
        for start in range(0, len(pks), MAX_BATCH_GET):
            chunk = pks[start : start + MAX_BATCH_GET]
            for item in TicketItem.batch_get([(pk, "TICKET") for pk in chunk]):
                ticket = ticket_from_item(item)
                tickets[ticket.id] = ticket
            for ledger_item in LedgerItem.batch_get([(pk, LEDGER_SK) for pk in chunk]):
                ledgers[str(ledger_item.pk).removeprefix("TICKET#")] = unpack(ledger_item.ledger)
        found = [(t, ledgers.get(t.id)) for t in tickets.values()]
        return sorted(found, key=lambda pair: pair[0].number)

    def create_export_job(self, job: ExportJob) -> tuple[ExportJob, bool]:
        try:
            _job_item(job).save(condition=ExportJobItem.pk.does_not_exist())
        except PutError as exc:
            raise_if_permanent(exc)
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
            stored = self.get_export_job(job.id)
            if stored is None:  # expired between the put and the read: a new one next time
                raise
            return stored, False
        return job, True

    def get_export_job(self, job_id: str) -> ExportJob | None:
        try:
            item = ExportJobItem.get(export_pk(job_id), "EXPORT", consistent_read=True)
        except DoesNotExist:
            return None
        return ExportJob.model_validate_json(str(item.job))

    def save_export_job(self, job: ExportJob) -> None:
        read = job.rev
        job.rev += 1
        try:
            _job_item(job).save(condition=ExportJobItem.rev == read)
        except PutError as exc:
            job.rev = read
            raise_if_permanent(exc)
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise ConflictError(f"export job {job.id} was changed by another run") from exc
            raise


class LambdaExportDispatch:
    """ExportDispatch by an asynchronous invocation of the export worker with `{"job_id": ...}`:
    Lambda keeps the event, retries a failed run twice and sends the last failure to the worker's
    OnFailure destination (template.yaml)."""

    def __init__(self, function_name: str, client: Any = None) -> None:
        self.function_name = function_name
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("lambda")
        return self._client

    def dispatch_export(self, job_id: str) -> None:
        payload = json.dumps({"job_id": job_id}).encode("utf-8")
        self.client.invoke(FunctionName=self.function_name, InvocationType="Event", Payload=payload)
