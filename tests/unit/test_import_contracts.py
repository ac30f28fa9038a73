"""The import contracts in pyproject.toml (`lint-imports`, run by `make test`) catch what they promise.

Each test copies the packages into a temporary directory, adds one forbidden import there and
runs `lint-imports` on the copy: the named contract must break and say which import broke it.
The repository itself is never edited.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("functions", "shared", "simulator")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def lint(project: Path, *contracts: str) -> tuple[int, str]:
    """Run lint-imports in `project` on the given contract ids (all when none), without its cache."""
    selected = [arg for contract in contracts for arg in ("--contract", contract)]
    done = subprocess.run(  # noqa: S603 - our own venv's tool, fixed arguments
        [str(LINT_IMPORTS), "--no-cache", *selected],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def add_import(project: Path, module_path: str, statement: str) -> None:
    target = project / module_path
    target.write_text(target.read_text(encoding="utf-8") + f"\n{statement}\n", encoding="utf-8")


def test_the_packages_keep_every_contract(project: Path) -> None:
    # Given the packages as they are / When every contract is checked
    code, output = lint(project)
    # Then all of them hold
    assert code == 0, output
    assert "8 kept, 0 broken" in output


@pytest.mark.parametrize(
    ("module_path", "statement", "contract", "route", "report"),
    [
        (
            "shared/models/ticket.py",
            "import shared.logic.calendar",
            "shared-layers",
            "shared.models.ticket -> shared.logic.calendar",
            "shared.models is not allowed to import shared.logic",
        ),
        (
            "shared/logic/templates.py",
            "import shared.config",
            "shared-layers",
            "shared.logic.templates -> shared.config",
            "shared.logic is not allowed to import shared.config",
        ),
        (
            "shared/errors.py",
            "import shared.models.ticket",
            "shared-layers",
            "shared.errors -> shared.models.ticket",
            "shared.errors is not allowed to import shared.models",
        ),
        (
            "shared/logic/routing.py",
            "import functions.route_ticket.app",
            "entry-points",
            "shared.logic.routing -> functions.route_ticket.app",
            "shared is not allowed to import functions",
        ),
        (
            "functions/inbound_email/app.py",
            "import simulator.runner",
            "entry-points",
            "functions.inbound_email.app -> simulator.runner",
            "functions is not allowed to import simulator",
        ),
        (
            "shared/dal/items.py",
            "import shared.channels.sms",
            "independent-adapters",
            "shared.dal.items -> shared.channels.sms",
            "shared.dal is not allowed to import shared.channels",
        ),
        (
            "shared/channels/sms.py",
            "import shared.dal.repository",
            "independent-adapters",
            "shared.channels.sms -> shared.dal.repository",
            "shared.channels is not allowed to import shared.dal",
        ),
        (
            "shared/dal/tickets.py",
            "import shared.dal.agents",
            "dal-aggregates",
            "shared.dal.tickets -> shared.dal.agents",
            "shared.dal.tickets is not allowed to import shared.dal.agents",
        ),
        (
            "shared/dal/agents.py",
            "import shared.dal.outbox",
            "dal-aggregates",
            "shared.dal.agents -> shared.dal.outbox",
            "shared.dal.agents is not allowed to import shared.dal.outbox",
        ),
        (
            "functions/inbound_sms/app.py",
            "import functions.inbound_email.app",
            "independent-handlers",
            "functions.inbound_sms.app -> functions.inbound_email.app",
            "functions.inbound_sms is not allowed to import functions.inbound_email",
        ),
        (
            "shared/logic/sla_service.py",
            "import shared.logic.outbound_send",
            "no-circles",
            ".sla_service -> .outbound_send",
            "No cycles are allowed in shared.logic",
        ),
        (
            "shared/logic/routing.py",
            "import boto3",
            "aws-sdk-in-adapters",
            "shared.logic.routing -> boto3",
            "shared.logic is not allowed to import boto3",
        ),
        (
            "shared/channels/sms.py",
            "import pynamodb.models",
            "pynamodb-in-dal",
            "shared.channels.sms -> pynamodb",
            "shared.channels is not allowed to import pynamodb",
        ),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    project: Path, module_path: str, statement: str, contract: str, route: str, report: str
) -> None:
    # Given one import that goes against the contract
    add_import(project, module_path, statement)
    # When the contract is checked
    code, output = lint(project, contract)
    # Then it breaks and names the import
    assert code == 1, output
    assert "0 kept, 1 broken" in output
    assert report in output
    assert route in output


def test_a_new_shared_module_must_be_placed_in_a_layer(project: Path) -> None:
    # Given a module in shared that no layer lists
    (project / "shared" / "reports.py").write_text('"""Reports."""\n', encoding="utf-8")
    # When the layers are checked
    code, output = lint(project, "shared-layers")
    # Then the contract breaks until the module is given a layer
    assert code == 1, output
    assert "The following modules are not listed as layers" in output
    assert "shared.reports" in output
