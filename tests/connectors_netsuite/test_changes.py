"""The change feed of every kind, cancelling and amending orders, against a scripted
NetSuite: the SuiteQL sent, the mapping, and that nothing bypasses the request path."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from connectors.errors import RejectedError
from connectors.netsuite import approval
from models import exact_json
from models.billing import ChangeCursor, InvoiceStatus
from models.changes import (
    ChangeKind,
    CustomerChange,
    FulfilmentChange,
    InvoiceChange,
    ItemChange,
    OrderChange,
    OrderStatus,
    SubscriptionChange,
    SubscriptionStatus,
)
from models.crm import Address
from models.erp import SalesOrderLine
from models.types import Money
from telemetry.correlation import correlation_scope

from .fake import FakeNetSuite, body_of, ns_error, raw_json
from .test_client import ORDER_JSON, CountingGovernor

RECORD = "/services/rest/record/v1"
AFTER = ChangeCursor(modified_at=datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC), id=7)
KEYSET = (
    "(lastmodifieddate > TO_TIMESTAMP('2026-11-20 10:00:00', 'YYYY-MM-DD HH24:MI:SS') OR "
    "(lastmodifieddate = TO_TIMESTAMP('2026-11-20 10:00:00', 'YYYY-MM-DD HH24:MI:SS') "
    "AND id > 7)) ORDER BY lastmodifieddate, id"
)


def page(rows: list[dict[str, Any]], has_more: bool = False) -> httpx.Response:
    return raw_json(
        200,
        exact_json.dumps(
            {
                "links": [],
                "count": len(rows),
                "hasMore": has_more,
                "offset": 0,
                "totalResults": len(rows),
                "items": [{"links": [], **row} for row in rows],
            }
        ),
    )


Answers = dict[str, Callable[[str], list[dict[str, Any]]]]


def suiteql(
    answers: Answers, has_more: bool = False
) -> tuple[Callable[[httpx.Request], httpx.Response], list[str]]:
    """A handler answering each query by the table after FROM; records every query.
    ``has_more`` marks the first (the feed page) as followed by more."""
    queries: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        q = body_of(request)["q"]
        queries.append(q)
        table = q.split(" FROM ", 1)[1].split(" ", 1)[0]
        return page(answers[table](q), has_more and len(queries) == 1)

    return handler, queries


async def test_change_kinds_are_all_eight() -> None:
    client = FakeNetSuite(lambda request: page([])).client()
    assert client.change_kinds == frozenset(ChangeKind)
    await client.aclose()


async def test_order_changes_with_lines_in_three_queries() -> None:
    orders: list[dict[str, Any]] = [
        {
            "id": "11",
            "tranid": "SO1001",
            "externalid": "OPP-1",
            "entity": "42",
            "status": "C",
            "foreigntotal": Decimal("30000000000000000.30"),
            "currency": "USD",
            "trandate": "2026-11-20",
            "lastmodifieddate": "2026-11-20T10:00:00Z",
        },
        {
            "id": "12",
            "tranid": "SO1002",
            "externalid": None,
            "entity": "43",
            "status": "G",
            "foreigntotal": 100,
            "currency": "EUR",
            "trandate": "2026-11-21",
            "lastmodifieddate": "2026-11-20T10:00:01Z",
        },
    ]
    lines: list[dict[str, Any]] = [
        {
            "transaction": "11",
            "linesequencenumber": 1,
            "item": "3",
            "quantity": -3,
            "rate": Decimal("10000000000000000.10"),
            "foreignamount": Decimal("-30000000000000000.30"),
            "memo": "Pro seat",
        },
        {
            "transaction": "12",
            "linesequencenumber": 1,
            "item": "4",
            "quantity": Decimal("-2.5"),
            "rate": None,
            "foreignamount": -100,
            "memo": None,
        },
    ]
    handler, queries = suiteql(
        {
            "transaction": lambda q: orders,
            "transactionline": lambda q: lines,
            "item": lambda q: [{"id": "3", "itemid": "SL-SEAT-PRO"}, {"id": "4", "itemid": "X"}],
            "systemnote": lambda q: [],
        },
        has_more=True,
    )
    fake = FakeNetSuite(handler)
    client = fake.client()
    result = await client.changes(ChangeKind.ORDER, AFTER, 2)
    await client.aclose()

    assert result.kind is ChangeKind.ORDER and result.has_more
    assert len(fake.api_requests) == 4  # no request per order
    assert "FROM systemnote WHERE field = 'TRANDOC.KSTATUS'" in queries[3]
    assert "recordid IN (11, 12)" in queries[3]
    assert queries[0].startswith("SELECT id, tranid, externalid, entity, status, foreigntotal")
    assert "FROM transaction WHERE type = 'SalesOrd' AND " + KEYSET in queries[0]
    assert fake.api_requests[0].url.params["limit"] == "2"
    assert "WHERE transaction IN (11, 12) AND mainline = 'F' AND taxline = 'F'" in queries[1]
    assert "FROM item WHERE id IN (3, 4)" in queries[2]

    first, second = result.changes
    assert isinstance(first, OrderChange) and isinstance(second, OrderChange)
    assert (first.id, first.order_number, first.crm_opportunity_id, first.customer_id) == (
        "11",
        "SO1001",
        "OPP-1",
        "42",
    )
    assert (first.status, first.erp_status) == (OrderStatus.CANCELLED, "Cancelled")
    assert first.total == Money(amount=Decimal("30000000000000000.30"), currency="USD")
    assert first.tran_date == date(2026, 11, 20)
    assert first.lines == [
        SalesOrderLine(
            item_id="3",
            sku="SL-SEAT-PRO",
            quantity=Decimal(3),
            rate=Money(amount=Decimal("10000000000000000.10"), currency="USD"),
            description="Pro seat",
        )
    ]
    assert first.position == ChangeCursor(modified_at=first.modified_at, id=11)
    assert (second.status, second.erp_status, second.crm_opportunity_id) == (
        OrderStatus.BILLED,
        "Billed",
        None,
    )
    assert second.lines[0].quantity == Decimal("2.5")
    assert second.lines[0].rate == Money(amount=Decimal(40), currency="EUR")


@pytest.mark.parametrize(
    ("letter", "status"),
    [
        ("A", OrderStatus.PENDING_APPROVAL),
        ("B", OrderStatus.OPEN),
        ("D", OrderStatus.OPEN),
        ("E", OrderStatus.OPEN),
        ("F", OrderStatus.OPEN),
        ("G", OrderStatus.BILLED),
        ("H", OrderStatus.CLOSED),
        ("C", OrderStatus.CANCELLED),
    ],
)
async def test_order_status_mapping(letter: str, status: OrderStatus) -> None:
    row = {
        "id": "1",
        "tranid": "SO1",
        "entity": "2",
        "status": letter,
        "foreigntotal": 1,
        "currency": "USD",
        "lastmodifieddate": "2026-11-20T10:00:00Z",
    }
    handler, _ = suiteql(
        {
            "transaction": lambda q: [row],
            "transactionline": lambda q: [],
            "systemnote": lambda q: [],
        }
    )
    client = FakeNetSuite(handler).client()
    change = (await client.changes(ChangeKind.ORDER, AFTER, 10)).changes[0]
    await client.aclose()
    assert isinstance(change, OrderChange) and change.status is status and change.lines == []


async def test_invoice_changes_carry_their_orders_external_id() -> None:
    invoice = {
        "id": "21",
        "tranid": "INV1",
        "createdfrom": "11",
        "entity": "42",
        "status": "B",
        "foreigntotal": Decimal("10.00"),
        "amountremaining": 0,
        "currency": "USD",
        "trandate": "2026-11-21",
        "lastmodifieddate": "2026-11-21T08:00:00Z",
    }

    def transactions(q: str) -> list[dict[str, Any]]:
        return [invoice] if "CustInvc" in q else [{"id": "11", "externalid": "OPP-1"}]

    # Settled by a credit memo of 3.00 and a payment of 7.00 (NetSuite may sign links).
    links = [
        {"previousdoc": "21", "nextdoc": "31", "nexttype": "CustCred", "foreignamount": 3},
        {"previousdoc": "21", "nextdoc": "32", "nexttype": "CustPymt", "foreignamount": -7},
    ]
    handler, queries = suiteql(
        {"transaction": transactions, "NextTransactionLineLink": lambda q: links}
    )
    client = FakeNetSuite(handler).client()
    result = await client.changes(ChangeKind.INVOICE, AFTER, 5)
    await client.aclose()
    assert "WHERE type = 'CustInvc' AND " + KEYSET in queries[0]
    assert "WHERE id IN (11)" in queries[1]
    assert "WHERE linktype = 'Payment' AND previousdoc IN (21)" in queries[2]
    (change,) = result.changes
    assert isinstance(change, InvoiceChange) and change.kind == "invoice"
    assert (change.status, change.crm_opportunity_id, change.erp_order_id) == (
        InvoiceStatus.PAID,
        "OPP-1",
        "11",
    )
    # Cash only: the credit settled the rest of the invoice without money.
    assert change.amount_paid == Money(amount=Decimal("7"), currency="USD")
    assert (change.credited, change.collected) == (Decimal(3), Decimal(7))


async def test_customer_changes_read_a_page_of_addresses_in_one_query() -> None:
    rows: list[dict[str, Any]] = [
        {
            "id": "42",
            "externalid": "001A",
            "companyname": "Acme Corp",
            "custentity_tax_id": "T-1",
            "currency": "1",
            "isinactive": "F",
            "defaultbillingaddress": "42001",
            "lastmodifieddate": "2026-11-20T10:00:00Z",
        },
        {
            "id": "43",
            "externalid": None,
            "companyname": "Bare Ltd",
            "custentity_tax_id": None,
            "currency": "4",
            "isinactive": "T",
            "defaultbillingaddress": None,
            "lastmodifieddate": "2026-11-20T10:00:05Z",
        },
    ]
    address = {
        "nkey": "42001",
        "addr1": "1 Main",
        "addr2": "Suite 5",
        "city": "Austin",
        "state": "TX",
        "zip": "78701",
        "country": "US",
    }
    currencies = [{"id": "1", "symbol": "USD"}, {"id": "4", "symbol": "EUR"}]
    handler, queries = suiteql(
        {
            "customer": lambda q: [dict(r) for r in rows],
            "entityaddress": lambda q: [address],
            "currency": lambda q: currencies,
        }
    )
    fake = FakeNetSuite(handler)
    client = fake.client()
    result = await client.changes(ChangeKind.CUSTOMER, AFTER, 10)
    again = await client.changes(ChangeKind.CUSTOMER, AFTER, 10)
    await client.aclose()
    assert "FROM customer WHERE " + KEYSET in queries[0]
    assert queries[1] == "SELECT id, symbol FROM currency"
    assert queries[2].endswith("FROM entityaddress WHERE nkey IN (42001)")
    # No record read, and the account's currencies are read once per client.
    assert all(r.method == "POST" for r in fake.api_requests)
    assert sum("FROM currency" in q for q in queries) == 1 and len(queries) == 5
    acme, bare = result.changes
    assert isinstance(acme, CustomerChange) and isinstance(bare, CustomerChange)
    assert (acme.legal_name, acme.external_id, acme.tax_id, acme.currency) == (
        "Acme Corp",
        "001A",
        "T-1",
        "USD",
    )
    assert acme.billing_address == Address(
        street="1 Main\nSuite 5", city="Austin", state="TX", postal_code="78701", country="US"
    )
    assert acme.is_active and acme.modified_at == datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)
    assert (bare.id, bare.currency, bare.is_active, bare.billing_address) == (
        "43",
        "EUR",
        False,
        Address(),
    )
    assert again.changes == result.changes


async def test_a_currency_id_the_account_does_not_list_is_asked_for_once() -> None:
    row = {"id": "9", "type": "SalesOrd", "currency": "99", "foreigntotal": 1}
    handler, queries = suiteql(
        {"transaction": lambda q: [dict(row)], "currency": lambda q: [{"id": "1", "symbol": "USD"}]}
    )
    client = FakeNetSuite(handler).client()
    first = await client.suiteql("SELECT id, type, currency FROM transaction")
    second = await client.suiteql("SELECT id, type, currency FROM transaction")
    await client.aclose()
    assert first == second == [row]  # left as it is: mapping falls back to the base currency
    assert sum("FROM currency" in q for q in queries) == 1


async def test_item_changes() -> None:
    row = {
        "id": "3",
        "itemid": "SL-SEAT-PRO",
        "displayname": "Pro seat",
        "baseprice": Decimal("1188.00"),
        "isinactive": "T",
        "lastmodifieddate": "2026-11-20T10:00:00Z",
    }
    handler, queries = suiteql({"item": lambda q: [row]})
    client = FakeNetSuite(handler).client()
    (change,) = (await client.changes(ChangeKind.ITEM, AFTER, 10)).changes
    await client.aclose()
    assert "FROM item WHERE " + KEYSET in queries[0]
    assert change == ItemChange(
        id="3",
        sku="SL-SEAT-PRO",
        name="Pro seat",
        price=Money(amount=Decimal("1188.00"), currency="USD"),
        is_active=False,
        modified_at=datetime(2026, 11, 20, 10, tzinfo=UTC),
    )


async def test_subscription_changes_name_their_opportunity() -> None:
    rows: list[dict[str, Any]] = [
        {
            "id": "5",
            "customer": "42",
            "salesorder": "11",
            "name": "SO1001 subscription",
            "startdate": "2026-11-20",
            "enddate": "2027-11-19",
            "status": status,
            "recurringamount": Decimal("2376.00"),
            "currency": "USD",
            "lastmodifieddate": "2026-11-20T10:00:00Z",
        }
        for status in ("ACTIVE", "TERMINATED", "CLOSED")
    ]
    handler, queries = suiteql(
        {
            "subscription": lambda q: rows,
            "transaction": lambda q: [{"id": "11", "externalid": "OPP-1"}],
        }
    )
    client = FakeNetSuite(handler).client()
    result = await client.changes(ChangeKind.SUBSCRIPTION, AFTER, 10)
    await client.aclose()
    assert "FROM subscription WHERE " + KEYSET in queries[0]
    assert queries[1] == "SELECT id, externalid FROM transaction WHERE id IN (11)"
    assert len(queries) == 2  # one look-up for the whole page
    statuses = []
    for change in result.changes:
        assert isinstance(change, SubscriptionChange)
        assert (change.erp_order_id, change.crm_opportunity_id) == ("11", "OPP-1")
        assert (change.start_date, change.end_date) == (date(2026, 11, 20), date(2027, 11, 19))
        assert change.recurring_amount == Money(amount=Decimal("2376.00"), currency="USD")
        statuses.append(change.status)
    assert statuses == [
        SubscriptionStatus.ACTIVE,
        SubscriptionStatus.CANCELLED,
        SubscriptionStatus.CANCELLED,
    ]


CANCELLED_JSON = ORDER_JSON.replace(
    '{"id": "B", "refName": "Pending Fulfillment"}', '{"id": "C", "refName": "Cancelled"}'
)


async def test_cancel_patches_status_and_rereads() -> None:
    answers = iter([ORDER_JSON, None, CANCELLED_JSON])

    def handler(request: httpx.Request) -> httpx.Response:
        answer = next(answers)
        return httpx.Response(204) if answer is None else raw_json(200, answer)

    fake = FakeNetSuite(handler)
    client = fake.client()
    with correlation_scope("cancel-1"):
        order = await client.cancel_sales_order("77")
    await client.aclose()
    assert [(r.method, r.url.path) for r in fake.api_requests] == [
        ("GET", f"{RECORD}/salesOrder/77"),
        ("PATCH", f"{RECORD}/salesOrder/77"),
        ("GET", f"{RECORD}/salesOrder/77"),
    ]
    assert body_of(fake.api_requests[1]) == {"status": {"id": "C"}}
    assert {r.headers["x-correlation-id"] for r in fake.api_requests} == {"cancel-1"}
    assert order.status == "Cancelled"


async def test_cancelling_a_cancelled_order_writes_nothing() -> None:
    fake = FakeNetSuite(lambda request: raw_json(200, CANCELLED_JSON))
    client = fake.client()
    order = await client.cancel_sales_order("77")
    await client.aclose()
    assert [r.method for r in fake.api_requests] == ["GET"]
    assert order.status == "Cancelled"


async def test_cancel_refused_when_billed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH":
            detail = "Sales order SO1042 has been billed and cannot be cancelled."
            return ns_error(400, "USER_ERROR", detail, "status")
        return raw_json(200, ORDER_JSON)

    client = FakeNetSuite(handler).client()
    with pytest.raises(RejectedError) as info:
        await client.cancel_sales_order("77")
    await client.aclose()
    assert info.value.code == "USER_ERROR" and "billed" in info.value.message
    assert info.value.fields == ("status",)


LINE = SalesOrderLine(
    item_id="4",
    sku="SL-SUPPORT-PREMIUM",
    quantity=Decimal("2"),
    rate=Money(amount=Decimal("4800.00"), currency="USD"),
)


async def test_amend_replaces_the_item_sublist() -> None:
    counting = CountingGovernor()
    answers = iter([ORDER_JSON, None, ORDER_JSON])

    def handler(request: httpx.Request) -> httpx.Response:
        answer = next(answers)
        return httpx.Response(204) if answer is None else raw_json(200, answer)

    fake = FakeNetSuite(handler)
    client = fake.client(counting)
    await client.amend_sales_order("77", [LINE])
    await client.aclose()
    assert [r.method for r in fake.api_requests] == ["GET", "PATCH", "GET"]
    sent = fake.api_requests[1].content.decode()
    assert sent == ('{"item":{"items":[{"item":{"id":"4"},"quantity":2,"rate":4800.00}]}}')
    assert counting.slots == len(fake.requests) and counting.held == 0


async def test_amend_with_the_same_lines_writes_nothing() -> None:
    fake = FakeNetSuite(lambda request: raw_json(200, ORDER_JSON))
    client = fake.client()
    same = SalesOrderLine(
        item_id="3",
        sku="SL-SEAT-PRO",
        quantity=Decimal("3"),
        rate=Money(amount=Decimal("10000000000000000.10"), currency="USD"),
    )
    order = await client.amend_sales_order("77", [same])
    await client.aclose()
    assert [r.method for r in fake.api_requests] == ["GET"] and order.id == "77"


async def test_amend_refusals() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH":
            return ns_error(400, "USER_ERROR", "Sales order SO1042 has been billed.", "item")
        return raw_json(200, ORDER_JSON)

    fake = FakeNetSuite(handler)
    client = fake.client()
    with pytest.raises(RejectedError) as billed:
        await client.amend_sales_order("77", [LINE])
    euro = LINE.model_copy(update={"rate": Money(amount=Decimal(1), currency="EUR")})
    with pytest.raises(RejectedError) as currency:
        await client.amend_sales_order("77", [euro])
    await client.aclose()
    assert billed.value.fields == ("item",)
    assert "EUR" in currency.value.message
    assert [r.method for r in fake.api_requests] == ["GET", "PATCH", "GET"]  # no 2nd PATCH


async def test_changes_hold_a_governor_slot_per_request() -> None:
    handler, _ = suiteql(
        {
            "transaction": lambda q: [
                {
                    "id": "1",
                    "tranid": "SO1",
                    "entity": "2",
                    "status": "B",
                    "foreigntotal": 1,
                    "currency": "USD",
                    "lastmodifieddate": "2026-11-20T10:00:00Z",
                }
            ],
            "transactionline": lambda q: [
                {"transaction": "1", "item": "3", "quantity": -1, "rate": 1, "memo": None}
            ],
            "item": lambda q: [{"id": "3", "itemid": "X"}],
            "systemnote": lambda q: [],
        }
    )
    counting = CountingGovernor()
    fake = FakeNetSuite(handler)
    client = fake.client(counting)
    with correlation_scope("feed-1"):
        await client.changes(ChangeKind.ORDER, AFTER, 10)
    await client.aclose()
    assert counting.slots == len(fake.requests) == 5  # token + 4 queries
    assert {r.headers.get("x-correlation-id") for r in fake.requests} == {"feed-1"}


def _order_row(order_id: str, letter: str) -> dict[str, Any]:
    return {
        "id": order_id,
        "tranid": f"SO{order_id}",
        "externalid": f"OPP-{order_id}",
        "entity": "2",
        "status": letter,
        "foreigntotal": 10,
        "currency": "USD",
        "lastmodifieddate": "2026-11-22T10:00:00Z",
    }


async def test_system_notes_date_approvals_and_tell_rejections_from_closures() -> None:
    orders = [
        _order_row("1", "B"),  # approved
        _order_row("2", "H"),  # closed from Pending Approval: rejected
        _order_row("3", "H"),  # approved, then closed: an ordinary closure
        _order_row("4", "A"),  # still waiting
        _order_row("5", "B"),  # never held (no note)
    ]
    notes = [
        {"recordid": "1", "newvalue": "Pending Fulfillment", "date": "2026-11-21T09:30:00Z"},
        {"recordid": "2", "newvalue": "Closed", "date": "2026-11-21T09:31:00Z"},
        {"recordid": "3", "newvalue": "Pending Fulfillment", "date": "2026-11-21T09:32:00Z"},
    ]

    def transactions(q: str) -> list[dict[str, Any]]:
        if "custbody_rejection_reason" in q:
            assert "WHERE id IN (2)" in q  # only the rejected order's reason is read
            return [{"id": "2", "custbody_rejection_reason": "credit hold"}]
        return orders

    handler, _ = suiteql(
        {
            "transaction": transactions,
            "transactionline": lambda q: [],
            "systemnote": lambda q: notes,
        }
    )
    client = FakeNetSuite(handler).client()
    changes = (await client.changes(ChangeKind.ORDER, AFTER, 10)).changes
    await client.aclose()
    by_id = {c.id: c for c in changes if isinstance(c, OrderChange)}
    assert by_id["1"].status is OrderStatus.OPEN
    assert by_id["1"].approved_at == datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
    assert (by_id["2"].status, by_id["2"].rejection_reason) == (OrderStatus.REJECTED, "credit hold")
    assert by_id["3"].status is OrderStatus.CLOSED
    assert by_id["3"].approved_at == datetime(2026, 11, 21, 9, 32, tzinfo=UTC)
    assert by_id["4"].status is OrderStatus.PENDING_APPROVAL and by_id["4"].approved_at is None
    assert by_id["5"].approved_at is None


@pytest.mark.parametrize(
    ("decisions", "expected"),
    [
        (["Closed"], (True, "credit hold")),
        (["Closed", "Pending Approval", "Pending Fulfillment"], (False, None)),
        (["Pending Fulfillment", "Closed"], (True, "credit hold")),
        ([], (False, None)),
    ],
)
async def test_a_found_closed_order_is_told_rejected_by_its_last_decision(
    decisions: list[str], expected: tuple[bool, str | None]
) -> None:
    # A run that finds the order by its key (a replay) reads the same notes the feed does.
    asked: list[str] = []

    async def query(q: str) -> list[dict[str, Any]]:
        asked.append(q)
        if "custbody_rejection_reason" in q:
            return [{"id": "7", "custbody_rejection_reason": "credit hold"}]
        assert "recordid IN (7)" in q
        return [{"recordid": "7", "newvalue": v, "date": "2026-11-21T09:31:00Z"} for v in decisions]

    assert await approval.rejection("7", query) == expected
    assert len(asked) == (2 if expected[0] else 1)  # the reason only for a rejection


async def test_fulfilments_say_what_shipped_and_whether_the_order_is_complete() -> None:
    fulfilments = [
        {
            "id": "21",
            "tranid": "IF1",
            "createdfrom": "7",
            "trandate": "2026-11-22",
            "lastmodifieddate": "2026-11-22T10:00:00Z",
        },
        {
            "id": "22",
            "tranid": "IF2",
            "createdfrom": "7",
            "trandate": "2026-11-23",
            "lastmodifieddate": "2026-11-23T10:00:00Z",
        },
    ]
    lines = [
        {"transaction": "7", "item": "3", "quantity": -5},
        {"transaction": "7", "item": "4", "quantity": -1},
        {"transaction": "21", "item": "3", "quantity": -2},
        {"transaction": "22", "item": "3", "quantity": -3},
        {"transaction": "22", "item": "4", "quantity": -1},
    ]

    def transactions(q: str) -> list[dict[str, Any]]:
        if "type = 'ItemShip' AND status = 'C' AND createdfrom IN (7)" in q:
            return [{"id": "21", "createdfrom": "7"}, {"id": "22", "createdfrom": "7"}]
        if "type = 'ItemShip'" in q:
            return fulfilments
        return [{"id": "7", "tranid": "SO7", "externalid": "OPP-7"}]

    handler, _ = suiteql(
        {
            "transaction": transactions,
            "transactionline": lambda q: lines,
            "item": lambda q: [{"id": "3", "itemid": "SL-SEAT-PRO"}, {"id": "4", "itemid": "X"}],
        }
    )
    client = FakeNetSuite(handler).client()
    changes = (await client.changes(ChangeKind.FULFILMENT, AFTER, 10)).changes
    await client.aclose()
    first, second = changes
    assert isinstance(first, FulfilmentChange) and isinstance(second, FulfilmentChange)
    assert (first.erp_order_id, first.order_number, first.crm_opportunity_id) == (
        "7",
        "SO7",
        "OPP-7",
    )
    assert [(line.sku, line.quantity) for line in first.lines] == [("SL-SEAT-PRO", Decimal(2))]
    assert first.fulfilment_date == date(2026, 11, 22)
    assert (first.complete, second.complete) == (False, True)
    assert first.order_status == "Partially Fulfilled" and second.order_status == "Fulfilled"
