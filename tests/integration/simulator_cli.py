"""Running `helpdesk simulate` from the tests: the CLI in-process, what it printed and the state it wrote."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from simulator.cli import main


@dataclass
class Run:
    """One run: exit code, standard output and error, and the state file (empty when none was written)."""

    code: int
    out: str
    err: str
    state: dict[str, Any]

    def by_number(self, number: int) -> dict[str, Any]:
        found: dict[str, Any] = next(t for t in self.state["tickets"] if t["number"] == number)
        return found


R = TypeVar("R", bound=Run)


def run_cli(kind: type[R], *args: str | Path, out_file: Path) -> R:
    """`helpdesk simulate ARGS --out OUT_FILE`, read back as `kind` (a Run with a file's own helpers)."""
    out, err = io.StringIO(), io.StringIO()
    code = main(["simulate", *map(str, args), "--out", str(out_file)], out=out, err=err)
    state = json.loads(out_file.read_text(encoding="utf-8")) if out_file.exists() else {}
    return kind(code, out.getvalue(), err.getvalue(), state)


def write(path: Path, *steps: dict[str, Any] | str) -> Path:
    """A scenario file: one JSON object a line (a string is written as it is, to test bad lines)."""
    path.write_text(
        "\n".join(s if isinstance(s, str) else json.dumps(s) for s in steps) + "\n", encoding="utf-8"
    )
    return path
