"""Functions a reader can hold: no function in `shared/` runs over 60 lines (issue 13).

A long use case becomes named steps (docs/decisions.md, 77). A function that is only a plain table
(a literal mapping, one entry a line) may be longer: name it in PLAIN_TABLES with why.
"""

from __future__ import annotations

import ast
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
MAX_LINES = 60
PLAIN_TABLES: dict[str, str] = {}
"""`path:function` of functions allowed past MAX_LINES, each with the reason."""


def long_functions(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                name = f"{path.relative_to(root.parent)}:{node.name}"
                if lines > MAX_LINES and name not in PLAIN_TABLES:
                    found.append(f"{name} ({lines} lines)")
    return found


def test_no_function_in_shared_runs_over_sixty_lines() -> None:
    assert long_functions(SHARED) == []


def test_the_check_names_a_function_of_sixty_one_lines_and_passes_one_of_sixty(tmp_path: Path) -> None:
    # Given a package with a function of 61 lines and one of 60
    package = tmp_path / "shared"
    package.mkdir()
    long_body = "\n".join(f"    x{i} = {i}" for i in range(60))
    short_body = "\n".join(f"    y{i} = {i}" for i in range(59))
    (package / "m.py").write_text(f"def long():\n{long_body}\n\n\ndef short():\n{short_body}\n")
    # When the check runs on it / Then only the long one is named, with its length
    assert long_functions(package) == ["shared/m.py:long (61 lines)"]
