"""The ERP's objects as Syncline sees them: customers, catalog, orders, billing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel

from models.crm import Address
from models.types import CurrencyCode, Money, UtcDatetime


class CustomerUpsert(BaseModel):
    """A customer to find or create in the ERP, keyed by the CRM account id."""

    external_id: str
    company_name: str
    billing_address: Address = Address()
    tax_id: str | None = None
    currency: CurrencyCode


class Customer(BaseModel):
    id: str
    external_id: str | None
    company_name: str
    billing_address: Address = Address()
    tax_id: str | None = None
    currency: CurrencyCode | None = None


class RevenueType(StrEnum):
    """How a line earns revenue: ARR counts only recurring lines."""

    RECURRING = "recurring"
    ONE_TIME = "one_time"
    USAGE = "usage"


class Product(BaseModel):
    """A catalog item. The ERP owns it; the CRM holds a mirror keyed by SKU."""

    id: str
    sku: str
    name: str
    price: Money | None = None
    is_active: bool = True
    revenue_type: RevenueType | None = None
    term_months: int | None = None
    """The subscription term a sale starts; ``None`` when the ERP does not say."""


class OrderStatus(StrEnum):
    """What any ERP's order states mean to Syncline."""

    PENDING_APPROVAL = "pending_approval"
    """Held by the ERP for approval or credit: not a booking until approved."""
    REJECTED = "rejected"
    """Refused at approval (NetSuite: closed while pending approval): never a booking."""
    OPEN = "open"
    """Accepted, not yet fully billed. Whether it can still be cancelled or amended is
    the ERP's call (NetSuite: until invoiced; Tryton: until processing)."""
    BILLED = "billed"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class SalesOrderLine(BaseModel):
    item_id: str
    sku: str
    quantity: Decimal
    rate: Money
    description: str | None = None
    # Default None: workflow histories saved before the ERP reported them still load.
    revenue_type: RevenueType | None = None
    term_months: int | None = None


class SalesOrderDraft(BaseModel):
    """A sales order to find or create; ``external_id`` is the idempotency key."""

    external_id: str
    customer_id: str
    currency: CurrencyCode
    tran_date: date
    memo: str | None = None
    lines: list[SalesOrderLine]


class SalesOrder(BaseModel):
    id: str
    order_number: str
    external_id: str | None
    customer_id: str
    currency: CurrencyCode
    status: str
    total: Money
    tran_date: date | None = None
    lines: list[SalesOrderLine] = []
    last_modified: UtcDatetime | None = None
    state: OrderStatus = OrderStatus.OPEN
    """What ``status`` (the ERP's own name) means to Syncline."""
    rejection_reason: str | None = None
    """What the approver wrote, for an order ``rejected`` at approval."""

    @property
    def awaits_approval(self) -> bool:
        """Held by the ERP's approver, or rejected by them: placed, but no booking."""
        return self.state in (OrderStatus.PENDING_APPROVAL, OrderStatus.REJECTED)
