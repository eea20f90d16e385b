"""How a line earns revenue, from the NetSuite-shaped sandbox's items through the
connector to the order lines the ledger records."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from connectors.netsuite import NetSuiteClient
from models.billing import ChangeCursor
from models.changes import ChangeKind, OrderChange
from models.erp import CustomerUpsert, RevenueType, SalesOrderDraft, SalesOrderLine
from models.types import Money
from sandbox.netsuite import build_app
from tests.sandbox_netsuite.helpers import (
    RECORD,
    get_token,
    make_config,
    netsuite_client,
    serve,
)

SKUS = ("SL-PLATFORM-MONTHLY", "SL-ONBOARDING", "SL-API-CALLS-1M")
EXPECTED = {
    "SL-PLATFORM-MONTHLY": (RevenueType.RECURRING, 1),
    "SL-ONBOARDING": (RevenueType.ONE_TIME, None),
    "SL-API-CALLS-1M": (RevenueType.USAGE, None),
}


@pytest.fixture
def live_url(tmp_path: Path) -> Iterator[str]:
    app = build_app(make_config(tmp_path / "netsuite.db"))
    with serve(app) as url:
        yield url
    app.state.sandbox.close()


@pytest.fixture
async def erp(live_url: str) -> AsyncIterator[NetSuiteClient]:
    client = await netsuite_client(live_url)
    yield client
    await client.aclose()


async def test_order_lines_say_how_each_earns_revenue(erp: NetSuiteClient) -> None:
    products = await erp.find_items(list(SKUS))
    assert {sku: (p.revenue_type, p.term_months) for sku, p in products.items()} == EXPECTED
    customer = await erp.upsert_customer(
        CustomerUpsert(external_id="001R", company_name="Revenue Co", currency="USD")
    )
    order = await erp.create_sales_order(
        SalesOrderDraft(
            external_id="006R",
            customer_id=customer.id,
            currency="USD",
            tran_date=date(2026, 11, 20),
            lines=[
                SalesOrderLine(
                    item_id=products[sku].id,
                    sku=sku,
                    quantity=Decimal(1),
                    rate=Money(amount=Decimal("100.00"), currency="USD"),
                )
                for sku in SKUS
            ],
        )
    )
    # The record the deal workflow reads, and the feed's transactionline rows, agree.
    assert {line.sku: (line.revenue_type, line.term_months) for line in order.lines} == EXPECTED
    page = await erp.changes(
        ChangeKind.ORDER, ChangeCursor(modified_at=datetime(2000, 1, 1, tzinfo=UTC), id=0), 10
    )
    [change] = [c for c in page.changes if isinstance(c, OrderChange)]
    assert {line.sku: (line.revenue_type, line.term_months) for line in change.lines} == EXPECTED


async def test_an_item_without_a_revenue_type_leaves_its_lines_unclassified(
    live_url: str, erp: NetSuiteClient
) -> None:
    async with httpx.AsyncClient(base_url=live_url) as http:
        http.headers["Authorization"] = f"Bearer {await get_token(http)}"
        made = await http.post(f"{RECORD}/inventoryItem", json={"itemId": "SL-ODD"})
        assert made.status_code == 204, made.text
        refused = await http.post(
            f"{RECORD}/inventoryItem",
            json={"itemId": "SL-BAD", "custitem_revenue_type": "subscription"},
        )
        assert refused.status_code == 400
    [odd] = (await erp.find_items(["SL-ODD"])).values()
    assert (odd.revenue_type, odd.term_months) == (None, None)


def test_an_older_database_learns_the_catalog_revenue_types(tmp_path: Path) -> None:
    db_path = tmp_path / "netsuite.db"
    build_app(make_config(db_path)).state.sandbox.close()
    with sqlite3.connect(db_path) as conn:  # as a database seeded before revenue types
        conn.execute("ALTER TABLE item DROP COLUMN custitem_revenue_type")
        conn.execute("UPDATE item SET body = json_remove(body, '$.custitem_revenue_type')")
    conn.close()
    build_app(make_config(db_path)).state.sandbox.close()
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute(
            "SELECT itemid, custitem_revenue_type, body ->> '$.custitem_revenue_type' FROM item"
        ).fetchall()
    conn.close()
    learnt = {sku: (column, body) for sku, column, body in rows}
    assert learnt["SL-API-CALLS-1M"] == ("usage", "usage")
    assert learnt["SL-SEAT-PRO"] == ("recurring", "recurring")
    assert len(learnt) == 8 and all(column for column, _ in learnt.values())
