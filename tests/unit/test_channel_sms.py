"""SMS channel: phone numbers, consent keywords, inbound payloads and segment counts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.channels.sms import (
    HELP_KEYWORDS,
    OPT_IN_KEYWORDS,
    OPT_OUT_KEYWORDS,
    InvalidPhoneNumberError,
    classify_keyword,
    normalize_phone,
    parse_sms,
    segments,
)
from shared.errors import HelpdeskError, InvalidEventError
from shared.models.inbound import ConsentAction, ConsentEvent, InboundMessage
from shared.models.ticket import Channel, IdentityKind

FIXTURES = Path(__file__).resolve().parents[1] / "events" / "webhooks"
RECEIVED = datetime(2025, 1, 14, 10, 20, 3, 120000, tzinfo=UTC)


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def payload(**changes: Any) -> dict[str, Any]:
    data = load("sms_inbound.json")
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


# --- phone numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+14255550182", None, "+14255550182"),
        ("+1 425-555-0182", None, "+14255550182"),
        ("  +1 (425) 555.0182 ", None, "+14255550182"),
        ("(425) 555-0182", "US", "+14255550182"),
        ("4255550182", "US", "+14255550182"),
        ("+33 6 12 34 56 78", None, "+33612345678"),
        ("06 12 34 56 78", "FR", "+33612345678"),
    ],
)
def test_normalize_phone_gives_e164(raw: str, region: str | None, expected: str) -> None:
    assert normalize_phone(raw, region) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "(425) 555-0182",  # national format, and no default region to read it with
        "4255550182",
        "+1 800 FLOWERS",  # vanity letters
        "hello",
        "+1425555O182",  # a letter O instead of a zero
        "",
        "   ",
        "+1234",
        "+1 425 555 0182 ext. 12",
        "tel:+14255550182",
    ],
)
def test_normalize_phone_refuses_what_is_not_a_number(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumberError):
        normalize_phone(raw)


def test_invalid_phone_number_error_is_a_helpdesk_error_with_the_value_in_it() -> None:
    with pytest.raises(HelpdeskError, match=r"\(425\) 555-0182.*no default region"):
        normalize_phone("(425) 555-0182")


def test_strict_needs_a_valid_number_lenient_a_possible_one() -> None:
    # Given a UK drama number (reserved range: possible length, not valid in libphonenumber)
    number = "+447700900123"
    # Then strict refuses it and lenient keeps it
    with pytest.raises(InvalidPhoneNumberError):
        normalize_phone(number)
    assert normalize_phone(number, strict=False) == number


# --- keywords -----------------------------------------------------------------------------------


@pytest.mark.parametrize("keyword", sorted(OPT_OUT_KEYWORDS))
def test_every_opt_out_keyword_in_any_case(keyword: str) -> None:
    for body in (
        keyword,
        keyword.lower(),
        keyword.capitalize(),
        f"  {keyword}  ",
        f"{keyword}!",
        f"{keyword}.\n",
    ):
        assert classify_keyword(body) == (ConsentAction.OPT_OUT, keyword), body


@pytest.mark.parametrize("keyword", sorted(OPT_IN_KEYWORDS))
def test_every_opt_in_keyword(keyword: str) -> None:
    assert classify_keyword(keyword.lower()) == (ConsentAction.OPT_IN, keyword)
    assert classify_keyword(f"{keyword}?!") == (ConsentAction.OPT_IN, keyword)


@pytest.mark.parametrize("keyword", sorted(HELP_KEYWORDS))
def test_help_keyword(keyword: str) -> None:
    assert classify_keyword(f" {keyword.lower()}? ") == (ConsentAction.HELP, keyword)


def test_keyword_sets_match_the_documented_lists() -> None:
    assert {
        "ARRET",
        "CANCEL",
        "END",
        "OPT-OUT",
        "OPTOUT",
        "QUIT",
        "REMOVE",
        "STOP",
        "TD",
        "UNSUBSCRIBE",
    } == set(OPT_OUT_KEYWORDS)
    assert {"START", "UNSTOP"} == set(OPT_IN_KEYWORDS)
    assert {"HELP"} == set(HELP_KEYWORDS)


@pytest.mark.parametrize(
    "body",
    [
        "stop sending me these",
        "please stop",
        "STOPPED",
        "HELP me with my order",
        "OPT OUT",
        "S T O P",
        "",
        "...",
        "¿stop?",
        "Where is my order?",
    ],
)
def test_a_body_that_is_more_than_a_keyword_is_a_message(body: str) -> None:
    assert classify_keyword(body) is None


# --- inbound payloads ---------------------------------------------------------------------------


def test_inbound_sms_becomes_a_message() -> None:
    # Given the documented End User Messaging payload
    data = load("sms_inbound.json")
    # When it is parsed with the SNS notification's time
    message = parse_sms(data, received_at=RECEIVED)
    # Then it is a channel-neutral SMS message keyed on the inbound message id
    assert isinstance(message, InboundMessage)
    assert message.channel is Channel.SMS
    assert message.provider_message_id == "cae173d2-66b9-564c-8309-21f858e9fb84"
    assert message.sender is not None
    assert message.sender.kind is IdentityKind.PHONE
    assert message.sender.value == "+14255550182"
    assert message.recipient == "+12125550101"
    assert message.conversation_key == "sms:+12125550101:+14255550182"
    assert message.sent_at == RECEIVED
    assert message.text == "Hi, my package #4821 is late. Can you check?"
    assert message.reply_to == "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    assert message.metadata == {"keyword": "JOIN"}
    assert message.public is False
    assert message.attachments == []
    assert message.dedupe_key == "sms:+12125550101:cae173d2-66b9-564c-8309-21f858e9fb84"


def test_stop_becomes_a_consent_event_not_a_message() -> None:
    event = parse_sms(load("sms_stop.json"), received_at=RECEIVED)
    assert isinstance(event, ConsentEvent)
    assert event.action is ConsentAction.OPT_OUT
    assert event.keyword == "STOP"
    assert event.text == "Stop"
    assert event.sender.value == "+14255550182"
    assert event.recipient == "+12125550101"
    assert event.at == RECEIVED
    assert event.provider_message_id == "4f1c0e2a-8b7d-4c39-9e51-2a6f0b8c7d13"
    assert event.dedupe_key == "sms:+12125550101:4f1c0e2a-8b7d-4c39-9e51-2a6f0b8c7d13"


@pytest.mark.parametrize(
    ("body", "action"),
    [(word.lower(), ConsentAction.OPT_OUT) for word in sorted(OPT_OUT_KEYWORDS)]
    + [("Start", ConsentAction.OPT_IN), ("unstop!", ConsentAction.OPT_IN), ("HELP", ConsentAction.HELP)],
)
def test_every_keyword_body_becomes_a_consent_event(body: str, action: ConsentAction) -> None:
    event = parse_sms(payload(messageBody=body), received_at=RECEIVED)
    assert isinstance(event, ConsentEvent)
    assert event.action is action


def test_mms_media_urls_become_attachments() -> None:
    message = parse_sms(load("sms_mms.json"), received_at=RECEIVED)
    assert isinstance(message, InboundMessage)
    assert len(message.attachments) == 1
    attachment = message.attachments[0]
    assert attachment.type == "media"
    assert attachment.url == "https://example-mms-media.s3.amazonaws.com/inbound/9a0b1c2d/IMG_0042.jpg"
    assert attachment.mime_type == "image/jpeg"


def test_media_urls_that_are_not_strings_are_skipped() -> None:
    message = parse_sms(payload(mediaUrls=["", 42, "https://x.example/a.png?sig=1"]), received_at=RECEIVED)
    assert isinstance(message, InboundMessage)
    assert [a.mime_type for a in message.attachments] == ["image/png"]


def test_sns_lambda_event_message_string_parses() -> None:
    # Given the SNS Lambda event the inbound_sms function receives
    event = load("sns_sms_stop.json")
    sns = event["Records"][0]["Sns"]
    received = datetime.fromisoformat(sns["Timestamp"].replace("Z", "+00:00"))
    # When its Message (a JSON string) is parsed
    result = parse_sms(sns["Message"], received_at=received)
    # Then it is the STOP consent event, at the notification's time
    assert isinstance(result, ConsentEvent)
    assert result.at == datetime(2025, 1, 14, 10, 25, 41, 7000, tzinfo=UTC)


@pytest.mark.parametrize("name", ["sns_sms_inbound.json", "sns_sms_stop.json", "sns_sms_mms.json"])
def test_sns_fixtures_have_the_lambda_event_shape(name: str) -> None:
    from aws_lambda_powertools.utilities.parser.models import SnsModel

    event = SnsModel.model_validate(load(name))
    notification = event.Records[0].Sns
    assert notification.Type == "Notification"
    assert str(notification.SigningCertUrl).startswith("https://")
    assert str(notification.UnsubscribeUrl).startswith("https://")
    assert isinstance(
        parse_sms(str(notification.Message), received_at=notification.Timestamp),
        InboundMessage | ConsentEvent,
    )


def test_bytes_payload_is_accepted() -> None:
    raw = (FIXTURES / "sms_inbound.json").read_bytes()
    assert isinstance(parse_sms(raw, received_at=RECEIVED), InboundMessage)


def test_local_origination_number_needs_a_default_region() -> None:
    data = payload(originationNumber="(425) 555-0182")
    with pytest.raises(InvalidPhoneNumberError):
        parse_sms(data, received_at=RECEIVED)
    message = parse_sms(data, received_at=RECEIVED, default_region="US")
    assert message.sender is not None
    assert message.sender.value == "+14255550182"


@pytest.mark.parametrize("number", ["+1425ABC0182", "not-a-number", "+1 800 FLOWERS", "+1234"])
def test_invalid_origination_number_is_a_clear_error(number: str) -> None:
    with pytest.raises(InvalidPhoneNumberError, match="phone number"):
        parse_sms(payload(originationNumber=number), received_at=RECEIVED)


def test_short_code_destination_is_kept_as_given() -> None:
    message = parse_sms(payload(destinationNumber="262966"), received_at=RECEIVED)
    assert isinstance(message, InboundMessage)
    assert message.recipient == "262966"
    assert message.conversation_key == "sms:262966:+14255550182"


@pytest.mark.parametrize("key", ["originationNumber", "destinationNumber", "inboundMessageId"])
def test_missing_required_key_is_a_clear_error_not_a_key_error(key: str) -> None:
    with pytest.raises(InvalidEventError, match=key):
        parse_sms(payload(**{key: None}), received_at=RECEIVED)


@pytest.mark.parametrize("key", ["originationNumber", "destinationNumber", "inboundMessageId"])
def test_empty_or_non_string_required_key_is_a_clear_error(key: str) -> None:
    with pytest.raises(InvalidEventError, match=key):
        parse_sms(payload(**{key: ""}), received_at=RECEIVED)
    with pytest.raises(InvalidEventError, match=key):
        parse_sms(payload(**{key: 14255550182}), received_at=RECEIVED)


def test_missing_body_is_an_empty_message_and_optional_fields_may_be_absent() -> None:
    data = payload(messageBody=None, messageKeyword=None, previousPublishedMessageId=None)
    message = parse_sms(data, received_at=RECEIVED)
    assert isinstance(message, InboundMessage)
    assert message.text == ""
    assert message.reply_to is None
    assert message.metadata == {}


def test_non_string_body_is_an_error() -> None:
    with pytest.raises(InvalidEventError, match="messageBody"):
        parse_sms(payload(messageBody=["STOP"]), received_at=RECEIVED)


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", '"STOP"', b"\xff\xfe"])
def test_payload_that_is_not_a_json_object_is_an_error(raw: str | bytes) -> None:
    with pytest.raises(InvalidEventError):
        parse_sms(raw, received_at=RECEIVED)


def test_naive_received_at_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_sms(load("sms_inbound.json"), received_at=datetime(2025, 1, 14, 10, 20))


# --- segments -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ("GSM-7", 0)),
        ("Hello", ("GSM-7", 1)),
        ("a" * 160, ("GSM-7", 1)),
        ("a" * 161, ("GSM-7", 2)),
        ("a" * 306, ("GSM-7", 2)),
        ("a" * 307, ("GSM-7", 3)),
        ("a" * 459, ("GSM-7", 3)),
        ("a" * 460, ("GSM-7", 4)),
        ("€" * 80, ("GSM-7", 1)),  # 160 septets
        ("€" * 81, ("GSM-7", 2)),
        ("a" * 159 + "{", ("GSM-7", 2)),  # 161 septets
        ("a" * 152 + "€" + "a" * 152, ("GSM-7", 3)),  # 306 septets, but the escape pair is not split
        ("ç", ("UCS-2", 1)),  # only the capital Ç is in the GSM alphabet
        ("Привет", ("UCS-2", 1)),
        ("я" * 70, ("UCS-2", 1)),
        ("я" * 71, ("UCS-2", 2)),
        ("я" * 134, ("UCS-2", 2)),
        ("я" * 135, ("UCS-2", 3)),
        ("😀" * 35, ("UCS-2", 1)),  # 70 UTF-16 units
        ("😀" * 36, ("UCS-2", 2)),
        ("я" * 66 + "😀" + "я" * 66, ("UCS-2", 3)),  # 134 units, but the surrogate pair is not split
        ("Hello 😀", ("UCS-2", 1)),
        ("Order shipped ✓", ("UCS-2", 1)),
    ],
)
def test_segments(text: str, expected: tuple[str, int]) -> None:
    assert segments(text) == expected


def test_whole_gsm_basic_alphabet_is_gsm7() -> None:
    basic = (
        "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
        "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
    )
    assert len(basic) == 127  # 128 positions less ESC
    assert segments(basic) == ("GSM-7", 1)


def test_extension_characters_cost_two_septets() -> None:
    extension = "^{}\\[~]|€\f"
    assert segments(extension) == ("GSM-7", 1)
    assert segments(extension * 8) == ("GSM-7", 1)  # 160 septets
    assert segments(extension * 8 + "a") == ("GSM-7", 2)


def test_escape_character_itself_forces_ucs2() -> None:
    assert segments("\x1b") == ("UCS-2", 1)
