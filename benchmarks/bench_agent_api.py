"""Warm latency of every agent API route, on moto, as ratios to the handler's own floor.

The agent UI waits on this API (issue 14 §5). Each route of functions/agent_api/app.py is called
through the real handler with the event API Gateway's HTTP API delivers after its JWT authorizer
(payload 2.0, the caller's ID-token claims), on a data set seeded the way production fills it:
`--tickets` emails (default 200) from as many customers through the real inbound_email handler,
one long conversation of `--messages` HTML emails (default 24, about 36 kB of HTML each, the
newest with a PDF attached), quarantined spam, a team's macros. Resources come from template.yaml
(simulator.resources) inside `moto.mock_aws`.

Each route is called once untimed (what it imports or caches on first use is cold-start cost,
which benchmarks/bench_cold_start.py measures), then `--calls` times (default 15), the routes
interleaved round by round so machine noise hits them alike. Writes are real: each PATCH changes
the ticket, each reply, note and macro apply has its own Idempotency-Key, each DELETE and release
acts on an entry made for it beforehand (untimed).

The floor, measured the same way in the same run, is the handler refusing a request at its edge
(no authorizer claims: 401 before routing): the Powertools decorators, the event and the answer,
no validation and no AWS call. Each route's p50 and p95 are printed as ratios to the floor's p50,
with the DynamoDB requests one call makes (counted at the botocore client; the same on AWS, where
each is a network round trip of a few milliseconds, while moto answers in-process). Absolute
times are printed for reference only: moto's in-process DynamoDB is not DynamoDB. An answer with
another status than the route's expected one is reported and makes the exit status 1. Timings are
never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import math
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "tests" / "events"
REGION = "us-east-1"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._offline import item_level_rollback, use_offline_aws  # noqa: E402

use_offline_aws()  # before anything reads the environment

import boto3  # noqa: E402
from botocore.client import BaseClient  # noqa: E402
from moto import mock_aws  # noqa: E402

from simulator.resources import deploy  # noqa: E402

CONFIG = """
teams: [{id: support, name: Support, lead: sam}, {id: billing, name: Billing}]
agents:
  - {id: alice, name: Alice, teams: [support], default_presence: online}
  - {id: bob, name: Bob, teams: [support]}
  - {id: sam, name: Sam, teams: [support]}
  - {id: carol, name: Carol, teams: [billing]}
"""
MACRO = {
    "title": "Refund on its way",
    "body": "Hi {{ customer_name }}, your refund for #{{ ticket.number }} is on its way. {{ agent_name }}",
    "actions": {"status": "pending", "tags_add": ["refund"]},
}


class FakeLambdaContext:
    function_name = "helpdesk-agentapifunction"
    function_version = "$LATEST"
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:helpdesk-agentapifunction"
    memory_limit_in_mb = 512
    aws_request_id = "bench-request"
    log_group_name = "/aws/lambda/helpdesk-agentapifunction"
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 15_000


def claims(agent: str, group: str | None = None) -> dict[str, Any]:
    """A Cognito ID token's claims as the HTTP API's JWT authorizer passes them."""
    found: dict[str, Any] = {
        "sub": f"uuid-{agent}",
        "aud": "agentuiclient01",
        "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_pool01",
        "token_use": "id",
        "cognito:username": agent,
        "custom:agent_id": agent,
    }
    if group:
        found["cognito:groups"] = f"[{group}]"
    return found


AGENT = claims("alice")
SUPERVISOR = claims("sam", "supervisors")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: dict[str, Any] | None = None
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    caller: dict[str, Any] | None = field(default_factory=lambda: AGENT)
    """The authorizer's claims; None sends a request without them (refused at the edge)."""

    def event(self) -> dict[str, Any]:
        """The HTTP API (payload 2.0) event of this request."""
        route_key = f"{self.method} {self.path}"
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": self.path,
            "rawQueryString": urlencode(self.query),
            "headers": {"content-type": "application/json", "authorization": "Bearer eyJ...", **self.headers},
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "agentapi01",
                "domainName": "agentapi01.execute-api.us-east-1.amazonaws.com",
                "domainPrefix": "agentapi01",
                "http": {
                    "method": self.method,
                    "path": self.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "198.51.100.7",
                },
                "requestId": uuid.uuid4().hex,
                "routeKey": route_key,
                "stage": "$default",
                "time": "02/Mar/2026:10:00:00 +0000",
                "timeEpoch": 1772445600000,
            },
            "body": json.dumps(self.body) if self.body is not None else None,
            "isBase64Encoded": False,
        }
        if self.query:
            event["queryStringParameters"] = dict(self.query)
        if self.caller is not None:
            event["requestContext"]["authorizer"] = {"jwt": {"claims": self.caller, "scopes": None}}
        return event


@dataclass(frozen=True)
class Route:
    """One route as the UI calls it: `request(i)` makes the i-th call's request (0 is the warm-up)."""

    label: str
    status: int
    request: Callable[[int], Request]


@dataclass
class Measured:
    seconds: list[float] = field(default_factory=list)
    own: list[float] = field(default_factory=list)
    """Seconds outside the DynamoDB calls: the handler's own work, which moto does not inflate."""
    requests: list[int] = field(default_factory=list)
    unexpected: Counter[int] = field(default_factory=Counter)


class Api:
    """Calls the agent_api handler, counting the DynamoDB requests of each call."""

    def __init__(self, handler: Callable[..., dict[str, Any]]) -> None:
        self.handler = handler
        self.dynamodb = 0
        self.dynamodb_seconds = 0.0

    @contextlib.contextmanager
    def counting(self) -> Iterator[None]:
        original = BaseClient.__dict__["_make_api_call"]

        def counted(client: Any, operation_name: str, api_params: Any) -> Any:
            if client.meta.service_model.service_name != "dynamodb":
                return original(client, operation_name, api_params)
            self.dynamodb += 1
            started = time.perf_counter()
            try:
                return original(client, operation_name, api_params)
            finally:
                self.dynamodb_seconds += time.perf_counter() - started

        with mock.patch.object(BaseClient, "_make_api_call", counted):
            yield

    def call(self, request: Request) -> tuple[int, Any, float, float, int]:
        """Status, parsed body, seconds in all and outside DynamoDB, and the DynamoDB requests of
        one call (the event is made untimed)."""
        event = request.event()
        before, before_seconds = self.dynamodb, self.dynamodb_seconds
        with contextlib.redirect_stdout(io.StringIO()):  # the handler's EMF metrics go to stdout
            started = time.perf_counter()
            response = self.handler(event, FakeLambdaContext())
            elapsed = time.perf_counter() - started
        body = response.get("body")
        own = elapsed - (self.dynamodb_seconds - before_seconds)
        parsed = json.loads(body) if body else None
        return int(response["statusCode"]), parsed, elapsed, own, self.dynamodb - before

    def ok(self, request: Request, status: int) -> Any:
        """Call as set-up (untimed): the parsed body, or an error when the status is another."""
        got, body, *_ = self.call(request)
        if got != status:
            raise RuntimeError(f"set-up {request.method} {request.path} answered {got}: {body}")
        return body


class Inbox:
    """Delivers raw emails as SES (S3 action + SNS notification) does, to the real inbound_email handler."""

    def __init__(self, bucket: str, topic_arn: str, handler: Callable[..., dict[str, Any]]) -> None:
        self.bucket, self.topic_arn, self.handler = bucket, topic_arn, handler
        self.s3 = boto3.client("s3", region_name=REGION)
        self.note = json.loads((EVENTS / "ses_s3_action_notification.json").read_text(encoding="utf-8"))
        self.envelope = json.loads((EVENTS / "sns_lambda_event.json").read_text(encoding="utf-8"))
        self.count = 0

    def deliver(self, raw: bytes, spam: bool = False) -> dict[str, Any]:
        self.count += 1
        ses_id = f"bench-{self.count:06d}"
        at = (START + timedelta(seconds=self.count)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        note = copy.deepcopy(self.note)
        note["mail"]["messageId"] = ses_id
        note["mail"]["timestamp"] = note["receipt"]["timestamp"] = at
        note["receipt"]["action"].update(
            bucketName=self.bucket, objectKey=f"raw/{ses_id}", topicArn=self.topic_arn
        )
        if spam:
            note["receipt"]["spamVerdict"] = {"status": "FAIL"}
        self.s3.put_object(Bucket=self.bucket, Key=f"raw/{ses_id}", Body=raw)
        envelope = copy.deepcopy(self.envelope)
        envelope["Records"][0]["Sns"].update(
            Message=json.dumps(note), MessageId=f"sns-{ses_id}", TopicArn=self.topic_arn
        )
        with contextlib.redirect_stdout(io.StringIO()):
            result: dict[str, Any] = self.handler(envelope, FakeLambdaContext())["results"][0]
        return result


def email(index: int, sender: str, subject: str, html_bytes: int = 0, **extra: Any) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "support@support.example.com"
    message["Subject"] = subject
    message["Message-ID"] = f"<bench-{index}@mail.customer.example>"
    if extra.get("reply_to"):
        message["In-Reply-To"] = message["References"] = extra["reply_to"]
    message.set_content(
        extra.get("body") or f"Message number {index}.\n\nMy printer shows error E42 since this morning."
    )
    if html_bytes:
        filler = "".join(
            f"<p>Line {n} of message {index}, with some words to fill it.</p>"
            for n in range(html_bytes // 60)
        )
        message.add_alternative(
            f"<html><body><p>Message number {index}.</p>{filler}</body></html>", subtype="html"
        )
    if extra.get("attachment"):
        message.add_attachment(
            b"%PDF-1.4 invoice", maintype="application", subtype="pdf", filename="invoice 7.pdf"
        )
    return message.as_bytes()


@dataclass
class Seeded:
    """What the routes act on: the long conversation's number and newest message, other tickets."""

    conversation: int
    newest_ref: str
    tickets: int
    quarantine_ids: list[str]


def seed(inbox: Inbox, api: Api, tickets: int, messages: int, releases: int) -> Seeded:
    """The data set: the long conversation first (ticket 1), then one ticket per customer, then spam."""
    first = "<bench-0@mail.customer.example>"
    for index in range(messages):
        inbox.deliver(
            email(
                index,
                '"Jane Doe" <jane.doe@customer.example>',
                "Printer not working" if index == 0 else "Re: Printer not working",
                html_bytes=40_000,
                reply_to=first if index else None,
                attachment=index == messages - 1,
            )
        )
    for number in range(tickets):
        inbox.deliver(
            email(10_000 + number, f"customer{number}@shop{number % 17}.example", f"Order {number} question")
        )
    for number in range(releases):
        result = inbox.deliver(email(90_000 + number, f"prize{number}@bulk.example", "You won"), spam=True)
        if result["outcome"] != "quarantined":
            raise RuntimeError(f"spam was not quarantined: {result}")
    page = api.ok(Request("GET", "/tickets/1/messages", query={"limit": "1"}), 200)
    listing = api.ok(Request("GET", "/quarantine", query={"limit": "100"}, caller=SUPERVISOR), 200)
    return Seeded(1, page["messages"][0]["ref"], 1 + tickets, [entry["id"] for entry in listing["entries"]])


def routes(api: Api, inbox: Inbox, seeded: Seeded, calls: int) -> list[Route]:
    """Every route of the agent API, each with the requests the UI makes of it."""
    conversation = f"/tickets/{seeded.conversation}"
    message = f"{conversation}/messages/{seeded.newest_ref}"
    macro = api.ok(Request("POST", "/teams/support/macros", MACRO, caller=SUPERVISOR), 201)["macro"]["id"]
    doomed = [
        api.ok(
            Request("POST", "/teams/support/macros", {**MACRO, "title": f"Old {n}"}, caller=SUPERVISOR), 201
        )
        for n in range(calls + 1)
    ]
    releasable = list(seeded.quarantine_ids)
    moves = prepare_moves(api, inbox, calls + 1)  # and the warm-up call

    def ticket(i: int, offset: int) -> str:
        """A ticket of one customer for the i-th call of a route, spread over the data set."""
        return f"/tickets/{2 + (offset * 37 + i) % (seeded.tickets - 1)}"

    def fixed(request: Request) -> Callable[[int], Request]:
        return lambda _: request

    return [
        Route("GET /openapi.json (no token)", 200, fixed(Request("GET", "/openapi.json", caller=None))),
        Route("GET /tickets/{ref} (long conversation)", 200, fixed(Request("GET", conversation))),
        Route("GET /tickets/{ref} (one email)", 200, lambda i: Request("GET", ticket(i, 1))),
        Route("GET /tickets/{ref}/messages", 200, fixed(Request("GET", f"{conversation}/messages"))),
        Route("GET /tickets/{ref}/messages/{message_ref} (HTML)", 200, fixed(Request("GET", message))),
        Route(
            "GET /tickets/{ref}/messages/{message_ref}/attachments/{index}",
            200,
            fixed(Request("GET", f"{message}/attachments/0")),
        ),
        Route("GET /tickets/{ref}/events", 200, fixed(Request("GET", f"{conversation}/events"))),
        Route(
            "PATCH /tickets/{ref}",
            200,
            lambda i: Request("PATCH", ticket(0, 2), {"status": "open" if i % 2 else "pending"}),
        ),
        Route(
            "POST /tickets/{ref}/replies",
            202,
            lambda i: Request(
                "POST",
                ticket(i, 3) + "/replies",
                {"text": "We are on it."},
                headers={"idempotency-key": f"reply-{i}"},
            ),
        ),
        Route(
            "POST /tickets/{ref}/notes",
            201,
            lambda i: Request("POST", ticket(i, 4) + "/notes", {"text": "Model X2."}),
        ),
        Route(
            "PUT /agents/{agent_id}/presence",
            200,
            lambda i: Request("PUT", "/agents/alice/presence", {"status": "online" if i % 2 else "away"}),
        ),
        Route("GET /agents", 200, fixed(Request("GET", "/agents"))),
        Route("GET /agents/{agent_id}/actions", 200, fixed(Request("GET", "/agents/alice/actions"))),
        Route("GET /teams", 200, fixed(Request("GET", "/teams"))),
        Route(
            "GET /customers (by email)",
            200,
            lambda i: Request(
                "GET",
                "/customers",
                query={"email": f"customer{i % (seeded.tickets - 1)}@shop{i % 17}.example"},
            ),
        ),
        Route("GET /quarantine", 200, fixed(Request("GET", "/quarantine", caller=SUPERVISOR))),
        Route(
            "GET /quarantine/{entry_id}",
            200,
            fixed(Request("GET", f"/quarantine/{seeded.quarantine_ids[0]}", caller=SUPERVISOR)),
        ),
        Route(
            "POST /quarantine/{entry_id}/release",
            200,
            lambda i: Request("POST", f"/quarantine/{releasable.pop()}/release", caller=SUPERVISOR),
        ),
        Route("GET /teams/{team}/macros", 200, fixed(Request("GET", "/teams/support/macros"))),
        Route(
            "POST /teams/{team}/macros",
            201,
            lambda i: Request(
                "POST", "/teams/support/macros", {**MACRO, "title": f"New {i}"}, caller=SUPERVISOR
            ),
        ),
        Route(
            "GET /teams/{team}/macros/{macro_id}",
            200,
            fixed(Request("GET", f"/teams/support/macros/{macro}")),
        ),
        Route(
            "PATCH /teams/{team}/macros/{macro_id}",
            200,
            lambda i: Request(
                "PATCH",
                f"/teams/support/macros/{macro}",
                {"title": f"Refund sent {i}"},
                headers={"if-match": f'"{i + 1}"'},
                caller=SUPERVISOR,
            ),
        ),
        Route(
            "DELETE /teams/{team}/macros/{macro_id}",
            204,
            lambda i: Request(
                "DELETE",
                f"/teams/support/macros/{doomed[i]['macro']['id']}",
                headers={"if-match": '"1"'},
                caller=SUPERVISOR,
            ),
        ),
        Route(
            "POST /tickets/{ref}/macros/{team}/{macro_id}/preview",
            200,
            lambda i: Request("POST", f"{ticket(i, 5)}/macros/support/{macro}/preview"),
        ),
        Route(
            "POST /tickets/{ref}/macros/{team}/{macro_id}/apply",
            202,
            lambda i: Request(
                "POST",
                f"{ticket(i, 6)}/macros/support/{macro}/apply",
                {},
                headers={"idempotency-key": f"apply-{i}"},
            ),
        ),
        *move_routes(moves),
    ]


@dataclass
class Moves:
    """Fresh tickets and customers for the routes that change them for good (each call its own)."""

    duplicates: list[tuple[int, int]]
    """(merged, kept) tickets of one customer: the merge routes' calls."""
    merged: list[int]
    """Tickets merged in the setup: the unmerge route's calls."""
    splits: list[tuple[int, str]]
    """A ticket of two customer messages and its newest message's ref: the split route's calls."""
    customers: list[tuple[str, str]]
    """(merged, kept) customers: the customer merge route's calls."""
    customer_merges: list[tuple[str, str]]
    """(kept customer, merge id) of merges made in the setup: the undo route's calls."""
    suggested: list[int]
    """Tickets whose message suggests a phone number (+1 425 555 01nn): confirm and reject calls."""
    mentions: list[int]
    """Public tickets of one X mention each: the private reply route's calls (one per mention)."""


def _customer_id(api: Api, address: str) -> str:
    found: str = api.ok(Request("GET", "/customers", query={"email": address}), 200)["customer"]["id"]
    return found


def prepare_moves(api: Api, inbox: Inbox, calls: int) -> Moves:
    """Tickets, messages and customers made before the timing, through the real handlers."""
    numbers = []
    for n in range(4 * calls):
        sender = f"dup{n // 2}@twice.example"
        numbers.append(inbox.deliver(email(50_000 + n, sender, f"Twice {n}"))["ticket_number"])
    pairs = [(numbers[2 * k], numbers[2 * k + 1]) for k in range(2 * calls)]
    for merged, kept in pairs[calls:]:
        api.ok(Request("POST", f"/tickets/{merged}/merge", {"into": str(kept)}), 200)
    splits = []
    for n in range(calls):
        first = inbox.deliver(email(60_000 + 2 * n, f"split{n}@two.example", f"Two things {n}"))
        reply_to = f"<bench-{60_000 + 2 * n}@mail.customer.example>"
        inbox.deliver(
            email(60_001 + 2 * n, f"split{n}@two.example", f"Re: Two things {n}", reply_to=reply_to)
        )
        page = api.ok(
            Request("GET", f"/tickets/{first['ticket_number']}/messages", query={"limit": "1"}), 200
        )
        splits.append((int(first["ticket_number"]), str(page["messages"][0]["ref"])))
    customers = []
    for n in range(2 * calls):
        for side in ("a", "b"):
            inbox.deliver(email(70_000 + 2 * n + (side == "b"), f"{side}{n}@people.example", f"Hello {n}"))
        customers.append(
            (_customer_id(api, f"a{n}@people.example"), _customer_id(api, f"b{n}@people.example"))
        )
    undo = []
    for merged, kept in customers[calls:]:
        done = api.ok(Request("POST", f"/customers/{merged}/merge", {"into": kept}, caller=SUPERVISOR), 200)
        undo.append((kept, str(done["merge"]["id"])))
    suggested = [
        inbox.deliver(
            email(
                80_000 + n,
                f"phone{n}@calls.example",
                f"Call me {n}",
                body=f"Call me on +1 425 555 01{n % 100:02d}.",
            )
        )["ticket_number"]
        for n in range(2 * calls)
    ]
    mentions = prepare_mentions(calls)
    return Moves(
        pairs[:calls], [m for m, _ in pairs[calls:]], splits, customers[:calls], undo, suggested, mentions
    )


def prepare_mentions(calls: int) -> list[int]:
    """Public tickets, each of one X mention of our account, ingested as social_webhook does."""
    from shared.config import load_config
    from shared.dal.repository import get_repository
    from shared.logic.ingest_message import ChatContext, ingest_message
    from shared.models.inbound import InboundKind, InboundMessage
    from shared.models.ticket import Channel, Identity, IdentityKind

    ctx = ChatContext(
        get_repository(os.environ["TABLE_NAME"], REGION), load_config(os.environ["HELPDESK_CONFIG"])
    )
    numbers = []
    for n in range(calls):
        post, author = str(1_879_210_000_000_000_000 + n), str(3_001_969_357 + n)
        mention = InboundMessage(
            channel=Channel.X,
            kind=InboundKind.MENTION,
            provider_message_id=post,
            conversation_key=f"x:4337869213:mention:{post}:{author}",
            sender=Identity(kind=IdentityKind.X, value=author),
            recipient="4337869213",
            sent_at=START + timedelta(minutes=n),
            text=f"@acme_support my order #{4800 + n} never arrived",
            post_id=post,
            public=True,
        )
        numbers.append(int(ingest_message(mention, ctx).ticket_number or 0))
    return numbers


def move_routes(moves: Moves) -> list[Route]:
    """The routes that merge, split and link: each call on its own tickets or customers."""
    calls = len(moves.duplicates)

    def phone(n: int) -> dict[str, str]:
        """The number the n-th suggesting ticket's message wrote."""
        return {"kind": "phone", "value": f"+142555501{n % 100:02d}"}

    return [
        Route(
            "POST /tickets/{ref}/merge",
            200,
            lambda i: Request(
                "POST", f"/tickets/{moves.duplicates[i][0]}/merge", {"into": str(moves.duplicates[i][1])}
            ),
        ),
        Route(
            "POST /tickets/{ref}/unmerge",
            200,
            lambda i: Request("POST", f"/tickets/{moves.merged[i]}/unmerge"),
        ),
        Route(
            "POST /tickets/{ref}/messages/{message_ref}/split",
            201,
            lambda i: Request(
                "POST", f"/tickets/{moves.splits[i][0]}/messages/{moves.splits[i][1]}/split", {}
            ),
        ),
        Route("GET /views", 200, lambda _: Request("GET", "/views")),
        Route(
            "GET /views/{view} (open, empty: route_ticket not run)",
            200,
            lambda _: Request("GET", "/views/open"),
        ),
        Route(
            "GET /customers/{customer_id}",
            200,
            lambda i: Request("GET", f"/customers/{moves.customers[i][1]}"),
        ),
        Route(
            "POST /customers/{customer_id}/merge",
            200,
            lambda i: Request(
                "POST",
                f"/customers/{moves.customers[i][0]}/merge",
                {"into": moves.customers[i][1]},
                caller=SUPERVISOR,
            ),
        ),
        Route(
            "POST /customers/{customer_id}/merges/{merge_id}/undo",
            200,
            lambda i: Request(
                "POST",
                f"/customers/{moves.customer_merges[i][0]}/merges/{moves.customer_merges[i][1]}/undo",
                caller=SUPERVISOR,
            ),
        ),
        Route(
            "POST /tickets/{ref}/identity-suggestions/confirm",
            200,
            lambda i: Request(
                "POST", f"/tickets/{moves.suggested[i]}/identity-suggestions/confirm", phone(i)
            ),
        ),
        Route(
            "POST /tickets/{ref}/identity-suggestions/reject",
            200,
            lambda i: Request(
                "POST", f"/tickets/{moves.suggested[calls + i]}/identity-suggestions/reject", phone(calls + i)
            ),
        ),
        Route(
            "POST /tickets/{ref}/private-reply (X mention: a DM to its author)",
            202,
            lambda i: Request(
                "POST",
                f"/tickets/{moves.mentions[i]}/private-reply",
                {"text": "Could you DM us your order number?"},
                headers={"idempotency-key": f"private-{i}"},
            ),
        ),
        Route("GET /agents/{agent_id}/mentions", 200, lambda _: Request("GET", "/agents/alice/mentions")),
        Route(
            "GET /changes (no change log: live_push not run)",
            200,
            lambda _: Request(
                "GET", "/changes", query={"since": (datetime.now(UTC) - timedelta(hours=1)).isoformat()}
            ),
        ),
        Route(
            "GET /search (index empty: route_ticket not run)",
            200,
            lambda _: Request("GET", "/search", query={"q": "printer error"}),
        ),
    ]


def unmeasured(table: list[Route]) -> list[str]:
    """The template's routes of AgentApiFunction that no line of the table measures."""
    from simulator.template import load_template

    events = load_template(ROOT / "template.yaml")["Resources"]["AgentApiFunction"]["Properties"]["Events"]
    template = {f"{e['Properties']['Method']} {e['Properties']['Path']}" for e in events.values()}
    measured = {route.label.split(" (")[0] for route in table}
    return sorted(template - measured)


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (p95 of 15 values is the 15th)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def measure(api: Api, table: list[Route], calls: int) -> dict[str, Measured]:
    """Warm-up call (index 0), then `calls` rounds over every route: the floor first in each round."""
    floor = Route(
        "floor: refused at the edge (no token)", 401, lambda _: Request("GET", "/tickets/1", caller=None)
    )
    measured = {route.label: Measured() for route in [floor, *table]}
    for i in range(calls + 1):
        for route in [floor, *table]:
            status, _, seconds, own, requests = api.call(route.request(i))
            if status != route.status:
                measured[route.label].unexpected[status] += 1
            if i:
                measured[route.label].seconds.append(seconds)
                measured[route.label].own.append(own)
                measured[route.label].requests.append(requests)
    return measured


def report(measured: dict[str, Measured], calls: int) -> int:
    labels = list(measured)
    base = statistics.median(measured[labels[0]].seconds)
    print(
        f"warm latency per route: {calls} calls each after one warm-up, as ratios to the floor's p50 "
        f"({base * 1000:.2f} ms); 'own' leaves out the time in moto's DynamoDB"
    )
    print(f"  {'route':62s}{'p50':>8s}{'p95':>8s}{'own p50':>9s}{'p50 ms':>9s}{'DynamoDB':>10s}")
    failed = 0
    for label in labels:
        found = measured[label]
        p50, p95 = statistics.median(found.seconds), percentile(found.seconds, 0.95)
        own, requests = statistics.median(found.own), statistics.median(found.requests)
        ratios = f"{p50 / base:7.0f}x{p95 / base:7.0f}x{own / base:8.0f}x"
        line = f"  {label:62s}{ratios}{p50 * 1000:9.1f}{requests:10.0f}"
        if found.unexpected:
            failed += 1
            line += f"  UNEXPECTED STATUS {dict(found.unexpected)}"
        print(line)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Warm latency of each agent API route on moto, vs the handler's floor."
    )
    parser.add_argument("--calls", type=int, default=15, help="timed calls per route (default 15)")
    parser.add_argument("--tickets", type=int, default=200, help="tickets of one email each (default 200)")
    parser.add_argument(
        "--messages", type=int, default=24, help="HTML emails of the long conversation (default 24)"
    )
    args = parser.parse_args(argv)
    if args.calls < 1 or args.tickets < 2 or args.messages < 1:
        parser.error("--calls must be at least 1, --tickets 2 and --messages 1")
    with mock_aws(), item_level_rollback(), tempfile.TemporaryDirectory() as scratch:
        deployment = deploy(ROOT / "template.yaml")
        for function in ("InboundEmailFunction", "AgentApiFunction"):
            os.environ.update(deployment.functions[function].environment)
        config = Path(scratch) / "helpdesk.yaml"
        config.write_text(CONFIG, encoding="utf-8")
        os.environ.update(
            {
                "HELPDESK_CONFIG": str(config),
                "POWERTOOLS_LOG_LEVEL": "WARNING",
                "POWERTOOLS_METRICS_DISABLED": "true",
            }
        )
        # imported once the environment is set, as Lambda does
        from functions.agent_api import app as agent_app
        from functions.inbound_email import app as email_app

        api = Api(agent_app.handler)
        inbox = Inbox(
            deployment.name("InboundMailBucket"), deployment.name("InboundMailTopic"), email_app.handler
        )
        started = time.perf_counter()
        seeded = seed(inbox, api, args.tickets, args.messages, releases=args.calls + 1)
        took = time.perf_counter() - started
        print(
            f"data set: a conversation of {args.messages} HTML emails, {args.tickets} one-email tickets, "
            f"{len(seeded.quarantine_ids)} quarantined emails; seeded in {took:.1f} s on moto"
        )
        with api.counting():
            table = routes(api, inbox, seeded, args.calls)
            failed = report(measure(api, table, args.calls), args.calls)
        missing = unmeasured(table)
        print(f"routes of the template not measured: {', '.join(missing) or 'none'}")
        return 1 if failed or missing else 0


if __name__ == "__main__":
    sys.exit(main())
