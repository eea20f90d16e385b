"""The listing's rows and the listing's models say the same: for every state a listed
sale can be in (billed or not while processing), and each edge the mapping handles (no
number yet, no currency, no total, no sale date, a write date in another offset or only
a create date), the model ``order_from_row`` builds from ``sale_row`` equals the one
``order_change_from_record`` builds from the same record; and the client's two listings
agree on sales placed in the real trytond."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from connectors.tryton import TrytonClient
from connectors.tryton.listing_rows import sale_row
from connectors.tryton.mapping import modified_at, order_change_from_record
from models.changes import OrderStatus
from models.order_rows import ERP_COLUMNS, order_from_row
from tests.connectors_tryton.test_listings import _place

WRITTEN = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def _sale(n: int, **changes: Any) -> dict[str, Any]:
    sale = {
        "id": 100 + n,
        "number": f"S{n}",
        "reference": f"006{n:012d}AAA",
        "state": "confirmed",
        "party": {"id": 42},
        "currency": {"id": 1, "code": "EUR"},
        "total_amount": Decimal("1200.50"),
        "sale_date": date(2026, 11, 20),
        "write_date": WRITTEN,
        "create_date": WRITTEN - timedelta(days=1),
        "invoice_state": "none",
        "to_invoice": True,
        "invoices": [],
    }
    return {**sale, **changes}


BILLED = {"to_invoice": False, "invoice_state": "paid", "invoices": [{"state": "paid"}]}
SALES = [
    _sale(1),
    _sale(2, state="cancelled"),
    _sale(3, state="done"),
    _sale(4, state="processing"),
    _sale(5, state="processing", **BILLED),
    _sale(6, state="processing", **{**BILLED, "invoices": [{"state": "draft"}]}),
    _sale(7, number=None),
    _sale(8, currency=None),
    _sale(9, total_amount=None),
    _sale(10, total_amount=Decimal("1E+3")),
    _sale(11, sale_date=None),
    _sale(12, write_date=WRITTEN.astimezone(timezone(timedelta(hours=-5)))),
    _sale(13, write_date=None),
    _sale(14, party=None),
]


def test_the_row_builds_the_model_the_mapping_builds() -> None:
    for sale in SALES:
        model = order_change_from_record(sale, "USD", modified_at(sale))
        row = sale_row(sale, "USD")
        assert len(row) == len(ERP_COLUMNS)
        assert order_from_row(row) == model, sale["id"]
        assert order_from_row(row).model_dump(mode="json") == model.model_dump(mode="json")
    statuses = {order_from_row(sale_row(sale, "USD")).status for sale in SALES}
    # Tryton holds no sale for approval (README: approval is not applicable there).
    assert statuses == set(OrderStatus) - {OrderStatus.PENDING_APPROVAL, OrderStatus.REJECTED}


async def test_both_listings_agree_on_placed_sales(erp: TrytonClient) -> None:
    prefix = f"zz{uuid.uuid4().hex[:10]}-"
    for suffix in ("a", "B"):
        await _place(erp, prefix + suffix, ["SL-SEAT-PRO"])
    models = [o for o in await erp.orders_by_reference(prefix, 50) if o.crm_opportunity_id]
    rows = await erp.order_rows_by_reference(prefix, 50)
    ours = [row for row in rows if row[0].startswith(prefix)]
    assert len(ours) == 2
    assert [order_from_row(row) for row in rows] == models
