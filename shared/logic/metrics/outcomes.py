"""What one ticket counts once: its happenings (volume, replies, escalations, automatic messages,
ratings), its SLA outcome per target, its resolution's outcomes and its open spans."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from shared.logic.metrics.measuring import Measuring
from shared.logic.metrics.timeline import DONE_STATUSES, OPEN_STATUSES, Timeline
from shared.models.metrics import Happening, HappeningName, NextIssue, Outcomes, SlaOutcome, Span
from shared.models.ticket import Ticket

CustomerTicket = tuple[str, datetime]
"""Another ticket of the same customer: (id, created_at)."""


def _happening(
    measuring: Measuring, name: HappeningName, at: datetime, detail: object = None, agent: str | None = None
) -> Happening:
    local = at.astimezone(measuring.zone)
    return Happening(
        name=name,
        at=at,
        day=local.date(),
        hour=local.hour,
        weekday=local.weekday(),
        detail=None if detail is None else str(detail),
        agent=agent,
    )


def happenings(timeline: Timeline, measuring: Measuring) -> list[Happening]:
    """Everything the ticket counts once, on the local day, hour and weekday it happened."""
    found = [_happening(measuring, "created", timeline.created_at)]
    for change in timeline.changes:
        if change.kind in ("resolved", "reopened", "merged"):
            found.append(_happening(measuring, change.kind, change.at))
    found += [_happening(measuring, "agent_reply", m.at, agent=m.author) for m in timeline.agent_replies]
    found += [_happening(measuring, "auto_sent", m.at, m.headers.get("kind")) for m in timeline.automatic]
    for event in timeline.events:
        if event.type == "escalated":
            found.append(_happening(measuring, "escalated", event.at, event.data.get("level")))
        elif event.type == "followup_suppressed":
            found.append(_happening(measuring, "auto_suppressed", event.at, event.data.get("kind")))
        elif event.type == "csat":
            found.append(_happening(measuring, "csat_rating", event.at, event.data.get("rating")))
    return sorted(found, key=lambda h: (h.at, h.name))


def sla_outcomes(ticket: Ticket, timeline: Timeline) -> list[SlaOutcome]:
    """Per target of the ticket's SLA: breached once any breach of it was recorded, met when its
    clock was met, open otherwise (running or paused)."""
    breaches: dict[str, datetime] = {}
    for event in timeline.events:
        target = event.data.get("target")
        if event.type == "sla_breached" and isinstance(target, str):
            breaches.setdefault(target, event.at)
    outcomes: list[SlaOutcome] = []
    for target in ticket.sla.targets:
        breached_at = breaches.pop(target.name, None) or target.breached_at
        if breached_at is not None or target.state == "breached":
            outcomes.append(SlaOutcome(target=target.name, outcome="breached", breached_at=breached_at))
        else:
            outcomes.append(
                SlaOutcome(target=target.name, outcome="met" if target.state == "met" else "open")
            )
    for name, at in breaches.items():  # a target replaced since (another policy): its breach stays
        if name in ("first_response", "next_response", "periodic_update", "resolution"):
            outcomes.append(SlaOutcome(target=name, outcome="breached", breached_at=at))
    return outcomes


def open_spans(timeline: Timeline) -> list[Span]:
    """When the ticket was open (new, open, pending, on hold and not merged away), for the backlog."""
    spans: list[Span] = []
    for interval in timeline.intervals:
        if interval.status not in OPEN_STATUSES or interval.merged:
            continue
        if spans and spans[-1].stop == interval.start:
            spans[-1] = Span(start=spans[-1].start, stop=interval.stop)
        else:
            spans.append(Span(start=interval.start, stop=interval.stop))
    return spans


def _next_issue(
    ticket: Ticket, timeline: Timeline, measuring: Measuring, customer_tickets: Sequence[CustomerTicket]
) -> NextIssue:
    resolved_at = timeline.resolutions[-1].at
    window_ends = resolved_at + timedelta(days=measuring.next_issue_days)
    split_off = {str(e.data.get("into")) for e in timeline.events if e.type == "split"}
    later = sorted(
        (created_at, ticket_id)
        for ticket_id, created_at in customer_tickets
        if ticket_id != ticket.id and ticket_id not in split_off and resolved_at < created_at <= window_ends
    )
    if not later:
        return NextIssue(resolved_at=resolved_at, window_ends=window_ends)
    created_at, ticket_id = later[0]
    return NextIssue(
        resolved_at=resolved_at, window_ends=window_ends, next_ticket_id=ticket_id, next_created_at=created_at
    )


def outcomes(
    ticket: Ticket, timeline: Timeline, measuring: Measuring, customer_tickets: Sequence[CustomerTicket]
) -> Outcomes:
    """One-touch, first contact resolution, reopened, rating and next issue of the ticket."""
    replies = timeline.agent_replies
    resolutions = timeline.resolutions
    resolved = (
        timeline.intervals[-1].status in DONE_STATUSES and bool(resolutions) and ticket.merged_into is None
    )
    one_touch = resolved and len(replies) == 1
    after_reply = one_touch and any(m.at > replies[0].at for m in timeline.customer_messages)
    ratings = [e for e in timeline.events if e.type == "csat" and isinstance(e.data.get("rating"), int)]
    return Outcomes(
        resolved=resolved,
        resolved_day=measuring.day(resolutions[-1].at) if resolved else None,
        first_resolved_day=measuring.day(resolutions[0].at) if resolutions else None,
        agent_replies=len(replies),
        one_touch=one_touch,
        first_contact_resolution=one_touch and not after_reply and not timeline.reopens,
        reopened=bool(timeline.reopens),
        csat_rating=int(ratings[-1].data["rating"]) if ratings else None,
        next_issue=_next_issue(ticket, timeline, measuring, customer_tickets) if resolved else None,
    )
