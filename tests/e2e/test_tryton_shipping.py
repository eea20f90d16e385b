"""Through the real stack on Tryton: a new stocked item reaches the CRM's catalog, a deal
sells two, and what Tryton's warehouse ships (one, then the back-order) reaches the
opportunity and the deal's timeline."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest

from sandbox.tryton.accountant import TrytonAccountant
from sandbox.tryton.warehouse import TrytonWarehouse
from tests.deals import open_deal
from tests.e2e.conftest import Stack
from tests.e2e.test_after_the_order import _eventually

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("clean_faults")]


def _fulfilments(deal: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in deal["events"] if e["event_type"] == "order.fulfilled"]


@pytest.mark.erp("tryton")  # the NetSuite path: test_approval
async def test_a_partial_shipment_then_its_back_order_fulfil_the_deal(stack: Stack) -> None:
    accountant: TrytonAccountant = stack.erp.accountant  # type: ignore[attr-defined]
    warehouse = TrytonWarehouse(accountant)
    sku = f"SL-KEY-{uuid.uuid4().hex[:8]}"
    product = await accountant.create_product(sku, "Hardware key", Decimal("40"), goods=True)
    # The item mirror brings it into the CRM's price book.
    [item] = await _eventually(
        lambda: stack.crm.query(f"SELECT Id FROM Product2 WHERE ProductCode = '{sku}'"),
        lambda rows: len(rows) == 1,
    )
    [entry] = await _eventually(
        lambda: stack.crm.query(f"SELECT Id FROM PricebookEntry WHERE Product2Id = '{item['Id']}'"),
        lambda rows: len(rows) == 1,
    )
    opportunity_id = await open_deal(
        stack.crm, {sku: entry["Id"]}, [sku], name="Shipped in two", quantity=2
    )
    await stack.close_won(opportunity_id)
    await stack.wait_for_status(opportunity_id, "order_accepted")
    [order] = await stack.erp_orders_for(opportunity_id)

    await warehouse.count_in(product, Decimal(1))
    [first] = await warehouse.waiting_shipments(int(order.id))
    assert not await warehouse.ship(first)
    await _eventually(
        lambda: stack.crm.get("Opportunity", opportunity_id),
        lambda o: o.get("Syncline_Fulfilment_Status__c") == "Partially Fulfilled",
    )
    await warehouse.count_in(product, Decimal(1))
    [back_order] = await warehouse.waiting_shipments(int(order.id))
    assert await warehouse.ship(back_order)
    await _eventually(
        lambda: stack.crm.get("Opportunity", opportunity_id),
        lambda o: o.get("Syncline_Fulfilment_Status__c") == "Fulfilled",
    )
    deal = await _eventually(
        lambda: stack.deal(opportunity_id), lambda d: len(_fulfilments(d)) == 2
    )
    assert sorted(
        (e["payload"]["fulfilment_id"], e["payload"]["complete"]) for e in _fulfilments(deal)
    ) == [(str(first), False), (str(back_order), True)]
