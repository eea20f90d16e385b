"""One input and one result model per activity: what crosses the workflow boundary.

Fields may be added with defaults without breaking runs already in flight.
"""

from __future__ import annotations

from pydantic import BaseModel

from models.crm import Account, Opportunity, OpportunityOrderUpdate
from models.deal import ExceptionReason
from models.erp import Customer, SalesOrder, SalesOrderDraft
from models.events import BusinessEvent, SourceSystem


class FetchOpportunityInput(BaseModel):
    opportunity_id: str
    correlation_id: str


class FetchOpportunityResult(BaseModel):
    """``None`` when the opportunity no longer exists in the CRM."""

    opportunity: Opportunity | None
    account: Account | None


class EnsureCustomerInput(BaseModel):
    account: Account
    currency: str
    correlation_id: str


class EnsureCustomerResult(BaseModel):
    customer: Customer


class ResolveItemsInput(BaseModel):
    skus: list[str]
    correlation_id: str
    use_cache: bool = True


class ResolveItemsResult(BaseModel):
    item_ids: dict[str, str]
    """ERP item id by SKU."""
    unknown_skus: list[str]


class CreateSalesOrderInput(BaseModel):
    draft: SalesOrderDraft
    crm_opportunity_id: str
    correlation_id: str


class CreateSalesOrderResult(BaseModel):
    order: SalesOrder
    source_system: SourceSystem


class WriteOrderStatusInput(BaseModel):
    opportunity_id: str
    update: OpportunityOrderUpdate
    correlation_id: str


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
