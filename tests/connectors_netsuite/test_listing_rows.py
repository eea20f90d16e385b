"""The listing's rows and the listing's models say the same: for every status letter and
each edge the mapping handles (no tranid, an unknown or missing currency, a later
generation's external id, another offset, no total, no date, no customer), the model
``order_from_row`` builds from ``order_rows_by_reference``'s row equals the one
``orders_by_reference`` builds from the same SuiteQL row."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from connectors.netsuite.mapping import SALES_ORDER_STATUS_NAMES
from models.order_rows import ERP_COLUMNS, order_from_row

from .fake import FakeNetSuite
from .test_changes import page

OPPORTUNITY = "006000000000001AAA"


def _row(n: int, **changes: Any) -> dict[str, Any]:
    row = {
        "id": str(100 + n),
        "tranid": f"SO{1000 + n}",
        "externalid": f"006{n:012d}AAA",
        "entity": "42",
        "status": "B",
        "foreigntotal": Decimal("1200.50"),
        "currency": "EUR",
        "trandate": "2026-11-20",
        "lastmodifieddate": "2026-11-20T10:00:00Z",
    }
    return {**row, **changes}


ROWS = [
    *[_row(n, status=letter) for n, letter in enumerate(SALES_ORDER_STATUS_NAMES)],
    _row(20, status="X"),  # a letter NetSuite may add: open, named as it came
    _row(21, status=None),
    _row(22, tranid=None),
    _row(23, currency="1"),  # an internal id where a code was expected: the default
    _row(24, currency=None),
    _row(25, externalid=f"{OPPORTUNITY}-2"),  # won again: the opportunity's second order
    _row(26, externalid="OPP-7"),  # not a Salesforce id: kept as it is
    _row(27, lastmodifieddate="2026-11-20T11:30:00+01:30"),
    _row(28, foreigntotal=None),
    _row(29, foreigntotal=1e2),
    _row(30, foreigntotal=Decimal("1E+3")),
    _row(31, trandate=None),
    _row(32, entity=None),
]


async def test_the_row_builds_the_model_the_connector_builds() -> None:
    # The Closed order (H) has one system note: closed from Pending Approval.
    notes = [{"recordid": "107", "newvalue": "Closed", "date": "2026-11-21T10:00:00Z"}]
    fake = FakeNetSuite(lambda request: page(notes if b"systemnote" in request.content else ROWS))
    client = fake.client()
    models = await client.orders_by_reference(None, len(ROWS) + 1)
    rows = await client.order_rows_by_reference(None, len(ROWS) + 1)
    await client.aclose()

    assert len(models) == len(rows) == len(ROWS)
    assert all(len(row) == len(ERP_COLUMNS) for row in rows)
    for model, row in zip(models, rows, strict=True):
        assert order_from_row(row) == model
        # Equal models, and equal as a finding carries them (the record it repairs from).
        assert order_from_row(row).model_dump(mode="json") == model.model_dump(mode="json")
    # Rejected is read from the Closed order's system notes, as the change feed does.
    assert {model.status for model in models} == {
        "pending_approval",
        "open",
        "cancelled",
        "billed",
        "rejected",
    }
    assert rows[25 - 20 + len(SALES_ORDER_STATUS_NAMES)][0] == OPPORTUNITY
