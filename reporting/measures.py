"""One measure per (metric, version): the facts it reads and the entries it makes.

A measure is frozen once its definition is published; a new meaning is a new measure
under a new version, so old reports stay reproducible.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from models.erp import RevenueType
from models.events import EventType
from reporting.facts import UNCLASSIFIED, Entry, Fact
from reporting.orders import ORDER_EVENTS, order_moves
from reporting.settlement import (
    BILLINGS_V2_READS,
    COLLECTIONS_V2_READS,
    billings_v2,
    collections_v2,
)

_CENT = Decimal("0.01")


@dataclass(frozen=True)
class Measure:
    reads: tuple[EventType, ...]
    entries: Callable[[Sequence[Fact], date], Iterator[Entry]]
    """Entries from the facts; the date is the window's last day (for state "as of")."""


def _customers(facts: Iterable[Fact]) -> dict[str, str]:
    """ERP order id -> ERP customer id, for facts that name only the order."""
    return {
        str(f.payload["erp_order_id"]): str(f.payload["erp_customer_id"])
        for f in facts
        if f.event_type == EventType.ORDER_ACCEPTED and f.payload.get("erp_customer_id")
    }


def _of(facts: Iterable[Fact], event_type: EventType) -> Iterator[Fact]:
    return (f for f in facts if f.event_type == event_type)


def _pipeline_v1(facts: Sequence[Fact], end: date) -> Iterator[Entry]:
    accepted = {
        f.payload.get("crm_opportunity_id") or f.subject_id
        for f in _of(facts, EventType.ORDER_ACCEPTED)
        if f.occurred_at.date() <= end
    }
    for fact in _of(facts, EventType.OPPORTUNITY_CLOSED_WON):
        if fact.subject_id not in accepted and fact.payload.get("amount") is not None:
            yield Entry(
                day=fact.occurred_at.date(),
                currency=fact.payload["currency"],
                amount=Decimal(fact.payload["amount"]),
                event_id=fact.event_id,
                customer=fact.payload.get("account_id"),
            )


def _bookings_v1(facts: Sequence[Fact], _end: date) -> Iterator[Entry]:
    for fact in _of(facts, EventType.ORDER_ACCEPTED):
        yield Entry(
            day=fact.occurred_at.date(),
            currency=fact.payload["currency"],
            amount=Decimal(fact.payload["total"]),
            event_id=fact.event_id,
            customer=fact.payload.get("erp_customer_id"),
        )


def _bookings_v2(facts: Sequence[Fact], _end: date) -> Iterator[Entry]:
    for move in order_moves(facts):
        for (sku, revenue_type, _term), amount in move.values.items():
            yield Entry(
                day=move.fact.occurred_at.date(),
                currency=move.currency,
                amount=amount,
                event_id=move.fact.event_id,
                customer=move.customer,
                sku=sku,
                revenue_type=revenue_type or UNCLASSIFIED,
            )


def annualised(amount: Decimal, term_months: int) -> Decimal:
    """A term's value per year, to the cent (36,000 over 36 months is 12,000)."""
    return (amount * 12 / term_months).quantize(_CENT, rounding=ROUND_HALF_UP)


def _arr_v1(facts: Sequence[Fact], _end: date) -> Iterator[Entry]:
    for move in order_moves(facts):
        for (sku, revenue_type, term), amount in move.values.items():
            if revenue_type in (RevenueType.ONE_TIME, RevenueType.USAGE):
                continue
            recurring = revenue_type == RevenueType.RECURRING and term
            yield Entry(
                day=move.fact.occurred_at.date(),
                currency=move.currency,
                amount=annualised(amount, term) if recurring and term else amount,
                event_id=move.fact.event_id,
                customer=move.customer,
                sku=sku,
                revenue_type=RevenueType.RECURRING if recurring else UNCLASSIFIED,
                counted=bool(recurring),
            )


def _billings_v1(facts: Sequence[Fact], _end: date) -> Iterator[Entry]:
    customers = _customers(facts)
    for fact in _of(facts, EventType.INVOICE_POSTED):
        invoice_date = fact.payload.get("invoice_date")
        yield Entry(
            day=date.fromisoformat(invoice_date) if invoice_date else fact.occurred_at.date(),
            currency=fact.payload["currency"],
            amount=Decimal(fact.payload["total"]),
            event_id=fact.event_id,
            customer=customers.get(str(fact.payload.get("erp_order_id"))),
        )


def _collections_v1(facts: Sequence[Fact], _end: date) -> Iterator[Entry]:
    customers = _customers(facts)
    for fact in _of(facts, EventType.PAYMENT_APPLIED):
        yield Entry(
            day=fact.occurred_at.date(),
            currency=fact.payload["currency"],
            amount=Decimal(fact.payload["amount"]),
            event_id=fact.event_id,
            customer=customers.get(str(fact.payload.get("erp_order_id"))),
        )


def _renewals_v1(facts: Sequence[Fact], _end: date) -> Iterator[Entry]:
    for fact in _of(facts, EventType.RENEWAL_OPENED):
        yield Entry(
            day=date.fromisoformat(fact.payload["term_end"]),
            currency=fact.payload["currency"],
            amount=Decimal(fact.payload["recurring_amount"]),
            event_id=fact.event_id,
            customer=fact.payload.get("erp_customer_id"),
        )


MEASURES: dict[tuple[str, int], Measure] = {
    ("pipeline", 1): Measure(
        (EventType.OPPORTUNITY_CLOSED_WON, EventType.ORDER_ACCEPTED), _pipeline_v1
    ),
    ("bookings", 1): Measure((EventType.ORDER_ACCEPTED,), _bookings_v1),
    ("bookings", 2): Measure(ORDER_EVENTS, _bookings_v2),
    ("billings", 1): Measure((EventType.INVOICE_POSTED, EventType.ORDER_ACCEPTED), _billings_v1),
    ("billings", 2): Measure(BILLINGS_V2_READS, billings_v2),
    ("collections", 1): Measure(
        (EventType.PAYMENT_APPLIED, EventType.ORDER_ACCEPTED), _collections_v1
    ),
    ("collections", 2): Measure(COLLECTIONS_V2_READS, collections_v2),
    ("renewals", 1): Measure((EventType.RENEWAL_OPENED,), _renewals_v1),
    ("arr", 1): Measure(ORDER_EVENTS, _arr_v1),
}
