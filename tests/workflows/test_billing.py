"""After the order: invoices and payments from the ERP move the deal forward, never back."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType as EventType_
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle

from models.billing import BillingStatus, ChangeCursor, InvoiceSnapshot, InvoiceStatus
from models.changes import ChangeKind
from models.deal import BILLING_FOLLOW, CloseWonResult, DealStatus, FollowCheck
from models.events import EventType
from models.settlement import (
    Application,
    InvoiceRef,
    PaymentChange,
    PaymentDirection,
)
from models.types import Money
from tests.deals import open_deal
from tests.workflows.conftest import World, eventually
from tests.workflows.histories import record_history, signals_taken
from workflows.deal import contract as deal
from workflows.deal.workflow import CloseWonToOrder
from workflows.feed.contract import FeedConfig, FeedInput
from workflows.feed.workflow import ErpChangeFeed


async def _accepted_deal(world: World) -> tuple[str, WorkflowHandle[Any, CloseWonResult]]:
    opportunity_id = await open_deal(world.crm, world.entries, ["SL-PLATFORM-ANNUAL"])
    await world.crm.update("Opportunity", opportunity_id, {"StageName": "Closed Won"})
    handle = await world.start(opportunity_id)
    for _ in range(200):
        state = await handle.query(CloseWonToOrder.state)
        if state.billing is not None:
            return opportunity_id, handle
        await asyncio.sleep(0.05)
    raise AssertionError(f"the deal never reached billing: {state}")


def _invoice(
    order_id: str,
    opportunity_id: str,
    *,
    total: str,
    due: str,
    status: InvoiceStatus = InvoiceStatus.OPEN,
    minute: int = 0,
    credited: str = "0",
) -> InvoiceSnapshot:
    """As the connector reads it: the credits and the cash applied (what is not due and
    not credited was paid)."""
    return InvoiceSnapshot(
        credited=Decimal(credited),
        collected=Decimal(total) - Decimal(due) - Decimal(credited),
        id="9001",
        number="INV-9001",
        erp_order_id=order_id,
        crm_opportunity_id=opportunity_id,
        status=status,
        total=Money(amount=Decimal(total), currency="USD"),
        amount_due=Money(amount=Decimal(due), currency="USD"),
        invoice_date=date(2026, 11, 1),
        modified_at=datetime(2026, 11, 1, 12, minute, tzinfo=UTC),
    )


def _payment(payment_id: str, invoice: InvoiceSnapshot, amount: str, day: int) -> PaymentChange:
    """A customer payment applied to ``invoice``, as the feed reads the payment record."""
    return PaymentChange(
        id=payment_id,
        number=f"PYMT{payment_id}",
        direction=PaymentDirection.RECEIVED,
        customer_id="5",
        total=Money(amount=Decimal(amount), currency="USD"),
        tran_date=date(2026, 11, day),
        applications=[
            Application(
                amount=Decimal(amount),
                invoice=InvoiceRef(
                    id=invoice.id,
                    number=invoice.number,
                    erp_order_id=invoice.erp_order_id,
                    crm_opportunity_id=invoice.crm_opportunity_id,
                    amount_due=invoice.amount_due.amount,
                ),
            )
        ],
        modified_at=datetime(2026, 11, day, 9, 0, tzinfo=UTC),
    )


async def _wait_for_status(
    handle: WorkflowHandle[Any, CloseWonResult], status: DealStatus, paid: Decimal | None = None
) -> None:
    for _ in range(200):
        state = await handle.query(CloseWonToOrder.state)
        billing = state.billing
        if state.status == status and (
            paid is None or (billing is not None and billing.paid_amount == paid)
        ):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never reached {status} (paid {paid}); last {state}")


async def _until_idle(handle: WorkflowHandle[Any, Any]) -> None:
    for _ in range(200):
        description = await handle.describe()
        if not description.raw_description.pending_activities:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the feed never paused between polls")


async def _crm_billing(world: World, opportunity_id: str, status: str) -> dict[str, Any]:
    """The opportunity once Syncline's write-back shows ``status`` (it follows the state)."""
    for _ in range(200):
        opportunity = await world.crm.get("Opportunity", opportunity_id)
        if opportunity["Syncline_Billing_Status__c"] == status:
            return opportunity
        await asyncio.sleep(0.05)
    raise AssertionError(f"the CRM never showed {status}: {opportunity}")


async def test_an_invoice_then_two_payments_make_the_deal_paid(world: World) -> None:
    opportunity_id, handle = await _accepted_deal(world)
    state = await handle.query(CloseWonToOrder.state)
    assert state.erp_order_id is not None and state.billing is not None
    order_id, total = state.erp_order_id, str(state.billing.order_total)
    half = str(Decimal(total) / 2)

    await world.publish(_invoice(order_id, opportunity_id, total=total, due=total))
    await _wait_for_status(handle, DealStatus.INVOICED)
    half_paid = _invoice(order_id, opportunity_id, total=total, due=half, minute=1)
    await world.publish(half_paid, _payment("71", half_paid, half, 10))
    await _wait_for_status(handle, DealStatus.INVOICED, paid=Decimal(total) - Decimal(half))
    opportunity = await _crm_billing(world, opportunity_id, BillingStatus.PARTIALLY_PAID)
    assert Decimal(str(opportunity["Syncline_Balance__c"])) == Decimal(half)

    paid = _invoice(
        order_id, opportunity_id, total=total, due="0", status=InvoiceStatus.PAID, minute=2
    )
    await world.publish(paid, _payment("72", paid, str(Decimal(total) - Decimal(half)), 20))
    result = await handle.result()
    await record_history(handle, "close_won_billed_and_paid")

    assert result.state.status == DealStatus.PAID
    opportunity = await world.crm.get("Opportunity", opportunity_id)
    assert opportunity["Syncline_Billing_Status__c"] == BillingStatus.PAID
    assert Decimal(str(opportunity["Syncline_Paid_Amount__c"])) == Decimal(total)
    assert Decimal(str(opportunity["Syncline_Balance__c"])) == 0
    events = await world.store.events_for(opportunity_id)
    kinds = [e.event_type for e in events]
    assert kinds.count(EventType.INVOICE_POSTED) == 1
    payments = [e for e in events if e.event_type == EventType.PAYMENT_APPLIED]
    assert sum(Decimal(e.payload["amount"]) for e in payments) == Decimal(total)
    # Dated by each payment's own date, not by when the invoice changed.
    assert sorted(e.payload["payment_date"] for e in payments) == ["2026-11-10", "2026-11-20"]


async def test_a_credit_is_not_cash_and_a_voided_invoice_bills_nothing(world: World) -> None:
    """Invoiced is net of voids and credit memos, paid is cash; a fully settled order
    (credited in part, paid for the rest) is paid."""
    opportunity_id, handle = await _accepted_deal(world)
    state = await handle.query(CloseWonToOrder.state)
    assert state.erp_order_id is not None and state.billing is not None
    order_id, total = state.erp_order_id, state.billing.order_total
    wrong = _invoice(order_id, opportunity_id, total=str(total), due=str(total)).model_copy(
        update={"id": "9000", "number": "INV-9000"}
    )
    voided = wrong.model_copy(
        update={
            "status": InvoiceStatus.CANCELLED,
            "total": Money(amount=Decimal(0), currency="USD"),
            "amount_due": Money(amount=Decimal(0), currency="USD"),
            "collected": Decimal(0),
            "modified_at": wrong.modified_at + timedelta(minutes=1),
        }
    )
    await world.publish(wrong)
    await _wait_for_status(handle, DealStatus.INVOICED)
    await world.publish(voided)
    await _wait_for_status(handle, DealStatus.ORDER_ACCEPTED)
    credit = Decimal("100.00")
    cash = total - credit
    settled = _invoice(
        order_id,
        opportunity_id,
        total=str(total),
        due="0",
        status=InvoiceStatus.PAID,
        minute=5,
        credited=str(credit),
    )
    await world.publish(settled, _payment("73", settled, str(cash), 21))
    result = await handle.result()
    assert result.state.status == DealStatus.PAID
    opportunity = await world.crm.get("Opportunity", opportunity_id)
    assert opportunity["Syncline_Billing_Status__c"] == BillingStatus.PAID
    assert Decimal(str(opportunity["Syncline_Invoiced_Amount__c"])) == cash
    assert Decimal(str(opportunity["Syncline_Paid_Amount__c"])) == cash
    assert Decimal(str(opportunity["Syncline_Balance__c"])) == 0
    events = await world.store.events_for(opportunity_id)
    (void,) = [e for e in events if e.event_type == EventType.INVOICE_VOIDED]
    assert (void.source_id, Decimal(void.payload["amount"])) == ("9000", total)


async def test_late_and_repeated_snapshots_never_move_the_deal_backwards(world: World) -> None:
    opportunity_id, handle = await _accepted_deal(world)
    state = await handle.query(CloseWonToOrder.state)
    assert state.erp_order_id is not None and state.billing is not None
    order_id, total = state.erp_order_id, str(state.billing.order_total)
    paid = _invoice(
        order_id, opportunity_id, total=total, due="0", status=InvoiceStatus.PAID, minute=5
    )
    stale_open = _invoice(order_id, opportunity_id, total=total, due=total, minute=1)
    other_order = _invoice("other-order", opportunity_id, total="1", due="1").model_copy(
        update={"id": "777"}
    )
    # The payment is seen before the invoice it pays, twice, then the stale invoice,
    # and a snapshot of some other order of the same opportunity.
    payment = _payment("74", paid, total, 15)
    for change in (paid, payment, paid, payment, stale_open, other_order):
        await world.publish(change)

    result = await handle.result()
    assert result.state.status == DealStatus.PAID
    assert result.state.billing is not None
    assert set(result.state.billing.invoices) == {"9001"}
    events = await world.store.events_for(opportunity_id)
    kinds = [e.event_type for e in events]
    assert kinds.count(EventType.PAYMENT_APPLIED) == 1
    # The other order's invoice is billing of this opportunity too: recorded once (the
    # feed leaves what it signalled to the deal), never counted in this order's status.
    posted = [e for e in events if e.event_type == EventType.INVOICE_POSTED]
    assert sorted(e.source_id for e in posted) == ["777", "9001"]


async def test_the_change_feed_carries_erp_invoices_and_payments_to_the_deal(
    own_world: World,
) -> None:
    world = own_world
    opportunity_id, handle = await _accepted_deal(world)
    state = await handle.query(CloseWonToOrder.state)
    assert state.erp_order_id is not None
    feed = await world.client.start_workflow(
        ErpChangeFeed.run,
        FeedInput(
            erp_system="netsuite",
            config=FeedConfig(poll_interval=timedelta(seconds=1), page_size=2, polls_per_run=3),
            # The sandbox stamps wall-clock time; the test server's clock may have skipped.
            cursors={
                kind: ChangeCursor(modified_at=datetime.now(UTC) - timedelta(minutes=1))
                for kind in ChangeKind
            },
        ),
        id=f"feed-{world.task_queue}",
        task_queue=world.task_queue,
    )
    invoice_id = await world.erp.create_record(
        "invoice", {"createdFrom": {"id": state.erp_order_id}}
    )
    invoice = await world.erp.get_record("invoice", invoice_id)
    remaining = Decimal(str(invoice["amountRemaining"]))
    for amount in (Decimal(1), remaining - 1):
        await world.erp.create_record(
            "customerPayment", {"createdFrom": {"id": invoice_id}, "payment": amount}
        )

    result = await handle.result()
    assert result.state.status == DealStatus.PAID
    # The deal is paid by the invoice's snapshot; the payments are their own records,
    # read by the feed's payment kind after the invoices.
    for _ in range(200):
        events = await world.store.events_for(opportunity_id)
        paid = [e for e in events if e.event_type == EventType.PAYMENT_APPLIED]
        if sum(Decimal(e.payload["amount"]) for e in paid) == remaining:
            break
        await asyncio.sleep(0.05)
    status = await feed.query(ErpChangeFeed.status)
    assert status.delivered >= 1 and status.cursor is not None
    # Stopped between two polls, with no activity outstanding: the time-skipping
    # server does not skip time while an activity is pending, which would stall the
    # next test's timers.
    await _until_idle(feed)
    await feed.cancel()
    with pytest.raises(WorkflowFailureError):
        await feed.result()
    await record_history(feed, "erp_change_feed_all_kinds")
    events = await world.store.events_for(opportunity_id)
    assert [e.event_type for e in events].count(EventType.INVOICE_POSTED) == 1
    paid = [e for e in events if e.event_type == EventType.PAYMENT_APPLIED]
    assert sum(Decimal(e.payload["amount"]) for e in paid) == remaining


async def test_a_deal_ends_its_follow_only_when_asked_after_billing_follow(world: World) -> None:
    """Reconciliation asks; the deal judges by its own clock. Asked early, it goes on
    (the question is not news and changes nothing); asked once ``BILLING_FOLLOW`` has
    passed since it began following, it ends as it stands. No timer waits in between."""
    _, handle = await _accepted_deal(world)
    await deal.FOLLOW_CHECK.send(handle, FollowCheck(asked_by="early"))
    assert world.env is not None
    await world.env.sleep(BILLING_FOLLOW - timedelta(days=1))
    await deal.FOLLOW_CHECK.send(handle, FollowCheck(asked_by="a day early"))
    await eventually(lambda: signals_taken(handle), lambda taken: taken)
    state = await deal.STATE.ask(handle)
    assert (state.step, state.status) == ("follow_billing", DealStatus.ORDER_ACCEPTED)
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING

    await world.env.sleep(timedelta(days=1))
    await deal.FOLLOW_CHECK.send(handle, FollowCheck(asked_by="due"))
    result = await handle.result()
    assert result.state.status == DealStatus.ORDER_ACCEPTED
    assert result.state.following_since is not None
    history = await handle.fetch_history()
    kinds = [event.event_type for event in history.events]
    assert EventType_.EVENT_TYPE_TIMER_STARTED not in kinds
    checks = [
        e
        for e in history.events
        if e.event_type == EventType_.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        and e.workflow_execution_signaled_event_attributes.signal_name == deal.FOLLOW_CHECK.name
    ]
    assert len(checks) == 3
    await record_history(handle, "close_won_followed_then_asked_to_end")
