"""The facts of how invoices are settled: credit memos issued and applied, payments
applied, refunds paid. One builder per fact, a pure function of the ERP's record (and,
for a payment's ``paid_to_date``, of what the ledger held), so every writer makes the
same event id and the ledger keeps one.

Ids are the business fact: a credit memo once, each (credit memo, invoice) and
(payment, invoice) application once, each (refund, credit memo) once. Facts about an
invoice's settlement have the invoice as their source, so reading an invoice's facts
by its id finds its posting, void, credits and payments together.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from models.event_contracts import current_version
from models.events import BusinessEvent, EventType, SourceSystem, event_id_for
from models.facts import erp_subject, invoice_posted_id
from models.settlement import Application, CreditMemoChange, InvoiceRef, PaymentChange


def _subject(invoice: InvoiceRef | None, system: SourceSystem, kind: str, erp_id: str) -> str:
    """The opportunity the invoice bills, else its ERP order, else the record itself."""
    if invoice is not None and invoice.crm_opportunity_id:
        return invoice.crm_opportunity_id
    if invoice is not None and invoice.erp_order_id:
        return erp_subject(system, "order", invoice.erp_order_id)
    return erp_subject(system, kind, erp_id)


def credit_memo_issued_event(
    memo: CreditMemoChange, system: SourceSystem, correlation_id: str, now: datetime
) -> BusinessEvent:
    invoice = memo.created_from
    return BusinessEvent(
        event_id=event_id_for(EventType.CREDIT_MEMO_ISSUED, system, memo.id),
        event_type=EventType.CREDIT_MEMO_ISSUED,
        schema_version=current_version(EventType.CREDIT_MEMO_ISSUED),
        occurred_at=memo.modified_at,
        recorded_at=now,
        source_system=system,
        source_id=memo.id,
        subject_id=_subject(invoice, system, "credit_memo", memo.id),
        correlation_id=correlation_id,
        causation_id=invoice_posted_id(system, invoice.id) if invoice else None,
        payload={
            "erp_credit_memo_id": memo.id,
            "credit_memo_number": memo.number,
            "erp_invoice_id": invoice.id if invoice else None,
            "invoice_number": invoice.number if invoice else None,
            "erp_order_id": invoice.erp_order_id if invoice else None,
            "erp_customer_id": memo.customer_id,
            "currency": memo.total.currency,
            "total": str(memo.total.amount),
            "credit_date": memo.tran_date.isoformat() if memo.tran_date else None,
            "lines": [
                {"sku": line.sku, "quantity": str(line.quantity), "rate": str(line.rate.amount)}
                for line in memo.lines
            ],
        },
    )


def credit_memo_applied_event(
    memo: CreditMemoChange,
    application: Application,
    system: SourceSystem,
    correlation_id: str,
    now: datetime,
) -> BusinessEvent:
    invoice = _invoice_of(application)
    return BusinessEvent(
        event_id=event_id_for(EventType.CREDIT_MEMO_APPLIED, system, f"{memo.id}:{invoice.id}"),
        event_type=EventType.CREDIT_MEMO_APPLIED,
        schema_version=current_version(EventType.CREDIT_MEMO_APPLIED),
        occurred_at=memo.modified_at,
        recorded_at=now,
        source_system=system,
        source_id=invoice.id,
        subject_id=_subject(invoice, system, "credit_memo", memo.id),
        correlation_id=correlation_id,
        causation_id=str(event_id_for(EventType.CREDIT_MEMO_ISSUED, system, memo.id)),
        payload={
            "erp_credit_memo_id": memo.id,
            "credit_memo_number": memo.number,
            "erp_invoice_id": invoice.id,
            "invoice_number": invoice.number,
            "erp_order_id": invoice.erp_order_id,
            "currency": memo.total.currency,
            "amount": str(application.amount),
            "credit_date": memo.tran_date.isoformat() if memo.tran_date else None,
        },
    )


def payment_applied_event(
    payment: PaymentChange,
    application: Application,
    paid_before: Decimal,
    system: SourceSystem,
    correlation_id: str,
    now: datetime,
) -> BusinessEvent:
    """Collections: one payment's cash applied to one invoice. ``paid_before`` is the
    cash the ledger already held applied to that invoice."""
    invoice = _invoice_of(application)
    if invoice.amount_due is None:
        raise ValueError(f"payment {payment.id}: no amount due read for invoice {invoice.id}")
    return BusinessEvent(
        event_id=event_id_for(EventType.PAYMENT_APPLIED, system, f"{payment.id}:{invoice.id}"),
        event_type=EventType.PAYMENT_APPLIED,
        schema_version=current_version(EventType.PAYMENT_APPLIED),
        occurred_at=payment.modified_at,
        recorded_at=now,
        source_system=system,
        source_id=invoice.id,
        subject_id=_subject(invoice, system, "payment", payment.id),
        correlation_id=correlation_id,
        causation_id=invoice_posted_id(system, invoice.id),
        payload={
            "invoice_number": invoice.number,
            "erp_order_id": invoice.erp_order_id,
            "currency": payment.total.currency,
            "amount": str(application.amount),
            "paid_to_date": str(paid_before + application.amount),
            "amount_due": str(invoice.amount_due),
            "erp_payment_id": payment.id,
            "payment_number": payment.number,
            "payment_date": payment.tran_date.isoformat(),
            "erp_invoice_id": invoice.id,
        },
    )


def payment_refunded_event(
    refund: PaymentChange,
    application: Application,
    system: SourceSystem,
    correlation_id: str,
    now: datetime,
) -> BusinessEvent:
    """Cash back out: one refund paying out one credit memo."""
    memo_id = application.credit_memo_id or ""
    invoice = application.invoice
    return BusinessEvent(
        event_id=event_id_for(EventType.PAYMENT_REFUNDED, system, f"{refund.id}:{memo_id}"),
        event_type=EventType.PAYMENT_REFUNDED,
        schema_version=current_version(EventType.PAYMENT_REFUNDED),
        occurred_at=refund.modified_at,
        recorded_at=now,
        source_system=system,
        source_id=refund.id,
        subject_id=_subject(invoice, system, "refund", refund.id),
        correlation_id=correlation_id,
        causation_id=(
            str(event_id_for(EventType.CREDIT_MEMO_ISSUED, system, memo_id)) if memo_id else None
        ),
        payload={
            "erp_refund_id": refund.id,
            "refund_number": refund.number,
            "refund_date": refund.tran_date.isoformat(),
            "erp_credit_memo_id": application.credit_memo_id,
            "credit_memo_number": application.credit_memo_number,
            "erp_invoice_id": invoice.id if invoice else None,
            "erp_order_id": invoice.erp_order_id if invoice else None,
            "erp_customer_id": refund.customer_id,
            "currency": refund.total.currency,
            "amount": str(application.amount),
        },
    )


def _invoice_of(application: Application) -> InvoiceRef:
    if application.invoice is None:
        raise ValueError("an application to an invoice names no invoice")
    return application.invoice
