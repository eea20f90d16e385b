"""Invoices and payments: each ERP invoice against the ledger's ``invoice.posted`` and
its ``payment.applied`` facts. One read of the invoices serves both domains."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from decimal import Decimal

from models.billing import InvoiceStatus
from models.changes import ChangeKind, InvoiceChange
from models.events import EventType
from models.reconciliation import Domain, DriftClass, Finding, Metric, Remedy
from models.tables import LedgerEvent
from models.types import Money
from reconciliation.context import Batch, PassContext, Policy, money_text
from reconciliation.erp_records import erp_pages

LEDGER_TYPES = (EventType.INVOICE_POSTED, EventType.PAYMENT_APPLIED)


@dataclass
class LedgerInvoice:
    posted: Money | None = None
    paid_to_date: Decimal = Decimal(0)


def ledger_invoices(events: Sequence[LedgerEvent]) -> dict[str, LedgerInvoice]:
    invoices: dict[str, LedgerInvoice] = {}
    for event in events:
        invoice = invoices.setdefault(event.source_id, LedgerInvoice())
        payload = event.payload
        if event.event_type == EventType.INVOICE_POSTED:
            invoice.posted = Money(amount=Decimal(payload["total"]), currency=payload["currency"])
        else:
            invoice.paid_to_date = max(invoice.paid_to_date, Decimal(payload["paid_to_date"]))
    return invoices


def _finding(
    domain: Domain,
    invoice: InvoiceChange,
    drift: DriftClass,
    remedy: Remedy,
    summary: str,
    policy: Policy,
    repair_pending: bool,
    *,
    erp: Money,
    ledger: Money | None,
) -> Finding:
    drift, remedy, summary = policy.judge(
        drift, remedy, summary, invoice.modified_at, repair_pending
    )
    return Finding(
        domain=domain,
        key=invoice.id,
        drift=drift,
        remedy=remedy,
        summary=summary,
        erp=money_text(erp),
        ledger=money_text(ledger),
        currency=invoice.total.currency,
        erp_id=invoice.id,
        record=invoice.model_dump(mode="json"),
        evidence={
            "invoice_number": invoice.number,
            "erp_order_id": invoice.erp_order_id or "",
            "crm_opportunity_id": invoice.crm_opportunity_id or "",
        },
    )


def classify_invoice(
    invoice: InvoiceChange, ledger: LedgerInvoice, policy: Policy, *, repair_pending: bool = False
) -> Finding | None:
    """Billings: a posted invoice is one ``invoice.posted`` of the same total."""
    if invoice.status is InvoiceStatus.CANCELLED:
        return None
    posted = ledger.posted
    if posted is None:
        drift, remedy = DriftClass.MISSING_LEDGER_EVENT, Remedy.REPUBLISH
        summary = f"invoice {invoice.number} ({invoice.total}) has no invoice.posted"
    elif posted.currency != invoice.total.currency:
        drift, remedy = DriftClass.CURRENCY_MISMATCH, Remedy.EXCEPTION
        summary = (
            f"invoice {invoice.number} is in {invoice.total.currency}; "
            f"the ledger posted it in {posted.currency}"
        )
    elif posted.amount != invoice.total.amount:
        drift, remedy = DriftClass.AMOUNT_MISMATCH, Remedy.EXCEPTION
        summary = f"invoice {invoice.number} totals {invoice.total}; the ledger posted {posted}"
    else:
        return None
    return _finding(
        Domain.INVOICES,
        invoice,
        drift,
        remedy,
        summary,
        policy,
        repair_pending,
        erp=invoice.total,
        ledger=posted,
    )


def classify_payment(
    invoice: InvoiceChange, ledger: LedgerInvoice, policy: Policy, *, repair_pending: bool = False
) -> Finding | None:
    """Collections: what the ERP shows paid is what the ledger's payments add up to."""
    if invoice.status is InvoiceStatus.CANCELLED:
        return None
    paid = invoice.amount_paid
    recorded = Money(amount=ledger.paid_to_date, currency=paid.currency)
    if paid.amount == recorded.amount:
        return None
    if paid.amount > recorded.amount:
        drift, remedy = DriftClass.MISSING_LEDGER_EVENT, Remedy.REPUBLISH
        summary = f"invoice {invoice.number}: {paid} paid in the ERP, {recorded} in the ledger"
    else:
        drift, remedy = DriftClass.AMOUNT_MISMATCH, Remedy.EXCEPTION
        summary = (
            f"invoice {invoice.number}: the ledger has {recorded} paid, the ERP only {paid} "
            "(a payment reversed?)"
        )
    return _finding(
        Domain.PAYMENTS,
        invoice,
        drift,
        remedy,
        summary,
        policy,
        repair_pending,
        erp=paid,
        ledger=recorded,
    )


async def billing_pass(
    ctx: PassContext, checkpoint: str | None, domains: frozenset[Domain]
) -> AsyncIterator[Batch]:
    async for page, position in erp_pages(ctx, ChangeKind.INVOICE, checkpoint):
        invoices = [c for c in page if isinstance(c, InvoiceChange) and ctx.wanted(c.id)]
        events = await ctx.store.events_from_sources(
            ctx.erp_system, [i.id for i in invoices], LEDGER_TYPES
        )
        ledger = ledger_invoices(events)
        batch = Batch(compared=len(invoices), findings=[], checkpoint=position)
        found: list[Finding | None] = []
        for invoice in invoices:
            seen = ledger.get(invoice.id, LedgerInvoice())
            pending = invoice.id in ctx.pending_repairs
            _count(batch, invoice, seen)
            if Domain.INVOICES in domains:
                found.append(classify_invoice(invoice, seen, ctx.policy, repair_pending=pending))
            if Domain.PAYMENTS in domains:
                found.append(classify_payment(invoice, seen, ctx.policy, repair_pending=pending))
        batch.findings.extend(f for f in found if f is not None)
        yield batch


def _count(batch: Batch, invoice: InvoiceChange, ledger: LedgerInvoice) -> None:
    if invoice.status is InvoiceStatus.CANCELLED:
        return
    batch.metrics.add(Metric.BILLINGS, erp=invoice.total, ledger=ledger.posted)
    batch.metrics.add(
        Metric.PAYMENTS,
        erp=invoice.amount_paid,
        ledger=Money(amount=ledger.paid_to_date, currency=invoice.total.currency),
    )
    batch.saw(invoice.modified_at)
