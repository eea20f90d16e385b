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
``ERP_COLUMNS``; the ledger's view of an order is a ``LedgerRow``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from models.changes import OrderChange, OrderStatus
from models.crm import CLOSED_WON, Opportunity
from models.reconciliation import Finding
from models.types import Money
from reconciliation.context import Policy
from reconciliation.merge import Joined
from reconciliation.orders import LedgerOrder, classify_order

CRM_COLUMNS = ("id", "amount", "currency", "close_date", "last_modified", "erp_order_id")
"""A won opportunity's row: amount as decimal text (or None), close date and last
modified as ISO text, the ERP order id Syncline wrote back (or None)."""
ERP_COLUMNS = (
    "external_id",
    "erp_order_id",
    "order_number",
    "total",
    "currency",
    "status",
    "modified_at",
)
"""An ERP order's row: external id (the opportunity), total as decimal text, status as
``OrderStatus`` names it, modified at as ISO text with its offset."""

CrmRow = Sequence[Any]
ErpRow = Sequence[Any]

_LIVE = frozenset(status.value for status in OrderStatus if status is not OrderStatus.CANCELLED)
"""Statuses of a live order, as text: anything else (cancelled, or a text
``OrderStatus`` refuses) is left to the models."""


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


def opportunity_from_row(row: CrmRow) -> Opportunity:
    """The row as the model ``classify_order`` reads (trusted: a listing's own rows)."""
    key, amount, currency, close_date, modified, erp_order_id = row
    return Opportunity.model_construct(
        id=key,
        account_id=None,
        name=key,
        stage=CLOSED_WON,
        is_closed=True,
        is_won=True,
        close_date=date.fromisoformat(close_date) if close_date else None,
        currency=currency,
        amount=None
        if amount is None
        else Money.model_construct(amount=Decimal(amount), currency=currency),
        lines=[],
        erp_order_id=erp_order_id,
        last_modified=datetime.fromisoformat(modified) if modified else None,
    )


def order_from_row(row: ErpRow) -> OrderChange:
    key, order_id, number, total, currency, status, modified = row
    return OrderChange.model_construct(
        kind="order",
        id=order_id,
        order_number=number,
        crm_opportunity_id=key,
        customer_id="",
        status=OrderStatus(status),
        erp_status=status,
        total=Money.model_construct(amount=Decimal(total), currency=currency),
        tran_date=None,
        lines=[],
        modified_at=datetime.fromisoformat(modified),
    )


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
