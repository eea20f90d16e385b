"""A ledger of a quarter's deals, built with the builders the workflows and the feed use.

USD: order A (customer C1, 10 Jan): a 36-month platform line of 36,000, onboarding
5,000 (one-time), 2 API packs at 349.99 (usage); order D (15 Jan) recorded before lines
carried a revenue type (schema v1): 1,000 unclassified; order C (C1, 10 Feb): an annual
licence of 24,000, cancelled 1 Mar. Opportunity E won 20 Mar, never confirmed: 7,777.77.
EUR: order B (customer C2, 5 Feb): a monthly licence at 2,200 and a 100 line the ERP
did not classify; amended 20 Feb to two monthly licences. Billing: A invoiced 31 Jan,
20,000 of it paid 15 Feb; A's subscription comes up for renewal 9 Jan 2029.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from models.billing import InvoiceSnapshot, InvoiceStatus
from models.changes import SubscriptionChange, SubscriptionStatus
from models.crm import Opportunity
from models.erp import OrderStatus, RevenueType, SalesOrder, SalesOrderLine
from models.events import BusinessEvent, EventType, SourceSystem, event_id_for
from models.facts import (
    OrderFacts,
    closed_won_event,
    invoice_posted_event,
    order_accepted_event,
    order_amended_event,
    order_cancelled_event,
    renewal_opened_event,
)
from models.types import Money
from store import Store

NS = SourceSystem.NETSUITE
RECURRING, ONE_TIME, USAGE = RevenueType.RECURRING, RevenueType.ONE_TIME, RevenueType.USAGE


def at(month: int, day: int, year: int = 2026) -> datetime:
    return datetime(year, month, day, 12, 0, tzinfo=UTC)


def money(amount: str, currency: str) -> Money:
    return Money(amount=Decimal(amount), currency=currency)


def line(
    sku: str,
    quantity: str,
    rate: str,
    currency: str,
    revenue_type: RevenueType | None,
    term: int | None = None,
) -> SalesOrderLine:
    return SalesOrderLine(
        item_id=sku,
        sku=sku,
        quantity=Decimal(quantity),
        rate=money(rate, currency),
        revenue_type=revenue_type,
        term_months=term,
    )


def opportunity(opportunity_id: str, currency: str, amount: str) -> Opportunity:
    return Opportunity(
        id=opportunity_id,
        account_id=f"acct-{opportunity_id}",
        name=opportunity_id,
        stage="Closed Won",
        is_closed=True,
        is_won=True,
        close_date=date(2026, 1, 1),
        currency=currency,
        amount=money(amount, currency),
    )


def order(order_id: str, customer: str, currency: str, lines: list[SalesOrderLine]) -> SalesOrder:
    total = sum((item.quantity * item.rate.amount for item in lines), Decimal(0))
    return SalesOrder(
        id=order_id,
        order_number=f"SO{order_id}",
        external_id=f"006{order_id}",
        customer_id=customer,
        currency=currency,
        status="Pending Fulfillment",
        total=Money(amount=total, currency=currency),
        lines=lines,
    )


ORDER_A = order(
    "A",
    "C1",
    "USD",
    [
        line("SL-PLATFORM-3Y", "1", "36000.00", "USD", RECURRING, 36),
        line("SL-ONBOARDING", "1", "5000.00", "USD", ONE_TIME),
        line("SL-API-CALLS-1M", "2", "349.99", "USD", USAGE),
    ],
)
ORDER_B = order(
    "B",
    "C2",
    "EUR",
    [
        line("SL-PLATFORM-MONTHLY", "1", "2200.00", "EUR", RECURRING, 1),
        line("SL-MYSTERY", "1", "100.00", "EUR", None),
    ],
)
ORDER_B_AMENDED = order(
    "B",
    "C2",
    "EUR",
    [
        line("SL-PLATFORM-MONTHLY", "2", "2200.00", "EUR", RECURRING, 1),
        line("SL-MYSTERY", "1", "100.00", "EUR", None),
    ],
)
ORDER_C = order(
    "C", "C1", "USD", [line("SL-PLATFORM-ANNUAL", "1", "24000.00", "USD", RECURRING, 12)]
)


def _legacy_order_d() -> BusinessEvent:
    """An order.accepted as builders wrote it before version 2 (no revenue types)."""
    return BusinessEvent(
        event_id=event_id_for(EventType.ORDER_ACCEPTED, NS, "D"),
        event_type=EventType.ORDER_ACCEPTED,
        schema_version=1,
        occurred_at=at(1, 15),
        recorded_at=at(1, 15),
        source_system=NS,
        source_id="D",
        subject_id="006D",
        correlation_id="c",
        payload={
            "crm_opportunity_id": "006D",
            "erp_order_id": "D",
            "order_number": "SOD",
            "erp_customer_id": "C3",
            "status": "Pending Fulfillment",
            "currency": "USD",
            "total": "1000.00",
            "lines": [{"sku": "SL-SEAT-PRO", "quantity": "1", "rate": "1000.00"}],
        },
    )


def _invoice(due: str) -> InvoiceSnapshot:
    return InvoiceSnapshot(
        id="900",
        number="INV900",
        erp_order_id="A",
        status=InvoiceStatus.OPEN,
        total=money("41699.98", "USD"),
        amount_due=money(due, "USD"),
        invoice_date=date(2026, 1, 31),
        modified_at=at(1, 31),
    )


def _legacy_payment_a() -> BusinessEvent:
    """A payment.applied as the feed wrote it before payments were read from payment
    records (schema v1: guessed from the invoice's amount due, dated by its change)."""
    return BusinessEvent(
        event_id=event_id_for(EventType.PAYMENT_APPLIED, NS, "900:20000"),
        event_type=EventType.PAYMENT_APPLIED,
        schema_version=1,
        occurred_at=at(2, 15),
        recorded_at=at(2, 15),
        source_system=NS,
        source_id="900",
        subject_id="006A",
        correlation_id="c",
        payload={
            "invoice_number": "INV900",
            "erp_order_id": "A",
            "currency": "USD",
            "amount": "20000.00",
            "paid_to_date": "20000.00",
            "amount_due": "21699.98",
        },
    )


def quarter_events() -> list[BusinessEvent]:
    placed = {"A": ORDER_A, "B": ORDER_B, "C": ORDER_C}
    opp = {
        key: opportunity(f"006{key}", o.currency, str(o.total.amount)) for key, o in placed.items()
    }
    won_e = opportunity("006E", "USD", "7777.77")
    subscription = SubscriptionChange(
        id="31",
        erp_order_id="A",
        crm_opportunity_id="006A",
        customer_id="C1",
        name="Platform",
        start_date=date(2026, 1, 10),
        end_date=date(2029, 1, 9),
        recurring_amount=money("12000.00", "USD"),
        status=SubscriptionStatus.ACTIVE,
        modified_at=at(1, 10),
    )
    return [
        *(closed_won_event(o, "c", at(1, 9)) for o in opp.values()),
        closed_won_event(won_e, "c", at(3, 20)),
        order_accepted_event(OrderFacts.of_order(ORDER_A, opp["A"].id), NS, "c", at(1, 10)),
        _legacy_order_d(),
        order_accepted_event(OrderFacts.of_order(ORDER_B, opp["B"].id), NS, "c", at(2, 5)),
        order_accepted_event(OrderFacts.of_order(ORDER_C, opp["C"].id), NS, "c", at(2, 10)),
        order_amended_event(
            OrderFacts.of_order(ORDER_B_AMENDED, opp["B"].id), 1, NS, "c", at(2, 20)
        ),
        order_cancelled_event(
            OrderFacts.of_order(
                ORDER_C.model_copy(update={"state": OrderStatus.CANCELLED}), "006C"
            ),
            NS,
            "c",
            at(3, 1),
        ),
        invoice_posted_event("006A", _invoice("41699.98"), NS, "c", at(1, 31)),
        _legacy_payment_a(),
        renewal_opened_event(subscription, "006R", NS, "c", at(3, 5)),
    ]


CANCELLED_C = ORDER_C.model_copy(update={"state": OrderStatus.CANCELLED})


async def seed(store: Store, events: list[BusinessEvent] | None = None) -> None:
    for event in quarter_events() if events is None else events:
        assert await store.append_event(event)


def a_later_order(order_id: str, recorded: datetime) -> BusinessEvent:
    """One more USD order (annual seats, 2 x 1,188), recorded at ``recorded``."""
    placed = order(
        order_id, "C9", "USD", [line("SL-SEAT-PRO", "2", "1188.00", "USD", RECURRING, 12)]
    )
    return order_accepted_event(OrderFacts.of_order(placed, f"006{order_id}"), NS, "c", recorded)
