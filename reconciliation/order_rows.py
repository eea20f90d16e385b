"""Orders compared on the rows as the driver returns them; models only where they differ.

A comparison of a million orders a side spends most of its time building models for
rows that agree (measured on 2026-12-06: 48 s of which about 30 s made ``Opportunity``
and ``OrderChange`` objects, and most of the rest collected them). Here each key whose
rows are one opportunity and one order is first checked on the rows themselves, by the
same test ``classify_order`` starts with (``_agree``), on the same values: amounts as
``Decimal`` (``100.0`` equals ``100.00``), currencies and statuses as the text the
models would hold. Only a key that does not pass gets its models built and goes through
``classify_order``, so every finding is the reference's own: the shortcut can only say
"agrees", and only where the reference would too (``tests/reconciliation/
test_order_rows.py`` checks that on generated pairs of datasets).

Rows are tuples (or a driver's ``Row``) in the column order of ``CRM_COLUMNS`` and
``ERP_COLUMNS`` (``models.order_rows``, which the connectors' listings yield); the
ledger's view of an order is a ``LedgerRow``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import NamedTuple

from models.changes import OrderStatus
from models.order_rows import (
    CRM_COLUMNS,
    ERP_COLUMNS,
    CrmRow,
    ErpRow,
    opportunity_from_row,
    order_from_row,
)
from models.reconciliation import Finding
from models.tables import LedgerEvent
from models.types import Money
from reconciliation.context import Policy
from reconciliation.merge import Joined
from reconciliation.orders import LedgerOrder, classify_order, ledger_orders

__all__ = [
    "CRM_COLUMNS",
    "ERP_COLUMNS",
    "CrmRow",
    "ErpRow",
    "LedgerRow",
    "classify_rows",
    "ledger_rows",
    "opportunity_from_row",
    "order_from_row",
]


_LIVE = frozenset(
    status.value
    for status in OrderStatus
    if status not in (OrderStatus.CANCELLED, OrderStatus.REJECTED)
)
"""Statuses of a live order, as text: anything else (cancelled, rejected at approval,
or a text ``OrderStatus`` refuses) is left to the models."""


class LedgerRow(NamedTuple):
    """What the ledger books for one ERP order, as stored: total as decimal text."""

    total: str | None
    currency: str | None
    cancelled: bool

    def order(self) -> LedgerOrder:
        total = (
            None
            if self.total is None or self.currency is None
            else Money.model_construct(amount=Decimal(self.total), currency=self.currency)
        )
        return LedgerOrder(total=total, amendment=0, cancelled=self.cancelled)

    @classmethod
    def of(cls, order: LedgerOrder) -> LedgerRow:
        total = order.total
        return cls(
            None if total is None else str(total.amount),
            None if total is None else total.currency,
            order.cancelled,
        )


def ledger_rows(events: Sequence[LedgerEvent]) -> dict[str, LedgerRow]:
    """``ledger_orders`` as rows: what the ledger books for each ERP order."""
    return {order_id: LedgerRow.of(order) for order_id, order in ledger_orders(events).items()}


def classify_rows(
    batch: Sequence[Joined[CrmRow, ErpRow]],
    ledger: Mapping[str, LedgerRow],
    policy: Policy,
    pending_repairs: frozenset[str] = frozenset(),
) -> list[Finding]:
    """The findings of a batch of joined rows, in key order: ``classify_order``'s for
    every key, computed only for the keys whose rows do not agree."""
    findings: list[Finding] = []
    for joined in batch:
        crm, erp = joined.left, joined.right
        if len(crm) == 1 and len(erp) == 1 and _rows_agree(crm[0], erp[0], ledger):
            continue
        orders = [order_from_row(row) for row in erp]
        booked = {order.id: ledger[order.id].order() for order in orders if order.id in ledger}
        finding = classify_order(
            joined.key,
            opportunity_from_row(crm[0]) if crm else None,
            orders,
            booked,
            policy,
            repair_pending=joined.key in pending_repairs,
        )
        if finding is not None:
            findings.append(finding)
    return findings


def _rows_agree(crm: CrmRow, erp: ErpRow, ledger: Mapping[str, LedgerRow]) -> bool:
    """``orders._agree`` on the rows: the same tests on the values the models would
    hold, in the same order (so a value the reference cannot compare fails here too)."""
    if erp[5] not in _LIVE:
        return False
    booked = ledger.get(erp[1])
    if booked is None or booked.cancelled or booked.total is None or booked.currency is None:
        return False
    currency = erp[4]
    if crm[2] != currency:
        return False
    total = Decimal(erp[3])
    amount = crm[1]
    if amount is not None and Decimal(amount) != total:
        return False
    return (
        Decimal(booked.total) == total and booked.currency == currency and crm[5] in (None, erp[1])
    )
