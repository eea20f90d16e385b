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


_STAGE = {EventType.ORDER_ACCEPTED: 0, EventType.ORDER_AMENDED: 1, EventType.ORDER_CANCELLED: 2}


def _version_key(fact: Fact) -> tuple[int, int]:
    """Where a fact stands among its order's versions. The ERP's rules fix that order
    whatever clock dated each fact: accepted first, then the amendments by the ledger's
    number, the cancellation last (the ERP amends no cancelled order; a deal won again
    gets a new one). Dates cannot: the feed dates a fact by the ERP's stamp, rounded to
    the second, the deal by the moment it recorded it, so a finance edit read by the
    feed can sort before the deal's ``order.accepted``, or the deal's amendment after
    finance's cancellation (issue 17, found by the lifecycle explorer)."""
    return (_STAGE[fact.event_type], int(fact.payload.get("amendment") or 0))


def order_moves(facts: Iterable[Fact]) -> Iterator[OrderMove]:
    """Each order fact's move, dated by its fact, in the order of the order's versions
    (``_version_key``). A cancellation of an order the ledger never saw accepted takes
    nothing back: it was never booked."""
    by_order: dict[str, list[Fact]] = {}
    for fact in facts:
        if fact.event_type in ORDER_EVENTS:
            by_order.setdefault(str(fact.payload["erp_order_id"]), []).append(fact)
    for versions in by_order.values():
        yield from _moves_of(sorted(versions, key=_version_key))


def _moves_of(versions: list[Fact]) -> Iterator[OrderMove]:
    current: dict[LineKey, Decimal] | None = None
    customer: str | None = None
    for fact in versions:
        if fact.event_type == EventType.ORDER_CANCELLED:
            if current is None:
                return
            values, current = _difference({}, current), {}
        elif fact.event_type == EventType.ORDER_ACCEPTED and current is not None:
            continue  # the same order recorded again by another path: one booking
        else:
            now = line_values(fact.payload)
            values, current = _difference(now, current or {}), now
        customer = fact.payload.get("erp_customer_id") or customer
        if values:
            yield OrderMove(fact, str(fact.payload["currency"]), customer, values)
