"""A won opportunity and an ERP order as listing rows: plain tuples, and the models they
stand for.

Reconciliation lists every won opportunity and every ERP order each night, and most of
them agree; it compares the rows and builds a model only for a key that differs
(``reconciliation.order_rows``). The connectors' listings yield these rows
(``CrmClient.won_opportunity_rows``, ``ErpClient.order_rows_by_reference``) already
normalised as their models are (currency defaulted, status mapped, the opportunity
parsed out of the external id, instants in UTC), so ``opportunity_from_row`` and
``order_from_row`` give the model the connector's own mapping gives (each connector's
tests check that, record by record).

Values are text, as an SQL driver returns them too: amounts as decimal text, dates and
instants in ISO form.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from models.changes import OrderChange, OrderStatus
from models.crm import Opportunity
from models.types import Money

CRM_COLUMNS = (
    "id",
    "amount",
    "currency",
    "close_date",
    "last_modified",
    "erp_order_id",
    "account_id",
    "name",
    "stage",
    "erp_order_status",
)
"""A won opportunity's row: amount as decimal text (or None), close date and last
modified as ISO text (or None), the ERP order id and status Syncline wrote back (or
None); account id, name and stage only for the model (nothing compares them)."""
ERP_COLUMNS = (
    "external_id",
    "erp_order_id",
    "order_number",
    "total",
    "currency",
    "status",
    "modified_at",
    "customer_id",
    "erp_status",
    "tran_date",
)
"""An ERP order's row: the opportunity its external id names, total as decimal text,
status as ``OrderStatus`` names it, modified at as ISO text with its offset; customer
id, the ERP's own status name and the transaction date (ISO, or None) only for the
model (a finding carries the order as its record)."""

CrmRow = Sequence[Any]
ErpRow = Sequence[Any]


def opportunity_from_row(row: CrmRow) -> Opportunity:
    """The row as the model (trusted: a listing's own, normalised, rows)."""
    (key, amount, currency, close_date, modified, erp_order_id, account_id, name, stage) = row[:9]
    return Opportunity.model_construct(
        id=key,
        account_id=account_id,
        name=name,
        stage=stage,
        is_closed=True,
        is_won=True,
        close_date=date.fromisoformat(close_date) if close_date else None,
        currency=currency,
        amount=None
        if amount is None
        else Money.model_construct(amount=Decimal(amount), currency=currency),
        lines=[],
        erp_order_id=erp_order_id,
        erp_order_status=row[9],
        last_modified=datetime.fromisoformat(modified) if modified else None,
        lines_in_crm=None,
    )


def order_from_row(row: ErpRow) -> OrderChange:
    """The row as the model (trusted, as above)."""
    key, order_id, number, total, currency, status, modified, customer, erp_status = row[:9]
    return OrderChange.model_construct(
        kind="order",
        id=order_id,
        order_number=number,
        crm_opportunity_id=key,
        customer_id=customer,
        status=OrderStatus(status),
        erp_status=erp_status,
        total=Money.model_construct(amount=Decimal(total), currency=currency),
        tran_date=date.fromisoformat(row[9]) if row[9] else None,
        lines=[],
        modified_at=datetime.fromisoformat(modified),
    )


def decimal_text(value: Decimal) -> str:
    """A decimal as row text: ``Decimal(decimal_text(v))`` is ``v``, exponent and all."""
    return str(value)


def instant_text(value: datetime | None) -> str | None:
    """An aware instant as row text, as ``UtcDatetime`` holds it (in UTC)."""
    return None if value is None else value.astimezone(UTC).isoformat()


def date_text(value: date | None) -> str | None:
    return None if value is None else value.isoformat()
