"""Subscriptions started by sales orders, and the order rules a real ERP enforces."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from sandbox.netsuite import build_app

from .helpers import RECORD, SUITEQL, create_customer, get_token, item_ids, make_config

# Later than the real clock that seeded the catalog, so only the test's writes match.
T0 = datetime(2099, 1, 5, 9, 0, 0, tzinfo=UTC)


class Clock:
    """The sandbox's clock, set by the test: second-precision stamps become exact."""

    def __init__(self, app: FastAPI) -> None:
        self.now = T0
        app.state.sandbox.now = lambda: self.now

    def set(self, hour: int, minute: int = 0, second: int = 0) -> str:
        self.now = T0.replace(hour=hour, minute=minute, second=second)
        return self.now.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def clock(app: FastAPI) -> Iterator[Clock]:
    yield Clock(app)


@pytest.fixture
async def ids(client: httpx.AsyncClient) -> dict[str, str]:
    return await item_ids(client)


async def query(client: httpx.AsyncClient, q: str, **params: Any) -> list[dict[str, Any]]:
    response = await client.post(SUITEQL, json={"q": q}, params=params)
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["items"]
    return [{k: v for k, v in row.items() if k != "links"} for row in rows]


async def place_order(
    client: httpx.AsyncClient,
    customer_id: str,
    lines: list[tuple[str, int]],
    tran_date: str = "2026-11-20",
    **extra: object,
) -> str:
    response = await client.post(
        f"{RECORD}/salesOrder",
        json={
            "entity": {"id": customer_id},
            "tranDate": tran_date,
            "item": {"items": [{"item": {"id": i}, "quantity": q} for i, q in lines]},
            **extra,
        },
    )
    assert response.status_code == 204, response.text
    return response.headers["location"].rsplit("/", 1)[-1]


async def subscription_of(client: httpx.AsyncClient, order_id: str) -> dict[str, Any]:
    rows = await query(client, f"SELECT id FROM subscription WHERE salesorder = {order_id}")
    assert len(rows) == 1, rows
    response = await client.get(f"{RECORD}/subscription/{rows[0]['id']}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def error_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    detail: dict[str, Any] = response.json()["o:errorDetails"][0]
    return detail


async def invoice(client: httpx.AsyncClient, order_id: str) -> str:
    response = await client.post(
        f"{RECORD}/invoice", json={"createdFrom": {"id": order_id}, "tranDate": "2026-11-21"}
    )
    assert response.status_code == 204, response.text
    return response.headers["location"].rsplit("/", 1)[-1]


async def test_catalog_items_carry_their_term(
    client: httpx.AsyncClient, ids: dict[str, str]
) -> None:
    rows = await query(client, "SELECT itemid, custitem_term_months FROM item ORDER BY itemid")
    terms = {row["itemid"]: row["custitem_term_months"] for row in rows}
    assert terms == {
        "SL-API-CALLS-1M": None,
        "SL-ONBOARDING": None,
        "SL-PLATFORM-ANNUAL": 12,
        "SL-PLATFORM-MONTHLY": 1,
        "SL-SEAT-PRO": 12,
        "SL-SEAT-VIEWER": 12,
        "SL-SUPPORT-PREMIUM": 12,
        "SL-TRAINING-DAY": None,
    }
    seat = (await client.get(f"{RECORD}/inventoryItem/{ids['SL-SEAT-PRO']}")).json()
    assert seat["custitem_term_months"] == 12

    created = await client.post(
        f"{RECORD}/nonInventorySaleItem",
        json={"itemId": "SL-ADDON", "basePrice": 10, "custitem_term_months": 24},
    )
    assert created.status_code == 204, created.text
    recurring = await query(client, "SELECT itemid FROM item WHERE custitem_term_months = 24")
    assert recurring == [{"itemid": "SL-ADDON"}]
    for bad in (0, "12", 1.5, True, 121):
        refused = await client.post(
            f"{RECORD}/nonInventorySaleItem",
            json={"itemId": f"SL-BAD-{bad}", "custitem_term_months": bad},
        )
        assert error_of(refused)["o:errorPath"] == "custitem_term_months", bad


async def test_order_with_recurring_items_starts_one_subscription(
    client: httpx.AsyncClient, ids: dict[str, str], clock: Clock
) -> None:
    stamp = clock.set(9)
    customer_id = await create_customer(client)
    order_id = await place_order(
        client,
        customer_id,
        [(ids["SL-SEAT-PRO"], 2), (ids["SL-ONBOARDING"], 1), (ids["SL-PLATFORM-MONTHLY"], 1)],
    )
    order = (await client.get(f"{RECORD}/salesOrder/{order_id}")).json()
    sub = await subscription_of(client, order_id)
    assert sub["name"] == f"{order['tranId']} subscription"
    assert sub["customer"] == {"id": customer_id, "refName": "Acme Corp"}
    assert sub["salesOrder"] == {"id": order_id, "refName": f"Sales Order #{order['tranId']}"}
    assert sub["startDate"] == "2026-11-20"
    assert sub["endDate"] == "2027-11-19"  # the longest term: 12 months less a day
    assert sub["billingSubscriptionStatus"] == {"id": "ACTIVE", "refName": "Active"}
    assert sub["recurringAmount"] == 2 * 1188 + 2200  # the one-time onboarding is not
    assert sub["currency"]["refName"] == "USD"
    assert sub["lastModifiedDate"] == stamp == order["lastModifiedDate"]
    assert [line["termMonths"] for line in sub["subscriptionLine"]["items"]] == [12, 1]

    rows = await query(client, f"SELECT * FROM subscription WHERE id = {sub['id']}")
    assert rows == [
        {
            "id": sub["id"],
            "externalid": None,
            "datecreated": stamp,
            "lastmodifieddate": stamp,
            "customer": customer_id,
            "salesorder": order_id,
            "name": sub["name"],
            "startdate": "2026-11-20",
            "enddate": "2027-11-19",
            "status": "ACTIVE",
            "recurringamount": 4576,
            "currency": "1",  # SuiteQL answers the internal id
        }
    ]
    listing = (await client.get(f"{RECORD}/subscription")).json()
    assert listing["totalResults"] == 1 and listing["items"][0]["id"] == sub["id"]
    stats = (await client.get("/admin/stats")).json()
    assert stats["counts"]["subscription"] == 1


async def test_monthly_term_and_one_time_orders(
    client: httpx.AsyncClient, ids: dict[str, str]
) -> None:
    customer_id = await create_customer(client)
    one_time = await place_order(
        client, customer_id, [(ids["SL-ONBOARDING"], 1), (ids["SL-TRAINING-DAY"], 2)]
    )
    assert await query(client, f"SELECT id FROM subscription WHERE salesorder = {one_time}") == []
    monthly = await place_order(
        client, customer_id, [(ids["SL-PLATFORM-MONTHLY"], 1)], tran_date="2026-03-15"
    )
    sub = await subscription_of(client, monthly)
    assert (sub["startDate"], sub["endDate"]) == ("2026-03-15", "2026-04-14")
    assert (await client.post(f"{RECORD}/subscription", json={"name": "x"})).status_code == 400


async def test_patch_end_date_and_terminate(
    client: httpx.AsyncClient, ids: dict[str, str], clock: Clock
) -> None:
    clock.set(9)
    customer_id = await create_customer(client)
    order_id = await place_order(client, customer_id, [(ids["SL-SEAT-PRO"], 1)])
    sub = await subscription_of(client, order_id)
    path = f"{RECORD}/subscription/{sub['id']}"

    stamp = clock.set(10)
    assert (await client.patch(path, json={"endDate": "2028-11-19"})).status_code == 204
    rows = await query(
        client, f"SELECT enddate, lastmodifieddate, status FROM subscription WHERE id = {sub['id']}"
    )
    assert rows == [{"enddate": "2028-11-19", "lastmodifieddate": stamp, "status": "ACTIVE"}]

    for bad in ("2026-11-20", "2026-01-01", "not a date"):
        refused = await client.patch(path, json={"endDate": bad})
        assert error_of(refused)["o:errorPath"] == "endDate", bad
    fixed = await client.patch(path, json={"startDate": "2026-12-01"})
    assert error_of(fixed)["o:errorPath"] == "startDate"
    reactivate = await client.patch(path, json={"billingSubscriptionStatus": "SUSPENDED"})
    assert error_of(reactivate)["o:errorPath"] == "billingSubscriptionStatus"
    assert (await client.delete(path)).status_code == 400

    stamp = clock.set(11)
    terminated = await client.patch(path, json={"billingSubscriptionStatus": {"id": "TERMINATED"}})
    assert terminated.status_code == 204, terminated.text
    after = (await client.get(path)).json()
    assert after["billingSubscriptionStatus"] == {"id": "TERMINATED", "refName": "Terminated"}
    assert after["lastModifiedDate"] == stamp and after["endDate"] == "2028-11-19"
    again = await client.patch(path, json={"billingSubscriptionStatus": "ACTIVE"})
    assert "Terminated" in error_of(again)["detail"]
    assert error_of(await client.patch(path, json={"endDate": "2029-01-01"}))
    renamed = await client.patch(path, json={"name": "Acme platform"})
    assert renamed.status_code == 204


async def test_cancel_and_relines_refused_once_billed(
    client: httpx.AsyncClient, ids: dict[str, str]
) -> None:
    customer_id = await create_customer(client)
    order_id = await place_order(client, customer_id, [(ids["SL-SEAT-PRO"], 2)])
    order_path = f"{RECORD}/salesOrder/{order_id}"
    await invoice(client, order_id)

    cancel = await client.patch(order_path, json={"status": {"id": "C"}})
    error = error_of(cancel)
    assert error["o:errorCode"] == "USER_ERROR" and error["o:errorPath"] == "status"
    assert "has been billed" in error["detail"]
    relined = await client.patch(
        order_path, json={"item": {"items": [{"item": {"id": ids["SL-SEAT-PRO"]}, "quantity": 3}]}}
    )
    assert "has been billed" in error_of(relined)["detail"]
    # The same lines again change nothing, so they are no refusal; nor is a new memo.
    same = await client.patch(
        order_path, json={"item": {"items": [{"item": {"id": ids["SL-SEAT-PRO"]}, "quantity": 2}]}}
    )
    assert same.status_code == 204, same.text
    assert (await client.patch(order_path, json={"memo": "billed"})).status_code == 204
    order = (await client.get(order_path)).json()
    assert order["status"]["id"] == "G"
    assert (await subscription_of(client, order_id))["billingSubscriptionStatus"]["id"] == "ACTIVE"


async def test_cancel_terminates_the_subscription(
    client: httpx.AsyncClient, ids: dict[str, str], clock: Clock
) -> None:
    clock.set(9)
    customer_id = await create_customer(client)
    order_id = await place_order(client, customer_id, [(ids["SL-PLATFORM-ANNUAL"], 1)])
    order_path = f"{RECORD}/salesOrder/{order_id}"

    stamp = clock.set(12)
    cancelled = await client.patch(order_path, json={"status": {"id": "C"}})
    assert cancelled.status_code == 204, cancelled.text
    order = (await client.get(order_path)).json()
    assert order["status"] == {"id": "C", "refName": "Cancelled"}
    assert order["lastModifiedDate"] == stamp
    sub = await subscription_of(client, order_id)
    assert sub["billingSubscriptionStatus"]["id"] == "TERMINATED"
    assert sub["lastModifiedDate"] == stamp
    rows = await query(client, f"SELECT status FROM transaction WHERE id = {order_id}")
    assert rows == [{"status": "C"}]

    reopen = await client.patch(order_path, json={"status": {"id": "B"}})
    assert "cannot be reopened" in error_of(reopen)["detail"]
    relined = await client.patch(
        order_path, json={"item": {"items": [{"item": {"id": ids["SL-SEAT-PRO"]}, "quantity": 1}]}}
    )
    assert error_of(relined)["o:errorPath"] == "item"
    # Cancelling a cancelled order again is no refusal.
    assert (await client.patch(order_path, json={"status": "C"})).status_code == 204

    fulfilled = await place_order(client, customer_id, [(ids["SL-ONBOARDING"], 1)], status="F")
    refused = await client.patch(f"{RECORD}/salesOrder/{fulfilled}", json={"status": "C"})
    assert "Pending Billing" in error_of(refused)["detail"]


async def test_amended_lines_move_the_subscription(
    client: httpx.AsyncClient, ids: dict[str, str], clock: Clock
) -> None:
    clock.set(9)
    customer_id = await create_customer(client)
    order_id = await place_order(client, customer_id, [(ids["SL-PLATFORM-MONTHLY"], 1)])
    order_path = f"{RECORD}/salesOrder/{order_id}"
    assert (await subscription_of(client, order_id))["endDate"] == "2026-12-19"

    stamp = clock.set(10)
    amended = await client.patch(
        order_path,
        json={
            "item": {
                "items": [
                    {"item": {"id": ids["SL-PLATFORM-ANNUAL"]}, "quantity": 1},
                    {"item": {"id": ids["SL-SEAT-VIEWER"]}, "quantity": 5, "rate": 200},
                ]
            }
        },
    )
    assert amended.status_code == 204, amended.text
    sub = await subscription_of(client, order_id)
    assert sub["recurringAmount"] == 24000 + 1000
    assert sub["endDate"] == "2027-11-19" and sub["lastModifiedDate"] == stamp

    clock.set(11)
    onboarding = {"item": {"id": ids["SL-ONBOARDING"]}, "quantity": 1}
    one_time = await client.patch(order_path, json={"item": {"items": [onboarding]}})
    assert one_time.status_code == 204
    assert (await subscription_of(client, order_id))["billingSubscriptionStatus"]["id"] == (
        "TERMINATED"
    )

    # Deleting the order takes its subscription with it.
    assert (await client.delete(order_path)).status_code == 204
    assert await query(client, "SELECT id FROM subscription") == []


async def test_every_update_bumps_lastmodifieddate(
    client: httpx.AsyncClient, ids: dict[str, str], clock: Clock
) -> None:
    clock.set(9)
    customer_id = await create_customer(client)
    order_id = await place_order(client, customer_id, [(ids["SL-SEAT-PRO"], 1)])
    sub_id = (await subscription_of(client, order_id))["id"]

    stamp = clock.set(13)
    for path, body in (
        (f"customer/{customer_id}", {"companyName": "Acme Inc"}),
        (f"inventoryItem/{ids['SL-SEAT-PRO']}", {"basePrice": 1200}),
        (f"salesOrder/{order_id}", {"memo": "changed"}),
        (f"subscription/{sub_id}", {"name": "renamed"}),
    ):
        response = await client.patch(f"{RECORD}/{path}", json=body)
        assert response.status_code == 204, (path, response.text)
        assert (await client.get(f"{RECORD}/{path}")).json()["lastModifiedDate"] == stamp
    since = f"lastmodifieddate >= '{stamp}'"
    assert await query(client, f"SELECT id FROM customer WHERE {since}") == [{"id": customer_id}]
    assert await query(client, f"SELECT id FROM item WHERE {since}") == [{"id": ids["SL-SEAT-PRO"]}]
    assert await query(client, f"SELECT id FROM transaction WHERE {since}") == [{"id": order_id}]
    assert await query(client, f"SELECT id FROM subscription WHERE {since}") == [{"id": sub_id}]


async def test_subscription_keyset_paging(
    client: httpx.AsyncClient, ids: dict[str, str], clock: Clock
) -> None:
    customer_id = await create_customer(client)
    stamps, orders = [], []
    for hour in (9, 9, 10):  # two share a stamp: the id breaks the tie
        stamps.append(clock.set(hour))
        orders.append(await place_order(client, customer_id, [(ids["SL-SEAT-VIEWER"], 1)]))
    subs = [(await subscription_of(client, o))["id"] for o in orders]

    seen: list[tuple[str, str]] = []
    after_stamp, after_id = "2000-01-01 00:00:00", 0
    while True:
        stamp = f"TO_TIMESTAMP('{after_stamp}', 'YYYY-MM-DD HH24:MI:SS')"
        rows = await query(
            client,
            "SELECT id, salesorder, lastmodifieddate FROM subscription WHERE "
            f"lastmodifieddate > {stamp} OR (lastmodifieddate = {stamp} AND id > {after_id}) "
            "ORDER BY lastmodifieddate, id",
            limit=1,
        )
        if not rows:
            break
        row = rows[0]
        seen.append((row["id"], row["lastmodifieddate"]))
        after_stamp = row["lastmodifieddate"].replace("T", " ").rstrip("Z")
        after_id = int(row["id"])
    assert seen == list(zip(subs, stamps, strict=True))


async def test_transaction_lines_are_queryable(
    client: httpx.AsyncClient, ids: dict[str, str]
) -> None:
    customer_id = await create_customer(client)
    order_id = await place_order(
        client, customer_id, [(ids["SL-SEAT-PRO"], 3), (ids["SL-API-CALLS-1M"], 2)]
    )
    response = await client.post(
        SUITEQL,
        json={
            "q": "SELECT transaction, linesequencenumber, item, quantity, rate, foreignamount, "
            f"memo FROM transactionline WHERE transaction IN ({order_id}) AND mainline = 'F' "
            "AND taxline = 'F' ORDER BY transaction, linesequencenumber"
        },
    )
    assert response.status_code == 200, response.text
    assert '"rate":349.99' in response.text and '"foreignamount":-699.98' in response.text
    rows = [{k: v for k, v in r.items() if k != "links"} for r in response.json()["items"]]
    assert rows == [
        {
            "transaction": order_id,
            "linesequencenumber": 1,
            "item": ids["SL-SEAT-PRO"],
            "quantity": -3,
            "rate": 1188,
            "foreignamount": -3564,
            "memo": "Pro seat, annual",
        },
        {
            "transaction": order_id,
            "linesequencenumber": 2,
            "item": ids["SL-API-CALLS-1M"],
            "quantity": -2,
            "rate": 349.99,
            "foreignamount": -699.98,
            "memo": "API call pack, 1M calls",
        },
    ]


async def test_an_older_database_learns_the_catalog_terms(db_path: Path) -> None:
    build_app(make_config(db_path)).state.sandbox.close()
    # As a database seeded before items had terms looked.
    with sqlite3.connect(db_path) as conn:
        conn.execute("ALTER TABLE item DROP COLUMN custitem_term_months")
        conn.execute("UPDATE item SET body = json_remove(body, '$.custitem_term_months')")
    conn.close()
    app = build_app(make_config(db_path))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as http:
            http.headers["Authorization"] = f"Bearer {await get_token(http)}"
            http.headers["Prefer"] = "transient"
            rows = await query(
                http, "SELECT itemid FROM item WHERE custitem_term_months IS NOT NULL"
            )
            assert len(rows) == 5
            seat = (await item_ids(http))["SL-SEAT-PRO"]
            body = (await http.get(f"{RECORD}/inventoryItem/{seat}")).json()
            assert body["custitem_term_months"] == 12
    finally:
        app.state.sandbox.close()
