"""A Tryton sale as a listing row (``models.order_rows``).

The values come through the helpers ``mapping.sales_order_from_record`` and
``mapping.order_change_from_record`` use (the currency and its default, the exact
total, the party, the state as Syncline reads it, the modification instant), so
``order_from_row`` of the row is the model ``order_change_from_record`` builds from a
listing's record, which has no lines (``tests/connectors_tryton/test_listing_rows.py``
checks it record by record).
"""

from __future__ import annotations

from typing import Any

from connectors.tryton import mapping
from models.order_rows import ErpRow, date_text, decimal_text, instant_text


def sale_row(record: dict[str, Any], default_currency: str) -> ErpRow:
    """``record`` (fields ``ORDER_LISTING_FIELDS``) in ``ERP_COLUMNS`` order."""
    return (
        record.get("reference") or None,
        str(record["id"]),
        # Tryton numbers a sale when it is quoted; before that the id is all there is.
        str(record.get("number") or record["id"]),
        # The mapping's own readers of an amount and a currency, shared on purpose.
        decimal_text(mapping._amount(record.get("total_amount") or 0)),
        mapping._currency(record, default_currency),
        mapping.order_status(record).value,
        instant_text(mapping.modified_at(record)),
        mapping.ref_id(record.get("party")) or "",
        str(record.get("state") or ""),
        date_text(record.get("sale_date")),
    )
