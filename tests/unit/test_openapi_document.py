"""The committed OpenAPI document (docs/openapi.json) is the one the agent API's code makes."""

from __future__ import annotations

import difflib

from scripts.openapi import DOCUMENT, generated


def test_committed_openapi_document_matches_the_code() -> None:
    # Given the document the handler generates from its routes and models
    expected = generated()
    # When it is compared with the committed copy the UI team reads
    committed = DOCUMENT.read_text(encoding="utf-8") if DOCUMENT.exists() else ""
    # Then they are the same; if not, the diff says what changed and how to fix it
    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            expected.splitlines(keepends=True),
            "docs/openapi.json (committed)",
            "docs/openapi.json (generated)",
            n=2,
        )
    )
    assert not diff, (
        "docs/openapi.json differs from what functions/agent_api/app.py generates: run `make openapi` "
        "(or `PYTHONPATH=. .venv/bin/python scripts/openapi.py`) and commit the result.\n" + diff[:4000]
    )
