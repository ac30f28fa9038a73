"""What the simulator prints: a line per step while it runs, and a summary table at the end."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

from shared.models.reports import Report
from simulator.report import headline_figures
from simulator.scenario import Step

MAX_TICKET_ROWS = 60


@dataclass
class StepOutcome:
    """How a step went, in a few words for the progress line."""

    summary: str
    details: list[str] = field(default_factory=list)
    scheduled: int = 0
    """Scheduled invocations fired while the clock moved to this step."""
    stream_invocations: int = 0
    failed: bool = False


def _clip(text: str | None, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _statuses(responses: list[dict[str, Any]]) -> str:
    """`12  (200: 10, 401: 1, 404: 1)`: HTTP responses by status code."""
    counted = Counter(int(r["status"]) for r in responses)
    by_status = ", ".join(f"{status}: {n}" for status, n in sorted(counted.items()))
    return f"{len(responses)}  ({by_status})" if responses else "0"


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


class Progress:
    """Writes progress to `out` (stdout); `quiet` keeps only the summary."""

    def __init__(self, out: TextIO, quiet: bool = False) -> None:
        self.out = out
        self.quiet = quiet
        self.total = 0

    def _print(self, text: str = "") -> None:
        # Inputs may hold lone surrogates, which no terminal encoding can write: show their escapes.
        self.out.write(text.encode("utf-8", "backslashreplace").decode("utf-8") + "\n")
        self.out.flush()

    def start(self, scenario: str, steps: list[Step], template: str, functions: dict[str, list[str]]) -> None:
        self.total = len(steps)
        if self.quiet:
            return
        first, last = steps[0].at, steps[-1].at
        self._print(f"Simulating {scenario}: {len(steps)} steps, {_when(first)} to {_when(last)}")
        described = ", ".join(
            f"{name} ({', '.join(kinds) or 'no triggers'})" for name, kinds in functions.items()
        )
        self._print(f"Template {template}: {described or 'no functions'}")

    def note(self, text: str) -> None:
        if not self.quiet:
            self._print(f"  {text}")

    def step(self, step: Step, outcome: StepOutcome) -> None:
        if self.quiet:
            return
        width = len(str(self.total))
        extras = []
        if outcome.scheduled:
            extras.append(f"{outcome.scheduled} scheduled run{'s' if outcome.scheduled != 1 else ''} before")
        if outcome.stream_invocations:
            extras.append(
                f"{outcome.stream_invocations} stream batch{'es' if outcome.stream_invocations != 1 else ''}"
            )
        tail = f"  [{'; '.join(extras)}]" if extras else ""
        mark = "!" if outcome.failed else " "
        self._print(
            f"{mark}[{step.number:>{width}}/{self.total}] {_when(step.at)}  line {step.line:<4} "
            f"{step.kind:<6} {outcome.summary}{tail}"
        )
        for detail in outcome.details:
            self._print(f"{' ' * (width * 2 + 5)}{detail}")

    def summary(
        self,
        state: dict[str, Any],
        stats: dict[str, tuple[int, int, float]],
        out_path: str | None,
        digest_path: str | None = None,
    ) -> None:
        """The tickets table, the totals and the report's headline figures; `stats` is function ->
        (invocations, errors, total ms)."""
        totals = state["counts"]
        tickets = state["tickets"]
        self._print()
        self._print("Tickets")
        header = (
            f"  {'#':>4}  {'channel':<9} {'status':<8} {'priority':<8} {'team':<10} {'assignee':<10} "
            f"{'msgs':>4}  {'flags':<16} subject (or first message)"
        )
        self._print(header)
        self._print("  " + "-" * (len(header) + 14))
        for ticket in tickets[:MAX_TICKET_ROWS]:
            flags = ",".join(ticket["flags"]) + (" linked" if ticket.get("linked_ticket_id") else "")
            flags += " grouped" if ticket.get("group_id") else ""
            subject = ticket["subject"]
            if not subject and ticket["messages"]:
                subject = f'"{ticket["messages"][0]["text"]}"'
            self._print(
                f"  {ticket['number']:>4}  {ticket['channel']:<9} {ticket['status']:<8} "
                f"{ticket['priority']:<8} {_clip(ticket.get('team') or '-', 10):<10} "
                f"{_clip(ticket.get('assignee') or '-', 10):<10} {len(ticket['messages']):>4}  "
                f"{_clip(flags.strip(), 16):<16} {_clip(subject, 50)}"
            )
        if len(tickets) > MAX_TICKET_ROWS:
            self._print(f"  … and {len(tickets) - MAX_TICKET_ROWS} more")
        self._agents(state.get("agents") or [])
        self._print()
        self._print("Summary")

        def counts(values: dict[str, int]) -> str:
            shown = [f"{key} {n}" for key, n in values.items() if n]
            return ", ".join(shown) or "-"

        t, m = totals["tickets"], totals["messages"]
        rows = [
            (
                "tickets",
                f"{t['total']}  ({counts(t['by_status'])}; {t['linked']} linked; "
                f"{t.get('assigned', 0)} assigned)",
            ),
            ("channels", counts(t["by_channel"])),
            (
                "messages",
                f"{m['total']}  ({counts(m['by_direction'])}; {m['automatic']} automatic, "
                f"{m['attachments']} attachments)",
            ),
            ("customers", str(totals["customers"])),
            ("quarantine", f"{totals['quarantine']['total']}  ({counts(totals['quarantine']['by_reason'])})"),
            ("outbound", f"{totals['outbound']['total']}"),
            ("webhooks", _statuses(state["webhook_responses"])),
            ("agent API", _statuses(state.get("api_responses") or [])),
            ("dead letters", str(totals["dead_letters"])),
        ]
        for name, (invocations, errors, total_ms) in stats.items():
            if not invocations:
                continue
            average = total_ms / invocations if invocations else 0.0
            rows.append((name, f"{invocations} invocations, {errors} errors, {average:.0f} ms average"))
        if out_path:
            rows.append(("state", out_path))
        if digest_path:
            rows.append(("digest", digest_path))
        width = max(len(name) for name, _ in rows)
        for name, value in rows:
            self._print(f"  {name:<{width}}  {value}")
        refused = [r for r in state.get("api_responses") or [] if not 200 <= int(r["status"]) < 300]
        if refused:
            self._print()
            self._print(f'  ! {len(refused)} agent API request(s) not done (see "api_responses"):')
            for response in refused:
                self._print(
                    f"    line {response['step']}: {response['method']} {response['path']} -> "
                    f"{response['status']} {_clip(response['body'], 70)}"
                )
        if totals["dead_letters"]:
            self._print()
            self._print(
                f'  ! {totals["dead_letters"]} event(s) failed and went to dead letters (see "dead_letters")'
            )
        self._headlines(state.get("report") or {})

    def _headlines(self, report: dict[str, Any]) -> None:
        """The headline figures of the simulated period's report (the digest's, all teams)."""
        if not report:
            return
        figures = headline_figures(Report.model_validate(report))
        self._print()
        self._print(f"Report {report['from']} to {report['to']} ({report['timezone']}, all teams)")
        width = max(len(h.label) for h in figures)
        for headline in figures:
            self._print(f"  {headline.label:<{width}}  {headline.value}")

    def _agents(self, agents: list[dict[str, Any]]) -> None:
        """Agents with their presence and load against capacity, per channel group."""
        if not agents:
            return
        self._print()
        self._print("Agents")
        header = f"  {'agent':<12} {'presence':<8}  {'email':>6} {'sms':>6} {'social':>6}  teams"
        self._print(header)
        self._print("  " + "-" * (len(header) + 10))
        for agent in agents:
            capacity = agent.get("capacity") or {}

            def load(group: str, agent: dict[str, Any] = agent, capacity: dict[str, Any] = capacity) -> str:
                held = agent["load"].get(group, 0)
                return f"{held}/{capacity[group]}" if group in capacity else str(held)

            self._print(
                f"  {_clip(agent['id'], 12):<12} {agent['presence']:<8}  {load('email'):>6} {load('sms'):>6} "
                f"{load('social'):>6}  {', '.join(agent.get('teams') or []) or '-'}"
            )
