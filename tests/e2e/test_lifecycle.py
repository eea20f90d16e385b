"""After the order, through the real stack: invoices and payments made in the ERP by its
own users reach the deal and the opportunity; an order the ERP refuses parks."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import pytest

from tests.e2e.conftest import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("clean_faults")]


async def _billing_on_the_opportunity(
    stack: Stack, opportunity_id: str, status: str, timeout: float = 30.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        opportunity = await stack.crm.get("Opportunity", opportunity_id)
        if opportunity["Syncline_Billing_Status__c"] == status:
            return opportunity
        if time.monotonic() > deadline:
            raise AssertionError(f"the opportunity never showed {status}: {opportunity}")
        await asyncio.sleep(0.2)


async def test_an_invoice_and_two_payments_in_the_erp_make_the_deal_paid(stack: Stack) -> None:
    opportunity_id = await stack.open_deal(["SL-PLATFORM-ANNUAL", "SL-SEAT-PRO"])
    await stack.close_won(opportunity_id)
    deal = await stack.wait_for_status(opportunity_id, "order_accepted")
    [order] = await stack.erp_orders_for(opportunity_id)

    invoice_id = await stack.erp.post_invoice(order.id)  # an accountant, in the ERP
    await stack.wait_for_status(opportunity_id, "invoiced")
    opportunity = await _billing_on_the_opportunity(stack, opportunity_id, "invoiced")
    assert Decimal(str(opportunity["Syncline_Invoiced_Amount__c"])) == order.total

    await stack.erp.pay(invoice_id, Decimal("100.00"))
    opportunity = await _billing_on_the_opportunity(stack, opportunity_id, "partially_paid")
    assert Decimal(str(opportunity["Syncline_Balance__c"])) == order.total - 100

    await stack.erp.pay(invoice_id, order.total - 100)
    deal = await stack.wait_for_status(opportunity_id, "paid")
    opportunity = await _billing_on_the_opportunity(stack, opportunity_id, "paid")
    assert Decimal(str(opportunity["Syncline_Paid_Amount__c"])) == order.total

    # The invoice's snapshot made the deal paid; the payments are their own records,
    # which the feed reads right after the invoices: wait for both in the ledger.
    deadline = time.monotonic() + 30
    while True:
        payments = [e for e in deal["events"] if e["event_type"] == "payment.applied"]
        if sum(Decimal(e["payload"]["amount"]) for e in payments) == order.total:
            break
        assert time.monotonic() < deadline, f"payments in the ledger: {payments}"
        await asyncio.sleep(0.2)
        deal = await stack.wait_for_status(opportunity_id, "paid")
    assert len(payments) == 2 and all(e["payload"]["payment_date"] for e in payments)
    kinds = [e["event_type"] for e in deal["events"]]
    assert kinds.count("order.accepted") == 1 and kinds.count("invoice.posted") == 1
    assert deal["billing"]["status"] == "paid"

    feed = (await stack.api.get("/api/erp-feed")).json()
    assert feed["delivered"] >= 3 and feed["lag_seconds"] is not None
    assert feed["last_poll_at"] is not None


@pytest.mark.erp("tryton")  # the sandbox's refusals are covered by the workflow tests
async def test_an_order_the_erp_refuses_parks_with_its_reason_until_fixed(stack: Stack) -> None:
    accountant = stack.erp.accountant  # type: ignore[attr-defined]
    await accountant.set_product_salable("SL-TRAINING-DAY", False)
    try:
        opportunity_id = await stack.open_deal(["SL-TRAINING-DAY"])
        await stack.close_won(opportunity_id)
        parked = await stack.wait_for_status(opportunity_id, "needs_attention")
    finally:
        await accountant.set_product_salable("SL-TRAINING-DAY", True)
    [exception] = [e for e in parked["exceptions"] if e["status"] == "open"]
    assert exception["reason"] == "erp_rejected" and exception["step"] == "place_order"
    assert "Product" in parked["detail"]  # Tryton's own words
    assert await stack.erp_orders_for(opportunity_id) == []

    retried = await stack.api.post(f"/api/exceptions/{exception['id']}/retry")
    assert retried.status_code == 202, retried.text
    deal = await stack.wait_for_status(opportunity_id, "order_accepted")
    assert len(await stack.erp_orders_for(opportunity_id)) == 1
    assert deal["retries"] == 1
