"""An order's invoices as the ledger holds them: where a later run of its deal starts.

A deal's run follows its order's billing from the invoice snapshots the change feed
signals, and hears only what changes after it starts. A later run (the first one
terminated, then replayed by reconciliation) would show an invoiced, part-paid order as
not invoiced, forever if nothing changes again. The feed records every invoice, credit
and payment before it signals them, so the ledger holds what the first run heard or
missed: the later run starts from it (issue 17, found by the lifecycle explorer).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from models.billing import InvoiceSnapshot, InvoiceStatus
from models.events import EventType, SourceSystem
from models.tables import LedgerEvent
from models.types import Money
from store import Store

_SETTLING = (EventType.INVOICE_VOIDED, EventType.CREDIT_MEMO_APPLIED, EventType.PAYMENT_APPLIED)


async def invoices_in_ledger(
    store: Store, system: SourceSystem, opportunity_id: str, erp_order_id: str
) -> list[InvoiceSnapshot]:
    """Each invoice of the order the ledger holds, as a snapshot of what its facts say:
    its total, the credits and the cash applied to it, voided or not."""
    posted = [
        event
        for event in await store.events_for(opportunity_id)
        if event.event_type == EventType.INVOICE_POSTED
        and event.source_system == system
        and event.payload.get("erp_order_id") == erp_order_id
    ]
    if not posted:
        return []
    settling = await store.events_from_sources(
        system, [event.source_id for event in posted], _SETTLING
    )
    return [
        invoice_from_facts(invoice, [e for e in settling if e.source_id == invoice.source_id])
        for invoice in posted
    ]


def invoice_from_facts(posted: LedgerEvent, settling: Sequence[LedgerEvent]) -> InvoiceSnapshot:
    """One invoice as its ledger facts say: ``posted`` its ``invoice.posted``, ``settling``
    its voids, credits applied and payments applied. A later run of the deal starts from
    it, and reconciliation measures the CRM's mirror against it."""
    payload = posted.payload
    currency = str(payload["currency"])
    total = Decimal(str(payload["total"]))

    def applied(event_type: EventType) -> Decimal:
        return sum(
            (Decimal(str(e.payload["amount"])) for e in settling if e.event_type == event_type),
            Decimal(0),
        )

    credited = applied(EventType.CREDIT_MEMO_APPLIED)
    collected = applied(EventType.PAYMENT_APPLIED)
    due = max(total - credited - collected, Decimal(0))
    if any(e.event_type == EventType.INVOICE_VOIDED for e in settling):
        status = InvoiceStatus.CANCELLED
    else:
        status = InvoiceStatus.PAID if due == 0 else InvoiceStatus.OPEN
    invoice_date = payload.get("invoice_date")
    return InvoiceSnapshot.model_validate(
        {
            "id": posted.source_id,
            "number": payload.get("invoice_number") or posted.source_id,
            "erp_order_id": payload.get("erp_order_id"),
            "crm_opportunity_id": posted.subject_id,
            "status": status,
            "total": Money(amount=total, currency=currency),
            "amount_due": Money(amount=due, currency=currency),
            "invoice_date": invoice_date,
            # Its newest fact's date: any snapshot the feed signals later is as new.
            "modified_at": max(e.occurred_at for e in [posted, *settling]),
            "credited": credited,
            "collected": collected,
        }
    )
