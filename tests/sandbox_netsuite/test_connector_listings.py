"""Sales orders by external id against the sandbox on uvicorn: keyset pages in binary
(ordinal) order, cancelled orders included, orders without an external id left out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import httpx
import pytest

from connectors.netsuite import NetSuiteClient
from connectors.netsuite.mapping import sales_order_body
from models.changes import OrderChange, OrderStatus
from models.erp import SalesOrder

from .helpers import netsuite_client
from .test_connector_e2e import ACME, draft

# Created in this order; ordinal order puts digits, then upper case, then lower case.
EXTERNAL_IDS = ("006a", "006Z", "006b", "006A", "0069", "006z")
OLD = "006Zz"  # dated before ``SINCE``
SINCE = date(2026, 11, 1)


@pytest.fixture
async def erp(live_url: str) -> AsyncIterator[NetSuiteClient]:
    client = await netsuite_client(live_url)
    yield client
    await client.aclose()


@pytest.fixture
async def orders(erp: NetSuiteClient) -> dict[str, SalesOrder]:
    """Orders by external id; ``006b`` is cancelled, one more order has no external id."""
    customer = await erp.upsert_customer(ACME)
    items = await erp.find_items(["SL-SEAT-PRO", "SL-ONBOARDING"])
    ids = {sku: p.id for sku, p in items.items()}
    placed = {e: await erp.create_sales_order(draft(customer.id, ids, e)) for e in EXTERNAL_IDS}
    placed[OLD] = await erp.create_sales_order(draft(customer.id, ids, OLD, date(2026, 10, 15)))
    placed["006b"] = await erp.cancel_sales_order(placed["006b"].id)
    anonymous = sales_order_body(draft(customer.id, ids))
    del anonymous["externalId"]
    await erp.create_record("salesOrder", anonymous)
    return placed


async def _all(erp: NetSuiteClient, limit: int, since: date | None = None) -> list[OrderChange]:
    seen: list[OrderChange] = []
    after: str | None = None
    for _ in range(len(EXTERNAL_IDS) + 3):  # a client stuck on one page fails, not hangs
        found = await erp.orders_by_reference(after, limit, since)
        assert len(found) <= limit
        assert all(after is None or (o.crm_opportunity_id or "") > after for o in found)
        seen += found
        if len(found) < limit:
            return seen
        after = found[-1].crm_opportunity_id
    raise AssertionError(f"no end after {len(seen)} orders")


@pytest.mark.parametrize("limit", [1, 2, 3, 50])
async def test_every_order_with_an_external_id_in_ordinal_order(
    erp: NetSuiteClient, orders: dict[str, SalesOrder], limit: int
) -> None:
    found = await _all(erp, limit)
    keys = [o.crm_opportunity_id for o in found]
    assert keys == sorted(orders)  # the order without an external id is not there
    assert keys != sorted(orders, key=str.casefold)
    assert [o.id for o in found] == [orders[k].id for k in sorted(orders)]


async def test_cancelled_orders_come_with_their_status(
    erp: NetSuiteClient, orders: dict[str, SalesOrder]
) -> None:
    found = {o.crm_opportunity_id: o for o in await erp.orders_by_reference(None, 50)}
    assert (found["006b"].status, found["006b"].erp_status) == (OrderStatus.CANCELLED, "Cancelled")
    live = found["006A"]
    assert live.status is OrderStatus.OPEN and live.lines == []
    assert live.total == orders["006A"].total and live.order_number == orders["006A"].order_number


async def test_after_is_exclusive_and_since_filters_by_date(
    erp: NetSuiteClient, orders: dict[str, SalesOrder]
) -> None:
    ordinal = sorted(orders)
    after = await erp.orders_by_reference(ordinal[2], 50)
    assert [o.crm_opportunity_id for o in after] == ordinal[3:]
    assert await erp.orders_by_reference(ordinal[-1], 50) == []

    recent = await _all(erp, 2, since=SINCE)
    assert [o.crm_opportunity_id for o in recent] == [k for k in ordinal if k != OLD]
    assert all(o.tran_date is not None and o.tran_date >= SINCE for o in recent)


async def test_the_sandbox_compares_and_sorts_external_ids_in_binary(
    erp: NetSuiteClient, orders: dict[str, SalesOrder]
) -> None:
    rows = await erp.suiteql(
        "SELECT externalid FROM transaction WHERE type = 'SalesOrd' "
        "AND externalid > '006Z' ORDER BY externalid"
    )
    assert [r["externalid"] for r in rows] == ["006Zz", "006a", "006b", "006z"]


async def test_an_order_rejected_at_approval_is_listed_rejected(
    erp: NetSuiteClient, live_url: str
) -> None:
    # Found by the lifecycle model: reconciliation read a rejected order (Closed, from
    # Pending Approval) as live, an orphan once the opportunity was lost.
    customer = await erp.upsert_customer(ACME)
    items = await erp.find_items(["SL-SEAT-PRO", "SL-ONBOARDING"])
    ids = {sku: p.id for sku, p in items.items()}
    async with httpx.AsyncClient(base_url=live_url) as admin:
        (await admin.post("/admin/approval", json={"mode": "all"})).raise_for_status()
        held = await erp.create_sales_order(draft(customer.id, ids, "006R"))
        approved = await erp.create_sales_order(draft(customer.id, ids, "006S"))
        for order, verb, body in (
            (held, "reject", {"reason": "credit"}),
            (approved, "approve", {}),
        ):
            path = f"/admin/finance/salesOrder/{order.id}/{verb}"
            (await admin.post(path, json=body)).raise_for_status()
    await erp.update_record("salesOrder", approved.id, {"orderStatus": "H"})  # closed later
    found = {o.crm_opportunity_id: o for o in await erp.orders_by_reference(None, 50)}
    assert (found["006R"].status, found["006R"].erp_status) == (OrderStatus.REJECTED, "Closed")
    assert found["006S"].status is OrderStatus.CLOSED
    rows = {row[0]: row for row in await erp.order_rows_by_reference(None, 50)}
    assert (rows["006R"][5], rows["006S"][5]) == ("rejected", "closed")
