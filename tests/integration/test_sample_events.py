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
from tests.integration.conftest import ROOT, FakeLambdaContext, _reset_process_caches, mail

SAMPLES = ROOT / "events"
NOW = clock.parse_iso("2026-03-02T09:20:00.000Z")


def sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return event


def functions_and_samples() -> dict[str, Path]:
    """Each function of the template and its sample, named after its code directory."""
    from simulator.template import load_template

    resources = load_template(ROOT / "template.yaml")["Resources"]
    return {
        name: SAMPLES / f"{Path(spec['Properties']['CodeUri']).name}.json"
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
    assert repository.unrouted_tickets(NOW) == []


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


def test_sla_sweeper_sample_runs_a_sweep(repository: DynamoRepository) -> None:
    from functions.sla_sweeper import app

    result = app.handler(sample("sla_sweeper.json"), FakeLambdaContext())

    assert (result["read"], result["routed_by_sweep"]) == (0, 0)


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
