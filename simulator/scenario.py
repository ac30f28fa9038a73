"""Scenario files: JSON Lines, one step a line, in time order (docs/simulator.md describes the format).

Parsing validates everything before anything runs: each line is a JSON object with an `at` (ISO 8601
with a zone) and exactly one step key, steps are in non-decreasing time order, and each step's value
has the shape its kind needs. Problems are collected and reported together, each naming its line.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from shared.models.ticket import Channel, Priority, TicketStatus
from simulator.events import LONE_SURROGATE
from simulator.events import Verdicts as SesVerdicts

VerdictStatus = Literal["PASS", "FAIL", "GRAY", "PROCESSING_FAILED"]
MAX_DELIVERIES = 50

NonEmpty = Annotated[StrictStr, Field(min_length=1)]


def _any_text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"Input should be a valid string, got {json.dumps(value)}")
    return value


def _any_non_empty(value: Any) -> str:
    if not _any_text(value):
        raise ValueError("String should have at least 1 character")
    return str(value)


AnyText = Annotated[str, PlainValidator(_any_text)]
"""Any JSON string, lone surrogates and control characters included (JSON the API receives may carry them)."""
AnyNonEmpty = Annotated[str, PlainValidator(_any_non_empty)]


def utf8_only(value: str, what: str, instead: str) -> str:
    """`value` when it has a UTF-8 form; otherwise ValueError naming the AWS behaviour it would break."""
    found = LONE_SURROGATE.search(value)
    if found is not None:
        raise ValueError(
            f"{what} holds the lone surrogate \\u{ord(found.group()):04x} at character {found.start()}: "
            f"{instead}"
        )
    return value


def _ref(value: Any) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if isinstance(value, str) and value.strip():
        return utf8_only(value, "the ticket", "it goes into the request path, percent-encoded UTF-8")
    raise ValueError(
        "give a ticket number (1 or more) or the external id of one of its messages "
        f'(e.g. 3 or "<abc@mail.example>"), got {json.dumps(value)}'
    )


Ref = Annotated[int | str, PlainValidator(_ref)]
"""A ticket number, or the external id of any message of the ticket."""


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Verdicts(_Step):
    """SES receipt verdicts; anything not given is PASS."""

    spam: VerdictStatus = "PASS"
    virus: VerdictStatus = "PASS"
    spf: VerdictStatus = "PASS"
    dkim: VerdictStatus = "PASS"
    dmarc: VerdictStatus = "PASS"


def _base64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not base64 (RFC 4648, with padding): {value[:40]!r}") from None


class EmailStep(_Step):
    file: NonEmpty | None = None
    raw: AnyNonEmpty | None = None
    raw_base64: NonEmpty | None = None
    """The message's exact bytes, base64-encoded (8-bit headers, any charset, anything SMTP carries)."""
    recipients: (
        Annotated[list[Annotated[NonEmpty, Field(pattern=r"^[^@\s]+@[^@\s]+$")]], Field(min_length=1)] | None
    ) = None
    verdicts: Verdicts = Field(default_factory=Verdicts)
    dmarcPolicy: Literal["none", "quarantine", "reject"] | None = None  # noqa: N815 - SES's receipt field
    """The sender domain's DMARC policy, which SES reports with a DMARC FAIL."""
    deliveries: Annotated[StrictInt, Field(ge=1, le=MAX_DELIVERIES)] = 1

    @model_validator(mode="after")
    def _one_source(self) -> EmailStep:
        if sum(source is not None for source in (self.file, self.raw, self.raw_base64)) != 1:
            raise ValueError(
                'give exactly one of "file" (a path to a .eml file), "raw" (the MIME text) or '
                '"raw_base64" (the message\'s bytes, base64)'
            )
        if self.raw is not None:
            utf8_only(
                self.raw,
                "raw",
                "SMTP carries bytes and this text has no UTF-8 form; give the bytes in raw_base64 or a file",
            )
        if self.raw_base64 is not None and not _base64(self.raw_base64, "raw_base64"):
            raise ValueError("raw_base64 decodes to no bytes: SES receives no empty message")
        if self.dmarcPolicy is not None and self.verdicts.dmarc != "FAIL":
            raise ValueError(
                f'dmarcPolicy needs "verdicts": {{"dmarc": "FAIL"}}: SES reports the policy only for mail '
                f"that fails DMARC (the DMARC verdict here is {self.verdicts.dmarc})"
            )
        return self

    def ses_verdicts(self) -> SesVerdicts:
        """The receipt verdicts, with the DMARC policy SES reports when DMARC fails (`none` if not given)."""
        return SesVerdicts(**self.verdicts.model_dump(), dmarc_policy=self.dmarcPolicy or "none")

    def message(self) -> bytes | None:
        """The message's bytes when the step gives them inline (None for a file)."""
        if self.raw_base64 is not None:
            return _base64(self.raw_base64, "raw_base64")
        return self.raw.encode("utf-8") if self.raw is not None else None


class SmsStep(_Step):
    """An inbound SMS: the JSON AWS End User Messaging publishes, as given (numbers are not checked here:
    the application decides what a bad number means)."""

    originationNumber: NonEmpty  # noqa: N815 - the AWS field names, as delivered
    destinationNumber: NonEmpty  # noqa: N815
    messageKeyword: StrictStr | None = None  # noqa: N815
    messageBody: AnyText  # noqa: N815
    inboundMessageId: NonEmpty  # noqa: N815
    previousPublishedMessageId: StrictStr | None = None  # noqa: N815
    mediaUrls: list[NonEmpty] | None = None  # noqa: N815 - MMS media (not a documented inbound field)
    deliveries: Annotated[StrictInt, Field(ge=1, le=MAX_DELIVERIES)] = 1


_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class _HttpRequest(_Step):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    path: StrictStr
    query: dict[NonEmpty, AnyText] = Field(default_factory=dict)
    headers: dict[StrictStr, AnyText] = Field(default_factory=dict)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f'the path starts with "/", e.g. "/webhooks/meta", got {value!r}')
        if "?" in value or "#" in value:
            raise ValueError('give query parameters in "query", not in the path')
        if any(char.isspace() for char in value):
            raise ValueError(f"the path has a space in it: {value!r}")
        return utf8_only(value, "the path", "a URL path is percent-encoded UTF-8, which has no form for it")

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [name for name in value if not _HEADER_NAME.match(name)]
        if bad:
            raise ValueError(f"not a header name: {', '.join(map(repr, bad))}")
        seen: dict[str, str] = {}
        for name, text in value.items():
            if name.lower() in seen:
                raise ValueError(f"header {name!r} is given twice (as {seen[name.lower()]!r} too)")
            seen[name.lower()] = name
            if any(char in text for char in "\r\n\0") or LONE_SURROGATE.search(text):
                raise ValueError(
                    f"header {name!r}: a header value cannot hold CR, LF, NUL or a lone surrogate "
                    "(HTTP forbids them; API Gateway never passes one on)"
                )
        return value

    @field_validator("query")
    @classmethod
    def _query(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            utf8_only(
                name + text,
                f"query parameter {name!r}",
                "a URL is percent-encoded UTF-8: it has no form for it",
            )
        return value


class WebhookStep(_HttpRequest):
    """An HTTP request to the template's HTTP API: `body` is the exact text sent (its UTF-8 bytes; sign it
    as is), `body_base64` the exact bytes (any bytes: binary, another charset)."""

    body: AnyText = ""
    body_base64: StrictStr | None = None

    @model_validator(mode="after")
    def _one_body(self) -> WebhookStep:
        if self.body_base64 is not None:
            if self.body:
                raise ValueError('give the body once: as text in "body" or as bytes in "body_base64"')
            _base64(self.body_base64, "body_base64")
        utf8_only(
            self.body,
            "body",
            "an HTTP body is bytes and this text has no UTF-8 form; give the bytes in body_base64",
        )
        return self

    def payload(self) -> bytes:
        """The request body's bytes."""
        if self.body_base64 is not None:
            return _base64(self.body_base64, "body_base64")
        return self.body.encode("utf-8")


ClaimValue = Annotated[StrictStr | list[StrictStr], Field()]


class ApiStep(_HttpRequest):
    """Any request to the agent API (or any route of the template's HTTP APIs): method, path, query,
    headers, body, and who calls: an agent (`agent`, `supervisor`), a token's exact claims (`claims`),
    or nobody (neither: no token)."""

    body: Any = None
    """A JSON value, sent as JSON text (lone surrogates as their escapes); null or left out: no body."""
    body_base64: StrictStr | None = None
    """The body's exact bytes, base64-encoded, instead of `body`."""
    agent: NonEmpty | None = None
    supervisor: StrictBool = False
    claims: dict[NonEmpty, ClaimValue] | None = None
    """The validated token's claims as given (`token_use`, `cognito:groups`, ...); a list is passed on
    as API Gateway passes an array claim: `[a b]`."""

    @model_validator(mode="after")
    def _caller_and_body(self) -> ApiStep:
        if self.agent is not None and self.claims is not None:
            raise ValueError('give the caller once: "agent" (the usual claims) or "claims" (exact ones)')
        if self.supervisor and self.agent is None:
            raise ValueError('"supervisor" is for an "agent" caller; with "claims" give cognito:groups')
        if self.body_base64 is not None:
            if self.body is not None:
                raise ValueError('give the body once: a JSON value in "body" or bytes in "body_base64"')
            _base64(self.body_base64, "body_base64")
        return self

    def payload(self) -> bytes:
        """The request body's bytes: the JSON text of `body` (ASCII, escapes for the rest), or the bytes."""
        if self.body_base64 is not None:
            return _base64(self.body_base64, "body_base64")
        return b"" if self.body is None else json.dumps(self.body).encode("ascii")

    def token_claims(self) -> dict[str, str] | None:
        """The claims API Gateway passes on (strings; arrays as `[a b]`); None for an unauthenticated call."""
        if self.claims is None:
            return None
        return {
            name: f"[{' '.join(value)}]" if isinstance(value, list) else value
            for name, value in self.claims.items()
        }


class AgentStep(_Step):
    """An agent sets their own presence through the agent API."""

    id: NonEmpty
    status: Literal["online", "away", "offline"]
    until: NonEmpty | None = None
    """When an away or offline agent is back (ISO 8601 with a zone): out-of-office notices name it."""
    supervisor: StrictBool = False
    """The agent's token says they are in the supervisors group."""

    @model_validator(mode="after")
    def _return_time(self) -> AgentStep:
        if self.until is None:
            return self
        if self.status == "online":
            raise ValueError('"until" is for an away or offline agent: when they are back')
        try:
            back = datetime.fromisoformat(self.until)
        except ValueError:
            raise ValueError(f'"until": {self.until!r} is not an ISO 8601 time') from None
        if back.tzinfo is None:
            raise ValueError(f'"until": {self.until!r} needs a zone (Z or +01:00)')
        return self

    def body(self) -> dict[str, str]:
        """The presence request the agent UI sends."""
        return {"status": self.status, **({"until": self.until} if self.until else {})}


_BLANK = re.compile(r"[ \t\n\r\f\v\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*")


def _text(value: str) -> str:
    if _BLANK.fullmatch(value):
        raise ValueError("the text is blank: give what the agent writes")
    return value


Text = Annotated[AnyNonEmpty, AfterValidator(_text)]
"""What an agent writes: any JSON string with something besides spaces and line breaks in it (control
characters and lone surrogates included: JSON the agent API receives may carry them)."""


class ReplyStep(_Step):
    """An agent's public reply through the agent API, sent on the ticket's channel (or `channel`)."""

    ticket: Ref
    agent: NonEmpty
    text: Text
    channel: Channel | None = None
    """Another channel of the customer to answer on; the ticket's own when left out."""

    def body(self) -> dict[str, Any]:
        """The request body: the text, and the channel only when the step gives one."""
        return self.model_dump(mode="json", include={"text", "channel"}, exclude_none=True)


class NoteStep(_Step):
    """An agent's internal note through the agent API: kept on the ticket, never sent."""

    ticket: Ref
    agent: NonEmpty
    text: Text

    def body(self) -> dict[str, Any]:
        """The request body."""
        return {"text": self.text}


UPDATE_FIELDS = ("status", "priority", "assignee", "tags_add", "tags_remove")


class UpdateStep(_Step):
    """An agent changes a ticket through the agent API (`assignee: ""` unassigns)."""

    ticket: Ref
    agent: NonEmpty
    supervisor: StrictBool = False
    """The agent's token says they are in the supervisors group."""
    status: TicketStatus | None = None
    priority: Priority | None = None
    assignee: StrictStr | None = None
    tags_add: list[AnyNonEmpty] | None = None
    tags_remove: list[AnyNonEmpty] | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> UpdateStep:
        given = [name for name in UPDATE_FIELDS if name in self.model_fields_set]
        nulls = [name for name in given if getattr(self, name) is None]
        if nulls:
            raise ValueError(
                f"{', '.join(nulls)}: null is not a change; give a value or leave the key out "
                '(`"assignee": ""` unassigns)'
            )
        if not given:
            raise ValueError(f"an update changes at least one of: {', '.join(UPDATE_FIELDS)}")
        return self

    def changes(self) -> dict[str, Any]:
        """The request body: only the changes the step gives, as JSON values."""
        return self.model_dump(mode="json", include=set(UPDATE_FIELDS), exclude_unset=True)


class TickStep(_Step):
    """Only moves the clock."""


STEP_MODELS: dict[str, type[_Step]] = {
    "email": EmailStep,
    "sms": SmsStep,
    "webhook": WebhookStep,
    "agent": AgentStep,
    "reply": ReplyStep,
    "note": NoteStep,
    "update": UpdateStep,
    "api": ApiStep,
    "tick": TickStep,
}
STEP_KINDS = tuple(STEP_MODELS)


@dataclass(frozen=True)
class Problem:
    line: int
    message: str
    kind: str | None = None

    def __str__(self) -> str:
        if self.line <= 0:
            return self.message
        where = f"line {self.line}" + (f" ({self.kind} step)" if self.kind else "")
        return f"{where}: {self.message}"


class ScenarioError(Exception):
    """The scenario cannot run: each problem names its line (and the step kind when known)."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        head = f"{self.source}: {len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}"
        return "\n".join([head, *(f"  {problem}" for problem in self.problems)])


@dataclass(frozen=True)
class Step:
    """One validated scenario step."""

    number: int
    """1-based position among the steps."""
    line: int
    """Line of the scenario file it came from."""
    at: datetime
    """When it happens (aware, UTC)."""
    kind: str
    spec: Any
    """The step's validated value: an EmailStep, TickStep, ..."""


@dataclass
class Scenario:
    path: Path
    steps: list[Step] = field(default_factory=list)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resolve(self, relative: str) -> Path:
        """A path of the scenario (e.g. an email file), relative to the scenario file."""
        return (self.base_dir / relative).resolve()


def parse_at(value: Any) -> datetime:
    """An ISO 8601 timestamp with a zone, as aware UTC; ValueError says what is wrong."""
    if not isinstance(value, str):
        raise ValueError(f'"at" must be an ISO 8601 string with a zone, got {json.dumps(value)}')
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f'"at" is not an ISO 8601 timestamp: {value!r}') from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f'"at" needs a zone (e.g. "Z" or "+02:00"): {value!r}')
    return parsed.astimezone(UTC)


def _format_validation(exc: ValidationError) -> list[str]:
    messages = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        messages.append(f"{location}: {message}" if location else message)
    return messages


def _parse_line(
    number: int, line_no: int, text: str, scenario: Scenario
) -> tuple[Step | None, list[Problem]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [Problem(line_no, f"not valid JSON: {exc.msg} (column {exc.colno})")]
    if not isinstance(data, dict):
        return None, [Problem(line_no, f"a step is a JSON object, got {type(data).__name__}")]
    kinds = [key for key in data if key in STEP_MODELS]
    unknown = [key for key in data if key not in STEP_MODELS and key != "at"]
    problems: list[Problem] = []
    kind = kinds[0] if len(kinds) == 1 else None
    if unknown:
        problems.append(
            Problem(
                line_no,
                f'unknown key(s) {", ".join(map(repr, unknown))}; a step has "at" and one of: '
                f"{', '.join(STEP_KINDS)}",
                kind,
            )
        )
    if not kinds and not unknown:
        problems.append(Problem(line_no, f"no step key; give one of: {', '.join(STEP_KINDS)}"))
    elif len(kinds) > 1:
        problems.append(Problem(line_no, f"exactly one step key per line, got {', '.join(kinds)}"))
    at: datetime | None = None
    if "at" not in data:
        problems.append(Problem(line_no, 'missing "at" (an ISO 8601 timestamp with a zone)', kind))
    else:
        try:
            at = parse_at(data["at"])
        except ValueError as exc:
            problems.append(Problem(line_no, str(exc), kind))
    spec: Any = None
    if kind is not None:
        value = data[kind]
        if not isinstance(value, dict):
            problems.append(
                Problem(line_no, f"the {kind} value must be a JSON object, got {json.dumps(value)}", kind)
            )
        else:
            try:
                spec = STEP_MODELS[kind].model_validate(value)
            except ValidationError as exc:
                problems += [Problem(line_no, message, kind) for message in _format_validation(exc)]
    if isinstance(spec, EmailStep) and spec.file is not None:
        path = scenario.resolve(spec.file)
        if not path.is_file():
            problems.append(Problem(line_no, f"email file not found: {spec.file} (looked for {path})", kind))
    if problems or at is None or kind is None:
        return None, problems
    return Step(number=number, line=line_no, at=at, kind=kind, spec=spec), []


def parse_scenario_text(text: str, path: Path) -> Scenario:
    """Validate scenario text (`path` anchors relative file names and names the source in errors)."""
    scenario = Scenario(path=path)
    problems: list[Problem] = []
    previous: Step | None = None
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        step, line_problems = _parse_line(len(scenario.steps) + 1, line_no, line, scenario)
        problems += line_problems
        if step is None:
            continue
        if previous is not None and step.at < previous.at:
            problems.append(
                Problem(
                    line_no,
                    f"at {step.at.isoformat()} is earlier than the previous step's "
                    f"(line {previous.line}, {previous.at.isoformat()}); steps must be in time order",
                    step.kind,
                )
            )
        scenario.steps.append(step)
        previous = step
    if not scenario.steps and not problems:
        problems.append(Problem(1, "the scenario has no steps"))
    if problems:
        raise ScenarioError(str(path), problems)
    return scenario


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file; ScenarioError lists every problem with its line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(
            str(path), [Problem(0, f"cannot read the scenario: {exc.strerror or exc}")]
        ) from exc
    except UnicodeDecodeError as exc:
        raise ScenarioError(str(path), [Problem(0, f"the scenario is not UTF-8: {exc}")]) from exc
    return parse_scenario_text(text, path.resolve())


def refuse_unsupported(scenario: Scenario, supported: tuple[str, ...]) -> None:
    """Raise ScenarioError naming every step whose kind the simulator cannot run yet."""
    problems = [
        Problem(
            step.line,
            f'step kind "{step.kind}" is not supported yet: the simulator runs only '
            f"{', '.join(supported)} steps for now (nothing was run)",
            step.kind,
        )
        for step in scenario.steps
        if step.kind not in supported
    ]
    if problems:
        raise ScenarioError(str(scenario.path), problems)
