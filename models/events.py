"""Business events: the only thing that crosses the CRM/ERP boundary (DESIGN promise 2)."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from models.types import UtcDatetime, utc_now

EVENT_SCHEMA_VERSION = 1

# Event ids are derived from the business fact, so a retried or replayed step that
# records the same fact produces the same id and the ledger's unique key refuses it.
_EVENT_NAMESPACE = uuid.UUID("6f1c2a4e-5b1d-4f0e-9a57-3c2f3f1d5e10")


class EventType(StrEnum):
    OPPORTUNITY_CLOSED_WON = "opportunity.closed_won"
    ORDER_ACCEPTED = "order.accepted"
    ORDER_REJECTED = "order.rejected"
    ORDER_CANCELLED = "order.cancelled"
    ORDER_AMENDED = "order.amended"
    ORDER_FULFILLED = "order.fulfilled"
    INVOICE_POSTED = "invoice.posted"
    INVOICE_VOIDED = "invoice.voided"
    CREDIT_MEMO_ISSUED = "credit_memo.issued"
    CREDIT_MEMO_APPLIED = "credit_memo.applied"
    PAYMENT_APPLIED = "payment.applied"
    PAYMENT_REFUNDED = "payment.refunded"
    RENEWAL_OPENED = "renewal.opened"
    CUSTOMER_UPSERTED = "customer.upserted"


class SourceSystem(StrEnum):
    SALESFORCE = "salesforce"
    NETSUITE = "netsuite"
    TRYTON = "tryton"
    SYNCLINE = "syncline"


def event_id_for(event_type: EventType, source_system: SourceSystem, source_id: str) -> uuid.UUID:
    """The one id of a business fact: same fact, same id."""
    return uuid.uuid5(_EVENT_NAMESPACE, f"{event_type}:{source_system}:{source_id}")


class BusinessEvent(BaseModel):
    event_id: uuid.UUID
    event_type: EventType
    schema_version: int = EVENT_SCHEMA_VERSION
    occurred_at: UtcDatetime
    recorded_at: UtcDatetime = Field(default_factory=utc_now)
    source_system: SourceSystem
    source_id: str
    correlation_id: str
    causation_id: str | None = None
    caused_by: str | None = Field(
        None,
        description="The operator whose action led to this fact (their retry resumed the "
        "run that recorded it); None when no person did",
    )
    subject_id: str = Field(
        description="The business key the event is about, e.g. the opportunity id"
    )
    payload: dict[str, Any] = {}

    def caused(self, by: str | None) -> BusinessEvent:
        """The fact as the operator ``by`` caused it (their retry resumed the run that
        records it); as it is when no operator did, or one is named already."""
        if by is None or self.caused_by is not None:
            return self
        return self.model_copy(update={"caused_by": by})
