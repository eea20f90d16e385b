"""A deal's billing is what its invoices add up to, and stale news never moves it back."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from models.billing import BillingStatus, DealBilling, InvoiceSnapshot, InvoiceStatus
from models.types import Money


def _invoice(
    invoice_id: str,
    total: str,
    due: str,
    status: InvoiceStatus = InvoiceStatus.OPEN,
    minute: int = 0,
) -> InvoiceSnapshot:
    return InvoiceSnapshot(
        id=invoice_id,
        number=f"INV-{invoice_id}",
        erp_order_id="7",
        status=status,
        total=Money(amount=Decimal(total), currency="EUR"),
        amount_due=Money(amount=Decimal(due), currency="EUR"),
        modified_at=datetime(2026, 11, 1, 9, minute, tzinfo=UTC),
    )


def _status(billing: DealBilling) -> BillingStatus:
    # A function call, so the type checker does not narrow the property between asserts.
    return billing.status


def test_two_invoices_paid_in_parts_add_up() -> None:
    billing = DealBilling(currency="EUR", order_total=Decimal("300.00"))
    assert _status(billing) is BillingStatus.NOT_INVOICED
    assert billing.apply(_invoice("1", "100.00", "100.00"))
    assert _status(billing) is BillingStatus.INVOICED
    assert billing.apply(_invoice("2", "200.00", "50.00", minute=1))
    assert _status(billing) is BillingStatus.PARTIALLY_PAID
    assert (billing.invoiced_amount, billing.paid_amount, billing.balance) == (
        Decimal("300.00"),
        Decimal("150.00"),
        Decimal("150.00"),
    )
    billing.apply(_invoice("1", "100.00", "0", InvoiceStatus.PAID, minute=2))
    billing.apply(_invoice("2", "200.00", "0", InvoiceStatus.PAID, minute=3))
    assert _status(billing) is BillingStatus.PAID and billing.balance == 0


def test_an_invoice_paid_in_full_but_short_of_the_order_is_not_the_deal_paid() -> None:
    billing = DealBilling(currency="EUR", order_total=Decimal("300.00"))
    billing.apply(_invoice("1", "100.00", "0", InvoiceStatus.PAID))
    assert _status(billing) is BillingStatus.PARTIALLY_PAID


def test_stale_or_repeated_snapshots_are_not_news() -> None:
    billing = DealBilling(currency="EUR", order_total=Decimal("100.00"))
    paid = _invoice("1", "100.00", "0", InvoiceStatus.PAID, minute=5)
    assert billing.apply(paid)
    assert not billing.apply(paid)
    # An older read, even one stamped later by a skewed clock, does not reopen it.
    assert not billing.apply(_invoice("1", "100.00", "100.00", minute=9))
    assert not billing.apply(_invoice("1", "100.00", "40.00", minute=9))
    assert _status(billing) is BillingStatus.PAID


def test_a_cancelled_invoice_counts_for_nothing() -> None:
    billing = DealBilling(currency="EUR", order_total=Decimal("100.00"))
    billing.apply(_invoice("1", "100.00", "100.00"))
    billing.apply(_invoice("1", "100.00", "100.00", InvoiceStatus.CANCELLED, minute=1))
    assert _status(billing) is BillingStatus.NOT_INVOICED and billing.invoiced_amount == 0
