"""Callers reach workflows through their published contracts, never by a string.

Two halves: each workflow declares exactly the signals and queries its contract
publishes, under the contract's names; and nowhere else in the code base is a workflow
type, signal or query named, or a workflow id built, with a literal.
"""

from __future__ import annotations

import ast
from pathlib import Path
from types import ModuleType

import pytest
from temporalio import workflow

from reconciliation import contract as reconcile_contract
from reconciliation.workflow import Reconcile
from workers.worker import WORKFLOWS
from workflows.contract import Query, Signal
from workflows.deal import contract as deal_contract
from workflows.deal.workflow import CloseWonToOrder
from workflows.feed import contract as feed_contract
from workflows.feed.workflow import ErpChangeFeed
from workflows.mirror import contract as mirror_contract
from workflows.mirror.workflow import ErpMirror
from workflows.renewal import contract as renewal_contract
from workflows.renewal.workflow import Renewal
from workflows.stream import contract as stream_contract
from workflows.stream.workflow import CrmChangeStream

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS: dict[type, ModuleType] = {
    CloseWonToOrder: deal_contract,
    ErpChangeFeed: feed_contract,
    ErpMirror: mirror_contract,
    Renewal: renewal_contract,
    Reconcile: reconcile_contract,
    CrmChangeStream: stream_contract,
}
CONTRACT_FILES = {Path(m.__file__ or "").resolve() for m in CONTRACTS.values()} | {
    ROOT / "workflows" / "contract.py"
}
# Client calls whose first argument names a workflow type, signal or query.
NAMING_CALLS = {
    "start_workflow",
    "execute_workflow",
    "signal",
    "query",
    "ScheduleActionStartWorkflow",
}
NAMING_KEYWORDS = {"start_signal", "workflow"}
ID_PREFIXES = (
    deal_contract.ID_PREFIX,
    feed_contract.ID_PREFIX,
    mirror_contract.ID_PREFIX,
    renewal_contract.ID_PREFIX,
    reconcile_contract.ON_DEMAND_PREFIX,
    stream_contract.ID_PREFIX,
)


def _published(module: ModuleType, kind: type[Signal[object]] | type[Query[object]]) -> set[str]:
    return {value.name for value in vars(module).values() if isinstance(value, kind)}


@pytest.mark.parametrize("workflow_class", WORKFLOWS, ids=lambda c: c.__name__)
def test_each_workflow_declares_what_its_contract_publishes(workflow_class: type) -> None:
    contract = CONTRACTS[workflow_class]
    definition = workflow._Definition.must_from_class(workflow_class)
    assert definition.name == contract.WORKFLOW_TYPE
    assert set(definition.signals) == _published(contract, Signal)
    assert set(definition.queries) == _published(contract, Query)


def _python_files() -> list[Path]:
    skip = {".venv", ".git", "node_modules"}
    return [
        path
        for path in ROOT.rglob("*.py")
        if not skip.intersection(path.relative_to(ROOT).parts)
        and path.resolve() not in CONTRACT_FILES
        and path.resolve() != Path(__file__).resolve()
    ]


def _literal_prefix(node: ast.expr) -> str | None:
    """The text a string literal or f-string starts with, if it is one."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values:
        first = node.values[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value
    return None


def _offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        where = f"{path.relative_to(ROOT)}:{node.lineno}"
        first = _literal_prefix(node.args[0]) if node.args else None
        # ``crm.query("SELECT …")`` is SOQL, not a workflow query: names have no spaces.
        if name in NAMING_CALLS and first is not None and " " not in first:
            found.append(f"{where}: {name}({first!r})")
        for keyword in node.keywords:
            text = _literal_prefix(keyword.value)
            if text is None:
                continue
            if keyword.arg in NAMING_KEYWORDS:
                found.append(f"{where}: {keyword.arg}={text!r}")
            if keyword.arg == "id" and text.startswith(ID_PREFIXES):
                found.append(f"{where}: id={text!r}... built outside its contract")
    return found


def test_no_caller_names_a_workflow_by_a_string() -> None:
    offences = [offence for path in _python_files() for offence in _offences(path)]
    assert offences == [], "use the workflow's contract module:\n" + "\n".join(offences)


def test_the_check_finds_what_it_is_for() -> None:
    """The scan itself can fail: each kind of offence is caught."""
    sample = ROOT / "tests" / "unit" / "_contract_offence_sample.py"
    sample.write_text(
        "async def f(client, handle):\n"
        "    await client.start_workflow('CloseWonToOrder', None, id=f'close-won:x')\n"
        "    await handle.signal('retry', None)\n"
        "    await client.start_workflow(x, start_signal='changed')\n"
    )
    try:
        offences = _offences(sample)
    finally:
        sample.unlink()
    assert len(offences) == 4, offences
