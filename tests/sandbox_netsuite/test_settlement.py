"""The sandbox's credit memos, payments applied to several invoices, refunds and voids,
with the rules a NetSuite user meets, and the link rows SuiteQL answers with."""

from __future__ import annotations

from typing import Any

import httpx

from sandbox.netsuite.invoice_void import FINANCE_PATH

from .helpers import RECORD, SUITEQL, create_customer, item_ids, order_body


async def _id(response: httpx.Response) -> str:
    assert response.status_code == 204, response.text
    return response.headers["location"].rsplit("/", 1)[-1]


async def _invoiced_order(client: httpx.AsyncClient, customer_id: str, eid: str) -> str:
    """An order of 10,000 (2 x onboarding), billed in full; the invoice's id."""
    item = (await item_ids(client))["SL-ONBOARDING"]
    order_id = await _id(
        await client.put(f"{RECORD}/salesOrder/eid:{eid}", json=order_body(customer_id, item))
    )
    return await _id(
        await client.post(
            f"{RECORD}/invoice", json={"createdFrom": {"id": order_id}, "tranDate": "2026-11-21"}
        )
    )


async def _record(client: httpx.AsyncClient, kind: str, internal_id: str) -> dict[str, Any]:
    response = await client.get(f"{RECORD}/{kind}/{internal_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _refused(response: httpx.Response, words: str) -> None:
    assert response.status_code == 400, response.text
    assert words in response.json()["o:errorDetails"][0]["detail"]


async def _links(client: httpx.AsyncClient, settling_id: str) -> list[tuple[str, str, float]]:
    response = await client.post(
        SUITEQL,
        json={
            "q": "SELECT previousdoc, nexttype, foreignamount FROM NextTransactionLineLink "
            f"WHERE linktype = 'Payment' AND nextdoc IN ({settling_id})"
        },
    )
    assert response.status_code == 200, response.text
    return [(r["previousdoc"], r["nexttype"], r["foreignamount"]) for r in response.json()["items"]]


async def test_one_payment_applied_to_two_invoices(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    first = await _invoiced_order(client, customer, "OPP-A")
    second = await _invoiced_order(client, customer, "OPP-B")
    payment = await _id(
        await client.post(
            f"{RECORD}/customerPayment",
            json={
                "customer": {"id": customer},
                "payment": 15000,
                "tranDate": "2026-11-25",
                "apply": {
                    "items": [
                        {"doc": {"id": first}, "apply": True, "amount": 10000},
                        {"doc": {"id": second}, "apply": True, "amount": 4000},
                    ]
                },
            },
        )
    )
    assert (await _record(client, "invoice", first))["status"]["refName"] == "Paid In Full"
    assert (await _record(client, "invoice", second))["amountRemaining"] == 6000
    body = await _record(client, "customerPayment", payment)
    assert (body["applied"], body["unapplied"]) == (14000, 1000)
    assert sorted(await _links(client, payment)) == sorted(
        [(first, "CustPymt", 10000), (second, "CustPymt", 4000)]
    )


async def test_a_payment_cannot_apply_more_than_is_due_or_than_it_pays(
    client: httpx.AsyncClient,
) -> None:
    customer = await create_customer(client)
    invoice = await _invoiced_order(client, customer, "OPP-A")

    def paying(payment: float, amount: float) -> dict[str, Any]:
        return {
            "customer": {"id": customer},
            "payment": payment,
            "apply": {"items": [{"doc": {"id": invoice}, "amount": amount}]},
        }

    _refused(
        await client.post(f"{RECORD}/customerPayment", json=paying(20000, 10000.01)),
        "exceeds the amount remaining",
    )
    _refused(
        await client.post(f"{RECORD}/customerPayment", json=paying(100, 200)),
        "exceeds the payment amount",
    )
    assert (await _record(client, "invoice", invoice))["amountRemaining"] == 10000


async def test_currency_and_customer_must_match(client: httpx.AsyncClient) -> None:
    usd = await create_customer(client)
    invoice = await _invoiced_order(client, usd, "OPP-A")
    eur = await create_customer(client, eid="ACC-EUR", currency="EUR", name="Euro GmbH")
    _refused(
        await client.post(
            f"{RECORD}/customerPayment",
            json={
                "customer": {"id": eur},
                "payment": 10,
                "apply": {"items": [{"doc": {"id": invoice}, "amount": 10}]},
            },
        ),
        "another customer",
    )
    _refused(
        await client.post(
            f"{RECORD}/customerPayment",
            json={"customer": {"id": usd}, "currency": {"refName": "EUR"}, "payment": 10},
        ),
        "is not the currency of customer",
    )


async def test_credit_memo_from_an_invoice_applied_then_refunded(
    client: httpx.AsyncClient,
) -> None:
    customer = await create_customer(client)
    invoice = await _invoiced_order(client, customer, "OPP-A")
    item = (await item_ids(client))["SL-ONBOARDING"]
    memo = await _id(
        await client.post(
            f"{RECORD}/creditMemo",
            json={
                "createdFrom": {"id": invoice},
                "tranDate": "2026-11-23",
                "item": {"items": [{"item": {"id": item}, "quantity": 1}]},
                "apply": {"items": [{"doc": {"id": invoice}, "amount": 3000}]},
            },
        )
    )
    credit = await _record(client, "creditMemo", memo)
    assert (credit["total"], credit["applied"], credit["amountRemaining"]) == (5000, 3000, 2000)
    assert credit["createdFrom"]["id"] == invoice
    assert (await _record(client, "invoice", invoice))["amountRemaining"] == 7000
    assert await _links(client, memo) == [(invoice, "CustCred", 3000)]

    _refused(
        await client.post(
            f"{RECORD}/customerRefund",
            json={
                "customer": {"id": customer},
                "apply": {"items": [{"doc": {"id": memo}, "amount": 2500}]},
            },
        ),
        "exceeds the amount remaining 2000",
    )
    refund = await _id(
        await client.post(
            f"{RECORD}/customerRefund",
            json={
                "customer": {"id": customer},
                "tranDate": "2026-11-24",
                "apply": {"items": [{"doc": {"id": memo}, "amount": 2000}]},
            },
        )
    )
    assert (await _record(client, "customerRefund", refund))["total"] == 2000
    assert (await _record(client, "creditMemo", memo))["status"]["refName"] == "Fully Applied"
    assert await _links(client, refund) == [(memo, "CustRfnd", 2000)]
    # A credit memo a refund paid out is not deleted from under it.
    _refused(await client.delete(f"{RECORD}/creditMemo/{memo}"), "dependent records")


async def test_a_credit_memo_cannot_credit_more_than_it_holds(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    first = await _invoiced_order(client, customer, "OPP-A")
    second = await _invoiced_order(client, customer, "OPP-B")
    item = (await item_ids(client))["SL-ONBOARDING"]
    _refused(
        await client.post(
            f"{RECORD}/creditMemo",
            json={
                "entity": {"id": customer},
                "item": {"items": [{"item": {"id": item}, "quantity": 1}]},
                "apply": {
                    "items": [
                        {"doc": {"id": first}, "amount": 3000},
                        {"doc": {"id": second}, "amount": 3000},
                    ]
                },
            },
        ),
        "exceed the credit memo's total",
    )


async def test_void_zeroes_the_invoice_and_reopens_its_order(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    invoice = await _invoiced_order(client, customer, "OPP-A")
    voided = await client.post(f"{FINANCE_PATH}/invoice/{invoice}/void")
    assert voided.status_code == 204, voided.text
    body = await _record(client, "invoice", invoice)
    assert body["status"] == {"id": "V", "refName": "Voided"} and body["voided"] is True
    assert (body["total"], body["amountRemaining"]) == (0, 0)
    order = await _record(client, "salesOrder", body["createdFrom"]["id"])
    assert order["status"]["refName"] == "Pending Billing"
    # A voided invoice takes no payment, no credit, and no second void.
    _refused(
        await client.post(
            f"{RECORD}/customerPayment",
            json={"createdFrom": {"id": invoice}, "payment": 1},
        ),
        "exceeds the amount remaining",
    )
    _refused(
        await client.post(
            f"{RECORD}/customerPayment",
            json={
                "customer": {"id": customer},
                "payment": 1,
                "apply": {"items": [{"doc": {"id": invoice}, "amount": 1}]},
            },
        ),
        "voided",
    )
    _refused(
        await client.post(f"{RECORD}/creditMemo", json={"createdFrom": {"id": invoice}}),
        "voided",
    )
    _refused(await client.post(f"{FINANCE_PATH}/invoice/{invoice}/void"), "already voided")


async def test_an_invoice_with_a_payment_cannot_be_voided(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    invoice = await _invoiced_order(client, customer, "OPP-A")
    await _id(
        await client.post(
            f"{RECORD}/customerPayment", json={"createdFrom": {"id": invoice}, "payment": 10}
        )
    )
    _refused(await client.post(f"{FINANCE_PATH}/invoice/{invoice}/void"), "cannot be voided")
    assert (await client.post(f"{FINANCE_PATH}/invoice/999/void")).status_code == 404


async def test_the_void_button_needs_a_login(app: Any) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://netsuite.test"
    ) as anonymous:
        response = await anonymous.post(f"{FINANCE_PATH}/invoice/1/void")
    assert response.status_code == 401


async def test_deleting_a_payment_takes_its_applications_back(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    invoice = await _invoiced_order(client, customer, "OPP-A")
    payment = await _id(
        await client.post(
            f"{RECORD}/customerPayment",
            json={
                "customer": {"id": customer},
                "payment": 10000,
                "apply": {"items": [{"doc": {"id": invoice}, "amount": 10000}]},
            },
        )
    )
    assert (await client.delete(f"{RECORD}/customerPayment/{payment}")).status_code == 204
    assert (await _record(client, "invoice", invoice))["status"]["refName"] == "Open"
    assert await _links(client, payment) == []
