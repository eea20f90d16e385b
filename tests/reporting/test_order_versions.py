"""An order's facts are applied in the order of its versions, whatever dated them.

Found by the lifecycle explorer (issue 17): the feed dates a fact by the ERP's stamp
(rounded to the second), the deal by the moment it recorded it, so dates can put a
finance edit before the deal's acceptance, or the deal's amendment after finance's
cancellation. Bookings must still say what the ERP says: the live order's total for
its customer, zero for a cancelled order.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from models.events import EventType
from reporting.facts import Fact
from reporting.orders import order_moves

T0 = datetime(2026, 12, 6, 12, 0, 0, 500000, tzinfo=UTC)


def fact(event_type: EventType, at: timedelta, total: str, **payload: Any) -> Fact:
    lines = [{"sku": "SL-SEAT-PRO", "quantity": "1", "rate": total, "revenue_type": None}]
    return Fact(
        event_id=uuid.uuid4(),
        event_type=event_type,
        occurred_at=T0 + at,
        subject_id="opp",
        payload={"erp_order_id": "32", "currency": "USD", "total": total, "lines": lines} | payload,
    )


def booked(facts: list[Fact]) -> dict[str | None, Decimal]:
    per_customer: dict[str | None, Decimal] = {}
    for move in order_moves(facts):
        amount = sum(move.values.values(), Decimal(0))
        per_customer[move.customer] = per_customer.get(move.customer, Decimal(0)) + amount
    return {customer: amount for customer, amount in per_customer.items() if amount}


def test_a_finance_edit_dated_before_the_acceptance_books_the_customer_the_edited_total() -> None:
    # hist1 seq 19: the feed's order.amended#1, stamped 12:00:00 by the ERP, sorts before
    # the deal's order.accepted recorded at 12:00:00.5; amendments carry no customer.
    facts = [
        fact(EventType.ORDER_ACCEPTED, timedelta(0), "5002.00", erp_customer_id="C1"),
        fact(EventType.ORDER_AMENDED, -timedelta(seconds=0.5), "6252.50", amendment=1),
        fact(EventType.ORDER_AMENDED, timedelta(seconds=9), "5002.00", amendment=2),
    ]
    assert booked(facts) == {"C1": Decimal("5002.00")}


def test_an_amendment_recorded_after_the_cancellation_leaves_nothing_booked() -> None:
    # hist2 seq 16: the deal amended the order, finance cancelled it, then the deal
    # recorded its amendment (dated when recorded, after the ERP's cancellation stamp).
    facts = [
        fact(EventType.ORDER_ACCEPTED, timedelta(0), "2501.00", erp_customer_id="C1"),
        fact(EventType.ORDER_CANCELLED, timedelta(seconds=5), "1251.49", erp_customer_id="C1"),
        fact(EventType.ORDER_AMENDED, timedelta(seconds=5.4), "1251.49", amendment=1),
    ]
    assert booked(facts) == {}


def test_each_move_keeps_its_own_date() -> None:
    facts = [
        fact(EventType.ORDER_AMENDED, timedelta(days=3), "150.00", amendment=1),
        fact(EventType.ORDER_ACCEPTED, timedelta(0), "100.00", erp_customer_id="C1"),
    ]
    moves = [(m.fact.occurred_at, sum(m.values.values(), Decimal(0))) for m in order_moves(facts)]
    assert moves == [(T0, Decimal("100.00")), (T0 + timedelta(days=3), Decimal("50.00"))]
