"""Orders: the CRM's won opportunities, the ERP's orders and the ledger's bookings,
joined on the opportunity id (the ERP order's external id)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TypeVar

from models.changes import OrderChange, OrderStatus
from models.crm import Opportunity
from models.events import EventType
from models.reconciliation import Domain, DriftClass, Finding, Metric, Remedy
from models.tables import LedgerEvent
from models.types import Money
from reconciliation.context import Batch, PassContext, Policy, money_text
from reconciliation.merge import Joined, merge_join

T = TypeVar("T")

LEDGER_TYPES = (EventType.ORDER_ACCEPTED, EventType.ORDER_AMENDED, EventType.ORDER_CANCELLED)


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
    live = [order for order in erp if order.status is not OrderStatus.CANCELLED]
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


async def orders_pass(ctx: PassContext, after: str | None) -> AsyncIterator[Batch]:
    """Batches in key order; resuming with ``after`` skips what a batch reported."""
    joined = merge_join(
        _crm_pages(ctx, after),
        _erp_pages(ctx, after),
        left_key=_opportunity_key,
        right_key=_order_key,
        names=("the CRM's won opportunities", "the ERP's orders"),
    )
    async for rows in joined:
        rows = [row for row in rows if ctx.wanted(row.key)]
        batch = Batch(compared=len(rows), findings=[], checkpoint=None)
        order_ids = [order.id for row in rows for order in row.right]
        events = await ctx.store.events_from_sources(ctx.erp_system, order_ids, LEDGER_TYPES)
        ledger = ledger_orders(events)
        for row in rows:
            _count(batch, row, ledger)
            finding = classify_order(
                row.key,
                row.left[0] if row.left else None,
                row.right,
                ledger,
                ctx.policy,
                repair_pending=row.key in ctx.pending_repairs,
            )
            if finding is not None:
                batch.findings.append(finding)
        if rows:
            batch.checkpoint = rows[-1].key
        yield batch


def _count(
    batch: Batch, row: Joined[Opportunity, OrderChange], ledger: dict[str, LedgerOrder]
) -> None:
    crm = row.left[0] if row.left else None
    live = [o for o in row.right if o.status is not OrderStatus.CANCELLED]
    batch.metrics.add(Metric.BOOKINGS, crm=crm.amount if crm else None)
    for order in live:
        batch.metrics.add(Metric.BOOKINGS, erp=order.total)
    for order in row.right:
        booked = ledger.get(order.id)
        if booked is not None and booked.total is not None and not booked.cancelled:
            batch.metrics.add(Metric.BOOKINGS, ledger=booked.total)
        batch.saw(order.modified_at)


Fetch = Callable[[str | None, int, date | None], Awaitable[list[T]]]


async def _keyed_pages(
    ctx: PassContext, fetch: Fetch[T], key_of: Callable[[T], str], after: str | None
) -> AsyncIterator[Sequence[T]]:
    """One side's pages by key: all of them, or, for a targeted run, just the named
    keys (each read from just below it, so the page starts at it)."""
    if ctx.keys is not None:
        for key in sorted(ctx.keys):
            if after is None or key > after:
                page = await fetch(_just_before(key), 1, ctx.since)
                yield [row for row in page if key_of(row) == key]
        return
    while True:
        page = await fetch(after, ctx.page_size, ctx.since)
        if page:
            yield page
        if len(page) < ctx.page_size:
            return
        after = key_of(page[-1])


def _crm_pages(ctx: PassContext, after: str | None) -> AsyncIterator[Sequence[Opportunity]]:
    return _keyed_pages(ctx, ctx.crm.won_opportunities, _opportunity_key, after)


def _erp_pages(ctx: PassContext, after: str | None) -> AsyncIterator[Sequence[OrderChange]]:
    return _keyed_pages(ctx, ctx.erp.orders_by_reference, _order_key, after)


def _opportunity_key(opportunity: Opportunity) -> str:
    return opportunity.id


def _order_key(order: OrderChange) -> str:
    return order.crm_opportunity_id or ""


def _just_before(key: str) -> str | None:
    """A key below ``key`` with no key of the same length between them (ids here are
    fixed-length), so a page read after it starts at ``key``."""
    if not key or key[-1] == "\0":
        return None
    return key[:-1] + chr(ord(key[-1]) - 1)
