"""The metric registry: what each revenue metric means, version by version.

A definition is plain data; ``reporting.compute`` holds the one measure per
(metric, version). Changing what a metric means is a new version appended here, never
an edit, so a report asked for with ``version=1`` is computed the way it always was.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from models.events import EventType


class GroupKey(StrEnum):
    CURRENCY = "currency"
    MONTH = "month"
    CUSTOMER = "customer"
    SKU = "sku"
    REVENUE_TYPE = "revenue_type"


LINE_KEYS = frozenset({GroupKey.SKU, GroupKey.REVENUE_TYPE})
"""Keys only a metric measured line by line can group by."""


class MetricDefinition(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    version: int
    description: str
    visible_event: EventType
    """The event that makes a value operationally visible (it may still change)."""
    authoritative_event: EventType
    """The event that makes it financially authoritative (what the metric counts)."""
    signing: str
    """How amendments and cancellations move the amount."""
    dated_by: str
    """Which date puts an amount in the report's window and month."""
    by_line: bool = False
    """Measured per order line, so it can be grouped by SKU and revenue type."""

    @property
    def group_keys(self) -> frozenset[GroupKey]:
        return frozenset(GroupKey) if self.by_line else frozenset(GroupKey) - LINE_KEYS


DEFINITIONS: tuple[MetricDefinition, ...] = (
    MetricDefinition(
        name="pipeline",
        version=1,
        description=(
            "Won in the CRM, not yet confirmed by the ERP: opportunity.closed_won amounts "
            "whose opportunity has no order.accepted by the end of the window. Open-stage "
            "opportunities are the CRM's and never enter the ledger."
        ),
        visible_event=EventType.OPPORTUNITY_CLOSED_WON,
        authoritative_event=EventType.ORDER_ACCEPTED,
        signing="leaves the pipeline when the order is accepted; no amendments",
        dated_by="opportunity.closed_won occurred_at (UTC)",
    ),
    MetricDefinition(
        name="bookings",
        version=1,
        description="Sum of order.accepted totals (ERP-confirmed orders), gross.",
        visible_event=EventType.OPPORTUNITY_CLOSED_WON,
        authoritative_event=EventType.ORDER_ACCEPTED,
        signing="positive totals only; amendments and cancellations ignored",
        dated_by="order.accepted occurred_at (UTC)",
    ),
    MetricDefinition(
        name="bookings",
        version=2,
        description=(
            "ERP-confirmed order value net of amendments and cancellations, line by line "
            "(multi-year subscriptions at their full contract value)."
        ),
        visible_event=EventType.OPPORTUNITY_CLOSED_WON,
        authoritative_event=EventType.ORDER_ACCEPTED,
        signing=(
            "order.accepted adds its lines; order.amended adds the difference to the "
            "order's previous lines; order.cancelled subtracts the order's last lines"
        ),
        dated_by="occurred_at (UTC) of each accepting, amending or cancelling event",
        by_line=True,
    ),
    MetricDefinition(
        name="billings",
        version=1,
        description="Sum of posted invoice totals.",
        visible_event=EventType.INVOICE_POSTED,
        authoritative_event=EventType.INVOICE_POSTED,
        signing="positive; a voided invoice is not subtracted",
        dated_by="invoice_date, else invoice.posted occurred_at (UTC)",
    ),
    MetricDefinition(
        name="collections",
        version=1,
        description="Sum of payments applied to invoices.",
        visible_event=EventType.PAYMENT_APPLIED,
        authoritative_event=EventType.PAYMENT_APPLIED,
        signing="each payment.applied adds the amount it newly paid",
        dated_by="payment.applied occurred_at (UTC)",
    ),
    MetricDefinition(
        name="billings",
        version=2,
        description=(
            "Posted invoice totals net of voids and credit memos: what the customer was "
            "billed and still owes for, before payment."
        ),
        visible_event=EventType.INVOICE_POSTED,
        authoritative_event=EventType.INVOICE_POSTED,
        signing=(
            "invoice.posted adds its total; invoice.voided subtracts it again; "
            "credit_memo.issued subtracts the credit memo's total (applying it moves "
            "nothing: the credit was already given)"
        ),
        dated_by=(
            "invoice_date for postings and voids (a void takes the posting back in its "
            "own period), credit_date for credit memos; else occurred_at (UTC)"
        ),
    ),
    MetricDefinition(
        name="collections",
        version=2,
        description=(
            "Cash applied to invoices, read from payment records, net of refunds; "
            "credit memos applied are not cash and never count."
        ),
        visible_event=EventType.PAYMENT_APPLIED,
        authoritative_event=EventType.PAYMENT_APPLIED,
        signing=(
            "payment.applied adds each payment's amount on each invoice; "
            "payment.refunded subtracts the cash paid back"
        ),
        dated_by=(
            "payment_date / refund_date (the payment's transaction date); "
            "occurred_at (UTC) for payment.applied recorded before payment records were read"
        ),
    ),
    MetricDefinition(
        name="renewals",
        version=1,
        description="Recurring amount of subscription terms that come up for renewal.",
        visible_event=EventType.RENEWAL_OPENED,
        authoritative_event=EventType.RENEWAL_OPENED,
        signing="positive, once per subscription term",
        dated_by="term_end of the term being renewed",
    ),
    MetricDefinition(
        name="arr",
        version=1,
        description=(
            "Net new annual recurring revenue booked: recurring lines only, each "
            "annualised (amount x 12 / term_months, to the cent); one-time and usage "
            "lines are excluded, lines of unknown revenue type or term are reported as "
            "unclassified and not counted."
        ),
        visible_event=EventType.OPPORTUNITY_CLOSED_WON,
        authoritative_event=EventType.ORDER_ACCEPTED,
        signing="as bookings v2: amendments add the difference, cancellations subtract",
        dated_by="occurred_at (UTC) of each accepting, amending or cancelling event",
        by_line=True,
    ),
)


class UnknownMetric(LookupError):
    """No such metric, or no such version of it."""


def metric_names() -> list[str]:
    return sorted({d.name for d in DEFINITIONS})


def definition(name: str, version: int | None = None) -> MetricDefinition:
    """The definition of ``name`` at ``version``; the newest when ``version`` is None."""
    versions = [d for d in DEFINITIONS if d.name == name]
    if not versions:
        raise UnknownMetric(f"unknown metric {name!r}; known: {', '.join(metric_names())}")
    if version is None:
        return max(versions, key=lambda d: d.version)
    for candidate in versions:
        if candidate.version == version:
            return candidate
    known = ", ".join(str(d.version) for d in versions)
    raise UnknownMetric(f"{name} has no version {version}; known: {known}")
