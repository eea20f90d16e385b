"""Tryton's payments as records of their own: the lines its "Pay" wizard adds to a
customer invoice (``account.move.line`` with ``invoice_payment``, the invoice's
``payment_lines``), and the cash an invoice snapshot states from them.

Each payment line is one payment applied to one invoice: its id, its move's number and
date (the day the money came), the amount (credit less debit on the receivable).
Tryton's credit notes are customer invoices with a negative total, read as credit memos;
one made "with refund" cancels the invoice it credits with its own move (the invoice's
``cancel_move``), which is how Syncline knows which invoice it settled; one reconciled
by hand is read in ``reconciled``. The "Pay" wizard run on a credit note pays the
customer out: a refund.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from connectors.tryton.mapping import invoice_from_record, ref_id
from connectors.tryton.reconciled import Credits
from models.changes import InvoiceChange
from models.settlement import (
    Application,
    CreditMemoChange,
    InvoiceRef,
    PaymentChange,
    PaymentDirection,
)
from models.types import Money

PAYMENT_LINE_FIELDS = (
    "credit",
    "debit",
    "date",
    "party",
    "move.number",
    "invoice_payment.number",
    "invoice_payment.total_amount",
    "invoice_payment.amount_to_pay",
    "invoice_payment.currency.code",
    "invoice_payment.sales.reference",
    "invoice_payment.lines.origin",
)
INVOICE_PAYMENT_FIELDS = ("payment_lines.credit", "payment_lines.debit")


def _amount(line: dict[str, Any]) -> Decimal:
    """What the line paid: a customer payment credits the receivable."""
    return Decimal(str(line.get("credit") or 0)) - Decimal(str(line.get("debit") or 0))


def payment_change_from_line(
    record: dict[str, Any], default_currency: str, moment: datetime
) -> PaymentChange:
    """A customer payment of an invoice, or a refund: the "Pay" wizard run on a credit
    note pays the customer out (Tryton has no refund document; the line debits the
    receivable against the credit note, see ``_refund_from_line``)."""
    invoice = record.get("invoice_payment") or {}
    currency = default_currency
    if isinstance(invoice.get("currency"), dict) and invoice["currency"].get("code"):
        currency = str(invoice["currency"]["code"])
    amount = _amount(record)
    move = record.get("move") or {}
    day = record.get("date")
    if not isinstance(day, date):
        raise ValueError(f"payment line {record.get('id')} has no date")
    invoice_id = ref_id(invoice)
    if invoice_id is None:
        raise ValueError(f"payment line {record.get('id')} pays no invoice")
    if is_credit_note(invoice):
        return _refund_from_line(record, invoice_id, currency, day, moment)
    sales = invoice.get("sales") or []
    sale = sales[0] if sales else {}
    return PaymentChange(
        id=str(record["id"]),
        number=str(move.get("number") or record["id"]),
        # A line debiting the receivable takes cash back on that invoice: still one
        # application to it, negative (collections net it out on its date).
        direction=PaymentDirection.RECEIVED,
        customer_id=ref_id(record.get("party")),
        total=Money(amount=abs(amount), currency=currency),
        tran_date=day,
        applications=[
            Application(
                amount=amount,
                invoice=InvoiceRef(
                    id=invoice_id,
                    number=str(invoice.get("number") or invoice_id),
                    erp_order_id=ref_id(sale) if sale else None,
                    crm_opportunity_id=sale.get("reference") or None,
                    amount_due=Decimal(str(invoice.get("amount_to_pay") or 0)),
                ),
            )
        ],
        modified_at=moment,
    )


def _refund_from_line(
    record: dict[str, Any], note_id: str, currency: str, day: date, moment: datetime
) -> PaymentChange:
    """Cash paid out against a credit note: one refund of that credit note.

    Where Tryton differs from NetSuite: a refund is not a document of its own
    (NetSuite's ``customerRefund``) but the "Pay" wizard's line on the credit note, so
    one refund pays out exactly one credit note, and its id is the line's. The invoice
    the credit note credits is added a page at a time (``refund_of_invoice``).
    """
    note = record.get("invoice_payment") or {}
    move = record.get("move") or {}
    # Paying out debits the receivable: the refund is debit less credit.
    refunded = -_amount(record)
    return PaymentChange(
        id=str(record["id"]),
        number=str(move.get("number") or record["id"]),
        direction=PaymentDirection.REFUNDED,
        customer_id=ref_id(record.get("party")),
        total=Money(amount=abs(refunded), currency=currency),
        tran_date=day,
        applications=[
            Application(
                amount=refunded,
                credit_memo_id=note_id,
                credit_memo_number=str(note.get("number") or note_id),
            )
        ],
        modified_at=moment,
    )


def is_credit_note(record: dict[str, Any]) -> bool:
    """A customer credit note: Tryton's credit wizard makes an "out" invoice whose
    quantities, and so its total, are negative."""
    return Decimal(str(record.get("total_amount") or 0)) < 0


def credit_memo_from_record(
    record: dict[str, Any], default_currency: str, moment: datetime
) -> CreditMemoChange:
    """The credit note alone; ``with_credited`` and ``with_reconciled`` add the invoice
    it settled. Unapplied is what Tryton still owes the customer on it (its amount to
    pay, negative): less once part of it is paid out, nothing once it is paid."""
    snapshot = invoice_from_record(record, default_currency)
    total = Money(amount=abs(snapshot.total.amount), currency=snapshot.total.currency)
    return CreditMemoChange(
        id=snapshot.id,
        number=snapshot.number,
        customer_id=snapshot.customer_id,
        created_from=None,
        total=total,
        amount_unapplied=Money(amount=abs(snapshot.amount_due.amount), currency=total.currency),
        tran_date=snapshot.invoice_date,
        modified_at=moment,
    )


CREDITED_FIELDS = ("number", "amount_to_pay", "cancel_move", "sales.reference")


def _credited_ref(invoice: dict[str, Any]) -> InvoiceRef:
    """An invoice read with ``CREDITED_FIELDS``, as a credit memo names it."""
    sales = invoice.get("sales") or []
    sale = sales[0] if sales else {}
    return InvoiceRef(
        id=str(invoice["id"]),
        number=str(invoice.get("number") or invoice["id"]),
        erp_order_id=ref_id(sale) if sale else None,
        crm_opportunity_id=sale.get("reference") or None,
        amount_due=Decimal(str(invoice.get("amount_to_pay") or 0)),
    )


def with_credited(
    memo: CreditMemoChange, record: dict[str, Any], credited: list[dict[str, Any]]
) -> CreditMemoChange:
    """The credit note with the invoice whose cancel move is its move: credited in full
    ("with refund"). A credit note applied any other way is left to ``with_reconciled``."""
    move = ref_id(record.get("move"))
    for invoice in credited:
        if move is not None and ref_id(invoice.get("cancel_move")) == move:
            ref = _credited_ref(invoice)
            return memo.model_copy(
                update={
                    "created_from": ref,
                    "applications": [Application(amount=memo.total.amount, invoice=ref)],
                    "amount_unapplied": Money(amount=Decimal(0), currency=memo.total.currency),
                }
            )
    return memo


def made_from(memo: CreditMemoChange, invoice: dict[str, Any] | None) -> CreditMemoChange:
    """The credit note with the invoice it credits (``invoices.credited_invoices``)."""
    if memo.created_from is not None or invoice is None:
        return memo
    return memo.model_copy(update={"created_from": _credited_ref(invoice)})


def refund_of_invoice(payment: PaymentChange, made_from: dict[str, Any]) -> PaymentChange:
    """A refund with the invoice its credit note credits, as NetSuite's refund names
    the invoice its credit memo was created from; a payment unchanged."""
    if payment.direction is not PaymentDirection.REFUNDED:
        return payment
    applications = [
        application.model_copy(update={"invoice": _credited_ref(invoice)})
        if (invoice := made_from.get(application.credit_memo_id or "")) is not None
        else application
        for application in payment.applications
    ]
    return payment.model_copy(update={"applications": applications})


def with_reconciled(
    memo: CreditMemoChange, credits: Credits, invoices: list[dict[str, Any]]
) -> CreditMemoChange:
    """A credit note not made "with refund", with the invoices an accountant reconciled
    it with (``connectors.tryton.reconciled``, invoices read with ``CREDITED_FIELDS``):
    one application per invoice."""
    if memo.applications:
        return memo
    refs = {str(invoice["id"]): _credited_ref(invoice) for invoice in invoices}
    applications = [
        Application(amount=amount, invoice=refs[invoice])
        for (note, invoice), amount in sorted(credits.items(), key=lambda c: int(c[0][1]))
        if note == memo.id and invoice in refs
    ]
    if not applications:
        return memo
    applied = sum((a.amount for a in applications), Decimal(0))
    left = max(memo.total.amount - applied, Decimal(0))
    return memo.model_copy(
        update={
            "applications": applications,
            "amount_unapplied": Money(amount=left, currency=memo.total.currency),
        }
    )


def credited_by_hand(invoice: InvoiceChange, credits: Credits) -> InvoiceChange:
    """An invoice with the credit that credit notes reconciled with it applied (one
    cancelled "with refund" already states its credit)."""
    if invoice.credited:
        return invoice
    credited = sum(
        (amount for (_, invoice_id), amount in credits.items() if invoice_id == invoice.id),
        Decimal(0),
    )
    return invoice.model_copy(update={"credited": credited}) if credited else invoice
