"""Orders the ERP holds for approval: no booking until approved (then dated by the
approval), a rejection parks the deal for sales to decide, and the CRM's loss cancels
it; and what the ERP ships, partly then all, on the opportunity and in the ledger.

The ERP's users act through the NetSuite sandbox's finance routes; the change feed's
part is played by reading the ERP's changes with the real connector and publishing
them as the feed does (``World.publish``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from temporalio.client import WorkflowExecutionStatus, WorkflowHandle

from models.billing import ChangeCursor
from models.changes import ChangeKind
from models.deal import CloseWonResult, DealState, DealStatus, ExceptionReason
from models.events import EventType
from tests.deals import open_deal
from tests.workflows.conftest import World
from tests.workflows.histories import record_history
from tests.workflows.test_reversals import _changed, _following, _until
from workflows.deal.workflow import CloseWonToOrder

EPOCH = ChangeCursor(modified_at=datetime(2000, 1, 1, tzinfo=UTC))


async def _feed(world: World, kind: ChangeKind) -> None:
    """What the change feed would read of ``kind`` and publish."""
    page = await world.erp.changes(kind, EPOCH, 500)
    await world.publish(*page.changes)


async def _finance(world: World, path: str, body: Any = None) -> dict[str, Any]:
    response = await world.erp_admin.post(path, json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def _pending(world: World) -> tuple[str, DealState, WorkflowHandle[Any, CloseWonResult]]:
    await _finance(world, "/admin/approval", {"mode": "all"})
    opportunity_id = await open_deal(world.crm, world.entries, ["SL-PLATFORM-ANNUAL"])
    await world.crm.update("Opportunity", opportunity_id, {"StageName": "Closed Won"})
    handle = await world.start(opportunity_id)
    state = await _until(handle, lambda s: s.status == DealStatus.PENDING_APPROVAL)
    await _feed(world, ChangeKind.ORDER)  # the feed sees the held order: nothing to book
    return opportunity_id, state, handle


async def _event_types(world: World, opportunity_id: str) -> list[str]:
    return [e.event_type for e in await world.store.events_for(opportunity_id)]


async def test_a_held_order_is_booked_when_approved_dated_by_the_approval(world: World) -> None:
    opportunity_id, state, handle = await _pending(world)
    assert EventType.ORDER_ACCEPTED not in await _event_types(world, opportunity_id)
    opportunity = await world.crm.get("Opportunity", opportunity_id)
    assert opportunity["Syncline_Order_Status__c"] == "Pending Approval"

    await _finance(world, f"/admin/finance/salesOrder/{state.erp_order_id}/approve")
    await _feed(world, ChangeKind.ORDER)
    accepted = await _until(handle, lambda s: s.status == DealStatus.ORDER_ACCEPTED)
    assert accepted.detail is None
    [note] = await world.erp.suiteql(
        f"SELECT date FROM systemnote WHERE recordid = {state.erp_order_id}"
    )
    [booking] = [
        e
        for e in await world.store.events_for(opportunity_id)
        if e.event_type == EventType.ORDER_ACCEPTED
    ]
    approved_at = datetime.fromisoformat(str(note["date"]).replace("Z", "+00:00"))
    assert booking.occurred_at == approved_at
    assert booking.payload["approved_at"] == approved_at.isoformat()
    opportunity = await world.crm.get("Opportunity", opportunity_id)
    assert opportunity["Syncline_Order_Status__c"] == "Pending Fulfillment"
    await handle.terminate("the test is over")  # it would follow billing until asked to end
    await record_history(handle, "close_won_held_then_approved")


async def test_a_rejection_parks_the_deal_until_the_crm_says_lost(world: World) -> None:
    opportunity_id, state, handle = await _pending(world)
    await _finance(
        world,
        f"/admin/finance/salesOrder/{state.erp_order_id}/reject",
        {"reason": "over the customer's credit limit"},
    )
    await _feed(world, ChangeKind.ORDER)
    parked = await _until(handle, lambda s: s.status == DealStatus.NEEDS_ATTENTION)
    assert parked.open_exception is not None
    assert parked.open_exception.reason == ExceptionReason.APPROVAL_REJECTED
    assert "over the customer's credit limit" in parked.open_exception.message
    [rejected] = [
        e
        for e in await world.store.events_for(opportunity_id)
        if e.event_type == EventType.ORDER_REJECTED
    ]
    assert rejected.payload["message"] == "over the customer's credit limit"
    assert rejected.payload["erp_order_id"] == state.erp_order_id
    assert EventType.ORDER_ACCEPTED not in await _event_types(world, opportunity_id)
    # The opportunity shows the ERP's word, not "Pending Approval" (the lifecycle model
    # found it stale there, before and after the CRM said lost).
    opportunity = await world.crm.get("Opportunity", opportunity_id)
    assert opportunity["Syncline_Order_Status__c"] == "Closed"

    await world.crm.update("Opportunity", opportunity_id, {"StageName": "Closed Lost"})
    await handle.signal(
        CloseWonToOrder.opportunity_changed, _changed(opportunity_id, "Closed Lost")
    )
    result = await handle.result()
    await record_history(handle, "close_won_held_rejected_then_lost")
    assert result.state.status == DealStatus.CANCELLED
    assert result.state.open_exception is None


async def test_a_later_run_that_finds_its_order_rejected_parks_and_books_nothing(
    own_world: World,
) -> None:
    # The explorer's finding (issue 18): a run replayed after the rejection found the
    # order by its key, read "Closed" as a live order and booked it. On a server of its
    # own: on the shared one, after this test the server no longer skipped time and the
    # next test's timer waited for ever (the terminate of a run still at work is the
    # suspect; not chased further).
    world = own_world
    opportunity_id, state, handle = await _pending(world)
    await handle.terminate("replayed by reconciliation")
    await _finance(
        world, f"/admin/finance/salesOrder/{state.erp_order_id}/reject", {"reason": "credit hold"}
    )
    again = await world.start(opportunity_id)
    parked = await _until(again, lambda s: s.status == DealStatus.NEEDS_ATTENTION)
    assert parked.erp_order_id == state.erp_order_id
    assert parked.open_exception is not None
    assert parked.open_exception.reason == ExceptionReason.APPROVAL_REJECTED
    assert "credit hold" in parked.open_exception.message
    assert EventType.ORDER_ACCEPTED not in await _event_types(world, opportunity_id)
    opportunity = await world.crm.get("Opportunity", opportunity_id)
    assert opportunity["Syncline_Order_Status__c"] == "Closed"

    await world.crm.update("Opportunity", opportunity_id, {"StageName": "Closed Lost"})
    await again.signal(CloseWonToOrder.opportunity_changed, _changed(opportunity_id, "Closed Lost"))
    result = await again.result()
    await record_history(again, "close_won_found_rejected_then_lost")
    assert result.state.status == DealStatus.CANCELLED
    assert result.state.open_exception is None
    assert EventType.ORDER_ACCEPTED not in await _event_types(world, opportunity_id)


async def test_a_held_order_of_a_deal_lost_meanwhile_is_cancelled(world: World) -> None:
    opportunity_id, state, handle = await _pending(world)
    await world.crm.update("Opportunity", opportunity_id, {"StageName": "Closed Lost"})
    await handle.signal(
        CloseWonToOrder.opportunity_changed, _changed(opportunity_id, "Closed Lost")
    )
    result = await handle.result()
    await record_history(handle, "close_won_held_then_lost")
    assert result.state.status == DealStatus.CANCELLED
    order = await world.erp.get_record("salesOrder", state.erp_order_id or "")
    assert order["status"]["refName"] == "Cancelled"
    types = await _event_types(world, opportunity_id)
    assert EventType.ORDER_ACCEPTED not in types
    assert types.count(EventType.ORDER_CANCELLED) == 1


async def test_a_held_order_rejected_before_the_deals_cancel_reached_it_ends_the_deal(
    world: World,
) -> None:
    # The run of 1,000 (issue 17, seed 20261201, sequences 124 and 125): the CRM reopened
    # the deal while its order was held, and the approver rejected the order (NetSuite
    # closes it) before the deal's cancel reached the ERP. The ERP refused the cancel
    # ("it is Closed"), and the deal stayed parked on that refusal with the opportunity
    # showing "Pending Approval". The feed's word on the order now wakes the park.
    opportunity_id, state, handle = await _pending(world)
    await _finance(
        world, f"/admin/finance/salesOrder/{state.erp_order_id}/reject", {"reason": "no budget"}
    )
    await world.crm.update("Opportunity", opportunity_id, {"StageName": "Negotiation/Review"})
    await handle.signal(
        CloseWonToOrder.opportunity_changed, _changed(opportunity_id, "Negotiation/Review")
    )
    parked = await _until(handle, lambda s: s.status == DealStatus.NEEDS_ATTENTION)
    assert parked.open_exception is not None
    assert parked.open_exception.step == "cancel_order"

    await _feed(world, ChangeKind.ORDER)
    result = await handle.result()
    await record_history(handle, "close_won_held_rejected_while_cancelling")
    assert result.state.status == DealStatus.CANCELLED
    assert result.state.open_exception is None
    opportunity = await world.crm.get("Opportunity", opportunity_id)
    assert opportunity["Syncline_Order_Status__c"] == "Closed"
    types = await _event_types(world, opportunity_id)
    assert EventType.ORDER_ACCEPTED not in types
    assert EventType.ORDER_CANCELLED not in types


async def test_a_held_order_of_a_deal_won_back_while_its_cancel_was_parked_waits_again(
    own_world: World,
) -> None:
    # The run of 1,000 (issue 17, seed 20261204, sequence 23): the deal's cancel of its
    # held order was refused while the ERP credential was revoked, and the deal stayed
    # parked on it after the credential came back and sales won the deal again. News
    # now wakes the park, and the deal re-reads the opportunity before it cancels.
    world = own_world
    opportunity_id, state, handle = await _pending(world)
    certificate = f"/admin/oauth2/certificates/{world.erp_certificate_id}"
    assert (await world.erp_admin.post(f"{certificate}/revoke")).status_code == 200
    await world.crm.update("Opportunity", opportunity_id, {"StageName": "Negotiation/Review"})
    await handle.signal(
        CloseWonToOrder.opportunity_changed, _changed(opportunity_id, "Negotiation/Review")
    )
    parked = await _until(handle, lambda s: s.status == DealStatus.NEEDS_ATTENTION)
    assert parked.open_exception is not None
    assert parked.open_exception.reason == ExceptionReason.AUTH_FAILED
    assert parked.open_exception.step == "cancel_order"

    assert (await world.erp_admin.post(f"{certificate}/restore")).status_code == 200
    await world.crm.update("Opportunity", opportunity_id, {"StageName": "Closed Won"})
    # Won again, the CRM calls the closed-won webhook: a delivery to the running deal.
    await world.start(opportunity_id)
    waiting = await _until(handle, lambda s: s.status == DealStatus.PENDING_APPROVAL)
    assert waiting.open_exception is None
    order = await world.erp.get_record("salesOrder", state.erp_order_id or "")
    assert order["status"]["refName"] == "Pending Approval"
    await record_history(handle, "close_won_held_won_back_while_its_cancel_was_parked")
    await handle.terminate("the test is over")


async def test_a_deal_won_back_while_its_held_order_was_being_cancelled_starts_over(
    own_world: World,
) -> None:
    # The lifecycle explorer (NetSuite, seed 20261411, sequences 28 and 29): sales lost
    # the deal, and won it back while the deal was cancelling its held order. The
    # closed-won delivery reached the run during the cancel, the run then ended
    # cancelled, and the delivery was lost with it: the CRM said won and no order was
    # live. The run now reads the opportunity once more and starts over as a new run.
    world = own_world
    opportunity_id, state, handle = await _pending(world)
    slow_cancel = {"mode": "latency", "latency_ms": 1500, "method": "PATCH"}
    assert (await world.erp_admin.post("/admin/faults", json=[slow_cancel])).status_code == 200
    await world.crm.update("Opportunity", opportunity_id, {"StageName": "Closed Lost"})
    await handle.signal(
        CloseWonToOrder.opportunity_changed, _changed(opportunity_id, "Closed Lost")
    )
    for _ in range(200):  # ten seconds
        pending = (await handle.describe()).raw_description.pending_activities
        if any(p.activity_type.name == "cancel_order" for p in pending):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the deal never started cancelling its order")
    await world.crm.update("Opportunity", opportunity_id, {"StageName": "Closed Won"})
    await world.start(opportunity_id)  # the CRM's closed-won callout: into the running run

    first = world.client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
    for _ in range(200):  # ten seconds
        if (await first.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the run that cancelled the order never started over")
    await record_history(first, "close_won_won_back_while_its_held_order_was_cancelled")
    latest = world.client.get_workflow_handle(handle.id)
    waiting = await _until(latest, lambda s: s.status == DealStatus.PENDING_APPROVAL)
    assert waiting.erp_order_id not in (None, state.erp_order_id)
    cancelled = await world.erp.get_record("salesOrder", state.erp_order_id or "")
    assert cancelled["status"]["refName"] == "Cancelled"
    await latest.terminate("the test is over")


async def test_partial_then_full_fulfilment_reaches_the_opportunity_once_each(
    world: World,
) -> None:
    opportunity_id, state, handle = await _following(world, ["SL-SEAT-PRO"])
    order = await world.erp.get_record("salesOrder", state.erp_order_id or "")
    [line] = order["item"]["items"]
    assert line["quantity"] > 1
    await _finance(
        world,
        f"/admin/finance/salesOrder/{state.erp_order_id}/fulfil",
        {"lines": [{"item": "SL-SEAT-PRO", "quantity": 1}]},
    )
    await _feed(world, ChangeKind.FULFILMENT)
    await _until(handle, lambda s: s.fulfilment_status == "Partially Fulfilled")
    await _finance(world, f"/admin/finance/salesOrder/{state.erp_order_id}/fulfil")
    await _feed(world, ChangeKind.FULFILMENT)  # both again: the second is the news
    await _until(handle, lambda s: s.fulfilment_status == "Fulfilled")
    opportunity = await world.crm.get("Opportunity", opportunity_id)
    assert opportunity["Syncline_Fulfilment_Status__c"] == "Fulfilled"
    fulfilled = [
        e
        for e in await world.store.events_for(opportunity_id)
        if e.event_type == EventType.ORDER_FULFILLED
    ]
    assert [e.payload["complete"] for e in fulfilled] == [False, True]
    assert [e.payload["lines"][0]["quantity"] for e in fulfilled] == [
        "1",
        str(line["quantity"] - 1),
    ]
    await handle.terminate("the test is over")
    await record_history(handle, "close_won_fulfilled_in_two")


async def test_a_rejected_order_reopened_and_approved_is_booked(world: World) -> None:
    opportunity_id, state, handle = await _pending(world)
    order = f"/admin/finance/salesOrder/{state.erp_order_id}"
    await _finance(world, f"{order}/reject", {"reason": "missing PO number"})
    await _feed(world, ChangeKind.ORDER)
    await _until(handle, lambda s: s.status == DealStatus.NEEDS_ATTENTION)
    await _finance(world, f"{order}/reopen")
    await _feed(world, ChangeKind.ORDER)
    waiting = await _until(handle, lambda s: s.status == DealStatus.PENDING_APPROVAL)
    assert waiting.open_exception is None  # the rejection is no longer a person's to fix
    await _finance(world, f"{order}/approve")
    await _feed(world, ChangeKind.ORDER)
    await _until(handle, lambda s: s.status == DealStatus.ORDER_ACCEPTED)
    types = await _event_types(world, opportunity_id)
    assert (types.count(EventType.ORDER_REJECTED), types.count(EventType.ORDER_ACCEPTED)) == (1, 1)
    await handle.terminate("the test is over")
    await record_history(handle, "close_won_held_rejected_reopened_then_approved")
