"""Billing as the ERP reports it: invoice changes, and what a deal makes of them.

The ERP owns invoices and payments (DESIGN promise 1). Syncline reads them as a
change feed of invoice snapshots; each snapshot is the whole truth about one invoice
at one moment, so applying the same snapshot twice, or an older one after a newer
one, changes nothing.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, computed_field

from models.crm import OpportunityBillingUpdate
from models.types import CurrencyCode, Money, UtcDatetime


class InvoiceStatus(StrEnum):
    """Only posted invoices are facts; drafts are the ERP's business until posted."""

    OPEN = "open"
    PAID = "paid"
    CANCELLED = "cancelled"


# An invoice only moves forward: a stale snapshot never reopens a paid one.
_RANK = {InvoiceStatus.OPEN: 0, InvoiceStatus.PAID: 1, InvoiceStatus.CANCELLED: 2}


class BillingStatus(StrEnum):
    NOT_INVOICED = "not_invoiced"
    INVOICED = "invoiced"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"


class ChangeCursor(BaseModel):
    """A position in an ERP's change order: strictly after (``modified_at``, ``id``).

    Ordering by the timestamp *and* the id means records that share a timestamp across
    a page boundary are neither skipped nor read twice within one pass.
    """

    modified_at: UtcDatetime
    id: int = 0


class InvoiceSnapshot(BaseModel):
    """One posted invoice as the ERP shows it now."""

    id: str
    number: str
    erp_order_id: str | None
    crm_opportunity_id: str | None = None
    customer_id: str | None = None
    status: InvoiceStatus
    total: Money
    amount_due: Money
    invoice_date: date | None = None
    modified_at: UtcDatetime
    credited: Decimal = Decimal(0)
    """Credit memos applied to it: lowers what is due, and what was billed, with no cash."""
    collected: Decimal | None = None
    """Cash applied to it by payment records; None when the reader did not say (a
    snapshot from before payments were read from their records)."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def amount_paid(self) -> Money:
        """Cash paid: the payments applied, never a credit."""
        if self.status is InvoiceStatus.CANCELLED:
            paid = Decimal(0)
        elif self.collected is not None:
            paid = self.collected
        else:
            paid = self.total.amount - self.amount_due.amount - self.credited
        return Money(amount=paid, currency=self.total.currency)

    @property
    def billed_net(self) -> Decimal:
        """What the invoice bills once its credits are taken off; nothing when voided."""
        if self.status is InvoiceStatus.CANCELLED:
            return Decimal(0)
        return self.total.amount - self.credited

    @property
    def position(self) -> ChangeCursor:
        return ChangeCursor(modified_at=self.modified_at, id=int(self.id))

    def supersedes(self, other: InvoiceSnapshot) -> bool:
        """Whether this snapshot is newer news about the same invoice than ``other``."""
        if _RANK[self.status] != _RANK[other.status]:
            return _RANK[self.status] > _RANK[other.status]
        if self.amount_due.amount != other.amount_due.amount:
            # Payments only ever lower what is due; a higher figure is a stale read.
            return self.amount_due.amount < other.amount_due.amount
        return self.modified_at > other.modified_at


class DealBilling(BaseModel):
    """What the invoices of one order add up to; derived, never edited."""

    currency: CurrencyCode
    order_total: Decimal
    invoices: dict[str, InvoiceSnapshot] = {}

    def _live(self) -> list[InvoiceSnapshot]:
        return [i for i in self.invoices.values() if i.status is not InvoiceStatus.CANCELLED]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def invoiced_amount(self) -> Decimal:
        """Billed net of voids and credit memos."""
        return sum((i.billed_net for i in self._live()), Decimal(0))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def paid_amount(self) -> Decimal:
        """Cash applied (credits are not cash)."""
        return sum((i.amount_paid.amount for i in self._live()), Decimal(0))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def balance(self) -> Decimal:
        return self.invoiced_amount - self.paid_amount

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status(self) -> BillingStatus:
        live = self._live()
        if not live:
            return BillingStatus.NOT_INVOICED
        # Settled: nothing left due and the order billed in full (its gross invoices
        # cover it: a credit settles part of an invoice, it does not unbill the order).
        billed_gross = sum((i.total.amount for i in live), Decimal(0))
        if self.balance <= 0 and billed_gross >= self.order_total:
            return BillingStatus.PAID
        if self.paid_amount <= 0:
            return BillingStatus.INVOICED
        return BillingStatus.PARTIALLY_PAID

    @property
    def last_invoice_date(self) -> date | None:
        dates = [i.invoice_date for i in self._live() if i.invoice_date]
        return max(dates) if dates else None

    def crm_update(self, synced_at: datetime) -> OpportunityBillingUpdate:
        """The opportunity's billing fields as this billing says: what the deal writes
        back, and what reconciliation compares the CRM's mirror with."""
        return OpportunityBillingUpdate(
            billing_status=self.status.value,
            invoiced_amount=self.invoiced_amount,
            paid_amount=self.paid_amount,
            balance=self.balance,
            last_invoice_date=self.last_invoice_date,
            synced_at=synced_at,
        )

    def apply(self, snapshot: InvoiceSnapshot) -> bool:
        """Take a snapshot if it is news; whether anything changed."""
        current = self.invoices.get(snapshot.id)
        if current is not None and not snapshot.supersedes(current):
            return False
        self.invoices[snapshot.id] = snapshot
        return True
