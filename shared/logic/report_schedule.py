"""The reports schedule (hourly): the digests due in the hour, and once a day yesterday's range
alerts, each delivered exactly once (decisions 100 and 101, docs/reports.md).

Every delivery has a key (`digests/<team>/<kind>/<first day>.html`, `alerts/<team>/<figure>/<day>`)
and a marker (`shared.dal.deliveries`): claimed just before the send, settled just after. A run made
again finds the marker and sends nothing; a send that failed transiently releases it, so the next
run sends it; one that failed for good or may have gone out is never sent again, and is counted."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from typing import Protocol
from zoneinfo import ZoneInfo

from shared import clock
from shared.channels.outbound import SendError
from shared.dal.deliveries import DeliveryMarks, Settled
from shared.dal.views import ViewSlice
from shared.errors import HelpdeskError
from shared.logic.digest import BreachingTicket, DigestRun, digests_due, render_digest
from shared.logic.permissions import Principal, Role
from shared.logic.report_alerts import alert_period, report_alerts
from shared.logic.report_sealing import SealStore
from shared.logic.reports import ReportReads, ReportRequest, build_report
from shared.logic.views import NO_TEAM, SOLVED, shard_partitions
from shared.models.config import HelpdeskConfig
from shared.models.reports import Freshness, Report
from shared.models.ticket import Ticket

SYSTEM = Principal("system:reports-schedule", Role.ADMIN, frozenset())
"""Who the schedule reads reports as: the system, with an admin's scope (every team and `all`)."""
BREACHING_LIMIT = 10
"""The most tickets a digest lists as breaching most."""
ALERT_HOUR = 0
"""The local hour (`reports.timezone`) of the run that raises yesterday's range alerts."""
KEEP_MARKERS = timedelta(days=400)
"""How long a delivery's marker is kept (the table's TTL): longer than any run could repeat."""


class ScheduleRetryError(HelpdeskError):
    """Deliveries failed transiently: the run fails, so the scheduler runs it again (what was sent
    is not sent again). `result` is the whole run's."""

    def __init__(self, message: str, result: ScheduleResult) -> None:
        super().__init__(message)
        self.result = result


PAGE_TYPE = "text/html; charset=utf-8"


class DigestPages(Protocol):
    """Where pages are kept (`shared.storage.S3ObjectWriter` on the digests bucket)."""

    def write(self, key: str, body: bytes, content_type: str) -> None: ...


class DigestMailer(Protocol):
    def send_digest(self, to: Sequence[str], subject: str, html: str, text: str, at: float) -> str:
        """Send one email to all of `to`; the provider's id, or SendError."""
        ...


class AlertPublisher(Protocol):
    def publish_alert(self, subject: str, message: str) -> str:
        """Publish to the alarm topic; the provider's id, or SendError."""
        ...


class BreachingReads(Protocol):
    """The `breaching` views and the tickets they name."""

    def view_slice(
        self, partition: str, limit: int, ascending: bool, after: str | None = None
    ) -> ViewSlice: ...

    def get_ticket(self, ticket_id: str) -> Ticket | None: ...


class ScheduleStores(ReportReads, BreachingReads, DeliveryMarks, SealStore, Protocol):
    """What the schedule reads and writes: the report aggregates and their freshness, the
    `breaching` views and their tickets, the delivery markers, and the sealing of report days."""

    def report_freshness(self) -> Freshness: ...


@dataclass
class ScheduleContext:
    stores: ScheduleStores
    config: HelpdeskConfig
    pages: DigestPages
    mailer: DigestMailer
    alerts: AlertPublisher
    lease: timedelta = timedelta(minutes=10)
    """A claim older than this was left by a run that died: its outcome is unknown. Longer than
    the function's timeout, so a run still sending is never judged dead."""


@dataclass
class ScheduleResult:
    sent: list[str] = field(default_factory=list)
    """Keys delivered by this run (digests and alerts)."""
    skipped: list[str] = field(default_factory=list)
    """Keys an earlier run delivered, settled or is delivering."""
    failed: dict[str, str] = field(default_factory=dict)
    """Key -> reason: refused for good, never sent again."""
    unknown: dict[str, str] = field(default_factory=dict)
    """Key -> reason: the provider may have sent it; never sent again."""
    retry: dict[str, str] = field(default_factory=dict)
    """Key -> reason: failed transiently; the next run tries again."""

    def count(self, prefix: str, outcome: str) -> int:
        found: Sequence[str] = getattr(self, outcome)
        return sum(1 for key in found if key.startswith(prefix))


def scheduled_now(event: object, fallback: datetime) -> datetime:
    """The time the schedule fired (`scheduledTime` of the scheduler's input): a retried run does
    the work of the hour it was scheduled for. `fallback` when the event has none."""
    text = event.get("scheduledTime") if isinstance(event, dict) else None
    if not isinstance(text, str) or not text:
        return fallback
    try:
        return clock.parse_iso(text)
    except ValueError:
        return fallback


def run_schedule(ctx: ScheduleContext, scheduled_at: datetime, now: datetime) -> ScheduleResult:
    """Settle claims left by dead runs, send the digests due in the hour of `scheduled_at`, and
    at `ALERT_HOUR` publish yesterday's range alerts. One delivery's failure stops no other;
    transient failures raise ScheduleRetryError at the end (after everything else was tried)."""
    result = ScheduleResult()
    settle_stuck(ctx, now, result)
    for run in digests_due(ctx.config, scheduled_at):
        _guarded(run.key, result, partial(deliver_digest, ctx, run, now, result))
    day = alert_day(ctx.config, scheduled_at)
    if day is not None:
        for team in alert_teams(ctx.config):
            key = f"alerts/{team}/{day.isoformat()}"
            _guarded(key, result, partial(deliver_alerts, ctx, team, day, now, result))
    if result.retry:
        reasons = "; ".join(f"{key}: {reason}" for key, reason in sorted(result.retry.items()))
        raise ScheduleRetryError(reasons, result)
    return result


def _guarded(key: str, result: ScheduleResult, work: Callable[[], None]) -> None:
    """Run one delivery's preparation and send; an error before the claim (a read, the page
    write) is transient for it alone: it is tried again with the run."""
    try:
        work()
    except Exception as exc:
        result.retry[key] = f"{type(exc).__name__}: {exc}"


def settle_stuck(ctx: ScheduleContext, now: datetime, result: ScheduleResult) -> None:
    """Mark `unknown` the claims older than the lease: their run died between the claim and the
    result, and neither SES nor SNS can say whether the message went (decision 28)."""
    for stuck in ctx.stores.stuck_deliveries(now - ctx.lease):
        reason = (
            f"send outcome unknown: claimed at {clock.iso(stuck.claimed_at)} and no result "
            "recorded; not sent again"
        )
        if ctx.stores.settle_delivery(stuck.key, stuck.claimed_at, "unknown", reason):
            result.unknown[stuck.key] = reason


def deliver_once(
    ctx: ScheduleContext, key: str, now: datetime, send: Callable[[], str], result: ScheduleResult
) -> None:
    """Claim `key`, send, and record the outcome: sent; released for the next run (transient);
    failed or unknown (never again). Nothing when another run holds or settled it."""
    if not ctx.stores.claim_delivery(key, now, now + KEEP_MARKERS):
        result.skipped.append(key)
        return
    try:
        provider_id = send()
    except SendError as exc:
        state: Settled = exc.outcome
        ctx.stores.settle_delivery(key, now, state, str(exc))
        getattr(result, state)[key] = str(exc)
        return
    ctx.stores.settle_delivery(key, now, "sent", provider_id)
    result.sent.append(key)


def _delivered(ctx: ScheduleContext, key: str) -> bool:
    """Whether a run already took the key (sent, or settled for good, or being sent)."""
    found = ctx.stores.get_delivery(key)
    return found is not None and found.state != "retry"


def _report(ctx: ScheduleContext, request: ReportRequest, now: datetime) -> Report:
    return build_report(
        request,
        SYSTEM,
        ctx.stores,
        ctx.config.reports.timezone,
        ctx.stores.report_freshness(),
        now,
        ctx.config.reports.next_issue_days,
    )


def deliver_digest(ctx: ScheduleContext, run: DigestRun, now: datetime, result: ScheduleResult) -> None:
    """Build the run's two reports and the tickets breaching most, write the page to S3 at
    `run.key` (again when a run repeats: the same period, the same key), then email it once."""
    if _delivered(ctx, run.key):
        result.skipped.append(run.key)
        return
    current, previous = (_report(ctx, request, now) for request in run.requests())
    scopes = digest_scopes(ctx.config, run.team)
    breaching = breaching_tickets(ctx.stores, scopes, now, shards=ctx.config.views.shards)
    digest = render_digest(run, current, previous, breaching)
    ctx.pages.write(run.key, digest.html.encode("utf-8"), PAGE_TYPE)
    send = partial(ctx.mailer.send_digest, run.to, digest.subject, digest.html, digest.text, now.timestamp())
    deliver_once(ctx, run.key, now, send, result)


def digest_scopes(config: HelpdeskConfig, team: str) -> list[str]:
    """The view scopes of a digest's tickets: the team's, or for `all` every team's and no team's."""
    return [team] if team != "all" else [*(t.id for t in config.teams), NO_TEAM]


def breaching_tickets(
    stores: BreachingReads,
    scopes: Sequence[str],
    now: datetime,
    limit: int = BREACHING_LIMIT,
    shards: int = 1,
) -> list[BreachingTicket]:
    """The open tickets past an SLA target, most overdue first, at most `limit`: the head of each
    shard of each scope's `breaching` view (sorted by the soonest due target not met), each ticket
    read to name its target. The view follows the stream, so an entry may be of a ticket solved
    since: it is skipped, and up to twice `limit` entries are read to fill the list (bounded
    either way)."""
    cutoff, reads = clock.iso(now), 2 * limit
    names = [p for s in scopes for p in shard_partitions(f"VIEW#{s}#breaching", shards)]
    heads = [e for name in names for e in stores.view_slice(name, reads, True).entries]
    overdue = sorted((e for e in heads if e.sort < cutoff), key=lambda e: e.sort)[:reads]
    found: list[BreachingTicket] = []
    for entry in overdue:
        ticket = stores.get_ticket(entry.ticket_id)
        breach = overdue_target(ticket, now) if ticket is not None else None
        if ticket is not None and breach is not None:
            subject = ticket.subject or (ticket.preview or "")[:120] or "(no subject)"
            found.append(BreachingTicket(ticket.number, subject, breach[0], breach[1]))
        if len(found) == limit:
            break
    return sorted(found, key=lambda t: -t.overdue_minutes)


def overdue_target(ticket: Ticket, now: datetime) -> tuple[str, int] | None:
    """The ticket's most overdue SLA target not met and its minutes overdue (None: none, or the
    ticket is solved)."""
    if ticket.status in SOLVED:
        return None
    late = [
        (t.name, int((now - t.due_at).total_seconds() // 60))
        for t in ticket.sla.targets
        if t.state in ("pending", "breached") and t.due_at is not None and t.due_at < now
    ]
    return max(late, key=lambda pair: pair[1]) if late else None


def alert_day(config: HelpdeskConfig, scheduled_at: datetime) -> date | None:
    """The day whose range alerts are due at `scheduled_at`: yesterday, in the run of
    `ALERT_HOUR` local time of `reports.timezone`; None in every other run."""
    local = scheduled_at.astimezone(ZoneInfo(config.reports.timezone))
    return local.date() - timedelta(days=1) if local.hour == ALERT_HOUR else None


def alert_teams(config: HelpdeskConfig) -> list[str]:
    """Whose figures are watched: each team with a digest, and `all`."""
    return list(dict.fromkeys([*(d.team for d in config.reports.digests), "all"]))


def deliver_alerts(ctx: ScheduleContext, team: str, day: date, now: datetime, result: ScheduleResult) -> None:
    """Yesterday's range alerts of one team (or `all`), each published once to the alarm topic:
    keyed `alerts/<team>/<figure>/<day>`."""
    first, last = alert_period(day)
    where = None if team == "all" else ("team", team)
    report = _report(ctx, ReportRequest(first, last, group_by="day", filter=where), now)
    for alert in report_alerts(team, report):
        key = f"alerts/{team}/{alert.figure}/{day.isoformat()}"
        subject = f"Helpdesk report alert: {team} {alert.figure} on {day.isoformat()}"
        deliver_once(ctx, key, now, partial(ctx.alerts.publish_alert, subject, alert.message), result)


def digest_sender(config: HelpdeskConfig, support_addresses: Sequence[str]) -> str:
    """The digests' From address: the one all our email goes out from (`followups.from_address`,
    else the first support address), as `shared.logic.outbound.from_address` chooses it."""
    return config.followups.from_address or (support_addresses[0] if support_addresses else "")
