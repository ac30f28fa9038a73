"""Scenario files: validation before anything runs, with errors naming line and step."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from simulator.runner import SUPPORTED_STEPS, idempotency_key, note_request, reply_request
from simulator.scenario import (
    AgentStep,
    EmailStep,
    NoteStep,
    ReplyStep,
    ScenarioError,
    SmsStep,
    TickStep,
    UpdateStep,
    WebhookStep,
    load_scenario,
    parse_at,
    refuse_unsupported,
)


def write(tmp_path: Path, *lines: object) -> Path:
    path = tmp_path / "scenario.jsonl"
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    return [str(p) for p in caught.value.problems]


def test_a_valid_scenario_is_parsed_in_order_with_utc_times(tmp_path: Path) -> None:
    (tmp_path / "mails").mkdir()
    (tmp_path / "mails" / "a.eml").write_text("From: a@b.example\n\nhi\n")
    path = write(
        tmp_path,
        {"at": "2025-03-11T09:00:00+01:00", "email": {"file": "mails/a.eml", "verdicts": {"spam": "FAIL"}}},
        "",
        {"at": "2025-03-11T08:00:00Z", "tick": {}},
        {"at": "2025-03-11T08:30:00Z", "email": {"raw": "From: x@y.example\r\n\r\nhello", "deliveries": 3}},
    )
    scenario = load_scenario(path)
    assert [(s.number, s.line, s.kind) for s in scenario.steps] == [
        (1, 1, "email"),
        (2, 3, "tick"),
        (3, 4, "email"),
    ]
    first = scenario.steps[0]
    assert first.at == datetime(2025, 3, 11, 8, 0, tzinfo=UTC)
    assert isinstance(first.spec, EmailStep)
    assert first.spec.verdicts.spam == "FAIL"
    assert first.spec.verdicts.dkim == "PASS"
    assert scenario.resolve(first.spec.file or "") == (tmp_path / "mails" / "a.eml").resolve()
    assert isinstance(scenario.steps[1].spec, TickStep)
    assert scenario.steps[2].spec.deliveries == 3


def test_at_needs_a_zone_and_order_is_non_decreasing(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {"at": "2025-03-11T09:00:00", "tick": {}},
        {"at": "2025-03-11T10:00:00Z", "tick": {}},
        {"at": "2025-03-11T09:59:59Z", "tick": {}},
        {"at": "2025-03-11", "tick": {}},
        {"at": "tomorrow", "tick": {}},
        {"tick": {}},
    )
    found = problems(path)
    assert found[0].startswith('line 1 (tick step): "at" needs a zone')
    assert any(p.startswith("line 3 (tick step): at 2025-03-11T09:59:59+00:00 is earlier") for p in found)
    assert any(p.startswith('line 4 (tick step): "at" needs a zone') for p in found)
    assert any(p.startswith('line 5 (tick step): "at" is not an ISO 8601') for p in found)
    assert any(p.startswith('line 6 (tick step): missing "at"') for p in found)


@pytest.mark.parametrize(
    ("step", "problem"),
    [
        ({"at": "2025-03-11T09:00:00Z"}, "no step key"),
        ({"at": "2025-03-11T09:00:00Z", "tick": {}, "email": {"raw": "x"}}, "exactly one step key"),
        ({"at": "2025-03-11T09:00:00Z", "mail": {"raw": "x"}}, "unknown key(s) 'mail'"),
        ({"at": "2025-03-11T09:00:00Z", "tick": []}, "must be a JSON object"),
        ({"at": "2025-03-11T09:00:00Z", "tick": {"when": 1}}, "(tick step): when: Extra inputs"),
        ({"at": "2025-03-11T09:00:00Z", "email": {}}, 'give exactly one of "file"'),
        (
            {"at": "2025-03-11T09:00:00Z", "email": {"raw": "x", "file": "y.eml"}},
            'give exactly one of "file"',
        ),
        (
            {"at": "2025-03-11T09:00:00Z", "email": {"file": "missing.eml"}},
            "email file not found: missing.eml",
        ),
        (
            {"at": "2025-03-11T09:00:00Z", "email": {"raw": "x", "deliveries": 0}},
            "deliveries: Input should be greater",
        ),
        (
            {"at": "2025-03-11T09:00:00Z", "email": {"raw": "x", "deliveries": "2"}},
            "deliveries: Input should be a valid integer",
        ),
        ({"at": "2025-03-11T09:00:00Z", "email": {"raw": "x", "verdicts": {"spam": "BAD"}}}, "verdicts.spam"),
        ({"at": "2025-03-11T09:00:00Z", "email": {"raw": "x", "recipients": ["nobody"]}}, "recipients.0"),
        ({"at": "2025-03-11T09:00:00Z", "update": {"ticket": 1, "agent": "ana"}}, "changes at least one"),
        ({"at": "2025-03-11T09:00:00Z", "reply": {"ticket": 0, "agent": "ana", "text": "hi"}}, "ticket"),
        ({"at": "2025-03-11T09:00:00Z", "agent": {"id": "ana", "status": "busy"}}, "status"),
        ({"at": "2025-03-11T09:00:00Z", "webhook": {"method": "POST", "path": "webhooks/meta"}}, "path"),
        (
            {"at": "2025-03-11T09:00:00Z", "webhook": {"method": "GET", "path": "/webhooks/x?crc_token=1"}},
            'path: give query parameters in "query"',
        ),
        (
            {"at": "2025-03-11T09:00:00Z", "webhook": {"method": "post", "path": "/x"}},
            "method: Input should be",
        ),
        ({"at": "2025-03-11T09:00:00Z", "webhook": {"path": "/x"}}, "method: Field required"),
        (
            {"at": "2025-03-11T09:00:00Z", "webhook": {"method": "GET", "path": "/x", "query": {"n": 1}}},
            "query.n: Input should be a valid string",
        ),
        (
            {"at": "2025-03-11T09:00:00Z", "webhook": {"method": "POST", "path": "/x", "body": {"a": 1}}},
            "body: Input should be a valid string",
        ),
        (
            {
                "at": "2025-03-11T09:00:00Z",
                "webhook": {"method": "POST", "path": "/x", "headers": {"X-Sig": "a", "x-sig": "b"}},
            },
            "header 'x-sig' is given twice",
        ),
        (
            {
                "at": "2025-03-11T09:00:00Z",
                "webhook": {"method": "POST", "path": "/x", "headers": {"X Sig": "a"}},
            },
            "not a header name: 'X Sig'",
        ),
        (
            {"at": "2025-03-11T09:00:00Z", "webhook": {"method": "POST", "path": "/x", "signature": "s"}},
            "signature: Extra inputs are not permitted",
        ),
        (
            {
                "at": "2025-03-11T09:00:00Z",
                "sms": {"destinationNumber": "+1", "messageBody": "hi", "inboundMessageId": "a"},
            },
            "originationNumber: Field required",
        ),
        (
            {
                "at": "2025-03-11T09:00:00Z",
                "sms": {
                    "originationNumber": "+1",
                    "destinationNumber": "+2",
                    "messageBody": "hi",
                    "inboundMessageId": "",
                },
            },
            "inboundMessageId: String should have at least 1 character",
        ),
        (
            {
                "at": "2025-03-11T09:00:00Z",
                "sms": {
                    "originationNumber": 14255550182,
                    "destinationNumber": "+2",
                    "messageBody": "hi",
                    "inboundMessageId": "a",
                },
            },
            "originationNumber: Input should be a valid string",
        ),
        (
            {
                "at": "2025-03-11T09:00:00Z",
                "sms": {
                    "originationNumber": "+1",
                    "destinationNumber": "+2",
                    "messageBody": "hi",
                    "inboundMessageId": "a",
                    "deliveries": 51,
                },
            },
            "deliveries: Input should be less than or equal to 50",
        ),
        (
            {
                "at": "2025-03-11T09:00:00Z",
                "sms": {
                    "originationNumber": "+1",
                    "destinationNumber": "+2",
                    "body": "hi",
                    "inboundMessageId": "a",
                },
            },
            "messageBody: Field required",
        ),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "a step is a JSON object"),
    ],
)
def test_each_bad_step_is_reported_with_its_line(tmp_path: Path, step: object, problem: str) -> None:
    path = write(tmp_path, {"at": "2025-03-11T08:00:00Z", "tick": {}}, step)
    found = problems(path)
    assert len(found) >= 1
    assert found[0].startswith("line 2")
    assert problem in found[0]


def test_all_problems_are_reported_together(tmp_path: Path) -> None:
    path = write(tmp_path, {"at": "x", "tick": {}}, {"at": "2025-03-11T08:00:00Z", "nope": {}})
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    rendered = caught.value.render()
    assert "2 problems" in rendered
    assert "line 1" in rendered
    assert "line 2" in rendered


def test_an_empty_or_missing_scenario_is_an_error(tmp_path: Path) -> None:
    assert problems(write(tmp_path, "")) == ["line 1: the scenario has no steps"]
    assert problems(tmp_path / "absent.jsonl")[0].startswith("cannot read the scenario")


def test_steps_of_every_kind_validate_but_unsupported_kinds_are_refused(tmp_path: Path) -> None:
    # Given a scenario with every step kind of the format
    path = write(
        tmp_path,
        {"at": "2025-03-11T08:00:00Z", "email": {"raw": "From: a@b.example\n\nhi"}},
        {
            "at": "2025-03-11T08:01:00Z",
            "sms": {
                "originationNumber": "+14255550182",
                "destinationNumber": "+12125550101",
                "messageBody": "hi",
                "inboundMessageId": "abc",
            },
        },
        {"at": "2025-03-11T08:02:00Z", "webhook": {"method": "POST", "path": "/webhooks/meta", "body": "{}"}},
        {"at": "2025-03-11T08:03:00Z", "agent": {"id": "ana", "status": "online"}},
        {"at": "2025-03-11T08:04:00Z", "reply": {"ticket": 1, "agent": "ana", "text": "Hello"}},
        {"at": "2025-03-11T08:05:00Z", "note": {"ticket": "<a@b.example>", "agent": "ana", "text": "fyi"}},
        {"at": "2025-03-11T08:06:00Z", "update": {"ticket": 1, "agent": "ana", "status": "pending"}},
        {"at": "2025-03-11T08:07:00Z", "tick": {}},
    )
    scenario = load_scenario(path)
    # When the simulator checks what it supports
    with pytest.raises(ScenarioError) as caught:
        refuse_unsupported(scenario, ("email", "tick"))
    # Then every other kind is named with its line, and said to be unsupported yet
    found = [str(p) for p in caught.value.problems]
    assert [p.split(":")[0] for p in found] == [
        "line 2 (sms step)",
        "line 3 (webhook step)",
        "line 4 (agent step)",
        "line 5 (reply step)",
        "line 6 (note step)",
        "line 7 (update step)",
    ]
    assert all("is not supported yet" in p for p in found)


def test_sms_steps_keep_what_they_give_and_leave_number_checks_to_the_application(tmp_path: Path) -> None:
    # Given an SMS from a number no phone could have, and one with every field and two deliveries
    path = write(
        tmp_path,
        {
            "at": "2025-03-11T08:00:00Z",
            "sms": {
                "originationNumber": "not-a-number",
                "destinationNumber": "+12125550101",
                "messageBody": "hi",
                "inboundMessageId": "a",
            },
        },
        {
            "at": "2025-03-11T08:01:00Z",
            "sms": {
                "originationNumber": "+14255550182",
                "destinationNumber": "+12125550101",
                "messageKeyword": "JOIN",
                "messageBody": "",
                "inboundMessageId": "b",
                "previousPublishedMessageId": "wJalrXUtnFEMI",
                "mediaUrls": ["https://media.example/1.jpg"],
                "deliveries": 2,
            },
        },
    )
    # When it is loaded
    first, second = load_scenario(path).steps
    # Then both are valid steps, and only the fields given are kept for the message
    assert isinstance(first.spec, SmsStep)
    assert first.spec.model_dump(exclude_unset=True) == {
        "originationNumber": "not-a-number",
        "destinationNumber": "+12125550101",
        "messageBody": "hi",
        "inboundMessageId": "a",
    }
    assert second.spec.deliveries == 2
    assert second.spec.mediaUrls == ["https://media.example/1.jpg"]


def test_webhook_steps_default_to_no_query_headers_or_body(tmp_path: Path) -> None:
    path = write(
        tmp_path, {"at": "2025-03-11T08:00:00Z", "webhook": {"method": "GET", "path": "/webhooks/meta"}}
    )
    (step,) = load_scenario(path).steps
    assert isinstance(step.spec, WebhookStep)
    assert (step.spec.query, step.spec.headers, step.spec.body) == ({}, {}, "")


def test_the_simulator_runs_every_step_kind_of_the_format(tmp_path: Path) -> None:
    # Given a scenario with every step kind of the format
    path = write(
        tmp_path,
        {"at": "2025-03-11T08:00:00Z", "email": {"raw": "From: a@b.example\n\nhi"}},
        {
            "at": "2025-03-11T08:01:00Z",
            "sms": {
                "originationNumber": "+14255550182",
                "destinationNumber": "+12125550101",
                "messageBody": "hi",
                "inboundMessageId": "abc",
            },
        },
        {"at": "2025-03-11T08:02:00Z", "webhook": {"method": "POST", "path": "/webhooks/meta", "body": "{}"}},
        {"at": "2025-03-11T08:03:00Z", "agent": {"id": "ana", "status": "online"}},
        {"at": "2025-03-11T08:04:00Z", "reply": {"ticket": 1, "agent": "ana", "text": "Hello"}},
        {"at": "2025-03-11T08:05:00Z", "note": {"ticket": 1, "agent": "ana", "text": "fyi"}},
        {"at": "2025-03-11T08:06:00Z", "update": {"ticket": 1, "agent": "ana", "priority": "high"}},
        {"at": "2025-03-11T08:06:30Z", "api": {"method": "GET", "path": "/tickets/1", "agent": "ana"}},
        {"at": "2025-03-11T08:07:00Z", "tick": {}},
    )
    scenario = load_scenario(path)
    # When checked against what the simulator supports, nothing is refused
    refuse_unsupported(scenario, SUPPORTED_STEPS)
    assert set(SUPPORTED_STEPS) == {step.kind for step in scenario.steps}


AT = "2025-03-11T09:00:00Z"


@pytest.mark.parametrize(
    ("step", "problem"),
    [
        ({"agent": {"id": "ana"}}, "status: Field required"),
        ({"agent": {"id": "", "status": "online"}}, "id: String should have at least 1 character"),
        (
            {"agent": {"id": "ana", "status": "Online"}},
            "status: Input should be 'online', 'away' or 'offline'",
        ),
        (
            {"agent": {"id": "ana", "status": "online", "supervisor": "yes"}},
            "supervisor: Input should be a valid boolean",
        ),
        ({"agent": {"id": "ana", "status": "online", "by": "bo"}}, "by: Extra inputs are not permitted"),
        ({"agent": {"id": 7, "status": "online"}}, "id: Input should be a valid string"),
        ({"update": {"agent": "ana", "status": "open"}}, "ticket: Field required"),
        ({"update": {"ticket": 1, "status": "open"}}, "agent: Field required"),
        (
            {"update": {"ticket": 0, "agent": "ana", "status": "open"}},
            "ticket: give a ticket number (1 or more) or the external id of one of its messages",
        ),
        (
            {"update": {"ticket": "", "agent": "ana", "status": "open"}},
            'ticket: give a ticket number (1 or more) or the external id of one of its messages (e.g. 3 or "<abc@mail.example>"), got ""',
        ),
        ({"update": {"ticket": True, "agent": "ana", "status": "open"}}, "ticket: give a ticket number"),
        ({"update": {"ticket": "  ", "agent": "ana", "status": "open"}}, "ticket: give a ticket number"),
        ({"update": {"ticket": 1, "agent": "ana", "status": "done"}}, "status: Input should be"),
        ({"update": {"ticket": 1, "agent": "ana", "priority": "critical"}}, "priority: Input should be"),
        (
            {"update": {"ticket": 1, "agent": "ana", "assignee": 5}},
            "assignee: Input should be a valid string",
        ),
        (
            {"update": {"ticket": 1, "agent": "ana", "tags_add": "vip"}},
            "tags_add: Input should be a valid list",
        ),
        (
            {"update": {"ticket": 1, "agent": "ana", "tags_remove": [""]}},
            "tags_remove.0: String should have at least 1",
        ),
        ({"update": {"ticket": 1, "agent": "ana", "status": None}}, "status: null is not a change"),
        (
            {"update": {"ticket": 1, "agent": "ana", "supervisor": True}},
            "changes at least one of: status, priority",
        ),
        ({"update": {"ticket": 1, "agent": "ana", "note": "x", "status": "open"}}, "note: Extra inputs"),
        (
            {"agent": {"id": "ana", "status": "online", "until": "2025-03-12T09:00:00Z"}},
            '"until" is for an away or offline agent',
        ),
        ({"agent": {"id": "ana", "status": "away", "until": "tomorrow"}}, "is not an ISO 8601 time"),
        ({"agent": {"id": "ana", "status": "away", "until": "2025-03-12T09:00:00"}}, "needs a zone"),
    ],
)
def test_agent_and_update_steps_are_validated(tmp_path: Path, step: dict[str, object], problem: str) -> None:
    found = problems(write(tmp_path, {"at": AT, **step}))
    kind = next(iter(step))
    assert found[0].startswith(f"line 1 ({kind} step): ")
    assert any(problem in p for p in found), found


def test_agent_and_update_steps_keep_only_the_changes_they_give(tmp_path: Path) -> None:
    # Given a presence change by a supervisor, and updates by number and by Message-ID
    path = write(
        tmp_path,
        {"at": AT, "agent": {"id": "ana", "status": "away", "supervisor": True}},
        {"at": AT, "update": {"ticket": 3, "agent": "sam", "assignee": "", "tags_add": ["vip"]}},
        {
            "at": AT,
            "update": {
                "ticket": "<a/b@mail.example>",
                "agent": "ana",
                "status": "resolved",
                "priority": "high",
            },
        },
    )
    # When it is loaded
    presence, unassign, resolve = load_scenario(path).steps
    # Then the steps keep who acts and whether they supervise, and the request bodies only the changes
    assert isinstance(presence.spec, AgentStep)
    assert (presence.spec.id, presence.spec.status, presence.spec.supervisor) == ("ana", "away", True)
    assert isinstance(unassign.spec, UpdateStep)
    assert isinstance(resolve.spec, UpdateStep)
    assert (unassign.spec.agent, unassign.spec.supervisor) == ("sam", False)
    assert unassign.spec.changes() == {"assignee": "", "tags_add": ["vip"]}
    assert resolve.spec.ticket == "<a/b@mail.example>"
    assert resolve.spec.changes() == {"status": "resolved", "priority": "high"}


def test_parse_at_converts_offsets_to_utc() -> None:
    assert parse_at("2025-03-11T10:00:00+02:00") == datetime(2025, 3, 11, 8, tzinfo=UTC)
    with pytest.raises(ValueError, match="needs a zone"):
        parse_at("2025-03-11T10:00:00")


@pytest.mark.parametrize(
    ("step", "problem"),
    [
        ({"reply": {"agent": "ana", "text": "hi"}}, "ticket: Field required"),
        ({"reply": {"ticket": 1, "text": "hi"}}, "agent: Field required"),
        (
            {"reply": {"ticket": 1, "agent": "", "text": "hi"}},
            "agent: String should have at least 1 character",
        ),
        ({"reply": {"ticket": 1, "agent": "ana"}}, "text: Field required"),
        (
            {"reply": {"ticket": 1, "agent": "ana", "text": ""}},
            "text: String should have at least 1 character",
        ),
        ({"reply": {"ticket": 1, "agent": "ana", "text": " \n\t "}}, "text: the text is blank"),
        ({"reply": {"ticket": 1, "agent": "ana", "text": 5}}, "text: Input should be a valid string"),
        ({"reply": {"ticket": 0, "agent": "ana", "text": "hi"}}, "ticket: give a ticket number (1 or more)"),
        ({"reply": {"ticket": [1], "agent": "ana", "text": "hi"}}, "ticket: give a ticket number"),
        (
            {"reply": {"ticket": 1, "agent": "ana", "text": "hi", "channel": "fax"}},
            "channel: Input should be 'email', 'sms'",
        ),
        (
            {"reply": {"ticket": 1, "agent": "ana", "text": "hi", "supervisor": True}},
            "supervisor: Extra inputs are not permitted",
        ),
        ({"note": {"agent": "ana", "text": "fyi"}}, "ticket: Field required"),
        ({"note": {"ticket": 1, "text": "fyi"}}, "agent: Field required"),
        (
            {"note": {"ticket": 1, "agent": "ana", "text": ""}},
            "text: String should have at least 1 character",
        ),
        ({"note": {"ticket": 1, "agent": "ana", "text": "   "}}, "text: the text is blank"),
        ({"note": {"ticket": "", "agent": "ana", "text": "fyi"}}, "ticket: give a ticket number"),
        (
            {"note": {"ticket": 1, "agent": "ana", "text": "fyi", "channel": "email"}},
            "channel: Extra inputs are not permitted",
        ),
        ({"note": "fyi"}, 'the note value must be a JSON object, got "fyi"'),
    ],
)
def test_reply_and_note_steps_are_validated(tmp_path: Path, step: dict[str, object], problem: str) -> None:
    found = problems(write(tmp_path, {"at": AT, "tick": {}}, {"at": AT, **step}))
    kind = next(iter(step))
    assert found[0].startswith(f"line 2 ({kind} step): ")
    assert any(problem in p for p in found), found


def test_reply_and_note_steps_keep_who_writes_what_where(tmp_path: Path) -> None:
    # Given replies by number and by Message-ID (one on another channel) and a note by an SMS id
    path = write(
        tmp_path,
        {"at": AT, "reply": {"ticket": 3, "agent": "ana", "text": "Hello Jane,\n\ndone.\n"}},
        {"at": AT, "reply": {"ticket": "<a/b@mail.example>", "agent": "bo", "text": "Hi", "channel": "sms"}},
        {"at": AT, "note": {"ticket": "3f1c9a52-sms", "agent": "ana", "text": "  called her  "}},
    )
    # When it is loaded
    reply, other_channel, note = load_scenario(path).steps
    # Then the texts are kept as written, and the request bodies carry a channel only when one is given
    assert isinstance(reply.spec, ReplyStep)
    assert isinstance(other_channel.spec, ReplyStep)
    assert isinstance(note.spec, NoteStep)
    assert (reply.spec.ticket, reply.spec.agent, reply.spec.channel) == (3, "ana", None)
    assert reply.spec.body() == {"text": "Hello Jane,\n\ndone.\n"}
    assert other_channel.spec.body() == {"text": "Hi", "channel": "sms"}
    assert (note.spec.ticket, note.spec.agent) == ("3f1c9a52-sms", "ana")
    assert note.spec.body() == {"text": "  called her  "}


def test_replies_and_notes_are_agent_api_requests() -> None:
    # Given a reply by Message-ID on another channel, and a note by number
    reply = ReplyStep.model_validate(
        {"ticket": "<a/b@mail.example>", "agent": "bo", "text": "Hi", "channel": "sms"}
    )
    note = NoteStep.model_validate({"ticket": 3, "agent": "ana", "text": "fyi"})
    # When they are made into requests
    posted = reply_request(reply, "key-1")
    noted = note_request(note)
    # Then the REF goes URL-encoded into the agent API's paths, with the JSON body and the UI's headers
    assert (posted.method, posted.path) == ("POST", "/tickets/%3Ca%2Fb%40mail.example%3E/replies")
    assert json.loads(posted.body) == {"text": "Hi", "channel": "sms"}
    assert posted.headers["Idempotency-Key"] == "key-1"
    assert posted.headers["Content-Type"] == "application/json"
    assert posted.headers["User-Agent"] == "helpdesk-agent-ui (simulated)"
    assert (noted.method, noted.path, json.loads(noted.body)) == ("POST", "/tickets/3/notes", {"text": "fyi"})
    assert "Idempotency-Key" not in noted.headers


def test_a_reply_s_idempotency_key_depends_only_on_the_scenario_and_the_line(tmp_path: Path) -> None:
    scenario = tmp_path / "day.jsonl"
    key = idempotency_key(scenario, 7)
    assert key == idempotency_key(tmp_path / "elsewhere" / "day.jsonl", 7)  # the same run, the same keys
    assert key != idempotency_key(scenario, 8)
    assert key != idempotency_key(tmp_path / "other.jsonl", 7)
    assert len(key) == 36
    assert key.count("-") == 4  # a UUID, as the agent UI sends


def test_an_away_agent_step_sends_its_return_time() -> None:
    from simulator.runner import agent_request

    away = AgentStep(id="ana", status="away", until="2025-03-12T09:00:00+01:00")
    assert json.loads(agent_request(away).body) == {
        "status": "away",
        "until": "2025-03-12T09:00:00+01:00",
    }
    assert json.loads(agent_request(AgentStep(id="ana", status="online")).body) == {"status": "online"}
