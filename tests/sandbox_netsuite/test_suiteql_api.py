"""SuiteQL over HTTP: the response shape, paging, filters and errors."""

from __future__ import annotations

from typing import Any

import httpx

from .helpers import RECORD, SUITEQL, create_customer, item_ids, order_body


async def query(client: httpx.AsyncClient, q: str, **params: Any) -> dict[str, Any]:
    response = await client.post(SUITEQL, json={"q": q}, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_catalog_lookup_by_sku(client: httpx.AsyncClient) -> None:
    ids = await item_ids(client)
    await client.patch(f"{RECORD}/inventoryItem/{ids['SL-SEAT-VIEWER']}", json={"isInactive": True})
    response = await client.post(
        SUITEQL,
        json={
            "q": (
                "SELECT id, itemid, displayname, baseprice, isinactive FROM item "
                "WHERE itemid IN ('SL-SEAT-PRO', 'SL-SEAT-VIEWER', 'SL-API-CALLS-1M', 'NOPE') "
                "AND isinactive = 'F' ORDER BY itemid"
            )
        },
    )
    assert response.status_code == 200
    assert '"baseprice":349.99' in response.text  # exact number in the JSON
    body = response.json()
    assert body["count"] == 2 and body["totalResults"] == 2 and body["hasMore"] is False
    assert body["offset"] == 0
    assert [row["itemid"] for row in body["items"]] == ["SL-API-CALLS-1M", "SL-SEAT-PRO"]
    assert body["items"][0]["links"] == []
    assert body["items"][1] == {
        "links": [],
        "id": ids["SL-SEAT-PRO"],
        "itemid": "SL-SEAT-PRO",
        "displayname": "Pro seat, annual",
        "baseprice": 1188,
        "isinactive": "F",
    }


async def test_paging(client: httpx.AsyncClient) -> None:
    seen = []
    offset = 0
    while True:
        page = await query(
            client, "SELECT itemid FROM item ORDER BY baseprice DESC", limit=3, offset=offset
        )
        assert page["totalResults"] == 8
        seen += [row["itemid"] for row in page["items"]]
        if not page["hasMore"]:
            break
        assert any(link["rel"] == "next" for link in page["links"])
        offset += page["count"]
    assert len(seen) == 8 and seen[0] == "SL-PLATFORM-ANNUAL" and seen[-1] == "SL-SEAT-VIEWER"


async def test_select_star_and_or_like_money(client: httpx.AsyncClient) -> None:
    rows = (
        await query(
            client,
            "SELECT * FROM item WHERE (itemid LIKE 'SL-SEAT%' OR "
            "baseprice >= 24000) AND NOT itemid = 'SL-SEAT-VIEWER'",
        )
    )["items"]
    assert sorted(r["itemid"] for r in rows) == ["SL-PLATFORM-ANNUAL", "SL-SEAT-PRO"]
    assert {"id", "itemid", "itemtype", "lastmodifieddate", "externalid"} <= set(rows[0])
    exact = await query(client, "SELECT itemid FROM item WHERE baseprice = 349.99")
    assert [r["itemid"] for r in exact["items"]] == ["SL-API-CALLS-1M"]


async def test_transactions_and_timestamps(client: httpx.AsyncClient) -> None:
    customer_id = await create_customer(client)
    item = (await item_ids(client))["SL-SEAT-PRO"]
    await client.put(f"{RECORD}/salesOrder/eid:OPP-1", json=order_body(customer_id, item))
    rows = (
        await query(
            client,
            (
                "SELECT id, tranid, type, entity, status, foreigntotal, currency, trandate, "
                "externalid, lastmodifieddate FROM transaction WHERE type = 'SalesOrd' "
                f"AND entity = {customer_id} AND lastmodifieddate >= "
                "TO_TIMESTAMP('2020-01-01 00:00:00', 'YYYY-MM-DD HH24:MI:SS')"
            ),
        )
    )["items"]
    assert len(rows) == 1
    row = rows[0]
    assert (
        row["type"],
        row["entity"],
        row["status"],
        row["currency"],
        row["trandate"],
        row["externalid"],
    ) == ("SalesOrd", customer_id, "B", "1", "2026-11-20", "OPP-1")
    assert row["foreigntotal"] == 2376
    later = await query(
        client, "SELECT id FROM transaction WHERE lastmodifieddate > '2999-01-01T00:00:00Z'"
    )
    assert later["count"] == 0
    by_date = await query(
        client, "SELECT id FROM transaction WHERE trandate >= TO_DATE('2026-11-20', 'YYYY-MM-DD')"
    )
    assert by_date["count"] == 1
    empty = await query(client, "SELECT id FROM customer WHERE custentity_tax_id IS NULL")
    assert empty["count"] == 1


async def test_currencies_are_internal_ids_named_in_the_currency_table(
    client: httpx.AsyncClient,
) -> None:
    """As on a real account: a record's currency is the currency's internal id, and
    ``currency.symbol`` is its ISO code."""
    await create_customer(client, "ACC-EUR", currency="EUR", name="Euro GmbH")
    (row,) = (await query(client, "SELECT currency FROM customer WHERE externalid = 'ACC-EUR'"))[
        "items"
    ]
    currencies = (await query(client, "SELECT id, symbol, isbasecurrency FROM currency"))["items"]
    by_id = {c["id"]: c for c in currencies}
    assert by_id[row["currency"]]["symbol"] == "EUR"
    assert [c["symbol"] for c in currencies if c["isbasecurrency"] == "T"] == ["USD"]
    euro_id = row["currency"]
    found = await query(client, f"SELECT companyname FROM customer WHERE currency = {euro_id}")
    assert [r["companyname"] for r in found["items"]] == ["Euro GmbH"]
    refused = await client.post(
        SUITEQL, json={"q": "SELECT id FROM customer WHERE currency = 'EUR'"}
    )
    assert refused.status_code == 400


BILLING = {
    "addr1": "1 Main St",
    "addr2": "Floor 2",
    "city": "Austin",
    "state": "TX",
    "zip": "78701",
    "country": "US",
}


async def test_a_customers_default_billing_address_is_an_entityaddress_row(
    client: httpx.AsyncClient,
) -> None:
    lines = [
        {"defaultBilling": False, "addressBookAddress": {"addr1": "9 Ship St", "city": "Leeds"}},
        {"defaultBilling": True, "addressBookAddress": BILLING},
    ]
    response = await client.put(
        f"{RECORD}/customer/eid:ACC-ADDR",
        json={"companyName": "Addressed", "addressBook": {"items": lines}},
    )
    assert response.status_code == 204, response.text
    bare = await create_customer(client, "ACC-BARE", name="No Address")
    rows = (
        await query(
            client,
            "SELECT id, defaultbillingaddress FROM customer "
            "WHERE externalid IN ('ACC-ADDR', 'ACC-BARE') ORDER BY companyname",
        )
    )["items"]
    assert [(r["id"] == bare, r["defaultbillingaddress"] is None) for r in rows] == [
        (False, False),
        (True, True),
    ]
    key = rows[0]["defaultbillingaddress"]
    (address,) = (
        await query(
            client,
            "SELECT nkey, addr1, addr2, city, state, zip, country FROM entityaddress "
            f"WHERE nkey IN ({key})",
        )
    )["items"]
    assert address == {"links": [], "nkey": key, **BILLING}


async def test_query_errors(client: httpx.AsyncClient) -> None:
    bad = await client.post(SUITEQL, json={"q": "SELEC id FROM item"})
    assert bad.status_code == 400
    assert bad.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_PARAMETER"
    unknown = await client.post(SUITEQL, json={"q": "SELECT salary FROM customer"})
    assert unknown.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_SEARCH"
    no_prefer = await client.post(
        SUITEQL, json={"q": "SELECT id FROM item"}, headers={"Prefer": ""}
    )
    assert no_prefer.status_code == 400
    bad_limit = await client.post(
        SUITEQL, json={"q": "SELECT id FROM item"}, params={"limit": 5000}
    )
    assert bad_limit.status_code == 400
