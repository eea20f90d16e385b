"""Orders: the CRM's won opportunities, the ERP's orders and the ledger's bookings,
joined on the opportunity id (the ERP order's external id), classified key by key
(the pass that reads them is ``reconciliation.orders_pass``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from models.changes import OrderChange, OrderStatus
from models.crm import Opportunity
from models.events import EventType
from models.reconciliation import Domain, DriftClass, Finding, Remedy
from models.tables import LedgerEvent
from models.types import Money
from reconciliation.context import Policy, money_text

LEDGER_TYPES = (EventType.ORDER_ACCEPTED, EventType.ORDER_AMENDED, EventType.ORDER_CANCELLED)


_NOT_LIVE = frozenset({OrderStatus.CANCELLED, OrderStatus.REJECTED})


@dataclass
class LedgerOrder:
    """What the ledger says of one ERP order: its booking as last amended, and whether
    it was cancelled."""

    total: Money | None = None
    amendment: int = -1
    cancelled: bool = False


def ledger_orders(events: Sequence[LedgerEvent]) -> dict[str, LedgerOrder]:
    orders: dict[str, LedgerOrder] = {}
    for event in events:
        order = orders.setdefault(event.source_id, LedgerOrder())
        payload = event.payload
        if event.event_type == EventType.ORDER_CANCELLED:
            order.cancelled = True
            continue
        amendment = int(payload.get("amendment", 0)) if event.event_type == "order.amended" else 0
        if amendment >= order.amendment:
            order.amendment = amendment
            order.total = Money(amount=Decimal(payload["total"]), currency=payload["currency"])
    return orders


def classify_order(
    key: str,
    crm: Opportunity | None,
    erp: Sequence[OrderChange],
    ledger: dict[str, LedgerOrder],
    policy: Policy,
    *,
    repair_pending: bool = False,
) -> Finding | None:
    """The one class of this opportunity's difference, or None when all three agree."""
    if crm is not None and len(erp) == 1 and _agree(crm, erp[0], ledger.get(erp[0].id)):
        return None  # the common case, decided before anything is built
    # An order rejected at approval never was a booking and never will be (finance
    # reopening it makes it pending again): not live.
    live = [order for order in erp if order.status not in _NOT_LIVE]
    changed_at = max(
        [o.modified_at for o in erp] + ([crm.last_modified] if crm and crm.last_modified else []),
        default=None,
    )

    def finding(
        drift: DriftClass,
        remedy: Remedy,
        summary: str,
        ledger: str | None = None,
        record: OrderChange | None = None,
    ) -> Finding:
        drift, remedy, summary = policy.judge(drift, remedy, summary, changed_at, repair_pending)
        return Finding(
            domain=Domain.ORDERS,
            key=key,
            drift=drift,
            remedy=remedy,
            summary=summary,
            crm=money_text(crm.amount) if crm else None,
            erp=money_text(live[0].total) if live else None,
            erp_id=live[0].id if live else (erp[0].id if erp else None),
            currency=crm.currency if crm else (live[0].total.currency if live else None),
            ledger=ledger,
            record=record.model_dump(mode="json") if record else None,
        )

    if len(live) > 1:
        ids = ", ".join(o.order_number for o in live)
        return finding(
            DriftClass.DUPLICATE_ORDER, Remedy.EXCEPTION, f"{len(live)} live ERP orders: {ids}"
        )
    if crm is None:
        if not live:
            return None  # cancelled orders of a deal no longer won: nothing to book
        return finding(
            DriftClass.ORPHAN_ERP_ORDER,
            Remedy.SIGNAL_DEAL,
            f"ERP order {live[0].order_number} is live but the opportunity is not closed-won",
        )
    if not live:
        if erp and erp[-1].status is OrderStatus.REJECTED:
            return None  # nothing booked; the deal's approval_rejected exception asks sales
        if erp:
            cancelled = erp[-1]
            if not ledger.get(cancelled.id, LedgerOrder()).cancelled:
                return finding(
                    DriftClass.STATUS_DRIFT,
                    Remedy.REPUBLISH,
                    f"ERP order {cancelled.order_number} is cancelled; the ledger still books it",
                    record=cancelled,
                )
            return finding(
                DriftClass.STATUS_DRIFT,
                Remedy.EXCEPTION,
                f"won in the CRM, but ERP order {cancelled.order_number} was cancelled",
            )
        return finding(
            DriftClass.MISSING_ORDER,
            Remedy.REPLAY_DEAL,
            f"closed-won{_since(crm)} with no ERP order",
        )
    order = live[0]
    booked = ledger.get(order.id)
    if crm.currency != order.total.currency:
        return finding(
            DriftClass.CURRENCY_MISMATCH,
            Remedy.EXCEPTION,
            f"the CRM sells in {crm.currency}, ERP order {order.order_number} is in "
            f"{order.total.currency}",
        )
    if order.status is OrderStatus.PENDING_APPROVAL and (booked is None or booked.total is None):
        return None  # held by the ERP: no booking until approved, the deal waits for it
    if booked is None or booked.total is None:
        return finding(
            DriftClass.MISSING_LEDGER_EVENT,
            Remedy.RECORD_EVENT,
            f"ERP order {order.order_number} has no order.accepted in the ledger",
            record=order,
        )
    if booked.cancelled:
        return finding(
            DriftClass.STATUS_DRIFT,
            Remedy.EXCEPTION,
            f"the ledger records ERP order {order.order_number} as cancelled; the ERP "
            "holds it live",
            ledger=money_text(booked.total),
        )
    if crm.amount is not None and crm.amount.amount != order.total.amount:
        return finding(
            DriftClass.AMOUNT_MISMATCH,
            Remedy.SIGNAL_DEAL,
            f"the CRM says {crm.amount}, ERP order {order.order_number} {order.total}",
            ledger=money_text(booked.total),
        )
    if booked.total != order.total:
        return finding(
            DriftClass.AMOUNT_MISMATCH,
            Remedy.EXCEPTION,
            f"ERP order {order.order_number} is {order.total}; the ledger books {booked.total}",
            ledger=money_text(booked.total),
        )
    if crm.erp_order_id not in (None, order.id):
        return finding(
            DriftClass.STATUS_DRIFT,
            Remedy.REPLAY_DEAL,
            f"the CRM names ERP order {crm.erp_order_id}; the ERP holds {order.id}",
        )
    return None


def _agree(crm: Opportunity, order: OrderChange, booked: LedgerOrder | None) -> bool:
    """CRM, ERP and ledger say the same of one live order (what the checks below end
    on when they find nothing)."""
    return (
        order.status is not OrderStatus.CANCELLED
        and booked is not None
        and not booked.cancelled
        and booked.total is not None
        and crm.currency == order.total.currency
        and (crm.amount is None or crm.amount.amount == order.total.amount)
        and booked.total.amount == order.total.amount
        and booked.total.currency == order.total.currency
        and crm.erp_order_id in (None, order.id)
    )


def _since(crm: Opportunity) -> str:
    return f" on {crm.close_date.isoformat()}" if crm.close_date else ""
