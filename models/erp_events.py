"""Business events the ERP's own changes make: pure functions of the change.

The change feed records them from what it reads; deal workflows started before the
feed recorded billing used the same builders, so the same fact has the same id
whoever records it, and the ledger keeps one.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal

from models.billing import InvoiceSnapshot
from models.changes import CustomerChange, OrderChange, SubscriptionChange
from models.erp import SalesOrderLine
from models.event_contracts import current_version
from models.events import BusinessEvent, EventType, SourceSystem, event_id_for


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


def order_lines_payload(lines: list[SalesOrderLine]) -> list[dict[str, object]]:
    """An order's lines as ``order.accepted``/``order.amended`` carry them (version 2:
    with how each earns revenue, so reports can tell ARR from one-time and usage)."""
    return [
        {
            "sku": line.sku,
            "quantity": str(line.quantity),
            "rate": str(line.rate.amount),
            "revenue_type": line.revenue_type,
            "term_months": line.term_months,
        }
        for line in lines
    ]


def erp_subject(system: SourceSystem, kind: str, erp_id: str) -> str:
    """The subject of a fact about an ERP record no CRM record names (born in the ERP)."""
    return f"{system}:{kind}:{erp_id}"


def order_subject(order: OrderChange, system: SourceSystem) -> str:
    return order.crm_opportunity_id or erp_subject(system, "order", order.id)


def order_accepted_from_erp(
    order: OrderChange, system: SourceSystem, correlation_id: str, now: datetime
) -> BusinessEvent:
    """The ERP holds a live order. Same id as the deal workflow's ``order.accepted``, so
    an order Syncline placed is one event whoever records it first; an order entered
    in the ERP directly becomes a booking too (reconciliation pairs it with the CRM)."""
    return BusinessEvent(
        event_id=event_id_for(EventType.ORDER_ACCEPTED, system, order.id),
        event_type=EventType.ORDER_ACCEPTED,
        schema_version=current_version(EventType.ORDER_ACCEPTED),
        occurred_at=order.modified_at,
        recorded_at=now,
        source_system=system,
        source_id=order.id,
        subject_id=order_subject(order, system),
        correlation_id=correlation_id,
        payload={**_order_payload(order), "lines": order_lines_payload(order.lines)},
    )


def order_cancelled_event(
    order: OrderChange, system: SourceSystem, correlation_id: str, now: datetime
) -> BusinessEvent:
    """The ERP cancelled the order (by Syncline's compensation or by a finance user)."""
    return BusinessEvent(
        event_id=event_id_for(EventType.ORDER_CANCELLED, system, order.id),
        event_type=EventType.ORDER_CANCELLED,
        occurred_at=order.modified_at,
        recorded_at=now,
        source_system=system,
        source_id=order.id,
        subject_id=order_subject(order, system),
        correlation_id=correlation_id,
        causation_id=str(event_id_for(EventType.ORDER_ACCEPTED, system, order.id)),
        payload=_order_payload(order),
    )


def _order_payload(order: OrderChange) -> dict[str, object]:
    return {
        "crm_opportunity_id": order.crm_opportunity_id,
        "erp_order_id": order.id,
        "order_number": order.order_number,
        "erp_customer_id": order.customer_id,
        "status": order.status,
        "erp_status": order.erp_status,
        "currency": order.total.currency,
        "total": str(order.total.amount),
    }


def customer_upserted_event(
    customer: CustomerChange, system: SourceSystem, correlation_id: str, now: datetime
) -> BusinessEvent:
    """One per version of the legal customer: the same version read twice is one fact.

    A version is its time and its content: an ERP that stamps to the second can write
    two versions in one second, and they are two facts."""
    content = customer.model_dump_json(exclude={"modified_at"}).encode()
    version = f"{customer.modified_at.isoformat()}:{hashlib.sha256(content).hexdigest()[:16]}"
    return BusinessEvent(
        event_id=event_id_for(EventType.CUSTOMER_UPSERTED, system, f"{customer.id}@{version}"),
        event_type=EventType.CUSTOMER_UPSERTED,
        occurred_at=customer.modified_at,
        recorded_at=now,
        source_system=system,
        source_id=customer.id,
        subject_id=customer.external_id or erp_subject(system, "customer", customer.id),
        correlation_id=correlation_id,
        payload={
            "erp_customer_id": customer.id,
            "crm_account_id": customer.external_id,
            "legal_name": customer.legal_name,
            "tax_id": customer.tax_id,
            "billing_address": customer.billing_address.model_dump(),
            "currency": customer.currency,
            "is_active": customer.is_active,
        },
    )


def renewal_opened_event(
    subscription: SubscriptionChange,
    opportunity_id: str,
    system: SourceSystem,
    correlation_id: str,
    now: datetime,
) -> BusinessEvent:
    """One renewal per subscription term, known by its start: an amended end date is
    the same term."""
    term = f"{subscription.id}:{subscription.start_date.isoformat()}"
    return BusinessEvent(
        event_id=event_id_for(EventType.RENEWAL_OPENED, system, term),
        event_type=EventType.RENEWAL_OPENED,
        occurred_at=now,
        recorded_at=now,
        source_system=system,
        source_id=subscription.id,
        subject_id=subscription.crm_opportunity_id
        or erp_subject(system, "subscription", subscription.id),
        correlation_id=correlation_id,
        payload={
            "renewal_opportunity_id": opportunity_id,
            "erp_subscription_id": subscription.id,
            "erp_order_id": subscription.erp_order_id,
            "erp_customer_id": subscription.customer_id,
            "term_start": subscription.start_date.isoformat(),
            "term_end": subscription.end_date.isoformat(),
            "currency": subscription.recurring_amount.currency,
            "recurring_amount": str(subscription.recurring_amount.amount),
        },
    )
