"""One input and one result model per activity: what crosses the workflow boundary.

Fields may be added with defaults without breaking runs already in flight.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel

from models.billing import ChangeCursor, InvoiceSnapshot
from models.crm import Account, Opportunity, OpportunityBillingUpdate, OpportunityOrderUpdate
from models.deal import ExceptionReason
from models.erp import Customer, SalesOrder
from models.events import BusinessEvent, SourceSystem
from models.types import Money


class FetchOpportunityInput(BaseModel):
    opportunity_id: str
    correlation_id: str


class FetchOpportunityResult(BaseModel):
    """``None`` when the opportunity no longer exists in the CRM."""

    opportunity: Opportunity | None
    account: Account | None


class OrderLineRequest(BaseModel):
    sku: str
    quantity: Decimal
    rate: Money
    description: str | None = None


class PlaceOrderInput(BaseModel):
    """The order the workflow decided on, in CRM terms (SKUs); the activity finds or
    creates the customer, maps SKUs to ERP items and finds or creates the order."""

    account: Account
    crm_opportunity_id: str
    currency: str
    tran_date: date
    memo: str | None = None
    lines: list[OrderLineRequest]
    correlation_id: str
    use_cache: bool = True


class PlaceOrderResult(BaseModel):
    customer: Customer
    order: SalesOrder | None
    """None when a SKU has no active ERP item: then nothing was created."""
    unknown_skus: list[str] = []
    source_system: SourceSystem


class WriteOrderStatusInput(BaseModel):
    opportunity_id: str
    update: OpportunityOrderUpdate
    correlation_id: str


class WriteBillingStatusInput(BaseModel):
    opportunity_id: str
    update: OpportunityBillingUpdate
    correlation_id: str


class FetchInvoiceChangesInput(BaseModel):
    after: ChangeCursor
    limit: int


class InvoiceDelivery(BaseModel):
    workflow_id: str
    invoice: InvoiceSnapshot


class DeliverInvoiceChangesInput(BaseModel):
    deliveries: list[InvoiceDelivery]


class DeliverInvoiceChangesResult(BaseModel):
    delivered: int
    unmatched: list[str] = []
    """Invoice ids whose order has no running deal workflow (reconciliation's to explain)."""


class RecordEventInput(BaseModel):
    event: BusinessEvent


class RecordEventResult(BaseModel):
    appended: bool


class OpenExceptionInput(BaseModel):
    exception_id: str
    workflow_id: str
    subject_id: str
    reason: ExceptionReason
    step: str
    message: str
    details: dict[str, str] = {}
    correlation_id: str


class ResolveExceptionInput(BaseModel):
    exception_id: str
