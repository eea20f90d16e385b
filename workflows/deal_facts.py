"""The business facts a deal's workflow records, and what makes a deal unorderable.

Pure functions of their arguments (time comes in as ``now``), so the workflow can run
them deterministically; kept apart so the workflow module reads as its steps.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from models.billing import InvoiceSnapshot
from models.crm import Opportunity
from models.deal import DealException
from models.erp import SalesOrder
from models.events import BusinessEvent, EventType, SourceSystem, event_id_for


def order_problems(opportunity: Opportunity) -> list[str]:
    """What makes an opportunity impossible to turn into an order, in plain words."""
    problems = []
    if not opportunity.lines:
        problems.append("the opportunity has no line items")
    for line in opportunity.lines:
        if not line.product_code:
            problems.append(f"line {line.id} has no product code")
        if line.quantity <= 0:
            problems.append(f"line {line.id} has a quantity of {line.quantity}")
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
            "lines": [
                {"sku": line.sku, "quantity": str(line.quantity), "rate": str(line.rate.amount)}
                for line in order.lines
            ],
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


def _invoice_posted_id(system: SourceSystem, invoice: InvoiceSnapshot) -> str:
    return str(event_id_for(EventType.INVOICE_POSTED, system, invoice.id))


def invoice_posted_event(
    opportunity_id: str,
    invoice: InvoiceSnapshot,
    system: SourceSystem,
    correlation_id: str,
    now: datetime,
) -> BusinessEvent:
    """Billings: the ERP posted an invoice for the deal's order. One per invoice."""
    return BusinessEvent(
        event_id=_invoice_posted_id(system, invoice),
        event_type=EventType.INVOICE_POSTED,
        occurred_at=invoice.modified_at,
        recorded_at=now,
        source_system=system,
        source_id=invoice.id,
        subject_id=opportunity_id,
        correlation_id=correlation_id,
        causation_id=(
            str(event_id_for(EventType.ORDER_ACCEPTED, system, invoice.erp_order_id))
            if invoice.erp_order_id
            else None
        ),
        payload={
            "invoice_number": invoice.number,
            "erp_order_id": invoice.erp_order_id,
            "currency": invoice.total.currency,
            "total": str(invoice.total.amount),
            "invoice_date": invoice.invoice_date.isoformat() if invoice.invoice_date else None,
        },
    )


def payment_applied_event(
    opportunity_id: str,
    invoice: InvoiceSnapshot,
    amount: Decimal,
    system: SourceSystem,
    correlation_id: str,
    now: datetime,
) -> BusinessEvent:
    """Collections: ``amount`` more of the invoice is paid. The fact is "paid up to
    ``amount_paid``", so the same payment seen twice is one event."""
    paid_to_date = invoice.amount_paid.amount
    return BusinessEvent(
        event_id=event_id_for(
            EventType.PAYMENT_APPLIED, system, f"{invoice.id}:{paid_to_date.normalize()}"
        ),
        event_type=EventType.PAYMENT_APPLIED,
        occurred_at=invoice.modified_at,
        recorded_at=now,
        source_system=system,
        source_id=invoice.id,
        subject_id=opportunity_id,
        correlation_id=correlation_id,
        causation_id=_invoice_posted_id(system, invoice),
        payload={
            "invoice_number": invoice.number,
            "erp_order_id": invoice.erp_order_id,
            "currency": invoice.total.currency,
            "amount": str(amount),
            "paid_to_date": str(paid_to_date),
            "amount_due": str(invoice.amount_due.amount),
        },
    )
