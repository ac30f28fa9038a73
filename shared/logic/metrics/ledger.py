"""A ticket's metric ledger from the ticket, its events and messages (pure, deterministic)."""

from __future__ import annotations

from collections.abc import Sequence

from shared.logic.metrics.durations import merged_away_handle, resolution_measures, response_measures
from shared.logic.metrics.measuring import Measuring
from shared.logic.metrics.outcomes import CustomerTicket, happenings, open_spans, outcomes, sla_outcomes
from shared.logic.metrics.timeline import read_timeline
from shared.logic.routing import calendar_for
from shared.logic.sla_service import policy_calendar
from shared.models.config import HelpdeskConfig
from shared.models.metrics import MetricLedger, TicketFacts
from shared.models.ticket import Message, Ticket, TicketEvent


def measuring_for(config: HelpdeskConfig, ticket: Ticket) -> Measuring:
    """The ticket's own calendar (the one its SLA was planned in, else its policy's, its team's or
    `default`) and the config's reporting settings: its days in `reports.timezone`, or in its team's
    zone with `reports.days: team`."""
    name = ticket.sla.calendar if ticket.sla.calendar in config.calendars else None
    if name is not None:
        calendar = calendar_for(config, name)
    else:
        policy = config.sla_policy(ticket.sla.policy) if ticket.sla.policy else None
        calendar, name = policy_calendar(config, policy, ticket.team)
    return Measuring(calendar, name, config.day_zone(ticket.team), config.reports.next_issue_days)


def build_ledger(
    ticket: Ticket,
    events: Sequence[TicketEvent],
    messages: Sequence[Message],
    measuring: Measuring,
    customer_tier: str | None = None,
    customer_tickets: Sequence[CustomerTicket] = (),
) -> MetricLedger:
    """Everything `ticket` contributes to reports (docs/metrics.md), with the segments behind each
    duration. `customer_tickets` are the customer's other tickets, for next issue avoidance.

    A ticket merged into another counts as created and merged only, and its agents' presence before
    the merge as handle time: its conversation is on the other ticket now and counts there."""
    timeline = read_timeline(ticket, events, messages)
    merged = ticket.merged_into is not None
    found = happenings(timeline, measuring)
    return MetricLedger(
        ticket_id=ticket.id,
        number=ticket.number,
        version=ticket.version,
        timezone=measuring.timezone,
        calendar=measuring.calendar_name,
        created_day=measuring.day(ticket.created_at),
        merged_into=ticket.merged_into,
        facts=TicketFacts(
            channel=ticket.channel.value,
            team=ticket.team,
            agent=ticket.assignee,
            inbox=ticket.inbox,
            tags=sorted(ticket.tags),
            customer_tier=customer_tier,
            priority=ticket.priority.value,
        ),
        durations=merged_away_handle(timeline, measuring)
        if merged
        else [*response_measures(timeline, measuring), *resolution_measures(timeline, measuring)],
        happenings=[h for h in found if h.name in ("created", "merged")] if merged else found,
        sla=[] if merged else sla_outcomes(ticket, timeline),
        outcomes=outcomes(ticket, timeline, measuring, customer_tickets),
        open_spans=open_spans(timeline),
    )
