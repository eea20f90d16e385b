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
)


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
    changes: list[ErpChange] = []
    for record in records:
        moment = modified_at(record)
        if settlement.is_credit_note(record):
            memo = settlement.credit_memo_from_record(record, base_currency, moment)
            memo = settlement.with_credited(memo, record, cancelled)
            changes.append(settlement.with_reconciled(memo, by_hand, applied_to))
        else:
            invoice = mapping.invoice_change_from_record(record, base_currency, moment)
            changes.append(settlement.credited_by_hand(invoice, by_hand))
    return changes


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
