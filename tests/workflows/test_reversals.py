"""A won deal undone afterwards: before billing the ERP order is cancelled or amended
(compensation inside the saga); after invoicing nothing is undone automatically."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from temporalio.client import WorkflowHandle

from models.billing import InvoiceStatus
from models.changes import OrderChange, OrderStatus
from models.deal import CloseWonResult, DealState, DealStatus, ExceptionReason, RetryRequest
from models.erp import SalesOrder
from models.events import EventType
from models.lifecycle import OpportunityChanged
from models.tables import ExceptionStatus
from models.types import Money, utc_now
from tests.deals import add_crm_product, open_deal
from tests.workflows.conftest import World
from tests.workflows.histories import record_history
from tests.workflows.test_billing import _invoice, _wait_for_status
from workflows.deal.workflow import CloseWonToOrder


async def _following(world: World, skus: list[str] | None = None) -> tuple[str, DealState, Any]:
    opportunity_id = await open_deal(world.crm, world.entries, skus or ["SL-PLATFORM-ANNUAL"])
    await world.crm.update("Opportunity", opportunity_id, {"StageName": "Closed Won"})
    handle = await world.start(opportunity_id)
    for _ in range(200):
        state = await handle.query(CloseWonToOrder.state)
        if state.billing is not None and state.status == DealStatus.ORDER_ACCEPTED:
            return opportunity_id, state, handle
        await asyncio.sleep(0.05)
    raise AssertionError(f"the deal never reached billing: {state}")


def _changed(opportunity_id: str, stage: str) -> OpportunityChanged:
    return OpportunityChanged(
        crm_opportunity_id=opportunity_id,
        changed_fields=["StageName"],
        stage=stage,
        received_at=utc_now(),
    )


async def _until(handle: WorkflowHandle[Any, CloseWonResult], predicate: Any) -> DealState:
    for _ in range(200):
        state = await handle.query(CloseWonToOrder.state)
        if predicate(state):
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"the deal never got there: {state}")


async def test_a_deal_lost_before_invoicing_cancels_its_order(world: World) -> None:
    opportunity_id, state, handle = await _following(world)
    await world.crm.update("Opportunity", opportunity_id, {"StageName": "Closed Lost"})
    await handle.signal(
        CloseWonToOrder.opportunity_changed, _changed(opportunity_id, "Closed Lost")
    )

    result = await handle.result()
    await record_history(handle, "close_won_lost_then_cancelled")
    assert result.state.status == DealStatus.CANCELLED
    order = await world.erp.get_record("salesOrder", state.erp_order_id or "")
    assert order["status"]["refName"] == "Cancelled"
    events = await world.store.events_for(opportunity_id)
    assert [e.event_type for e in events].count(EventType.ORDER_CANCELLED) == 1
    opportunity = await world.crm.get("Opportunity", opportunity_id)
    assert opportunity["Syncline_Order_Status__c"] == "Cancelled"


async def test_an_amended_deal_before_invoicing_amends_its_order(world: World) -> None:
    opportunity_id, state, handle = await _following(world)
    (line,) = await world.crm.query(
        f"SELECT Id FROM OpportunityLineItem WHERE OpportunityId = '{opportunity_id}'"
    )
    await world.crm.update("OpportunityLineItem", line["Id"], {"Quantity": 5})
    change = _changed(opportunity_id, "Closed Won").model_copy(
        update={"changed_fields": ["Amount"]}
    )
    await handle.signal(CloseWonToOrder.opportunity_changed, change)

    amended = await _until(handle, lambda s: s.detail and "amended" in s.detail)
    assert amended.status == DealStatus.ORDER_ACCEPTED
    assert amended.billing is not None
    assert amended.billing.order_total == Decimal("1250.50") * 5
    order = await world.erp.get_record("salesOrder", state.erp_order_id or "")
    assert Decimal(str(order["total"])) == Decimal("1250.50") * 5
    events = await world.store.events_for(opportunity_id)
    assert [e.event_type for e in events].count(EventType.ORDER_AMENDED) == 1

    # A change that leaves the lines as they are (the close date) changes nothing.
    await handle.signal(
        CloseWonToOrder.opportunity_changed,
        change.model_copy(update={"changed_fields": ["CloseDate"]}),
    )
    await asyncio.sleep(0.3)
    events = await world.store.events_for(opportunity_id)
    assert [e.event_type for e in events].count(EventType.ORDER_AMENDED) == 1
    await handle.terminate("test over")


async def test_after_invoicing_nothing_is_undone_and_a_person_decides(world: World) -> None:
    opportunity_id, state, handle = await _following(world)
    order_id = state.erp_order_id or ""
    assert state.billing is not None
    total = str(state.billing.order_total)
    await world.publish(_invoice(order_id, opportunity_id, total=total, due=total))
    await _wait_for_status(handle, DealStatus.INVOICED)

    await world.crm.update("Opportunity", opportunity_id, {"StageName": "Closed Lost"})
    await handle.signal(
        CloseWonToOrder.opportunity_changed, _changed(opportunity_id, "Closed Lost")
    )
    parked = await _until(handle, lambda s: s.status == DealStatus.NEEDS_ATTENTION)
    assert parked.open_exception is not None
    assert parked.open_exception.reason == ExceptionReason.REVERSAL_AFTER_INVOICING
    assert f"{total} USD invoiced" in parked.open_exception.message
    order = await world.erp.get_record("salesOrder", order_id)
    assert order["status"]["refName"] != "Cancelled"

    # Sales restores the deal; the operator's retry finds nothing left to undo.
    await world.crm.update("Opportunity", opportunity_id, {"StageName": "Closed Won"})
    await handle.signal(CloseWonToOrder.retry, RetryRequest(exception_id=parked.open_exception.id))
    resumed = await _until(handle, lambda s: s.status == DealStatus.INVOICED)
    assert resumed.open_exception is None

    await world.publish(
        _invoice(
            order_id, opportunity_id, total=total, due="0", status=InvoiceStatus.PAID, minute=3
        ),
    )
    result = await handle.result()
    await record_history(handle, "close_won_reversal_after_invoicing")
    assert result.state.status == DealStatus.PAID
    events = await world.store.events_for(opportunity_id)
    assert EventType.ORDER_CANCELLED not in [e.event_type for e in events]


async def test_an_order_cancelled_in_the_erp_ends_the_deal_cancelled(world: World) -> None:
    opportunity_id, state, handle = await _following(world)
    await world.publish(
        OrderChange(
            id=state.erp_order_id or "",
            order_number=state.erp_order_number or "",
            crm_opportunity_id=opportunity_id,
            customer_id=state.erp_customer_id or "",
            status=OrderStatus.CANCELLED,
            erp_status="Cancelled",
            total=Money(amount=Decimal("2501.00"), currency="USD"),
            modified_at=utc_now(),
        ),
    )
    result = await handle.result()
    assert result.state.status == DealStatus.CANCELLED
    opportunity = await world.crm.get("Opportunity", opportunity_id)
    assert opportunity["Syncline_Order_Status__c"] == "Cancelled"
    events = await world.store.events_for(opportunity_id)
    cancelled = [e for e in events if e.event_type == EventType.ORDER_CANCELLED]
    # One fact, whichever of the feed and the deal recorded it first.
    assert len(cancelled) == 1


async def test_a_deal_lost_while_parked_before_its_order_ends_without_one(world: World) -> None:
    """Parked for an unknown SKU; the CRM then says lost: the change wakes the run, it
    reads the deal again, and there is no order to place."""
    await add_crm_product(world.crm, world.entries, "SL-WF-NOT-IN-ERP", "10.00")
    opportunity_id = await open_deal(world.crm, world.entries, ["SL-WF-NOT-IN-ERP"])
    await world.crm.update("Opportunity", opportunity_id, {"StageName": "Closed Won"})
    handle = await world.start(opportunity_id)
    parked = await _until(handle, lambda s: s.status == DealStatus.NEEDS_ATTENTION)
    assert parked.open_exception is not None
    assert parked.open_exception.reason == ExceptionReason.UNKNOWN_SKU

    await world.crm.update("Opportunity", opportunity_id, {"StageName": "Closed Lost"})
    await handle.signal(
        CloseWonToOrder.opportunity_changed, _changed(opportunity_id, "Closed Lost")
    )
    result = await handle.result()
    await record_history(handle, "close_won_parked_then_lost")
    assert result.state.status == DealStatus.CANCELLED
    assert result.state.open_exception is None
    assert await world.erp_orders_for(opportunity_id) == []
    [row] = await world.store.list_exceptions(subject_id=opportunity_id)
    assert row.status == ExceptionStatus.RESOLVED


async def test_an_order_cancelled_in_the_erp_while_its_deal_waits_ends_the_deal(
    world: World,
) -> None:
    """Parked on an amendment the ERP cannot make (an unknown SKU), the run hears that
    finance cancelled the order: nothing is left to retry. It ends cancelled, resolves
    its exception and writes Cancelled back, with no operator (issue 17 l: the run used
    to hold the cancellation until someone retried it, and lost it if it was stopped)."""
    await add_crm_product(world.crm, world.entries, "SL-WF-LATE-SKU", "10.00")
    opportunity_id, state, handle = await _following(world)
    line = await world.crm.create(
        "OpportunityLineItem",
        {
            "OpportunityId": opportunity_id,
            "PricebookEntryId": world.entries["SL-WF-LATE-SKU"],
            "Quantity": 1,
            "UnitPrice": "10.00",
        },
    )
    assert line
    await handle.signal(
        CloseWonToOrder.opportunity_changed,
        _changed(opportunity_id, "Closed Won").model_copy(update={"changed_fields": ["Amount"]}),
    )
    parked = await _until(handle, lambda s: s.status == DealStatus.NEEDS_ATTENTION)
    assert parked.open_exception is not None and parked.open_exception.step == "reconsider"

    cancelled = await world.erp.cancel_sales_order(state.erp_order_id or "")
    await world.publish(
        OrderChange(
            id=cancelled.id,
            order_number=cancelled.order_number,
            crm_opportunity_id=opportunity_id,
            customer_id=cancelled.customer_id,
            status=OrderStatus.CANCELLED,
            erp_status=cancelled.status,
            total=cancelled.total,
            modified_at=utc_now(),
        )
    )
    result = await handle.result()
    await record_history(handle, "close_won_parked_on_an_amendment_then_cancelled_in_the_erp")
    assert result.state.status == DealStatus.CANCELLED
    assert result.state.open_exception is None
    [row] = await world.store.list_exceptions(subject_id=opportunity_id)
    assert row.status == ExceptionStatus.RESOLVED
    opportunity = await world.crm.get("Opportunity", opportunity_id)
    assert opportunity["Syncline_Order_Status__c"] == "Cancelled"


async def test_an_order_cancelled_after_its_deals_last_run_is_shown_on_the_opportunity(
    world: World,
) -> None:
    """No run follows the deal any more (its run was stopped): the ERP cancelling the
    order still reaches the opportunity, through the feed (issue 17 o). A change of an
    order the opportunity does not name changes nothing there."""
    opportunity_id, state, handle = await _following(world)
    await handle.terminate("its last run")
    order = await world.erp.cancel_sales_order(state.erp_order_id or "")

    def cancelled(order_id: str, number: str) -> OrderChange:
        return OrderChange(
            id=order_id,
            order_number=number,
            crm_opportunity_id=opportunity_id,
            customer_id=order.customer_id,
            status=OrderStatus.CANCELLED,
            erp_status=order.status,
            total=order.total,
            modified_at=utc_now(),
        )

    await world.publish(cancelled("999999", "SO-OTHER"))
    opportunity = await world.crm.get("Opportunity", opportunity_id)
    assert opportunity["Syncline_Order_Status__c"] != order.status

    await world.publish(cancelled(order.id, order.order_number))
    opportunity = await world.crm.get("Opportunity", opportunity_id)
    assert opportunity["Syncline_Order_Id__c"] == order.id
    assert opportunity["Syncline_Order_Status__c"] == order.status == "Cancelled"


async def finance_edits(world: World, opportunity_id: str, order_id: str) -> SalesOrder:
    """A finance user adds one to the order's first line in the ERP; the feed tells."""
    placed = await world.erp._sales_order(order_id)
    first, *rest = placed.lines
    edited = await world.erp.amend_sales_order(
        order_id, [first.model_copy(update={"quantity": first.quantity + 1}), *rest]
    )
    await world.publish(
        OrderChange(
            id=order_id,
            order_number=edited.order_number,
            crm_opportunity_id=opportunity_id,
            customer_id=edited.customer_id,
            status=edited.state,
            erp_status=edited.status,
            total=edited.total,
            lines=edited.lines,
            modified_at=edited.last_modified or utc_now(),
        ),
    )
    return edited


async def test_an_order_finance_edited_is_not_amended_back_when_the_crm_has_not_changed(
    world: World,
) -> None:
    """Reconciliation's amount_mismatch asks the deal to re-read the opportunity; the CRM
    still asks for what the deal ordered, so finance's edit stands (the ERP owns orders):
    nothing amended back before invoicing, nothing parked after (issue 17, found by the
    lifecycle explorer)."""
    opportunity_id, state, handle = await _following(world)
    order_id = state.erp_order_id or ""
    edited = await finance_edits(world, opportunity_id, order_id)
    await _until(
        handle, lambda s: s.billing is not None and s.billing.order_total == edited.total.amount
    )
    reconciled = _changed(opportunity_id, "Closed Won").model_copy(update={"changed_fields": []})

    await handle.signal(CloseWonToOrder.opportunity_changed, reconciled)  # before invoicing
    await asyncio.sleep(0.3)
    total = str(edited.total.amount)
    await world.publish(_invoice(order_id, opportunity_id, total=total, due=total))
    await _wait_for_status(handle, DealStatus.INVOICED)
    await handle.signal(CloseWonToOrder.opportunity_changed, reconciled)  # after
    await asyncio.sleep(0.5)

    after = await handle.query(CloseWonToOrder.state)
    assert after.status == DealStatus.INVOICED
    assert after.open_exception is None
    order = await world.erp._sales_order(order_id)
    assert order.total == edited.total
    events = await world.store.events_for(opportunity_id)
    assert [e.event_type for e in events].count(EventType.ORDER_AMENDED) == 1  # finance's
    await handle.terminate("test over")
