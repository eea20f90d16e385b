"""A deal's lifecycle as operators see it, and the workflow's inputs and results."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel, computed_field

from models.billing import DealBilling
from models.types import UtcDatetime

BILLING_FOLLOW = timedelta(days=400)
"""How long a deal's run follows its accepted order's billing: annual invoicing plus a
month of payment terms. Anything later is the change feed's and reconciliation's."""


class DealStatus(StrEnum):
    RECEIVED = "received"
    VALIDATING = "validating"
    PENDING_APPROVAL = "pending_approval"
    """The ERP holds the order for approval or credit: placed, not yet a booking."""
    ORDER_ACCEPTED = "order_accepted"
    INVOICED = "invoiced"
    PAID = "paid"
    NEEDS_ATTENTION = "needs_attention"
    CANCELLED = "cancelled"


class ExceptionReason(StrEnum):
    """Why a run waits for a person. Each has a fix an operator can make."""

    UNKNOWN_SKU = "unknown_sku"
    ERP_REJECTED = "erp_rejected"
    CRM_REJECTED = "crm_rejected"
    INVALID_OPPORTUNITY = "invalid_opportunity"
    AUTH_FAILED = "auth_failed"
    REVERSAL_AFTER_INVOICING = "reversal_after_invoicing"
    """A won deal changed after the ERP invoiced it: a person decides (credit note…)."""
    DUPLICATE_CUSTOMER = "duplicate_customer"
    """Two ERP customers match one CRM account: Syncline does not guess."""
    OWNERSHIP_CONFLICT = "ownership_conflict"
    """A CRM user edited a field the ERP owns; the edit was not propagated."""
    NO_CRM_ACCOUNT = "no_crm_account"
    """A subscription's customer has no CRM account to open the renewal on."""
    CRM_EVENTS_LOST = "crm_events_lost"
    """The CRM no longer keeps the change events after the stream's position (it was
    away longer than their retention): a reconciliation compares the gap."""
    APPROVAL_REJECTED = "approval_rejected"
    """The ERP's approver rejected the order: sales decides (marks the opportunity lost,
    or has finance reopen the order for approval)."""
    UNEXPECTED_ERROR = "unexpected_error"
    """A step kept failing in a way no connector explains (a mapping bug, a malformed
    answer): the error's type and message are kept for the fix."""


class CloseWonTrigger(BaseModel):
    """One closed-won notification: a trigger to re-read the CRM, not the truth."""

    crm_opportunity_id: str
    delivery_id: str
    correlation_id: str
    received_at: UtcDatetime


class CloseWonInput(BaseModel):
    crm_opportunity_id: str
    correlation_id: str


class DealException(BaseModel):
    id: str
    reason: ExceptionReason
    step: str
    message: str
    opened_at: UtcDatetime


class DealState(BaseModel):
    """What the workflow's query answers, and what ``GET /api/deals/{id}`` shows."""

    crm_opportunity_id: str
    status: DealStatus
    correlation_id: str
    step: str | None = None
    erp_customer_id: str | None = None
    erp_order_id: str | None = None
    erp_order_number: str | None = None
    open_exception: DealException | None = None
    deliveries: int = 0
    retries: int = 0
    detail: str | None = None
    billing: DealBilling | None = None
    fulfilment_status: str | None = None
    """How much of the order the ERP has shipped ("Partially Fulfilled", "Fulfilled")."""
    following_since: UtcDatetime | None = None
    """When this run began following its order's billing; it stops once that is
    ``BILLING_FOLLOW`` ago and reconciliation asks (``FollowCheck``)."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def duplicate_deliveries(self) -> int:
        """Deliveries after the first: counted, never acted on."""
        return max(0, self.deliveries - 1)


class CloseWonResult(BaseModel):
    state: DealState


class FollowCheck(BaseModel):
    """Reconciliation's nightly question to a deal that started ``BILLING_FOLLOW`` ago:
    is its follow of the order's billing over? The deal answers by its own clock (it
    ends, or goes on waiting). A question rather than a timer in every deal: most deals
    are paid and end long before, and a timer would cost each of them a history event
    and a billable action."""

    asked_by: str
    """The reconciliation run that asks (its id)."""


class RetryRequest(BaseModel):
    """An operator's go-ahead after fixing the data behind an exception."""

    exception_id: str | None = None
    requested_by: str | None = None
    """The operator's name (``GET /api/audit`` says more); None when Syncline itself
    resumes the run (a CRM change may be the fix). Saved histories carry ``"api"``."""
