"""Tryton's payments and credit notes against the session's real trytond: one payment
per line of the "Pay" wizard, dated by the day the money came, the cash an invoice
snapshot states from them, and a credit note "with refund" as a credit memo applied to
the invoice it cancels."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import cast

from temporalio.client import Client

from activities.change_publisher import ChangePublisher
from connectors.tryton import TrytonClient
from models.billing import ChangeCursor, InvoiceStatus
from models.changes import ChangeKind, InvoiceChange
from models.events import EventType, SourceSystem
from models.settlement import CreditMemoChange, PaymentChange, PaymentDirection
from sandbox.tryton.accountant import TrytonAccountant
from store import Store

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
    # What reconciliation's publisher reads for an invoice: the same payments.
    settling = await erp.settling_records([str(invoice["id"])])
    assert sorted(p.id for p in settling) == sorted(p.id for p in payments)
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


async def test_a_credit_note_with_refund_settles_its_invoice_without_cash(
    erp: TrytonClient, accountant: TrytonAccountant, store: Store
) -> None:
    start = ChangeCursor(modified_at=datetime.now(UTC) - timedelta(seconds=5))
    customer = await erp.upsert_customer(helpers.account())
    draft = await helpers.draft(erp, customer.id, ["SL-PLATFORM-ANNUAL"])
    order = await erp.create_sales_order(draft)
    [invoice] = await accountant.invoices_for_sale(int(order.id))
    await accountant.post_invoice(invoice["id"])
    await accountant.credit_invoice(invoice["id"])

    changes = await helpers.all_changes(erp, ChangeKind.INVOICE, start, limit=2)
    [credited] = [c for c in changes if isinstance(c, InvoiceChange) and c.id == str(invoice["id"])]
    assert credited.status is InvoiceStatus.PAID  # settled by the credit, not voided
    assert (credited.credited, credited.amount_paid.amount) == (order.total.amount, 0)
    [memo] = [
        c
        for c in changes
        if isinstance(c, CreditMemoChange)
        and c.created_from is not None
        and c.created_from.id == str(invoice["id"])
    ]
    assert memo.total == order.total
    assert [(a.invoice.id if a.invoice else None, a.amount) for a in memo.applications] == [
        (str(invoice["id"]), order.total.amount)
    ]
    assert memo.created_from is not None
    assert memo.created_from.crm_opportunity_id == draft.external_id

    # Into a ledger as the feed records them: billed, then credited in full, no void.
    publisher = ChangePublisher(cast(Client, None), store)
    ours = [credited.model_copy(update={"crm_opportunity_id": None}), memo]
    await publisher.publish(ours, SourceSystem.TRYTON, "tryton-credit")
    kinds = [
        e.event_type
        for e in await store.events_from_sources(
            SourceSystem.TRYTON,
            [str(invoice["id"]), memo.id],
            [t.value for t in EventType],
        )
    ]
    assert sorted(kinds) == sorted(
        [EventType.INVOICE_POSTED, EventType.CREDIT_MEMO_ISSUED, EventType.CREDIT_MEMO_APPLIED]
    )
