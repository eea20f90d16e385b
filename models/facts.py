"""Every business fact the ledger holds, built in one place whoever records it.

The deal workflow records the facts of the order it placed; the change feed records
what no running deal will (orders born in the ERP, invoices and payments after a deal
stopped following, every customer version); reconciliation records what it repairs.
Each fact has one builder here, a pure function of what the systems said, so the same
fact gets the same event id and the same payload from every writer, and the ledger
keeps one.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel

from models.billing import InvoiceSnapshot, InvoiceStatus
from models.changes import CustomerChange, OrderChange, SubscriptionChange
from models.crm import Opportunity
from models.deal import DealException
from models.erp import OrderStatus, SalesOrder, SalesOrderLine
from models.event_contracts import current_version
from models.events import BusinessEvent, EventType, SourceSystem, event_id_for
from models.types import Money, UtcDatetime


def erp_subject(system: SourceSystem, kind: str, erp_id: str) -> str:
    """The subject of a fact about an ERP record no CRM record names (born in the ERP)."""
    return f"{system}:{kind}:{erp_id}"


def closed_won_id(opportunity_id: str) -> str:
    return str(
        event_id_for(EventType.OPPORTUNITY_CLOSED_WON, SourceSystem.SALESFORCE, opportunity_id)
    )


def closed_won_event(opportunity: Opportunity, correlation_id: str, now: datetime) -> BusinessEvent:
    """Operationally visible booking: the CRM says won (the ERP has not confirmed yet)."""
    return BusinessEvent(
        event_id=closed_won_id(opportunity.id),
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


class OrderFacts(BaseModel):
    """An ERP order as every order fact states it, whether the deal read it on placing
    (a ``SalesOrder``) or the feed read it changed (an ``OrderChange``)."""

    erp_order_id: str
    order_number: str
    crm_opportunity_id: str | None
    erp_customer_id: str
    status: OrderStatus
    erp_status: str
    total: Money
    lines: list[SalesOrderLine]
    as_of: UtcDatetime | None
    """When the fact happened, when the reader knows better than the time it records it:
    the feed reads the ERP's modification time; the deal records the moment it saw
    the ERP confirm (an order's own stamp may be rounded to the second, before the
    close that caused it)."""
    approved_at: UtcDatetime | None = None
    """When the ERP approved an order it had held for approval: the booking's date
    (its ``order.accepted`` is dated by it, not by when Syncline read it)."""
    rejection_reason: str | None = None
    """The approver's reason, for an order rejected at approval."""
    erp_modified_at: UtcDatetime | None = None
    """The ERP's own modification stamp of the version read (its clock, not ours): the
    feed leaves a deal unsignalled about the very version the deal read when it placed
    or amended the order (``activities.change_publisher``)."""

    @classmethod
    def of_order(cls, order: SalesOrder, crm_opportunity_id: str) -> OrderFacts:
        return cls(
            erp_order_id=order.id,
            order_number=order.order_number,
            crm_opportunity_id=crm_opportunity_id,
            erp_customer_id=order.customer_id,
            status=order.state,
            erp_status=order.status,
            total=order.total,
            lines=order.lines,
            as_of=None,
            erp_modified_at=order.last_modified,
        )

    @classmethod
    def of_change(cls, change: OrderChange) -> OrderFacts:
        return cls(
            erp_order_id=change.id,
            order_number=change.order_number,
            crm_opportunity_id=change.crm_opportunity_id,
            erp_customer_id=change.customer_id,
            status=change.status,
            erp_status=change.erp_status,
            total=change.total,
            lines=change.lines,
            as_of=change.modified_at,
            approved_at=change.approved_at,
            rejection_reason=change.rejection_reason,
            erp_modified_at=change.modified_at,
        )

    def subject(self, system: SourceSystem) -> str:
        return self.crm_opportunity_id or erp_subject(system, "order", self.erp_order_id)

    def payload(self) -> dict[str, object]:
        return {
            "crm_opportunity_id": self.crm_opportunity_id,
            "erp_order_id": self.erp_order_id,
            "order_number": self.order_number,
            "erp_customer_id": self.erp_customer_id,
            "status": self.status.value,
            "erp_status": self.erp_status,
            "currency": self.total.currency,
            "total": str(self.total.amount),
        }

    def version_read(self) -> dict[str, object]:
        """The booking facts' record of which version of the order they were read from."""
        if self.erp_modified_at is None:
            return {}
        return {"erp_modified_at": self.erp_modified_at.isoformat()}


def order_accepted_id(system: SourceSystem, erp_order_id: str) -> str:
    return str(event_id_for(EventType.ORDER_ACCEPTED, system, erp_order_id))


def _order_event(
    event_type: EventType,
    fact: str,
    order: OrderFacts,
    system: SourceSystem,
    correlation_id: str,
    now: datetime,
    causation_id: str | None,
    payload: dict[str, object],
) -> BusinessEvent:
    """What every fact about an ERP order shares; ``fact`` makes its id."""
    return BusinessEvent(
        event_id=event_id_for(event_type, system, fact),
        event_type=event_type,
        schema_version=current_version(event_type),
        occurred_at=order.as_of or now,
        recorded_at=now,
        source_system=system,
        source_id=order.erp_order_id,
        subject_id=order.subject(system),
        correlation_id=correlation_id,
        causation_id=causation_id,
        payload=payload,
    )


def order_accepted_event(
    order: OrderFacts, system: SourceSystem, correlation_id: str, now: datetime
) -> BusinessEvent:
    """Financially authoritative booking: the ERP holds the order. One per order; an
    order entered in the ERP directly is a booking too (reconciliation pairs it)."""
    won = closed_won_id(order.crm_opportunity_id) if order.crm_opportunity_id else None
    payload = {
        **order.payload(),
        "lines": order_lines_payload(order.lines),
        **order.version_read(),
    }
    if order.approved_at is not None:
        # Held for approval first: booked when the approver approved it.
        payload["approved_at"] = order.approved_at.isoformat()
        order = order.model_copy(update={"as_of": order.approved_at})
    return _order_event(
        EventType.ORDER_ACCEPTED,
        order.erp_order_id,
        order,
        system,
        correlation_id,
        now,
        won,
        payload,
    )


def order_cancelled_event(
    order: OrderFacts, system: SourceSystem, correlation_id: str, now: datetime
) -> BusinessEvent:
    """The ERP cancelled the order: by Syncline's compensation or by a finance user."""
    accepted = order_accepted_id(system, order.erp_order_id)
    return _order_event(
        EventType.ORDER_CANCELLED,
        order.erp_order_id,
        order,
        system,
        correlation_id,
        now,
        accepted,
        order.payload(),
    )


def order_amended_event(
    order: OrderFacts, amendment: int, system: SourceSystem, correlation_id: str, now: datetime
) -> BusinessEvent:
    """The won deal's lines changed before billing and the ERP order now matches them.
    ``amendment`` numbers the order's amendments across every run of its deal (the
    ledger counts them), so each is its own fact and the newest is the highest."""
    payload: dict[str, object] = {
        "crm_opportunity_id": order.crm_opportunity_id,
        "erp_order_id": order.erp_order_id,
        "amendment": amendment,
        "currency": order.total.currency,
        "total": str(order.total.amount),
        "lines": order_lines_payload(order.lines),
        "status": order.status.value,
        "erp_status": order.erp_status,
        **order.version_read(),
    }
    return _order_event(
        EventType.ORDER_AMENDED,
        f"{order.erp_order_id}:{amendment}",
        order,
        system,
        correlation_id,
        now,
        order_accepted_id(system, order.erp_order_id),
        payload,
    )


def order_rejected_event(
    exception: DealException, opportunity_id: str, correlation_id: str, now: datetime
) -> BusinessEvent:
    """The order could not be placed; one per exception, however often it is retried."""
    return BusinessEvent(
        event_id=event_id_for(EventType.ORDER_REJECTED, SourceSystem.SYNCLINE, exception.id),
        event_type=EventType.ORDER_REJECTED,
        schema_version=current_version(EventType.ORDER_REJECTED),
        occurred_at=now,
        recorded_at=now,
        source_system=SourceSystem.SYNCLINE,
        source_id=exception.id,
        subject_id=opportunity_id,
        correlation_id=correlation_id,
        payload={"reason": exception.reason, "step": exception.step, "message": exception.message},
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


def invoice_posted_id(system: SourceSystem, invoice_id: str) -> str:
    return str(event_id_for(EventType.INVOICE_POSTED, system, invoice_id))


def _invoice_posted_id(system: SourceSystem, invoice: InvoiceSnapshot) -> str:
    return invoice_posted_id(system, invoice.id)


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
        schema_version=current_version(EventType.INVOICE_POSTED),
        occurred_at=invoice.modified_at,
        recorded_at=now,
        source_system=system,
        source_id=invoice.id,
        subject_id=opportunity_id,
        correlation_id=correlation_id,
        causation_id=(
            order_accepted_id(system, invoice.erp_order_id) if invoice.erp_order_id else None
        ),
        payload={
            "invoice_number": invoice.number,
            "erp_order_id": invoice.erp_order_id,
            "currency": invoice.total.currency,
            "total": str(invoice.total.amount),
            "invoice_date": invoice.invoice_date.isoformat() if invoice.invoice_date else None,
        },
    )


def invoice_subject(invoice: InvoiceSnapshot, system: SourceSystem) -> str:
    """The opportunity an invoice bills, or the ERP order it bills when none is known."""
    return invoice.crm_opportunity_id or erp_subject(
        system, "order", invoice.erp_order_id or invoice.id
    )


def invoice_events(
    invoice: InvoiceSnapshot,
    posted_total: Decimal | None,
    system: SourceSystem,
    correlation_id: str,
    now: datetime,
) -> list[BusinessEvent]:
    """What one invoice snapshot adds to the ledger: ``invoice.posted`` (once, by its
    id) and, when the ERP voided it, ``invoice.voided`` for the total the ledger posted
    (``posted_total``; the snapshot's own when this is the first the ledger hears of
    it: NetSuite zeroes a voided invoice's amounts). Payments and credits are read from
    their own records (``models.settlement_facts``), never from the amount due."""
    subject = invoice_subject(invoice, system)
    events = [invoice_posted_event(subject, invoice, system, correlation_id, now)]
    if invoice.status is InvoiceStatus.CANCELLED:
        amount = invoice.total.amount if posted_total is None else posted_total
        events.append(invoice_voided_event(subject, invoice, amount, system, correlation_id, now))
    return events


def invoice_voided_event(
    subject: str,
    invoice: InvoiceSnapshot,
    amount: Decimal,
    system: SourceSystem,
    correlation_id: str,
    now: datetime,
) -> BusinessEvent:
    """Billings net: the invoice no longer bills anything. One per invoice."""
    return BusinessEvent(
        event_id=event_id_for(EventType.INVOICE_VOIDED, system, invoice.id),
        event_type=EventType.INVOICE_VOIDED,
        schema_version=current_version(EventType.INVOICE_VOIDED),
        occurred_at=invoice.modified_at,
        recorded_at=now,
        source_system=system,
        source_id=invoice.id,
        subject_id=subject,
        correlation_id=correlation_id,
        causation_id=_invoice_posted_id(system, invoice),
        payload={
            "erp_invoice_id": invoice.id,
            "invoice_number": invoice.number,
            "erp_order_id": invoice.erp_order_id,
            "currency": invoice.total.currency,
            "amount": str(amount),
            "invoice_date": invoice.invoice_date.isoformat() if invoice.invoice_date else None,
        },
    )


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
