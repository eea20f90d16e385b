"""Versioned contracts of the business events' payloads: what a consumer may rely on.

Each (event type, version) has a payload model; its JSON Schema is published at
``/api/schemas``. Versions only ever add optional fields, and every contract allows
fields it does not know, so a consumer written against version N reads version N+1
events unchanged. A change that removes, renames or retypes a field is a new event type,
not a new version.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints

from models.events import EventType
from models.types import CurrencyCode

DecimalText = Annotated[str, StringConstraints(pattern=r"^-?\d+(\.\d+)?$")]
"""An exact amount, written digit for digit (never a float)."""


class Contract(BaseModel):
    # Unknown fields are kept, not refused: the next version may add some.
    model_config = ConfigDict(extra="allow")


class OrderLineV1(Contract):
    sku: str
    quantity: DecimalText
    rate: DecimalText


class OpportunityClosedWonV1(Contract):
    """Operationally visible booking: the CRM says won; the ERP has not confirmed."""

    account_id: str | None
    currency: CurrencyCode
    amount: DecimalText | None
    close_date: date | None


class OrderAcceptedV1(Contract):
    """Financially authoritative booking: the ERP holds the order."""

    crm_opportunity_id: str | None
    erp_order_id: str
    order_number: str
    erp_customer_id: str
    status: str
    currency: CurrencyCode
    total: DecimalText
    lines: list[OrderLineV1] = []
    erp_status: str | None = None


class OrderRejectedV1(Contract):
    reason: str
    step: str
    message: str


class OrderCancelledV1(Contract):
    crm_opportunity_id: str | None
    erp_order_id: str
    order_number: str
    status: str
    currency: CurrencyCode
    total: DecimalText
    reason: str | None = None
    erp_customer_id: str | None = None
    erp_status: str | None = None


class OrderAmendedV1(Contract):
    crm_opportunity_id: str
    erp_order_id: str
    amendment: int
    currency: CurrencyCode
    total: DecimalText
    lines: list[OrderLineV1]


class InvoicePostedV1(Contract):
    """Billings: the ERP posted an invoice."""

    invoice_number: str
    erp_order_id: str | None
    currency: CurrencyCode
    total: DecimalText
    invoice_date: date | None


class PaymentAppliedV1(Contract):
    """Collections: ``amount`` more of the invoice is paid, ``paid_to_date`` in all."""

    invoice_number: str
    erp_order_id: str | None
    currency: CurrencyCode
    amount: DecimalText
    paid_to_date: DecimalText
    amount_due: DecimalText


class RenewalOpenedV1(Contract):
    renewal_opportunity_id: str
    erp_subscription_id: str
    erp_order_id: str | None
    erp_customer_id: str
    term_start: date
    term_end: date
    currency: CurrencyCode
    recurring_amount: DecimalText


class CustomerUpsertedV1(Contract):
    erp_customer_id: str
    crm_account_id: str | None
    legal_name: str
    tax_id: str | None
    billing_address: dict[str, str | None]
    currency: CurrencyCode | None
    is_active: bool


CONTRACTS: dict[tuple[EventType, int], type[Contract]] = {
    (EventType.OPPORTUNITY_CLOSED_WON, 1): OpportunityClosedWonV1,
    (EventType.ORDER_ACCEPTED, 1): OrderAcceptedV1,
    (EventType.ORDER_REJECTED, 1): OrderRejectedV1,
    (EventType.ORDER_CANCELLED, 1): OrderCancelledV1,
    (EventType.ORDER_AMENDED, 1): OrderAmendedV1,
    (EventType.INVOICE_POSTED, 1): InvoicePostedV1,
    (EventType.PAYMENT_APPLIED, 1): PaymentAppliedV1,
    (EventType.RENEWAL_OPENED, 1): RenewalOpenedV1,
    (EventType.CUSTOMER_UPSERTED, 1): CustomerUpsertedV1,
}


def contract_for(event_type: str, version: int) -> type[Contract]:
    """Raises ``KeyError`` for an event type or version that was never published."""
    return CONTRACTS[(EventType(event_type), version)]


def json_schema(event_type: EventType, version: int) -> dict[str, Any]:
    schema = CONTRACTS[(event_type, version)].model_json_schema()
    schema["$id"] = f"urn:syncline:event:{event_type}:v{version}"
    schema["title"] = f"{event_type} v{version}"
    return schema


def additive(older: dict[str, Any], newer: dict[str, Any]) -> list[str]:
    """Why ``newer`` is not a compatible next version of ``older`` (empty when it is):
    every field kept with the same type, and nothing newly required."""
    problems = []
    old_fields, new_fields = older.get("properties", {}), newer.get("properties", {})
    for name, spec in old_fields.items():
        if name not in new_fields:
            problems.append(f"{name} removed")
        elif _type_of(new_fields[name]) != _type_of(spec):
            problems.append(f"{name} changed type")
    for name in set(newer.get("required", [])) - set(older.get("required", [])):
        problems.append(f"{name} newly required")
    return problems


def _type_of(spec: dict[str, Any]) -> Any:
    return {key: spec[key] for key in ("type", "anyOf", "$ref", "items", "format") if key in spec}
