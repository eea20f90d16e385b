"""ERP-style validation: NetSuite's error body, code and field path."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .helpers import RECORD, create_customer, item_ids, order_body


def error_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["type"] == "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1"
    assert body["title"] == "Bad Request" and body["status"] == 400
    detail: dict[str, Any] = body["o:errorDetails"][0]
    return detail


@pytest.fixture
async def ids(client: httpx.AsyncClient) -> dict[str, str]:
    found = await item_ids(client)
    found["customer"] = await create_customer(client)
    return found


async def post_order(client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await client.post(f"{RECORD}/salesOrder", json=body)


async def test_unknown_item(client: httpx.AsyncClient, ids: dict[str, str]) -> None:
    body = order_body(ids["customer"], ids["SL-SEAT-PRO"])
    body["item"] = {
        "items": [
            {"item": {"id": ids["SL-SEAT-PRO"]}, "quantity": 1},
            {"item": {"id": "9999"}, "quantity": 1},
        ]
    }
    error = error_of(await post_order(client, body))
    assert error["o:errorCode"] == "INVALID_KEY_OR_REF"
    assert error["o:errorPath"] == "item.items[1].item"
    assert "9999" in error["detail"]


async def test_inactive_item(client: httpx.AsyncClient, ids: dict[str, str]) -> None:
    item = ids["SL-TRAINING-DAY"]
    await client.patch(f"{RECORD}/inventoryItem/{item}", json={"isInactive": True})
    error = error_of(await post_order(client, order_body(ids["customer"], item)))
    assert (error["o:errorCode"], error["o:errorPath"]) == (
        "INVALID_KEY_OR_REF",
        "item.items[0].item",
    )


async def test_missing_and_unknown_customer(client: httpx.AsyncClient, ids: dict[str, str]) -> None:
    body = order_body("424242", ids["SL-SEAT-PRO"])
    error = error_of(await post_order(client, body))
    assert (error["o:errorCode"], error["o:errorPath"]) == ("INVALID_KEY_OR_REF", "entity")
    del body["entity"]
    error = error_of(await post_order(client, body))
    assert error["o:errorPath"] == "entity"
    assert error["o:errorCode"] == "USER_ERROR"


async def test_closed_period(client: httpx.AsyncClient, ids: dict[str, str]) -> None:
    closed = await client.post("/admin/periods/close", json={"through": "2026-10-31"})
    assert closed.json() == {"closed_through": "2026-10-31"}
    body = order_body(ids["customer"], ids["SL-SEAT-PRO"], tranDate="2026-10-15")
    error = error_of(await post_order(client, body))
    assert error["o:errorCode"] == "USER_ERROR"
    assert error["o:errorPath"] == "tranDate"
    assert "The accounting period Oct 2026 is closed" in error["detail"]
    assert (await post_order(client, {**body, "tranDate": "2026-11-01"})).status_code == 204
    await client.post("/admin/periods/open", json={})
    assert (await post_order(client, body)).status_code == 204


@pytest.mark.parametrize("quantity", [0, -1, "-0.5"])
async def test_quantity_must_be_positive(
    client: httpx.AsyncClient, ids: dict[str, str], quantity: object
) -> None:
    body = order_body(ids["customer"], ids["SL-SEAT-PRO"])
    body["item"] = {"items": [{"item": {"id": ids["SL-SEAT-PRO"]}, "quantity": quantity}]}
    error = error_of(await post_order(client, body))
    assert (error["o:errorCode"], error["o:errorPath"]) == (
        "INVALID_FLD_VALUE",
        "item.items[0].quantity",
    )


async def test_currency_must_match_the_customer(
    client: httpx.AsyncClient, ids: dict[str, str]
) -> None:
    body = order_body(ids["customer"], ids["SL-SEAT-PRO"], currency={"refName": "EUR"})
    error = error_of(await post_order(client, body))
    assert (error["o:errorCode"], error["o:errorPath"]) == ("INVALID_FLD_VALUE", "currency")
    assert "EUR" in error["detail"] and "USD" in error["detail"]


async def test_required_fields_and_shapes(client: httpx.AsyncClient, ids: dict[str, str]) -> None:
    error = error_of(await client.post(f"{RECORD}/customer", json={"email": "a@b.c"}))
    assert (error["o:errorCode"], error["o:errorPath"]) == ("USER_ERROR", "companyName")
    error = error_of(
        await post_order(client, {**order_body(ids["customer"], "1"), "item": {"items": []}})
    )
    assert error["o:errorPath"] == "item"
    error = error_of(
        await client.post(f"{RECORD}/customer", json={"companyName": "X", "favouriteColour": "red"})
    )
    assert (error["o:errorCode"], error["o:errorPath"]) == ("INVALID_CONTENT", "favouriteColour")
    error = error_of(
        await client.post(
            f"{RECORD}/customer", content=b"{not json", headers={"Content-Type": "application/json"}
        )
    )
    assert error["o:errorCode"] == "INVALID_CONTENT"
    error = error_of(
        await client.post(
            f"{RECORD}/customer", json={"companyName": "X", "currency": {"refName": "XYZ"}}
        )
    )
    assert (error["o:errorCode"], error["o:errorPath"]) == ("INVALID_KEY_OR_REF", "currency")


async def test_duplicates_are_refused(client: httpx.AsyncClient, ids: dict[str, str]) -> None:
    error = error_of(await client.post(f"{RECORD}/inventoryItem", json={"itemId": "SL-SEAT-PRO"}))
    assert (error["o:errorCode"], error["o:errorPath"]) == ("DUP_ITEM", "itemId")
    error = error_of(
        await client.post(
            f"{RECORD}/customer", json={"companyName": "Again", "externalId": "ACC-1"}
        )
    )
    assert error["o:errorCode"] == "DUP_RCRD"


async def test_custom_fields_are_kept(client: httpx.AsyncClient, ids: dict[str, str]) -> None:
    response = await post_order(
        client, order_body(ids["customer"], ids["SL-SEAT-PRO"], custbody_crm_opportunity="006XYZ")
    )
    assert response.status_code == 204
    order = (await client.get(response.headers["location"])).json()
    assert order["custbody_crm_opportunity"] == "006XYZ"
