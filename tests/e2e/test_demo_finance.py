"""``syncline demo --finance`` on the NetSuite sandbox stack: finance approves, ships,
bills, pays (in full, in part, two invoices at once), credits, refunds and voids, and the
report's bookings, billings and collections equal what the ERP then holds, read here
from the ERP's own transactions rather than from the demo's books."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pytest

from tests.e2e.conftest import Stack
from tests.e2e.test_cli import _syncline
from tests.e2e.test_reports import _report
from workers.demo_books import Action

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("clean_faults")]

# What each transaction type adds to (+1) or takes from (-1) each metric.
_SIGNS = {
    "bookings": {"SalesOrd": 1},
    "billings": {"CustInvc": 1, "CustCred": -1},
    "collections": {"CustPymt": 1, "CustRfnd": -1},
}


def _rows(output: str) -> dict[str, list[str]]:
    """The printed tables' rows: first cell -> the other cells."""
    rows = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if len(cells) >= 2:
            rows[cells[0]] = cells[1:]
    return rows


async def _last_transaction(stack: Stack) -> int:
    rows = await stack.erp.erp.suiteql("SELECT id FROM transaction")
    return max((int(row["id"]) for row in rows), default=0)


async def _erp_amounts(stack: Stack, after: int) -> tuple[set[str], dict[str, Decimal]]:
    """The customers of the orders made after transaction ``after``, and per metric the
    amount their transactions since then add up to (a voided invoice's total is zero)."""
    rows = await stack.erp.erp.suiteql(
        f"SELECT id, type, entity, status, foreigntotal FROM transaction WHERE id > {after}"
    )
    customers = {str(r["entity"]) for r in rows if r["type"] == "SalesOrd"}
    amounts: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        cancelled = row["type"] == "SalesOrd" and row["status"] == "C"
        if str(row["entity"]) not in customers or cancelled:
            continue
        for metric, signs in _SIGNS.items():
            if row["type"] in signs:  # item fulfillments carry no amount
                amounts[metric] += signs[row["type"]] * Decimal(str(row["foreigntotal"]))
    return customers, dict(amounts)


@pytest.mark.erp("netsuite")  # the finance step acts through the NetSuite sandbox's routes
async def test_the_demo_finance_step_and_the_report_agree_with_the_erp(stack: Stack) -> None:
    before = await _last_transaction(stack)
    code, output = await _syncline(
        stack,
        "demo",
        *("--deals", "8", "--concurrency", "4", "--approval-share", "0.25", "--finance"),
    )
    assert code == 0, output
    rows = _rows(output)
    # 8 deals: one customer with two (paid together), six invoices dealt one action each.
    assert {action.value: rows[action.value] for action in Action} == {
        action.value: ["1"] for action in Action
    }, output
    assert rows["invoices (one per order)"] == ["8"], output
    for metric in ("bookings v2", "billings v2", "collections v2"):
        assert rows[metric][-1] == "agrees", output

    customers, erp = await _erp_amounts(stack, before)
    assert len(customers) == 7, (customers, output)
    assert erp["billings"] < erp["bookings"] and erp["collections"] > 0, erp
    for metric, amount in erp.items():
        report = await _report(stack, metric)
        reported = sum(
            (Decimal(row["amount"]) for row in report["rows"] if row["customer"] in customers),
            Decimal(0),
        )
        assert reported == amount, (metric, report, output)
