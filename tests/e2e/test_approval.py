"""Through the real stack on the NetSuite sandbox: an order the ERP holds for approval
is no booking until a finance user approves it, and what the warehouse ships reaches
the opportunity and the deal's timeline."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.conftest import Stack
from tests.e2e.test_after_the_order import _eventually
from tests.e2e.test_cli import _syncline

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("clean_faults")]


@pytest.fixture
async def approval_on(stack: Stack) -> AsyncIterator[None]:
    await stack.erp_admin("POST", "/admin/approval", {"mode": "all"})
    try:
        yield
    finally:
        await stack.erp_admin("POST", "/admin/approval", {"mode": "off"})


def _kinds(deal: dict[str, object]) -> list[object]:
    timeline = deal["timeline"]
    assert isinstance(timeline, list)
    return [entry["kind"] for entry in timeline]


@pytest.mark.erp("netsuite")  # Tryton's sale flow has no approval state (README)
@pytest.mark.usefixtures("approval_on")
async def test_a_held_order_is_booked_once_finance_approves_then_ships(stack: Stack) -> None:
    opportunity_id = await stack.open_deal(["SL-SEAT-PRO"], name="Held for approval")
    await stack.close_won(opportunity_id)
    held = await stack.wait_for_status(opportunity_id, "pending_approval")
    [order] = await stack.erp_orders_for(opportunity_id)
    assert held["erp_order_id"] == order.id
    assert "order.accepted" not in _kinds(await stack.deal(opportunity_id))
    opportunity = await stack.crm.get("Opportunity", opportunity_id)
    assert opportunity["Syncline_Order_Status__c"] == "Pending Approval"

    await stack.erp_admin("POST", f"/admin/finance/salesOrder/{order.id}/approve")
    await stack.wait_for_status(opportunity_id, "order_accepted")
    await stack.erp_admin("POST", f"/admin/finance/salesOrder/{order.id}/fulfil")
    await _eventually(
        lambda: stack.crm.get("Opportunity", opportunity_id),
        lambda o: o.get("Syncline_Fulfilment_Status__c") == "Fulfilled",
    )
    kinds = _kinds(await stack.deal(opportunity_id))
    assert kinds.count("order.accepted") == 1
    assert kinds.count("order.fulfilled") == 1


@pytest.mark.erp("netsuite")
@pytest.mark.usefixtures("approval_on")
async def test_a_rejected_order_parks_the_deal_with_the_reason(stack: Stack) -> None:
    opportunity_id = await stack.open_deal(["SL-SEAT-PRO"], name="Rejected at approval")
    await stack.close_won(opportunity_id)
    await stack.wait_for_status(opportunity_id, "pending_approval")
    [order] = await stack.erp_orders_for(opportunity_id)
    await stack.erp_admin(
        "POST", f"/admin/finance/salesOrder/{order.id}/reject", {"reason": "credit hold"}
    )
    parked = await stack.wait_for_status(opportunity_id, "needs_attention")
    assert any("credit hold" in str(e) for e in parked["exceptions"]), parked
    assert "order.rejected" in _kinds(await stack.deal(opportunity_id))

    # Sales decides: lost. The deal ends; finance then withdraws the order for good
    # (reopened, cancelled), so the stack holds no order that is neither live nor booked.
    await stack.crm.update("Opportunity", opportunity_id, {"StageName": "Closed Lost"})
    await stack.wait_for_status(opportunity_id, "cancelled")
    await stack.erp_admin("POST", f"/admin/finance/salesOrder/{order.id}/reopen")
    await stack.erp.erp.cancel_sales_order(order.id)
    assert await stack.erp_orders_for(opportunity_id) == []
    kinds = _kinds(await stack.deal(opportunity_id))
    assert "order.accepted" not in kinds


@pytest.mark.erp("netsuite")
async def test_the_demo_holds_a_share_for_finance_to_approve_and_ships_all(stack: Stack) -> None:
    code, output = await _syncline(
        stack, "demo", "--deals", "6", "--concurrency", "3", "--approval-share", "0.5"
    )
    assert code == 0, output
    assert "held for approval, approved by finance" in output
    approved = next(line for line in output.splitlines() if "approved by finance" in line)
    shipped = next(line for line in output.splitlines() if "shipped by the warehouse" in line)
    assert approved.split()[-2] == "3", output  # the row's value, before the table's edge
    assert shipped.split()[-2] == "6", output
    assert (await stack.erp_admin("GET", "/admin/approval")) == {"mode": "off"}
