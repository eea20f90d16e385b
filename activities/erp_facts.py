"""What an ERP order or invoice adds to the ledger, as the ERP has it now: one rule for
every writer.

The deal records the order it placed, cancelled or amended; the change feed records
every order it reads, whoever changed it (a finance user editing or cancelling it in
the ERP, a second order entered by hand). Both ask the ledger what it already holds, so
the facts come out the same whichever writer is first: ``order.accepted`` once,
``order.cancelled`` once, and ``order.amended`` only when the order's total or lines
differ from the newest booked state, numbered after the amendments already held; an
invoice's ``invoice.posted`` once and ``invoice.voided`` once the ERP voids it; a credit
memo and each of its applications once; each payment's application to an invoice, and
each refund of a credit memo, once (read from the payment records, never guessed from
an invoice's amount due).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from models.billing import InvoiceSnapshot, InvoiceStatus
from models.changes import OrderStatus
from models.events import EventType, SourceSystem
from models.facts import (
    OrderFacts,
    invoice_events,
    order_accepted_event,
    order_amended_event,
    order_cancelled_event,
    order_lines_payload,
)
from models.order_progress_facts import order_approval_rejected_event
from models.settlement import CreditMemoChange, PaymentChange, PaymentDirection
from models.settlement_facts import (
    credit_memo_applied_event,
    credit_memo_issued_event,
    payment_applied_event,
    payment_refunded_event,
)
from models.tables import LedgerEvent
from store import Store

_Booked = tuple[str, Decimal, tuple[tuple[str, Decimal, Decimal], ...]]


def _booked(currency: Any, total: Any, lines: Sequence[dict[str, Any]]) -> _Booked:
    """What a booking depends on, compared as numbers: "2" and "2.00" are one quantity
    whichever reader (the order's create response, a SuiteQL listing) wrote it."""
    return (
        str(currency),
        Decimal(str(total)),
        tuple(
            sorted(
                (str(line["sku"]), Decimal(str(line["quantity"])), Decimal(str(line["rate"])))
                for line in lines
            )
        ),
    )


def _newest_booking_row(rows: Sequence[LedgerEvent]) -> LedgerEvent | None:
    accepted = [row for row in rows if row.event_type == EventType.ORDER_ACCEPTED]
    amended = sorted(
        (row for row in rows if row.event_type == EventType.ORDER_AMENDED),
        key=lambda row: int(row.payload.get("amendment", 0)),
    )
    return amended[-1] if amended else accepted[0] if accepted else None


def _booking_in(row: LedgerEvent) -> _Booked:
    payload = row.payload
    return _booked(payload["currency"], payload["total"], payload.get("lines") or [])


def _booking_of(order: OrderFacts) -> _Booked:
    return _booked(order.total.currency, order.total.amount, order_lines_payload(order.lines))


def _newest_booking(rows: Sequence[LedgerEvent]) -> _Booked | None:
    newest = _newest_booking_row(rows)
    return None if newest is None else _booking_in(newest)


_BOOKINGS = [EventType.ORDER_ACCEPTED, EventType.ORDER_AMENDED]


async def booked_from_this_version(store: Store, order: OrderFacts, system: SourceSystem) -> bool:
    """Whether the ledger's newest booking of ``order`` was read from this very version
    of it: the deal that placed or amended the order read exactly this, so a signal
    about it would tell the deal nothing. Stamps are compared, never our clock against
    the ERP's; and, since NetSuite stamps to the second, so is everything the deal acts
    on (state, the ERP's status text, total and lines): the explorer caught an order
    amended by the deal and billed by finance in the same second, whose Billed version
    was taken for the one the deal had read, and "Billed" never reached the
    opportunity (the run of 1,000, seed 20261210, sequences 29 and 33)."""
    if order.erp_modified_at is None:
        return False
    rows = await store.events_from_sources(system, [order.erp_order_id], _BOOKINGS)
    newest = _newest_booking_row(rows)
    if newest is None:
        return False
    payload = newest.payload
    # A booking that does not say the state it was read in (``order.amended`` before
    # v4) proves nothing: the deal is told, which costs a signal, never a status.
    if payload.get("status") != order.status.value:
        return False
    if payload.get("erp_status") != order.erp_status:
        return False
    if _booking_in(newest) != _booking_of(order):
        return False
    read = payload.get("erp_modified_at")
    return read is not None and datetime.fromisoformat(str(read)) == order.erp_modified_at


async def record_order(
    store: Store,
    order: OrderFacts,
    system: SourceSystem,
    correlation_id: str,
    now: datetime,
) -> int:
    """Record what the ledger does not yet hold of ``order``; how many facts that was.

    An order the ERP holds for approval is no booking yet: nothing is recorded until it
    is approved (then ``order.accepted``, dated by the approval) or rejected (then
    ``order.rejected``, with the approver's reason)."""
    if order.status is OrderStatus.PENDING_APPROVAL:
        return 0
    if order.status is OrderStatus.REJECTED:
        event = order_approval_rejected_event(order, system, correlation_id, now)
        return int(await store.append_event(event))
    if order.status is OrderStatus.CANCELLED:
        recorded = await _approval_first_read_cancelled(store, order, system, correlation_id, now)
        cancelled = order_cancelled_event(order, system, correlation_id, now)
        return recorded + int(await store.append_event(cancelled))
    rows = await store.events_from_sources(system, [order.erp_order_id], _BOOKINGS)
    booked = _newest_booking(rows)
    if booked is None:
        return int(
            await store.append_event(order_accepted_event(order, system, correlation_id, now))
        )
    if _booking_of(order) == booked:
        return 0
    amendments = sum(row.event_type == EventType.ORDER_AMENDED for row in rows)
    event = order_amended_event(order, amendments + 1, system, correlation_id, now)
    return int(await store.append_event(event))


async def _approval_first_read_cancelled(
    store: Store, order: OrderFacts, system: SourceSystem, correlation_id: str, now: datetime
) -> int:
    """An order approved and then cancelled before the feed read it approved: its
    system notes still date the approval, so it is booked then (``order.accepted``)
    and cancelled after, as the ERP's own bookings have it. Without the acceptance a
    month's bookings would miss an order approved in it and cancelled in the next."""
    if order.approved_at is None:
        return 0
    rows = await store.events_from_sources(system, [order.erp_order_id], _BOOKINGS)
    if _newest_booking(rows) is not None:
        return 0
    accepted = order.model_copy(update={"status": OrderStatus.OPEN})
    return int(
        await store.append_event(order_accepted_event(accepted, system, correlation_id, now))
    )


async def record_invoice(
    store: Store,
    invoice: InvoiceSnapshot,
    system: SourceSystem,
    correlation_id: str,
    now: datetime,
) -> int:
    """Record what the ledger does not yet hold of ``invoice``; how many facts that was."""
    posted_total = None
    if invoice.status is InvoiceStatus.CANCELLED:
        posted = await store.events_from_source(EventType.INVOICE_POSTED, system, invoice.id)
        posted_total = Decimal(str(posted[0].payload["total"])) if posted else None
    recorded = 0
    for event in invoice_events(invoice, posted_total, system, correlation_id, now):
        recorded += await store.append_event(event)
    return recorded


async def record_credit_memo(
    store: Store,
    memo: CreditMemoChange,
    system: SourceSystem,
    correlation_id: str,
    now: datetime,
) -> int:
    """``credit_memo.issued`` once, and one ``credit_memo.applied`` per invoice."""
    events = [credit_memo_issued_event(memo, system, correlation_id, now)]
    events += [
        credit_memo_applied_event(memo, application, system, correlation_id, now)
        for application in memo.applications
        if application.invoice is not None
    ]
    recorded = 0
    for event in events:
        recorded += await store.append_event(event)
    return recorded


async def record_payment(
    store: Store,
    payment: PaymentChange,
    system: SourceSystem,
    correlation_id: str,
    now: datetime,
) -> int:
    """A payment: one ``payment.applied`` per invoice it pays (cash only); a refund:
    one ``payment.refunded`` per credit memo it pays out."""
    recorded = 0
    for application in payment.applications:
        if payment.direction is PaymentDirection.REFUNDED:
            event = payment_refunded_event(payment, application, system, correlation_id, now)
        elif application.invoice is None:
            continue  # nothing to pay: the reader keeps only invoice applications
        else:
            paid_before = await store.paid_to_date(system, application.invoice.id)
            event = payment_applied_event(
                payment, application, paid_before, system, correlation_id, now
            )
        recorded += await store.append_event(event)
    return recorded
