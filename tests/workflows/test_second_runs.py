"""A deal's lifecycle across runs and at the edges of a run (issue 17 a, b, c, e, f).

A deal's workflow id is its business key, so a later run of the same deal (won again,
or replayed by reconciliation after a run was terminated) starts with an empty memory:
whatever it must not do twice, it learns from the ERP and the ledger, never from what
the run itself remembers.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from temporalio.client import WorkflowHandle

from models.billing import InvoiceStatus
from models.deal import CloseWonResult, DealState, DealStatus, ExceptionReason, RetryRequest
from models.events import EventType
from models.reconciliation import Domain
from tests.workflows.conftest import World
from tests.workflows.histories import record_history
from tests.workflows.test_billing import _invoice, _payment, _wait_for_status
from tests.workflows.test_reconcile import _classes, _reconcile
from tests.workflows.test_reversals import _changed, _following, _until, finance_edits
from workflows.deal import contract as deal

OPPORTUNITY_PATH = "/services/data/v59.0/sobjects/Opportunity"


async def _eventually(
    handle: WorkflowHandle[Any, CloseWonResult], predicate: Any, seconds: float = 30
) -> DealState:
    """Like ``_until``, for what waits out the engine's real-time retry backoff."""
    for _ in range(int(seconds / 0.1)):
        state = await deal.STATE.ask(handle)
        if predicate(state):
            return state
        await asyncio.sleep(0.1)
    raise AssertionError(f"the deal never got there: {state}")


async def _ended(handle: WorkflowHandle[Any, CloseWonResult]) -> DealState:
    return (await handle.result()).state


async def _payments(world: World, opportunity_id: str) -> Decimal:
    events = await world.store.events_for(opportunity_id)
    return sum(
        (Decimal(e.payload["amount"]) for e in events if e.event_type == EventType.PAYMENT_APPLIED),
        Decimal(0),
    )


async def test_a_deal_won_again_after_its_order_was_cancelled_gets_a_new_live_order(
    world: World,
) -> None:
    opportunity_id, first, handle = await _following(world)
    await world.crm.update("Opportunity", opportunity_id, {"StageName": "Closed Lost"})
    await deal.OPPORTUNITY_CHANGED.send(handle, _changed(opportunity_id, "Closed Lost"))
    assert (await _ended(handle)).status == DealStatus.CANCELLED

    await world.crm.update("Opportunity", opportunity_id, {"StageName": "Closed Won"})
    again = await world.start(opportunity_id)
    second = await _until(again, lambda s: s.status == DealStatus.ORDER_ACCEPTED)

    assert second.erp_order_id not in (None, first.erp_order_id)
    new_order = await world.erp.get_record("salesOrder", second.erp_order_id or "")
    assert new_order["status"]["refName"] != "Cancelled"
    old_order = await world.erp.get_record("salesOrder", first.erp_order_id or "")
    assert old_order["status"]["refName"] == "Cancelled"
    opportunity = await world.crm.get("Opportunity", opportunity_id)
    assert opportunity["Syncline_Order_Id__c"] == second.erp_order_id
    assert opportunity["Syncline_Order_Status__c"] != "Cancelled"
    events = await world.store.events_for(opportunity_id)
    accepted = [e.source_id for e in events if e.event_type == EventType.ORDER_ACCEPTED]
    cancelled = [e.source_id for e in events if e.event_type == EventType.ORDER_CANCELLED]
    assert sorted(accepted) == sorted([first.erp_order_id, second.erp_order_id])
    assert cancelled == [first.erp_order_id]

    # Won again once more, the live order is found, not a third one made.
    await again.terminate("replayed by reconciliation")
    await record_history(again, "close_won_won_again_after_its_order_was_cancelled")
    third = await _until(
        await world.start(opportunity_id), lambda s: s.status == DealStatus.ORDER_ACCEPTED
    )
    assert third.erp_order_id == second.erp_order_id

    # Reconciliation pairs the opportunity with its live order, whole or targeted, and
    # finds nothing to explain about it.
    for request in ({"domains": ["orders"]}, {"domains": ["orders"], "keys": [opportunity_id]}):
        report = await _reconcile(world, **request)
        assert (Domain.ORDERS.value, opportunity_id) not in await _classes(world, report)


async def test_a_second_run_of_a_deal_counts_each_payment_once(world: World) -> None:
    opportunity_id, state, handle = await _following(world)
    order_id, total = state.erp_order_id or "", state.billing.order_total if state.billing else 0
    half = Decimal(total) / 2
    half_paid = _invoice(order_id, opportunity_id, total=str(total), due=str(total - half))
    await world.publish(half_paid, _payment("81", half_paid, str(half), 10))
    await _until(handle, lambda s: s.status == DealStatus.INVOICED and s.step == "follow_billing")
    assert await _payments(world, opportunity_id) == half
    await handle.terminate("replayed by reconciliation")

    again = await world.start(opportunity_id)
    # It starts from the invoice and the payment the ledger holds (issue 17, explorer).
    await _until(again, lambda s: s.status == DealStatus.INVOICED and s.step == "follow_billing")
    paid = _invoice(
        order_id, opportunity_id, total=str(total), due="0", status=InvoiceStatus.PAID, minute=9
    )
    # The first payment read again with the second: one fact each.
    await world.publish(
        paid, _payment("81", half_paid, str(half), 10), _payment("82", paid, str(half), 11)
    )
    assert (await _ended(again)).status == DealStatus.PAID
    await record_history(again, "close_won_second_run_paid")
    assert await _payments(world, opportunity_id) == total


async def test_a_later_run_shows_the_invoices_and_payments_made_before_it_started(
    world: World,
) -> None:
    """Found by the lifecycle explorer (issue 17, hist2 seq 49): the feed signals each
    invoice snapshot once, to the run of its day; a run replayed by reconciliation after
    it heard nothing more left the opportunity's billing fields empty."""
    opportunity_id, state, handle = await _following(world)
    order_id, total = state.erp_order_id or "", state.billing.order_total if state.billing else 0
    await handle.terminate("replayed by reconciliation")
    half = Decimal(total) / 2
    half_paid = _invoice(order_id, opportunity_id, total=str(total), due=str(total - half))
    await world.publish(half_paid, _payment("83", half_paid, str(half), 10))  # no run hears it

    again = await world.start(opportunity_id)
    later = await _until(
        again, lambda s: s.status == DealStatus.INVOICED and s.step == "follow_billing"
    )
    assert later.billing is not None and later.billing.paid_amount == half
    opportunity = await world.crm.get("Opportunity", opportunity_id)
    assert opportunity["Syncline_Billing_Status__c"] == "partially_paid"
    assert Decimal(str(opportunity["Syncline_Invoiced_Amount__c"])) == Decimal(total)
    assert Decimal(str(opportunity["Syncline_Paid_Amount__c"])) == half
    assert Decimal(str(opportunity["Syncline_Balance__c"])) == Decimal(total) - half
    await again.terminate("test over")


async def test_a_second_runs_amendment_is_a_fact_of_its_own(world: World) -> None:
    opportunity_id, _, handle = await _following(world)
    (line,) = await world.crm.query(
        f"SELECT Id FROM OpportunityLineItem WHERE OpportunityId = '{opportunity_id}'"
    )
    change = _changed(opportunity_id, "Closed Won").model_copy(
        update={"changed_fields": ["Amount"]}
    )
    await world.crm.update("OpportunityLineItem", line["Id"], {"Quantity": 5})
    await deal.OPPORTUNITY_CHANGED.send(handle, change)
    await _until(handle, lambda s: s.detail and "amended" in s.detail)
    await handle.terminate("replayed by reconciliation")

    again = await world.start(opportunity_id)
    await _until(again, lambda s: s.status == DealStatus.ORDER_ACCEPTED)
    await world.crm.update("OpportunityLineItem", line["Id"], {"Quantity": 7})
    await deal.OPPORTUNITY_CHANGED.send(again, change)
    await _until(again, lambda s: s.detail and "amended" in s.detail)

    events = await world.store.events_for(opportunity_id)
    amendments = [e.payload for e in events if e.event_type == EventType.ORDER_AMENDED]
    assert sorted(int(str(a["amendment"])) for a in amendments) == [1, 2]
    newest = max(amendments, key=lambda a: int(str(a["amendment"])))
    assert Decimal(str(newest["total"])) == Decimal("1250.50") * 7


async def test_news_arriving_while_the_paid_deal_writes_back_is_still_taken(
    world: World,
) -> None:
    opportunity_id, state, handle = await _following(world)
    order_id, total = (
        state.erp_order_id or "",
        str(state.billing.order_total if state.billing else 0),
    )
    # The last write-back is slow: a second invoice of the order arrives meanwhile.
    response = await world.crm_admin.post(
        "/admin/faults",
        json=[
            {
                "mode": "latency",
                "latency_ms": 1500,
                "times": 1,
                "method": "PATCH",
                "path_prefix": f"{OPPORTUNITY_PATH}/{opportunity_id}",
            }
        ],
    )
    assert response.status_code == 200, response.text
    paid = _invoice(order_id, opportunity_id, total=total, due="0", status=InvoiceStatus.PAID)
    await world.publish(paid)
    await _until(handle, lambda s: s.step == "write_billing")
    extra = paid.model_copy(update={"id": "9002", "number": "INV-9002"})
    await world.publish(extra)

    # The deal took the second invoice before it ended: it bills its order twice over.
    ended = await _ended(handle)
    assert ended.status == DealStatus.PAID and ended.billing is not None
    assert ended.billing.invoiced_amount == 2 * Decimal(total)
    events = await world.store.events_for(opportunity_id)
    posted = sorted(e.source_id for e in events if e.event_type == EventType.INVOICE_POSTED)
    assert posted == ["9001", "9002"]


async def test_an_error_no_connector_explains_parks_the_deal_with_its_type(
    world: World,
) -> None:
    """An answer not of the API's shape (a 200 from a misconfigured proxy) fails the
    mapping with an error no connector explains; after the bounded attempts the deal
    parks with the error's type and message instead of retrying forever, and the
    operator's retry after the fix resumes it."""
    opportunity_id, _, handle = await _following(world)
    response = await world.crm_admin.post(
        "/admin/faults",
        json=[
            {
                "mode": "malformed",
                "body": {"detail": "not this API's answer"},
                "method": "GET",
                "path_prefix": f"{OPPORTUNITY_PATH}/{opportunity_id}",
            }
        ],
    )
    assert response.status_code == 200, response.text
    await deal.OPPORTUNITY_CHANGED.send(handle, _changed(opportunity_id, "Closed Won"))
    parked = await _eventually(handle, lambda s: s.status == DealStatus.NEEDS_ATTENTION)
    assert parked.open_exception is not None
    assert parked.open_exception.reason == ExceptionReason.UNEXPECTED_ERROR
    assert parked.open_exception.message.startswith("KeyError")
    [row] = await world.store.list_exceptions(subject_id=opportunity_id)
    assert row.reason == ExceptionReason.UNEXPECTED_ERROR

    await world.crm_admin.post("/admin/faults", json=[])
    await deal.RETRY.send(handle, RetryRequest(exception_id=parked.open_exception.id))
    resumed = await _until(handle, lambda s: s.status == DealStatus.ORDER_ACCEPTED)
    assert resumed.open_exception is None
    await handle.terminate("the test is done")
    await record_history(handle, "close_won_unexpected_error_parked_then_retried")


async def test_a_later_run_leaves_an_order_finance_edited_as_it_is(world: World) -> None:
    """Found by the run of 1,000 (issue 17, seed 20261202, sequence 77): a run replayed
    after a termination took the order as it found it, finance's edit included, for
    what the deal had ordered. Asked by reconciliation's amount_mismatch, it read the
    CRM's unchanged lines as an amendment and parked the invoiced deal on "the
    opportunity was amended after invoicing". It now starts from what the deal last
    asked of the order (``Store.ordered``)."""
    opportunity_id, state, handle = await _following(world)
    order_id = state.erp_order_id or ""
    edited = await finance_edits(world, opportunity_id, order_id)
    total = str(edited.total.amount)
    await world.publish(_invoice(order_id, opportunity_id, total=total, due=total))
    await _wait_for_status(handle, DealStatus.INVOICED)
    await handle.terminate("replayed by reconciliation")

    again = await world.start(opportunity_id)
    await _until(again, lambda s: s.status == DealStatus.INVOICED and s.step == "follow_billing")
    reconciled = _changed(opportunity_id, "Closed Won").model_copy(update={"changed_fields": []})
    await deal.OPPORTUNITY_CHANGED.send(again, reconciled)
    await asyncio.sleep(0.5)

    after = await deal.STATE.ask(again)
    assert after.status == DealStatus.INVOICED
    assert after.open_exception is None
    assert (await world.erp._sales_order(order_id)).total == edited.total
    await record_history(again, "close_won_later_run_keeps_finance_edit")
    await again.terminate("test over")
