"""What must hold of a deal's money once the systems settle, invoice by invoice: the
ledger's billings (v2: posted, less voids and credit memos) and collections (v2: cash
applied, less refunds) equal the ERP's, each fact is in the ledger once, and the
reports add them up per customer.

The ERP's side, per invoice: billed is its total now (zero once voided) less the credit
memos created from it; collected is the cash its payments applied less the refunds of
credit memos created from it. A standalone credit memo and its refunds belong to the
customer, not an invoice: they count in the reports only.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

from tests.lifecycle.books import ZERO

if TYPE_CHECKING:
    from tests.lifecycle.model import EventView, InvoiceView, Opportunity, OpportunityWorld

Expect = Callable[[bool, str, str], bool]


def _amount(events: list[EventView], field: str) -> Decimal:
    return sum((Decimal(str(e.payload.get(field) or 0)) for e in events), ZERO)


def _of(events: list[EventView], kind: str, **match: str) -> list[EventView]:
    return [
        e
        for e in events
        if e.type == kind
        and all(
            (e.source_id if name == "source_id" else str(e.payload.get(name))) == value
            for name, value in match.items()
        )
    ]


def check_invoice(
    invoice: InvoiceView, opp: Opportunity, world: OpportunityWorld, expect: Expect, waits: str
) -> None:
    events = world.events
    memos = [m for m in world.memos if m.invoice_id == invoice.id]
    memo_ids = {m.id for m in memos}
    refunded = sum((r.amount for r in world.refunds if r.memo_id in memo_ids), ZERO)
    original = opp.invoices.get(invoice.id, invoice.total)
    name = f"invoice {invoice.id}"

    posted = _of(events, "invoice.posted", source_id=invoice.id)
    # NetSuite zeroes a voided invoice's amounts: one voided before Syncline first read
    # it can only be posted at zero (and voided at zero). Billed net checks the money.
    postable = {original, ZERO} if invoice.voided else {original}
    expect(
        len(posted) == 1 and _amount(posted, "total") in postable,
        "billings",
        f"{name} ({original}): the ledger has {[e.payload.get('total') for e in posted]} "
        f"invoice.posted{waits}",
    )
    voids = _of(events, "invoice.voided", source_id=invoice.id)
    expect(
        len(voids) == (1 if invoice.voided else 0),
        "billings",
        f"{name} is {'voided' if invoice.voided else 'not voided'} in the ERP; the ledger "
        f"has {len(voids)} invoice.voided{waits}",
    )
    issued = _of(events, "credit_memo.issued", erp_invoice_id=invoice.id)
    ledger_billed = _amount(posted, "total") - _amount(voids, "amount") - _amount(issued, "total")
    erp_billed = invoice.total - sum((m.total for m in memos), ZERO)
    expect(
        ledger_billed == erp_billed,
        "billings",
        f"{name}: billed net {erp_billed} in the ERP (total now {invoice.total}, credit "
        f"memos {[str(m.total) for m in memos]}), {ledger_billed} in the ledger{waits}",
    )
    credits = _of(events, "credit_memo.applied", source_id=invoice.id)
    expect(
        _amount(credits, "amount") == invoice.credited,
        "billings",
        f"{name}: {invoice.credited} credited in the ERP, the ledger's credit_memo.applied "
        f"add up to {_amount(credits, 'amount')}{waits}",
    )
    payments = _of(events, "payment.applied", source_id=invoice.id)
    refunds = _of(events, "payment.refunded", erp_invoice_id=invoice.id)
    ledger_collected = _amount(payments, "amount") - _amount(refunds, "amount")
    expect(
        _amount(payments, "amount") == invoice.paid and ledger_collected == invoice.paid - refunded,
        "collections",
        f"{name}: the ERP says {invoice.paid} paid and {refunded} refunded; the ledger's "
        f"payment.applied add up to {_amount(payments, 'amount')}, its payment.refunded to "
        f"{_amount(refunds, 'amount')}{waits}",
    )


def check_money(opp: Opportunity, world: OpportunityWorld, expect: Expect, waits: str) -> None:
    for invoice in world.invoices:
        check_invoice(invoice, opp, world, expect, waits)
    events = world.events
    for memo in world.memos:
        issued = _of(events, "credit_memo.issued", source_id=memo.id)
        expect(
            len(issued) == 1 and _amount(issued, "total") == memo.total,
            "ledger_fact",
            f"credit memo {memo.id} ({memo.total}): the ledger has "
            f"{[e.payload.get('total') for e in issued]} credit_memo.issued",
        )
    for refund in world.refunds:
        paid_out = _of(
            events, "payment.refunded", source_id=refund.id, erp_credit_memo_id=refund.memo_id
        )
        expect(
            len(paid_out) == 1 and _amount(paid_out, "amount") == refund.amount,
            "ledger_fact",
            f"refund {refund.id} of credit memo {refund.memo_id} ({refund.amount}): the "
            f"ledger has {[e.payload.get('amount') for e in paid_out]} payment.refunded",
        )
    billed = sum((i.total for i in world.invoices), ZERO) - sum(
        (m.total for m in world.memos), ZERO
    )
    collected = sum((i.paid for i in world.invoices), ZERO) - sum(
        (r.amount for r in world.refunds), ZERO
    )
    expect(
        world.billings == billed,
        "billings",
        f"billings report {world.billings}, the ERP's invoices net of voids and credit "
        f"memos {billed}{waits}",
    )
    expect(
        world.collections == collected,
        "collections",
        f"collections report {world.collections}, the ERP's payments less refunds "
        f"{collected}{waits}",
    )


def check_books(opp: Opportunity, world: OpportunityWorld, expect: Expect) -> None:
    """The ERP holds the credit memos and refunds finance made (else the test is wrong)."""
    seen = {m.id: m for m in world.memos}
    for memo_id, memo in opp.books.memos.items():
        found = seen.get(memo_id)
        expect(
            found is not None and found.total == memo.total and found.left == memo.left,
            "erp_record",
            f"credit memo {memo_id}: finance issued {memo.total} with {memo.left} left; the "
            f"ERP says {found}",
        )
    refunds = {r.id: r for r in world.refunds}
    for refund_id, (memo_id, amount) in opp.books.refunds.items():
        expect(
            refund_id in refunds and refunds[refund_id].amount == amount,
            "erp_record",
            f"refund {refund_id} of {amount} from credit memo {memo_id}: the ERP says "
            f"{refunds.get(refund_id)}",
        )
