"""The bulk backlog seeder: records the API would have made, read back by the connector's
change feed in keyset order."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from benchmarks.seeding.netsuite_backlog import BacklogSpec, BacklogSummary, seed_backlog_file
from connectors.netsuite import NetSuiteClient
from models.billing import ChangeCursor, InvoiceStatus
from models.changes import ChangeKind, ErpChange, InvoiceChange, OrderChange, OrderStatus
from sandbox.netsuite import build_app

from .helpers import RECORD, get_token, make_config, netsuite_client

END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
# Two days: each nightly billing run then invoices more orders than a page holds.
SPEC = BacklogSpec(changes=1_500, end=END, window=timedelta(days=2), verify_every=1)
PAGE = 20
BEFORE = ChangeCursor(modified_at=END - timedelta(days=3))


@pytest.fixture
def seeded(db_path: Path) -> BacklogSummary:
    return seed_backlog_file(db_path, SPEC)


@pytest.fixture
def seeded_app(db_path: Path, seeded: BacklogSummary) -> Iterator[FastAPI]:
    app = build_app(make_config(db_path))
    yield app
    app.state.sandbox.close()


@pytest.fixture
async def erp(seeded_app: FastAPI) -> AsyncIterator[NetSuiteClient]:
    client = await netsuite_client(
        "http://netsuite.test", transport=httpx.ASGITransport(app=seeded_app)
    )
    yield client
    await client.aclose()


@pytest.fixture
async def http(seeded_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=seeded_app), base_url="http://netsuite.test"
    ) as client:
        client.headers["Authorization"] = f"Bearer {await get_token(client)}"
        yield client


async def read_all(erp: NetSuiteClient, kind: ChangeKind) -> list[ErpChange]:
    """Every change of ``kind`` after ``BEFORE``, page by page from the last position,
    as the feed reads them."""
    changes: list[ErpChange] = []
    after = BEFORE
    while True:
        page = await erp.changes(kind, after, PAGE)
        changes += page.changes
        if page.changes:
            after = page.changes[-1].position
        if not page.has_more:
            return changes


def test_summary_adds_up(seeded: BacklogSummary) -> None:
    assert seeded.changes == SPEC.changes
    assert seeded.invoices == seeded.unpaid_invoices + seeded.partly_paid_invoices + (
        seeded.paid_invoices
    )
    assert seeded.payments == seeded.partly_paid_invoices + seeded.paid_invoices
    assert min(seeded.unpaid_invoices, seeded.partly_paid_invoices, seeded.paid_invoices) > 0
    assert seeded.cancelled_orders > 0
    # verify_every=1: every order and what followed it was replayed through the API's
    # validation and matched, row for row.
    assert seeded.verified_orders == seeded.orders
    assert END - SPEC.window <= seeded.first_modified <= seeded.last_modified <= END
    assert 0 < seeded.erp_born_orders < seeded.orders


async def test_orders_read_back_in_keyset_order(
    erp: NetSuiteClient, seeded: BacklogSummary
) -> None:
    orders = await read_all(erp, ChangeKind.ORDER)
    assert all(isinstance(o, OrderChange) for o in orders)
    assert len(orders) == seeded.orders
    assert len({o.id for o in orders}) == seeded.orders
    positions = [(o.modified_at, int(o.id)) for o in orders]
    assert positions == sorted(positions)
    assert len(set(positions)) == len(positions)
    assert max(Counter(o.modified_at for o in orders).values()) > PAGE
    statuses = Counter(o.status for o in orders if isinstance(o, OrderChange))
    assert statuses[OrderStatus.CANCELLED] == seeded.cancelled_orders
    assert statuses[OrderStatus.BILLED] == seeded.invoices
    from_crm = [o for o in orders if isinstance(o, OrderChange) and o.crm_opportunity_id]
    assert len(from_crm) == seeded.orders - seeded.erp_born_orders
    for order in orders:
        assert isinstance(order, OrderChange)
        assert order.crm_opportunity_id is None or order.crm_opportunity_id.startswith("006")
        assert order.lines
        assert sum(line.quantity * line.rate.amount for line in order.lines) == (order.total.amount)


async def test_invoices_read_back_in_keyset_order(
    erp: NetSuiteClient, seeded: BacklogSummary
) -> None:
    invoices = await read_all(erp, ChangeKind.INVOICE)
    assert len(invoices) == seeded.invoices
    positions = [(i.modified_at, int(i.id)) for i in invoices]
    assert positions == sorted(positions)
    assert len(set(positions)) == len(positions)
    # Some second holds more invoices than a page: pages break inside it.
    per_second = Counter(i.modified_at for i in invoices)
    assert max(per_second.values()) > PAGE
    paid = partly = 0
    for invoice in invoices:
        assert isinstance(invoice, InvoiceChange)
        assert invoice.erp_order_id is not None
        assert Decimal(0) <= invoice.amount_due.amount <= invoice.total.amount
        if invoice.status is InvoiceStatus.PAID:
            assert invoice.amount_due.amount == 0
            paid += 1
        elif invoice.amount_due.amount < invoice.total.amount:
            partly += 1
    assert (paid, partly) == (seeded.paid_invoices, seeded.partly_paid_invoices)


async def test_masters_lie_before_the_window(erp: NetSuiteClient, seeded: BacklogSummary) -> None:
    window = ChangeCursor(modified_at=END - SPEC.window)
    for kind in (ChangeKind.CUSTOMER, ChangeKind.ITEM, ChangeKind.SUBSCRIPTION):
        page = await erp.changes(kind, window, PAGE)
        assert page.changes == [], kind


def _shape(value: Any) -> Any:
    """Keys and value types, not values: what must match a record the API made."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items() if key != "links"}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


async def _txn_ids(http: httpx.AsyncClient, where: str) -> list[str]:
    response = await http.post(
        "/services/rest/query/v1/suiteql",
        json={"q": f"SELECT id FROM transaction WHERE {where} ORDER BY id"},
        headers={"Prefer": "transient"},
    )
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()["items"]]


async def _get(http: httpx.AsyncClient, record_type: str, internal_id: str) -> dict[str, Any]:
    response = await http.get(f"{RECORD}/{record_type}/{internal_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_api_carries_on_from_the_backlog(
    http: httpx.AsyncClient, seeded: BacklogSummary
) -> None:
    """New records continue the ids and numbers, and look like the seeded ones."""
    seeded_ids = await _txn_ids(http, "type = 'CustInvc' AND status = 'A'")
    invoices = [await _get(http, "invoice", i) for i in seeded_ids[:60]]
    partly_paid = next(body for body in invoices if Decimal(str(body["amountPaid"])) > 0)
    seeded_order = await _get(http, "salesOrder", partly_paid["createdFrom"]["id"])
    customer_id = seeded_order["entity"]["id"]
    item_id = seeded_order["item"]["items"][0]["item"]["id"]
    created = await http.post(
        f"{RECORD}/salesOrder",
        json={
            "entity": {"id": customer_id},
            **({"externalId": "006NEWORDER0000001"} if "externalId" in seeded_order else {}),
            "item": {"items": [{"item": {"id": item_id}, "quantity": 2}]},
        },
    )
    assert created.status_code == 204, created.text
    order_id = created.headers["location"].rsplit("/", 1)[-1]
    order = await _get(http, "salesOrder", order_id)
    assert order["tranId"] == f"SO{1000 + seeded.orders + 1}"
    assert await _txn_ids(http, f"id >= {order_id}") == [order_id]
    invoiced = await http.post(f"{RECORD}/invoice", json={"createdFrom": {"id": order_id}})
    assert invoiced.status_code == 204, invoiced.text
    invoice_id = invoiced.headers["location"].rsplit("/", 1)[-1]
    invoice = await _get(http, "invoice", invoice_id)
    assert invoice["tranId"] == f"INV{1000 + seeded.invoices + 1}"
    paid = await http.post(
        f"{RECORD}/customerPayment",
        json={"createdFrom": {"id": invoice_id}, "payment": "10.00"},
    )
    assert paid.status_code == 204, paid.text
    invoice = await _get(http, "invoice", invoice_id)
    order = await _get(http, "salesOrder", order_id)
    assert _shape(invoice) == _shape(partly_paid)
    assert _shape(order) == _shape(seeded_order)
    # A seeded invoice takes a payment like any other: the rest of what it owes.
    rest = Decimal(str(partly_paid["amountRemaining"]))
    settled = await http.post(
        f"{RECORD}/customerPayment",
        json={"createdFrom": {"id": partly_paid["id"]}, "payment": str(rest)},
    )
    assert settled.status_code == 204, settled.text
    after = await _get(http, "invoice", partly_paid["id"])
    assert after["status"]["id"] == "B"
    assert Decimal(str(after["amountRemaining"])) == 0
