"""The business facts a deal's workflow records, and what makes a deal unorderable.

Pure functions of their arguments (time comes in as ``now``), so the workflow can run
them deterministically; kept apart so the workflow module reads as its steps.
"""

from __future__ import annotations

from datetime import datetime

from models.crm import MAX_ORDER_LINES, Opportunity
from models.deal import DealException
from models.erp import SalesOrder
from models.erp_events import invoice_posted_event, order_lines_payload, payment_applied_event
from models.event_contracts import current_version
from models.events import BusinessEvent, EventType, SourceSystem, event_id_for

__all__ = [
    "closed_won_event",
    "invoice_posted_event",
    "order_accepted_event",
    "order_amended_event",
    "order_cancelled_event",
    "order_problems",
    "order_rejected_event",
    "payment_applied_event",
    "same_lines",
]


def order_problems(opportunity: Opportunity) -> list[str]:
    """What makes an opportunity impossible to turn into an order, in plain words."""
    problems = []
    if opportunity.lines_in_crm is not None:
        return [
            f"the opportunity has {opportunity.lines_in_crm:,} line items; Syncline places "
            f"orders of at most {MAX_ORDER_LINES:,} (split the deal)"
        ]
    if not opportunity.lines:
        problems.append("the opportunity has no line items")
    for line in opportunity.lines:
        if not line.product_code:
            problems.append(f"line {line.id} has no product code")
        if line.quantity <= 0:
            problems.append(f"line {line.id} has a quantity of {line.quantity}")
        if line.unit_price.amount < 0:
            problems.append(f"line {line.id} has a negative price ({line.unit_price})")
        if line.unit_price.currency != opportunity.currency:
            problems.append(
                f"line {line.id} is priced in {line.unit_price.currency}, "
                f"not {opportunity.currency}"
            )
    return problems


def _closed_won_id(opportunity_id: str) -> str:
    return str(
        event_id_for(EventType.OPPORTUNITY_CLOSED_WON, SourceSystem.SALESFORCE, opportunity_id)
    )


def closed_won_event(opportunity: Opportunity, correlation_id: str, now: datetime) -> BusinessEvent:
    """Operationally visible booking: the CRM says won (the ERP has not confirmed yet)."""
    return BusinessEvent(
        event_id=_closed_won_id(opportunity.id),
        event_type=EventType.OPPORTUNITY_CLOSED_WON,
        occurred_at=opportunity.last_modified or now,
        recorded_at=now,
        source_system=SourceSystem.SALESFORCE,
        source_id=opportunity.id,
        subject_id=opportunity.id,
        correlation_id=correlation_id,
        payload={
            "account_id": opportunity.account_id,
            "currency": opportunity.currency,
            "amount": str(opportunity.amount.amount) if opportunity.amount else None,
            "close_date": opportunity.close_date.isoformat() if opportunity.close_date else None,
        },
    )


def order_accepted_event(
    opportunity: Opportunity,
    order: SalesOrder,
    system: SourceSystem,
    correlation_id: str,
    now: datetime,
) -> BusinessEvent:
    """Financially authoritative booking: the ERP holds the order. One per order."""
    return BusinessEvent(
        event_id=event_id_for(EventType.ORDER_ACCEPTED, system, order.id),
        event_type=EventType.ORDER_ACCEPTED,
        schema_version=current_version(EventType.ORDER_ACCEPTED),
        occurred_at=now,
        recorded_at=now,
        source_system=system,
        source_id=order.id,
        subject_id=opportunity.id,
        correlation_id=correlation_id,
        causation_id=_closed_won_id(opportunity.id),
        payload={
            "crm_opportunity_id": opportunity.id,
            "erp_order_id": order.id,
            "order_number": order.order_number,
            "erp_customer_id": order.customer_id,
            "status": order.status,
            "currency": order.total.currency,
            "total": str(order.total.amount),
            "lines": order_lines_payload(order.lines),
        },
    )


def order_rejected_event(
    exception: DealException, opportunity_id: str, correlation_id: str, now: datetime
) -> BusinessEvent:
    """The order could not be placed; one per exception, however often it is retried."""
    return BusinessEvent(
        event_id=event_id_for(EventType.ORDER_REJECTED, SourceSystem.SYNCLINE, exception.id),
        event_type=EventType.ORDER_REJECTED,
        occurred_at=now,
        recorded_at=now,
        source_system=SourceSystem.SYNCLINE,
        source_id=exception.id,
        subject_id=opportunity_id,
        correlation_id=correlation_id,
        payload={"reason": exception.reason, "step": exception.step, "message": exception.message},
    )


def order_cancelled_event(
    opportunity_id: str,
    order: SalesOrder,
    reason: str,
    system: SourceSystem,
    correlation_id: str,
    now: datetime,
) -> BusinessEvent:
    """Compensation done: the deal was undone and the ERP cancelled its order. The same
    id as the change feed's ``order.cancelled`` for that order: one fact."""
    return BusinessEvent(
        event_id=event_id_for(EventType.ORDER_CANCELLED, system, order.id),
        event_type=EventType.ORDER_CANCELLED,
        occurred_at=now,
        recorded_at=now,
        source_system=system,
        source_id=order.id,
        subject_id=opportunity_id,
        correlation_id=correlation_id,
        causation_id=str(event_id_for(EventType.ORDER_ACCEPTED, system, order.id)),
        payload={
            "crm_opportunity_id": opportunity_id,
            "erp_order_id": order.id,
            "order_number": order.order_number,
            "status": order.status,
            "currency": order.total.currency,
            "total": str(order.total.amount),
            "reason": reason,
        },
    )


def order_amended_event(
    opportunity: Opportunity,
    order: SalesOrder,
    amendment: int,
    system: SourceSystem,
    correlation_id: str,
    now: datetime,
) -> BusinessEvent:
    """The won deal's lines changed before billing and the ERP order now matches them.
    ``amendment`` counts this deal's amendments, so each is its own fact."""
    return BusinessEvent(
        event_id=event_id_for(EventType.ORDER_AMENDED, system, f"{order.id}:{amendment}"),
        event_type=EventType.ORDER_AMENDED,
        schema_version=current_version(EventType.ORDER_AMENDED),
        occurred_at=now,
        recorded_at=now,
        source_system=system,
        source_id=order.id,
        subject_id=opportunity.id,
        correlation_id=correlation_id,
        causation_id=str(event_id_for(EventType.ORDER_ACCEPTED, system, order.id)),
        payload={
            "crm_opportunity_id": opportunity.id,
            "erp_order_id": order.id,
            "amendment": amendment,
            "currency": order.total.currency,
            "total": str(order.total.amount),
            "lines": order_lines_payload(order.lines),
        },
    )


def same_lines(opportunity: Opportunity, order: SalesOrder) -> bool:
    """Whether the ERP order still says what the opportunity says (SKU, quantity, price)."""
    wanted = sorted(
        (line.product_code or "", line.quantity, line.unit_price.amount)
        for line in opportunity.lines
    )
    placed = sorted((line.sku, line.quantity, line.rate.amount) for line in order.lines)
    return wanted == placed
