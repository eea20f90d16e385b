"""ERP changes as the change feed reads them: one snapshot per record and version.

The ERP owns orders, customers, the catalog, invoices and subscriptions (DESIGN
promise 1). Each snapshot is the whole record as the ERP shows it at ``modified_at``;
the feed reads every kind in (modification time, id) order from its own cursor, and
turns what changed into business events and signals. A snapshot seen twice is the
same news, never a second fact.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from models.billing import ChangeCursor, InvoiceSnapshot
from models.crm import Address
from models.erp import OrderStatus as OrderStatus  # what the feed's order changes say
from models.erp import SalesOrderLine
from models.settlement import CreditMemoChange as CreditMemoChange
from models.settlement import PaymentChange as PaymentChange
from models.types import CurrencyCode, Money, UtcDatetime


class ChangeKind(StrEnum):
    ORDER = "order"
    FULFILMENT = "fulfilment"
    INVOICE = "invoice"
    CUSTOMER = "customer"
    ITEM = "item"
    SUBSCRIPTION = "subscription"
    CREDIT_MEMO = "credit_memo"
    PAYMENT = "payment"
    """Customer payments and customer refunds: money in or out, from its own record."""


class OrderChange(BaseModel):
    kind: Literal["order"] = "order"
    id: str
    order_number: str
    crm_opportunity_id: str | None
    """The order's external id (Syncline's idempotency key), when Syncline placed it."""
    customer_id: str
    status: OrderStatus
    erp_status: str
    """The ERP's own name for the state, for operators."""
    total: Money
    tran_date: date | None = None
    lines: list[SalesOrderLine] = []
    modified_at: UtcDatetime
    approved_at: UtcDatetime | None = None
    """When the ERP's approver approved the order, for an order that was held for
    approval (NetSuite: the system note of its status leaving Pending Approval)."""
    rejection_reason: str | None = None
    """What the approver wrote when rejecting it (``status`` is then ``rejected``)."""

    @property
    def position(self) -> ChangeCursor:
        return ChangeCursor(modified_at=self.modified_at, id=int(self.id))


class FulfilledLine(BaseModel):
    item_id: str
    sku: str
    quantity: Decimal


class FulfilmentChange(BaseModel):
    """One ERP fulfilment (shipment) of an order: NetSuite's item fulfillment created
    from the sales order, Tryton's customer shipment once done."""

    kind: Literal["fulfilment"] = "fulfilment"
    id: str
    number: str
    erp_order_id: str
    order_number: str | None = None
    crm_opportunity_id: str | None
    fulfilment_date: date | None = None
    lines: list[FulfilledLine]
    complete: bool
    """Whether, with this fulfilment and those before it, every line of the order has
    shipped in full."""
    modified_at: UtcDatetime

    @property
    def position(self) -> ChangeCursor:
        return ChangeCursor(modified_at=self.modified_at, id=int(self.id))

    @property
    def order_status(self) -> str:
        """The order's fulfilment status once this fulfilment shipped, as the
        opportunity shows it."""
        return FULFILLED if self.complete else PARTIALLY_FULFILLED


FULFILLED = "Fulfilled"
PARTIALLY_FULFILLED = "Partially Fulfilled"


class CustomerChange(BaseModel):
    """The legal customer: the ERP's fields a CRM account mirrors read-only."""

    kind: Literal["customer"] = "customer"
    id: str
    external_id: str | None
    """The CRM account id, when the customer was created from one."""
    legal_name: str
    billing_address: Address = Address()
    tax_id: str | None = None
    currency: CurrencyCode | None = None
    is_active: bool = True
    modified_at: UtcDatetime

    @property
    def position(self) -> ChangeCursor:
        return ChangeCursor(modified_at=self.modified_at, id=int(self.id))


class ItemChange(BaseModel):
    """A catalog item and its list price, mirrored into the CRM's products."""

    kind: Literal["item"] = "item"
    id: str
    sku: str
    name: str
    price: Money | None = None
    is_active: bool = True
    modified_at: UtcDatetime

    @property
    def position(self) -> ChangeCursor:
        return ChangeCursor(modified_at=self.modified_at, id=int(self.id))


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"


class SubscriptionChange(BaseModel):
    """A subscription term created by an order; its end date drives the renewal."""

    kind: Literal["subscription"] = "subscription"
    id: str
    erp_order_id: str | None
    crm_opportunity_id: str | None
    customer_id: str
    name: str
    start_date: date
    end_date: date
    recurring_amount: Money
    status: SubscriptionStatus
    modified_at: UtcDatetime

    @property
    def position(self) -> ChangeCursor:
        return ChangeCursor(modified_at=self.modified_at, id=int(self.id))


class InvoiceChange(InvoiceSnapshot):
    kind: Literal["invoice"] = "invoice"


ErpChange = Annotated[
    OrderChange
    | FulfilmentChange
    | InvoiceChange
    | CustomerChange
    | ItemChange
    | SubscriptionChange
    | CreditMemoChange
    | PaymentChange,
    Field(discriminator="kind"),
]


class ErpChangePage(BaseModel):
    """Changes of one kind strictly after a cursor, oldest first."""

    kind: ChangeKind
    changes: list[ErpChange]
    has_more: bool
