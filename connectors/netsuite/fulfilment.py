"""Item fulfillments (``transaction`` type ``ItemShip``) as the change feed reads them.

A fulfillment is made from its sales order (``createdfrom``) and lists what shipped.
Whether the order has now shipped in full is not on the fulfillment: it is the order's
quantities against everything its fulfillments shipped up to this one (by id, the order
NetSuite created them in), read in a few queries per page. Only shipped fulfillments
(status C) are read: Picked and Packed ones have not left the warehouse.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from connectors.netsuite import mapping
from models.changes import FulfilledLine, FulfilmentChange

FULFILMENT_COLUMNS = "id, tranid, createdfrom, trandate, lastmodifieddate"
FULFILMENT_WHERE = "type = 'ItemShip' AND status = 'C'"
_CHUNK = 200

Query = Callable[[str], Awaitable[list[dict[str, Any]]]]


def _ids(values: Sequence[str]) -> str:
    if not all(v.isdigit() for v in values):
        raise ValueError(f"not internal ids: {list(values)!r}")
    return ", ".join(values)


async def _chunked(query: Query, template: str, ids: Sequence[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    wanted = sorted(set(ids))
    for start in range(0, len(wanted), _CHUNK):
        rows += await query(template.format(ids=_ids(wanted[start : start + _CHUNK])))
    return rows


def _quantities(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Decimal]]:
    """transaction id -> item id -> quantity (magnitudes: NetSuite signs them)."""
    totals: dict[str, dict[str, Decimal]] = {}
    for row in rows:
        per_item = totals.setdefault(str(row["transaction"]), {})
        item = str(row.get("item") or "")
        per_item[item] = per_item.get(item, Decimal(0)) + abs(mapping.decimal(row["quantity"]))
    return totals


def complete_after(
    fulfilment_id: str,
    ordered: Mapping[str, Decimal],
    fulfilments: Sequence[str],
    shipped: Mapping[str, Mapping[str, Decimal]],
) -> bool:
    """Whether the order's every item has shipped in full by ``fulfilment_id``."""
    left = dict(ordered)
    for other in fulfilments:
        if int(other) <= int(fulfilment_id):
            for item, quantity in shipped.get(other, {}).items():
                left[item] = left.get(item, Decimal(0)) - quantity
    return all(quantity <= 0 for quantity in left.values())


async def fulfilments_of_rows(
    rows: Sequence[Mapping[str, Any]],
    query: Query,
    skus: Callable[[Sequence[str]], Awaitable[dict[str, str]]],
) -> list[FulfilmentChange]:
    """One page of shipped fulfillment rows (``FULFILMENT_COLUMNS``, the keyset query of
    ``FULFILMENT_WHERE``) with their orders' numbers and opportunities and whether each
    completed its order."""
    if not rows:
        return []
    order_ids = [str(r["createdfrom"]) for r in rows if r.get("createdfrom")]
    orders = {
        str(r["id"]): r
        for r in await _chunked(
            query, "SELECT id, tranid, externalid FROM transaction WHERE id IN ({ids})", order_ids
        )
    }
    siblings = await _chunked(
        query,
        "SELECT id, createdfrom FROM transaction "
        "WHERE type = 'ItemShip' AND status = 'C' AND createdfrom IN ({ids})",
        order_ids,
    )
    by_order: dict[str, list[str]] = {}
    for row in siblings:
        by_order.setdefault(str(row["createdfrom"]), []).append(str(row["id"]))
    line_rows = await _chunked(
        query,
        "SELECT transaction, item, quantity FROM transactionline "
        "WHERE transaction IN ({ids}) AND mainline = 'F' AND taxline = 'F'",
        order_ids + [str(r["id"]) for r in siblings],
    )
    quantities = _quantities(line_rows)
    names = await skus([str(r["item"]) for r in line_rows if r.get("item")])
    changes: list[FulfilmentChange] = []
    for page_row in rows:
        row = dict(page_row)
        fulfilment_id, order_id = str(row["id"]), str(row.get("createdfrom") or "")
        order = orders.get(order_id, {})
        external_id = order.get("externalid")
        changes.append(
            FulfilmentChange(
                id=fulfilment_id,
                number=str(row.get("tranid") or fulfilment_id),
                erp_order_id=order_id,
                order_number=str(order["tranid"]) if order.get("tranid") else None,
                crm_opportunity_id=mapping.opportunity_of(str(external_id))
                if external_id
                else None,
                fulfilment_date=(
                    date.fromisoformat(str(row["trandate"])[:10]) if row.get("trandate") else None
                ),
                lines=[
                    FulfilledLine(item_id=item, sku=names.get(item, ""), quantity=quantity)
                    for item, quantity in quantities.get(fulfilment_id, {}).items()
                ],
                complete=complete_after(
                    fulfilment_id,
                    quantities.get(order_id, {}),
                    by_order.get(order_id, []),
                    quantities,
                ),
                modified_at=mapping.modified_at(row),
            )
        )
    return changes
