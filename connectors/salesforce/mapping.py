"""Salesforce records to Syncline's canonical CRM models."""

from __future__ import annotations

from datetime import date
from typing import Any

from connectors.salesforce.wire import parse_datetime, to_decimal
from models.crm import Account, Address, Opportunity, OpportunityLine
from models.types import Money

# The fields Syncline reads, so a query never depends on the org's full layout.
LINE_FIELDS = (
    "Id",
    "Quantity",
    "UnitPrice",
    "TotalPrice",
    "Product2Id",
    "ProductCode",
    "Product2.ProductCode",
    "Product2.Name",
    "CreatedDate",
)


def to_line(record: dict[str, Any], currency: str) -> OpportunityLine:
    product = record.get("Product2") or {}
    return OpportunityLine(
        id=record["Id"],
        product_code=product.get("ProductCode") or record.get("ProductCode"),
        product_name=product.get("Name"),
        quantity=to_decimal(record["Quantity"]),
        unit_price=Money(amount=to_decimal(record["UnitPrice"]), currency=currency),
    )


def to_opportunity(
    record: dict[str, Any], lines: list[dict[str, Any]], default_currency: str
) -> Opportunity:
    currency = record.get("CurrencyIsoCode") or default_currency
    amount = record.get("Amount")
    close_date = record.get("CloseDate")
    modified = record.get("LastModifiedDate") or record.get("SystemModstamp")
    return Opportunity(
        id=record["Id"],
        # Salesforce allows an opportunity without an account; the workflow's validation
        # reports it, so the read itself must not fail.
        account_id=record.get("AccountId") or None,
        name=record["Name"],
        stage=record["StageName"],
        is_closed=bool(record.get("IsClosed")),
        is_won=bool(record.get("IsWon")),
        close_date=date.fromisoformat(close_date) if close_date else None,
        currency=currency,
        amount=None if amount is None else Money(amount=to_decimal(amount), currency=currency),
        lines=[to_line(line, currency) for line in lines],
        erp_order_id=record.get("Syncline_Order_Id__c"),
        last_modified=parse_datetime(modified) if modified else None,
    )


def to_account(record: dict[str, Any]) -> Account:
    return Account(
        id=record["Id"],
        name=record["Name"],
        billing_address=Address(
            street=record.get("BillingStreet"),
            city=record.get("BillingCity"),
            state=record.get("BillingState"),
            postal_code=record.get("BillingPostalCode"),
            country=record.get("BillingCountry"),
        ),
        tax_id=record.get("Tax_Id__c"),
        owner_id=record.get("OwnerId"),
        segment=record.get("Segment__c"),
        erp_customer_id=record.get("Syncline_Customer_Id__c"),
    )
