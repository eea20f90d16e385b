"""Find-or-create, SuiteQL paging, exact money, correlation ids and the governor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from connectors.errors import RejectedError
from connectors.governor import LocalGovernor
from connectors.netsuite.client import ITEM_CHUNK
from models import exact_json
from models.erp import CustomerUpsert, SalesOrderDraft, SalesOrderLine
from models.types import Money
from telemetry.correlation import correlation_scope

from .fake import BASE_URL, FakeNetSuite, body_of, ns_error, raw_json

RECORD = "/services/rest/record/v1"

CUSTOMER_JSON = """{"links": [], "id": "42", "externalId": "001A", "companyName": "ERP Name",
 "currency": {"id": "1", "refName": "USD"}, "custentity_tax_id": "T-1",
 "addressBook": {"items": [{"defaultBilling": true, "addressBookAddress":
   {"addr1": "1 Main", "city": "Austin", "state": "TX", "zip": "78701",
    "country": {"id": "US", "refName": "United States"}}}]}}"""

ORDER_JSON = """{"links": [], "id": "77", "tranId": "SO1042", "externalId": "OPP-1",
 "entity": {"id": "42", "refName": "ERP Name"}, "currency": {"id": "1", "refName": "USD"},
 "tranDate": "2026-11-20", "status": {"id": "B", "refName": "Pending Fulfillment"},
 "total": 30000000000000000.30, "lastModifiedDate": "2026-11-20T10:00:00Z",
 "item": {"items": [{"item": {"id": "3", "refName": "SL-SEAT-PRO"}, "quantity": 3,
   "rate": 10000000000000000.10, "amount": 30000000000000000.30}]}}"""

UPSERT = CustomerUpsert(external_id="001A", company_name="CRM Name", currency="USD")
DRAFT = SalesOrderDraft(
    external_id="OPP-1",
    customer_id="42",
    currency="USD",
    tran_date=date(2026, 11, 20),
    lines=[
        SalesOrderLine(
            item_id="3",
            sku="SL-SEAT-PRO",
            quantity=Decimal("3"),
            rate=Money(amount=Decimal("10000000000000000.10"), currency="USD"),
        )
    ],
)


def calls(fake: FakeNetSuite) -> list[tuple[str, str]]:
    return [(r.method, r.url.raw_path.decode()) for r in fake.api_requests]


def _exists(record_type: str) -> httpx.Response:
    return ns_error(
        400, "DUP_RCRD", f"A {record_type} record with that external ID already exists."
    )


async def test_existing_customer_is_returned_unchanged() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return _exists("customer")
        return raw_json(200, CUSTOMER_JSON)

    fake = FakeNetSuite(handler)
    client = fake.client()
    customer = await client.upsert_customer(UPSERT)
    await client.aclose()
    # The refused create wrote nothing; the look-up reads the ERP's customer, unchanged.
    assert calls(fake) == [("POST", f"{RECORD}/customer"), ("GET", f"{RECORD}/customer/eid:001A")]
    assert customer.id == "42" and customer.company_name == "ERP Name"
    assert customer.billing_address.city == "Austin"
    assert customer.billing_address.country == "US"
    assert customer.tax_id == "T-1" and customer.currency == "USD"


async def test_missing_customer_is_created_by_external_id_in_one_call() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(204, headers={"Location": f"{BASE_URL}{RECORD}/customer/42"})
        raise AssertionError(f"unexpected {request.method} {request.url.path}")

    fake = FakeNetSuite(handler)
    client = fake.client()
    customer = await client.upsert_customer(UPSERT.model_copy(update={"tax_id": "T-1"}))
    await client.aclose()
    assert calls(fake) == [("POST", f"{RECORD}/customer")]
    assert body_of(fake.api_requests[0]) == {
        "externalId": "001A",
        "companyName": "CRM Name",
        "currency": {"refName": "USD"},
        "custentity_tax_id": "T-1",
    }
    assert (customer.id, customer.external_id, customer.company_name) == ("42", "001A", "CRM Name")


async def test_a_customer_refused_on_its_merits_is_not_taken_for_an_existing_one() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return ns_error(400, "INVALID_FLD_VALUE", "Invalid currency.", "currency")
        return ns_error(404, "NONEXISTENT_ID", "The record instance does not exist.")

    client = FakeNetSuite(handler).client()
    with pytest.raises(RejectedError) as info:
        await client.upsert_customer(UPSERT)
    await client.aclose()
    assert info.value.code == "INVALID_FLD_VALUE"


async def test_a_first_try_creates_the_order_at_once_and_reads_its_number() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(204, headers={"Location": f"{BASE_URL}{RECORD}/salesOrder/77"})
        if request.url.path.endswith("/salesOrder/77"):
            return raw_json(200, ORDER_JSON)
        raise AssertionError(f"unexpected {request.method} {request.url.path}")

    fake = FakeNetSuite(handler)
    client = fake.client()
    order = await client.create_sales_order(DRAFT, may_exist=False)
    await client.aclose()
    assert calls(fake) == [("POST", f"{RECORD}/salesOrder"), ("GET", f"{RECORD}/salesOrder/77")]
    assert body_of(fake.api_requests[0])["externalId"] == "OPP-1"
    assert order.order_number == "SO1042"


async def test_a_first_try_whose_order_exists_finds_it_and_writes_nothing() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return _exists("salesOrder")
        return raw_json(200, ORDER_JSON)

    fake = FakeNetSuite(handler)
    client = fake.client()
    order = await client.create_sales_order(DRAFT, may_exist=False)
    await client.aclose()
    assert calls(fake) == [
        ("POST", f"{RECORD}/salesOrder"),
        ("GET", f"{RECORD}/salesOrder/eid:OPP-1"),
    ]
    assert order.id == "77"


async def test_a_first_try_over_a_cancelled_order_creates_the_next_generation() -> None:
    cancelled = ORDER_JSON.replace('"id": "B", "refName": "Pending Fulfillment"', '"id": "C"')

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "POST":
            return _exists("salesOrder")
        if path.endswith("eid:OPP-1"):
            return raw_json(200, cancelled)
        if path.endswith("eid:OPP-1-2") and request.method == "GET":
            return ns_error(404, "NONEXISTENT_ID", "The record instance does not exist.")
        if request.method == "PUT":
            return httpx.Response(204, headers={"Location": f"{BASE_URL}{RECORD}/salesOrder/78"})
        return raw_json(200, ORDER_JSON.replace('"id": "77"', '"id": "78"'))

    fake = FakeNetSuite(handler)
    client = fake.client()
    order = await client.create_sales_order(DRAFT, may_exist=False)
    await client.aclose()
    assert calls(fake) == [
        ("POST", f"{RECORD}/salesOrder"),
        ("GET", f"{RECORD}/salesOrder/eid:OPP-1"),
        ("GET", f"{RECORD}/salesOrder/eid:OPP-1-2"),
        ("PUT", f"{RECORD}/salesOrder/eid:OPP-1-2"),
        ("GET", f"{RECORD}/salesOrder/78"),
    ]
    assert order.id == "78"


async def test_a_first_try_refused_on_its_merits_raises_the_refusal() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return ns_error(
                400, "INVALID_KEY_OR_REF", "Invalid item reference key 3.", "item.items[0].item"
            )
        return ns_error(404, "NONEXISTENT_ID", "The record instance does not exist.")

    fake = FakeNetSuite(handler)
    client = fake.client()
    with pytest.raises(RejectedError) as info:
        await client.create_sales_order(DRAFT, may_exist=False)
    await client.aclose()
    assert info.value.fields == ("item.items[0].item",)
    assert [method for method, _ in calls(fake)] == ["POST", "GET"]  # nothing written


async def test_sales_order_find_or_create_with_exact_money() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and "eid:" in request.url.path:
            return ns_error(404, "NONEXISTENT_ID", "The record instance does not exist.")
        if request.method == "PUT":
            return httpx.Response(204, headers={"Location": f"{BASE_URL}{RECORD}/salesOrder/77"})
        return raw_json(200, ORDER_JSON)

    fake = FakeNetSuite(handler)
    client = fake.client()
    order = await client.create_sales_order(DRAFT)
    await client.aclose()
    assert calls(fake) == [
        ("GET", f"{RECORD}/salesOrder/eid:OPP-1"),
        ("PUT", f"{RECORD}/salesOrder/eid:OPP-1"),
        ("GET", f"{RECORD}/salesOrder/77"),
    ]
    sent = fake.api_requests[1].content.decode()
    assert '"rate":10000000000000000.10' in sent  # 17 significant digits, no float
    assert '"quantity":3' in sent and '"tranDate":"2026-11-20"' in sent
    assert order.total == Money(amount=Decimal("30000000000000000.30"), currency="USD")
    assert order.lines[0].rate.amount == Decimal("10000000000000000.10")
    assert (order.order_number, order.status, order.customer_id) == (
        "SO1042",
        "Pending Fulfillment",
        "42",
    )


async def test_existing_sales_order_is_not_written() -> None:
    fake = FakeNetSuite(lambda request: raw_json(200, ORDER_JSON))
    client = fake.client()
    order = await client.create_sales_order(DRAFT)
    await client.aclose()
    assert calls(fake) == [("GET", f"{RECORD}/salesOrder/eid:OPP-1")]
    assert order.id == "77"


async def test_find_sales_order_absent_and_rejection() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return ns_error(404, "NONEXISTENT_ID", "missing")
        return ns_error(
            400, "INVALID_KEY_OR_REF", "Invalid item reference key 3.", "item.items[0].item"
        )

    client = FakeNetSuite(handler).client()
    assert await client.find_sales_order("OPP-1") is None
    with pytest.raises(RejectedError) as info:
        await client.create_sales_order(DRAFT)
    await client.aclose()
    assert info.value.fields == ("item.items[0].item",)


async def test_find_items_one_query_paged_and_chunked() -> None:
    queries: list[dict[str, Any]] = []
    catalog = {"A", "B", "C", "O'Neil"}

    def handler(request: httpx.Request) -> httpx.Response:
        q = body_of(request)["q"]
        offset = int(request.url.params["offset"])
        queries.append({"q": q, "offset": offset, "prefer": request.headers.get("prefer")})
        rows = [
            {
                "links": [],
                "id": str(i),
                "itemid": sku,
                "displayname": sku,
                "baseprice": Decimal("19.99"),
                "isinactive": "F",
            }
            for i, sku in enumerate(sorted(catalog))
        ]
        page = rows[offset : offset + 2]  # the server pages by 2
        has_more = offset + len(page) < len(rows)
        return raw_json(
            200,
            exact_json.dumps(
                {
                    "links": [],
                    "count": len(page),
                    "hasMore": has_more,
                    "offset": offset,
                    "totalResults": len(rows),
                    "items": page,
                }
            ),
        )

    client = FakeNetSuite(handler).client()
    found = await client.find_items(["A", "B", "C", "O'Neil", "NOPE", "A"])
    await client.aclose()
    assert set(found) == catalog
    assert found["A"].price == Money(amount=Decimal("19.99"), currency="USD")
    assert [q["offset"] for q in queries] == [0, 2]
    assert "itemid IN ('A', 'B', 'C', 'O''Neil', 'NOPE')" in queries[0]["q"]
    assert "isinactive = 'F'" in queries[0]["q"]
    assert queries[0]["prefer"] == "transient"


async def test_find_items_chunks_long_lists() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(body_of(request)["q"])
        return httpx.Response(200, json={"items": [], "hasMore": False, "count": 0})

    client = FakeNetSuite(handler).client()
    assert await client.find_items([f"SKU-{i}" for i in range(ITEM_CHUNK + 5)]) == {}
    await client.aclose()
    assert len(seen) == 2


async def test_generic_helpers() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(204, headers={"Location": f"{BASE_URL}{RECORD}/invoice/9"})
        return httpx.Response(200, json={"id": "9"})

    fake = FakeNetSuite(handler)
    client = fake.client()
    assert await client.create_record("invoice", {"createdFrom": {"id": "77"}}) == "9"
    assert await client.get_record("invoice", "eid:a/b c") == {"id": "9"}
    await client.update_record("invoice", "9", {"memo": "x"})
    await client.aclose()
    assert calls(fake)[1] == ("GET", f"{RECORD}/invoice/eid:a%2Fb%20c")
    assert calls(fake)[2] == ("PATCH", f"{RECORD}/invoice/9")


async def test_correlation_id_on_every_request() -> None:
    fake = FakeNetSuite(lambda request: httpx.Response(200, json={"id": "1"}))
    client = fake.client()
    with correlation_scope("abc"):
        await client.get_record("customer", "1")
    await client.aclose()
    assert [r.headers.get("x-correlation-id") for r in fake.requests] == ["abc", "abc"]


class CountingGovernor:
    """Records how many slots were taken, and checks none is nested."""

    def __init__(self) -> None:
        self.slots = 0
        self.held = 0

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        self.slots += 1
        self.held += 1
        try:
            yield
        finally:
            self.held -= 1

    def slot(self) -> Any:
        return self._slot()


async def test_every_request_holds_a_governor_slot() -> None:
    in_flight = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return httpx.Response(200, json={"id": "1"})

    governor = LocalGovernor(2)
    fake = FakeNetSuite(handler)
    client = fake.client(governor)
    await asyncio.gather(*(client.get_record("customer", str(i)) for i in range(20)))
    await client.aclose()
    assert peak <= 2 and governor.peak <= 2 and governor.in_flight == 0

    counting = CountingGovernor()
    fake = FakeNetSuite(lambda request: httpx.Response(200, json={"id": "1"}))
    client = fake.client(counting)
    await client.get_record("customer", "1")
    await client.suiteql("SELECT id FROM item")
    await client.aclose()
    assert counting.slots == len(fake.requests) == 3  # token + 2 calls
    assert counting.held == 0
