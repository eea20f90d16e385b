"""Every event a builder makes fits its published contract, declares every field it
carries, and a consumer of version N reads the next, additive version."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from models.billing import InvoiceSnapshot, InvoiceStatus
from models.changes import (
    CustomerChange,
    FulfilledLine,
    FulfilmentChange,
    OrderChange,
    OrderStatus,
    SubscriptionChange,
    SubscriptionStatus,
)
from models.crm import Address, Opportunity
from models.deal import DealException, ExceptionReason
from models.erp import SalesOrder, SalesOrderLine
from models.event_contracts import (
    CONTRACTS,
    OrderAcceptedV1,
    additive,
    contract_for,
    current_version,
    json_schema,
)
from models.events import BusinessEvent, EventType, SourceSystem
from models.facts import (
    OrderFacts,
    closed_won_event,
    customer_upserted_event,
    invoice_posted_event,
    order_accepted_event,
    order_amended_event,
    order_cancelled_event,
    order_rejected_event,
    renewal_opened_event,
)
from models.facts import invoice_voided_event as voided_event
from models.order_progress_facts import order_approval_rejected_event, order_fulfilled_event
from models.settlement import (
    Application,
    CreditMemoChange,
    InvoiceRef,
    PaymentChange,
    PaymentDirection,
)
from models.settlement_facts import (
    credit_memo_applied_event,
    credit_memo_issued_event,
    payment_applied_event,
    payment_refunded_event,
)
from models.types import Money

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
NS = SourceSystem.NETSUITE


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


OPPORTUNITY = Opportunity(
    id="006A",
    account_id="001A",
    name="Deal",
    stage="Closed Won",
    is_closed=True,
    is_won=True,
    close_date=date(2026, 11, 20),
    currency="USD",
    amount=usd("2501.00"),
)
ORDER = SalesOrder(
    id="77",
    order_number="SO77",
    external_id="006A",
    customer_id="5",
    currency="USD",
    status="Pending Fulfillment",
    total=usd("2501.00"),
    lines=[SalesOrderLine(item_id="9", sku="SL-1", quantity=Decimal(2), rate=usd("1250.50"))],
)
ORDER_CHANGE = OrderChange(
    id="77",
    order_number="SO77",
    crm_opportunity_id="006A",
    customer_id="5",
    status=OrderStatus.CANCELLED,
    erp_status="Cancelled",
    total=usd("2501.00"),
    modified_at=NOW,
)
INVOICE = InvoiceSnapshot(
    id="900",
    number="INV900",
    erp_order_id="77",
    status=InvoiceStatus.OPEN,
    total=usd("2501.00"),
    amount_due=usd("1501.00"),
    invoice_date=date(2026, 11, 21),
    modified_at=NOW,
)


INVOICE_REF = InvoiceRef(
    id="900", number="INV900", erp_order_id="77", crm_opportunity_id="006A", amount_due=Decimal(0)
)
CREDIT_MEMO = CreditMemoChange(
    id="950",
    number="CM950",
    customer_id="5",
    created_from=INVOICE_REF,
    total=usd("500.00"),
    amount_unapplied=usd("0.00"),
    tran_date=date(2026, 11, 22),
    lines=[SalesOrderLine(item_id="9", sku="SL-1", quantity=Decimal(1), rate=usd("500.00"))],
    applications=[Application(amount=Decimal("500.00"), invoice=INVOICE_REF)],
    modified_at=NOW,
)
PAYMENT = PaymentChange(
    id="960",
    number="PYMT960",
    direction=PaymentDirection.RECEIVED,
    customer_id="5",
    total=usd("2001.00"),
    tran_date=date(2026, 11, 23),
    applications=[Application(amount=Decimal("2001.00"), invoice=INVOICE_REF)],
    modified_at=NOW,
)
REFUND = PaymentChange(
    id="970",
    number="RFND970",
    direction=PaymentDirection.REFUNDED,
    customer_id="5",
    total=usd("100.00"),
    tran_date=date(2026, 11, 24),
    applications=[
        Application(
            amount=Decimal("100.00"),
            invoice=INVOICE_REF,
            credit_memo_id="951",
            credit_memo_number="CM951",
        )
    ],
    modified_at=NOW,
)


def every_event() -> list[BusinessEvent]:
    exception = DealException(
        id="x1", reason=ExceptionReason.UNKNOWN_SKU, step="place_order", message="m", opened_at=NOW
    )
    return [
        closed_won_event(OPPORTUNITY, "c", NOW),
        order_accepted_event(OrderFacts.of_order(ORDER, "006A"), NS, "c", NOW),
        order_accepted_event(
            OrderFacts.of_change(ORDER_CHANGE.model_copy(update={"status": "open"})), NS, "c", NOW
        ),
        order_rejected_event(exception, "006A", "c", NOW),
        order_accepted_event(
            OrderFacts.of_change(
                ORDER_CHANGE.model_copy(update={"status": "open", "approved_at": NOW})
            ),
            NS,
            "c",
            NOW,
        ),
        order_approval_rejected_event(
            OrderFacts.of_change(
                ORDER_CHANGE.model_copy(
                    update={"status": "rejected", "erp_status": "Closed", "rejection_reason": "r"}
                )
            ),
            NS,
            "c",
            NOW,
        ),
        order_fulfilled_event(
            FulfilmentChange(
                id="88",
                number="IF88",
                erp_order_id="77",
                order_number="SO77",
                crm_opportunity_id="006A",
                fulfilment_date=date(2026, 11, 22),
                lines=[FulfilledLine(item_id="9", sku="SL-1", quantity=Decimal(1))],
                complete=False,
                modified_at=NOW,
            ),
            NS,
            "c",
            NOW,
        ),
        order_cancelled_event(OrderFacts.of_order(ORDER, "006A"), NS, "c", NOW),
        order_cancelled_event(OrderFacts.of_change(ORDER_CHANGE), NS, "c", NOW),
        order_amended_event(OrderFacts.of_order(ORDER, "006A"), 1, NS, "c", NOW),
        invoice_posted_event("006A", INVOICE, NS, "c", NOW),
        voided_event("006A", INVOICE, Decimal("2501.00"), NS, "c", NOW),
        credit_memo_issued_event(CREDIT_MEMO, NS, "c", NOW),
        credit_memo_applied_event(CREDIT_MEMO, CREDIT_MEMO.applications[0], NS, "c", NOW),
        payment_applied_event(PAYMENT, PAYMENT.applications[0], Decimal(0), NS, "c", NOW),
        payment_refunded_event(REFUND, REFUND.applications[0], NS, "c", NOW),
        customer_upserted_event(
            CustomerChange(
                id="5",
                external_id="001A",
                legal_name="Acme GmbH",
                billing_address=Address(city="Berlin", country="DE"),
                modified_at=NOW,
            ),
            NS,
            "c",
            NOW,
        ),
        renewal_opened_event(
            SubscriptionChange(
                id="31",
                erp_order_id="77",
                crm_opportunity_id="006A",
                customer_id="5",
                name="Platform",
                start_date=date(2026, 1, 1),
                end_date=date(2026, 12, 31),
                recurring_amount=usd("24000.00"),
                status=SubscriptionStatus.ACTIVE,
                modified_at=NOW,
            ),
            "006R",
            NS,
            "c",
            NOW,
        ),
    ]


@pytest.mark.parametrize("event", every_event(), ids=lambda e: str(e.event_type))
def test_every_event_fits_its_contract_and_declares_every_field(event: BusinessEvent) -> None:
    assert event.schema_version == current_version(event.event_type)
    contract = contract_for(event.event_type, event.schema_version)
    payload = json.loads(event.model_dump_json())["payload"]
    contract.model_validate(payload)
    assert set(payload) <= set(contract.model_fields), "a field the contract does not publish"


def test_every_event_type_has_a_published_contract() -> None:
    assert {event_type for event_type, _ in CONTRACTS} == set(EventType)
    for event_type, version in CONTRACTS:
        schema = json_schema(event_type, version)
        assert schema["$id"] == f"urn:syncline:event:{event_type}:v{version}"


def test_a_consumer_of_version_n_reads_an_additive_version_n_plus_1() -> None:
    accepted = next(e for e in every_event() if e.event_type == EventType.ORDER_ACCEPTED)
    newer = {**json.loads(accepted.model_dump_json())["payload"], "sales_channel": "partner"}
    read = OrderAcceptedV1.model_validate(newer)
    assert read.total == "2501.00" and read.erp_order_id == "77"


def test_payment_applied_v2_only_adds_optional_fields_to_v1() -> None:
    v1 = json_schema(EventType.PAYMENT_APPLIED, 1)
    v2 = json_schema(EventType.PAYMENT_APPLIED, 2)
    assert additive(v1, v2) == []
    assert set(v2["properties"]) - set(v1["properties"]) == {
        "erp_payment_id",
        "payment_number",
        "payment_date",
        "erp_invoice_id",
    }


def test_a_payment_is_one_fact_per_payment_and_invoice_whatever_paid_before() -> None:
    """The id is the application, not the running total: a payment re-read after another
    was recorded is the same fact."""
    first = payment_applied_event(PAYMENT, PAYMENT.applications[0], Decimal(0), NS, "c", NOW)
    again = payment_applied_event(PAYMENT, PAYMENT.applications[0], Decimal(9), NS, "c", NOW)
    assert first.event_id == again.event_id
    assert first.payload["payment_date"] == "2026-11-23"
    assert first.occurred_at == NOW and first.source_id == "900"


def test_the_compatibility_check_refuses_what_would_break_a_consumer() -> None:
    v1 = json_schema(EventType.ORDER_ACCEPTED, 1)
    v2 = json.loads(json.dumps(v1))
    v2["properties"]["sales_channel"] = {"type": "string"}
    assert additive(v1, v2) == []
    broken = json.loads(json.dumps(v1))
    del broken["properties"]["order_number"]
    broken["properties"]["total"] = {"type": "number"}
    broken["required"] = [*v1["required"], "sales_channel"]
    assert sorted(additive(v1, broken)) == [
        "order_number removed",
        "sales_channel newly required",
        "total changed type",
    ]


def test_the_deal_and_the_feed_record_one_fact_with_one_payload() -> None:
    """The deal reads its order on placing it (a ``SalesOrder``); the feed reads the
    same order changed (an ``OrderChange``). Whoever records the fact first, the
    ledger holds the same event id and the same bytes."""
    lines = ORDER.lines
    placed = ORDER.model_copy(update={"last_modified": NOW})
    read_by_feed = ORDER_CHANGE.model_copy(
        update={"status": OrderStatus.OPEN, "erp_status": ORDER.status, "lines": lines}
    )
    by_deal = order_accepted_event(OrderFacts.of_order(placed, "006A"), NS, "deal", NOW)
    by_feed = order_accepted_event(OrderFacts.of_change(read_by_feed), NS, "feed", NOW)
    assert by_deal.event_id == by_feed.event_id
    assert json.dumps(by_deal.payload, sort_keys=True) == json.dumps(
        by_feed.payload, sort_keys=True
    )
    cancelled = placed.model_copy(update={"state": OrderStatus.CANCELLED, "status": "Cancelled"})
    deal_cancel = order_cancelled_event(OrderFacts.of_order(cancelled, "006A"), NS, "d", NOW)
    feed_cancel = order_cancelled_event(
        OrderFacts.of_change(ORDER_CHANGE.model_copy(update={"lines": lines})), NS, "f", NOW
    )
    assert deal_cancel.event_id == feed_cancel.event_id
    assert deal_cancel.payload == feed_cancel.payload
