"""An agent's priority change re-selects the SLA policy with the customer's tier, as routing does."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.logic.agent_actions import AgentContext, TicketChangeRequest, update_ticket
from shared.logic.route_ticket import RoutingContext, route_new_ticket
from tests.integration.conftest import EmailHarness, mail, use_config

MONDAY_9 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CONFIG = """
teams: [{id: support}]
agents: [{id: alice, teams: [support], default_presence: online}]
customers: [{email_domains: [bigcorp.example], tier: vip}]
sla:
  policies:
    - {name: vip-urgent, when: {priority: [urgent], customer_tier: [vip]}, first_response: {minutes: 15, business: false}}
    - {name: urgent, when: {priority: [urgent]}, first_response: {minutes: 60, business: false}}
    - {name: email, when: {channel: [email]}, first_response: {minutes: 240, business: false}}
"""


@pytest.fixture
def contexts(email: EmailHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    config = use_config(CONFIG, tmp_path, monkeypatch)
    return (
        RoutingContext(repository=email.repository, config=config),
        AgentContext(repository=email.repository, config=config),
    )


@pytest.mark.parametrize(
    ("sender", "policy"), [("cio@bigcorp.example", "vip-urgent"), ("sam@home.example", "urgent")]
)
def test_urgent_by_an_agent_picks_the_policy_of_the_customers_tier(
    email: EmailHarness, contexts, sender: str, policy: str
) -> None:
    routing, agents = contexts
    ticket = email.repository.get_ticket(
        email.deliver(mail(sender=sender), at="2026-03-02T09:00:00.000Z")["ticket_id"]
    )
    assert ticket is not None
    route_new_ticket(ticket, routing, MONDAY_9)

    changed = update_ticket(
        str(ticket.number), TicketChangeRequest(priority="urgent"), "alice", agents, MONDAY_9
    )

    assert changed.sla.policy == policy
