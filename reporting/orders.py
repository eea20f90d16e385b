"""Orders through their lives in the ledger: accepted, amended, cancelled.

Bookings (v2) and ARR both read an order's value as its lines; an amendment moves the
value by the difference to the order's previous lines and a cancellation takes the last
lines back, each on its own date, so a window sees the moves made inside it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from models.events import EventType
from reporting.facts import Fact

ORDER_EVENTS = (EventType.ORDER_ACCEPTED, EventType.ORDER_AMENDED, EventType.ORDER_CANCELLED)

LineKey = tuple[str | None, str | None, int | None]
"""(SKU, revenue type, term in months): lines alike in these are one value."""


@dataclass(frozen=True)
class OrderMove:
    """How much of an order's value, per kind of line, one fact added (or took back)."""

    fact: Fact
    currency: str
    customer: str | None
    values: dict[LineKey, Decimal]


def line_values(payload: dict[str, Any]) -> dict[LineKey, Decimal]:
    """An order's value by kind of line. Whatever of the total its lines do not explain
    (an order recorded without lines, a rounding the ERP made) is a line of unknown
    kind, so the values always add up to the ERP's total."""
    values: dict[LineKey, Decimal] = {}
    for line in payload.get("lines") or []:
        key = (line.get("sku"), line.get("revenue_type"), line.get("term_months"))
        amount = Decimal(line["quantity"]) * Decimal(line["rate"])
        values[key] = values.get(key, Decimal(0)) + amount
    rest = Decimal(payload["total"]) - sum(values.values(), Decimal(0))
    if rest:
        values[(None, None, None)] = values.get((None, None, None), Decimal(0)) + rest
    return values


def _difference(new: dict[LineKey, Decimal], old: dict[LineKey, Decimal]) -> dict[LineKey, Decimal]:
    moved = {key: new.get(key, Decimal(0)) - old.get(key, Decimal(0)) for key in new | old}
    return {key: amount for key, amount in moved.items() if amount}


def _order_key(fact: Fact) -> tuple[Any, ...]:
    # Two amendments in one second are still applied in the order the deal made them.
    return (fact.occurred_at, fact.event_type, fact.payload.get("amendment") or 0)


def order_moves(facts: Iterable[Fact]) -> Iterator[OrderMove]:
    """Each order fact's move, in the order they happened. A cancellation of an order
    the ledger never saw accepted takes nothing back: it was never booked."""
    current: dict[str, dict[LineKey, Decimal]] = {}
    customers: dict[str, str | None] = {}
    for fact in sorted((f for f in facts if f.event_type in ORDER_EVENTS), key=_order_key):
        order_id = str(fact.payload["erp_order_id"])
        previous = current.get(order_id, {})
        if fact.event_type == EventType.ORDER_CANCELLED:
            if order_id not in current:
                continue
            values = _difference({}, previous)
            current[order_id] = {}
        elif fact.event_type == EventType.ORDER_ACCEPTED and order_id in current:
            continue  # the same order recorded again by another path: one booking
        else:
            now = line_values(fact.payload)
            values = _difference(now, previous)
            current[order_id] = now
        customer = fact.payload.get("erp_customer_id") or customers.get(order_id)
        customers[order_id] = customer
        if values:
            yield OrderMove(fact, str(fact.payload["currency"]), customer, values)
