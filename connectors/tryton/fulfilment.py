"""Tryton's customer shipments (``stock.shipment.out``) as fulfilments of their sales.

Tryton makes a customer shipment when it processes a confirmed sale with goods on it;
each outgoing move comes from one sale line (its ``origin``). A warehouse user assigns,
picks, packs and finally marks it done ("Do"), which is when its moves are done and
the goods have left: only shipments in state ``done`` are read. Tryton's optional
``shipped`` state before it is not a fulfilment yet: its moves are not done and it can
still be cancelled. When stock covered less than ordered, the shipment leaves with what
there was and Tryton plans a new shipment (a back-order) for the rest of the sale.

Whether the sale has now shipped in full is not on the shipment: it is each goods line
of the sale against the done moves from that line in this shipment and those done
before it (by effective date, then id). Service lines never ship and do not count.
Quantities are compared as Tryton stores them: the moves Tryton makes from a sale line
carry the line's unit (the product's sale unit, which Syncline's lines use), so they
agree unless a warehouse user changes a move's unit by hand. A return
(``stock.shipment.out.return``) is not read: it is no fulfilment.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from connectors.tryton.mapping import ref_id
from connectors.tryton.transport import TrytonRest
from models.changes import FulfilledLine, FulfilmentChange

Record = dict[str, Any]

SHIPMENT_DOMAIN = (("state", "=", "done"),)
SHIPMENT_FIELDS = (
    "number",
    "effective_date",
    "outgoing_moves.state",
    "outgoing_moves.quantity",
    "outgoing_moves.product.code",
    "outgoing_moves.origin",
)
# Tryton's stock move types that are shipped (``stock.move.get_product_types``).
_SHIPPED_PRODUCT_TYPES = frozenset({"goods", "assets"})
_SALE_FIELDS = (
    "number",
    "reference",
    "lines.type",
    "lines.quantity",
    "lines.product.type",
    "lines.moves.state",
    "lines.moves.quantity",
    "lines.moves.shipment",
    "lines.moves.effective_date",
)
_SHIPMENT_REF = "stock.shipment.out,"
_SALE_LINE_REF = "sale.line,"


def _sale_line_of(move: Record) -> int | None:
    """The sale line a move comes from: its origin reads as ``"sale.line,<id>"``."""
    origin = move.get("origin")
    if isinstance(origin, str) and origin.startswith(_SALE_LINE_REF):
        return int(origin.removeprefix(_SALE_LINE_REF))
    return None


def _quantity(value: Any) -> Decimal:
    """Tryton keeps stock quantities as floats: 2.0 reads as 2, 0.5 as 0.5."""
    quantity = Decimal(str(value or 0))
    return quantity.quantize(Decimal(1)) if quantity == quantity.to_integral_value() else quantity


def _done(moves: list[Record]) -> list[Record]:
    return [m for m in moves if m.get("state") == "done"]


async def fulfilments_of_shipments(
    rest: TrytonRest,
    shipments: list[Record],
    modified_at: Callable[[Record], datetime],
) -> list[FulfilmentChange]:
    """One page of done customer shipments (``SHIPMENT_FIELDS``) as fulfilments, with
    their sales' numbers and opportunities and whether each completed its sale: one
    more call per page, for the sales' lines and every move from them."""
    line_ids = {
        line_id
        for shipment in shipments
        for move in shipment.get("outgoing_moves") or []
        if (line_id := _sale_line_of(move)) is not None
    }
    sales = (
        await rest.search(
            "sale.sale", [("lines", "in", sorted(line_ids))], _SALE_FIELDS, order=[("id", "ASC")]
        )
        if line_ids
        else []
    )
    sale_of_line = {int(line["id"]): sale for sale in sales for line in sale.get("lines") or []}
    changes: list[FulfilmentChange] = []
    for shipment in shipments:
        moves = _done(shipment.get("outgoing_moves") or [])
        # Tryton groups a sale's moves into shipments of their own: the first move's
        # sale is the shipment's (a shipment made by hand from several sales would be
        # read as its first sale's).
        sale = next(
            (sale_of_line[i] for m in moves if (i := _sale_line_of(m)) in sale_of_line), None
        )
        if sale is None:
            continue  # not from a sale (made by hand): nothing to fulfil
        changes.append(_fulfilment(shipment, moves, sale, modified_at(shipment)))
    return changes


def _fulfilment(
    shipment: Record, moves: list[Record], sale: Record, moment: datetime
) -> FulfilmentChange:
    shipped: dict[str, FulfilledLine] = {}
    for move in moves:
        product = move.get("product") or {}
        item_id = ref_id(product) or ""
        before = shipped.get(item_id)
        quantity = _quantity(move.get("quantity"))
        shipped[item_id] = FulfilledLine(
            item_id=item_id,
            sku=str(product.get("code") or "") if isinstance(product, dict) else "",
            quantity=quantity + (before.quantity if before else Decimal(0)),
        )
    effective = shipment.get("effective_date")
    return FulfilmentChange(
        id=str(shipment["id"]),
        number=str(shipment.get("number") or shipment["id"]),
        erp_order_id=str(sale["id"]),
        order_number=str(sale["number"]) if sale.get("number") else None,
        crm_opportunity_id=sale.get("reference") or None,
        fulfilment_date=effective if isinstance(effective, date) else None,
        lines=list(shipped.values()),
        complete=shipped_in_full(sale, int(shipment["id"]), effective),
        modified_at=moment,
    )


def shipped_in_full(sale: Record, shipment_id: int, effective: Any) -> bool:
    """Whether every goods line of ``sale`` has shipped in full with the done moves of
    this shipment and of the customer shipments done before it."""
    this = (effective if isinstance(effective, date) else date.max, shipment_id)
    for line in sale.get("lines") or []:
        product = line.get("product") or {}
        if line.get("type") != "line" or product.get("type") not in _SHIPPED_PRODUCT_TYPES:
            continue
        ordered = _quantity(line.get("quantity"))
        if ordered <= 0:
            continue  # a return line: nothing to ship
        sent = sum(
            (
                _quantity(move.get("quantity"))
                for move in _done(line.get("moves") or [])
                if _sent_by(move, this)
            ),
            Decimal(0),
        )
        if sent < ordered:
            return False
    return True


def _sent_by(move: Record, this: tuple[date, int]) -> bool:
    """A done move of a customer shipment done no later than ``this``."""
    shipment = move.get("shipment")
    if not isinstance(shipment, str) or not shipment.startswith(_SHIPMENT_REF):
        return False
    effective = move.get("effective_date")
    key = (effective if isinstance(effective, date) else date.max, int(shipment.split(",")[1]))
    return key <= this
