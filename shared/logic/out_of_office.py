"""Out-of-office notices: a customer writes while the agent holding their ticket is away.

The notice says the message is on the ticket, when to expect an answer (when the agent is back, or
when the ticket's SLA has us answer) and that a colleague can help if it cannot wait. It goes out
once per absence and ticket, through `queue_automatic`, so every loop guard applies to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared import clock
from shared.logic.automatic import passing_guard, queue_automatic
from shared.logic.outbound import OutboundContext
from shared.logic.routing import calendar_for
from shared.logic.sla_service import policy_calendar
from shared.models.config import HelpdeskConfig
from shared.models.outbound import OutboundMessage
from shared.models.ticket import Direction, Message, Ticket

FINISHED = {"resolved", "closed"}
RESPONSE_TARGETS = ("first_response", "next_response")


@dataclass(frozen=True)
class Absence:
    """An agent's presence as stored: since when they are away or offline, and until when (None:
    not known)."""

    agent_id: str
    presence: str
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class NoticePlan:
    """What the notice promises: an answer by `due` (None: the acknowledgement's estimate), which
    is when the agent is back if `agent_back`."""

    due: datetime | None
    agent_back: bool


def notice_key(ticket_id: str, absence: Absence) -> str:
    """The outbox key: one notice per ticket and absence; coming back online ends the absence."""
    since = clock.iso(absence.since) if absence.since is not None else "unknown"
    return f"ooo#{ticket_id}#{absence.agent_id}#{since}"


def response_due(ticket: Ticket, now: datetime) -> datetime | None:
    """When the ticket's SLA has us answer the customer next (a running response target), if later
    than now."""
    due = [
        target.due_at
        for target in ticket.sla.targets
        if target.name in RESPONSE_TARGETS
        and target.state == "pending"
        and target.due_at is not None
        and target.due_at > now
    ]
    return min(due) if due else None


def plan_notice(ticket: Ticket, absence: Absence, config: HelpdeskConfig, now: datetime) -> NoticePlan | str:
    """The notice to send about the assignee's absence, or why none is due.

    The agent is back at the `until` they gave, else, when their working hours (`agents[].calendar`)
    are closed while the team's are open, at the next opening of their hours. Without either, a
    notice goes out only while the ticket's calendar is open: after hours nobody is expected to
    answer, so an agent being off says nothing new. A return before the SLA's response time does
    not delay the answer, so it needs no notice either.
    """
    if absence.presence == "online":
        return "the assignee is online"
    policy = config.sla_policy(ticket.sla.policy) if ticket.sla.policy else None
    calendar, _ = policy_calendar(config, policy, ticket.team)
    back = absence.until if absence.until is not None and absence.until > now else None
    if back is None:
        if not calendar.is_open(now):
            return "outside business hours, with no return time: no delay of the assignee's making"
        agent = config.agent(absence.agent_id)
        if agent is not None and agent.calendar is not None:
            hours = calendar_for(config, agent.calendar)
            if not hours.is_open(now):
                back = hours.next_open(now)
    due = response_due(ticket, now)
    if back is None:
        return NoticePlan(due=due, agent_back=False)
    if due is not None and back <= due:
        return "the assignee is back before the answer is due"
    return NoticePlan(due=back, agent_back=True)


def wait_reason(ticket: Ticket, ctx: OutboundContext, now: datetime) -> str | None:
    """Why the notice must wait: the loop guards that lift with time (`passing_guard`), checked
    before queueing. `queue_automatic` would record a suppressed notice under the absence's key, and
    no later message of the absence could bring it; a notice that waits is not recorded."""
    wanted = ("lastauto", ticket.customer_id)
    last = ctx.repository.get_pointers([wanted]).get(wanted)
    quiet_hours_apply = ticket.channel.value == "sms" and ctx.config.followups.sms_quiet_hours
    customer = ctx.repository.get_customer(ticket.customer_id) if quiet_hours_apply else None
    return passing_guard(ticket, customer, last, ctx, now, "ooo")


def current_absence(agent_id: str, ctx: OutboundContext) -> Absence:
    """The agent's stored presence (the config's `default_presence` until they set one)."""
    live = ctx.repository.get_agents([agent_id]).get(agent_id)
    agent = ctx.config.agent(agent_id)
    presence = live.presence if live is not None and live.presence else None
    presence = presence or (agent.default_presence if agent is not None else "offline")
    if live is None:
        return Absence(agent_id, presence)
    return Absence(agent_id, presence, live.away_since, live.away_until)


def on_customer_message(
    message: Message, ctx: OutboundContext, now: datetime
) -> tuple[OutboundMessage | None, str]:
    """A customer's message joined a ticket: if the ticket's assignee is away or offline, queue the
    out-of-office notice on the ticket's channel, once per absence; or say why none goes out."""
    if message.direction != Direction.INBOUND or message.automatic:
        return None, "not a message from the customer"
    if message.moved_at is not None:  # a merge, unmerge or split moved it: it was answered where it arrived
        return None, "the message was moved from another ticket"
    if not ctx.config.followups.out_of_office:
        return None, "out-of-office notices are off"
    ticket = ctx.repository.get_ticket(message.ticket_id)
    if ticket is None:
        return None, "the ticket does not exist"
    if message.at <= ticket.created_at:
        return None, "the message opened the ticket: the acknowledgement answers it"
    if ticket.status.value in FINISHED:
        return None, f"the ticket is {ticket.status.value}"
    if ticket.assignee is None:
        return None, "nobody is assigned"
    absence = current_absence(ticket.assignee, ctx)
    plan = plan_notice(ticket, absence, ctx.config, now)
    if isinstance(plan, str):
        return None, plan
    key = notice_key(ticket.id, absence)
    earlier = ctx.repository.get_outbound(key)  # the usual case for a second message: one read
    if earlier is not None:
        if earlier.status == "suppressed":
            return None, f"the notice of this absence was suppressed: {earlier.error}"
        return None, "already notified in this absence"
    if (why_wait := wait_reason(ticket, ctx, now)) is not None:
        return None, f"{why_wait}: a later message in this absence may bring the notice"
    agent = ctx.config.agent(ticket.assignee)
    name = agent.name if agent is not None and agent.name else ""
    extra = {"agent_name": name, "agent_back": plan.agent_back}
    queued, why = queue_automatic(ticket, "ooo", key, ctx, now, due=plan.due, extra=extra)
    return queued, "already notified in this absence" if why == "already queued" else why
