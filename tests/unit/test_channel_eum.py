"""SMS through End User Messaging: the SendTextMessage request, checked against botocore's own
service model with a Stubber (moto has no pinpoint-sms-voice-v2), and how failures are classified."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber

from shared.channels.eum import EumSmsSender
from shared.channels.outbound import SendError
from shared.models.outbound import OutboundMessage

AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def sms(text: str = "We got your message (ticket #7).") -> OutboundMessage:
    return OutboundMessage(
        key="ack#tkt_1",
        ticket_id="tkt_1",
        channel="sms",
        kind="ack",
        to="+14255550182",
        from_address="+12125550101",
        text=text,
        created_at=AT,
    )


@pytest.fixture
def client():  # a real botocore client: requests are validated against the service model
    return boto3.client(
        "pinpoint-sms-voice-v2",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_sends_from_the_number_the_customer_wrote_to(client) -> None:
    sender = EumSmsSender(client, configuration_set="helpdesk-sms", max_price="0.05")
    with Stubber(client) as stub:
        stub.add_response(
            "send_text_message",
            {"MessageId": "eum-msg-1"},
            {
                "DestinationPhoneNumber": "+14255550182",
                "OriginationIdentity": "+12125550101",
                "MessageBody": "We got your message (ticket #7).",
                "MessageType": "TRANSACTIONAL",
                "Context": {"outbox_key": "ack#tkt_1", "ticket_id": "tkt_1"},
                "ConfigurationSetName": "helpdesk-sms",
                "MaxPrice": "0.05",
            },
        )
        assert sender.send(sms()) == "eum-msg-1"
        stub.assert_no_pending_responses()


def test_an_opted_out_number_is_a_permanent_failure(client) -> None:
    with Stubber(client) as stub:
        stub.add_client_error(
            "send_text_message",
            service_error_code="ConflictException",
            service_message="The destination phone number is opted out",
            http_status_code=400,
            modeled_fields={
                "Message": "The destination phone number is opted out",
                "Reason": "DESTINATION_PHONE_NUMBER_OPTED_OUT",
                "ResourceType": "opt-out-list",
                "ResourceId": "Default",
            },
        )
        with pytest.raises(SendError) as raised:
            EumSmsSender(client).send(sms())
    assert raised.value.outcome == "failed"
    assert "opted out" in str(raised.value)


@pytest.mark.parametrize(
    ("code", "status", "outcome"),
    [
        ("ThrottlingException", 400, "retry"),
        ("ServiceQuotaExceededException", 402, "retry"),
        ("InternalServerException", 500, "unknown"),  # may have been sent: never resent
        ("ValidationException", 400, "failed"),
        ("AccessDeniedException", 400, "failed"),
        ("ResourceNotFoundException", 404, "failed"),
    ],
)
def test_failures_are_classified_for_the_outbox(client, code: str, status: int, outcome: str) -> None:
    with Stubber(client) as stub:
        stub.add_client_error("send_text_message", service_error_code=code, http_status_code=status)
        with pytest.raises(SendError) as raised:
            EumSmsSender(client).send(sms())
    assert raised.value.outcome == outcome
    assert code in str(raised.value)


def test_a_body_over_the_limit_fails_before_any_request(client) -> None:
    with Stubber(client), pytest.raises(SendError) as raised:  # no response queued: a request would fail
        EumSmsSender(client).send(sms("x" * 1601))
    assert raised.value.permanent
    assert "1601" in str(raised.value)
