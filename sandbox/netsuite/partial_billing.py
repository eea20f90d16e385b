"""Billing a sales order in parts, as NetSuite does: an invoice may bill some of the
order's lines or quantities, the order stays billable (Pending Billing) until its lines
are billed in full, and an invoice transformed from it without lines bills what is left.

What is billed is counted per item, in quantity, over the order's invoices that are not
voided. NetSuite tracks billed quantity per order line (``quantitybilled``); the sandbox
counts per item, which is the same for orders whose items appear once (those the
integration writes). Amounts do not decide: a billed line at another rate still bills
its quantity.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from models import exact_json

_VOIDED = "V"


def _billed(conn: sqlite3.Connection, order_id: int) -> dict[str, Decimal]:
    """Item id → quantity billed by the order's invoices that are not voided."""
    billed: dict[str, Decimal] = {}
    rows = conn.execute(
        "SELECT body FROM txn WHERE rectype = 'invoice' AND createdfrom = ? AND status != ?",
        (order_id, _VOIDED),
    ).fetchall()
    for row in rows:
        for line in exact_json.loads(row["body"])["item"]["items"]:
            item = str(line["item"]["id"])
            billed[item] = billed.get(item, Decimal(0)) + Decimal(str(line["quantity"]))
    return billed


def unbilled_lines(
    conn: sqlite3.Connection, order_id: int, order: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The order's lines as an invoice transformed from it takes them: what is left."""
    left = _billed(conn, order_id)
    lines = []
    for line in order["item"]["items"]:
        item = str(line["item"]["id"])
        quantity = Decimal(str(line["quantity"]))
        taken = min(quantity, left.get(item, Decimal(0)))
        left[item] = left.get(item, Decimal(0)) - taken
        if quantity - taken > 0:
            kept = {k: line[k] for k in ("item", "rate", "description") if k in line}
            lines.append({**kept, "quantity": quantity - taken})
    return lines


def billed_in_full(conn: sqlite3.Connection, order_id: int, order: Mapping[str, Any]) -> bool:
    return not unbilled_lines(conn, order_id, order)


def with_unbilled_lines(conn: sqlite3.Connection, payload: Mapping[str, Any]) -> Mapping[str, Any]:
    """A new invoice's payload: one transformed from an order without lines of its own
    takes the order's unbilled lines (all of them, the first time)."""
    created_from = payload.get("createdFrom")
    if "item" in payload or not isinstance(created_from, Mapping) or "id" not in created_from:
        return payload
    try:
        order_id = int(created_from["id"])
    except (TypeError, ValueError):
        return payload  # validation says what is wrong with the reference
    row = conn.execute(
        "SELECT body FROM txn WHERE id = ? AND rectype = 'salesOrder'", (order_id,)
    ).fetchone()
    if row is None:
        return payload
    lines = unbilled_lines(conn, order_id, exact_json.loads(row["body"]))
    return {**payload, "item": {"items": lines}} if lines else payload
