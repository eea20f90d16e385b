"""What the HTTP API answers: its public response shapes (documented in OpenAPI)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from models.billing import BillingStatus, DealBilling
from models.deal import DealStatus
from models.operators import Role, SignIn
from models.tables import AuditRow


class WebhookAccepted(BaseModel):
    delivery_id: str
    workflow_id: str | None
    workflow_ids: list[str] = []
    status: str


class Problem(BaseModel):
    """An error answer: what was wrong, and the delivery id under which it was stored."""

    detail: Any
    delivery_id: str | None = None


class ErrorDetail(BaseModel):
    """An operator route's error answer."""

    detail: Any


OPERATOR_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorDetail, "description": "no valid credential; the reason says why"},
    403: {"model": ErrorDetail, "description": "the operator's role may not do this"},
    404: {"model": ErrorDetail, "description": "no such record"},
    409: {"model": ErrorDetail, "description": "the record's state does not allow it"},
    429: {
        "model": ErrorDetail,
        "description": "over the client's or operator's rate, or locked out after repeated "
        "refusals; see Retry-After",
    },
}
"""What any operator route may answer besides its own result (and 422 on bad input)."""


def invalid(location: tuple[str, ...], message: str) -> RequestValidationError:
    """A 422 shaped like FastAPI's own (``detail`` a list of errors, as the OpenAPI
    document says), for input that parses but makes no sense (``to`` before ``from``)."""
    return RequestValidationError([{"loc": location, "msg": message, "type": "value_error"}])


class OperatorAction(BaseModel):
    """One thing an operator did to an exception: its history in the console."""

    at: datetime
    actor: str | None
    role: str | None
    action: str
    outcome: str


class ExceptionView(BaseModel):
    id: str
    workflow_id: str
    process: str
    """Which kind of run waits: deal, customer_mirror, item_mirror, renewal, feed (a
    kind of ERP change the change feed cannot read), or reconciliation (a difference a
    nightly or on-demand run found)."""
    subject_id: str
    """What it is about: an opportunity id, or ``<erp>:<kind>:<id>`` for ERP records."""
    crm_opportunity_id: str | None
    reason: str
    step: str
    message: str
    status: str
    retry_count: int
    opened_at: datetime
    resolved_at: datetime | None
    correlation_id: str
    history: list[OperatorAction] = []
    """What operators did to it (retries, refused ones too), oldest first."""


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
    caused_by: str | None = None
    """The operator whose action led to the fact (their retry resumed the run)."""
    payload: dict[str, Any]


class InvoiceView(BaseModel):
    id: str
    number: str
    status: str
    total: Decimal
    amount_due: Decimal
    invoice_date: date | None


class BillingView(BaseModel):
    """What the ERP's invoices and payments add up to for the deal's order."""

    status: BillingStatus
    currency: str
    order_total: Decimal
    invoiced_amount: Decimal
    paid_amount: Decimal
    balance: Decimal
    invoices: list[InvoiceView]

    @classmethod
    def of(cls, billing: DealBilling) -> BillingView:
        return cls(
            status=billing.status,
            currency=billing.currency,
            order_total=billing.order_total,
            invoiced_amount=billing.invoiced_amount,
            paid_amount=billing.paid_amount,
            balance=billing.balance,
            invoices=[
                InvoiceView(
                    id=i.id,
                    number=i.number,
                    status=i.status,
                    total=i.total.amount,
                    amount_due=i.amount_due.amount,
                    invoice_date=i.invoice_date,
                )
                for i in billing.invoices.values()
            ],
        )


class TimelineEntry(BaseModel):
    at: datetime
    system: str
    """Where it happened: crm, syncline or erp."""
    kind: str
    """``webhook``, an event type such as ``order.accepted``, ``exception.opened``…"""
    summary: str
    ref: str | None = None
    """The delivery, event or exception id, to look up the whole record."""
    actor: str | None = None
    """The operator who did it or caused it, when a person did."""


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
    billing: BillingView | None = None
    fulfilment_status: str | None = None
    """How much of the order the ERP has shipped: "Partially Fulfilled", "Fulfilled"."""
    exceptions: list[ExceptionView]
    events: list[LedgerEventView]
    timeline: list[TimelineEntry] = []
    """Everything that happened to the deal, oldest first, across CRM, Syncline and ERP."""


class RetryAccepted(BaseModel):
    exception_id: str
    workflow_id: str
    status: str


class OperatorView(BaseModel):
    """``GET /api/me``: who the credential names, and so what the console may show."""

    name: str
    role: Role
    sign_in: SignIn
    credential_id: str | None


class OperatorKeyView(BaseModel):
    """A personal key as ``GET /api/operators`` lists it: never its secret or hash."""

    key_id: str
    operator: str
    role: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    revoked_by: str | None


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str | None
    """The operator's name; None when the credential named nobody."""
    role: str | None
    sign_in: str | None
    credential_id: str | None
    """The key's public id or the identity provider's subject."""
    action: str
    target: str | None
    subject_id: str | None
    address: str | None
    outcome: str
    """done, refused (401, 403) or failed (let in, but not possible)."""
    status: int | None
    reason: str | None
    detail: dict[str, Any]

    @classmethod
    def of(cls, row: AuditRow) -> AuditEntry:
        assert row.id is not None
        return cls.model_validate(row, from_attributes=True)


class AuditPage(BaseModel):
    entries: list[AuditEntry]
    """Newest first."""
    next_before: int | None
    """Pass as ``before`` for the next (older) page; None when this page was not full
    (a full last page is followed by an empty one)."""
