"""The committed OpenAPI documents (docs/openapi.json, docs/openapi-reports.json) are the ones the
agent API's and the reports function's code make."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path

import pytest

from scripts.openapi import DOCUMENT, REPORTS_DOCUMENT, generated, generated_reports


@pytest.mark.parametrize(
    ("document", "make", "code"),
    [
        (DOCUMENT, generated, "functions/agent_api/app.py"),
        (REPORTS_DOCUMENT, generated_reports, "functions/reports/app.py"),
    ],
)
def test_committed_openapi_document_matches_the_code(
    document: Path, make: Callable[[], str], code: str
) -> None:
    # Given the document the handler generates from its routes and models
    expected = make()
    # When it is compared with the committed copy the UI team reads
    committed = document.read_text(encoding="utf-8") if document.exists() else ""
    # Then they are the same; if not, the diff says what changed and how to fix it
    name = f"docs/{document.name}"
    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            expected.splitlines(keepends=True),
            f"{name} (committed)",
            f"{name} (generated)",
            n=2,
        )
    )
    assert not diff, (
        f"{name} differs from what {code} generates: run `make openapi` "
        "(or `PYTHONPATH=. .venv/bin/python scripts/openapi.py`) and commit the result.\n" + diff[:4000]
    )
