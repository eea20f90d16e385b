"""A CRM that refuses the write-back, through the real stack: the deal parks after its
ERP order exists, and an operator's retry finishes it without a second order.

The fault is a rule on the sandbox CRM (``POST /admin/faults``), aimed at exactly one
request: ``PATCH /services/data/v59.0/sobjects/Opportunity/<this opportunity's id>``,
once. The test closes the deal won through another route (an upsert by ``Id``, which
the sandbox treats as the same update and which fires the same webhook), so the only
request the rule can match is the workflow's write-back. The rule is installed before
the deal is closed won, so nothing depends on how soon the workflow writes back, and
it cannot touch other tests' deals or the webhook (which goes to the API, not the CRM).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("clean_crm_faults")]

OPPORTUNITY_PATH = "/services/data/v59.0/sobjects/Opportunity"


async def _crm_admin(stack: Stack, method: str, body: Any = None) -> Any:
    async with httpx.AsyncClient(base_url=stack.dev.crm_url, timeout=10) as http:
        response = await http.request(method, "/admin/faults", json=body)
        response.raise_for_status()
        return response.json() if response.content else None


async def _parked(stack: Stack, opportunity_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """The deal once it shows needs_attention *and* its open exception row (the status
    comes from the workflow, the rows from the store, written a moment apart)."""
    deadline = time.monotonic() + timeout
    while True:
        deal = await stack.wait_for_status(opportunity_id, "needs_attention", timeout)
        if any(e["status"] == "open" for e in deal["exceptions"]):
            return deal
        if time.monotonic() > deadline:
            raise AssertionError(f"{opportunity_id} parked without an open exception: {deal}")
        await asyncio.sleep(0.2)


@pytest.fixture
async def clean_crm_faults(stack: Stack) -> AsyncIterator[None]:
    await _crm_admin(stack, "DELETE")
    try:
        yield
    finally:
        await _crm_admin(stack, "DELETE")


async def test_a_rejected_write_back_parks_and_a_retry_finishes_with_one_order(
    stack: Stack,
) -> None:
    opportunity_id = await stack.open_deal(name="E2E CRM rejects write-back")
    await _crm_admin(
        stack,
        "POST",
        [
            {
                "mode": "error",
                "status": 400,
                "code": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                "detail": "Order fields are locked while the deal is in review",
                "times": 1,
                "method": "PATCH",
                "path_prefix": f"{OPPORTUNITY_PATH}/{opportunity_id}",
            }
        ],
    )
    # Closed won through the upsert-by-Id route: same update, same webhook, another path.
    _, created = await stack.crm.upsert(
        "Opportunity", "Id", opportunity_id, {"StageName": "Closed Won"}
    )
    assert created is False

    parked = await _parked(stack, opportunity_id)
    [exception] = [e for e in parked["exceptions"] if e["status"] == "open"]
    assert exception["reason"] == "crm_rejected" and exception["step"] == "write_back"
    assert "locked while the deal is in review" in parked["detail"]
    assert (await _crm_admin(stack, "GET"))[0]["times"] == 0  # it was the workflow's PATCH
    # The ERP order exists already, once; the write-back did not happen.
    [order] = await stack.erp_orders_for(opportunity_id)
    assert parked["erp_order_id"] == order.id
    opportunity = await stack.crm.get("Opportunity", opportunity_id)
    assert opportunity["Syncline_Order_Id__c"] is None

    retried = await stack.api.post(f"/api/exceptions/{exception['id']}/retry")
    assert retried.status_code == 202, retried.text

    deal = await stack.wait_for_status(opportunity_id, "order_accepted")
    orders = await stack.erp_orders_for(opportunity_id)
    assert len(orders) == 1 and orders[0].id == order.id
    assert deal["erp_order_id"] == order.id and deal["retries"] == 1
    assert [e["event_type"] for e in deal["events"]].count("order.accepted") == 1
    [resolved] = deal["exceptions"]
    assert resolved["id"] == exception["id"] and resolved["status"] == "resolved"
    opportunity = await stack.crm.get("Opportunity", opportunity_id)
    assert opportunity["Syncline_Order_Id__c"] == order.id
    assert opportunity["Syncline_Order_Number__c"] == orders[0].number
