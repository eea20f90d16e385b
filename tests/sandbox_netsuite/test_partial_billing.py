"""Billing an order in parts, as NetSuite does: it stays billable until billed in full,
an invoice without lines of its own bills what is left, and voiding one of its invoices
makes it billable again."""

from __future__ import annotations

from typing import Any

import httpx

from sandbox.netsuite.invoice_void import FINANCE_PATH

from .helpers import RECORD, create_customer, item_ids, order_body


async def _id(response: httpx.Response) -> str:
    assert response.status_code == 204, response.text
    return response.headers["location"].rsplit("/", 1)[-1]


async def _record(client: httpx.AsyncClient, kind: str, internal_id: str) -> dict[str, Any]:
    response = await client.get(f"{RECORD}/{kind}/{internal_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_an_order_billed_in_two_invoices(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    item = (await item_ids(client))["SL-ONBOARDING"]
    order = await _id(
        await client.put(f"{RECORD}/salesOrder/eid:OPP-P", json=order_body(customer, item))
    )
    [line] = (await _record(client, "salesOrder", order))["item"]["items"]
    part = {"item": {"id": item}, "quantity": 1, "rate": line["rate"]}
    first = await _id(
        await client.post(
            f"{RECORD}/invoice",
            json={"createdFrom": {"id": order}, "item": {"items": [part]}},
        )
    )
    assert (await _record(client, "salesOrder", order))["status"]["refName"] != "Billed"
    rest = await _id(await client.post(f"{RECORD}/invoice", json={"createdFrom": {"id": order}}))
    [left] = (await _record(client, "invoice", rest))["item"]["items"]
    assert left["quantity"] == line["quantity"] - 1
    assert (await _record(client, "salesOrder", order))["status"]["refName"] == "Billed"
    refused = await client.post(f"{RECORD}/invoice", json={"createdFrom": {"id": order}})
    assert refused.status_code == 400, refused.text

    voided = await client.post(f"{FINANCE_PATH}/invoice/{first}/void")
    assert voided.status_code == 204, voided.text
    assert (await _record(client, "salesOrder", order))["status"]["refName"] == "Pending Billing"
    again = await _id(await client.post(f"{RECORD}/invoice", json={"createdFrom": {"id": order}}))
    [billed] = (await _record(client, "invoice", again))["item"]["items"]
    assert billed["quantity"] == 1
