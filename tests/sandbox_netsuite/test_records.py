"""The REST record API: create, read, update, upsert, delete, and the shapes."""

from __future__ import annotations

import re
from decimal import Decimal

import httpx

from models import exact_json

from .helpers import (
    RECORD,
    create_customer,
    get_token,
    item_ids,
    order_body,
)

ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


async def test_customer_create_read_update_delete(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"{RECORD}/customer",
        json={
            "companyName": "Globex",
            "email": "ap@globex.example",
            "externalId": "ACC-9",
            "currency": {"refName": "EUR"},
            "custentity_tax_id": "DE123",
            "addressBook": {
                "items": [
                    {
                        "addressBookAddress": {
                            "addr1": "1 Main St",
                            "city": "Berlin",
                            "zip": "10115",
                            "country": "DE",
                        }
                    }
                ]
            },
        },
    )
    assert response.status_code == 204
    location = response.headers["location"]
    assert location.startswith("http://netsuite.test/services/rest/record/v1/customer/")
    internal_id = location.rsplit("/", 1)[-1]

    by_id = (await client.get(f"{RECORD}/customer/{internal_id}")).json()
    by_eid = (await client.get(f"{RECORD}/customer/eid:ACC-9")).json()
    assert by_id == by_eid
    assert by_id["id"] == internal_id
    assert by_id["links"] == [{"rel": "self", "href": location}]
    assert by_id["currency"] == {"id": "4", "refName": "EUR"}
    assert by_id["subsidiary"]["id"] == "1"
    assert by_id["custentity_tax_id"] == "DE123"
    assert by_id["addressBook"]["items"][0]["addressBookAddress"]["city"] == "Berlin"
    assert by_id["defaultAddress"] == "1 Main St\nBerlin 10115\nDE"
    assert ISO_UTC.match(by_id["lastModifiedDate"])

    patched = await client.patch(
        f"{RECORD}/customer/{internal_id}", json={"companyName": "Globex GmbH"}
    )
    assert patched.status_code == 204
    after = (await client.get(f"{RECORD}/customer/{internal_id}")).json()
    assert after["companyName"] == "Globex GmbH"
    assert after["email"] == "ap@globex.example"  # PATCH keeps what it does not name

    assert (await client.delete(f"{RECORD}/customer/{internal_id}")).status_code == 204
    missing = await client.get(f"{RECORD}/customer/{internal_id}")
    assert missing.status_code == 404
    assert missing.json()["o:errorDetails"][0]["o:errorCode"] == "NONEXISTENT_ID"


async def test_put_by_external_id_creates_then_updates(client: httpx.AsyncClient) -> None:
    first = await client.put(f"{RECORD}/customer/eid:ACC-1", json={"companyName": "A"})
    second = await client.put(f"{RECORD}/customer/eid:ACC-1", json={"companyName": "B"})
    assert first.status_code == second.status_code == 204
    assert first.headers["location"] == second.headers["location"]
    record = (await client.get(f"{RECORD}/customer/eid:ACC-1")).json()
    assert (record["companyName"], record["externalId"]) == ("B", "ACC-1")


async def test_external_ids_with_slashes_and_spaces(client: httpx.AsyncClient) -> None:
    response = await client.put(f"{RECORD}/customer/eid:a%2Fb%20c", json={"companyName": "X"})
    assert response.status_code == 204
    record = (await client.get(f"{RECORD}/customer/eid:a%2Fb%20c")).json()
    assert record["externalId"] == "a/b c"


async def test_sales_order_shape_and_exact_money(client: httpx.AsyncClient) -> None:
    customer_id = await create_customer(client)
    items = await item_ids(client)
    body = exact_json.dumps(
        {
            "externalId": "OPP-1",
            "entity": {"id": customer_id},
            "tranDate": "2026-11-20",
            "memo": "from the CRM",
            "item": {
                "items": [
                    {"item": {"id": items["SL-SEAT-PRO"]}, "quantity": 3, "rate": Decimal("0.1")},
                    {"item": {"id": items["SL-API-CALLS-1M"]}, "quantity": Decimal("1.5")},
                ]
            },
        }
    )
    response = await client.post(
        f"{RECORD}/salesOrder", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 204, response.text
    raw = (await client.get(response.headers["location"])).text
    # Money is written digit for digit: 3 x 0.1 = 0.30, 1.5 x 349.99 = 524.985 -> 524.99.
    assert '"amount":0.30' in raw
    assert '"amount":524.99' in raw
    assert '"total":525.29' in raw
    order = httpx.Response(200, content=raw).json()
    assert re.fullmatch(r"SO\d+", order["tranId"])
    assert order["status"] == {"id": "B", "refName": "Pending Fulfillment"}
    assert order["entity"] == {"id": customer_id, "refName": "Acme Corp"}
    assert order["currency"]["refName"] == "USD"
    assert order["tranDate"] == "2026-11-20"
    assert order["item"]["items"][0]["item"] == {
        "id": items["SL-SEAT-PRO"],
        "refName": "SL-SEAT-PRO",
    }
    assert order["item"]["items"][1]["rate"] == 349.99  # the item's base price


async def test_tran_ids_are_assigned_in_sequence(client: httpx.AsyncClient) -> None:
    customer_id = await create_customer(client)
    item = (await item_ids(client))["SL-ONBOARDING"]
    numbers = []
    for _ in range(3):
        response = await client.post(f"{RECORD}/salesOrder", json=order_body(customer_id, item))
        numbers.append((await client.get(response.headers["location"])).json()["tranId"])
    values = [int(n[2:]) for n in numbers]
    assert values == sorted(values) and len(set(values)) == 3


async def test_invoice_bills_the_order_and_payment_settles_it(client: httpx.AsyncClient) -> None:
    customer_id = await create_customer(client)
    item = (await item_ids(client))["SL-ONBOARDING"]
    order = await client.put(f"{RECORD}/salesOrder/eid:OPP-7", json=order_body(customer_id, item))
    order_id = order.headers["location"].rsplit("/", 1)[-1]
    invoice = await client.post(
        f"{RECORD}/invoice", json={"createdFrom": {"id": order_id}, "tranDate": "2026-11-21"}
    )
    assert invoice.status_code == 204, invoice.text
    invoice_body = (await client.get(invoice.headers["location"])).json()
    assert invoice_body["total"] == 10000 and invoice_body["amountRemaining"] == 10000
    assert invoice_body["status"]["refName"] == "Open"
    assert invoice_body["tranId"].startswith("INV")
    so = (await client.get(f"{RECORD}/salesOrder/{order_id}")).json()
    assert so["status"]["refName"] == "Billed"

    invoice_id = invoice_body["id"]
    too_much = await client.post(
        f"{RECORD}/customerPayment", json={"createdFrom": {"id": invoice_id}, "payment": 10000.01}
    )
    assert too_much.status_code == 400
    for amount in ("4000.00", "6000.00"):
        paid = await client.post(
            f"{RECORD}/customerPayment",
            content=exact_json.dumps(
                {
                    "createdFrom": {"id": invoice_id},
                    "payment": Decimal(amount),
                    "tranDate": "2026-11-22",
                }
            ),
            headers={"Content-Type": "application/json"},
        )
        assert paid.status_code == 204, paid.text
    settled = (await client.get(f"{RECORD}/invoice/{invoice_id}")).json()
    assert settled["amountRemaining"] == 0
    assert settled["status"]["refName"] == "Paid In Full"


async def test_dependent_records_block_deletes(client: httpx.AsyncClient) -> None:
    customer_id = await create_customer(client)
    item = (await item_ids(client))["SL-ONBOARDING"]
    await client.post(f"{RECORD}/salesOrder", json=order_body(customer_id, item))
    for path in (f"customer/{customer_id}", f"inventoryItem/{item}"):
        response = await client.delete(f"{RECORD}/{path}")
        assert response.status_code == 400
        assert "dependent records" in response.json()["o:errorDetails"][0]["detail"]


async def test_list_and_unknown_things(client: httpx.AsyncClient) -> None:
    listing = (await client.get(f"{RECORD}/inventoryItem", params={"limit": 3})).json()
    assert listing["count"] == 3 and listing["hasMore"] and listing["totalResults"] == 8
    assert (await client.get(f"{RECORD}/salesOrder/999")).status_code == 404
    assert (await client.get(f"{RECORD}/salesOrder/eid:nope")).status_code == 404
    assert (await client.get(f"{RECORD}/widget/1")).status_code == 404
    put_by_id = await client.put(f"{RECORD}/customer/12", json={"companyName": "X"})
    assert put_by_id.status_code == 400


async def test_record_type_names_are_case_insensitive(client: httpx.AsyncClient) -> None:
    assert (await client.get(f"{RECORD}/INVENTORYITEM/1")).status_code == 200


async def test_requests_need_a_valid_credential(app: object) -> None:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "OAuth"}):
            response = await http.get(f"{RECORD}/customer/1", headers=headers)
            assert response.status_code == 401
            body = response.json()
            assert body["status"] == 401
            assert body["o:errorDetails"][0]["o:errorCode"] == "INVALID_LOGIN"
        token = await get_token(http)
        ok = await http.get(
            f"{RECORD}/inventoryItem/1", headers={"Authorization": f"Bearer {token}"}
        )
        assert ok.status_code == 200
