"""The sample events in events/ (for `sam local invoke`) are accepted by the real handlers on moto,
so they never drift from what the handlers expect."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import pytest

from shared import clock
from shared.dal.repository import DynamoRepository
from simulator.resources import Deployment
from tests.fakes.deadlines import all_unrouted
from tests.integration.conftest import ROOT, FakeLambdaContext, _reset_process_caches, mail

SAMPLES = ROOT / "events"
NOW = clock.parse_iso("2026-03-02T09:20:00.000Z")


def sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return event


def sample_name(code_uri: str, handler: str) -> str:
    """A function's sample: named after its code directory (`reports.json`), and its handler's
    module when that is not `app` (`reports_schedule.json` for `schedule.handler`), so two
    functions sharing a code directory each have their own."""
    module = handler.rpartition(".")[0]
    suffix = "" if module == "app" else f"_{module.replace('.', '_')}"
    return f"{Path(code_uri).name}{suffix}.json"


def functions_and_samples() -> dict[str, Path]:
    """Each function of the template and its sample."""
    from simulator.template import load_template

    resources = load_template(ROOT / "template.yaml")["Resources"]
    return {
        name: SAMPLES / sample_name(spec["Properties"]["CodeUri"], spec["Properties"]["Handler"])
        for name, spec in resources.items()
        if spec["Type"] == "AWS::Serverless::Function"
    }


@pytest.fixture
def repository(deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> DynamoRepository:
    # the sample names the deployed bucket as SES would; the function accepts only its own bucket
    notification = json.loads(sample("inbound_email.json")["Records"][0]["Sns"]["Message"])
    action = notification["receipt"]["action"]
    boto3.client("s3").create_bucket(Bucket=action["bucketName"])
    boto3.client("s3").put_object(
        Bucket=action["bucketName"],
        Key=action["objectKey"],
        Body=mail(message_id="<7f3c2a90@mail.customer.example>"),
    )
    monkeypatch.setenv("INBOUND_BUCKET", action["bucketName"])
    _reset_process_caches()
    clock.set_clock(lambda: NOW)
    return DynamoRepository(deployment.name("TicketsTable"), "us-east-1")


def test_every_function_has_a_sample_event() -> None:
    missing = [f"{name}: {path.name}" for name, path in functions_and_samples().items() if not path.exists()]
    assert missing == []
    samples = functions_and_samples()
    assert samples["ReportsFunction"] != samples["ReportsScheduleFunction"]  # one code directory, two


def test_inbound_email_sample_creates_a_ticket(repository: DynamoRepository) -> None:
    from functions.inbound_email import app

    result = app.handler(sample("inbound_email.json"), FakeLambdaContext())

    [outcome] = result["results"]
    assert outcome["outcome"] == "created"
    ticket = repository.get_ticket(outcome["ticket_id"])
    assert ticket is not None
    assert (ticket.number, ticket.subject) == (1, "Printer not working")


def test_inbound_sms_sample_is_stored(repository: DynamoRepository) -> None:
    from functions.inbound_sms import app

    result = app.handler(sample("inbound_sms.json"), FakeLambdaContext())

    assert result.get("batchItemFailures", []) == []
    [ticket] = repository.scan_tickets()
    assert ticket.channel == "sms"


def test_social_webhook_sample_is_verified_and_stored(
    repository: DynamoRepository, deployment: Deployment
) -> None:
    from functions.social_webhook import app

    # signed with the fixtures' test app secret (tests/events/webhooks/README.md)
    boto3.client("secretsmanager").put_secret_value(
        SecretId=deployment.name("WebhookSecret"),
        SecretString=json.dumps({"meta_app_secret": "test-meta-app-secret", "meta_verify_token": "t"}),
    )
    response = app.handler(sample("social_webhook.json"), FakeLambdaContext())

    assert response["statusCode"] == 200
    [ticket] = repository.scan_tickets()
    assert ticket.channel == "messenger"


def _store_stream_image(name: str, deployment: Deployment) -> str:
    """Put the item the sample's stream record shows, as the table held it when the record was written."""
    [record] = sample(name)["Records"]
    image = record["dynamodb"]["NewImage"]
    boto3.client("dynamodb").put_item(TableName=deployment.name("TicketsTable"), Item=image)
    ticket_id: str = image["id"]["S"]
    return ticket_id


def test_route_ticket_sample_routes_the_new_ticket(
    repository: DynamoRepository, deployment: Deployment
) -> None:
    from functions.route_ticket import app

    ticket_id = _store_stream_image("route_ticket.json", deployment)

    assert app.handler(sample("route_ticket.json"), FakeLambdaContext()) == {"batchItemFailures": []}
    ticket = repository.get_ticket(ticket_id)
    assert ticket is not None
    assert (ticket.team, ticket.assignee is not None) == ("support", True)
    assert all_unrouted(repository, NOW) == []


def test_route_ticket_schedule_sample_runs_the_overflow(repository: DynamoRepository) -> None:
    from functions.route_ticket import app

    assert app.handler(sample("route_ticket_schedule.json"), FakeLambdaContext()) == {
        "overflowed": 0,
        "assigned": 0,
    }


def test_auto_followup_sample_is_processed(repository: DynamoRepository, deployment: Deployment) -> None:
    from functions.auto_followup import app

    ticket_id = _store_stream_image("auto_followup.json", deployment)

    assert app.handler(sample("auto_followup.json"), FakeLambdaContext()) == {"batchItemFailures": []}
    # routing gave the new ticket its team and SLA: its acknowledgement is queued, promising the
    # ticket's own first-response due time
    [acknowledgement] = repository.list_outbound()
    assert (acknowledgement.ticket_id, acknowledgement.kind) == (ticket_id, "ack")
    ticket = repository.get_ticket(ticket_id)
    assert ticket is not None
    first_response = ticket.sla.target("first_response")
    assert first_response is not None
    assert acknowledgement.promised_due_at == first_response.due_at


def test_sla_sweeper_sample_probes_the_shards_and_dispatches_none_on_an_empty_table(
    repository: DynamoRepository,
) -> None:
    from functions.sla_sweeper import app

    result = app.handler(sample("sla_sweeper.json"), FakeLambdaContext())

    assert (result["tasks"], result["outbound_retried"]) == (0, 0)


def test_sla_sweep_worker_sample_sweeps_its_shard(repository: DynamoRepository) -> None:
    from functions.sla_sweep_worker import app

    assert app.handler(sample("sla_sweep_worker.json"), FakeLambdaContext()) == {
        "batchItemFailures": [],
        "read": 0,
        "routed": 0,
    }


def test_agent_api_sample_reads_ticket_one(repository: DynamoRepository) -> None:
    from functions.agent_api import app
    from functions.inbound_email import app as email_app

    email_app.handler(sample("inbound_email.json"), FakeLambdaContext())  # ticket #1

    response = app.handler(sample("agent_api.json"), FakeLambdaContext())

    assert response["statusCode"] == 200
    assert json.loads(response["body"])["ticket"]["number"] == 1


def test_reports_sample_answers_an_admins_report_by_team(repository: DynamoRepository) -> None:
    from functions.inbound_email import app as email_app
    from functions.reports import app
    from shared.config import load_config
    from shared.logic.report_ledgers import refresh_ledger

    # Given ticket #1 and its ledger in the aggregates (the use case route_ticket's projection runs)
    result = email_app.handler(sample("inbound_email.json"), FakeLambdaContext())
    refresh_ledger(result["results"][0]["ticket_id"], repository, load_config(None))

    # When the sample asks for Monday's report by team, as an admin
    response = app.handler(sample("reports.json"), FakeLambdaContext())

    # Then the day's one ticket is counted
    assert response["statusCode"] == 200
    report = json.loads(response["body"])
    assert (report["group_by"], report["total"]["volume"]["created"]) == ("team", 1)


def test_report_exports_sample_runs_the_export_job_it_names(repository: DynamoRepository) -> None:
    from functions.inbound_email import app as email_app
    from functions.report_exports import app
    from shared.dal.exports import DynamoExports
    from shared.logic.exports import request_export
    from shared.logic.permissions import Principal, Role
    from shared.models.exports import ExportRequest
    from tests.fakes.exports import RecordingDispatch

    # Given ticket #1, and the export of its day that sam (an admin) asked for under the sample's key
    email_app.handler(sample("inbound_email.json"), FakeLambdaContext())
    exports = DynamoExports(repository.table_name, "us-east-1")
    period = ExportRequest.model_validate({"from": "2026-03-02", "to": "2026-03-02"})
    sam = Principal("sam", Role.ADMIN, frozenset())
    job, _ = request_export(period, sam, "sample-export-2026-03-02", NOW, exports, RecordingDispatch())
    assert job.id == sample("report_exports.json")["job_id"]
    app._run.cache_clear()

    # When the worker gets the sample
    result = app.handler(sample("report_exports.json"), FakeLambdaContext())

    # Then it wrote the day's one ticket to the exports bucket
    assert result == {"job_id": job.id, "status": "done", "rows": 1, "parts": 1}


def test_analytics_export_sample_lands_in_the_analytics_bucket(
    repository: DynamoRepository, deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gzip

    from functions.analytics_export import app
    from shared.settings import reset_settings

    bucket = deployment.name("AnalyticsBucket")
    monkeypatch.setenv("ANALYTICS_BUCKET", bucket)
    reset_settings()
    app._writer.cache_clear()

    # When the sample's batch (a `created` event stored, then the ticket's first ledger) arrives
    assert app.handler(sample("analytics_export.json"), FakeLambdaContext()) == {"batchItemFailures": []}

    # Then an events object and a ledgers object hold one row each
    s3 = boto3.client("s3")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert [k.split("/")[:2] for k in keys] == [["events", "dt=2026-03-02"], ["ledgers", "dt=2026-03-02"]]
    rows = [json.loads(gzip.decompress(s3.get_object(Bucket=bucket, Key=k)["Body"].read())) for k in keys]
    event, ledger = rows
    assert (event["type"], event["ticket_id"]) == ("created", ledger["ticket_id"])
    assert ("created", "2026-03-02") in {(m["metric"], m["day"]) for m in ledger["measures"]}


def test_reports_schedule_sample_sends_the_digest_due_at_its_hour(
    repository: DynamoRepository, deployment: Deployment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.reports import schedule
    from tests.integration.conftest import use_config

    # Given a daily digest of support at 07:00 UTC (the sample fires at 07:05 on Monday 2 March)
    use_config(
        "teams: [{id: support}]\nreports:\n  digests: [{team: support, to: [lead@example.com], hour: 7}]\n",
        tmp_path,
        monkeypatch,
    )
    clock.set_clock(lambda: NOW)

    result = schedule.handler(sample("reports_schedule.json"), FakeLambdaContext())

    # Then Sunday's digest is sent and its page stored
    assert result == {"sent": 1, "skipped": 0, "failed": 0}
    stored = boto3.client("s3").list_objects_v2(Bucket=deployment.name("DigestsBucket"))["Contents"]
    assert [o["Key"] for o in stored] == ["digests/support/daily/2026-03-01.html"]


def test_live_sample_disconnect_is_answered(
    repository: DynamoRepository, deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.live import app

    for name, value in deployment.functions["LiveFunction"].environment.items():
        monkeypatch.setenv(name, value)
    # a disconnect of a connection the table does not hold (never admitted, or its items expired)
    assert app.handler(sample("live.json"), FakeLambdaContext()) == {
        "statusCode": 200,
        "body": "disconnected",
    }


def test_live_push_sample_reaches_the_connected_agents(
    repository: DynamoRepository, deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends
    from moto.core import DEFAULT_ACCOUNT_ID  # type: ignore[attr-defined]

    from functions.inbound_email import app as email_app
    from functions.live_push import app
    from shared.logic.live import connection_partitions
    from shared.models.live import LiveConnection

    for name, value in deployment.functions["LivePushFunction"].environment.items():
        monkeypatch.setenv(name, value)
    app._pusher.cache_clear()
    # Given the sample's ticket (ticket #1, no team yet: everyone sees it) and an agent connected
    result = email_app.handler(sample("inbound_email.json"), FakeLambdaContext())
    event = sample("live_push.json")
    body = json.loads(event["Records"][0]["body"])
    body["ticket_id"] = result["results"][0]["ticket_id"]
    event["Records"][0]["body"] = json.dumps(body)
    agent = LiveConnection(
        connection_id="Jx1KpcW6oAMCJ0A=",
        agent_id="agent",
        role=1,
        teams=[],
        connected_at=NOW,
        expires_at=NOW + timedelta(hours=2),
    )
    repository.add_connection(agent, connection_partitions(agent))

    assert app.handler(event, FakeLambdaContext()) == {"batchItemFailures": []}

    backend = apigatewaymanagementapi_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    # moto keeps the id as it was in the request path (URL-quoted); API Gateway decodes it
    pushed = json.loads(backend.connections[quote("Jx1KpcW6oAMCJ0A=", safe="")].data)
    assert (pushed["type"], pushed["ticket"]["number"]) == ("ticket.created", 1)
    app._pusher.cache_clear()
