"""A seeded load: customers on a Zipf curve writing by email, SMS and WhatsApp, agents answering.

The load is a scenario of the simulator (docs/simulator.md), made in code and replayed through the
real handlers by `simulator.runner.Simulation`, with a helpdesk config of `teams` teams of `agents`
agents each (one team per channel group: rules route email, SMS and social messages to their team).
Rates are the target's times `fraction`: inbound messages arrive as a Poisson process at
`messages_per_s * fraction` a second (`burst_factor` times that inside the burst window); a message
opens a new conversation (a ticket) with probability `tickets_per_s / messages_per_s`, else it is a
reply in an earlier conversation of a Zipf-drawn customer. An
agent of the ticket's team answers a share of new tickets after a delay, and resolves a share of
those.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from simulator.secret_values import DEFAULT_SECRETS

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SUPPORT = "support@support.example.com"
SMS_NUMBER = "+12125550101"
WHATSAPP_PHONE_ID = "106540352242922"
META_SECRET = str(DEFAULT_SECRETS["WebhookSecret"]["meta_app_secret"])
"""The simulator's default for the webhook secret's `meta_app_secret` (simulator/secret_values.py)."""
CHANNELS = ("email", "sms", "social")
SUBJECTS = (
    "Where is my order",
    "Refund not received",
    "Cannot log in",
    "Wrong item delivered",
    "Change my delivery address",
    "Invoice question",
    "Cancel my subscription",
    "Damaged parcel",
)
"""Texts come from a small vocabulary: a word unique to one ticket (an order number) would make its
search key per-entity in effect, which `analysis.classify` cannot tell from its name."""


@dataclass(frozen=True)
class LoadShape:
    """What the load generator makes (rates at full scale; the run plays them at `fraction`)."""

    tickets_per_s: float = 500.0
    messages_per_s: float = 5_000.0
    fraction: float = 0.001
    steady_s: int = 240
    burst_s: int = 60
    burst_factor: float = 10.0
    tail_s: int = 120
    """Quiet time after the load, so scheduled runs and answers catch up."""
    customers: int = 20_000
    zipf_s: float = 1.1
    channel_mix: tuple[float, float, float] = (0.6, 0.25, 0.15)
    """Shares of email, SMS and social (WhatsApp) in the inbound messages."""
    teams: int = 3
    agents: int = 8
    """Agents per team."""
    agent_reply_rate: float = 0.6
    """Share of new tickets an agent answers (after 30 s to 3 min)."""
    resolve_rate: float = 0.5
    """Share of answered tickets the agent then resolves (1 to 4 min after the answer)."""
    sla_minutes: int = 2
    """The SLA policy's first response target (resolution: three times it), in calendar minutes."""
    view_shards: int = 64
    """The config's `views.shards`: what a deployment at the target sets (docs/scale.md)."""
    sla_shards: int = 256
    """The config's `sla.sweep_shards`: what a deployment at the target sets (decision 117)."""
    seed: int = 17

    @property
    def duration_s(self) -> int:
        return self.steady_s + self.burst_s + self.tail_s


@dataclass
class Conversation:
    customer: int
    channel: str
    ref: str
    """How the agent API finds the ticket: the external id of its first message."""
    subject: str
    team: str
    messages: int = 1


@dataclass
class Load:
    """The generated scenario, and what it holds."""

    shape: LoadShape
    steps: list[tuple[datetime, int, dict[str, Any]]] = field(default_factory=list)
    inbound: dict[str, int] = field(default_factory=dict)
    """Inbound messages by channel."""
    first_messages: int = 0
    agent_steps: dict[str, int] = field(default_factory=dict)

    def add(self, at: datetime, step: dict[str, Any]) -> None:
        self.steps.append((at, len(self.steps), step))

    def write(self, path: Path) -> Path:
        lines = [
            json.dumps({"at": at.isoformat().replace("+00:00", "Z"), **step})
            for at, _, step in sorted(self.steps, key=lambda s: (s[0], s[1]))
        ]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


def team_of(channel: str) -> str:
    return {"email": "mail", "sms": "texts", "social": "social"}[channel]


def config_yaml(shape: LoadShape) -> str:
    """The helpdesk config of the load: a team per channel group, `agents` agents in each."""
    teams = [team_of(c) for c in CHANNELS][: max(1, shape.teams)]
    lines = ["version: 1", "calendars:", "  default: {timezone: UTC}", "teams:"]
    lines += [f"  - {{id: {t}, strategy: least_loaded}}" for t in teams]
    lines.append("agents:")
    for team in teams:
        for n in range(shape.agents):
            capacity = "{email: 1000, sms: 1000, social: 1000}"
            lines.append(f"  - {{id: {team}-{n:04d}, teams: [{team}], capacity: {capacity}}}")
    lines += [
        "sla:",  # short targets, so tickets come due (warnings, breaches) within the run
        f"  sweep_shards: {shape.sla_shards}",
        "  policies:",
        "    - name: standard",
        f"      first_response: {{minutes: {shape.sla_minutes}, business: false}}",
        f"      resolution: {{minutes: {shape.sla_minutes * 3}, business: false}}",
        "      warning_at: 0.5",
    ]
    lines += ["views:", f"  shards: {shape.view_shards}"]
    lines += ["routing:", f"  default_team: {teams[0]}", "  rules:"]
    for channel, name in (("email", "email"), ("sms", "sms"), ("social", "whatsapp")):
        if team_of(channel) in teams:
            team = team_of(channel)
            rule = f"{{name: {channel}, weight: 10, when: {{channel: [{name}]}}, then: {{team: {team}}}}}"
            lines.append(f"    - {rule}")
    return "\n".join(lines) + "\n"


def agents_of(shape: LoadShape, team: str) -> list[str]:
    return [f"{team}-{n:04d}" for n in range(shape.agents)]


class Zipf:
    """Customer ranks 1..n drawn with probability proportional to 1 / rank**s."""

    def __init__(self, n: int, s: float, rng: random.Random) -> None:
        weights = [1.0 / (rank**s) for rank in range(1, n + 1)]
        total = sum(weights)
        running = 0.0
        self.cumulative: list[float] = []
        for weight in weights:
            running += weight / total
            self.cumulative.append(running)
        self.rng = rng

    def draw(self) -> int:
        return min(bisect.bisect_left(self.cumulative, self.rng.random()), len(self.cumulative) - 1)


def _email(
    customer: int, message_id: str, subject: str, at: datetime, reply_to: str | None
) -> dict[str, Any]:
    threading = f"In-Reply-To: {reply_to}\r\nReferences: {reply_to}\r\n" if reply_to else ""
    raw = (
        f"From: Customer {customer} <c{customer}@customer.example>\r\nTo: Support <{SUPPORT}>\r\n"
        f"Subject: {'Re: ' if reply_to else ''}{subject}\r\n"
        f"Date: {at.strftime('%a, %d %b %Y %H:%M:%S +0000')}\r\n"
        f"Message-ID: {message_id}\r\n{threading}MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Hello, about {subject.lower()}: the order has not arrived and I need it by Friday.\r\n"
    )
    return {"email": {"raw": raw}}


def _sms(customer: int, message_id: str, text: str) -> dict[str, Any]:
    return {
        "sms": {
            "originationNumber": f"+12062{customer:06d}",
            "destinationNumber": SMS_NUMBER,
            "messageBody": text,
            "inboundMessageId": message_id,
        }
    }


def _whatsapp(customer: int, message_id: str, text: str, at: datetime) -> dict[str, Any]:
    wa_id = f"1650{customer:07d}"
    body = json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "102290129340398",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "15550783881",
                                    "phone_number_id": WHATSAPP_PHONE_ID,
                                },
                                "contacts": [{"profile": {"name": f"Customer {customer}"}, "wa_id": wa_id}],
                                "messages": [
                                    {
                                        "from": wa_id,
                                        "id": message_id,
                                        "timestamp": str(int(at.timestamp())),
                                        "type": "text",
                                        "text": {"body": text},
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        },
        separators=(",", ":"),
    )
    signature = hmac.new(META_SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "facebookexternalua",
        "X-Hub-Signature-256": f"sha256={signature}",
    }
    return {"webhook": {"method": "POST", "path": "/webhooks/meta", "headers": headers, "body": body}}


def _reply_target(
    conversations: dict[int, list[Conversation]],
    every: list[Conversation],
    zipf: Zipf,
    customer: int,
    rng: random.Random,
) -> Conversation:
    """The conversation a reply goes to: the drawn customer's, else another Zipf-drawn customer's
    with one, else any (early in a run few customers have written yet)."""
    for _ in range(20):
        if customer in conversations:
            return rng.choice(conversations[customer])
        customer = zipf.draw()
    return rng.choice(every)


def rate_at(shape: LoadShape, second: int) -> float:
    """Inbound messages a second at `second` of the run (at the fraction)."""
    base = shape.messages_per_s * shape.fraction
    if second < shape.steady_s:
        return base
    if second < shape.steady_s + shape.burst_s:
        return base * shape.burst_factor
    return 0.0


def generate(shape: LoadShape) -> Load:
    """The scenario of `shape`: the same seed gives the same steps."""
    rng = random.Random(shape.seed)
    zipf = Zipf(shape.customers, shape.zipf_s, rng)
    load = Load(shape)
    load.add(START, {"tick": {}})
    teams = [team_of(c) for c in CHANNELS][: max(1, shape.teams)]
    for team in teams:
        for agent in agents_of(shape, team):
            load.add(START, {"agent": {"id": agent, "status": "online"}})
    conversations: dict[int, list[Conversation]] = {}
    all_conversations: list[Conversation] = []
    new_share = shape.tickets_per_s / shape.messages_per_s
    t = 1.0
    load_end = shape.steady_s + shape.burst_s
    serial = 0
    while True:
        rate = rate_at(shape, int(t))
        if rate <= 0:
            if t >= load_end:
                break
            t = float(int(t) + 1)
            continue
        t += rng.expovariate(rate)
        if t >= load_end:
            break
        at = START + timedelta(seconds=int(t))
        serial += 1
        customer = zipf.draw()
        if all_conversations and rng.random() >= new_share:
            conv = _reply_target(conversations, all_conversations, zipf, customer, rng)
            conv.messages += 1
            text = f"Any news on {conv.subject.lower()}? I wrote before."
            if conv.channel == "email":
                step = _email(conv.customer, f"<m{serial}@mail.customer.example>", conv.subject, at, conv.ref)
            elif conv.channel == "sms":
                step = _sms(conv.customer, f"sms-{serial:08d}", text)
            else:
                step = _whatsapp(conv.customer, f"wamid.load{serial:08d}", text, at)
            load.add(at, step)
            load.inbound[conv.channel] = load.inbound.get(conv.channel, 0) + 1
            continue
        channel = rng.choices(CHANNELS, weights=shape.channel_mix)[0]
        subject = rng.choice(SUBJECTS)
        if channel == "email":
            ref = f"<m{serial}@mail.customer.example>"
            step = _email(customer, ref, subject, at, None)
        elif channel == "sms":
            ref = f"sms-{serial:08d}"
            step = _sms(customer, ref, f"Hi, {subject.lower()}?")
        else:
            ref = f"wamid.load{serial:08d}"
            step = _whatsapp(customer, ref, f"Hi, {subject.lower()}?", at)
        team = team_of(channel) if team_of(channel) in teams else teams[0]
        conv = Conversation(customer, channel, ref, subject, team)
        conversations.setdefault(customer, []).append(conv)
        all_conversations.append(conv)
        load.add(at, step)
        load.inbound[channel] = load.inbound.get(channel, 0) + 1
        load.first_messages += 1
        if rng.random() < shape.agent_reply_rate:
            agent = rng.choice(agents_of(shape, team))
            answered = at + timedelta(seconds=rng.randint(30, 180))
            load.add(answered, {"reply": {"ticket": ref, "agent": agent, "text": "We are looking into it."}})
            load.agent_steps["reply"] = load.agent_steps.get("reply", 0) + 1
            if rng.random() < shape.resolve_rate:
                done = answered + timedelta(seconds=rng.randint(60, 240))
                load.add(done, {"update": {"ticket": ref, "agent": agent, "status": "resolved"}})
                load.agent_steps["resolve"] = load.agent_steps.get("resolve", 0) + 1
    load.add(START + timedelta(seconds=shape.duration_s), {"tick": {}})
    return load
