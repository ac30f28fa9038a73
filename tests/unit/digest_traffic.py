"""Two weeks of support traffic (23 February to 8 March 2026, Europe/Berlin) as per-day aggregates,
for the digest tests: the reports they make are the ones the reports function would answer with."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from shared.logic.digest import DigestRun, Period
from shared.logic.permissions import Principal, Role
from shared.logic.reports import ReportRequest, build_report
from shared.models.reports import Freshness, Report
from shared.models.ticket import Sla, SlaTarget
from tests.unit.test_metrics_ledger import Story
from tests.unit.test_reports import Aggregates

FIRST_DAY = date(2026, 2, 23)
DAYS = 14
NOW = datetime(2026, 3, 9, 6, 0, tzinfo=UTC)
ADMIN = Principal("digest", Role.ADMIN, frozenset())
SLA_MINUTES = 120


def _clock(day: date, minutes: int) -> str:
    return f"{day.isoformat()} {minutes // 60:02d}:{minutes % 60:02d}"


def _story(rng: random.Random, day: date, number: int) -> Story:
    """A ticket of `day`: answered after a while, mostly resolved, sometimes rated."""
    created = rng.randrange(8 * 60, 17 * 60)
    wait = rng.choice([10, 25, 40, 90, 150, 240]) + (30 if day >= date(2026, 3, 2) else 0)
    replied = min(created + wait, 23 * 60 + 50)
    met = wait <= SLA_MINUTES
    target = SlaTarget(name="first_response", state="met" if met else "breached")
    story = Story(
        _clock(day, created),
        f"tkt-{day.isoformat()}-{number}",
        sla=Sla(policy="email", calendar="berlin", targets=[target]),
    )
    story.routed(_clock(day, created + 1), "alice").reply(_clock(day, replied), "alice")
    if not met:
        story.event(_clock(day, replied), "sla_breached", target="first_response", policy="email", due_at="x")
    if rng.random() < 0.75:
        story.set_status(_clock(day, min(replied + 5, 23 * 60 + 55)), "resolved")
        if rng.random() < 0.4:
            story.rating(_clock(day, min(replied + 8, 23 * 60 + 58)), rng.choice([3, 4, 5, 5]))
    return story


def two_weeks(seed: int = 7) -> Aggregates:
    rng = random.Random(seed)
    stories = []
    for offset in range(DAYS):
        day = FIRST_DAY + timedelta(days=offset)
        per_day = 2 if day.weekday() >= 5 else 5 + offset // 3
        stories += [_story(rng, day, n) for n in range(per_day)]
    return Aggregates([s.ledger() for s in stories])


def report_for(aggregates: Aggregates, request: ReportRequest) -> Report:
    return build_report(request, ADMIN, aggregates, "Europe/Berlin", Freshness(NOW, 4.0), NOW)


def weekly_run() -> DigestRun:
    return DigestRun(
        team="support",
        team_name="First-level support",
        kind="weekly",
        timezone="Europe/Berlin",
        to=("lead@example.com",),
        period=Period(date(2026, 3, 2), date(2026, 3, 8)),
        previous=Period(date(2026, 2, 23), date(2026, 3, 1)),
    )


def reports(run: DigestRun, aggregates: Aggregates | None = None) -> tuple[Report, Report]:
    """The period's report and the previous one's, as `run.requests()` asks for them."""
    source = aggregates or two_weeks()
    current, previous = run.requests()
    return report_for(source, current), report_for(source, previous)
