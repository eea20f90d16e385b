"""Every difference gets exactly one class, and nothing in flight is an error yet."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.billing import InvoiceStatus
from models.changes import (
    CustomerChange,
    InvoiceChange,
    OrderChange,
    OrderStatus,
    SubscriptionChange,
    SubscriptionStatus,
)
from models.crm import Account, Address, Opportunity
from models.reconciliation import DriftClass, Remedy
from models.types import Money
from reconciliation.billing import LedgerInvoice, classify_invoice, classify_payment
from reconciliation.context import Policy
from reconciliation.customers import classify_customer
from reconciliation.orders import LedgerOrder, classify_order
from reconciliation.subscriptions import classify_subscription

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=2)
POLICY = Policy(now=NOW, sla=timedelta(minutes=15), renewal_lead=timedelta(days=90))


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


def won(amount: str = "100.00", currency: str = "USD", **extra: object) -> Opportunity:
    fields: dict[str, object] = {
        "id": "006A",
        "account_id": "001A",
        "name": "Deal",
        "stage": "Closed Won",
        "is_closed": True,
        "is_won": True,
        "close_date": date(2026, 11, 20),
        "currency": currency,
        "amount": Money(amount=Decimal(amount), currency=currency),
        "erp_order_id": "77",
        "last_modified": OLD,
    }
    fields.update(extra)
    return Opportunity.model_validate(fields)


def order(
    total: str = "100.00",
    status: OrderStatus = OrderStatus.OPEN,
    order_id: str = "77",
    currency: str = "USD",
    modified: datetime = OLD,
) -> OrderChange:
    return OrderChange(
        id=order_id,
        order_number=f"SO{order_id}",
        crm_opportunity_id="006A",
        customer_id="5",
        status=status,
        erp_status=str(status),
        total=Money(amount=Decimal(total), currency=currency),
        modified_at=modified,
    )


def booked(total: str = "100.00", cancelled: bool = False) -> dict[str, LedgerOrder]:
    return {"77": LedgerOrder(total=usd(total), amendment=0, cancelled=cancelled)}


def drift_of(found: object) -> DriftClass | None:
    return None if found is None else found.drift  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("crm", "erp", "ledger", "expected"),
    [
        (won(), [order()], booked(), None),
        (won(), [], {}, DriftClass.MISSING_ORDER),
        (None, [order()], booked(), DriftClass.ORPHAN_ERP_ORDER),
        (None, [order(status=OrderStatus.CANCELLED)], {}, None),
        (won(), [order(), order(order_id="78")], booked(), DriftClass.DUPLICATE_ORDER),
        (won(currency="EUR"), [order()], booked(), DriftClass.CURRENCY_MISMATCH),
        (won("120.00"), [order()], booked(), DriftClass.AMOUNT_MISMATCH),
        (won(), [order()], booked("90.00"), DriftClass.AMOUNT_MISMATCH),
        (won(), [order()], {}, DriftClass.MISSING_LEDGER_EVENT),
        (won(), [order(status=OrderStatus.CANCELLED)], booked(), DriftClass.STATUS_DRIFT),
        (
            won(),
            [order(status=OrderStatus.CANCELLED)],
            booked(cancelled=True),
            DriftClass.STATUS_DRIFT,
        ),
        (won(), [order()], booked(cancelled=True), DriftClass.STATUS_DRIFT),
        (won(erp_order_id="99"), [order()], booked(), DriftClass.STATUS_DRIFT),
    ],
)
def test_orders_one_class_each(
    crm: Opportunity | None,
    erp: list[OrderChange],
    ledger: dict[str, LedgerOrder],
    expected: DriftClass | None,
) -> None:
    assert drift_of(classify_order("006A", crm, erp, ledger, POLICY)) == expected


@pytest.mark.parametrize(
    ("crm", "parked"),
    [(won(), True), (None, False)],
    ids=["won: the deal is parked for sales", "lost: nothing to book"],
)
def test_an_order_rejected_at_approval_is_neither_live_nor_missing_a_booking(
    crm: Opportunity | None, parked: bool
) -> None:
    # Found by the lifecycle model: a rejected order (NetSuite: Closed with the
    # approver's reason) read as live, an orphan once the opportunity was lost and a
    # missing order.accepted while the deal waited on sales.
    rejected = [order(status=OrderStatus.REJECTED)]
    assert classify_order("006A", crm, rejected, {}, POLICY, parked=parked) is None


def test_an_order_held_for_approval_is_no_booking_to_record() -> None:
    held = order(status=OrderStatus.PENDING_APPROVAL)
    waiting = won(erp_order_status="Pending Approval")  # as the deal writes it back
    assert classify_order("006A", waiting, [held], {}, POLICY) is None


def test_a_deal_won_minutes_ago_is_in_flight_not_missing() -> None:
    found = classify_order("006A", won(last_modified=NOW - timedelta(minutes=3)), [], {}, POLICY)
    assert found is not None
    assert (found.drift, found.remedy) == (DriftClass.IN_FLIGHT, Remedy.WAIT)


def test_a_difference_a_recent_run_already_repairs_is_in_flight() -> None:
    found = classify_order("006A", won(), [], {}, POLICY, repair_pending=True)
    assert found is not None and found.drift is DriftClass.IN_FLIGHT


def test_what_needs_a_person_is_never_hidden_as_in_flight() -> None:
    recent = NOW - timedelta(minutes=1)
    found = classify_order("006A", won(currency="EUR"), [order(modified=recent)], booked(), POLICY)
    assert found is not None and found.drift is DriftClass.CURRENCY_MISMATCH


def test_remedies_follow_the_class() -> None:
    missing = classify_order("006A", won(), [], {}, POLICY)
    cancelled = classify_order(
        "006A", won(), [order(status=OrderStatus.CANCELLED)], booked(), POLICY
    )
    assert missing is not None and missing.remedy is Remedy.REPLAY_DEAL
    assert cancelled is not None and cancelled.remedy is Remedy.REPUBLISH
    assert cancelled.record is not None and cancelled.record["status"] == "cancelled"


def invoice(
    total: str = "100.00", due: str = "100.00", status: InvoiceStatus = InvoiceStatus.OPEN
) -> InvoiceChange:
    return InvoiceChange(
        id="900",
        number="INV900",
        erp_order_id="77",
        crm_opportunity_id="006A",
        status=status,
        total=usd(total),
        amount_due=usd(due),
        modified_at=OLD,
    )


def _drifts(found: list[object]) -> list[DriftClass]:
    return [f.drift for f in found]  # type: ignore[attr-defined]


def test_invoices_and_payments() -> None:
    posted = LedgerInvoice(posted=Decimal("100.00"), currency="USD")
    assert classify_invoice(invoice(), posted, POLICY) == []
    assert _drifts(classify_invoice(invoice(), LedgerInvoice(), POLICY)) == [
        DriftClass.MISSING_LEDGER_EVENT
    ]
    assert _drifts(classify_invoice(invoice("110.00", "110.00"), posted, POLICY)) == [
        DriftClass.AMOUNT_MISMATCH
    ]
    # Voided in the ERP: the ledger must have taken the posting back.
    voided = invoice(status=InvoiceStatus.CANCELLED)
    assert _drifts(classify_invoice(voided, posted, POLICY)) == [DriftClass.MISSING_LEDGER_EVENT]
    taken_back = LedgerInvoice(posted=Decimal("100.00"), currency="USD", voided=Decimal("100.00"))
    assert classify_invoice(voided, taken_back, POLICY) == []
    assert _drifts(classify_invoice(invoice(), taken_back, POLICY)) == [DriftClass.STATUS_DRIFT]
    part_paid = invoice(due="40.00")
    assert _drifts(classify_payment(part_paid, posted, POLICY)) == [DriftClass.MISSING_LEDGER_EVENT]
    recorded = LedgerInvoice(posted=Decimal("100.00"), currency="USD", collected=Decimal("60"))
    assert classify_payment(part_paid, recorded, POLICY) == []
    reversed_payment = LedgerInvoice(
        posted=Decimal("100.00"), currency="USD", collected=Decimal("80.00")
    )
    assert _drifts(classify_payment(part_paid, reversed_payment, POLICY)) == [
        DriftClass.AMOUNT_MISMATCH
    ]
    (finding,) = classify_payment(part_paid, reversed_payment, POLICY)
    assert finding.evidence["difference_cents"] == "-2000"


def customer(tax_id: str = "DE1", name: str = "Acme GmbH") -> CustomerChange:
    return CustomerChange(
        id="5",
        external_id="001A",
        legal_name=name,
        tax_id=tax_id,
        billing_address=Address(street="1 Main", city="Berlin", country="DE"),
        modified_at=OLD,
    )


def account(legal_name: str = "Acme GmbH") -> Account:
    return Account(
        id="001A",
        name="Acme",
        legal_name=legal_name,
        tax_id="DE1",
        erp_customer_id="5",
        billing_address=Address(street="1 Main", city="Berlin", country="DE"),
    )


def test_customers() -> None:
    assert classify_customer(customer(), [account()], True, None, POLICY) is None
    assert (
        drift_of(classify_customer(customer(), [account()], True, "4", POLICY))
        is DriftClass.DUPLICATE_CUSTOMER
    )
    conflict = classify_customer(customer(), [account("Acme Inc")], True, None, POLICY)
    assert conflict is not None and conflict.drift is DriftClass.OWNERSHIP_CONFLICT
    assert conflict.evidence["crm.legal_name"] == "Acme Inc"
    assert (
        drift_of(classify_customer(customer(), [account()], False, None, POLICY))
        is DriftClass.MISSING_LEDGER_EVENT
    )


def subscription(
    end: date, status: SubscriptionStatus = SubscriptionStatus.ACTIVE
) -> SubscriptionChange:
    return SubscriptionChange(
        id="31",
        erp_order_id="77",
        crm_opportunity_id="006A",
        customer_id="5",
        name="Platform",
        start_date=end - timedelta(days=365),
        end_date=end,
        recurring_amount=usd("1200.00"),
        status=status,
        modified_at=OLD,
    )


def test_subscriptions_due_for_renewal() -> None:
    due = subscription(date(2027, 1, 31))  # 90 days before is 2026-11-02: due
    not_due = subscription(date(2027, 6, 30))
    assert drift_of(classify_subscription(due, False, POLICY)) is DriftClass.MISSING_LEDGER_EVENT
    assert classify_subscription(due, True, POLICY) is None
    assert classify_subscription(not_due, False, POLICY) is None
    assert (
        classify_subscription(
            subscription(date(2027, 1, 31), SubscriptionStatus.CANCELLED), False, POLICY
        )
        is None
    )


HELD_WRITTEN = "Pending Approval"


def approval_reference(
    status: OrderStatus, crm_status: str | None, books: bool, parked: bool
) -> tuple[DriftClass, Remedy] | None:
    """Issue 18's rules, as a controller states them: a held order is consistent while
    its deal waits and nothing books it; a rejected one while its deal is parked and
    nothing books it; an approved one once its deal no longer waits (the rest of an
    approved order's comparison is the tests above)."""
    waits = crm_status == HELD_WRITTEN
    if status in (OrderStatus.PENDING_APPROVAL, OrderStatus.REJECTED) and books:
        return DriftClass.STATUS_DRIFT, Remedy.EXCEPTION
    if status is OrderStatus.PENDING_APPROVAL:
        return None if waits else (DriftClass.STATUS_DRIFT, Remedy.REPLAY_DEAL)
    if status is OrderStatus.REJECTED:
        return None if parked else (DriftClass.STATUS_DRIFT, Remedy.REPUBLISH)
    if waits:
        return DriftClass.STATUS_DRIFT, Remedy.REPUBLISH
    return None if books else (DriftClass.MISSING_LEDGER_EVENT, Remedy.RECORD_EVENT)


@given(
    status=st.sampled_from(
        [
            OrderStatus.PENDING_APPROVAL,
            OrderStatus.REJECTED,
            OrderStatus.OPEN,
            OrderStatus.BILLED,
            OrderStatus.CLOSED,
        ]
    ),
    crm_status=st.sampled_from([None, HELD_WRITTEN, "Pending Fulfillment"]),
    books=st.booleans(),
    parked=st.booleans(),
)
def test_each_order_approval_state_is_classified_as_the_reference_says(
    status: OrderStatus, crm_status: str | None, books: bool, parked: bool
) -> None:
    found = classify_order(
        "006A",
        won(erp_order_status=crm_status),
        [order(status=status)],
        booked() if books else {},
        POLICY,
        parked=parked,
    )
    expected = approval_reference(status, crm_status, books, parked)
    assert (None if found is None else (found.drift, found.remedy)) == expected


def test_a_rejected_order_is_closed_no_orphan_nor_duplicate() -> None:
    rejected = order(status=OrderStatus.REJECTED)
    # Sales marked the deal lost after the rejection: nothing left to compare.
    assert classify_order("006A", None, [rejected], {}, POLICY) is None
    # Finance entered a new order after the rejection: one live order, booked.
    again = order(order_id="78")
    booked_again = {"78": LedgerOrder(total=usd("100.00"), amendment=0)}
    deal = won(erp_order_id="78")
    assert classify_order("006A", deal, [rejected, again], booked_again, POLICY) is None
