"""Write the agent API's OpenAPI 3.1 document, as the handler makes it, to docs/openapi.json.

The document is generated from functions/agent_api/app.py (its typed routes and pydantic models);
docs/openapi.json is the committed copy the UI team reads, and tests/unit/test_openapi_document.py
fails when the two differ. Run `make openapi` after changing a route or a model.

Usage: PYTHONPATH=. python scripts/openapi.py [--out docs/openapi.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"


def render(document: dict[str, Any]) -> str:
    """The document as committed: two-space indented, UTF-8, a newline at the end."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def generated() -> str:
    from functions.agent_api.app import openapi_document

    return render(openapi_document())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=DOCUMENT)
    args = parser.parse_args()
    args.out.write_text(generated(), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
