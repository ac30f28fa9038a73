"""Corpus test plumbing: print the pass rates the summary tests computed at the end of the run."""

from __future__ import annotations

import pytest

from .helpers import RATES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RATES:
        return
    terminalreporter.section("email corpus pass rates")
    for line in RATES:
        terminalreporter.write_line(line)
