"""Billings net of voids and credit memos, and collections by payment date net of
refunds: the second versions of both metrics (the first stay in ``measures``).

Each measure is a pure function of the ledger's facts, so the same ledger gives the
same report whichever version is asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from models.events import EventType
from reporting.facts import Entry, Fact

BILLINGS_V2_READS = (
    EventType.INVOICE_POSTED,
    EventType.INVOICE_VOIDED,
    EventType.CREDIT_MEMO_ISSUED,
    EventType.ORDER_ACCEPTED,
)
COLLECTIONS_V2_READS = (
    EventType.PAYMENT_APPLIED,
    EventType.PAYMENT_REFUNDED,
    EventType.ORDER_ACCEPTED,
)


def _customers(facts: Iterable[Fact]) -> dict[str, str]:
    return {
        str(f.payload["erp_order_id"]): str(f.payload["erp_customer_id"])
        for f in facts
        if f.event_type == EventType.ORDER_ACCEPTED and f.payload.get("erp_customer_id")
    }


def _day(fact: Fact, field: str) -> date:
    """The business date the payload names, else the day the fact happened (UTC)."""
    value = fact.payload.get(field)
    return date.fromisoformat(value) if value else fact.occurred_at.date()


def _entry(
    fact: Fact, day: date, amount: Decimal, customers: dict[str, str], **extra: Any
) -> Entry:
    payload = fact.payload
    customer = payload.get("erp_customer_id") or customers.get(str(payload.get("erp_order_id")))
    return Entry(
        day=day,
        currency=payload["currency"],
        amount=amount,
        event_id=fact.event_id,
        customer=customer,
        **extra,
    )


def billings_v2(facts: Sequence[Fact], _end: date) -> Iterator[Entry]:
    """Posted invoices, less voids (on the invoice's own date: a NetSuite direct void
    takes the posting back where it was made) and credit memos (on their date)."""
    customers = _customers(facts)
    for fact in facts:
        if fact.event_type == EventType.INVOICE_POSTED:
            amount = Decimal(fact.payload["total"])
            yield _entry(fact, _day(fact, "invoice_date"), amount, customers)
        elif fact.event_type == EventType.INVOICE_VOIDED:
            amount = -Decimal(fact.payload["amount"])
            yield _entry(fact, _day(fact, "invoice_date"), amount, customers)
        elif fact.event_type == EventType.CREDIT_MEMO_ISSUED:
            amount = -Decimal(fact.payload["total"])
            yield _entry(fact, _day(fact, "credit_date"), amount, customers)


def collections_v2(facts: Sequence[Fact], _end: date) -> Iterator[Entry]:
    """Cash applied to invoices by payment date, less refunds by refund date. Credits
    applied are not cash and never appear here."""
    customers = _customers(facts)
    for fact in facts:
        if fact.event_type == EventType.PAYMENT_APPLIED:
            amount = Decimal(fact.payload["amount"])
            yield _entry(fact, _day(fact, "payment_date"), amount, customers)
        elif fact.event_type == EventType.PAYMENT_REFUNDED:
            amount = -Decimal(fact.payload["amount"])
            yield _entry(fact, _day(fact, "refund_date"), amount, customers)
