"""Salesforce records to Syncline's canonical CRM models, and Syncline's writes back."""

from __future__ import annotations

from datetime import date
from typing import Any

from connectors.salesforce.wire import format_datetime, parse_datetime, to_decimal
from models.crm import (
    Account,
    AccountLegalMirror,
    Address,
    Opportunity,
    OpportunityLine,
    ProductMirror,
    RenewalOpportunity,
)
from models.types import Money

RENEWAL_STAGE = "Prospecting"

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

ACCOUNT_FIELDS = (
    "Id",
    "Name",
    "BillingStreet",
    "BillingCity",
    "BillingState",
    "BillingPostalCode",
    "BillingCountry",
    "Tax_Id__c",
    "OwnerId",
    "Segment__c",
    "Syncline_Customer_Id__c",
    "Syncline_Legal_Name__c",
)

# An opportunity's header without its line items: what listing many of them needs.
# ``CurrencyIsoCode`` assumes a multi-currency org, as the price book writes already do.
OPPORTUNITY_FIELDS = (
    "Id",
    "AccountId",
    "Name",
    "StageName",
    "IsClosed",
    "IsWon",
    "CloseDate",
    "CurrencyIsoCode",
    "Amount",
    "Syncline_Order_Id__c",
    "LastModifiedDate",
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
        legal_name=record.get("Syncline_Legal_Name__c"),
    )


def account_mirror_fields(mirror: AccountLegalMirror) -> dict[str, Any]:
    """The ERP's legal customer as account fields. Every field is written, nulls too:
    the ERP owns them, so a value it no longer has must not linger in the CRM."""
    address = mirror.billing_address
    return {
        "Syncline_Legal_Name__c": mirror.legal_name,
        "BillingStreet": address.street,
        "BillingCity": address.city,
        "BillingState": address.state,
        "BillingPostalCode": address.postal_code,
        "BillingCountry": address.country,
        "Tax_Id__c": mirror.tax_id,
        "Syncline_Customer_Id__c": mirror.erp_customer_id,
        "Syncline_Legal_Synced_At__c": format_datetime(mirror.synced_at),
    }


def product_fields(product: ProductMirror) -> dict[str, Any]:
    """Product2 fields (the key, ``Syncline_Item_Id__c``, is in the upsert URL)."""
    return {"Name": product.name, "ProductCode": product.sku, "IsActive": product.is_active}


def renewal_fields(renewal: RenewalOpportunity) -> dict[str, Any]:
    """A new renewal opportunity; ``External_Id__c`` carries ``renewal.key``."""
    return {
        "Name": renewal.name,
        "AccountId": renewal.account_id,
        "StageName": RENEWAL_STAGE,
        "CloseDate": renewal.close_date.isoformat(),
        "Amount": renewal.amount.amount,
        "CurrencyIsoCode": renewal.amount.currency,
        "Syncline_Renewal_Of__c": renewal.renewal_of,
        "Syncline_Subscription_Id__c": renewal.erp_subscription_id,
        "External_Id__c": renewal.key,
    }
