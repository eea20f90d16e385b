"""The nightly orders pass: the CRM's won opportunities and the ERP's orders, read as
listing rows (``models.order_rows``), merged by key and compared by ``classify_rows``,
which builds models only for the keys that differ."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any

from models.changes import OrderStatus
from models.deal import ExceptionReason
from models.reconciliation import Metric
from models.tables import ExceptionStatus
from models.types import Money
from reconciliation.context import Batch, PassContext
from reconciliation.merge import Joined, merge_join
from reconciliation.order_rows import CrmRow, ErpRow, LedgerRow, classify_rows, ledger_rows
from reconciliation.orders import BOOKED_STATUSES, LEDGER_TYPES

_key = itemgetter(0)
"""A row's key: the opportunity id on both sides (``CRM_COLUMNS``, ``ERP_COLUMNS``)."""


async def orders_pass(ctx: PassContext, after: str | None) -> AsyncIterator[Batch]:
    """Batches in key order; resuming with ``after`` skips what a batch reported."""
    joined = merge_join(
        _keyed_pages(ctx, ctx.crm.won_opportunity_rows, after),
        _keyed_pages(ctx, ctx.erp.order_rows_by_reference, after),
        left_key=_key,
        right_key=_key,
        names=("the CRM's won opportunities", "the ERP's orders"),
    )
    async for rows in joined:
        rows = [row for row in rows if ctx.wanted(row.key)]
        batch = Batch(compared=len(rows), findings=[], checkpoint=None)
        order_ids = [order[1] for row in rows for order in row.right]
        events = await ctx.store.events_from_sources(ctx.erp_system, order_ids, LEDGER_TYPES)
        ledger = ledger_rows(events)
        _count(batch, rows, ledger)
        parked = await _parked_on_rejection(ctx, rows)
        batch.findings = classify_rows(rows, ledger, ctx.policy, ctx.pending_repairs, parked)
        if rows:
            batch.checkpoint = rows[-1].key
        yield batch


async def _parked_on_rejection(
    ctx: PassContext, rows: Sequence[Joined[CrmRow, ErpRow]]
) -> frozenset[str]:
    """The deals of rejected orders that wait for sales: an open exception of their own
    for the rejection. Looked up only for keys with a rejected order (few)."""
    rejected = [row.key for row in rows if any(o[5] == _REJECTED for o in row.right)]
    if not rejected:
        return frozenset()
    exceptions = await ctx.store.list_exceptions(subject_ids=rejected)
    return frozenset(
        e.subject_id
        for e in exceptions
        if e.status != ExceptionStatus.RESOLVED and e.reason == ExceptionReason.APPROVAL_REJECTED
    )


_REJECTED = OrderStatus.REJECTED.value
_BOOKED = frozenset(status.value for status in BOOKED_STATUSES)


def _count(
    batch: Batch, rows: Sequence[Joined[CrmRow, ErpRow]], ledger: dict[str, LedgerRow]
) -> None:
    """Bookings as each system sees them (the won amounts, the approved live orders'
    totals, held and rejected ones being no bookings, and what the ledger books for
    them), summed per currency before they are booked: one ``Money`` per currency and
    side, not one per row; and how fresh the batch is."""
    sums: dict[tuple[str, str], Decimal] = {}

    def add(side: str, amount: str, currency: str) -> None:
        sums[side, currency] = sums.get((side, currency), _ZERO) + Decimal(amount)

    for row in rows:
        crm = row.left[0] if row.left else None
        if crm is not None and crm[1] is not None:
            add("crm", crm[1], crm[2])
        for order in row.right:
            if order[5] in _BOOKED:
                add("erp", order[3], order[4])
            booked = ledger.get(order[1])
            if booked is not None and not booked.cancelled and booked.total and booked.currency:
                add("ledger", booked.total, booked.currency)
            batch.saw(datetime.fromisoformat(order[6]))
    for (side, currency), amount in sums.items():
        money = Money.model_construct(amount=amount, currency=currency)
        batch.metrics.add(Metric.BOOKINGS, **{side: money})


_ZERO = Decimal(0)


Fetch = Callable[[str | None, int, date | None], Awaitable[Sequence[Sequence[Any]]]]


async def _keyed_pages(
    ctx: PassContext, fetch: Fetch, after: str | None
) -> AsyncIterator[Sequence[Sequence[Any]]]:
    """One side's pages by key: all of them, or, for a targeted run, just the named
    keys (each read from just below it, so the page starts at it)."""
    if ctx.keys is not None:
        for key in sorted(ctx.keys):
            if after is None or key > after:
                page = await fetch(_just_before(key), 1, ctx.since)
                yield [row for row in page if row[0] == key]
        return
    while True:
        page = await fetch(after, ctx.page_size, ctx.since)
        if page:
            yield page
        if len(page) < ctx.page_size:
            return
        after = page[-1][0]


def _just_before(key: str) -> str | None:
    """A key below ``key`` with no key of the same length between them (ids here are
    fixed-length), so a page read after it starts at ``key``."""
    if not key or key[-1] == "\0":
        return None
    return key[:-1] + chr(ord(key[-1]) - 1)
