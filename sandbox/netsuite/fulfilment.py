"""Item fulfillments: what the warehouse shipped of a sales order.

On real NetSuite an item fulfillment is made from its order (the order's Fulfill
button, or ``POST /record/v1/salesOrder/{id}/!transform/itemFulfillment`` in REST); this
sandbox also takes ``POST /record/v1/itemFulfillment`` with ``createdFrom`` naming the
order, and the warehouse action ``POST /admin/finance/salesOrder/{id}/fulfil``. The rules
NetSuite enforces: only lines of the order, never more than is left to ship, and nothing
for an order that is pending approval, cancelled or closed. Every fulfillment here is
created Shipped (status C; NetSuite's Picked and Packed steps are left out), and once
created it cannot be changed but for its memo. Shipping moves the order to Partially
Fulfilled (D) or, all shipped, Pending Billing (F); a billed order stays Billed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from models import exact_json
from sandbox.netsuite.errors import INVALID_FLD_VALUE, INVALID_KEY_OR_REF, USER_ERROR, bad_request
from sandbox.netsuite.validation import SALES_ORDER_STATUSES, Normalized

SHIPPED = "C"
FULFILMENT_STATUSES = {"A": "Picked", "B": "Packed", "C": "Shipped"}
_NOT_FULFILLABLE = frozenset({"A", "C", "H"})
_FIELDS = frozenset({"createdFrom", "tranDate", "memo", "item", "externalId", "shipStatus"})


def _order(conn: sqlite3.Connection, order_id: int) -> dict[str, Any]:
    row = conn.execute(
        "SELECT body FROM txn WHERE id = ? AND rectype = 'salesOrder'", (order_id,)
    ).fetchone()
    if row is None:
        raise bad_request(
            INVALID_KEY_OR_REF, f"Invalid createdFrom reference key {order_id}.", "createdFrom"
        )
    body: dict[str, Any] = exact_json.loads(row["body"])
    return body


def ordered(order: Mapping[str, Any]) -> dict[str, Decimal]:
    """Quantity ordered per item id."""
    totals: dict[str, Decimal] = {}
    for line in order["item"]["items"]:
        item = str(line["item"]["id"])
        totals[item] = totals.get(item, Decimal(0)) + Decimal(str(line["quantity"]))
    return totals


def shipped(conn: sqlite3.Connection, order_id: int) -> dict[str, Decimal]:
    """Quantity already shipped per item id, over the order's fulfillments."""
    totals: dict[str, Decimal] = {}
    for row in conn.execute(
        "SELECT body FROM txn WHERE rectype = 'itemFulfillment' AND createdfrom = ?", (order_id,)
    ):
        for line in exact_json.loads(row["body"])["item"]["items"]:
            item = str(line["item"]["id"])
            totals[item] = totals.get(item, Decimal(0)) + Decimal(str(line["quantity"]))
    return totals


def _quantity(value: Any, path: str) -> Decimal:
    try:
        quantity = Decimal(str(value))
    except InvalidOperation:
        raise bad_request(INVALID_FLD_VALUE, f"Invalid quantity {value!r}.", path) from None
    if not quantity.is_finite() or quantity <= 0:
        raise bad_request(
            INVALID_FLD_VALUE, f"The quantity {value} must be greater than zero.", path
        )
    return quantity


def normalize(
    conn: sqlite3.Connection,
    payload: Mapping[str, Any],
    existing: Mapping[str, Any] | None,
    today: date,
) -> Normalized:
    """A new fulfillment, checked against its order; an existing one takes a memo only."""
    unknown = set(payload) - _FIELDS - {"id", "links", "tranId"}
    if unknown:
        name = sorted(unknown)[0]
        raise bad_request("INVALID_CONTENT", f"Invalid field name '{name}'.", name)
    if existing is not None:
        if set(payload) - {"memo"}:
            raise bad_request(USER_ERROR, "A shipped item fulfillment can only take a memo.")
        body = {**existing, "memo": payload.get("memo")}
        return Normalized(body, {"memo": body.get("memo")})
    created_from = payload.get("createdFrom")
    if not isinstance(created_from, Mapping) or not str(created_from.get("id", "")).isdigit():
        raise bad_request(USER_ERROR, "Please enter value(s) for: Created From", "createdFrom")
    order_id = int(str(created_from["id"]))
    order = _order(conn, order_id)
    status = str(order["status"]["id"])
    name = f"Sales order {order['tranId']}"
    if status in _NOT_FULFILLABLE:
        raise bad_request(
            USER_ERROR,
            f"{name} is {SALES_ORDER_STATUSES[status]} and cannot be fulfilled.",
            "createdFrom",
        )
    wanted = ordered(order)
    left = {item: q - shipped(conn, order_id).get(item, Decimal(0)) for item, q in wanted.items()}
    items = (
        payload.get("item", {}).get("items") if isinstance(payload.get("item"), Mapping) else None
    )
    if items is None:  # no lines named: ship all that is left, as the Fulfill button does
        items = [{"item": {"id": i}, "quantity": q} for i, q in left.items() if q > 0]
    if not isinstance(items, list) or not items:
        raise bad_request(USER_ERROR, f"{name} has nothing left to fulfill.", "item")
    lines: list[dict[str, Any]] = []
    for index, line in enumerate(items):
        path = f"item.items[{index}]"
        item_ref = line.get("item") if isinstance(line, Mapping) else None
        item_id = str(item_ref.get("id", "")) if isinstance(item_ref, Mapping) else ""
        if item_id not in wanted:
            raise bad_request(
                INVALID_KEY_OR_REF, f"Item {item_id or '?'} is not on {name}.", f"{path}.item"
            )
        quantity = _quantity(line.get("quantity"), f"{path}.quantity")
        if quantity > left[item_id]:
            raise bad_request(
                USER_ERROR,
                f"You cannot fulfill {quantity} of item {item_id}: {left[item_id]} "
                f"left to fulfill on {name}.",
                f"{path}.quantity",
            )
        left[item_id] -= quantity
        sku = next(
            str(o["item"].get("refName", ""))
            for o in order["item"]["items"]
            if str(o["item"]["id"]) == item_id
        )
        lines.append(
            {"line": index + 1, "item": {"id": item_id, "refName": sku}, "quantity": quantity}
        )
    tran_date = payload.get("tranDate") or today.isoformat()
    body = {
        "createdFrom": {"id": str(order_id), "refName": order["tranId"]},
        "entity": order["entity"],
        "tranDate": str(tran_date),
        "shipStatus": {"id": SHIPPED, "refName": FULFILMENT_STATUSES[SHIPPED]},
        "status": {"id": SHIPPED, "refName": FULFILMENT_STATUSES[SHIPPED]},
        "item": {"items": lines},
        **({"memo": payload["memo"]} if payload.get("memo") else {}),
        **({"externalId": str(payload["externalId"])} if payload.get("externalId") else {}),
    }
    return Normalized(
        body,
        {
            "entity": int(order["entity"]["id"]),
            "externalid": body.get("externalId"),
            "status": SHIPPED,
            "createdfrom": order_id,
            "trandate": body["tranDate"],
            "memo": body.get("memo"),
            "currency": order["currency"]["refName"],
        },
    )


def order_status_after(conn: sqlite3.Connection, order_id: int, status: str) -> str:
    """The order's status once a fulfillment of it is saved."""
    if status == "G":
        return status  # billed before it shipped: it stays Billed
    order = _order(conn, order_id)
    left = ordered(order)
    for item, quantity in shipped(conn, order_id).items():
        left[item] = left.get(item, Decimal(0)) - quantity
    return "F" if all(q <= 0 for q in left.values()) else "D"
