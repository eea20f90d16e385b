"""The facts of an order after it was placed that come from the ERP's own users: the
approver's rejection of an order held for approval, and each fulfilment (shipment).
Built here, one builder per fact, so every writer makes the same event (see
``models.facts``)."""

from __future__ import annotations

from datetime import datetime

from models.changes import FulfilmentChange
from models.event_contracts import current_version
from models.events import BusinessEvent, EventType, SourceSystem, event_id_for
from models.facts import OrderFacts, closed_won_id, erp_subject, order_accepted_id

APPROVAL_REJECTED = "approval_rejected"
"""``order.rejected``'s reason when the ERP's approver refused a placed order."""


def order_approval_rejected_event(
    order: OrderFacts, system: SourceSystem, correlation_id: str, now: datetime
) -> BusinessEvent:
    """The ERP's approver rejected the order it held: never a booking. One per order
    (an order reopened and rejected again is the same refusal, not a second one)."""
    return BusinessEvent(
        event_id=event_id_for(EventType.ORDER_REJECTED, system, order.erp_order_id),
        event_type=EventType.ORDER_REJECTED,
        schema_version=current_version(EventType.ORDER_REJECTED),
        occurred_at=order.as_of or now,
        recorded_at=now,
        source_system=system,
        source_id=order.erp_order_id,
        subject_id=order.subject(system),
        correlation_id=correlation_id,
        causation_id=closed_won_id(order.crm_opportunity_id) if order.crm_opportunity_id else None,
        payload={
            "reason": APPROVAL_REJECTED,
            "step": "approval",
            "message": order.rejection_reason or f"rejected in the ERP ({order.erp_status})",
            "erp_order_id": order.erp_order_id,
            "order_number": order.order_number,
        },
    )


def order_fulfilled_event(
    fulfilment: FulfilmentChange, system: SourceSystem, correlation_id: str, now: datetime
) -> BusinessEvent:
    """What one ERP fulfilment shipped; one per fulfilment, by its id."""
    return BusinessEvent(
        event_id=event_id_for(EventType.ORDER_FULFILLED, system, fulfilment.id),
        event_type=EventType.ORDER_FULFILLED,
        schema_version=current_version(EventType.ORDER_FULFILLED),
        occurred_at=fulfilment.modified_at,
        recorded_at=now,
        source_system=system,
        source_id=fulfilment.id,
        subject_id=fulfilment.crm_opportunity_id
        or erp_subject(system, "order", fulfilment.erp_order_id),
        correlation_id=correlation_id,
        causation_id=order_accepted_id(system, fulfilment.erp_order_id),
        payload={
            "crm_opportunity_id": fulfilment.crm_opportunity_id,
            "erp_order_id": fulfilment.erp_order_id,
            "order_number": fulfilment.order_number,
            "fulfilment_id": fulfilment.id,
            "fulfilment_number": fulfilment.number,
            "fulfilment_date": (
                fulfilment.fulfilment_date.isoformat() if fulfilment.fulfilment_date else None
            ),
            "lines": [
                {"sku": line.sku, "quantity": str(line.quantity)} for line in fulfilment.lines
            ],
            "complete": fulfilment.complete,
        },
    )
