"""Write the OpenAPI 3.1 documents of the agent-facing APIs, as their handlers make them, to docs/.

docs/openapi.json is the agent API's (functions/agent_api/app.py), docs/openapi-reports.json the
reports route's (functions/reports/app.py, on the same HTTP API and authorizer). They are the
committed copies the UI team reads; tests/unit/test_openapi_document.py fails when one differs from
its code. Run `make openapi` after changing a route or a model.

Usage: PYTHONPATH=. python scripts/openapi.py [--docs docs]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent.parent / "docs"
DOCUMENT = DOCS / "openapi.json"
REPORTS_DOCUMENT = DOCS / "openapi-reports.json"


def render(document: dict[str, Any]) -> str:
    """The document as committed: two-space indented, UTF-8, a newline at the end."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def generated() -> str:
    from functions.agent_api.app import openapi_document

    return render(openapi_document())


def generated_reports() -> str:
    from functions.reports.app import openapi_document

    return render(openapi_document())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=Path, default=DOCS)
    args = parser.parse_args()
    for name, text in ((DOCUMENT.name, generated()), (REPORTS_DOCUMENT.name, generated_reports())):
        (args.docs / name).write_text(text, encoding="utf-8")
        print(f"wrote {args.docs / name}")


if __name__ == "__main__":
    main()
