"""What the HTTP API answers: its public response shapes (documented in OpenAPI)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from models.deal import DealStatus


class WebhookAccepted(BaseModel):
    delivery_id: str
    workflow_id: str | None
    workflow_ids: list[str] = []
    status: str


class Problem(BaseModel):
    """An error answer: what was wrong, and the delivery id under which it was stored."""

    detail: Any
    delivery_id: str | None = None


class ExceptionView(BaseModel):
    id: str
    workflow_id: str
    crm_opportunity_id: str
    reason: str
    step: str
    message: str
    status: str
    retry_count: int
    opened_at: datetime
    resolved_at: datetime | None
    correlation_id: str


class LedgerEventView(BaseModel):
    event_id: str
    event_type: str
    schema_version: int
    occurred_at: datetime
    recorded_at: datetime
    source_system: str
    source_id: str
    correlation_id: str
    causation_id: str | None
    payload: dict[str, Any]


class DealView(BaseModel):
    crm_opportunity_id: str
    status: DealStatus
    step: str | None
    detail: str | None
    erp_customer_id: str | None
    erp_order_id: str | None
    erp_order_number: str | None
    correlation_id: str
    deliveries: int
    duplicate_deliveries: int
    retries: int
    workflow_id: str
    run_id: str | None
    temporal_ui_url: str
    exceptions: list[ExceptionView]
    events: list[LedgerEventView]


class RetryAccepted(BaseModel):
    exception_id: str
    workflow_id: str
    status: str


class BookingsTotal(BaseModel):
    currency: str
    amount: str
    orders: int


class BookingsReport(BaseModel):
    metric: str = "bookings"
    definition: str = "sum of order.accepted totals (ERP-confirmed orders), by currency"
    definition_version: int = 1
    start: datetime
    end: datetime
    totals: list[BookingsTotal]
