"""One invoice as the ERP and as the ledger each see it: billed, credited, collected.

The ERP's side is the invoice snapshot the change feed reads (its total, zero once
voided; the credit memos applied to it; the cash its payment records applied). The
ledger's side is the settlement facts whose source is the invoice: ``invoice.posted``
less ``invoice.voided``, the sum of ``credit_memo.applied``, the sum of
``payment.applied`` (v1 facts, guessed from the amount due, carry an amount too).

Refunds are not compared per invoice: a refund pays out a credit memo, not an
invoice (NetSuite links it to the memo; Tryton here has no refund record at all), and
what an invoice collected is the cash applied to it, which is also what the deal
mirrors onto the opportunity as paid.

Tryton: a credit note made "with refund" is read as applied to the invoice it cancels
and compared like NetSuite's; one reconciled against an invoice by hand is read as
issued only (``connectors.tryton.settlement``), so neither side counts it as credited
and this comparison cannot see it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from models.billing import InvoiceSnapshot, InvoiceStatus
from models.events import EventType
from models.reconciliation import DriftClass, Remedy
from models.tables import LedgerEvent

LEDGER_TYPES = (
    EventType.INVOICE_POSTED,
    EventType.INVOICE_VOIDED,
    EventType.CREDIT_MEMO_APPLIED,
    EventType.PAYMENT_APPLIED,
)
_ZERO = Decimal(0)


class Measure(StrEnum):
    BILLED = "billed"
    CREDITED = "credited"
    COLLECTED = "collected"


@dataclass
class LedgerInvoice:
    """The ledger's facts of one invoice, summed."""

    posted: Decimal | None = None
    currency: str | None = None
    voided: Decimal | None = None
    credited: Decimal = _ZERO
    collected: Decimal = _ZERO

    @property
    def billed(self) -> Decimal:
        return (self.posted or _ZERO) - (self.voided or _ZERO)

    def amount(self, measure: Measure) -> Decimal:
        if measure is Measure.BILLED:
            return self.billed
        return self.credited if measure is Measure.CREDITED else self.collected


def ledger_invoices(events: Sequence[LedgerEvent]) -> dict[str, LedgerInvoice]:
    invoices: dict[str, LedgerInvoice] = {}
    for event in events:
        invoice = invoices.setdefault(event.source_id, LedgerInvoice())
        payload = event.payload
        if event.event_type == EventType.INVOICE_POSTED:
            invoice.posted = Decimal(str(payload["total"]))
            invoice.currency = str(payload["currency"])
        elif event.event_type == EventType.INVOICE_VOIDED:
            invoice.voided = Decimal(str(payload["amount"]))
        elif event.event_type == EventType.CREDIT_MEMO_APPLIED:
            invoice.credited += Decimal(str(payload["amount"]))
        elif event.event_type == EventType.PAYMENT_APPLIED:
            invoice.collected += Decimal(str(payload["amount"]))
    return invoices


def erp_amount(invoice: InvoiceSnapshot, measure: Measure) -> Decimal:
    """What the ERP says of one measure: a voided invoice bills, credits and collects
    nothing (NetSuite refuses to void one with credits or payments applied)."""
    if invoice.status is InvoiceStatus.CANCELLED:
        return _ZERO
    if measure is Measure.BILLED:
        return invoice.total.amount
    if measure is Measure.CREDITED:
        return invoice.credited
    return invoice.amount_paid.amount


@dataclass(frozen=True)
class Difference:
    """One measure of one invoice on which the ERP and the ledger disagree."""

    measure: Measure
    drift: DriftClass
    remedy: Remedy
    erp: Decimal
    ledger: Decimal
    why: str

    @property
    def cents(self) -> int:
        """ERP minus ledger, in cents: what reporting lacks (negative: holds too much)."""
        return int((self.erp - self.ledger) * 100)


def differences(
    invoice: InvoiceSnapshot, ledger: LedgerInvoice, measures: Sequence[Measure]
) -> list[Difference]:
    """Each measure on which the two sides disagree, with its class and remedy.

    Less in the ledger than in the ERP is a fact the ledger never recorded: the ERP's
    record goes to the change feed's publisher, whose builders re-derive it (the same
    event id, so a fact already held is kept once). More in the ledger is a fact the
    ERP took back (a payment deleted, a credit unapplied) or a ledger fact that is
    wrong: the ledger is append-only, so a person decides."""
    found: list[Difference] = []
    voided = invoice.status is InvoiceStatus.CANCELLED
    for measure in measures:
        erp, held = erp_amount(invoice, measure), ledger.amount(measure)
        if measure is Measure.BILLED and ledger.posted is None:
            if voided and erp == _ZERO:
                # Voided before the ledger heard of it: posted and voided at once.
                why = f"voided invoice {invoice.number} has no invoice.posted/voided"
            else:
                why = f"invoice {invoice.number} ({invoice.total}) has no invoice.posted"
            found.append(
                Difference(
                    measure, DriftClass.MISSING_LEDGER_EVENT, Remedy.REPUBLISH, erp, held, why
                )
            )
            continue
        if measure is Measure.BILLED and ledger.voided is not None and not voided:
            why = f"the ledger voided invoice {invoice.number}; the ERP holds it live"
            found.append(
                Difference(measure, DriftClass.STATUS_DRIFT, Remedy.EXCEPTION, erp, held, why)
            )
            continue
        if measure is Measure.BILLED and voided and ledger.voided is None:
            why = f"invoice {invoice.number} is voided in the ERP; the ledger still bills it"
            found.append(
                Difference(
                    measure, DriftClass.MISSING_LEDGER_EVENT, Remedy.REPUBLISH, erp, held, why
                )
            )
            continue
        if erp == held:
            continue
        what = f"invoice {invoice.number}: {measure} {erp} in the ERP, {held} in the ledger"
        if erp > held and measure is not Measure.BILLED:
            found.append(
                Difference(
                    measure, DriftClass.MISSING_LEDGER_EVENT, Remedy.REPUBLISH, erp, held, what
                )
            )
        else:
            found.append(
                Difference(measure, DriftClass.AMOUNT_MISMATCH, Remedy.EXCEPTION, erp, held, what)
            )
    return found
