"""A won opportunity's Salesforce record as a listing row (``models.order_rows``).

The values come through the same helpers ``mapping.to_opportunity`` uses (currency,
last modified, exact amounts), so ``opportunity_from_row`` of the row is the model
``to_opportunity`` builds without line items (``tests/connectors_salesforce/
test_listing_rows.py`` checks it record by record).
"""

from __future__ import annotations

from typing import Any

from connectors.salesforce.mapping import opportunity_currency, opportunity_modified
from connectors.salesforce.wire import to_decimal
from models.order_rows import CrmRow, decimal_text, instant_text


def opportunity_row(record: dict[str, Any], default_currency: str) -> CrmRow:
    """``record`` (fields ``OPPORTUNITY_FIELDS``) in ``CRM_COLUMNS`` order."""
    amount = record.get("Amount")
    return (
        record["Id"],
        None if amount is None else decimal_text(to_decimal(amount)),
        opportunity_currency(record, default_currency),
        record.get("CloseDate") or None,
        instant_text(opportunity_modified(record)),
        record.get("Syncline_Order_Id__c"),
        record.get("AccountId") or None,
        record["Name"],
        record["StageName"],
        record.get("Syncline_Order_Status__c"),
    )
