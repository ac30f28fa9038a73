"""Out-of-office notices, the pure parts: when a notice is due and what it promises, its key, the
templates in every language, and the presence request's return time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from pydantic import ValidationError

from shared.channels.sms import segments
from shared.config import parse_config
from shared.dal.repository import TicketRepository
from shared.logic import templates
from shared.logic.agent_actions import (
    MAX_AWAY_DAYS,
    AgentContext,
    InvalidRequestError,
    PresenceRequest,
    set_presence,
)
from shared.logic.automatic import in_quiet_hours
from shared.logic.out_of_office import (
    Absence,
    NoticePlan,
    notice_key,
    plan_notice,
    response_due,
)
from shared.models.ticket import Sla, SlaTarget, Ticket

CONFIG = parse_config(
    """
calendars:
  default: {timezone: UTC, hours: {mon: ["09:00-17:00"], tue: ["09:00-17:00"], wed: ["09:00-17:00"], thu: ["09:00-17:00"], fri: ["09:00-17:00"]}}
  mornings: {timezone: UTC, hours: {mon: ["08:00-12:00"], tue: ["08:00-12:00"], wed: ["08:00-12:00"], thu: ["08:00-12:00"], fri: ["08:00-12:00"]}}
teams: [{id: support}]
agents:
  - {id: alice, name: Alice, teams: [support]}
  - {id: pat, teams: [support], calendar: mornings}
"""
)
MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
WEDNESDAY_9 = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)


def ticket(*targets: SlaTarget) -> Ticket:
    return Ticket(
        id="tkt_1",
        number=42,
        channel="email",
        customer_id="cus_1",
        team="support",
        assignee="alice",
        sla=Sla(targets=list(targets)),
        created_at=MONDAY_10 - timedelta(hours=1),
        updated_at=MONDAY_10,
    )


def first_response(due: datetime, state: str = "pending") -> SlaTarget:
    return SlaTarget(name="first_response", due_at=due, state=state)  # type: ignore[arg-type]


# -- when a notice is due, and what it promises -------------------------------------------------
def test_no_notice_while_the_assignee_is_online() -> None:
    assert plan_notice(ticket(), Absence("alice", "online"), CONFIG, MONDAY_10) == "the assignee is online"


def test_the_return_time_the_agent_gave_is_the_promise() -> None:
    away = Absence("alice", "away", since=MONDAY_10 - timedelta(hours=1), until=WEDNESDAY_9)
    late = first_response(MONDAY_10 + timedelta(hours=2))
    assert plan_notice(ticket(late), away, CONFIG, MONDAY_10) == NoticePlan(due=WEDNESDAY_9, agent_back=True)


def test_a_return_before_the_answer_is_due_delays_nothing() -> None:
    coffee = Absence("alice", "away", until=MONDAY_10 + timedelta(minutes=20))
    due = first_response(MONDAY_10 + timedelta(hours=2))
    assert (
        plan_notice(ticket(due), coffee, CONFIG, MONDAY_10) == "the assignee is back before the answer is due"
    )


def test_without_a_return_time_the_sla_response_time_is_the_promise() -> None:
    due = MONDAY_10 + timedelta(hours=3)
    offline = Absence("alice", "offline", until=MONDAY_10 - timedelta(hours=1))  # a return time gone by
    assert plan_notice(ticket(first_response(due)), offline, CONFIG, MONDAY_10) == NoticePlan(due, False)
    # no running response target (met, or no policy): the acknowledgement's estimate
    met = first_response(due, state="met")
    assert plan_notice(ticket(met), offline, CONFIG, MONDAY_10) == NoticePlan(None, False)


def test_after_hours_without_a_return_time_nobody_is_told() -> None:
    evening = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
    plan = plan_notice(ticket(), Absence("alice", "offline"), CONFIG, evening)
    assert isinstance(plan, str)
    assert plan.startswith("outside business hours")
    # but a return time the agent gave is worth telling at any hour
    assert plan_notice(ticket(), Absence("alice", "away", until=WEDNESDAY_9), CONFIG, evening) == NoticePlan(
        WEDNESDAY_9, True
    )


def test_an_agent_off_shift_while_the_team_works_is_back_when_their_hours_open() -> None:
    afternoon = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    plan = plan_notice(
        ticket().model_copy(update={"assignee": "pat"}), Absence("pat", "offline"), CONFIG, afternoon
    )
    assert plan == NoticePlan(datetime(2026, 3, 3, 8, 0, tzinfo=UTC), True)


def test_response_due_is_the_earliest_running_response_target_still_ahead() -> None:
    sla = ticket(
        first_response(MONDAY_10 - timedelta(minutes=5)),  # breached already: no promise to make
        SlaTarget(name="next_response", due_at=MONDAY_10 + timedelta(hours=4)),
        SlaTarget(name="resolution", due_at=MONDAY_10 + timedelta(hours=1)),  # not a response
    )
    assert response_due(sla, MONDAY_10) == MONDAY_10 + timedelta(hours=4)


def test_one_notice_per_ticket_and_absence() -> None:
    since = MONDAY_10 - timedelta(hours=1)
    key = notice_key("tkt_1", Absence("alice", "away", since=since, until=WEDNESDAY_9))
    assert key == "ooo#tkt_1#alice#2026-03-02T09:00:00.000Z"
    assert notice_key("tkt_1", Absence("alice", "offline", since=since)) == key  # away -> offline: same
    assert notice_key("tkt_1", Absence("alice", "away", since=MONDAY_10)) != key  # back, then away again
    assert notice_key("tkt_1", Absence("alice", "offline")) == "ooo#tkt_1#alice#unknown"


@pytest.mark.parametrize(
    ("local", "quiet"),
    [("22:30", True), ("07:59", True), ("08:00", False), ("12:00", False), ("20:59", False)],
)
def test_sms_quiet_hours_run_past_midnight_in_the_customers_zone(local: str, quiet: bool) -> None:
    hour, minute = map(int, local.split(":"))
    chicago_winter = timedelta(hours=6)
    at = datetime(2026, 1, 5, hour, minute, tzinfo=UTC) + chicago_winter
    assert in_quiet_hours("21:00-08:00", "America/Chicago", at) is quiet
    assert in_quiet_hours("21:00-08:00", "Not/AZone", at) is False


# -- templates --------------------------------------------------------------------------------
def test_every_language_has_every_template_and_they_all_render() -> None:
    assert templates.validate_templates() == []
    for language in ("en", "de", "fr", "es"):
        assert set(templates._catalogue(language)["ooo"]) == {"subject", "email", "short"}


def test_validation_names_a_part_missing_in_a_language(monkeypatch: pytest.MonkeyPatch) -> None:
    real = templates._catalogue

    def without_german_ooo(language: str) -> dict[str, dict[str, str]]:
        catalogue = dict(real(language))
        if language == "de":
            catalogue["ooo"] = {k: v for k, v in catalogue["ooo"].items() if k != "short"}
        return catalogue

    monkeypatch.setattr(templates, "_catalogue", without_german_ooo)
    assert templates.validate_templates() == ["de.ooo.short: missing (the English text would be sent)"]


def test_validation_renders_both_branches_of_a_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    real = templates._catalogue

    def with_a_typo(language: str) -> dict[str, dict[str, str]]:
        catalogue = dict(real(language))
        if language == "en":
            catalogue["ooo"] = {**catalogue["ooo"], "short": "{% if agent_back %}{{ expectd }}{% endif %}"}
        return catalogue

    monkeypatch.setattr(templates, "_catalogue", with_a_typo)
    assert templates.validate_templates() == ["en.ooo.short: 'expectd' is undefined"]


def context(language: str, *, back: bool, name: str = "Alexandra", number: int = 12345) -> dict[str, Any]:
    when = WEDNESDAY_9 if back else MONDAY_10 + timedelta(hours=3)
    return {
        **templates.SAMPLE_CONTEXT,
        "customer_name": "Jane",
        "ticket": {
            "number": number,
            "token": f"[#{number}]",
            "subject": "Printer not working",
            "channel": "sms",
        },
        "expected": templates.expected_phrase(language, when, "Europe/Berlin"),
        "agent_name": name,
        "agent_back": back,
    }


@pytest.mark.parametrize("language", ["en", "de", "fr", "es"])
@pytest.mark.parametrize("back", [True, False])
@pytest.mark.parametrize("name", ["Alexandra", ""])
def test_the_sms_notice_fits_two_gsm_segments(language: str, back: bool, name: str) -> None:
    text = templates.render("ooo", "short", language, context(language, back=back, name=name))
    assert segments(text) in {("GSM-7", 1), ("GSM-7", 2)}, text
    assert "#12345" in text
    assert context(language, back=back)["expected"] in text


@pytest.mark.parametrize("language", ["en", "de", "fr", "es"])
def test_the_email_notice_names_the_ticket_the_agent_and_the_return(language: str) -> None:
    values = context(language, back=True)
    text = templates.render("ooo", "email", language, values)
    assert "#12345" in text
    assert "Alexandra" in text
    assert values["expected"] in text
    assert "Jane" in text
    anonymous = templates.render("ooo", "email", language, {**values, "agent_name": "", "customer_name": ""})
    assert "Alexandra" not in anonymous
    assert " ," not in anonymous  # no gap where a name would be
    subject = templates.render("ooo", "subject", language, values)
    assert subject == "Re: [#12345] Printer not working"


def test_english_wording() -> None:
    back = templates.render("ooo", "email", "en", context("en", back=True, name="Alice", number=42))
    assert (
        "Alice, who is looking after your request, is out of the office and back by Wed 04 Mar, 10:00 CET."
        in back
    )
    later = templates.render("ooo", "short", "en", context("en", back=False, name="", number=42))
    assert later == (
        "Thanks, your message is on ticket #42. The agent on your ticket is away; we'll answer by Mon 02 Mar, "
        "14:00 CET. To add anything, just reply."
    )


def test_time_phrases_contract_the_article() -> None:
    assert (
        templates.expected_phrase("fr", WEDNESDAY_9, "UTC", from_time=True) == "à partir du 04/03 à 09:00 UTC"
    )
    assert templates.expected_phrase("es", WEDNESDAY_9, "UTC") == "antes del 04/03 a las 09:00 UTC"
    assert (
        templates.expected_phrase("es", WEDNESDAY_9, "UTC", from_time=True)
        == "a partir del 04/03 a las 09:00 UTC"
    )
    assert templates.expected_phrase("fr", WEDNESDAY_9, "UTC") == "d'ici le 04/03 à 09:00 UTC"


# -- the presence request's return time ---------------------------------------------------------
@dataclass
class PresenceRecorder:
    calls: list[tuple[str, str, datetime | None]] = field(default_factory=list)

    def set_presence(
        self, agent_id: str, presence: str, teams: list[str], at: datetime, until: datetime | None = None
    ) -> None:
        self.calls.append((agent_id, presence, until))


def presence(body: dict[str, Any], recorder: PresenceRecorder) -> None:
    ctx = AgentContext(repository=cast(TicketRepository, recorder), config=CONFIG)
    set_presence("alice", PresenceRequest.model_validate(body), "alice", False, ctx, MONDAY_10)


def test_away_with_a_return_time_is_stored() -> None:
    recorder = PresenceRecorder()
    presence({"status": "away", "until": "2026-03-04T10:00:00+01:00"}, recorder)
    presence({"status": "offline"}, recorder)
    assert recorder.calls == [("alice", "away", WEDNESDAY_9), ("alice", "offline", None)]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"status": "away", "until": "2026-03-02T09:59:00Z"}, "is not in the future"),
        (
            {"status": "away", "until": (MONDAY_10 + timedelta(days=MAX_AWAY_DAYS + 1)).isoformat()},
            "more than 60 days ahead",
        ),
        ({"status": "online", "until": "2026-03-04T09:00:00Z"}, "only an away or offline presence"),
    ],
)
def test_return_times_that_cannot_be_right_are_refused(body: dict[str, Any], problem: str) -> None:
    recorder = PresenceRecorder()
    with pytest.raises(InvalidRequestError, match=problem):
        presence(body, recorder)
    assert recorder.calls == []


def test_a_return_time_needs_a_time_zone() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        PresenceRequest.model_validate({"status": "away", "until": "2026-03-04T09:00:00"})
    with pytest.raises(ValidationError, match="ISO 8601"):
        PresenceRequest.model_validate({"status": "away", "until": 1772600000})
