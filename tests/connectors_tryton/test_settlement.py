"""Tryton's payments read from their own lines against the session's real trytond: one
payment per line of the "Pay" wizard, dated by the day the money came, and the cash an
invoice snapshot states from them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from connectors.tryton import TrytonClient
from models.billing import ChangeCursor
from models.changes import ChangeKind, InvoiceChange
from models.settlement import PaymentChange, PaymentDirection
from sandbox.tryton.accountant import TrytonAccountant

from . import helpers


async def test_each_payment_of_an_invoice_is_a_change_of_its_own(
    erp: TrytonClient, accountant: TrytonAccountant
) -> None:
    start = ChangeCursor(modified_at=datetime.now(UTC) - timedelta(seconds=5))
    customer = await erp.upsert_customer(helpers.account())
    draft = await helpers.draft(erp, customer.id, ["SL-PLATFORM-ANNUAL"])
    order = await erp.create_sales_order(draft)
    [invoice] = await accountant.invoices_for_sale(int(order.id))
    await accountant.post_invoice(invoice["id"])
    first_day, second_day = date.today() - timedelta(days=3), date.today() - timedelta(days=1)
    await accountant.pay_invoice(invoice["id"], Decimal("50"), on=first_day)
    await accountant.pay_invoice(invoice["id"], order.total.amount - 50, on=second_day)

    payments = [
        change
        for change in await helpers.all_changes(erp, ChangeKind.PAYMENT, start, limit=1)
        if isinstance(change, PaymentChange)
        and change.applications[0].invoice is not None
        and change.applications[0].invoice.id == str(invoice["id"])
    ]
    assert sorted((p.tran_date, p.applications[0].amount) for p in payments) == [
        (first_day, Decimal("50")),
        (second_day, order.total.amount - 50),
    ]
    for payment in payments:
        assert payment.direction is PaymentDirection.RECEIVED
        (application,) = payment.applications
        assert application.invoice is not None
        assert application.invoice.erp_order_id == order.id
        assert application.invoice.crm_opportunity_id == draft.external_id
        assert application.invoice.amount_due == 0

    [snapshot] = [
        change
        for change in await helpers.all_changes(erp, ChangeKind.INVOICE, start, limit=5)
        if isinstance(change, InvoiceChange) and change.id == str(invoice["id"])
    ]
    assert snapshot.collected == order.total.amount
    assert snapshot.amount_paid.amount == order.total.amount
