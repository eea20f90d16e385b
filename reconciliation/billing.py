"""Invoices and payments: each ERP invoice against the ledger's settlement facts of it
(``reconciliation.invoice_sides``): billed and credited (the invoices domain) and
collected (payments). One read of the invoices serves both domains."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

from models.changes import ChangeKind, InvoiceChange
from models.reconciliation import Domain, DriftClass, Finding, Metric, Remedy
from models.types import Money
from reconciliation.context import Batch, PassContext, Policy
from reconciliation.erp_records import erp_pages
from reconciliation.invoice_sides import (
    LEDGER_TYPES,
    Difference,
    LedgerInvoice,
    Measure,
    differences,
    erp_amount,
    ledger_invoices,
)

__all__ = ["LedgerInvoice", "billing_pass", "classify_invoice", "classify_payment"]

_MEASURES = {
    Domain.INVOICES: (Measure.BILLED, Measure.CREDITED),
    Domain.PAYMENTS: (Measure.COLLECTED,),
}


def _evidence(invoice: InvoiceChange, ledger: LedgerInvoice) -> dict[str, str]:
    """Both sides of every measure, in the invoice's currency, whichever differs."""
    evidence = {
        "invoice_number": invoice.number,
        "erp_order_id": invoice.erp_order_id or "",
        "crm_opportunity_id": invoice.crm_opportunity_id or "",
        "erp_status": str(invoice.status),
    }
    for measure in Measure:
        evidence[f"{measure}.erp"] = str(erp_amount(invoice, measure))
        evidence[f"{measure}.ledger"] = str(ledger.amount(measure))
    return evidence


def _findings(
    domain: Domain,
    invoice: InvoiceChange,
    ledger: LedgerInvoice,
    policy: Policy,
    repair_pending: bool,
) -> list[Finding]:
    """One finding per class: two measures missing facts of one invoice are one
    republish of it, their summaries and cents side by side."""
    currency = invoice.total.currency
    if ledger.currency is not None and ledger.currency != currency:
        found = [
            Difference(
                Measure.BILLED,
                DriftClass.CURRENCY_MISMATCH,
                Remedy.EXCEPTION,
                erp_amount(invoice, Measure.BILLED),
                ledger.billed,
                f"invoice {invoice.number} is in {currency}; the ledger posted it in "
                f"{ledger.currency}",
            )
        ]
        if domain is not Domain.INVOICES:
            return []
    else:
        found = differences(invoice, ledger, _MEASURES[domain])
    by_class: dict[DriftClass, list[Difference]] = {}
    for difference in found:
        by_class.setdefault(difference.drift, []).append(difference)
    findings: list[Finding] = []
    for drift, group in by_class.items():
        summary = "; ".join(d.why for d in group)
        judged, remedy, summary = policy.judge(
            drift, group[0].remedy, summary, invoice.modified_at, repair_pending
        )
        evidence = _evidence(invoice, ledger)
        evidence["measures"] = ",".join(d.measure for d in group)
        evidence["difference_cents"] = ",".join(str(d.cents) for d in group)
        findings.append(
            Finding(
                domain=domain,
                key=invoice.id,
                drift=judged,
                remedy=remedy,
                summary=summary,
                erp=" / ".join(f"{d.erp} {currency}" for d in group),
                ledger=" / ".join(f"{d.ledger} {currency}" for d in group),
                currency=currency,
                erp_id=invoice.id,
                record=invoice.model_dump(mode="json"),
                evidence=evidence,
            )
        )
    return findings


def classify_invoice(
    invoice: InvoiceChange, ledger: LedgerInvoice, policy: Policy, *, repair_pending: bool = False
) -> list[Finding]:
    """Billings: the ERP's billed (zero once voided) and credited amounts equal the
    ledger's posted less voided, and its credit memo applications."""
    return _findings(Domain.INVOICES, invoice, ledger, policy, repair_pending)


def classify_payment(
    invoice: InvoiceChange, ledger: LedgerInvoice, policy: Policy, *, repair_pending: bool = False
) -> list[Finding]:
    """Collections: the cash the ERP's payment records applied to the invoice equals
    the ledger's ``payment.applied`` amounts."""
    return _findings(Domain.PAYMENTS, invoice, ledger, policy, repair_pending)


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
        for invoice in invoices:
            seen = ledger.get(invoice.id, LedgerInvoice())
            pending = invoice.id in ctx.pending_repairs
            _count(batch, invoice, seen)
            if Domain.INVOICES in domains:
                batch.findings += classify_invoice(
                    invoice, seen, ctx.policy, repair_pending=pending
                )
            if Domain.PAYMENTS in domains:
                batch.findings += classify_payment(
                    invoice, seen, ctx.policy, repair_pending=pending
                )
        yield batch


def _count(batch: Batch, invoice: InvoiceChange, ledger: LedgerInvoice) -> None:
    """Billings net and collections as the ERP and the ledger total them, voided
    invoices included (at zero on the ERP's side, posted less voided on the ledger's)."""
    currency = invoice.total.currency

    def net(billed: Decimal, credited: Decimal) -> Money:
        return Money(amount=billed - credited, currency=currency)

    batch.metrics.add(
        Metric.BILLINGS_NET,
        erp=net(erp_amount(invoice, Measure.BILLED), erp_amount(invoice, Measure.CREDITED)),
        ledger=net(ledger.billed, ledger.credited),
    )
    batch.metrics.add(
        Metric.COLLECTIONS,
        erp=Money(amount=erp_amount(invoice, Measure.COLLECTED), currency=currency),
        ledger=Money(amount=ledger.collected, currency=currency),
    )
    batch.saw(invoice.modified_at)
