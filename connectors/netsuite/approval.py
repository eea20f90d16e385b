"""When NetSuite approved or rejected a sales order it held for approval.

A sales order record has no approval date. Its system notes do: every change of its
status is a note (field, old and new value, date, who), and SuiteQL reads them from
``systemnote``. The note of the order leaving Pending Approval dates the approval
(or, leaving for Closed, the rejection). NetSuite's docs do not list the ``field`` id
a transaction's status is noted under; ``TRANDOC.KSTATUS`` is what accounts show, and
an account whose notes differ shows no approval date (the order is then booked at its
modification time, as before). A rejection's reason is the approval workflow's
``custbody_rejection_reason`` (see ``deploy/netsuite``): NetSuite's standard approval
keeps none.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from models.changes import OrderChange, OrderStatus

STATUS_NOTE_FIELD = "TRANDOC.KSTATUS"
PENDING_APPROVAL = "Pending Approval"
CLOSED = "Closed"
CANCELLED = "Cancelled"
REJECTION_REASON_FIELD = "custbody_rejection_reason"
_CHUNK = 200

Query = Callable[[str], Awaitable[list[dict[str, Any]]]]


def _stamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else None


def notes_query(order_ids: Sequence[str]) -> str:
    ids = ", ".join(order_ids)
    if not all(i.isdigit() for i in order_ids):
        raise ValueError(f"not internal ids: {list(order_ids)!r}")
    return (
        "SELECT recordid, newvalue, date FROM systemnote "
        f"WHERE field = '{STATUS_NOTE_FIELD}' AND oldvalue = '{PENDING_APPROVAL}' "
        f"AND recordid IN ({ids}) ORDER BY date, id"
    )


def reasons_query(order_ids: Sequence[str]) -> str:
    """The approvers' reasons of orders rejected at approval."""
    if not all(i.isdigit() for i in order_ids):
        raise ValueError(f"not internal ids: {list(order_ids)!r}")
    return (
        f"SELECT id, {REJECTION_REASON_FIELD} FROM transaction WHERE id IN ({', '.join(order_ids)})"
    )


def _last_decisions(notes: Sequence[dict[str, Any]]) -> dict[str, tuple[str, datetime | None]]:
    """Each order's last decision: the status it left Pending Approval for, and when."""
    last: dict[str, tuple[str, datetime | None]] = {}
    for note in notes:  # oldest first: the last one stands
        last[str(note["recordid"])] = (str(note.get("newvalue")), _stamp(note.get("date")))
    return last


def with_decisions(
    orders: Sequence[OrderChange],
    notes: Sequence[dict[str, Any]],
    reasons: dict[str, str | None],
) -> list[OrderChange]:
    """The orders with their approval dates, and those closed from Pending Approval as
    rejected (with the approver's reason from ``reasons``)."""
    last_decision = _last_decisions(notes)
    decided: list[OrderChange] = []
    for order in orders:
        decision = last_decision.get(order.id)
        if decision is None or order.status is OrderStatus.PENDING_APPROVAL:
            decided.append(order)
            continue
        new_status, at = decision
        if new_status == CLOSED and order.status is OrderStatus.CLOSED:
            update: dict[str, Any] = {
                "status": OrderStatus.REJECTED,
                "rejection_reason": reasons.get(order.id),
            }
        elif new_status in (CLOSED, CANCELLED):
            update = {}  # left pending by closing or cancelling: never approved
        else:
            update = {"approved_at": at}
        decided.append(order.model_copy(update=update))
    return decided


async def rejection(order_id: str, query: Query) -> tuple[bool, str | None]:
    """Whether one closed order was closed from Pending Approval (rejected), and the
    approver's reason: for an order found by its key rather than heard of by the feed.
    The last decision stands, as in ``with_decisions``."""
    decision = _last_decisions(await query(notes_query([order_id]))).get(order_id)
    if decision is None or decision[0] != CLOSED:
        return False, None
    rows = await query(reasons_query([order_id]))
    return True, (rows[0].get(REJECTION_REASON_FIELD) if rows else None)


async def decide(orders: Sequence[OrderChange], query: Query) -> list[OrderChange]:
    """``with_decisions`` for one page of orders: a query per 200 orders for their notes,
    and one for the reasons of those rejected."""
    ids = [order.id for order in orders]
    notes: list[dict[str, Any]] = []
    for start in range(0, len(ids), _CHUNK):
        notes += await query(notes_query(ids[start : start + _CHUNK]))
    closed_from_pending = sorted(
        {str(n["recordid"]) for n in notes if n.get("newvalue") == CLOSED}
        & {o.id for o in orders if o.status is OrderStatus.CLOSED}
    )
    reasons: dict[str, str | None] = {}
    if closed_from_pending:
        rows = await query(reasons_query(closed_from_pending))
        reasons = {str(r["id"]): r.get(REJECTION_REASON_FIELD) for r in rows}
    return with_decisions(orders, notes, reasons)
