"""Custom fields of tickets: declared in the config (`tickets.fields`), set and cleared by agents
through PATCH /tickets/{ref}, each value checked against its field's type."""

from __future__ import annotations

from pathlib import Path

import pytest

from functions.agent_api import app
from tests.integration.conftest import EmailHarness, mail, use_config
from tests.integration.test_agent_api import call

CONFIG = """
tickets:
  fields:
    - {id: order, name: Order number}
    - {id: product, name: Product, type: choice, choices: [LP-4100, LP-5200]}
    - {id: seats, name: Seats, type: number}
    - {id: onsite, name: Technician on site, type: checkbox}
teams: [{id: support}]
agents:
  - {id: alice, teams: [support]}
"""


@pytest.fixture
def api(email: EmailHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EmailHarness:
    use_config(CONFIG, tmp_path, monkeypatch)
    app._agent_context.cache_clear()
    return email


def test_agents_set_and_clear_a_tickets_custom_fields(api: EmailHarness) -> None:
    api.deliver(mail())

    fields = {"order": "A-10293", "product": "LP-4100", "seats": 12, "onsite": True}
    status, body = call("PATCH", "/tickets/1", {"fields": fields})

    assert status == 200
    assert body["ticket"]["custom_fields"] == {
        "order": "A-10293",
        "product": "LP-4100",
        "seats": 12.0,
        "onsite": True,
    }
    assert call("GET", "/tickets/1")[1]["ticket"]["custom_fields"]["product"] == "LP-4100"
    status, body = call("PATCH", "/tickets/1", {"fields": {"onsite": None, "seats": 14}})
    assert body["ticket"]["custom_fields"] == {"order": "A-10293", "product": "LP-4100", "seats": 14.0}
    (ticket,) = api.repository.scan_tickets()
    changes = [
        e.data["changes"]["fields"] for e in api.repository.list_events(ticket.id) if e.type == "updated"
    ]
    assert changes[-1] == [
        {"order": "A-10293", "product": "LP-4100", "seats": 12.0, "onsite": True},
        {"order": "A-10293", "product": "LP-4100", "seats": 14.0},
    ]


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        ({"colour": "red"}, "fields: no field 'colour' in the config"),
        ({"product": "LP-9"}, "fields.product: one of LP-4100, LP-5200"),
        ({"seats": "twelve"}, "fields.seats: a number value"),
        ({"onsite": "yes"}, "fields.onsite: a checkbox value"),
        ({"order": 42}, "fields.order: a text value"),
        ({"order": "x" * 501}, "fields.order: at most 500 characters, no control characters"),
    ],
)
def test_a_value_its_field_does_not_take_is_refused(
    api: EmailHarness, fields: dict[str, object], detail: str
) -> None:
    api.deliver(mail())
    status, problem = call("PATCH", "/tickets/1", {"fields": fields})
    assert (status, problem["detail"]) == (400, detail)
    assert call("GET", "/tickets/1")[1]["ticket"]["custom_fields"] == {}
