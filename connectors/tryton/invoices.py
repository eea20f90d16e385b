"""A page of Tryton customer invoices as the change feed reads it: invoices, and credit
notes (negative customer invoices) as credit memos with what each was applied to.

A credit note is applied either "with refund" (it cancels its invoice with its own
move: the invoice's ``cancel_move``) or by hand, reconciled with the invoice's lines
(``connectors.tryton.reconciled``); an invoice a credit note was reconciled with states
that credit. Each look-up is made once per page, only when the page needs it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from connectors.tryton import mapping, reconciled, settlement
from connectors.tryton.transport import TrytonRest
from models.changes import ErpChange

Record = dict[str, Any]

INVOICE_DOMAIN = (
    ("type", "=", "out"),
    ("state", "in", ["posted", "paid", "cancelled"]),
    ("number", "!=", None),
)
INVOICE_FIELDS = (
    *mapping.INVOICE_FIELDS,
    *settlement.INVOICE_PAYMENT_FIELDS,
    *reconciled.RECONCILIATION_FIELDS,
    "lines.origin",
)
_INVOICE_LINE_REF = "account.invoice.line,"


async def invoice_page(
    rest: TrytonRest,
    records: list[Record],
    modified_at: Callable[[Record], datetime],
    base_currency: str,
) -> list[ErpChange]:
    """Invoices (``INVOICE_FIELDS`` read) as invoices, credit notes as credit memos."""
    notes = [r for r in records if settlement.is_credit_note(r)]
    moves = [m for m in (mapping.ref_id(r.get("move")) for r in notes) if m is not None]
    cancelled = (
        await rest.search(
            "account.invoice",
            [("cancel_move", "in", [int(m) for m in moves])],
            settlement.CREDITED_FIELDS,
        )
        if moves
        else []
    )
    by_hand = await reconciled.reconciled_credits(rest, records)
    applied_to = await _invoices_of(rest, by_hand)
    made_from = await credited_invoices(rest, notes)
    changes: list[ErpChange] = []
    for record in records:
        moment = modified_at(record)
        if settlement.is_credit_note(record):
            memo = settlement.credit_memo_from_record(record, base_currency, moment)
            memo = settlement.with_credited(memo, record, cancelled)
            memo = settlement.with_reconciled(memo, by_hand, applied_to)
            changes.append(settlement.made_from(memo, made_from.get(memo.id)))
        else:
            invoice = mapping.invoice_change_from_record(record, base_currency, moment)
            changes.append(settlement.credited_by_hand(invoice, by_hand))
    return changes


async def payment_page(
    rest: TrytonRest,
    records: list[Record],
    modified_at: Callable[[Record], datetime],
    base_currency: str,
) -> list[ErpChange]:
    """The "Pay" wizard's lines (``settlement.PAYMENT_LINE_FIELDS`` read) as payments,
    a refund with the invoice its credit note credits (one look-up per page, only when
    the page holds refunds)."""
    payments = [
        settlement.payment_change_from_line(record, base_currency, modified_at(record))
        for record in records
    ]
    notes = [
        record["invoice_payment"]
        for record in records
        if settlement.is_credit_note(record.get("invoice_payment") or {})
    ]
    made_from = await credited_invoices(rest, notes)
    return [settlement.refund_of_invoice(payment, made_from) for payment in payments]


async def credited_invoices(rest: TrytonRest, notes: Sequence[Record]) -> dict[str, Record]:
    """Credit note id -> the invoice it credits (read with ``settlement.CREDITED_FIELDS``).

    Tryton's credit wizard links each credit line to the invoice line it credits (the
    line's ``origin``), not the credit note to the invoice: the invoice is found from
    those lines (the first one's, for a credit note of several invoices). A credit
    note written by hand credits no invoice."""
    credited_lines = {
        str(note["id"]): [
            int(origin.removeprefix(_INVOICE_LINE_REF))
            for line in note.get("lines") or []
            if isinstance(origin := line.get("origin"), str)
            and origin.startswith(_INVOICE_LINE_REF)
        ]
        for note in notes
    }
    wanted = sorted({line for lines in credited_lines.values() for line in lines})
    if not wanted:
        return {}
    found = await rest.search(
        "account.invoice", [("lines", "in", wanted)], (*settlement.CREDITED_FIELDS, "lines")
    )
    by_line = {int(line): invoice for invoice in found for line in invoice.get("lines") or []}
    return {
        note: by_line[lines[0]]
        for note, lines in credited_lines.items()
        if lines and lines[0] in by_line
    }


async def notes_reconciled_with(rest: TrytonRest, invoice_ids: Sequence[str]) -> list[int]:
    """The credit notes an accountant reconciled with these invoices, by id."""
    invoices = await rest.search(
        "account.invoice", [("id", "in", [int(i) for i in invoice_ids])], INVOICE_FIELDS
    )
    wanted = set(invoice_ids)
    credits = await reconciled.reconciled_credits(rest, invoices)
    return sorted({int(note) for note, invoice in credits if invoice in wanted})


async def _invoices_of(rest: TrytonRest, credits: reconciled.Credits) -> list[Record]:
    invoice_ids = sorted({int(invoice) for _, invoice in credits})
    if not invoice_ids:
        return []
    return await rest.search(
        "account.invoice", [("id", "in", invoice_ids)], settlement.CREDITED_FIELDS
    )
