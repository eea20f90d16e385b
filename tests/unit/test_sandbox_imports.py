"""What a workflow module imports through ``imports_passed_through`` is really shared.

Temporal's sandbox runs a workflow's own module afresh for every new run, and each
module it imports afresh too, unless the import is passed through. A ``from package
import submodule`` is not: the sandbox already holds a fresh ``package`` (the workflow
module's own parent), and Python loads the submodule from there, inside the sandbox,
without asking the sandbox's importer. Each new deal then ran every helper module of
the deal again (about 8 ms of the worker's CPU per deal, half the sandbox's cost). A
submodule is imported by its full name instead (``import workflows.deal.placement as
placement``), which the importer sees and passes through.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

from workers.worker import WORKFLOWS

ROOT = Path(__file__).resolve().parents[2]


def _workflow_modules() -> list[Path]:
    names = sorted({workflow.__module__ for workflow in WORKFLOWS})
    return [ROOT / (name.replace(".", "/") + ".py") for name in names]


def _passed_through_imports(tree: ast.Module) -> list[ast.ImportFrom]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.With) and any(
            "imports_passed_through" in ast.unparse(item.context_expr) for item in node.items
        ):
            found += [n for n in ast.walk(node) if isinstance(n, ast.ImportFrom)]
    return found


def _is_submodule(package: str, name: str) -> bool:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.submodule_search_locations is None:
        return False  # a module, not a package: ``name`` is one of its names
    return importlib.util.find_spec(f"{package}.{name}") is not None


@pytest.mark.parametrize("path", _workflow_modules(), ids=lambda p: p.stem + ":" + p.parent.name)
def test_a_workflow_module_passes_no_submodule_through_its_package(path: Path) -> None:
    tree = ast.parse(path.read_text())
    loaded_in_the_sandbox = [
        f"from {node.module} import {alias.name} (line {node.lineno})"
        for node in _passed_through_imports(tree)
        for alias in node.names
        if node.module and _is_submodule(node.module, alias.name)
    ]
    assert loaded_in_the_sandbox == []


def test_every_workflow_module_is_checked() -> None:
    assert len(_workflow_modules()) == 6
