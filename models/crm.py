"""The CRM's objects as Syncline sees them, independent of any one CRM's field names."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel

from models.types import CurrencyCode, Money, UtcDatetime

CLOSED_WON = "Closed Won"


class Address(BaseModel):
    street: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None


class Account(BaseModel):
    """A CRM account. Sales-facing fields are the CRM's; legal fields mirror the ERP."""

    id: str
    name: str
    billing_address: Address = Address()
    tax_id: str | None = None
    owner_id: str | None = None
    segment: str | None = None
    erp_customer_id: str | None = None
    legal_name: str | None = None
    """The ERP customer's legal name as mirrored onto the account (``name`` is the
    CRM's own). Optional with a default: accounts in saved workflow histories lack it."""


class OpportunityLine(BaseModel):
    id: str
    product_code: str | None
    product_name: str | None = None
    quantity: Decimal
    unit_price: Money


MAX_ORDER_LINES = 1000
"""The most lines Syncline turns into one order. Every line travels through the workflow's
history several times (read, order, ledger); past this a deal is a case for a person,
not a payload that would hit Temporal's 2 MiB limit."""


class Opportunity(BaseModel):
    id: str
    account_id: str | None
    name: str
    stage: str
    is_closed: bool
    is_won: bool
    close_date: date | None = None
    currency: CurrencyCode
    amount: Money | None = None
    lines: list[OpportunityLine] = []
    erp_order_id: str | None = None
    erp_order_status: str | None = None
    """The order status Syncline last wrote back (``Syncline_Order_Status__c``)."""
    last_modified: UtcDatetime | None = None
    lines_in_crm: int | None = None
    """Set when the CRM holds more than ``MAX_ORDER_LINES`` lines: how many. ``lines``
    is then left empty rather than carried into the workflow."""

    @property
    def is_closed_won(self) -> bool:
        return self.is_closed and self.is_won


class OpportunityOrderUpdate(BaseModel):
    """What Syncline writes back on the opportunity once the ERP accepted the order."""

    erp_order_id: str
    order_number: str
    order_status: str
    synced_at: UtcDatetime
    fulfilment_status: str | None = None
    """"Partially Fulfilled" or "Fulfilled" once the ERP shipped some or all of the
    order (``Syncline_Fulfilment_Status__c``); None leaves the field as it is."""


class OpportunityBillingUpdate(BaseModel):
    """Billing and payment status mirrored onto the opportunity (the ERP owns them)."""

    billing_status: str
    invoiced_amount: Decimal
    paid_amount: Decimal
    balance: Decimal
    last_invoice_date: date | None = None
    synced_at: UtcDatetime


class OpportunityBillingMirror(BaseModel):
    """The billing fields an opportunity carries now (``OpportunityBillingUpdate`` as
    last written, or nothing yet), and the order they are about."""

    opportunity_id: str
    erp_order_id: str | None = None
    billing_status: str | None = None
    invoiced_amount: Decimal | None = None
    paid_amount: Decimal | None = None
    balance: Decimal | None = None
    last_modified: UtcDatetime | None = None


class AccountLegalMirror(BaseModel):
    """The ERP's legal customer, written read-only onto the CRM account it belongs to."""

    erp_customer_id: str
    legal_name: str
    billing_address: Address = Address()
    tax_id: str | None = None
    synced_at: UtcDatetime


class ProductMirror(BaseModel):
    """An ERP catalog item and its list price, mirrored as a CRM product and price."""

    erp_item_id: str
    sku: str
    name: str
    price: Money | None = None
    is_active: bool = True


class RenewalOpportunity(BaseModel):
    """The one renewal opportunity Syncline opens for a subscription term.

    ``key`` is its idempotency key in the CRM (an external id): a retry finds the
    opportunity it created instead of opening a second one.
    """

    key: str
    account_id: str
    name: str
    close_date: date
    amount: Money
    renewal_of: str | None
    """The opportunity the subscription was sold on."""
    erp_subscription_id: str
