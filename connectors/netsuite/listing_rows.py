"""A SuiteQL sales order row as a listing row (``models.order_rows``).

The values come through the same helpers ``mapping.order_change_from_row`` uses (the
status letter, the opportunity in the external id, the currency and its default, the
total, the date and the modification instant), so ``order_from_row`` of the row is the
model ``order_change_from_row`` builds without lines (``tests/connectors_netsuite/
test_listing_rows.py`` checks it row by row).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.netsuite import mapping
from models.changes import OrderStatus
from models.order_rows import ErpRow, date_text, decimal_text, instant_text


def order_row(row: Mapping[str, Any], default_currency: str, rejected: bool = False) -> ErpRow:
    """``row`` (columns ``ORDER_COLUMNS``) in ``ERP_COLUMNS`` order; ``rejected`` when
    the order was closed at approval (``approval.decide`` says so)."""
    status, erp_status = mapping.order_status(row)
    if rejected:
        status = OrderStatus.REJECTED
    return (
        mapping.order_opportunity(row),
        str(row["id"]),
        mapping.order_number(row),
        decimal_text(mapping.order_total(row)),
        mapping.order_currency(row, default_currency),
        status.value,
        instant_text(mapping.modified_at(row)),
        mapping.order_customer(row),
        erp_status,
        date_text(mapping.order_tran_date(row)),
    )
