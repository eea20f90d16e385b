"""An order's invoices rebuilt from the ledger (``activities.ledger_billing``): where a
later run of its deal starts its billing, on both store backends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from activities.erp_facts import record_invoice, record_payment
from activities.ledger_billing import invoices_in_ledger
from models.billing import BillingStatus, DealBilling, InvoiceSnapshot, InvoiceStatus
from models.events import SourceSystem
from models.settlement import Application, InvoiceRef, PaymentChange, PaymentDirection
from models.types import Money
from store import Store

NS = SourceSystem.NETSUITE
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


def invoice(invoice_id: str, order_id: str, status: InvoiceStatus) -> InvoiceSnapshot:
    return InvoiceSnapshot(
        id=invoice_id,
        number=f"INV{invoice_id}",
        erp_order_id=order_id,
        crm_opportunity_id="opp-1",
        status=status,
        total=usd("1000.00"),
        amount_due=usd("1000.00"),
        invoice_date=date(2026, 12, 1),
        modified_at=NOW,
    )


def paid(on: InvoiceSnapshot, amount: str) -> PaymentChange:
    return PaymentChange(
        id="p1",
        number="PYMT1",
        direction=PaymentDirection.RECEIVED,
        customer_id="5",
        total=usd(amount),
        tran_date=date(2026, 12, 5),
        applications=[
            Application(
                amount=Decimal(amount),
                invoice=InvoiceRef(
                    id=on.id, number=on.number, erp_order_id=on.erp_order_id, amount_due=Decimal(0)
                ),
            )
        ],
        modified_at=NOW + timedelta(hours=1),
    )


async def test_a_later_run_starts_from_the_invoices_and_cash_the_ledger_holds(
    store: Store,
) -> None:
    billed = invoice("900", "77", InvoiceStatus.OPEN)
    await record_invoice(store, billed, NS, "c", NOW)
    await record_payment(store, paid(billed, "400.00"), NS, "c", NOW)
    voided = invoice("901", "77", InvoiceStatus.CANCELLED)
    await record_invoice(store, voided, NS, "c", NOW)
    await record_invoice(store, invoice("902", "78", InvoiceStatus.OPEN), NS, "c", NOW)

    found = {i.id: i for i in await invoices_in_ledger(store, NS, "opp-1", "77")}

    assert set(found) == {"900", "901"}  # not another order's invoice
    assert found["900"].status is InvoiceStatus.OPEN
    assert found["900"].amount_due == usd("600.00")
    assert found["900"].modified_at == NOW + timedelta(hours=1)
    assert found["901"].status is InvoiceStatus.CANCELLED
    billing = DealBilling(currency="USD", order_total=Decimal("1000.00"))
    for snapshot in found.values():
        billing.apply(snapshot)
    assert billing.status is BillingStatus.PARTIALLY_PAID
    assert (billing.invoiced_amount, billing.paid_amount) == (Decimal("1000.00"), Decimal("400"))
    # The feed's own snapshot of the same state, read later, is no news.
    assert not billing.apply(billed.model_copy(update={"amount_due": usd("600.00")}))


async def test_an_order_never_invoiced_has_nothing_in_the_ledger(store: Store) -> None:
    assert await invoices_in_ledger(store, NS, "opp-1", "77") == []
