"""Sales orders by external id against a scripted NetSuite: the SuiteQL sent (keyset on
``externalid``, never an offset), the mapping, and paging past SuiteQL's 1,000 rows."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from connectors.netsuite.client import SUITEQL_PAGE_SIZE
from models.changes import OrderChange, OrderStatus
from models.types import Money

from .fake import FakeNetSuite, body_of
from .test_changes import page

# Mixed-case external ids in ordinal order: upper case sorts before lower case.
EXTERNAL_IDS = sorted(["006A", "006Z", "006a", "006b", "006z", "0069", "006Zz"])


def _row(n: int, external_id: str, status: str = "B") -> dict[str, Any]:
    return {
        "id": str(100 + n),
        "tranid": f"SO{1000 + n}",
        "externalid": external_id,
        "entity": "42",
        "status": status,
        "foreigntotal": Decimal("30000000000000000.30"),
        "currency": "EUR",
        "trandate": "2026-11-20",
        "lastmodifieddate": "2026-11-20T10:00:00Z",
    }


def _after(query: str) -> str | None:
    found = re.search(r"externalid > '((?:[^']|'')*)'", query)
    return None if found is None else found.group(1).replace("''", "'")


class KeysetAccount:
    """Answers the listing as SuiteQL would: ``externalid > after`` in binary order,
    ``limit`` rows from ``offset``, ``hasMore`` when rows are left."""

    def __init__(self, external_ids: list[str]) -> None:
        self.rows = [_row(n, e) for n, e in enumerate(sorted(external_ids))]
        self.queries: list[str] = []
        self.params: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        query = body_of(request)["q"]
        self.queries.append(query)
        self.params.append(dict(request.url.params))
        after = _after(query)
        matching = [r for r in self.rows if after is None or r["externalid"] > after]
        offset, limit = int(request.url.params["offset"]), int(request.url.params["limit"])
        return page(matching[offset : offset + limit], offset + limit < len(matching))


async def test_query_shape_and_mapping_in_one_request() -> None:
    rows = [_row(1, "OPP-1", status="C"), _row(2, "OPP-2", status="G")]
    fake = FakeNetSuite(lambda request: page(rows))
    client = fake.client()
    found = await client.orders_by_reference("OPP-0", 5, since=date(2026, 1, 1))
    await client.aclose()

    [request] = fake.api_requests  # no line or item look-ups
    query = body_of(request)["q"]
    assert query == (
        "SELECT id, tranid, externalid, entity, status, foreigntotal, currency, trandate, "
        "lastmodifieddate FROM transaction WHERE type = 'SalesOrd' AND externalid IS NOT NULL "
        "AND externalid > 'OPP-0' AND externalid NOT LIKE 'OPP-0-%' "
        "AND trandate >= TO_DATE('2026-01-01', 'YYYY-MM-DD') "
        "ORDER BY externalid"
    )
    assert (request.url.params["limit"], request.url.params["offset"]) == ("5", "0")
    assert found[0] == OrderChange(
        id="101",
        order_number="SO1001",
        crm_opportunity_id="OPP-1",
        customer_id="42",
        status=OrderStatus.CANCELLED,
        erp_status="Cancelled",
        total=Money(amount=Decimal("30000000000000000.30"), currency="EUR"),
        tran_date=date(2026, 11, 20),
        lines=[],
        modified_at=datetime(2026, 11, 20, 10, tzinfo=UTC),
    )
    assert (found[1].status, found[1].erp_status) == (OrderStatus.BILLED, "Billed")


async def test_without_after_or_since_the_query_has_neither() -> None:
    fake = FakeNetSuite(lambda request: page([]))
    client = fake.client()
    assert await client.orders_by_reference(None, 3) == []
    await client.aclose()
    query = body_of(fake.api_requests[0])["q"]
    assert "externalid >" not in query and "trandate" not in query.split(" WHERE ")[1]
    assert "externalid IS NOT NULL" in query  # orders Syncline did not place are not listed


async def test_after_is_quoted() -> None:
    fake = FakeNetSuite(lambda request: page([]))
    client = fake.client()
    await client.orders_by_reference("O'Brien", 3)
    await client.aclose()
    assert "externalid > 'O''Brien'" in body_of(fake.api_requests[0])["q"]
    with pytest.raises(ValueError):
        await client.orders_by_reference(None, 0)


@pytest.mark.parametrize("limit", [1, 2, 3, 100])
async def test_pages_chain_on_the_last_external_id(limit: int) -> None:
    account = KeysetAccount(EXTERNAL_IDS)
    client = FakeNetSuite(account).client()
    seen: list[str] = []
    after: str | None = None
    for _ in range(len(EXTERNAL_IDS) + 1):
        found = await client.orders_by_reference(after, limit)
        assert len(found) <= limit
        seen += [o.crm_opportunity_id or "" for o in found]
        if len(found) < limit:
            break
        after = found[-1].crm_opportunity_id
    await client.aclose()
    assert seen == EXTERNAL_IDS
    assert seen != sorted(EXTERNAL_IDS, key=str.casefold)
    assert {p["offset"] for p in account.params} == {"0"}


async def test_more_than_one_suiteql_page_is_read_by_keyset_not_offset() -> None:
    external_ids = [f"OPP-{n:05d}" for n in range(SUITEQL_PAGE_SIZE + 300)]
    account = KeysetAccount(external_ids)
    client = FakeNetSuite(account).client()
    found = await client.orders_by_reference(None, SUITEQL_PAGE_SIZE + 200)
    await client.aclose()

    assert [o.crm_opportunity_id for o in found] == external_ids[: SUITEQL_PAGE_SIZE + 200]
    assert [p["limit"] for p in account.params] == [str(SUITEQL_PAGE_SIZE), "200"]
    assert {p["offset"] for p in account.params} == {"0"}
    assert [_after(q) for q in account.queries] == [None, external_ids[SUITEQL_PAGE_SIZE - 1]]


async def test_the_end_of_the_orders_ends_the_reading() -> None:
    account = KeysetAccount(EXTERNAL_IDS)
    client = FakeNetSuite(account).client()
    found = await client.orders_by_reference(EXTERNAL_IDS[3], SUITEQL_PAGE_SIZE * 3)
    await client.aclose()
    assert [o.crm_opportunity_id for o in found] == EXTERNAL_IDS[4:]
    assert len(account.queries) == 1  # a short page is the last
