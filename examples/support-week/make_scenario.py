"""Write the support-week example's scenario.jsonl: a week of mixed traffic, from a fixed seed.

    .venv/bin/python examples/support-week/make_scenario.py [OUT]   # OUT defaults to scenario.jsonl here

Monday 10 to Sunday 16 March 2025. On weekdays, mail to the EMEA team (Berlin, 09:00-17:00) and
texts and Messenger messages to the Americas team (New York, 08:00-18:00); a little of each at the
weekend, when nobody works. Agents answer in their team's open hours; each ticket is handled one of
a few ways (answered and resolved, a back-and-forth, reopened by the customer, answered late), and
some customers rate the survey they get on resolution. Work that would fall after the week is left
undone: those tickets are the backlog. Messenger bodies are signed with the simulator's default
webhook secret. Edit this file, not scenario.jsonl, then rerun it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
SEED = 2025_03_10
MONDAY = date(2025, 3, 10)
END = datetime(2025, 3, 16, 23, 30, tzinfo=ZoneInfo("Europe/Berlin"))
"""The last step: Sunday evening in Berlin, the reporting time zone."""
BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
OPEN = {"emea": (BERLIN, time(9), time(17)), "americas": (NEW_YORK, time(8), time(18))}
AGENTS = {"emea": ("anna", "ben"), "americas": ("carla", "diego")}
VOLUME = [(3, 2, 0), (3, 2, 1), (3, 2, 0), (3, 2, 1), (3, 2, 0), (1, 0, 0), (0, 1, 0)]
"""Mails, texts and Messenger chats opened on each day, Monday to Sunday (small enough that the week
runs in minutes: every step is several functions' work on moto)."""

META_APP_SECRET = "test-meta-app-secret"  # noqa: S105 - the simulator's default, a published test value
PAGE_ID = "102938475610293"
OUR_SMS_NUMBER = "+12125550101"

MAIL_TOPICS = [
    ("Invoice 2025-{n} shows the wrong VAT number", "our invoice lists an old VAT number"),
    ("Order {n} arrived damaged", "two of the chairs in order {n} arrived with broken legs"),
    ("Cannot log in to the customer portal", "the portal says my password is wrong after the reset"),
    ("Delivery date for order {n}?", "when will order {n} be delivered"),
    ("Refund for returned desk (order {n})", "I returned the desk two weeks ago and got no refund yet"),
    ("Printer toner subscription", "please change my toner subscription to every two months"),
]
TEXTS = [
    "Hi, where is my parcel {n}? Tracking has not moved since Friday",
    "Can I change the delivery address for order {n}?",
    "My discount code SPRING{n} does not work at checkout",
    "Is the standing desk in stock again?",
]
CHATS = [
    "Hello! Do you ship to Canada?",
    "Hi, I was charged twice for order {n}",
    "Can someone help me with my account?",
]
RATINGS = ["5 - thank you, quick and friendly!", "4 - fine, took a while", "5", "3 - ok", "5 stars, great"]

Step = dict[str, Any]


@dataclass
class Week:
    """The scenario's steps with their times; `write` sorts them (the format wants `at` order)."""

    steps: list[tuple[datetime, int, Step]] = field(default_factory=list)

    def add(self, at: datetime, step: Step) -> None:
        if at <= END:  # work after the week is not done in it: those tickets stay open
            self.steps.append((at.astimezone(UTC), len(self.steps), step))

    def write(self, path: Path) -> Path:
        lines = [
            json.dumps({"at": at.strftime("%Y-%m-%dT%H:%M:%SZ"), **step}, ensure_ascii=False)
            for at, _, step in sorted(self.steps)
        ]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


def local(day: date, clock: str, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.fromisoformat(clock), tzinfo=zone)


def working(moment: datetime, team: str) -> datetime:
    """`moment`, or the next time the team is open (the same minutes past the opening hour)."""
    zone, opens, closes = OPEN[team]
    at = moment.astimezone(zone)
    while at.weekday() >= 5 or not opens <= at.time() < closes:
        nxt = at.date() + timedelta(days=1) if at.time() >= closes or at.weekday() >= 5 else at.date()
        while nxt.weekday() >= 5:
            nxt += timedelta(days=1)
        at = datetime.combine(nxt, opens, tzinfo=zone) + timedelta(minutes=at.minute % 30 + 5)
    return at


# -- what customers send ----------------------------------------------------------------------------
def mail(
    message_id: str, sender: str, subject: str, text: str, at: datetime, about: str | None = None
) -> Step:
    """A plain-text mail; `about` (a Message-ID) makes it a reply in that thread."""
    thread = f"In-Reply-To: {about}\r\nReferences: {about}\r\n" if about else ""
    raw = (
        f"From: {sender}\r\nTo: Support <support@support.example.com>\r\nSubject: {subject}\r\n"
        f"Date: {at.strftime('%a, %d %b %Y %H:%M:%S %z')}\r\nMessage-ID: {message_id}\r\n{thread}"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
    )
    return {"email": {"raw": raw}}


def sms(message_id: str, number: str, text: str) -> Step:
    return {
        "sms": {
            "originationNumber": number,
            "destinationNumber": OUR_SMS_NUMBER,
            "messageKeyword": "KEYWORD_102938475610",
            "messageBody": text,
            "inboundMessageId": message_id,
            "previousPublishedMessageId": None,
        }
    }


def messenger(psid: str, mid: str, text: str, at: datetime) -> Step:
    """A Messenger message as Meta posts it: compact ASCII JSON, "/" escaped, signed."""
    millis = int(at.timestamp() * 1000) - 500
    item = {"sender": {"id": psid}, "recipient": {"id": PAGE_ID}, "timestamp": millis}
    item["message"] = {"mid": mid, "text": text}
    payload = {"object": "page", "entry": [{"id": PAGE_ID, "time": millis + 300, "messaging": [item]}]}
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/")
    raw = body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "facebookexternalua",
        "X-Hub-Signature": "sha1=" + hmac.new(META_APP_SECRET.encode(), raw, hashlib.sha1).hexdigest(),
        "X-Hub-Signature-256": "sha256="
        + hmac.new(META_APP_SECRET.encode(), raw, hashlib.sha256).hexdigest(),
    }
    return {"webhook": {"method": "POST", "path": "/webhooks/meta", "headers": headers, "body": body}}


# -- what agents do ---------------------------------------------------------------------------------
@dataclass
class Ticket:
    """One conversation the scenario opens: its REF, team, and how the customer writes again."""

    ref: str
    team: str
    opened: datetime
    again: Any
    """(at, text, n) -> the customer's next message on this ticket (a step)."""


def reply(ticket: Ticket, agent: str, at: datetime, text: str) -> Step:
    return {"reply": {"ticket": ticket.ref, "agent": agent, "text": text}}


def handle(week: Week, ticket: Ticket, rng: random.Random, way: str) -> None:
    """What the agents (and the customer) do with one ticket, one of four ways."""
    agent = rng.choice(AGENTS[ticket.team])
    quick = (10, 90) if ticket.team == "emea" else (5, 40)
    first = working(ticket.opened + timedelta(minutes=rng.randint(*quick)), ticket.team)
    if way == "late":  # answered the next working day: the first-response target is missed
        first = working(first + timedelta(hours=20), ticket.team)
    week.add(first, reply(ticket, agent, first, "Thanks for writing, we are on it."))
    done = first + timedelta(minutes=rng.randint(40, 150))
    if way == "back-and-forth":  # the customer answers, the agent answers again
        answer = first + timedelta(minutes=rng.randint(30, 120))
        week.add(answer, ticket.again(answer, "Thanks, here are the details you asked for.", 1))
        second = working(answer + timedelta(minutes=rng.randint(15, 60)), ticket.team)
        week.add(second, reply(ticket, agent, second, "Thank you, that settles it."))
        done = second + timedelta(minutes=rng.randint(10, 60))
    done = working(done, ticket.team)
    week.add(done, {"update": {"ticket": ticket.ref, "agent": agent, "status": "resolved"}})
    if way == "reopened":  # the customer writes again the next day: reopened, answered, resolved
        back = done + timedelta(hours=rng.randint(16, 24))
        week.add(back, ticket.again(back, "Sorry, the problem is back again this morning.", 2))
        answer = working(back + timedelta(minutes=rng.randint(20, 60)), ticket.team)
        week.add(answer, reply(ticket, agent, answer, "Fixed for good now, apologies."))
        done = answer + timedelta(minutes=rng.randint(10, 40))
        week.add(done, {"update": {"ticket": ticket.ref, "agent": agent, "status": "resolved"}})
    surveyed = ticket.team == "emea" or ticket.ref.startswith("sms-")  # surveys go by email and SMS
    if surveyed and rng.random() < 0.6:
        rated = done + timedelta(minutes=rng.randint(45, 240))
        week.add(rated, ticket.again(rated, rng.choice(RATINGS), 3))


def way_of(rng: random.Random) -> str:
    return rng.choices(["resolved", "back-and-forth", "reopened", "late"], [5, 2, 2, 1])[0]


# -- the week ---------------------------------------------------------------------------------------
def mails(week: Week, day: date, count: int, rng: random.Random, customers: list[str], work: bool) -> None:
    for n in range(count):
        opened = local(day, f"{rng.randint(7, 16):02d}:{rng.randint(0, 59):02d}", BERLIN)
        number = 4000 + day.day * 10 + n
        subject, text = (s.format(n=number) for s in rng.choice(MAIL_TOPICS))
        sender = rng.choice(customers)
        message_id = f"<{day:%m%d}-{n}@mail.customers.example>"
        week.add(opened, mail(message_id, sender, subject, f"Hello, {text}.", opened))

        def again(
            at: datetime,
            words: str,
            k: int,
            sender: str = sender,
            subject: str = subject,
            about: str = message_id,
        ) -> Step:
            follow = f"<{about[1:-1].split('@')[0]}-{k}@mail.customers.example>"
            return mail(follow, sender, f"Re: {subject}", words, at, about=about)

        if work:
            handle(week, Ticket(message_id, "emea", opened, again), rng, way_of(rng))


def texts(week: Week, day: date, count: int, rng: random.Random, work: bool) -> None:
    for n in range(count):
        opened = local(day, f"{rng.randint(8, 16):02d}:{rng.randint(0, 59):02d}", NEW_YORK)
        number = f"+1206555{day.day:02d}{n:02d}"  # a customer per ticket: a later text threads onto it
        ref = f"sms-{day:%m%d}-{n}"
        week.add(opened, sms(ref, number, rng.choice(TEXTS).format(n=7000 + day.day * 10 + n)))

        def again(at: datetime, words: str, k: int, number: str = number, ref: str = ref) -> Step:
            return sms(f"{ref}-{k}", number, words)

        if work:
            handle(week, Ticket(ref, "americas", opened, again), rng, way_of(rng))


def chats(week: Week, day: date, count: int, rng: random.Random, work: bool) -> None:
    for n in range(count):
        opened = local(day, f"{rng.randint(9, 16):02d}:{rng.randint(0, 59):02d}", NEW_YORK)
        psid, mid = f"73920156{day.day:02d}{n:02d}0394", f"m_week{day:%m%d}{n}"
        week.add(opened, messenger(psid, mid, rng.choice(CHATS).format(n=9000 + day.day), opened))

        def again(at: datetime, words: str, k: int, psid: str = psid, mid: str = mid) -> Step:
            return messenger(psid, f"{mid}-{k}", words, at)

        if work:
            handle(
                week, Ticket(mid, "americas", opened, again), rng, rng.choice(["resolved", "back-and-forth"])
            )


def support_week(rng: random.Random) -> Week:
    """Mails, texts and Messenger chats opened each day (VOLUME), worked on weekdays only."""
    week = Week()
    week.add(local(MONDAY, "06:30", BERLIN), {"tick": {}})
    customers = [
        f"{name} <{name.split()[0].lower()}@{domain}>"
        for name, domain in [
            ("Jana Novak", "novak-design.example"),
            ("Lukas Weber", "weber-bau.example"),
            ("Marie Dubois", "atelier-dubois.example"),
            ("Tom Baker", "baker-and-sons.example"),
            ("Elena Rossi", "studio-rossi.example"),
            ("Piet de Vries", "devries-kantoor.example"),
            ("Sara Lind", "lind-arkitekter.example"),
            ("Omar Haddad", "haddad-trading.example"),
        ]
    ]
    for offset, (mail_count, text_count, chat_count) in enumerate(VOLUME):
        day = MONDAY + timedelta(days=offset)
        weekday = offset < 5
        mails(week, day, mail_count, rng, customers, work=weekday)
        texts(week, day, text_count, rng, work=weekday)
        chats(week, day, chat_count, rng, work=weekday)
    week.add(END, {"tick": {}})
    return week


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "scenario.jsonl"
    support_week(random.Random(SEED)).write(out)
    print(f"wrote {out}")
