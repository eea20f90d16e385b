"""Versioned contracts of the business events' payloads: what a consumer may rely on.

Each (event type, version) has a payload model; its JSON Schema is published at
``/api/schemas``. Versions only ever add optional fields, and every contract allows
fields it does not know, so a consumer written against version N reads version N+1
events unchanged. A change that removes, renames or retypes a field is a new event type,
not a new version.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints

from models.erp import RevenueType
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


class OrderLineV2(OrderLineV1):
    """A line that says how it earns revenue, so ARR can count only recurring lines.
    ``None``: the ERP did not say (reported as unclassified, never as ARR)."""

    revenue_type: RevenueType | None = None
    term_months: int | None = None


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


class OrderAcceptedV2(OrderAcceptedV1):
    # Lines of a subtype: an additive change (``additive`` checks it), which mypy's
    # invariant ``list`` cannot tell.
    lines: list[OrderLineV2] = []  # type: ignore[assignment]


class OrderAcceptedV3(OrderAcceptedV2):
    """An order the ERP held for approval is booked when approved: ``approved_at`` is
    the approval (also the event's occurred_at); absent for an order never held."""

    approved_at: datetime | None = None


class OrderAcceptedV4(OrderAcceptedV3):
    """``erp_modified_at``: the ERP's modification stamp of the version of the order
    the fact was read from (absent when the ERP gave none)."""

    erp_modified_at: datetime | None = None


class OrderRejectedV1(Contract):
    reason: str
    step: str
    message: str


class OrderRejectedV2(OrderRejectedV1):
    """Also the ERP's approver rejecting a placed order (``reason`` "approval_rejected",
    ``message`` the approver's reason): then the order is named."""

    erp_order_id: str | None = None
    order_number: str | None = None


class FulfilledLineV1(Contract):
    sku: str
    quantity: DecimalText


class OrderFulfilledV1(Contract):
    """What one ERP fulfilment (shipment) of the order shipped; ``complete`` says whether
    the order's every line has now shipped in full (else a partial fulfilment)."""

    crm_opportunity_id: str | None
    erp_order_id: str
    order_number: str | None
    fulfilment_id: str
    fulfilment_number: str
    fulfilment_date: date | None
    lines: list[FulfilledLineV1]
    complete: bool


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


class OrderAmendedV2(OrderAmendedV1):
    lines: list[OrderLineV2]  # type: ignore[assignment]


class OrderAmendedV3(OrderAmendedV2):
    """``erp_modified_at``: as in ``order.accepted`` v4."""

    erp_modified_at: datetime | None = None


class OrderAmendedV4(OrderAmendedV3):
    """``status`` and ``erp_status``: the order's state and the ERP's own status text in
    the version the amendment was read from, as ``order.accepted`` has them. NetSuite
    stamps to the second, so the stamp alone cannot tell the deal's amended order from
    the same order billed a moment later (the explorer's run of 1,000 found it)."""

    status: str | None = None
    erp_status: str | None = None


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


class PaymentAppliedV2(PaymentAppliedV1):
    """One customer payment applied to one invoice, read from the payment record (not
    guessed from the invoice's amount due). ``amount`` is cash only; ``paid_to_date``
    is the cash the ledger holds applied to the invoice, this payment included, when
    it was recorded; ``amount_due`` what the ERP showed due on the invoice when the
    payment was read. Absent on events from before payments were read."""

    erp_payment_id: str | None = None
    payment_number: str | None = None
    payment_date: date | None = None
    """The payment's transaction date: the day collections count it."""
    erp_invoice_id: str | None = None


class InvoiceVoidedV1(Contract):
    """The ERP voided a posted invoice: its billing no longer counts."""

    erp_invoice_id: str
    invoice_number: str
    erp_order_id: str | None
    currency: CurrencyCode
    amount: DecimalText
    """What the void takes off billings: the total the ledger posted for it."""
    invoice_date: date | None


class CreditLineV1(Contract):
    sku: str
    quantity: DecimalText
    rate: DecimalText


class CreditMemoIssuedV1(Contract):
    """A credit memo: billing given back to the customer (applied separately)."""

    erp_credit_memo_id: str
    credit_memo_number: str
    erp_invoice_id: str | None
    """The invoice it was created from, when the ERP names one."""
    invoice_number: str | None
    erp_order_id: str | None
    erp_customer_id: str | None
    currency: CurrencyCode
    total: DecimalText
    credit_date: date | None
    lines: list[CreditLineV1] = []


class CreditMemoAppliedV1(Contract):
    """One credit memo applied to one invoice: lowers what is due, with no cash."""

    erp_credit_memo_id: str
    credit_memo_number: str
    erp_invoice_id: str
    invoice_number: str
    erp_order_id: str | None
    currency: CurrencyCode
    amount: DecimalText
    credit_date: date | None


class PaymentRefundedV1(Contract):
    """A customer refund paying out one credit memo: cash back to the customer."""

    erp_refund_id: str
    refund_number: str
    refund_date: date
    erp_credit_memo_id: str | None
    credit_memo_number: str | None
    erp_invoice_id: str | None
    """The invoice the refunded credit was created from, when known."""
    erp_order_id: str | None
    erp_customer_id: str | None
    currency: CurrencyCode
    amount: DecimalText


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
    (EventType.ORDER_ACCEPTED, 2): OrderAcceptedV2,
    (EventType.ORDER_ACCEPTED, 3): OrderAcceptedV3,
    (EventType.ORDER_ACCEPTED, 4): OrderAcceptedV4,
    (EventType.ORDER_REJECTED, 1): OrderRejectedV1,
    (EventType.ORDER_REJECTED, 2): OrderRejectedV2,
    (EventType.ORDER_FULFILLED, 1): OrderFulfilledV1,
    (EventType.ORDER_CANCELLED, 1): OrderCancelledV1,
    (EventType.ORDER_AMENDED, 1): OrderAmendedV1,
    (EventType.ORDER_AMENDED, 2): OrderAmendedV2,
    (EventType.ORDER_AMENDED, 3): OrderAmendedV3,
    (EventType.ORDER_AMENDED, 4): OrderAmendedV4,
    (EventType.INVOICE_POSTED, 1): InvoicePostedV1,
    (EventType.PAYMENT_APPLIED, 1): PaymentAppliedV1,
    (EventType.PAYMENT_APPLIED, 2): PaymentAppliedV2,
    (EventType.INVOICE_VOIDED, 1): InvoiceVoidedV1,
    (EventType.CREDIT_MEMO_ISSUED, 1): CreditMemoIssuedV1,
    (EventType.CREDIT_MEMO_APPLIED, 1): CreditMemoAppliedV1,
    (EventType.PAYMENT_REFUNDED, 1): PaymentRefundedV1,
    (EventType.RENEWAL_OPENED, 1): RenewalOpenedV1,
    (EventType.CUSTOMER_UPSERTED, 1): CustomerUpsertedV1,
}


def current_version(event_type: EventType) -> int:
    """The version builders write today; older ones stay readable."""
    return max(version for kind, version in CONTRACTS if kind == event_type)


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
    every field kept with the same type, and nothing newly required, in nested objects
    (an order's lines) too."""
    return _additive_object(older, newer, _Roots(older, newer), "")


class _Roots:
    """Both schemas, to resolve their ``$ref``s into their own ``$defs``."""

    def __init__(self, older: dict[str, Any], newer: dict[str, Any]) -> None:
        self.older, self.newer = older, newer

    @staticmethod
    def resolve(spec: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in spec:
            spec = root.get("$defs", {})[spec["$ref"].rsplit("/", 1)[-1]]
        return spec


def _additive_object(
    older: dict[str, Any], newer: dict[str, Any], roots: _Roots, prefix: str
) -> list[str]:
    problems = []
    old_fields, new_fields = older.get("properties", {}), newer.get("properties", {})
    for name, spec in old_fields.items():
        if name not in new_fields:
            problems.append(f"{prefix}{name} removed")
        else:
            problems += _compatible(spec, new_fields[name], roots, f"{prefix}{name}")
    for name in set(newer.get("required", [])) - set(older.get("required", [])):
        problems.append(f"{prefix}{name} newly required")
    return problems


def _compatible(old: dict[str, Any], new: dict[str, Any], roots: _Roots, where: str) -> list[str]:
    old, new = roots.resolve(old, roots.older), roots.resolve(new, roots.newer)
    if "properties" in old and "properties" in new:
        return _additive_object(old, new, roots, f"{where}.")
    if old.get("type") == new.get("type") == "array" and "items" in old and "items" in new:
        return _compatible(old["items"], new["items"], roots, f"{where}[]")
    if _type_of(new) != _type_of(old):
        return [f"{where} changed type"]
    return []


def _type_of(spec: dict[str, Any]) -> Any:
    return {key: spec[key] for key in ("type", "anyOf", "$ref", "items", "format") if key in spec}
