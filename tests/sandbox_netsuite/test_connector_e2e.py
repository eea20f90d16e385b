"""NetSuiteClient against the real sandbox on uvicorn: find-or-create end to end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from connectors.errors import RateLimitedError, RejectedError, TransientError
from connectors.governor import LocalGovernor
from connectors.netsuite import NetSuiteClient
from models.crm import Address
from models.erp import CustomerUpsert, SalesOrderDraft, SalesOrderLine
from models.types import Money
from sandbox.netsuite import build_app

from .helpers import CLIENT_ID, CLIENT_SECRET, RECORD, make_config, serve


@pytest.fixture
async def erp(live_url: str) -> AsyncIterator[NetSuiteClient]:
    client = NetSuiteClient(live_url, CLIENT_ID, CLIENT_SECRET)
    yield client
    await client.aclose()


@pytest.fixture
async def admin(live_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_url) as http:
        yield http


def draft(
    customer_id: str,
    products: dict[str, str],
    external_id: str = "OPP-1",
    tran_date: date = date(2026, 11, 20),
) -> SalesOrderDraft:
    return SalesOrderDraft(
        external_id=external_id,
        customer_id=customer_id,
        currency="USD",
        tran_date=tran_date,
        memo="Closed won in the CRM",
        lines=[
            SalesOrderLine(
                item_id=products["SL-SEAT-PRO"],
                sku="SL-SEAT-PRO",
                quantity=Decimal("25"),
                rate=Money(amount=Decimal("1099.99"), currency="USD"),
            ),
            SalesOrderLine(
                item_id=products["SL-ONBOARDING"],
                sku="SL-ONBOARDING",
                quantity=Decimal("1"),
                rate=Money(amount=Decimal("5000.00"), currency="USD"),
            ),
        ],
    )


ACME = CustomerUpsert(
    external_id="001ACME",
    company_name="Acme Corp",
    currency="USD",
    tax_id="US-12-3456789",
    billing_address=Address(
        street="1 Market St\nSuite 100",
        city="San Francisco",
        state="CA",
        postal_code="94105",
        country="US",
    ),
)


async def test_customer_find_or_create(erp: NetSuiteClient) -> None:
    created = await erp.upsert_customer(ACME)
    assert created.external_id == "001ACME"
    assert created.company_name == "Acme Corp"
    assert created.tax_id == "US-12-3456789"
    assert created.billing_address == ACME.billing_address
    assert created.currency == "USD"
    # The ERP owns the customer now: a later upsert finds it and changes nothing.
    await erp.update_record("customer", created.id, {"companyName": "Acme Corporation"})
    again = await erp.upsert_customer(ACME.model_copy(update={"company_name": "Acme Renamed"}))
    assert again.id == created.id
    assert again.company_name == "Acme Corporation"


async def test_items_and_order_find_or_create(erp: NetSuiteClient) -> None:
    customer = await erp.upsert_customer(ACME)
    products = await erp.find_items(["SL-SEAT-PRO", "SL-ONBOARDING", "SL-NOT-A-SKU"])
    assert set(products) == {"SL-SEAT-PRO", "SL-ONBOARDING"}
    assert products["SL-SEAT-PRO"].price == Money(amount=Decimal("1188.00"), currency="USD")
    ids = {sku: p.id for sku, p in products.items()}

    assert await erp.find_sales_order("OPP-1") is None
    order = await erp.create_sales_order(draft(customer.id, ids))
    assert order.order_number.startswith("SO")
    assert order.status == "Pending Fulfillment"
    assert order.total == Money(amount=Decimal("32499.75"), currency="USD")
    assert order.customer_id == customer.id
    assert [line.sku for line in order.lines] == ["SL-SEAT-PRO", "SL-ONBOARDING"]
    assert order.lines[0].rate.amount == Decimal("1099.99")
    assert order.last_modified is not None

    assert await erp.create_sales_order(draft(customer.id, ids)) == order
    assert await erp.find_sales_order("OPP-1") == order


async def test_retry_after_a_lost_response_yields_one_order(
    erp: NetSuiteClient, admin: httpx.AsyncClient
) -> None:
    customer = await erp.upsert_customer(ACME)
    ids = {sku: p.id for sku, p in (await erp.find_items(["SL-SEAT-PRO", "SL-ONBOARDING"])).items()}
    await admin.post(
        "/admin/faults",
        json=[
            {
                "mode": "commit_then_drop",
                "times": 1,
                "method": "PUT",
                "path_prefix": f"{RECORD}/salesOrder",
            }
        ],
    )
    with pytest.raises(TransientError):
        await erp.create_sales_order(draft(customer.id, ids, "OPP-LOST"))
    order = await erp.create_sales_order(draft(customer.id, ids, "OPP-LOST"))  # the retry
    rows = await erp.suiteql("SELECT id FROM transaction WHERE externalid = 'OPP-LOST'")
    assert rows == [{"id": order.id}]
    assert (await admin.get("/admin/stats")).json()["counts"]["salesOrder"] == 1


async def test_rejections_carry_code_and_field(
    erp: NetSuiteClient, admin: httpx.AsyncClient
) -> None:
    customer = await erp.upsert_customer(ACME)
    ids = {sku: p.id for sku, p in (await erp.find_items(["SL-SEAT-PRO", "SL-ONBOARDING"])).items()}
    with pytest.raises(RejectedError) as unknown_item:
        await erp.create_sales_order(draft(customer.id, {**ids, "SL-ONBOARDING": "9999"}, "O-2"))
    assert unknown_item.value.code == "INVALID_KEY_OR_REF"
    assert unknown_item.value.fields == ("item.items[1].item",)

    await admin.post("/admin/periods/close", json={"through": "2026-10-31"})
    with pytest.raises(RejectedError) as closed:
        await erp.create_sales_order(draft(customer.id, ids, "O-3", date(2026, 10, 1)))
    assert "closed" in closed.value.message and closed.value.fields == ("tranDate",)


async def test_governor_keeps_a_client_under_the_account_limit(tmp_path: Path) -> None:
    app = build_app(make_config(tmp_path / "ns.db", concurrency_limit=2, latency_ms=30))
    try:
        with serve(app) as url:
            governed = NetSuiteClient(url, CLIENT_ID, CLIENT_SECRET, governor=LocalGovernor(2))
            ungoverned = NetSuiteClient(url, CLIENT_ID, CLIENT_SECRET)
            try:
                await asyncio.gather(
                    *(governed.get_record("inventoryItem", "1") for _ in range(12))
                )
                assert app.state.sandbox.limiter.rejected == 0
                results = await asyncio.gather(
                    *(ungoverned.get_record("inventoryItem", "1") for _ in range(12)),
                    return_exceptions=True,
                )
                limited = [r for r in results if isinstance(r, RateLimitedError)]
                assert limited and limited[0].code == "SSS_REQUEST_LIMIT_EXCEEDED"
            finally:
                await governed.aclose()
                await ungoverned.aclose()
    finally:
        app.state.sandbox.close()


async def test_revoked_token_is_renewed_transparently(
    erp: NetSuiteClient, admin: httpx.AsyncClient
) -> None:
    await erp.get_record("inventoryItem", "1")
    await admin.post("/admin/tokens/revoke")
    assert (await erp.get_record("inventoryItem", "1"))["itemId"]
