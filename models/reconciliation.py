"""Reconciliation as plain data: what was compared, every difference found, the report.

A difference has exactly one class, and each class one remedy. Replayable classes are
repaired through the workflows normal sync uses; the rest become exceptions carrying
the evidence (what the CRM, the ERP and the ledger each say).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, computed_field

from models.types import UtcDatetime


class Domain(StrEnum):
    CUSTOMERS = "customers"
    ORDERS = "orders"
    INVOICES = "invoices"
    PAYMENTS = "payments"
    SUBSCRIPTIONS = "subscriptions"
    BILLING_MIRROR = "billing_mirror"
    """The invoiced, paid and balance amounts mirrored onto each opportunity."""


class DriftClass(StrEnum):
    """One class per difference. The remedy of each is in ``REMEDIES``."""

    IN_FLIGHT = "in_flight"
    """Not an error yet: the change is younger than the SLA (or a repair is running)."""
    MISSING_ORDER = "missing_order"
    """Won in the CRM past the SLA, and the ERP holds no order for it."""
    ORPHAN_ERP_ORDER = "orphan_erp_order"
    """A live ERP order for an opportunity that is not (or no longer) won."""
    DUPLICATE_ORDER = "duplicate_order"
    """More than one live ERP order for one opportunity."""
    AMOUNT_MISMATCH = "amount_mismatch"
    """Same currency, different amounts (CRM vs ERP, or ERP vs ledger)."""
    CURRENCY_MISMATCH = "currency_mismatch"
    STATUS_DRIFT = "status_drift"
    """The systems disagree on a state: cancelled in one, live in another; a CRM
    write-back that names another order."""
    DUPLICATE_CUSTOMER = "duplicate_customer"
    MISSING_LEDGER_EVENT = "missing_ledger_event"
    """The ERP holds a fact (order, invoice, payment, customer version, due renewal)
    the ledger never recorded."""
    OWNERSHIP_CONFLICT = "ownership_conflict"
    """A CRM account's ERP-owned fields differ from the ERP's."""
    STALE_MIRROR = "stale_mirror"
    """An opportunity's mirrored invoiced, paid or balance amount differs from what its
    order's invoices add up to."""


class Remedy(StrEnum):
    WAIT = "wait"
    """In flight: the next run looks again."""
    REPLAY_DEAL = "replay_deal"
    """Signal-with-start the deal's workflow, as a webhook would: it finds or places
    the order, records it and writes it back."""
    SIGNAL_DEAL = "signal_deal"
    """Tell the running deal its opportunity changed: it re-reads, amends or cancels,
    or parks when the ERP has already invoiced."""
    SIGNAL_MIRROR = "signal_mirror"
    """Tell the customer's mirror the CRM holds other values for ERP-owned fields: it
    parks as an ownership conflict, and a retry writes the ERP's values back."""
    REPUBLISH = "republish"
    """Hand the ERP's current record to the change feed's publisher: it signals the
    workflow the record concerns and records what no workflow will."""
    RECORD_EVENT = "record_event"
    """Record the ERP's fact with the feed's own event builder: the same event id the
    deal would have written, so the ledger keeps one whoever writes first."""
    WRITE_MIRROR = "write_mirror"
    """Write the opportunity's billing fields again, through the CRM connector's own
    ``write_billing_status`` (the deal that wrote them may have ended)."""
    EXCEPTION = "exception"
    """Nothing safe to replay: a person decides, with the evidence."""


REMEDIES: dict[DriftClass, str] = {
    DriftClass.IN_FLIGHT: "none yet; a later run classifies it again once the SLA passes",
    DriftClass.MISSING_ORDER: "replay the deal workflow (as its webhook would)",
    DriftClass.ORPHAN_ERP_ORDER: "the running deal re-reads its opportunity; otherwise an "
    "exception (finance cancels the order or the deal is won again)",
    DriftClass.DUPLICATE_ORDER: "exception: finance cancels the extra order",
    DriftClass.AMOUNT_MISMATCH: "the running deal re-reads and amends; an ERP/ledger "
    "difference is republished; otherwise an exception",
    DriftClass.CURRENCY_MISMATCH: "exception: the order must be re-entered in the right currency",
    DriftClass.STATUS_DRIFT: "republish the ERP record (cancellations), or replay the deal "
    "(write-back); otherwise an exception",
    DriftClass.DUPLICATE_CUSTOMER: "exception: merge the customers in the ERP",
    DriftClass.MISSING_LEDGER_EVENT: "republish the ERP record (the deal or the feed records "
    "it); a lost order.accepted is recorded from the ERP's order",
    DriftClass.OWNERSHIP_CONFLICT: "the customer's mirror parks it as an ownership conflict; "
    "its retry writes the ERP's values back",
    DriftClass.STALE_MIRROR: "write the opportunity's billing fields again from the ledger's "
    "facts of its invoices (compared with the ERP's first)",
}


class FindingState(StrEnum):
    FOUND = "found"
    """Classified; its remedy not yet applied."""
    IN_FLIGHT = "in_flight"
    REPAIR_REQUESTED = "repair_requested"
    EXCEPTION = "exception"
    """Unexplained until a person acts: an open exception carries it."""


class Finding(BaseModel):
    """One difference: its key, its class, what each system says."""

    domain: Domain
    key: str
    drift: DriftClass
    remedy: Remedy
    summary: str
    crm: str | None = None
    erp: str | None = None
    ledger: str | None = None
    currency: str | None = None
    erp_id: str | None = None
    evidence: dict[str, str] = {}
    record: dict[str, Any] | None = None
    """The ERP record as read, for a remedy that hands it on (not shown to people)."""


class Metric(StrEnum):
    BOOKINGS = "bookings"
    """Approved (ERP-confirmed) live orders; held and rejected orders are no bookings."""
    BILLINGS_NET = "billings_net"
    """Per invoice, billed net of voids and of the credit memos applied to it (billings
    v2 nets a credit memo by its issued total, so the two differ only by credit not yet
    applied to any invoice)."""
    COLLECTIONS = "collections"
    """Cash applied to invoices by payment records (collections v2 before refunds, which
    pay out credit memos, not invoices)."""
    BILLINGS = "billings"
    """Gross posted totals: what runs before ``billings_net`` reported; kept so their
    stored reports still load."""
    PAYMENTS = "payments"
    """Paid amounts: what runs before ``collections`` reported; kept as ``billings``."""


class MetricTotals(BaseModel):
    """One metric in one currency, as each system totals it over the compared records."""

    metric: Metric
    currency: str
    crm: Decimal | None = None
    erp: Decimal = Decimal(0)
    ledger: Decimal = Decimal(0)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def variance(self) -> Decimal:
        """What the ledger (and so reporting) lacks against the ERP, the authority."""
        return self.erp - self.ledger


class DomainSummary(BaseModel):
    domain: Domain
    compared: int = 0
    by_class: dict[DriftClass, int] = {}
    repaired: int = 0
    """Remedies handed to a workflow in this run."""
    open: int = 0
    """Unexplained: exceptions a person must act on."""
    freshness: UtcDatetime | None = None
    """The newest modification seen on the ERP side (how current the comparison is)."""
    seconds: float = 0.0


class ReconcileTrigger(StrEnum):
    SCHEDULE = "schedule"
    API = "api"
    """On demand: ``POST /api/reconciliations``, which ``syncline reconcile`` calls."""
    RETRY = "retry"
    STREAM_GAP = "stream_gap"
    """The CRM change stream lost events past the CRM's retention: the gap compared."""


class ReconcileRequest(BaseModel):
    since: date | None = None
    """Compare records from this date on (orders by their date, the rest by their last
    modification); None compares everything."""
    domains: list[Domain] = Field(default_factory=lambda: list(Domain))
    keys: list[str] | None = None
    """Only these keys (an operator's re-check of one finding)."""
    repair: bool = True
    trigger: ReconcileTrigger = ReconcileTrigger.API
    page_size: int = Field(500, ge=10, le=2000)
    """Records per call to each system."""
    requested_by: str | None = None
    """The operator who asked for the run; None for the nightly Schedule."""


class RunStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class ReconciliationReport(BaseModel):
    id: str
    status: RunStatus
    trigger: ReconcileTrigger
    requested_by: str | None = None
    """The operator who started the run (on demand, or a finding's retry)."""
    since: date | None = None
    started_at: UtcDatetime
    finished_at: UtcDatetime | None = None
    domains: list[DomainSummary] = []
    metrics: list[MetricTotals] = []
    failure: str | None = None
    """Why a failed run stopped."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def unexplained(self) -> int:
        return sum(summary.open for summary in self.domains)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def count(self, drift: DriftClass) -> int:
        return sum(summary.by_class.get(drift, 0) for summary in self.domains)


def finding_id(run_key: str, finding: Finding) -> str:
    """Stable across retries of one run: a resumed comparison rewrites the same row."""
    return f"{run_key}:{finding.domain}:{finding.drift}:{finding.key}"


# -- the reconciliation workflow's activity messages ----------------------------------


class ComparePass(StrEnum):
    """One read of the systems; the billing pass serves invoices and payments."""

    ORDERS = "orders"
    BILLING = "billing"
    CUSTOMERS = "customers"
    SUBSCRIPTIONS = "subscriptions"
    MIRRORS = "mirrors"
    """After billing (and its repairs): each opportunity's billing mirror against the
    ledger's facts of its invoices."""


PASS_DOMAINS: dict[ComparePass, frozenset[Domain]] = {
    ComparePass.ORDERS: frozenset({Domain.ORDERS}),
    ComparePass.BILLING: frozenset({Domain.INVOICES, Domain.PAYMENTS}),
    ComparePass.CUSTOMERS: frozenset({Domain.CUSTOMERS}),
    ComparePass.SUBSCRIPTIONS: frozenset({Domain.SUBSCRIPTIONS}),
    ComparePass.MIRRORS: frozenset({Domain.BILLING_MIRROR}),
}


class CompareInput(BaseModel):
    run_id: str
    compare_pass: ComparePass
    domains: list[Domain]
    since: date | None = None
    keys: list[str] | None = None
    page_size: int = 500
    as_of: UtcDatetime
    """The run's start: the SLA is measured from it, whichever attempt compares."""


class CompareProgress(BaseModel):
    """Where a pass got to, heartbeated after each batch: a retried attempt resumes
    after ``checkpoint`` with these counts."""

    checkpoint: str | None = None
    summaries: list[DomainSummary] = []
    metrics: list[MetricTotals] = []
    skipped: str | None = None
    """Why the pass compared nothing (the ERP has no such records)."""


class RepairInput(BaseModel):
    run_id: str
    domains: list[Domain]
    keys: list[str] | None = None
    """The run's targets, when it compares only some records."""
    requested_by: str | None = None
    """The operator who started the run: the facts its repairs record name them."""


class RepairResult(BaseModel):
    repaired: dict[Domain, int] = {}
    open: dict[Domain, int] = {}


class FinishInput(BaseModel):
    report: ReconciliationReport
    full_scope: bool
    """Every key of each domain was compared: an exception no longer found is resolved."""
    keys: list[str] | None = None
