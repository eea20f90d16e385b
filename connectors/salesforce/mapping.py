"""Salesforce records to Syncline's canonical CRM models, and Syncline's writes back.

``CUSTOM_FIELDS`` lists every custom field Syncline reads or writes, with the type it
needs; the Salesforce package in ``deploy/salesforce`` ships exactly these, and
``tests/unit/test_setup_packages.py`` fails when the two part.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from connectors.salesforce.wire import format_datetime, parse_datetime, to_decimal
from models.crm import (
    Account,
    AccountLegalMirror,
    Address,
    Opportunity,
    OpportunityBillingMirror,
    OpportunityBillingUpdate,
    OpportunityLine,
    OpportunityOrderUpdate,
    ProductMirror,
    RenewalOpportunity,
)
from models.types import Money

RENEWAL_STAGE = "Prospecting"

FieldType = Literal["Text", "Picklist", "DateTime", "Date", "Currency", "Lookup"]


@dataclass(frozen=True)
class CustomField:
    """A custom field as Syncline needs it in the org (Salesforce metadata type names)."""

    type: FieldType
    written: bool
    """Syncline writes it, so the integration user needs edit access, not just read."""
    length: int | None = None
    external_id: bool = False
    unique: bool = False
    """Salesforce refuses a second record with the value (``DUPLICATE_VALUE``): Syncline
    relies on that where two attempts may race to create the same record."""
    reference_to: str | None = None


PRODUCT_KEY_FIELD = "Syncline_Item_Id__c"
"""Product2's external id: the ERP item id, the key the catalog mirror upserts by."""
RENEWAL_KEY_FIELD = "External_Id__c"
"""Opportunity's external id: a renewal's key, unique so a racing retry cannot add one."""
ERP_CUSTOMER_FIELD = "Syncline_Customer_Id__c"
TAX_ID_FIELD = "Tax_Id__c"

CUSTOM_FIELDS: dict[str, dict[str, CustomField]] = {
    "Account": {
        TAX_ID_FIELD: CustomField("Text", written=True, length=40),
        "Segment__c": CustomField("Picklist", written=False),
        # Two accounts may mirror one ERP customer, so an external id but not unique.
        ERP_CUSTOMER_FIELD: CustomField("Text", written=True, length=64, external_id=True),
        "Syncline_Legal_Name__c": CustomField("Text", written=True, length=255),
        "Syncline_Legal_Synced_At__c": CustomField("DateTime", written=True),
    },
    "Opportunity": {
        "Syncline_Order_Id__c": CustomField("Text", written=True, length=64),
        "Syncline_Order_Number__c": CustomField("Text", written=True, length=64),
        "Syncline_Order_Status__c": CustomField("Text", written=True, length=64),
        "Syncline_Fulfilment_Status__c": CustomField("Text", written=True, length=64),
        "Syncline_Synced_At__c": CustomField("DateTime", written=True),
        "Syncline_Billing_Status__c": CustomField("Text", written=True, length=32),
        "Syncline_Invoiced_Amount__c": CustomField("Currency", written=True),
        "Syncline_Paid_Amount__c": CustomField("Currency", written=True),
        "Syncline_Balance__c": CustomField("Currency", written=True),
        "Syncline_Last_Invoice_Date__c": CustomField("Date", written=True),
        "Syncline_Renewal_Of__c": CustomField("Lookup", written=True, reference_to="Opportunity"),
        "Syncline_Subscription_Id__c": CustomField("Text", written=True, length=64),
        RENEWAL_KEY_FIELD: CustomField(
            "Text", written=True, length=255, external_id=True, unique=True
        ),
    },
    "Product2": {
        PRODUCT_KEY_FIELD: CustomField(
            "Text", written=True, length=64, external_id=True, unique=True
        ),
    },
}

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
    TAX_ID_FIELD,
    "OwnerId",
    "Segment__c",
    ERP_CUSTOMER_FIELD,
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
    "Syncline_Order_Status__c",
    "LastModifiedDate",
)


# What reconciliation compares of an opportunity's billing mirror.
BILLING_MIRROR_FIELDS = (
    "Id",
    "Syncline_Order_Id__c",
    "Syncline_Billing_Status__c",
    "Syncline_Invoiced_Amount__c",
    "Syncline_Paid_Amount__c",
    "Syncline_Balance__c",
    "LastModifiedDate",
)


def to_billing_mirror(record: dict[str, Any]) -> OpportunityBillingMirror:
    def amount(field: str) -> Decimal | None:
        value = record.get(field)
        return None if value is None else to_decimal(value)

    return OpportunityBillingMirror(
        opportunity_id=record["Id"],
        erp_order_id=record.get("Syncline_Order_Id__c"),
        billing_status=record.get("Syncline_Billing_Status__c"),
        invoiced_amount=amount("Syncline_Invoiced_Amount__c"),
        paid_amount=amount("Syncline_Paid_Amount__c"),
        balance=amount("Syncline_Balance__c"),
        last_modified=opportunity_modified(record),
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


def opportunity_currency(record: dict[str, Any], default_currency: str) -> str:
    """The opportunity's currency; a single-currency org answers none: its default."""
    currency: str = record.get("CurrencyIsoCode") or default_currency
    return currency


def opportunity_modified(record: dict[str, Any]) -> datetime | None:
    modified = record.get("LastModifiedDate") or record.get("SystemModstamp")
    return parse_datetime(modified) if modified else None


def to_opportunity(
    record: dict[str, Any], lines: list[dict[str, Any]], default_currency: str
) -> Opportunity:
    currency = opportunity_currency(record, default_currency)
    amount = record.get("Amount")
    close_date = record.get("CloseDate")
    modified = opportunity_modified(record)
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
        erp_order_status=record.get("Syncline_Order_Status__c"),
        last_modified=modified,
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
        tax_id=record.get(TAX_ID_FIELD),
        owner_id=record.get("OwnerId"),
        segment=record.get("Segment__c"),
        erp_customer_id=record.get(ERP_CUSTOMER_FIELD),
        legal_name=record.get("Syncline_Legal_Name__c"),
    )


def order_status_fields(update: OpportunityOrderUpdate) -> dict[str, Any]:
    """The ERP order's number and status on its opportunity (and how much of it has
    shipped, once the ERP said)."""
    fields: dict[str, Any] = {
        "Syncline_Order_Id__c": update.erp_order_id,
        "Syncline_Order_Number__c": update.order_number,
        "Syncline_Order_Status__c": update.order_status,
        "Syncline_Synced_At__c": format_datetime(update.synced_at),
    }
    if update.fulfilment_status is not None:
        fields["Syncline_Fulfilment_Status__c"] = update.fulfilment_status
    return fields


def billing_status_fields(update: OpportunityBillingUpdate) -> dict[str, Any]:
    """Billing and payment status on the opportunity."""
    return {
        "Syncline_Billing_Status__c": update.billing_status,
        "Syncline_Invoiced_Amount__c": update.invoiced_amount,
        "Syncline_Paid_Amount__c": update.paid_amount,
        "Syncline_Balance__c": update.balance,
        "Syncline_Last_Invoice_Date__c": (
            update.last_invoice_date.isoformat() if update.last_invoice_date else None
        ),
        "Syncline_Synced_At__c": format_datetime(update.synced_at),
    }


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
        TAX_ID_FIELD: mirror.tax_id,
        ERP_CUSTOMER_FIELD: mirror.erp_customer_id,
        "Syncline_Legal_Synced_At__c": format_datetime(mirror.synced_at),
    }


def product_fields(product: ProductMirror) -> dict[str, Any]:
    """Product2 fields (the key, ``PRODUCT_KEY_FIELD``, is in the upsert URL)."""
    return {"Name": product.name, "ProductCode": product.sku, "IsActive": product.is_active}


def renewal_fields(renewal: RenewalOpportunity) -> dict[str, Any]:
    """A new renewal opportunity; ``RENEWAL_KEY_FIELD`` carries ``renewal.key``."""
    return {
        "Name": renewal.name,
        "AccountId": renewal.account_id,
        "StageName": RENEWAL_STAGE,
        "CloseDate": renewal.close_date.isoformat(),
        "Amount": renewal.amount.amount,
        "CurrencyIsoCode": renewal.amount.currency,
        "Syncline_Renewal_Of__c": renewal.renewal_of,
        "Syncline_Subscription_Id__c": renewal.erp_subscription_id,
        RENEWAL_KEY_FIELD: renewal.key,
    }
