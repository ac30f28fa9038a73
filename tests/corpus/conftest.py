"""Corpus test plumbing: print the pass rates the summary tests computed at the end of the run.

The rates travel as each test report's `user_properties`, so they reach the terminal summary both
in a plain run and under pytest-xdist, where the tests run in worker processes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .helpers import RATES

_PROPERTY = "corpus_rate"
_COLLECTED: list[str] = []


@pytest.fixture(autouse=True)
def _report_rates(request: pytest.FixtureRequest) -> Iterator[None]:
    """Attach the rates a test recorded to its report."""
    before = len(RATES)
    yield
    for line in RATES[before:]:
        request.node.user_properties.append((_PROPERTY, line))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "teardown":
        return
    _COLLECTED.extend(str(value) for name, value in report.user_properties if name == _PROPERTY)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _COLLECTED:
        return
    terminalreporter.section("email corpus pass rates")
    for line in _COLLECTED:
        terminalreporter.write_line(line)
