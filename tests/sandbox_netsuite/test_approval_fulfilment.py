"""The sandbox's approval modes, the finance user's approve and reject, and item
fulfillments, with the rules NetSuite enforces on each."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from .helpers import RECORD, SUITEQL, create_customer, item_ids, order_body

APPROVE = "/admin/finance/salesOrder/{}/approve"
REJECT = "/admin/finance/salesOrder/{}/reject"
FULFIL = "/admin/finance/salesOrder/{}/fulfil"


async def _order(client: httpx.AsyncClient, customer: str, item: str, **extra: Any) -> str:
    response = await client.post(f"{RECORD}/salesOrder", json=order_body(customer, item, **extra))
    assert response.status_code == 204, response.text
    return str(response.headers["location"].rsplit("/", 1)[-1])


async def _status(client: httpx.AsyncClient, order_id: str) -> str:
    return str((await client.get(f"{RECORD}/salesOrder/{order_id}")).json()["status"]["id"])


async def _mode(client: httpx.AsyncClient, mode: str) -> None:
    response = await client.post("/admin/approval", json={"mode": mode})
    assert response.status_code == 200, response.text


async def test_orders_are_not_held_unless_the_account_asks(client: httpx.AsyncClient) -> None:
    assert (await client.get("/admin/approval")).json() == {"mode": "off"}
    items = await item_ids(client)
    order = await _order(client, await create_customer(client), items["SL-SEAT-PRO"])
    assert await _status(client, order) == "B"


async def test_all_mode_holds_every_order_and_only_finance_approves(
    client: httpx.AsyncClient,
) -> None:
    await _mode(client, "all")
    items = await item_ids(client)
    customer = await create_customer(client)
    # The integration asking for Pending Fulfillment is still held: it may not approve.
    order = await _order(client, customer, items["SL-SEAT-PRO"], orderStatus={"id": "B"})
    assert await _status(client, order) == "A"
    refused = await client.patch(f"{RECORD}/salesOrder/{order}", json={"orderStatus": {"id": "B"}})
    assert refused.status_code == 400
    assert "approve" in refused.text
    not_billable = await client.post(
        f"{RECORD}/invoice", json={"createdFrom": {"id": order}, "tranDate": "2026-11-21"}
    )
    assert not_billable.status_code == 400, not_billable.text
    approved = await client.post(APPROVE.format(order))
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"]["id"] == "B"
    again = await client.post(APPROVE.format(order))
    assert again.status_code == 400  # no longer pending: nothing to approve
    notes = await client.post(
        SUITEQL,
        json={
            "q": "SELECT recordid, oldvalue, newvalue, date, name FROM systemnote "
            f"WHERE field = 'TRANDOC.KSTATUS' AND recordid = {order}"
        },
    )
    [note] = notes.json()["items"]
    assert (note["oldvalue"], note["newvalue"]) == ("Pending Approval", "Pending Fulfillment")
    assert note["name"] == "Finance Approver" and note["date"]


async def test_a_rejection_closes_the_order_with_its_reason(client: httpx.AsyncClient) -> None:
    await _mode(client, "all")
    items = await item_ids(client)
    order = await _order(client, await create_customer(client), items["SL-SEAT-PRO"])
    assert (await client.post(REJECT.format(order), json={"reason": " "})).status_code == 400
    rejected = await client.post(REJECT.format(order), json={"reason": "credit hold"})
    assert rejected.status_code == 200, rejected.text
    record = (await client.get(f"{RECORD}/salesOrder/{order}")).json()
    assert record["status"] == {"id": "H", "refName": "Closed"}
    assert record["custbody_rejection_reason"] == "credit hold"
    shipped = await client.post(FULFIL.format(order))
    assert shipped.status_code == 400 and "Closed" in shipped.text


async def test_credit_limit_mode_holds_only_orders_over_the_limit(
    client: httpx.AsyncClient,
) -> None:
    await _mode(client, "over_credit_limit")
    items = await item_ids(client)
    unlimited = await create_customer(client, eid="ACC-FREE", name="Free Corp")
    limited = await create_customer(client, eid="ACC-LIM", name="Limited Corp")
    response = await client.patch(f"{RECORD}/customer/{limited}", json={"creditLimit": 4000})
    assert response.status_code == 204, response.text
    bad = await client.patch(f"{RECORD}/customer/{limited}", json={"creditLimit": -1})
    assert bad.status_code == 400
    seat = items["SL-SEAT-PRO"]
    assert await _status(client, await _order(client, unlimited, seat)) == "B"
    first = await _order(client, limited, seat)  # 2 x 1,188.00: within 4,000
    assert await _status(client, first) == "B"
    total = Decimal(str((await client.get(f"{RECORD}/salesOrder/{first}")).json()["total"]))
    assert total == Decimal("2376.00")
    # Alone within the limit, but with the first order (unbilled) it passes 4,000.
    held = await _order(client, limited, seat)
    assert await _status(client, held) == "A"


async def test_fulfilment_ships_part_then_the_rest_never_more(client: httpx.AsyncClient) -> None:
    items = await item_ids(client)
    seat = items["SL-SEAT-PRO"]
    order = await _order(client, await create_customer(client), seat)  # 2 seats
    too_many = await client.post(
        FULFIL.format(order), json={"lines": [{"item": "SL-SEAT-PRO", "quantity": 3}]}
    )
    assert too_many.status_code == 400 and "left to fulfill" in too_many.text
    foreign = await client.post(
        FULFIL.format(order), json={"lines": [{"item": items["SL-API-CALLS-1M"], "quantity": 1}]}
    )
    assert foreign.status_code == 400
    first = await client.post(
        FULFIL.format(order), json={"lines": [{"item": "SL-SEAT-PRO", "quantity": 1}]}
    )
    assert first.status_code == 200, first.text
    assert first.json()["order"]["status"]["id"] == "D"
    rest = await client.post(FULFIL.format(order))
    assert rest.status_code == 200, rest.text
    assert rest.json()["order"]["status"]["id"] == "F"
    nothing_left = await client.post(FULFIL.format(order))
    assert nothing_left.status_code == 400
    cancel = await client.patch(f"{RECORD}/salesOrder/{order}", json={"orderStatus": {"id": "C"}})
    assert cancel.status_code == 400  # shipped goods: no longer cancellable
    record = (await client.get(f"{RECORD}/itemFulfillment/{rest.json()['id']}")).json()
    assert record["createdFrom"]["id"] == order
    assert [line["quantity"] for line in record["item"]["items"]] == [1]
    rows = await client.post(
        SUITEQL,
        json={
            "q": "SELECT id, tranid, createdfrom, status, trandate FROM transaction "
            f"WHERE type = 'ItemShip' AND createdfrom = {order}"
        },
    )
    assert [r["status"] for r in rows.json()["items"]] == ["C", "C"]


async def test_no_fulfilment_while_pending_approval_or_cancelled(
    client: httpx.AsyncClient,
) -> None:
    await _mode(client, "all")
    items = await item_ids(client)
    customer = await create_customer(client)
    pending = await _order(client, customer, items["SL-SEAT-PRO"])
    response = await client.post(FULFIL.format(pending))
    assert response.status_code == 400 and "Pending Approval" in response.text
    cancel = await client.patch(f"{RECORD}/salesOrder/{pending}", json={"orderStatus": {"id": "C"}})
    assert cancel.status_code == 204, cancel.text
    response = await client.post(FULFIL.format(pending))
    assert response.status_code == 400 and "Cancelled" in response.text


async def test_only_an_order_rejected_at_approval_can_be_reopened(
    client: httpx.AsyncClient,
) -> None:
    items = await item_ids(client)
    customer = await create_customer(client)
    ordinary = await _order(client, customer, items["SL-SEAT-PRO"])
    closed = await client.patch(
        f"{RECORD}/salesOrder/{ordinary}", json={"orderStatus": {"id": "H"}}
    )
    assert closed.status_code == 204, closed.text
    assert (await client.post(f"/admin/finance/salesOrder/{ordinary}/reopen")).status_code == 400
    await _mode(client, "all")
    held = await _order(client, customer, items["SL-SEAT-PRO"])
    await client.post(REJECT.format(held), json={"reason": "no PO"})
    reopened = await client.post(f"/admin/finance/salesOrder/{held}/reopen")
    assert reopened.status_code == 200, reopened.text
    record = (await client.get(f"{RECORD}/salesOrder/{held}")).json()
    assert record["status"]["id"] == "A" and "custbody_rejection_reason" not in record
    assert (await client.post(APPROVE.format(held))).status_code == 200
