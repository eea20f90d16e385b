"""ARR and bookings count approved orders only: an order the ERP holds for approval,
written through the one order writer (``record_order``), is no booking until approved,
and one rejected at approval never is."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from activities.erp_facts import record_order
from models.erp import OrderStatus, RevenueType
from models.events import SourceSystem
from models.facts import OrderFacts
from reporting.compute import parse_group_by, report_from_ledger
from store import Store
from tests.reporting.ledger import at, line, money

NS = SourceSystem.NETSUITE


def _order(order_id: str, status: OrderStatus, day: int) -> OrderFacts:
    return OrderFacts(
        erp_order_id=order_id,
        order_number=f"SO{order_id}",
        crm_opportunity_id=f"006{order_id}",
        erp_customer_id="C1",
        status=status,
        erp_status=str(status),
        total=money("12000.00", "USD"),
        lines=[line("SL-PLATFORM-ANNUAL", "1", "12000.00", "USD", RevenueType.RECURRING, 12)],
        as_of=at(1, day),
        approved_at=at(1, day + 1) if status is OrderStatus.OPEN else None,
    )


async def _total(store: Store, metric: str) -> Decimal:
    answer = await report_from_ledger(
        store, metric, date(2026, 1, 1), date(2026, 1, 31), parse_group_by("")
    )
    return sum((Decimal(t.amount) for t in answer.totals), Decimal(0))


async def test_a_held_order_counts_only_once_approved(store: Store) -> None:
    await record_order(store, _order("71", OrderStatus.PENDING_APPROVAL, 5), NS, "c", at(1, 5))
    await record_order(store, _order("72", OrderStatus.REJECTED, 6), NS, "c", at(1, 6))
    assert await _total(store, "arr") == 0
    assert await _total(store, "bookings") == 0

    await record_order(store, _order("71", OrderStatus.OPEN, 7), NS, "c", at(1, 8))
    assert await _total(store, "arr") == Decimal("12000.00")
    assert await _total(store, "bookings") == Decimal("12000.00")
