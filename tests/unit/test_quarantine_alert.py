"""Every quarantined input reaches a person: it is counted, and the template alarms on the count."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from shared.logic.quarantine import QUARANTINED_METRIC, quarantine_input
from shared.models.ticket import Channel
from shared.observability import metrics
from simulator.template import load_template
from tests.fakes.repository import MemoryRepository

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _counted() -> float:
    """What the pending metrics say about quarantined input, cleared afterwards."""
    try:
        emitted = metrics.serialize_metric_set()
    except Exception:  # nothing pending: Powertools refuses to serialise an empty set
        return 0
    finally:
        metrics.clear_metrics()
    values = emitted.get(QUARANTINED_METRIC, [])
    return float(sum(values)) if isinstance(values, list) else float(str(values))


def test_a_new_quarantine_entry_is_counted_once_and_a_repeat_is_not() -> None:
    # Given a repository and no pending metrics
    repository = MemoryRepository()
    metrics.clear_metrics()

    # When the same input is quarantined twice (a redelivery)
    kept = [
        quarantine_input(
            repository,
            channel=Channel.SMS,
            reason="unparseable",
            ref="sns-1",
            at=NOW,
            raw="{}",
            dedupe_key="sns-1",
        )
        for _ in range(2)
    ]

    # Then it is kept and counted once
    assert kept == [True, False]
    assert _counted() == 1


def test_the_quarantine_alarm_watches_the_metric_the_code_emits_and_tells_the_alarm_topic() -> None:
    resources = load_template(ROOT / "template.yaml")["Resources"]
    alarm = resources["QuarantineAlarm"]["Properties"]
    globals_env = load_template(ROOT / "template.yaml")["Globals"]["Function"]["Environment"]["Variables"]
    assert alarm["MetricName"] == QUARANTINED_METRIC
    assert alarm["Namespace"] == globals_env["POWERTOOLS_METRICS_NAMESPACE"]
    assert alarm["Dimensions"] == [{"Name": "service", "Value": globals_env["POWERTOOLS_SERVICE_NAME"]}]
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "Sum",
        0,
        "GreaterThanThreshold",
    )
    assert json.dumps(alarm["AlarmActions"]) == json.dumps([{"Ref": "AlarmTopic"}])
