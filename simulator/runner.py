"""One simulation: the template deployed on moto, the scenario's steps delivered in time order.

Before anything runs, the scenario is checked for steps the simulator cannot handle yet, the
helpdesk config is validated and the template's schedules, stream mappings and receipt rules are
read; any problem stops the run there. Then, for each step, the clock moves to its `at` (firing
the scheduled functions due on the way), the step's input is delivered as AWS would deliver it,
and DynamoDB stream records are pumped to their consumers after every invocation.
"""

from __future__ import annotations

import hashlib
import json
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

import boto3
from aws_lambda_powertools.utilities import parameters
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.ses.models import RawMessage, ses_backends

from shared.clock import iso as clock_iso
from shared.config import load_config
from shared.dal.items import reset_connections
from shared.dal.repository import DynamoRepository, get_repository
from shared.logic.digest import Digest, render_digest
from shared.logic.permissions import Principal, Role
from shared.logic.reports import ReportRequest, build_report
from shared.models.config import HelpdeskConfig
from shared.models.reports import GroupBy, Report
from shared.models.ticket import TicketEvent
from shared.settings import reset_settings
from simulator.activity import Activity
from simulator.clock import ScheduledTrigger, SimClock, Timetable
from simulator.cognito import LocalUserPool
from simulator.events import scheduled_event, scheduler_input
from simulator.http_api import (
    NOT_FOUND,
    UNAUTHORIZED,
    Caller,
    HttpApis,
    Request,
    Response,
    Route,
    http_api_event,
    read_response,
    request_id,
    summarize_body,
)
from simulator.lambda_runtime import (
    LOG_SINK,
    AsyncOutcome,
    LambdaRuntime,
    SimulationError,
    UnsupportedError,
    simulated_account,
)
from simulator.live import LIVE_FUNCTION, LiveAgents, ws_event
from simulator.moto_speed import faster_moto
from simulator.progress import Progress, StepOutcome
from simulator.queues import QueuePump, queue_consumers
from simulator.report import breaching_tickets, digest_of_period, simulated_period
from simulator.resources import Deployment, deploy
from simulator.scenario import (
    AgentStep,
    ApiStep,
    EmailStep,
    NoteStep,
    ReplyStep,
    Scenario,
    ScenarioError,
    SmsStep,
    Step,
    UpdateStep,
    WebhookStep,
    refuse_unsupported,
)
from simulator.secret_values import apply_secrets
from simulator.ses import SesReceiver
from simulator.sms import SmsReceiver
from simulator.sns import Delivery, SnsTopics
from simulator.state import agents_state, build_state, read_agent_items
from simulator.streams import StreamPump
from simulator.template import ACCOUNT_ID, REGION, STACK_NAME

SUPPORTED_STEPS = ("email", "sms", "webhook", "agent", "reply", "note", "update", "api", "tick")
AGENT_UI = "helpdesk-agent-ui (simulated)"
"""The User-Agent of agent-side requests."""
DRIVEN_TRIGGERS = {"SNS", "DynamoDB", "Schedule", "ScheduleV2", "HttpApi", "SQS"}
DEFAULT_TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"


@dataclass
class Options:
    template: Path = DEFAULT_TEMPLATE
    config: Path | None = None
    """The helpdesk config the functions get through HELPDESK_CONFIG (the bundled default when None)."""
    parameters: dict[str, str] = field(default_factory=dict)
    until: datetime | None = None
    """Run until this time: later steps are not run, schedules fire up to it."""
    schedule_every: timedelta | None = None
    """Scheduled functions fire at most this often (None: at their template rates)."""
    logs: TextIO | None = None
    """Where the functions' own output (Powertools logs, metrics) goes; discarded when None."""
    secrets: dict[str, Any] = field(default_factory=dict)
    """Values for the template's secrets by logical id (--secrets), over the defaults of secret_values."""


def reset_application_caches() -> None:
    """Forget what the application cached in this process (a new simulation is a new account)."""
    load_config.cache_clear()
    reset_settings()
    get_repository.cache_clear()
    reset_connections()
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    for name in [m for m in sys.modules if m.startswith("_sim_")]:
        del sys.modules[name]  # handler modules: fresh module-level caches, like a cold start


def validate_config(path: Path | None) -> HelpdeskConfig:
    """Load the helpdesk config once so a bad file stops the run before it starts (ConfigError)."""

    load_config.cache_clear()
    config = load_config(str(path) if path else None)
    load_config.cache_clear()
    return config


def _ui_request(method: str, path: str, body: dict[str, Any], **headers: str) -> Request:
    """A request as the agent UI sends it: JSON body, its User-Agent, and any `headers`."""
    return Request(
        method,
        path,
        headers={"Content-Type": "application/json", "User-Agent": AGENT_UI, **headers},
        body=json.dumps(body),
    )


def _ticket_path(ref: int | str, *rest: str) -> str:
    """`/tickets/{REF}[/...]`, the REF URL-encoded as the UI sends it."""
    return "/".join([f"/tickets/{quote(str(ref), safe='')}", *rest])


def agent_request(spec: AgentStep) -> Request:
    """`PUT /agents/{id}/presence`: the agent sets their own presence."""
    return _ui_request("PUT", f"/agents/{quote(spec.id, safe='')}/presence", spec.body())


def update_request(spec: UpdateStep) -> Request:
    """`PATCH /tickets/{REF}` with the step's changes only."""
    return _ui_request("PATCH", _ticket_path(spec.ticket), spec.changes())


def idempotency_key(scenario: Path, line: int) -> str:
    """The `Idempotency-Key` of a reply step: a UUID derived from the scenario's name and the step's
    line, so a run sends what an earlier run of the same scenario sent, under the same keys."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"helpdesk-simulator:{scenario.name}:{line}"))


def reply_request(spec: ReplyStep, key: str) -> Request:
    """`POST /tickets/{REF}/replies` with the text (and the channel only when the step gives one), with
    an `Idempotency-Key` as the agent UI sends it so a retried request is sent once."""
    return _ui_request("POST", _ticket_path(spec.ticket, "replies"), spec.body(), **{"Idempotency-Key": key})


def note_request(spec: NoteStep) -> Request:
    """`POST /tickets/{REF}/notes` with the text."""
    return _ui_request("POST", _ticket_path(spec.ticket, "notes"), spec.body())


def sent_mime() -> Callable[[str], str | None]:
    """The raw MIME of each message sent through SES (moto records raw sends), by the provider id the
    outbox records for it: `<SES message id@email.amazonses.com>`."""
    host = "email.amazonses.com" if REGION == "us-east-1" else f"{REGION}.amazonses.com"
    messages = ses_backends[ACCOUNT_ID][REGION].sent_messages
    sent: dict[str, str] = {f"<{m.id}@{host}>": m.raw_data for m in messages if isinstance(m, RawMessage)}
    return sent.get


def _ticket_words(ref: int | str) -> str:
    return f"#{ref}" if isinstance(ref, int) else ref


def _preview(text: str, width: int = 40) -> str:
    words = " ".join(text.split())
    return f'"{words}"' if len(words) <= width else f'"{words[: width - 1]}…"'


def _change_words(spec: UpdateStep) -> str:
    words = []
    for name, value in spec.changes().items():
        if name == "tags_add":
            words += [f"+{tag}" for tag in value]
        elif name == "tags_remove":
            words += [f"-{tag}" for tag in value]
        elif name == "assignee" and value == "":
            words.append("unassign")
        else:
            words.append(f"{name} {value}")
    return ", ".join(words)


def _message(body: str) -> str:
    """The `detail` of an API problem (the `message` of API Gateway's own errors), else the body
    in a few words."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    for key in ("detail", "message"):
        if isinstance(data, dict) and isinstance(data.get(key), str):
            return str(data[key])
    return summarize_body(body)


def _sum_results(outcome: AsyncOutcome) -> list[str]:
    """A function's results ({"results": [{outcome, ticket_number, reason}]}) in words.

    The email and SMS functions answer that way; an SMS consent keyword is `consent:<action>`.
    """
    if not outcome.ok:
        error = outcome.last.error
        return [f"failed after {len(outcome.attempts)} attempts: {type(error).__name__}: {error}"]
    response = outcome.last.response
    results = response.get("results") if isinstance(response, dict) else None
    if not isinstance(results, list):
        return ["ok"]
    words = []
    for result in results:
        text = str(result.get("outcome", "ok")).replace(":", " ", 1)
        if result.get("ticket_number") is not None:
            text += f" #{result['ticket_number']}"
        if result.get("reason"):
            text += f" ({result['reason']})"
        words.append(text)
    return words or ["ok"]


def delivery_results(delivery: Delivery) -> list[dict[str, Any]]:
    """How one function took one delivery: each result it answered (`outcome`, `ticket_number`,
    `reason`), or `failed` with its error once Lambda's retries were spent."""
    if not delivery.outcome.ok:
        error = delivery.outcome.last.error
        reason = f"{type(error).__name__}: {error}"
        return [{"function": delivery.function, "outcome": "failed", "ticket_number": None, "reason": reason}]
    response = delivery.outcome.last.response
    results = response.get("results") if isinstance(response, dict) else None
    if not isinstance(results, list):
        return [{"function": delivery.function, "outcome": "ok", "ticket_number": None, "reason": None}]
    return [
        {
            "function": delivery.function,
            "outcome": str(result.get("outcome", "ok")),
            "ticket_number": result.get("ticket_number"),
            "reason": result.get("reason"),
        }
        for result in results
        if isinstance(result, dict)
    ]


def webhook_outcome(response: Response) -> tuple[str, str | None]:
    """A webhook's end, as its response says: `failed` (a 5xx, with the function's error), `refused`
    (another status outside 2xx, with the body), `quarantined` when a 2xx body says so, else `stored`
    (the body says what was stored or ignored)."""
    if response.error is not None:
        return "failed", f"{type(response.error).__name__}: {response.error}"
    if response.status >= 500:
        return "failed", response.body or str(response.status)
    if not 200 <= response.status < 300:
        return "refused", response.body or str(response.status)
    try:
        body = json.loads(response.body)
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("quarantined"):
        return "quarantined", str(body["quarantined"])
    return "stored", response.body or None


def input_outcome(results: list[dict[str, Any]]) -> tuple[str, str | None]:
    """An input's end, from what the functions answered to its first delivery: `failed` (with the
    error), `quarantined` (with the reason), else `stored` (created, threaded, duplicate, consent)."""
    for wanted in ("failed", "quarantined"):
        found = [r for r in results if r["outcome"] == wanted]
        if found:
            return wanted, found[0]["reason"] or wanted
    if not results:
        return "refused", "no function subscribes to the topic it is published to"
    return "stored", next((r["reason"] for r in results if r["reason"]), None)


class Simulation:
    """Runs one scenario against one template; `run()` returns the final state."""

    def __init__(self, scenario: Scenario, options: Options, progress: Progress) -> None:
        self.scenario = scenario
        self.options = options
        self.progress = progress
        self.ses_rejections: list[dict[str, Any]] = []
        self.not_run: list[dict[str, Any]] = []
        self.fired: list[dict[str, Any]] = []
        self.webhook_responses: list[dict[str, Any]] = []
        self.api_responses: list[dict[str, Any]] = []
        self.inputs: list[dict[str, Any]] = []
        """How each email, sms and webhook step's input ended (see `_input`)."""
        self._stream_invocations = 0
        self.config: HelpdeskConfig | None = None
        self.digest: Digest | None = None
        """The digest of the simulated period, for all teams (made with the state)."""

    def run(self) -> dict[str, Any]:
        refuse_unsupported(self.scenario, SUPPORTED_STEPS)
        steps = self.scenario.steps
        start = steps[0].at
        if self.options.until is not None and self.options.until < start:
            raise UnsupportedError(
                f"--until {self.options.until.isoformat()} is before the first step ({start.isoformat()})"
            )
        with simulated_account():
            self.config = validate_config(self.options.config)
            with mock_aws(), faster_moto():
                reset_application_caches()
                clock = SimClock(start)
                clock.install()
                LOG_SINK.target = self.options.logs
                try:
                    return self._run(clock, steps)
                finally:
                    clock.uninstall()
                    LOG_SINK.target = None

    def _run(self, clock: SimClock, steps: list[Step]) -> dict[str, Any]:
        deployment = deploy(self.options.template, self.options.parameters)
        self.deployment = deployment
        secrets = apply_secrets(deployment.stack, self.options.secrets)
        extra_env = {"HELPDESK_CONFIG": str(self.options.config.resolve())} if self.options.config else {}
        self.live = self._live_agents(deployment)
        if self.live is not None:
            extra_env["TOKEN_KEYS_URL"] = self.live.pool.keys_url
        self.runtime = LambdaRuntime(deployment.functions, clock.now, extra_env)
        self.pump = StreamPump(deployment.functions, self.runtime, clock.now)
        self.queues = QueuePump(queue_consumers(deployment), self.runtime)
        self.runtime.after_attempt = self._pump
        self.topics = SnsTopics(self.runtime, clock.now)
        self.ses = SesReceiver(self.runtime, clock.now, self.topics)
        self.sms = SmsReceiver(deployment.stack, self.topics)
        self.http = HttpApis(deployment)
        kinds = {step.kind for step in steps}
        if "sms" in kinds:
            self.sms.check()
        problems = []
        if "webhook" in kinds:
            requests = [
                (s.line, s.spec.method, s.spec.path) for s in steps if isinstance(s.spec, WebhookStep)
            ]
            problems += self.http.check(requests)
        if "api" in kinds:
            calls = [(s.line, s.spec.method, s.spec.path) for s in steps if isinstance(s.spec, ApiStep)]
            problems += self.http.check(calls, "api")
        for kind in ("agent", "reply", "note", "update"):
            if kind in kinds:
                made = [(s.line, self._agent_side_request(s)) for s in steps if s.kind == kind]
                problems += self.http.check(
                    [(line, r.method, r.path) for line, r in made], kind, need_route=True
                )
        if problems:
            raise ScenarioError(str(self.scenario.path), sorted(problems, key=lambda p: p.line))
        self.timetable = Timetable(deployment.functions, clock.now(), self.options.schedule_every)
        self.clock = clock
        self.activity = Activity(self.pump)
        self.progress.start(
            str(self.scenario.path),
            steps,
            str(self.options.template),
            {name: [t.type for t in spec.triggers] for name, spec in deployment.functions.items()},
        )
        ignored = sorted(
            {
                f"{name}.{t.name} ({t.type})"
                for name, spec in deployment.functions.items()
                for t in spec.triggers
                if t.type not in DRIVEN_TRIGGERS
            }
        )
        if ignored:
            self.progress.note(f"triggers no step drives yet: {', '.join(ignored)}")
        for name, origin in secrets.items():
            self.progress.note(f"secret {name}: {origin}")
        until = self.options.until
        for step in steps:
            if until is not None and step.at > until:
                self.not_run.append(
                    {"step": step.number, "line": step.line, "kind": step.kind, "at": step.at}
                )
                continue
            self._stream_invocations = 0
            scheduled = self._advance(step.at)
            self.runtime.step = (step.number, step.line)
            outcome = self._run_step(step)
            outcome.scheduled = scheduled
            outcome.stream_invocations = self._stream_invocations
            outcome.details += [f"routing: {line}" for line in self.activity.since_last()]
            if self.live is not None:
                self._pump()  # what the step's changes pushed (live_push reads its queue)
                self.live.collect(step.line, self.clock.now().isoformat())
            self.progress.step(step, outcome)
        self.runtime.step = None
        if until is not None:
            scheduled = self._advance(until)
            self.progress.note(f"clock moved to --until {until.isoformat()} ({scheduled} scheduled runs)")
            for line in self.activity.since_last():
                self.progress.note(f"routing: {line}")
        if self.not_run:
            self.progress.note(f"{len(self.not_run)} step(s) after --until were not run")
        return self._state(deployment)

    # -- time --------------------------------------------------------------------------------
    def _pump(self) -> None:
        """Stream records to their consumers, then queue messages to theirs, until both are idle
        (a queue consumer's writes may reach the stream again)."""
        while True:
            streamed = self.pump.pump()
            self._stream_invocations += streamed
            if not self.queues.pump() and not streamed:
                return

    def _live_agents(self, deployment: Deployment) -> LiveAgents | None:
        """The user pool agents' UIs sign in with, when the template has the live workspace."""
        spec = deployment.functions.get(LIVE_FUNCTION)
        if spec is None or "TOKEN_ISSUER" not in spec.environment:
            return None
        return LiveAgents(LocalUserPool(spec.environment["TOKEN_ISSUER"], spec.environment["TOKEN_AUDIENCE"]))

    def _connect(self, agent: str, supervisor: bool, online: bool) -> None:
        """The agent's UI opens its live connection on going online, closes it on going offline."""
        if self.live is None:
            return
        spec = self.deployment.functions[LIVE_FUNCTION]
        at_ms = int(self.clock.now().timestamp() * 1000)
        if online and agent not in self.live.connected:
            groups = ["supervisors"] if supervisor else []
            token = self.live.pool.id_token(agent, groups, self.clock.now())
            result = self.runtime.invoke(
                spec, ws_event("$connect", agent, at_ms, token), source="WebSocket $connect"
            )
            if result.ok and (result.response or {}).get("statusCode") == 200:
                self.live.connected.add(agent)
        elif not online and agent in self.live.connected:
            self.runtime.invoke(spec, ws_event("$disconnect", agent, at_ms), source="WebSocket $disconnect")
            self.live.connected.discard(agent)

    def _advance(self, target: datetime) -> int:
        """Move the clock to `target`, firing the schedules due on the way; returns how many fired."""
        count = 0
        saved_step = self.runtime.step
        self.runtime.step = None
        for moment, entry in self.timetable.due(target):
            self.clock.set(moment)
            self._fire(moment, entry)
            count += 1
        self.clock.set(target)
        self.runtime.step = saved_step
        return count

    def _fire(self, moment: datetime, entry: ScheduledTrigger) -> None:
        props = entry.trigger.properties
        default_name = f"{STACK_NAME}-{entry.function.logical_id}{entry.trigger.name}".lower()
        name = str(props.get("Name") or default_name)
        if entry.kind == "Schedule":
            rule_arn = f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{name}"
            text = props.get("Input")
            event: Any = json.loads(text) if isinstance(text, str) else scheduled_event(rule_arn, moment)
        else:
            group = str(props.get("GroupName") or "default")
            arn = f"arn:aws:scheduler:{REGION}:{ACCOUNT_ID}:schedule/{group}/{name}"
            text = props.get("Input")
            event = scheduler_input(text if isinstance(text, str) else None, arn, moment)
        outcome = self.runtime.invoke_async(
            entry.function, event, source=f"{entry.kind} {entry.trigger.name}"
        )
        self.fired.append(
            {
                "at": moment,
                "function": entry.function.logical_id,
                "trigger": entry.trigger.name,
                "ok": outcome.ok,
                "attempts": len(outcome.attempts),
            }
        )

    # -- steps -------------------------------------------------------------------------------
    def _input(
        self,
        step: Step,
        outcome: str,
        reason: str | None,
        deliveries: list[list[dict[str, Any]]] | None = None,
        **ids: Any,
    ) -> None:
        """Record how an inbound input ended: `stored`, `quarantined`, `refused` or `failed`, why, the
        ids it travelled under and, per delivery, what each function answered."""
        self.inputs.append(
            {
                "step": step.line,
                "kind": step.kind,
                "at": step.at,
                "outcome": outcome,
                "reason": reason,
                **ids,
                "deliveries": deliveries or [],
            }
        )

    def _run_step(self, step: Step) -> StepOutcome:
        if step.kind == "email":
            return self._email(step, step.spec)
        if step.kind == "sms":
            return self._sms(step, step.spec)
        if step.kind == "webhook":
            return self._webhook(step, step.spec)
        if step.kind == "agent":
            return self._agent(step, step.spec)
        if step.kind == "update":
            return self._update(step, step.spec)
        if step.kind == "reply":
            return self._reply(step, step.spec)
        if step.kind == "note":
            return self._note(step, step.spec)
        if step.kind == "api":
            return self._api(step, step.spec)
        if step.kind == "tick":
            return StepOutcome(summary="clock moved")
        raise SimulationError(f"line {step.line}: step kind {step.kind!r} is not supported yet")

    def _email(self, step: Step, spec: EmailStep) -> StepOutcome:
        if spec.file is not None:
            raw = self.scenario.resolve(spec.file).read_bytes()
            label = spec.file
        else:
            message = spec.message()
            assert message is not None
            raw = message
            label = "raw MIME"
        recipients = list(spec.recipients) if spec.recipients else self.ses.default_recipients(raw)
        receipt = self.ses.receive(
            raw, recipients, spec.ses_verdicts(), seed=f"{self.scenario.path.name}:{step.line}"
        )
        if receipt.rejected:
            self.ses_rejections.append(
                {
                    "step": step.number,
                    "line": step.line,
                    "at": step.at,
                    "recipients": recipients,
                    "reason": receipt.rejected,
                }
            )
            self._input(step, "refused", receipt.rejected, ses_message_id=receipt.ses_message_id)
            return StepOutcome(summary=f"{label}: rejected by SES: {receipt.rejected}", failed=True)
        parts: list[str] = []
        failed = False
        answered: list[list[dict[str, Any]]] = []
        for delivery in range(1, spec.deliveries + 1):
            deliveries = self.ses.notify(receipt, delivery)
            answered.append([result for item in deliveries for result in delivery_results(item)])
            for item in deliveries:
                words = "; ".join(_sum_results(item.outcome))
                failed = failed or not item.outcome.ok
                prefix = f"delivery {delivery}: " if spec.deliveries > 1 else ""
                parts.append(prefix + words)
        if not receipt.notifications:
            parts.append(f"stored as {', '.join(receipt.stored) or 'nothing'} (no notification)")
            ended: tuple[str, str | None] = ("stored", parts[-1])
        else:
            ended = input_outcome(answered[0])
            if not parts:
                parts.append("no function subscribes to the notification topic")
        self._input(step, *ended, answered, ses_message_id=receipt.ses_message_id, stored=receipt.stored)
        summary = f"{label} -> {parts[0]}"
        return StepOutcome(summary=summary, details=parts[1:], failed=failed)

    def _sms(self, step: Step, spec: SmsStep) -> StepOutcome:
        fields = spec.model_dump(exclude_unset=True, exclude={"deliveries"})
        preview = " ".join(spec.messageBody.split())
        preview = preview if len(preview) <= 40 else preview[:39] + "…"
        label = f'{spec.originationNumber} "{preview}"'
        deliveries = self.sms.receive(
            fields, seed=f"{self.scenario.path.name}:{step.line}", deliveries=spec.deliveries
        )
        answered = [[r for item in d.deliveries for r in delivery_results(item)] for d in deliveries]
        self._input(step, *input_outcome(answered[0]), answered, inbound_message_id=spec.inboundMessageId)
        parts: list[str] = []
        failed = False
        for delivery in deliveries:
            prefix = f"delivery {delivery.number}: " if spec.deliveries > 1 else ""
            for item in delivery.deliveries:
                failed = failed or not item.outcome.ok
                parts.append(prefix + "; ".join(_sum_results(item.outcome)))
        if not parts:
            parts.append("no function subscribes to the two-way SMS topic")
        return StepOutcome(summary=f"{label} -> {parts[0]}", details=parts[1:], failed=failed)

    def _webhook(self, step: Step, spec: WebhookStep) -> StepOutcome:
        request = Request(spec.method, spec.path, dict(spec.query), dict(spec.headers), spec.payload())
        response = self._request(step, request)
        self.webhook_responses.append(
            {
                "step": step.line,
                "status": response.status,
                "body": response.body,
                "at": step.at,
                "method": request.method,
                "path": request.path,
                "route": response.route.key if response.route else None,
                "function": response.route.function.logical_id if response.route else None,
                "headers": response.headers,
                "error": f"{type(response.error).__name__}: {response.error}" if response.error else None,
            }
        )
        self._input(step, *webhook_outcome(response), body_sha256=hashlib.sha256(request.payload).hexdigest())
        label = f"{request.method} {request.path}"
        if response.route is None:
            return StepOutcome(summary=f"{label} -> {response.status} no route matches ({response.body})")
        if response.error is not None:
            error = f"{type(response.error).__name__}: {response.error}"
            return StepOutcome(
                summary=f"{label} -> {response.status} (the function failed: {error})", failed=True
            )
        words = summarize_body(response.body)
        return StepOutcome(
            summary=f"{label} -> {response.status}" + (f" {words}" if words else ""),
            failed=response.status >= 500,
        )

    def _agent(self, step: Step, spec: AgentStep) -> StepOutcome:
        caller = Caller(spec.id, spec.supervisor)
        label = f"{spec.id} {spec.status}" + (" (supervisor)" if spec.supervisor else "")
        online = spec.status != "offline"
        if online:  # the UI connects first, then says the agent is there (nothing is missed)
            self._connect(spec.id, spec.supervisor, online)
        outcome = self._api_call(step, agent_request(spec), caller, label, {"agent": spec.id})
        if not online:
            self._connect(spec.id, spec.supervisor, online)
        return outcome

    def _update(self, step: Step, spec: UpdateStep) -> StepOutcome:
        caller = Caller(spec.agent, spec.supervisor)
        ticket = f"#{spec.ticket}" if isinstance(spec.ticket, int) else spec.ticket
        by = f"by {spec.agent}" + (" (supervisor)" if spec.supervisor else "")
        label = f"{ticket} {_change_words(spec)} {by}"
        return self._api_call(
            step, update_request(spec), caller, label, {"agent": spec.agent, "ticket": spec.ticket}
        )

    def _agent_side_request(self, step: Step) -> Request:
        """The agent API request an agent, reply, note or update step makes."""
        if isinstance(step.spec, AgentStep):
            return agent_request(step.spec)
        if isinstance(step.spec, UpdateStep):
            return update_request(step.spec)
        if isinstance(step.spec, ReplyStep):
            return reply_request(step.spec, idempotency_key(self.scenario.path, step.line))
        if isinstance(step.spec, NoteStep):
            return note_request(step.spec)
        raise SimulationError(f"line {step.line}: a {step.kind} step makes no agent API request")

    def _reply(self, step: Step, spec: ReplyStep) -> StepOutcome:
        key = idempotency_key(self.scenario.path, step.line)
        on = f" on {spec.channel.value}" if spec.channel is not None else ""
        label = f"{_ticket_words(spec.ticket)} reply by {spec.agent}{on} {_preview(spec.text)}"
        extras: dict[str, Any] = {"agent": spec.agent, "ticket": spec.ticket, "idempotency_key": key}
        if spec.channel is not None:
            extras["channel"] = spec.channel.value
        outcome = self._api_call(step, reply_request(spec, key), Caller(spec.agent), label, extras)
        if not outcome.failed:
            outcome.summary += self._delivery_words(self.api_responses[-1]["body"])
        return outcome

    def _note(self, step: Step, spec: NoteStep) -> StepOutcome:
        label = f"{_ticket_words(spec.ticket)} note by {spec.agent} {_preview(spec.text)}"
        extras = {"agent": spec.agent, "ticket": spec.ticket}
        return self._api_call(step, note_request(spec), Caller(spec.agent), label, extras)

    def _api(self, step: Step, spec: ApiStep) -> StepOutcome:
        """Any agent API request, as the step gives it, from an agent, a token's claims, or nobody."""
        headers = dict(spec.headers)
        if spec.body is not None and not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"
        request = Request(spec.method, spec.path, dict(spec.query), headers, spec.payload())
        claims = spec.token_claims()
        caller: Caller | None = None
        if spec.agent is not None:
            caller = Caller(spec.agent, spec.supervisor)
        elif claims is not None:
            caller = Caller.with_claims(claims)
        who = (
            f"as {spec.agent}" + (" (supervisor)" if spec.supervisor else "")
            if spec.agent is not None
            else "with the given claims"
            if claims is not None
            else "without a token"
        )
        extras: dict[str, Any] = {
            "agent": caller.agent if caller is not None else None,
            "claims": caller.claims() if caller is not None else None,
            "query": dict(spec.query),
            "request_headers": dict(spec.headers),
        }
        label = f"{spec.method} {spec.path} {who}"
        return self._api_call(step, request, caller, label, extras)

    def _delivery_words(self, body: str) -> str:
        """What became of a queued reply once the streams were pumped (auto_followup sends it):
        `, sent by email to a@b.example`, `, failed (x to 42): <why>`; empty when it cannot be told."""
        try:
            key = json.loads(body).get("key")
        except (ValueError, AttributeError):
            return ""
        table = self._table_name(self.deployment)
        if not isinstance(key, str) or table is None:
            return ""
        message = DynamoRepository(table, REGION).get_outbound(key)
        if message is None:
            return ""
        if message.status == "sent":
            return f", sent by {message.channel} to {message.to}"
        reason = f": {message.error}" if message.error else ""
        return f", {message.status} ({message.channel} to {message.to}){reason}"

    def _api_call(
        self, step: Step, request: Request, caller: Caller | None, label: str, extras: dict[str, Any]
    ) -> StepOutcome:
        """An agent-side request to the agent API, recorded in `api_responses`."""
        response = self._request(step, request, caller)
        error = f"{type(response.error).__name__}: {response.error}" if response.error is not None else None
        self.api_responses.append(
            {
                "step": step.line,
                "status": response.status,
                "body": response.body,
                "at": step.at,
                "kind": step.kind,
                **extras,
                "supervisor": caller is not None and caller.supervisor,
                "method": request.method,
                "path": request.path,
                "route": response.route.key if response.route else None,
                "function": response.route.function.logical_id if response.route else None,
                "headers": response.headers,
                "error": error,
            }
        )
        if error is not None:
            return StepOutcome(
                summary=f"{label} -> {response.status} (the function failed: {error})", failed=True
            )
        if 200 <= response.status < 300:
            return StepOutcome(summary=f"{label} -> {response.status}")
        return StepOutcome(
            summary=f"{label} -> {response.status} refused: {_message(response.body)}", failed=True
        )

    def _request(self, step: Step, request: Request, caller: Caller | None = None) -> Response:
        """One HTTP request through API Gateway: route, authorizer, v2 event, synchronous invocation.

        On a route behind a JWT authorizer, a request with a caller carries its token and the event
        its claims; one without a caller is answered 401, as API Gateway answers a missing or
        invalid token (the simulator cannot verify a token a webhook step brings).
        """
        found = self.http.route(request.method, request.path)
        if found is None:
            status, body = NOT_FOUND
            return Response(status, body, {"content-type": "application/json"}, None)
        route, parameters = found
        authorizer = route.authorizer
        if authorizer is not None and caller is None:
            status, body = UNAUTHORIZED
            return Response(status, body, {"content-type": "application/json"}, route)
        if caller is not None:
            header = authorizer.header if authorizer is not None else "Authorization"
            request.headers[header] = f"Bearer {caller.token()}"
        event = http_api_event(
            request,
            route_key=route.key,
            api_id=route.api_id,
            at=step.at,
            request_id=request_id(f"{self.scenario.path.name}:{step.line}"),
            path_parameters=parameters,
            claims=caller.claims() if caller is not None and authorizer is not None else None,
        )
        invocation = self.runtime.invoke(route.function, event, source=f"HttpApi {route.trigger}")
        self._pump()
        status, body, headers = read_response(invocation)
        return Response(status, body, headers, route, invocation)

    # -- state -------------------------------------------------------------------------------
    @staticmethod
    def _table_name(deployment: Deployment) -> str | None:
        """The table holding the tickets: the one the functions' TABLE_NAME names, or else the
        template's only table; None when neither tells."""
        table = next(
            (
                f.environment["TABLE_NAME"]
                for f in deployment.functions.values()
                if "TABLE_NAME" in f.environment
            ),
            None,
        )
        if table is None:
            tables = list(deployment.stack.of_type("AWS::DynamoDB::Table"))
            table = deployment.name(tables[0]) if len(tables) == 1 else None
        return table

    def _state(self, deployment: Deployment) -> dict[str, Any]:
        table = self._table_name(deployment)
        if table is None:
            raise SimulationError("cannot tell which table holds the tickets (no function sets TABLE_NAME)")
        repository = DynamoRepository(table, REGION)
        buckets = list(
            dict.fromkeys(
                [
                    f.environment["INBOUND_BUCKET"]
                    for f in deployment.functions.values()
                    if "INBOUND_BUCKET" in f.environment
                ]
                + [deployment.name(b) for b in deployment.stack.of_type("AWS::S3::Bucket")]
            )
        )
        s3 = boto3.client("s3", region_name=REGION)

        def read_body(key: str) -> bytes | None:
            for bucket in buckets:
                try:
                    body: Any = s3.get_object(Bucket=bucket, Key=key)["Body"]
                    data: bytes = body.read()
                    return data
                except ClientError:
                    continue
            return None

        dead_letters = [d.as_state() for d in self.runtime.dead_letters]
        dead_letters += [
            {
                "function": d.consumer,
                "source": "DynamoDB stream",
                "condition": "RetryAttemptsExhausted",
                "attempts": d.attempts,
                "error_type": d.error_type,
                "error_message": d.error_message,
                "destination": d.destination,
                "records": [r["dynamodb"]["SequenceNumber"] for r in d.records],
            }
            for d in self.pump.discarded
        ]
        assert self.config is not None
        extras: dict[str, Any] = {
            "api_responses": self.api_responses,
            "inputs": self.inputs,
            "agents": agents_state(self.config, read_agent_items(table, REGION)),
            "dead_letters": dead_letters,
            "ses_rejections": self.ses_rejections,
            "scheduled_runs": self.fired,
            "pushes": self.live.pushes if self.live is not None else {},
            "simulation": {
                "scenario": str(self.scenario.path),
                "template": str(self.options.template),
                "config": str(self.options.config) if self.options.config else None,
                "started_at": self.scenario.steps[0].at,
                "ended_at": self.clock.now(),
                "steps": len(self.scenario.steps),
                "steps_not_run": self.not_run,
                "schedule_every_seconds": (
                    self.options.schedule_every.total_seconds() if self.options.schedule_every else None
                ),
                "invocations": self._invocations(),
                "stream_consumers": {
                    c.label: {"batches": c.batches, "delivered": c.delivered, "filtered_out": c.dropped}
                    for c in self.pump.consumers
                },
            },
        }
        self.activity.since_last()  # records of the last pump: events written then are ranked too

        def event_rank(ticket_id: str, event: TicketEvent) -> int:
            return self.activity.rank(ticket_id, clock_iso(event.at), event.type, event.data)

        first, last = simulated_period(
            self.scenario.steps[0].at, self.clock.now(), self.config.reports.timezone
        )
        state = build_state(
            repository,
            read_body,
            webhook_responses=self.webhook_responses,
            extras=extras,
            event_rank=event_rank,
            message_rank=self.activity.message_rank,
            sent_mime=sent_mime(),
            report=json.loads(self._report(repository, first, last, "day")),
        )
        self._make_digest(repository, state, first, last)
        state["simulation"]["invocations"] = self._invocations()  # with the reports function's
        return state

    def _invocations(self) -> dict[str, dict[str, int]]:
        return {
            name: {"invocations": s.invocations, "errors": s.errors} for name, s in self.runtime.stats.items()
        }

    # -- the report --------------------------------------------------------------------------
    def _report(self, repository: DynamoRepository, first: date, last: date, group_by: GroupBy) -> str:
        """`GET /reports?from&to&group_by` as an admin sees it, the JSON text the endpoint answers:
        through the agent API (the reports function) when the template has the route and the config
        an agent to sign in as; else the handler's own `build_report` over the table, for an admin."""
        assert self.config is not None
        found = self.http.route("GET", "/reports")
        if found is not None and self.config.agents and not found[0].refusals:
            return self._report_through_api(*found, self.config.agents[0].id, first, last, group_by)
        admin = Principal(
            self.config.agents[0].id if self.config.agents else "admin", Role.ADMIN, frozenset()
        )
        report = build_report(
            ReportRequest(first, last, group_by=group_by),
            admin,
            repository,
            self.config.reports.timezone,
            repository.report_freshness(),
            self.clock.now(),
            self.config.reports.next_issue_days,
        )
        return report.model_dump_json(by_alias=True)

    def _report_through_api(
        self, route: Route, parameters: dict[str, str], agent: str, first: date, last: date, group_by: GroupBy
    ) -> str:
        """`GET /reports` through API Gateway to the reports function, with the ID token of `agent`
        in the admin group (the claim and group names the function's environment gives)."""
        env = route.function.environment
        claims = {
            "sub": agent,
            env.get("AGENT_ID_CLAIM", "custom:agent_id"): agent,
            "token_use": "id",
            "cognito:groups": f"[{env.get('ADMIN_GROUP', 'admins')}]",
        }
        query = {"from": first.isoformat(), "to": last.isoformat(), "group_by": group_by}
        request = Request("GET", "/reports", query, {"User-Agent": AGENT_UI})
        header = route.authorizer.header if route.authorizer is not None else "Authorization"
        request.headers[header] = f"Bearer {Caller.with_claims(claims).token()}"
        event = http_api_event(
            request,
            route_key=route.key,
            api_id=route.api_id,
            at=self.clock.now(),
            request_id=request_id(f"{self.scenario.path.name}:report:{first}:{last}:{group_by}"),
            path_parameters=parameters,
            claims=claims if route.authorizer is not None else None,
        )
        invocation = self.runtime.invoke(route.function, event, source=f"HttpApi {route.trigger}")
        status, body, _ = read_response(invocation)
        if status != 200:
            raise SimulationError(
                f"GET /reports for {first}..{last} answered {status}: {summarize_body(body)}"
            )
        return body

    def _make_digest(
        self, repository: DynamoRepository, state: dict[str, Any], first: date, last: date
    ) -> None:
        """The digest for all teams a scheduled run would make after the period (weekly when it holds
        a full ISO week, else daily), with the tickets breaching most from the state."""
        assert self.config is not None
        run = digest_of_period(self.config, first, last)
        current_request, previous_request = run.requests()
        current, previous = (
            Report.model_validate_json(self._report(repository, r.first, r.last, r.group_by))
            for r in (current_request, previous_request)
        )
        self.digest = render_digest(run, current, previous, breaching_tickets(state, self.clock.now()))
        state["digest"] = {
            "team": run.team,
            "kind": run.kind,
            "from": run.period.first.isoformat(),
            "to": run.period.last.isoformat(),
            "subject": self.digest.subject,
        }

    def function_stats(self) -> dict[str, tuple[int, int, float]]:
        return {name: (s.invocations, s.errors, s.total_ms) for name, s in self.runtime.stats.items()}
