"""The demo's finance step against the sandbox in process: what it bills and settles is
what the ERP then holds, its books say so, and the invoice's Void through the connector
keeps NetSuite's refusals. The stack-wide run (report included) is
``tests/e2e/test_demo_finance.py``."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI

from connectors.errors import RejectedError
from connectors.netsuite import NetSuiteClient
from workers.demo_books import DEALT, Action, Finance, deal_actions
from workers.demo_finance import BilledOrder, FinanceStep

from .helpers import netsuite_client

BASE = "http://netsuite.test"
# Eight orders of seven customers: the first customer has two.
CUSTOMERS = [f"ACC-{n}" for n in (0, 0, 1, 2, 3, 4, 5, 6)]


@pytest.fixture
async def erp(app: FastAPI) -> AsyncIterator[NetSuiteClient]:
    client = await netsuite_client(BASE, transport=httpx.ASGITransport(app=app))
    yield client
    await client.aclose()


@pytest.fixture
async def step(app: FastAPI, erp: NetSuiteClient) -> AsyncIterator[FinanceStep]:
    admin = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)
    opportunities = [f"OPP-{n}" for n in range(len(CUSTOMERS))]
    step = FinanceStep(admin, erp, frozenset(opportunities), bills=True)
    yield step
    await step.aclose()


async def _orders(erp: NetSuiteClient) -> None:
    """The demo's orders as Syncline would have placed them: one per opportunity."""
    items = {row["itemid"]: row["id"] for row in await erp.suiteql("SELECT id, itemid FROM item")}
    for n, account in enumerate(CUSTOMERS):
        customer = await erp.upsert_record("customer", account, {"companyName": account})
        line = {"item": {"id": items["SL-SEAT-PRO"]}, "quantity": 3 + n, "rate": Decimal("99.99")}
        await erp.create_record(
            "salesOrder",
            {"externalId": f"OPP-{n}", "entity": {"id": customer}, "item": {"items": [line]}},
        )


async def _sums(erp: NetSuiteClient) -> dict[str, Decimal]:
    rows = await erp.suiteql("SELECT type, foreigntotal FROM transaction")
    sums: dict[str, Decimal] = {}
    for row in rows:
        if row["foreigntotal"] is not None:
            sums[row["type"]] = sums.get(row["type"], Decimal(0)) + Decimal(
                str(row["foreigntotal"])
            )
    return sums


async def test_finance_bills_accepted_orders_once_and_its_books_are_the_erps(
    erp: NetSuiteClient, step: FinanceStep
) -> None:
    await _orders(erp)
    await step.act(accepted={"OPP-0"})
    assert [bill.opportunity_id for bill in step.billed.values()] == ["OPP-0"]
    everyone = {f"OPP-{n}" for n in range(len(CUSTOMERS))}
    await step.act(accepted=everyone)
    await step.act(accepted=everyone)  # nothing billed twice
    assert len(step.billed) == len(CUSTOMERS) == len(step.shipped)

    books = await Finance(erp).settle(list(step.billed.values()), random.Random(7))
    assert books.actions == {action: 1 for action in (*DEALT, Action.PAY_TOGETHER)}
    await step.act(accepted=everyone)  # a voided invoice reopens its order: not billed again
    assert len(step.billed) == len(CUSTOMERS)

    erp_sums = await _sums(erp)
    expected = books.expected()
    assert expected["bookings"] == {"USD": erp_sums["SalesOrd"]}
    assert expected["billings"] == {"USD": erp_sums["CustInvc"] - erp_sums["CustCred"]}
    assert expected["collections"] == {"USD": erp_sums["CustPymt"] - erp_sums["CustRfnd"]}
    assert books.voided["USD"] > 0 and books.refunded["USD"] > 0


def _bill(invoice: int, customer: str) -> BilledOrder:
    total = Decimal("100.00")
    return BilledOrder(f"OPP-{invoice}", str(invoice), str(invoice), customer, "USD", total, total)


def test_a_customers_two_invoices_are_paid_together_the_rest_dealt_in_a_seeded_order() -> None:
    bills = [
        _bill(1, "A"),
        _bill(2, "B"),
        _bill(3, "A"),
        *(_bill(n, f"C{n}") for n in range(4, 11)),
    ]
    plan = deal_actions(bills, random.Random(7))
    assert plan[0] == (Action.PAY_TOGETHER, [bills[0], bills[2]])
    singles = [action for action, _ in plan[1:]]
    assert sorted(singles) == sorted([*DEALT, Action.PAY_IN_FULL, Action.PAY_IN_PART])
    assert plan == deal_actions(bills, random.Random(7))
    assert plan != deal_actions(bills, random.Random(8))


async def test_the_connectors_void_is_the_invoices_void_button(
    erp: NetSuiteClient, step: FinanceStep
) -> None:
    await _orders(erp)
    await step.act(accepted={"OPP-1"})
    [bill] = step.billed.values()
    await erp.void_invoice(bill.invoice_id)
    invoice = await erp.get_record("invoice", bill.invoice_id)
    assert invoice["status"]["refName"] == "Voided" and Decimal(str(invoice["total"])) == 0
    with pytest.raises(RejectedError, match="already voided"):
        await erp.void_invoice(bill.invoice_id)
