"""NetSuiteClient against the real sandbox on uvicorn: find-or-create, the change feed,
cancelling and amending orders, end to end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from connectors.errors import NotFoundError, RateLimitedError, RejectedError, TransientError
from connectors.governor import LocalGovernor
from connectors.netsuite import NetSuiteClient
from models.billing import ChangeCursor
from models.changes import (
    ChangeKind,
    CustomerChange,
    ErpChange,
    InvoiceChange,
    ItemChange,
    OrderChange,
    OrderStatus,
    SubscriptionChange,
    SubscriptionStatus,
)
from models.crm import Address
from models.erp import CustomerUpsert, SalesOrder, SalesOrderDraft, SalesOrderLine
from models.types import Money
from sandbox.netsuite import build_app

from .helpers import RECORD, make_config, netsuite_client, serve


@pytest.fixture
async def erp(live_url: str) -> AsyncIterator[NetSuiteClient]:
    client = await netsuite_client(live_url)
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
            governed = await netsuite_client(url, governor=LocalGovernor(2))
            ungoverned = await netsuite_client(url)
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


# --- change feed, cancel and amend -------------------------------------------------------

EPOCH = ChangeCursor(modified_at=datetime(2000, 1, 1, tzinfo=UTC))


def set_clock(app: FastAPI, hour: int, minute: int = 0) -> datetime:
    """Pin the sandbox's clock (later than the real one that seeded the catalog)."""
    now = datetime(2099, 1, 5, hour, minute, tzinfo=UTC)
    app.state.sandbox.now = lambda: now
    return now


async def drain(erp: NetSuiteClient, kind: ChangeKind, limit: int) -> list[ErpChange]:
    """Every change of ``kind`` from the start, page by page, as the feed reads them."""
    seen: list[ErpChange] = []
    after = EPOCH
    while True:
        page = await erp.changes(kind, after, limit)
        assert page.kind is kind and len(page.changes) <= limit
        seen += page.changes
        if page.changes:
            after = page.changes[-1].position
        if not page.has_more:
            return seen


def keys(changes: list[ErpChange]) -> list[tuple[datetime, int]]:
    return [(c.modified_at, int(c.id)) for c in changes]


async def place(
    erp: NetSuiteClient, customer_id: str, ids: dict[str, str], external_id: str
) -> SalesOrder:
    return await erp.create_sales_order(draft(customer_id, ids, external_id))


async def test_changes_of_every_kind_in_keyset_order(erp: NetSuiteClient, app: FastAPI) -> None:
    t1 = set_clock(app, 9)
    customer = await erp.upsert_customer(ACME)
    other = await erp.upsert_customer(
        CustomerUpsert(external_id="002B", company_name="Globex", currency="USD")
    )
    products = await erp.find_items(["SL-SEAT-PRO", "SL-ONBOARDING"])
    ids = {sku: p.id for sku, p in products.items()}
    t2 = set_clock(app, 10)  # three orders (and their subscriptions) share one stamp
    orders = [await place(erp, customer.id, ids, f"OPP-{n}") for n in range(3)]
    t3 = set_clock(app, 11)
    late = await place(erp, other.id, ids, "OPP-LATE")
    set_clock(app, 12)  # billing moves the order to the end of the order feed
    await erp.create_record("invoice", {"createdFrom": {"id": orders[1].id}})

    for limit in (1, 2, 50):
        order_changes = await drain(erp, ChangeKind.ORDER, limit)
        assert [c.id for c in order_changes] == [orders[0].id, orders[2].id, late.id, orders[1].id]
        assert keys(order_changes) == sorted(keys(order_changes))
        customers = await drain(erp, ChangeKind.CUSTOMER, limit)
        assert [(c.id, c.modified_at) for c in customers] == [(customer.id, t1), (other.id, t1)]
        subscriptions = await drain(erp, ChangeKind.SUBSCRIPTION, limit)
        assert keys(subscriptions) == [(t2, int(s.id)) for s in subscriptions[:3]] + [
            (t3, int(subscriptions[3].id))
        ]
        items = await drain(erp, ChangeKind.ITEM, limit)
        assert len(items) == 8 and len({c.id for c in items}) == 8  # one stamp, none lost
        invoices = await drain(erp, ChangeKind.INVOICE, limit)
        assert [c.erp_order_id for c in invoices if isinstance(c, InvoiceChange)] == [orders[1].id]

    by_id = {c.id: c for c in await drain(erp, ChangeKind.ORDER, 10)}
    first = by_id[orders[0].id]
    assert isinstance(first, OrderChange)
    assert (first.status, first.erp_status, first.crm_opportunity_id) == (
        OrderStatus.OPEN,
        "Pending Fulfillment",
        "OPP-0",
    )
    assert first.lines == orders[0].lines and first.total == orders[0].total
    assert first.modified_at == t2 and first.tran_date == date(2026, 11, 20)
    billed = by_id[orders[1].id]
    assert isinstance(billed, OrderChange) and billed.status is OrderStatus.BILLED

    acme = (await drain(erp, ChangeKind.CUSTOMER, 10))[0]
    assert isinstance(acme, CustomerChange)
    assert (acme.legal_name, acme.external_id, acme.tax_id, acme.currency) == (
        "Acme Corp",
        "001ACME",
        "US-12-3456789",
        "USD",
    )
    assert acme.billing_address == ACME.billing_address and acme.is_active

    seat = next(c for c in await drain(erp, ChangeKind.ITEM, 10) if c.id == ids["SL-SEAT-PRO"])
    assert isinstance(seat, ItemChange) and seat.sku == "SL-SEAT-PRO"
    assert seat.price == Money(amount=Decimal("1188.00"), currency="USD")

    sub = (await drain(erp, ChangeKind.SUBSCRIPTION, 10))[0]
    assert isinstance(sub, SubscriptionChange)
    assert (sub.erp_order_id, sub.crm_opportunity_id, sub.customer_id) == (
        orders[0].id,
        "OPP-0",
        customer.id,
    )
    assert (sub.start_date, sub.end_date) == (date(2026, 11, 20), date(2027, 11, 19))
    assert sub.recurring_amount == Money(amount=Decimal("27499.75"), currency="USD")  # 25 seats
    assert sub.status is SubscriptionStatus.ACTIVE
    assert sub.name == f"{orders[0].order_number} subscription"


async def test_cancel_shows_in_the_feed_and_is_refused_once_billed(
    erp: NetSuiteClient, app: FastAPI
) -> None:
    set_clock(app, 9)
    customer = await erp.upsert_customer(ACME)
    ids = {sku: p.id for sku, p in (await erp.find_items(["SL-SEAT-PRO", "SL-ONBOARDING"])).items()}
    order = await place(erp, customer.id, ids, "OPP-CANCEL")
    billed = await place(erp, customer.id, ids, "OPP-BILLED")
    await erp.create_record("invoice", {"createdFrom": {"id": billed.id}})

    stamp = set_clock(app, 10)
    cancelled = await erp.cancel_sales_order(order.id)
    assert cancelled.status == "Cancelled" and cancelled.last_modified == stamp
    set_clock(app, 11)
    assert await erp.cancel_sales_order(order.id) == cancelled  # a no-op, no new stamp

    changes = {c.id: c for c in await drain(erp, ChangeKind.ORDER, 1)}
    change = changes[order.id]
    assert isinstance(change, OrderChange)
    assert (change.status, change.erp_status, change.modified_at) == (
        OrderStatus.CANCELLED,
        "Cancelled",
        stamp,
    )
    subs = {
        c.erp_order_id: c
        for c in await drain(erp, ChangeKind.SUBSCRIPTION, 1)
        if isinstance(c, SubscriptionChange)
    }
    assert subs[order.id].status is SubscriptionStatus.CANCELLED
    assert subs[order.id].modified_at == stamp
    assert subs[billed.id].status is SubscriptionStatus.ACTIVE
    assert await erp.count_sales_orders(["OPP-CANCEL", "OPP-BILLED"]) == {"OPP-BILLED": 1}

    with pytest.raises(RejectedError) as refused:
        await erp.cancel_sales_order(billed.id)
    assert refused.value.code == "USER_ERROR" and "billed" in refused.value.message
    assert (await erp.find_sales_order("OPP-BILLED")) is not None
    with pytest.raises(NotFoundError):
        await erp.cancel_sales_order("99999")


async def test_amend_replaces_lines_and_moves_the_subscription(
    erp: NetSuiteClient, app: FastAPI
) -> None:
    set_clock(app, 9)
    customer = await erp.upsert_customer(ACME)
    products = await erp.find_items(["SL-SEAT-PRO", "SL-ONBOARDING", "SL-SUPPORT-PREMIUM"])
    ids = {sku: p.id for sku, p in products.items()}
    order = await place(erp, customer.id, ids, "OPP-AMEND")

    stamp = set_clock(app, 10)
    support = SalesOrderLine(
        item_id=ids["SL-SUPPORT-PREMIUM"],
        sku="SL-SUPPORT-PREMIUM",
        quantity=Decimal("2"),
        rate=Money(amount=Decimal("4500.00"), currency="USD"),
        description="Premium support, discounted",
    )
    lines = [order.lines[0].model_copy(update={"quantity": Decimal("30")}), support]
    amended = await erp.amend_sales_order(order.id, lines)
    assert [(line.sku, line.quantity) for line in amended.lines] == [
        ("SL-SEAT-PRO", Decimal("30")),
        ("SL-SUPPORT-PREMIUM", Decimal("2")),
    ]
    assert amended.lines[1].description == "Premium support, discounted"
    assert amended.total == Money(amount=Decimal("41999.70"), currency="USD")
    assert amended.last_modified == stamp
    set_clock(app, 11)
    assert await erp.amend_sales_order(order.id, lines) == amended  # nothing to rewrite

    (change,) = await drain(erp, ChangeKind.ORDER, 5)
    assert isinstance(change, OrderChange) and change.lines == amended.lines
    (sub,) = await drain(erp, ChangeKind.SUBSCRIPTION, 5)
    assert isinstance(sub, SubscriptionChange) and sub.modified_at == stamp
    assert sub.recurring_amount == Money(amount=Decimal("41999.70"), currency="USD")

    await erp.create_record("invoice", {"createdFrom": {"id": order.id}})
    with pytest.raises(RejectedError) as refused:
        await erp.amend_sales_order(order.id, [support])
    assert "billed" in refused.value.message and refused.value.fields == ("item",)
    with pytest.raises(RejectedError) as empty:
        await erp.amend_sales_order(order.id, [])
    assert empty.value.fields == ("item",)
