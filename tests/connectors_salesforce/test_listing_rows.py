"""The listing's rows and the listing's models say the same: for each edge the mapping
handles (no amount, an amount as a JSON number, a single-currency org's missing
currency, no close date, no last modified but a system stamp, neither, nothing written
back yet, no account), the model ``opportunity_from_row`` builds from
``won_opportunity_rows``'s row equals the one ``won_opportunities`` builds from the same
record."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from connectors.salesforce import SalesforceClient
from models import exact_json
from models.order_rows import CRM_COLUMNS, opportunity_from_row

from .fake import DATA, FakeSalesforce
from .test_listings import _opportunity

RECORDS = [
    _opportunity("0065g000000001AAAA"),
    _opportunity("0065g000000002AAAA", Amount=None),
    _opportunity("0065g000000003AAAA", Amount=Decimal("1000.50")),
    _opportunity("0065g00000000CAAAA", Amount=Decimal("1E+3")),
    _opportunity("0065g000000004AAAA", Amount=1200),
    _opportunity("0065g000000005AAAA", CurrencyIsoCode=None),
    _opportunity("0065g000000006AAAA", CloseDate=None),
    _opportunity(
        "0065g000000007AAAA",
        LastModifiedDate=None,
        SystemModstamp="2026-11-23T12:00:00.000+0000",
    ),
    _opportunity("0065g000000008AAAA", LastModifiedDate=None),
    _opportunity("0065g000000009AAAA", LastModifiedDate="2026-11-23T10:15:30+0130"),
    _opportunity(
        "0065g00000000AAAAA",
        Syncline_Order_Id__c=None,
        Syncline_Order_Status__c="Pending Fulfillment",
    ),
    _opportunity("0065g00000000BAAAA", AccountId=None, StageName="Won (custom stage)"),
]


def _org(request: httpx.Request) -> httpx.Response:
    records: list[dict[str, Any]] = RECORDS
    body = {"totalSize": len(records), "done": True, "records": records}
    # Exact numbers on the wire, as Salesforce writes them (``Amount`` 1234.5, not text).
    return httpx.Response(
        200, content=exact_json.dumps(body), headers={"content-type": "application/json"}
    )


async def test_the_row_builds_the_model_the_connector_builds(
    fake: FakeSalesforce, client: SalesforceClient
) -> None:
    fake.on("GET", f"{DATA}/query", _org)
    models = await client.won_opportunities(None, 50)
    rows = await client.won_opportunity_rows(None, 50)

    assert len(models) == len(rows) == len(RECORDS)
    assert all(len(row) == len(CRM_COLUMNS) for row in rows)
    for model, row in zip(models, rows, strict=True):
        assert opportunity_from_row(row) == model
        assert opportunity_from_row(row).model_dump(mode="json") == model.model_dump(mode="json")
    by_id = {model.id: model for model in models}
    assert by_id["0065g000000005AAAA"].currency == "USD"  # the org's default
    assert by_id["0065g000000008AAAA"].last_modified is None
    assert by_id["0065g000000002AAAA"].amount is None
