"""Write the omnichannel example's scenario.jsonl from the readable sources below.

    .venv/bin/python examples/omnichannel/make_scenario.py [OUT]     # OUT defaults to scenario.jsonl here

Webhook bodies are built here as Python data, serialised the way each platform sends them (Meta:
compact JSON, non-ASCII escaped as \\uXXXX and "/" as "\\/"; X: compact UTF-8) and signed with the
simulator's default webhook secrets (`helpdesk simulate` puts them into `WebhookSecret` unless
`--secrets` says otherwise). Payload timestamps are derived from each step's `at`, a moment before
the request arrives, as on the real platforms. Edit this file, not scenario.jsonl, then rerun it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# The simulator's default WebhookSecret (simulator/secret_values.py), also the test fixtures' values.
META_APP_SECRET = "test-meta-app-secret"  # noqa: S105 - a published test value
META_VERIFY_TOKEN = "test-meta-verify-token"  # noqa: S105
X_CONSUMER_SECRET = "test-x-consumer-secret"  # noqa: S105
WRONG_SECRET = "not-the-app-secret"  # noqa: S105 - what a forger would sign with

OUR_SMS_NUMBER = "+12125550101"
PAGE_ID = "102938475610293"
IG_ACCOUNT = "17841405726653026"
WABA_ID = "102290129340398"
WA_PHONE_NUMBER_ID = "106540352242922"
X_ACCOUNT = "4337869213"

SHEENA_PHONE = "+16505551234"  # writes by SMS, then on WhatsApp from the same number
TOM_PSID = "7392015648120394"  # Messenger
RAVI_PSID = "6120394739201564"  # Messenger, in the batched delivery
LENA_IGSID = "1123581321345589"  # Instagram
JORDAN_X = "3001969357"  # X
JANE_FB = "5813213455891442"  # comments on the Facebook page
MALLORY_PSID = "4455667788990011"  # the forged request's sender
DIEGO_PHONE = "+12065550143"  # his SMS is delivered twice
ANNA_FOLLOWUP_ID = "<c93d5a70-2f14-4b8e-a6d1-7e0f9b2c4a81@fjord-design.example>"  # emails/02-..., a REF

Step = dict[str, Any]


def at(clock: str) -> datetime:
    return datetime.fromisoformat(f"2025-03-12T{clock}+00:00")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ms(moment: datetime, before: float = 0.5) -> int:
    return int((moment - timedelta(seconds=before)).timestamp() * 1000)


# -- how the platforms send -------------------------------------------------------------------------
def meta_bytes(payload: dict[str, Any]) -> str:
    """Meta's serialisation: compact, ASCII only (\\uXXXX escapes), slashes escaped."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/")


def x_bytes(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def meta_post(body: str, secret: str = META_APP_SECRET) -> dict[str, Any]:
    raw = body.encode("utf-8")
    return {
        "method": "POST",
        "path": "/webhooks/meta",
        "headers": {
            "Content-Type": "application/json",
            "User-Agent": "facebookexternalua",
            "X-Hub-Signature": "sha1=" + hmac.new(secret.encode(), raw, hashlib.sha1).hexdigest(),
            "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest(),
        },
        "body": body,
    }


def x_post(body: str) -> dict[str, Any]:
    digest = hmac.new(X_CONSUMER_SECRET.encode(), body.encode("utf-8"), hashlib.sha256).digest()
    return {
        "method": "POST",
        "path": "/webhooks/x",
        "headers": {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Twitter-Webhooks/1.0",
            "X-Twitter-Webhooks-Signature": "sha256=" + base64.b64encode(digest).decode(),
        },
        "body": body,
    }


# -- payloads -------------------------------------------------------------------------------------
def messenger_item(psid: str, mid: str, text: str, moment: datetime) -> dict[str, Any]:
    return {
        "sender": {"id": psid},
        "recipient": {"id": PAGE_ID},
        "timestamp": ms(moment),
        "message": {"mid": mid, "text": text},
    }


def messenger(psid: str, mid: str, text: str, moment: datetime) -> str:
    entry = {"id": PAGE_ID, "time": ms(moment, 0.2), "messaging": [messenger_item(psid, mid, text, moment)]}
    return meta_bytes({"object": "page", "entry": [entry]})


def instagram_dm(igsid: str, mid: str, text: str, moment: datetime) -> str:
    item = {
        "sender": {"id": igsid},
        "recipient": {"id": IG_ACCOUNT},
        "timestamp": ms(moment),
        "message": {"mid": mid, "text": text},
    }
    return meta_bytes(
        {"object": "instagram", "entry": [{"id": IG_ACCOUNT, "time": ms(moment, 0.2), "messaging": [item]}]}
    )


def whatsapp_text(phone: str, name: str, wamid: str, text: str, moment: datetime) -> str:
    wa_id = phone.lstrip("+")
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": WA_PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
        "messages": [
            {
                "from": wa_id,
                "id": wamid,
                "timestamp": str(int(moment.timestamp()) - 1),
                "type": "text",
                "text": {"body": text},
            }
        ],
    }
    entry = {"id": WABA_ID, "changes": [{"value": value, "field": "messages"}]}
    return meta_bytes({"object": "whatsapp_business_account", "entry": [entry]})


def page_comment(author: str, name: str, comment_id: str, post_id: str, text: str, moment: datetime) -> str:
    created = int(moment.timestamp()) - 1
    comment = {
        "from": {"id": author, "name": name},
        "item": "comment",
        "comment_id": comment_id,
        "post_id": post_id,
        "parent_id": post_id,
        "verb": "add",
        "created_time": created,
        "message": text,
    }
    like = {
        "from": {"id": author, "name": name},
        "item": "reaction",
        "reaction_type": "like",
        "verb": "add",
        "post_id": post_id,
        "parent_id": post_id,
        "created_time": created,
    }
    changes = [{"field": "feed", "value": comment}, {"field": "feed", "value": like}]
    return meta_bytes({"object": "page", "entry": [{"id": PAGE_ID, "time": created, "changes": changes}]})


def messenger_batch(moment: datetime) -> str:
    """Three entries in one delivery: Tom again, Ravi (new) with a reaction, Ravi under standby."""
    first = {
        "id": PAGE_ID,
        "time": ms(moment, 0.9),
        "messaging": [
            messenger_item(
                TOM_PSID,
                "m_OmniTom0000000000000000000000000000003",
                "Is anyone there?",
                moment - timedelta(seconds=0.9),
            ),
        ],
    }
    reaction = {
        "sender": {"id": RAVI_PSID},
        "recipient": {"id": PAGE_ID},
        "timestamp": ms(moment, 0.6),
        "reaction": {
            "mid": "m_OmniTom0000000000000000000000000000001",
            "action": "react",
            "reaction": "love",
            "emoji": "\u2764\ufe0f",
        },
    }
    second = {
        "id": PAGE_ID,
        "time": ms(moment, 0.5),
        "messaging": [
            messenger_item(
                RAVI_PSID,
                "m_OmniRavi000000000000000000000000000001",
                "Hello, I need a copy of invoice INV-20877",
                moment - timedelta(seconds=0.7),
            ),
            reaction,
        ],
    }
    standby_item = messenger_item(
        RAVI_PSID,
        "m_OmniRavi000000000000000000000000000002",
        "Also, my address changed to Storgata 5, Tromsø",
        moment - timedelta(seconds=0.3),
    )
    third = {"id": PAGE_ID, "time": ms(moment, 0.2), "standby": [standby_item]}
    return meta_bytes({"object": "page", "entry": [first, second, third]})


def x_dm(sender: str, name: str, screen_name: str, dm_id: str, text: str, moment: datetime) -> str:
    event = {
        "type": "message_create",
        "id": dm_id,
        "created_timestamp": str(ms(moment)),
        "message_create": {
            "target": {"recipient_id": X_ACCOUNT},
            "sender_id": sender,
            "message_data": {
                "text": text,
                "entities": {"hashtags": [], "symbols": [], "user_mentions": [], "urls": []},
            },
        },
    }
    users = {
        sender: {
            "id": sender,
            "name": name,
            "screen_name": screen_name,
            "protected": False,
            "verified": False,
        },
        X_ACCOUNT: {
            "id": X_ACCOUNT,
            "name": "Northwind Support",
            "screen_name": "northwind_help",
            "protected": False,
            "verified": True,
        },
    }
    return x_bytes({"for_user_id": X_ACCOUNT, "direct_message_events": [event], "users": users})


def sms(origination: str, text: str, message_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "originationNumber": origination,
        "destinationNumber": OUR_SMS_NUMBER,
        "messageKeyword": "KEYWORD_123456789012",
        "messageBody": text,
        "inboundMessageId": message_id,
        **extra,
    }


# -- the day --------------------------------------------------------------------------------------
def steps() -> list[Step]:
    tom_first = messenger(
        TOM_PSID, "m_OmniTom0000000000000000000000000000001", "Hi, my café order is late", at("08:30:00")
    )
    return [
        {"at": iso(at("08:00:00")), "tick": {}},
        {"at": iso(at("08:02:03")), "email": {"file": "emails/01-en-invoice-vat.eml"}},
        {
            "at": iso(at("08:10:00")),
            "sms": sms(
                SHEENA_PHONE,
                "Hi, this is Sheena. My refund for order 4821 hasn't arrived yet.",
                "3f1c9a52-7d0e-4b8a-9e61-2a5c8d7f0b13",
            ),
        },
        {
            "at": iso(at("08:14:00")),
            "webhook": meta_post(
                whatsapp_text(
                    SHEENA_PHONE,
                    "Sheena Nelson",
                    "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBRPbW5pV2hhdHNBcHAwMDAwMDAwMQA=",
                    "Where is my refund? I also sent you a text.",
                    at("08:14:00"),
                )
            ),
        },
        {
            "at": iso(at("08:20:00")),
            "webhook": {
                "method": "GET",
                "path": "/webhooks/meta",
                "query": {
                    "hub.mode": "subscribe",
                    "hub.challenge": "1158201444",
                    "hub.verify_token": META_VERIFY_TOKEN,
                },
                "headers": {"User-Agent": "facebookexternalua"},
            },
        },
        {
            "at": iso(at("08:21:00")),
            "webhook": {
                "method": "GET",
                "path": "/webhooks/x",
                "query": {"crc_token": "9b4507b3-9040-4669-9ca3-6b94edb50553", "nonce": "MTc0MTc2NzY2MDAwMA"},
                "headers": {"User-Agent": "Twitter-Webhooks/1.0"},
            },
        },
        {"at": iso(at("08:30:00")), "webhook": meta_post(tom_first)},
        {
            "at": iso(at("08:33:00")),
            "webhook": meta_post(
                messenger(
                    TOM_PSID,
                    "m_OmniTom0000000000000000000000000000002",
                    "It was order 5531, placed on Monday",
                    at("08:33:00"),
                )
            ),
        },
        {
            "at": iso(at("08:40:00")),
            "webhook": meta_post(
                instagram_dm(
                    LENA_IGSID,
                    "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOk9tbmlMZW5hMDAwMDAx",
                    "Do you ship to Zürich?",
                    at("08:40:00"),
                )
            ),
        },
        {
            "at": iso(at("08:45:00")),
            "webhook": x_post(
                x_dm(
                    JORDAN_X,
                    "Jordan Brinks",
                    "jbrinks",
                    "1899584311245373440",
                    "Hi! My café order #4821 is late 🙁",
                    at("08:45:00"),
                )
            ),
        },
        {
            "at": iso(at("09:00:00")),
            "webhook": meta_post(
                page_comment(
                    JANE_FB,
                    "Jane Doe",
                    f"{PAGE_ID}_8877665544332211",
                    f"{PAGE_ID}_8877665544330000",
                    "My order #4821 still hasn't shipped, two weeks now!",
                    at("09:00:00"),
                )
            ),
        },
        {
            "at": iso(at("09:05:00")),
            "webhook": meta_post(
                messenger(
                    MALLORY_PSID,
                    "m_OmniForged00000000000000000000000000001",
                    "Please refund order 9999 to my new card",
                    at("09:05:00"),
                ),
                secret=WRONG_SECRET,
            ),
        },
        {"at": iso(at("09:10:00")), "webhook": meta_post(tom_first)},
        {"at": iso(at("09:20:00")), "webhook": meta_post(messenger_batch(at("09:20:00")))},
        {"at": iso(at("09:30:00")), "sms": sms(SHEENA_PHONE, "STOP", "8b0e4d21-5c3a-4f7e-b2d9-61a0c7e3f452")},
        {
            "at": iso(at("09:45:00")),
            "sms": sms(SHEENA_PHONE, "START", "a42d7f90-1e6b-4c08-8d35-f9b2e07c1a66"),
        },
        {
            "at": iso(at("10:00:00")),
            "sms": sms("+999 12345", "win a prize, reply YES", "d6e1b3c8-90fa-4a27-b5d4-3c8e2f1a7b09"),
        },
        {
            "at": iso(at("10:10:00")),
            "sms": {
                **sms(
                    DIEGO_PHONE,
                    "Can I still change the delivery address for order 5602?",
                    "5e9f2a13-c4d8-4b6e-a071-8d3b6c2e9f54",
                ),
                "deliveries": 2,
            },
        },
        {"at": iso(at("10:29:40")), "email": {"file": "emails/02-en-invoice-vat-followup.eml"}},
        {
            "at": iso(at("10:35:00")),
            "webhook": {
                "method": "POST",
                "path": "/webhooks/tiktok",
                "headers": {"Content-Type": "application/json"},
                "body": "{}",
            },
        },
        # Agents answer through the agent API: a reply goes out on the ticket's channel, a note never does.
        {
            "at": iso(at("10:38:00")),
            "reply": {
                "ticket": 9,
                "agent": "carol",
                "text": (
                    "Hi Diego, yes: order 5602 ships tomorrow. Text us the new address and we'll change it. "
                    "Carol"
                ),
            },
        },
        {
            "at": iso(at("10:42:00")),
            "note": {
                "ticket": 1,
                "agent": "alice",
                "text": (
                    "Billing issued INV-20931-C with the VAT number and PO-7781; the old invoice is void."
                ),
            },
        },
        {
            "at": iso(at("10:45:00")),
            "reply": {
                "ticket": ANNA_FOLLOWUP_ID,
                "agent": "alice",
                "text": (
                    "Hello Anna,\n\nthe corrected invoice INV-20931-C shows your VAT number and the "
                    "purchase order number PO-7781; our billing team has sent it to your accountant.\n\n"
                    "Kind regards,\nAlice"
                ),
            },
        },
        {"at": iso(at("12:00:00")), "tick": {}},
    ]


def render(all_steps: list[Step]) -> str:
    return "".join(json.dumps(step, ensure_ascii=False) + "\n" for step in all_steps)


def main(argv: list[str]) -> None:
    out = Path(argv[1]) if len(argv) > 1 else HERE / "scenario.jsonl"
    out.write_text(render(steps()), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv)
