"""Credit notes applied to invoices by hand: Tryton's reconciliation of their lines.

A credit note that was not made "with refund" settles an invoice when an accountant
reconciles the credit note's receivable line with the invoice's (the "Reconcile
Lines" or "Reconcile Accounts" wizard); both then show as paid. Nothing on either
document names the other: what links them is the reconciliation (``account.move.
reconciliation``) their lines share. Each line's move says which document it comes
from (``origin``: ``"account.invoice,<id>"``), and the "Pay" wizard's lines name the
invoice they pay (``invoice_payment``).

Where Tryton differs from NetSuite: a reconciliation balances a set of lines, not
pairs, so when one holds several invoices and several credits it does not say which
credit went to which invoice. Syncline reads it as a person would: each invoice is
first settled by the payment lines that name it, then the credit notes' credits go to
the invoices in id order, oldest credit note first. The usual case (one credit note
against one invoice, or against an invoice a payment settles the rest of) has only
one reading.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from connectors.tryton.mapping import ref_id
from connectors.tryton.transport import TrytonRest

Record = dict[str, Any]
Credits = dict[tuple[str, str], Decimal]
"""(credit note id, invoice id) -> the credit it applied to that invoice."""

RECONCILIATION_FIELDS = ("lines_to_pay.reconciliation",)
_LINE_FIELDS = ("debit", "credit", "reconciliation", "invoice_payment", "move.origin")
_INVOICE_REF = "account.invoice,"


def _groups(records: Sequence[Record]) -> list[int]:
    return sorted(
        {
            int(group)
            for record in records
            for line in record.get("lines_to_pay") or []
            if (group := ref_id(line.get("reconciliation"))) is not None
        }
    )


def _document(line: Record) -> str | None:
    """The invoice or credit note a line's move was posted for."""
    origin = (line.get("move") or {}).get("origin")
    if isinstance(origin, str) and origin.startswith(_INVOICE_REF):
        return origin.removeprefix(_INVOICE_REF)
    return None


def _net(line: Record) -> Decimal:
    """Debit less credit: positive for an invoice's receivable, negative for a credit."""
    return Decimal(str(line.get("debit") or 0)) - Decimal(str(line.get("credit") or 0))


async def reconciled_credits(rest: TrytonRest, records: Sequence[Record]) -> Credits:
    """The credit each credit note applied to each invoice through the reconciliations
    of these invoices' and credit notes' lines (``RECONCILIATION_FIELDS`` read): one
    call for every line of those reconciliations."""
    groups = _groups(records)
    if not groups:
        return {}
    lines = await rest.search("account.move.line", [("reconciliation", "in", groups)], _LINE_FIELDS)
    by_group: dict[str, list[Record]] = {}
    for line in lines:
        by_group.setdefault(str(ref_id(line.get("reconciliation"))), []).append(line)
    credits: Credits = {}
    for group in by_group.values():
        credits.update(allocate_credits(group))
    return credits


def allocate_credits(lines: list[Record]) -> Credits:
    """One reconciliation's credit notes applied to its invoices (module docstring),
    less what was paid out of each credit note as a refund.

    Each document's lines are netted first: an invoice cancelled by its own reversal
    (a void) has a debit and a credit from the same invoice and is neither owed nor a
    credit."""
    net: dict[str, Decimal] = {}
    paid: dict[str, Decimal] = {}
    for line in lines:
        paying = ref_id(line.get("invoice_payment"))
        document = _document(line)
        if paying is not None:
            paid[paying] = paid.get(paying, Decimal(0)) - _net(line)
        elif document is not None:
            net[document] = net.get(document, Decimal(0)) + _net(line)
    by_id = sorted(net.items(), key=lambda item: int(item[0]))
    left = {doc: amount - paid.get(doc, Decimal(0)) for doc, amount in by_id if amount > 0}
    credits: Credits = {}
    for note, amount in by_id:
        if amount >= 0:
            continue  # an invoice, or a document its own reversal cancelled
        # What the credit note still has after any refund paid out of it (the "Pay"
        # wizard's lines on a credit note debit the receivable: ``paid`` is negative).
        credit = -amount + paid.get(note, Decimal(0))
        for invoice, owed in left.items():
            applied = min(credit, owed)
            if applied <= 0:
                continue
            credits[(note, invoice)] = applied
            left[invoice] -= applied
            credit -= applied
    return credits
