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


async def _posted_credit_note(
    erp: TrytonClient, accountant: TrytonAccountant, paid: bool
) -> tuple[str, int, int]:
    """A sale's invoice, posted (and paid in full when ``paid``), and a credit note of
    all of it made without refund, posted: (opportunity, invoice id, credit note id)."""
    customer = await erp.upsert_customer(helpers.account())
    draft = await helpers.draft(erp, customer.id, ["SL-PLATFORM-ANNUAL"])
    order = await erp.create_sales_order(draft)
    [invoice] = await accountant.invoices_for_sale(int(order.id))
    await accountant.post_invoice(invoice["id"])
    if paid:
        await accountant.pay_invoice(invoice["id"], order.total.amount)
    await accountant.credit_invoice(invoice["id"], with_refund=False)
    [note] = await accountant.credit_notes_of(invoice["id"])
    await accountant.post_invoice(note["id"])
    return draft.external_id, invoice["id"], note["id"]


async def test_a_credit_note_reconciled_by_hand_is_applied_to_its_invoice(
    erp: TrytonClient, accountant: TrytonAccountant, ledger: Store
) -> None:
    start = ChangeCursor(modified_at=datetime.now(UTC) - timedelta(seconds=5))
    opportunity, invoice_id, note_id = await _posted_credit_note(erp, accountant, paid=False)
    changes = await helpers.all_changes(erp, ChangeKind.INVOICE, start, limit=1)
    [unapplied] = [c for c in changes if isinstance(c, CreditMemoChange) and c.id == str(note_id)]
    assert unapplied.applications == []  # posted, not yet applied
    assert unapplied.amount_unapplied == unapplied.total

    await accountant.reconcile_invoices(invoice_id, note_id)
    changes = await helpers.all_changes(erp, ChangeKind.INVOICE, start, limit=1)
    [invoice] = [c for c in changes if isinstance(c, InvoiceChange) and c.id == str(invoice_id)]
    [memo] = [c for c in changes if isinstance(c, CreditMemoChange) and c.id == str(note_id)]
    assert invoice.status is InvoiceStatus.PAID
    assert (invoice.credited, invoice.amount_paid.amount) == (invoice.total.amount, 0)
    assert [(a.invoice.id if a.invoice else None, a.amount) for a in memo.applications] == [
        (str(invoice_id), invoice.total.amount)
    ]
    assert memo.applications[0].invoice is not None
    assert memo.applications[0].invoice.crm_opportunity_id == opportunity
    assert memo.created_from is not None and memo.created_from.id == str(invoice_id)
    assert memo.amount_unapplied.amount == 0
    # Reconciliation asks what settled the invoice: the credit note, no cash.
    settling = await erp.settling_records([str(invoice_id)])
    assert [(type(c), c.id) for c in settling] == [(CreditMemoChange, str(note_id))]

    publisher = ChangePublisher(cast(Client, None), ledger)
    ours = [invoice.model_copy(update={"crm_opportunity_id": None}), memo]
    await publisher.publish(ours + ours, SourceSystem.TRYTON, "tryton-reconcile")
    applied = await ledger.events_from_sources(
        SourceSystem.TRYTON, [str(invoice_id)], [EventType.CREDIT_MEMO_APPLIED.value]
    )
    assert [(e.payload["erp_credit_memo_id"], e.payload["amount"]) for e in applied] == [
        (str(note_id), str(invoice.total.amount))
    ]


async def test_a_credit_note_paid_out_is_a_refund_of_it(
    erp: TrytonClient, accountant: TrytonAccountant, ledger: Store
) -> None:
    start = ChangeCursor(modified_at=datetime.now(UTC) - timedelta(seconds=5))
    opportunity, invoice_id, note_id = await _posted_credit_note(erp, accountant, paid=True)
    refund_day = date.today() - timedelta(days=1)
    # The "Pay" wizard on a credit note: a negative amount is money paid out.
    await accountant.pay_invoice(note_id, Decimal("-50"), on=refund_day)

    # This test's own payments: the window before ``start`` may hold the last test's.
    payments = [
        c
        for c in await helpers.all_changes(erp, ChangeKind.PAYMENT, start, limit=1)
        if isinstance(c, PaymentChange) and _settles(c, invoice_id, note_id)
    ]
    [received] = [p for p in payments if p.direction is PaymentDirection.RECEIVED]
    [refund] = [p for p in payments if p.direction is PaymentDirection.REFUNDED]
    assert received.applications[0].invoice is not None
    assert received.applications[0].invoice.id == str(invoice_id)
    assert (refund.tran_date, refund.total.amount) == (refund_day, Decimal("50"))
    [paid_out] = refund.applications
    assert (paid_out.credit_memo_id, paid_out.amount) == (str(note_id), Decimal("50"))
    # The invoice the credit note credits, found through its lines, as NetSuite names it.
    assert paid_out.invoice is not None
    assert (paid_out.invoice.id, paid_out.invoice.crm_opportunity_id) == (
        str(invoice_id),
        opportunity,
    )
    [memo] = [
        c
        for c in await helpers.all_changes(erp, ChangeKind.INVOICE, start, limit=5)
        if isinstance(c, CreditMemoChange) and c.id == str(note_id)
    ]
    assert memo.amount_unapplied.amount == memo.total.amount - 50  # still owed to them

    publisher = ChangePublisher(cast(Client, None), ledger)
    await publisher.publish([refund, refund], SourceSystem.TRYTON, "tryton-refund")
    [event] = await ledger.events_from_sources(
        SourceSystem.TRYTON, [refund.id], [EventType.PAYMENT_REFUNDED.value]
    )
    assert event.payload["erp_credit_memo_id"] == str(note_id)
    assert event.payload["erp_invoice_id"] == str(invoice_id)
    assert event.subject_id == opportunity
    assert (event.payload["amount"], event.payload["refund_date"]) == (
        "50",
        refund_day.isoformat(),
    )


def _settles(payment: PaymentChange, invoice_id: int, note_id: int) -> bool:
    return any(
        a.credit_memo_id == str(note_id)
        or (a.invoice is not None and a.invoice.id == str(invoice_id))
        for a in payment.applications
    )
