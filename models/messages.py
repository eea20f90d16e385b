"""One input and one result model per activity: what crosses the workflow boundary.

Fields may be added with defaults without breaking runs already in flight.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel

from models.billing import ChangeCursor, InvoiceSnapshot
from models.changes import (
    ChangeKind,
    CustomerChange,
    ErpChange,
    ItemChange,
    SubscriptionChange,
)
from models.crm import (
    Account,
    AccountLegalMirror,
    Opportunity,
    OpportunityBillingUpdate,
    OpportunityOrderUpdate,
    RenewalOpportunity,
)
from models.deal import ExceptionReason
from models.erp import SalesOrder, SalesOrderLine
from models.events import BusinessEvent, SourceSystem
from models.facts import OrderFacts
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
    closed_won: BusinessEvent | None = None
    """The deal's ``opportunity.closed_won``, as the workflow decided it: recorded before
    the ERP is asked, so the ledger holds it whatever the ERP answers."""
    caused_by: str | None = None
    """The operator whose retry this attempt is, named on the facts it records."""


class PlaceOrderResult(BaseModel):
    customer_id: str
    """The ERP customer the order is (or would have been) placed for."""
    order: SalesOrder | None
    """None when a SKU has no active ERP item: then nothing was created."""
    unknown_skus: list[str] = []
    source_system: SourceSystem
    invoices: list[InvoiceSnapshot] = []
    """The order's invoices the ledger already holds, when the order was placed before
    (a later run of the deal starts its billing from them: ``activities.ledger_billing``)."""
    ordered: list[SalesOrderLine] | None = None
    """What an earlier run of the deal last asked the order to say (placed, or amended
    to), when one did: the order as found may differ by finance's edit, which a later
    run must not take for a CRM change. None: the order says what the deal asked."""


class WriteOrderStatusInput(BaseModel):
    opportunity_id: str
    update: OpportunityOrderUpdate
    correlation_id: str


class WriteBillingStatusInput(BaseModel):
    opportunity_id: str
    update: OpportunityBillingUpdate
    correlation_id: str


class RecordEventInput(BaseModel):
    event: BusinessEvent


class RecordEventResult(BaseModel):
    appended: bool


class RecordOrderInput(BaseModel):
    """An ERP order as it stands after a deal changed it (``activities.erp_facts``)."""

    order: OrderFacts
    erp_system: SourceSystem
    correlation_id: str


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


# -- the ERP change feed ----------------------------------------------------------------


class FetchChangesInput(BaseModel):
    kind: ChangeKind
    after: ChangeCursor
    limit: int


class PublishChangesInput(BaseModel):
    erp_system: SourceSystem
    changes: list[ErpChange]


class PublishChangesResult(BaseModel):
    recorded: int = 0
    """New events in the ledger."""
    duplicates: int = 0
    """Events the ledger already held (the same fact seen again)."""
    signalled: int = 0
    known_to_deal: int = 0
    """Orders in the version their deal read when it booked them: not signalled."""
    unmatched: list[str] = []
    """Changes whose deal has no running workflow (reconciliation's to explain)."""
    lag_seconds: list[float] = []
    """Per change, from the ERP's modification time to its event in the ledger."""


# -- order reversals --------------------------------------------------------------------


class CancelOrderInput(BaseModel):
    erp_order_id: str
    correlation_id: str


class AmendOrderInput(BaseModel):
    erp_order_id: str
    lines: list[OrderLineRequest]
    correlation_id: str
    crm_opportunity_id: str | None = None
    """The deal's: the amendment becomes what it asked of the order (``PlaceOrderResult``
    ``.ordered``). None in histories saved before."""


class AmendOrderResult(BaseModel):
    order: SalesOrder | None
    unknown_skus: list[str] = []


# -- mirrors and renewals ---------------------------------------------------------------


class MirrorCustomerInput(BaseModel):
    customer: CustomerChange
    correlation_id: str


class MirrorCustomerResult(BaseModel):
    account_ids: list[str]
    """The CRM accounts that now mirror the customer (none: it has no CRM account)."""
    mirror: AccountLegalMirror | None = None
    """What was written, to tell Syncline's own writes from a CRM user's edits."""
    claimed_by_other: dict[str, str] = {}
    """Account id → the other ERP customer already mirrored there: two customers match
    one account, and nothing was written to it."""


class MirrorItemInput(BaseModel):
    item: ItemChange
    correlation_id: str


class OpenRenewalInput(BaseModel):
    subscription: SubscriptionChange
    correlation_id: str


class OpenRenewalResult(BaseModel):
    opportunity_id: str | None
    renewal: RenewalOpportunity | None = None
    problem: str | None = None
    """Why no renewal could be opened (no CRM account for the customer)."""
