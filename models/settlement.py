"""How invoices are settled, as the ERP's own records say: credit memos and the money
that came in (customer payments) or went back out (customer refunds).

Each is read from its own record, never guessed from an invoice's amount due: a
credit memo applied to an invoice lowers what is due without any cash, and a payment
is dated by its own transaction date. Like every ERP change, a snapshot is the whole
record as the ERP shows it now, applications included; reading it twice is the same
news.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel

from models.billing import ChangeCursor
from models.erp import SalesOrderLine
from models.types import Money, UtcDatetime


class InvoiceRef(BaseModel):
    """The invoice a credit memo or an application names, and what it bills."""

    id: str
    number: str
    erp_order_id: str | None = None
    crm_opportunity_id: str | None = None
    amount_due: Decimal | None = None
    """What the ERP showed due on the invoice when the record naming it was read."""


class Application(BaseModel):
    """One settling record applied to one document, for ``amount`` (positive).

    For a payment or a credit memo the document is an invoice (``invoice`` is that
    invoice); for a refund it is the credit memo refunded (``credit_memo_id``), and
    ``invoice`` the invoice that credit memo was created from, when it names one."""

    amount: Decimal
    invoice: InvoiceRef | None = None
    credit_memo_id: str | None = None
    credit_memo_number: str | None = None


class CreditMemoChange(BaseModel):
    kind: Literal["credit_memo"] = "credit_memo"
    id: str
    number: str
    customer_id: str | None
    created_from: InvoiceRef | None
    """The invoice it was created from (credited), when known."""
    total: Money
    amount_unapplied: Money
    tran_date: date | None
    lines: list[SalesOrderLine] = []
    applications: list[Application] = []
    """Invoices it is applied to, one entry per invoice."""
    modified_at: UtcDatetime

    @property
    def position(self) -> ChangeCursor:
        return ChangeCursor(modified_at=self.modified_at, id=int(self.id))


class PaymentDirection(StrEnum):
    RECEIVED = "received"
    """A customer payment: cash in, applied to invoices."""
    REFUNDED = "refunded"
    """A customer refund: cash back out, paying out credit memos."""


class PaymentChange(BaseModel):
    kind: Literal["payment"] = "payment"
    id: str
    number: str
    direction: PaymentDirection
    customer_id: str | None
    total: Money
    tran_date: date
    """The payment's (or refund's) transaction date: the day the money moved."""
    applications: list[Application] = []
    modified_at: UtcDatetime

    @property
    def position(self) -> ChangeCursor:
        return ChangeCursor(modified_at=self.modified_at, id=int(self.id))
