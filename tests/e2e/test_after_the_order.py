"""After the order, through the real stack, with the CRM and ERP changed the way their
own users change them: a renewal opens, a lost deal is undone in the ERP, and a CRM
edit of the ERP's legal data is caught as a conflict and put right."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import pytest

from tests.e2e.conftest import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("clean_faults")]

T = TypeVar("T")


async def _eventually(
    read: Callable[[], Awaitable[T]], ok: Callable[[T], bool], timeout: float = 30.0
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = await read()
        if ok(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"never true: {value}")
        await asyncio.sleep(0.2)


@pytest.mark.erp("netsuite")  # Tryton here keeps no subscriptions (no renewals)
async def test_a_renewal_opens_when_finance_brings_the_term_end_near(stack: Stack) -> None:
    opportunity_id = await stack.open_deal(["SL-PLATFORM-ANNUAL"], name="Renewing")
    await stack.close_won(opportunity_id)
    await stack.wait_for_status(opportunity_id, "order_accepted")
    [order] = await stack.erp_orders_for(opportunity_id)
    end = date.today() + timedelta(days=30)  # inside the 90-day lead: due at once
    assert await stack.erp.end_subscription_on(order.id, end), "the order made no subscription"

    renewals = await _eventually(
        lambda: stack.crm.query(
            "SELECT Id, Name, CloseDate, Amount, StageName, AccountId FROM Opportunity "
            f"WHERE Syncline_Renewal_Of__c = '{opportunity_id}'"
        ),
        lambda rows: len(rows) == 1,
    )
    renewal = renewals[0]
    original = await stack.crm.get("Opportunity", opportunity_id)
    assert renewal["CloseDate"] == end.isoformat()
    assert renewal["AccountId"] == original["AccountId"]
    assert Decimal(str(renewal["Amount"])) == order.total
    # The ledger's fact follows the CRM write (a local activity in the next workflow
    # task), so the opportunity can be seen before the timeline shows it.
    deal = await _eventually(
        lambda: stack.deal(opportunity_id),
        lambda deal: "renewal.opened" in [e["kind"] for e in deal["timeline"]],
    )
    assert [e["kind"] for e in deal["timeline"]].count("renewal.opened") == 1


async def test_a_deal_lost_before_invoicing_is_undone_in_the_erp(stack: Stack) -> None:
    opportunity_id = await stack.open_deal(["SL-SEAT-PRO"], name="Lost later")
    await stack.close_won(opportunity_id)
    await stack.wait_for_status(opportunity_id, "order_accepted")
    [order] = await stack.erp_orders_for(opportunity_id)

    # A sales user reopens and loses it; the CRM's Flow tells Syncline.
    await stack.crm.update("Opportunity", opportunity_id, {"StageName": "Closed Lost"})
    if stack.erp.kind == "tryton":
        # A confirmed Tryton sale is processing at once (its invoice drafted): Tryton
        # will not cancel it, so a person decides, told why in plain words.
        parked = await stack.wait_for_status(opportunity_id, "needs_attention")
        assert "processing" in parked["detail"]
        assert await stack.erp.order_status(order.id) == "processing"
        return
    deal = await stack.wait_for_status(opportunity_id, "cancelled")
    assert await stack.erp.order_status(order.id) == "Cancelled"
    kinds = [entry["kind"] for entry in deal["timeline"]]
    assert kinds.count("order.cancelled") == 1
    opportunity = await stack.crm.get("Opportunity", opportunity_id)
    assert opportunity["Syncline_Order_Status__c"] == "Cancelled"


async def test_a_crm_edit_of_the_legal_address_is_a_conflict_that_retry_puts_right(
    stack: Stack,
) -> None:
    opportunity_id = await stack.open_deal(["SL-SEAT-VIEWER"], name="Mirrored")
    await stack.close_won(opportunity_id)
    deal = await stack.wait_for_status(opportunity_id, "order_accepted")
    account_id = (await stack.crm.get("Opportunity", opportunity_id))["AccountId"]
    # The change feed mirrors the legal customer the order created onto the account.
    mirrored = await _eventually(
        lambda: stack.crm.get("Account", account_id),
        lambda a: a["Syncline_Customer_Id__c"] == deal["erp_customer_id"],
    )
    erp_city = mirrored["BillingCity"]

    await stack.crm.update("Account", account_id, {"BillingCity": "Somewhere Else"})
    conflicts = await _eventually(
        lambda: _open_exceptions(stack, "customer_mirror"),
        lambda rows: any(r["reason"] == "ownership_conflict" for r in rows),
    )
    [conflict] = [r for r in conflicts if r["reason"] == "ownership_conflict"]
    assert "Somewhere Else" in conflict["message"]

    retried = await stack.api.post(f"/api/exceptions/{conflict['id']}/retry")
    assert retried.status_code == 202, retried.text
    await _eventually(
        lambda: stack.crm.get("Account", account_id), lambda a: a["BillingCity"] == erp_city
    )
    await _eventually(
        lambda: _open_exceptions(stack, "customer_mirror"),
        lambda rows: all(r["id"] != conflict["id"] for r in rows),
    )


async def _open_exceptions(stack: Stack, process: str) -> list[dict[str, Any]]:
    response = await stack.api.get("/api/exceptions", params={"process": process})
    response.raise_for_status()
    rows: list[dict[str, Any]] = response.json()
    return [r for r in rows if r["status"] != "resolved"]
