"""CloseWonToOrder's decisions, step by step, with time skipping."""

from __future__ import annotations

import asyncio

from models.crm import MAX_ORDER_LINES
from models.deal import DealStatus, ExceptionReason, RetryRequest
from models.events import EventType
from models.tables import ExceptionStatus
from tests.deals import add_crm_product, open_deal
from tests.workflows.conftest import World
from tests.workflows.histories import record_history
from workflows.deal.workflow import CloseWonToOrder
from workflows.search_attributes import CRM_OPPORTUNITY_ID, ERP_ORDER_ID, SYNC_STATUS


async def _close_won(world: World, opportunity_id: str) -> None:
    await world.crm.update("Opportunity", opportunity_id, {"StageName": "Closed Won"})


async def _wait_for(handle, status: DealStatus, attempts: int = 200) -> None:  # type: ignore[no-untyped-def]
    for _ in range(attempts):
        state = await handle.query(CloseWonToOrder.state)
        if state.status == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never reached {status}; last {state}")


async def _wait_for_retries(handle, retries: int, attempts: int = 200) -> None:  # type: ignore[no-untyped-def]
    for _ in range(attempts):
        if (await handle.query(CloseWonToOrder.state)).retries >= retries:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never retried {retries} times")


async def test_closed_won_becomes_one_order_written_back_and_recorded(world: World) -> None:
    opportunity_id = await open_deal(
        world.crm, world.entries, ["SL-PLATFORM-ANNUAL", "SL-SEAT-PRO"]
    )
    await _close_won(world, opportunity_id)
    handle = await world.start(opportunity_id)
    result = await world.ended(handle)
    await record_history(handle, "close_won_accepted_then_unbilled")

    state = result.state
    assert state.status == DealStatus.ORDER_ACCEPTED
    [order] = await world.erp_orders_for(opportunity_id)
    assert state.erp_order_id == order["id"] and state.erp_order_number == order["tranid"]

    opportunity = await world.crm.get("Opportunity", opportunity_id)
    assert opportunity["Syncline_Order_Id__c"] == order["id"]
    assert opportunity["Syncline_Order_Number__c"] == order["tranid"]

    events = await world.store.events_for(opportunity_id)
    assert [e.event_type for e in events] == [
        EventType.OPPORTUNITY_CLOSED_WON,
        EventType.ORDER_ACCEPTED,
    ]
    assert events[1].payload["total"] == "5002.00" and events[1].correlation_id == "corr-test"

    attributes = (await handle.describe()).typed_search_attributes
    assert attributes.get(CRM_OPPORTUNITY_ID) == opportunity_id
    assert attributes.get(ERP_ORDER_ID) == order["id"]
    assert attributes.get(SYNC_STATUS) == "order_accepted"


async def test_a_second_run_for_the_same_deal_finds_the_order_and_records_nothing_new(
    world: World,
) -> None:
    opportunity_id = await open_deal(world.crm, world.entries)
    await _close_won(world, opportunity_id)
    first = await world.ended(await world.start(opportunity_id))
    second = await world.ended(await world.start(opportunity_id, correlation_id="replayed"))
    assert second.state.erp_order_id == first.state.erp_order_id
    assert len(await world.erp_orders_for(opportunity_id)) == 1
    assert await world.store.count_events(EventType.ORDER_ACCEPTED, opportunity_id) == 1


async def test_an_opportunity_no_longer_won_is_cancelled_without_an_order(world: World) -> None:
    opportunity_id = await open_deal(world.crm, world.entries)
    result = await (await world.start(opportunity_id)).result()  # still "Proposal/Price Quote"
    assert result.state.status == DealStatus.CANCELLED
    assert "no longer Closed Won" in (result.state.detail or "")
    assert await world.erp_orders_for(opportunity_id) == []


async def test_a_deleted_opportunity_is_cancelled(world: World) -> None:
    result = await (await world.start("006000000000000AAA")).result()
    assert result.state.status == DealStatus.CANCELLED


async def test_unknown_sku_parks_then_resumes_after_the_catalog_is_fixed(world: World) -> None:
    await add_crm_product(world.crm, world.entries, "SL-WF-UNKNOWN", "10.00")
    opportunity_id = await open_deal(world.crm, world.entries, ["SL-WF-UNKNOWN"])
    await _close_won(world, opportunity_id)
    handle = await world.start(opportunity_id)
    await _wait_for(handle, DealStatus.NEEDS_ATTENTION)

    state = await handle.query(CloseWonToOrder.state)
    assert state.open_exception is not None
    assert state.open_exception.reason == ExceptionReason.UNKNOWN_SKU
    assert state.open_exception.step == "place_order"
    [row] = await world.store.list_exceptions(subject_id=opportunity_id)
    assert row.status == ExceptionStatus.OPEN and "SL-WF-UNKNOWN" in row.message
    assert (await handle.describe()).typed_search_attributes.get(SYNC_STATUS) == "needs_attention"
    assert await world.store.count_events(EventType.ORDER_REJECTED, opportunity_id) == 1

    # A retry before the fix parks again on the same exception; nothing is lost.
    await world.store.mark_retry_requested(row.id)
    await handle.signal(CloseWonToOrder.retry, RetryRequest(exception_id=row.id))
    await _wait_for_retries(handle, 1)
    await _wait_for(handle, DealStatus.NEEDS_ATTENTION)
    [reopened] = await world.store.list_exceptions(subject_id=opportunity_id)
    assert (
        reopened.id == row.id
        and reopened.status == ExceptionStatus.OPEN
        and reopened.retry_count == 1
    )

    await world.erp.create_record(
        "inventoryItem", {"itemId": "SL-WF-UNKNOWN", "displayName": "x", "basePrice": 10}
    )
    await handle.signal(CloseWonToOrder.retry, RetryRequest(exception_id=row.id))
    result = await world.ended(handle)
    assert result.state.status == DealStatus.ORDER_ACCEPTED and result.state.retries == 2
    await record_history(handle, "close_won_parked_retried_then_unbilled")
    assert len(await world.erp_orders_for(opportunity_id)) == 1
    [resolved] = await world.store.list_exceptions(subject_id=opportunity_id)
    assert resolved.status == ExceptionStatus.RESOLVED
    assert await world.store.count_events(EventType.ORDER_REJECTED, opportunity_id) == 1


async def test_the_facts_an_operators_retry_leads_to_name_the_operator(world: World) -> None:
    await add_crm_product(world.crm, world.entries, "SL-WF-NAMED", "10.00")
    opportunity_id = await open_deal(world.crm, world.entries, ["SL-WF-NAMED"])
    await _close_won(world, opportunity_id)
    handle = await world.start(opportunity_id)
    await _wait_for(handle, DealStatus.NEEDS_ATTENTION)
    [row] = await world.store.list_exceptions(subject_id=opportunity_id)

    await world.erp.create_record(
        "inventoryItem", {"itemId": "SL-WF-NAMED", "displayName": "x", "basePrice": 10}
    )
    await handle.signal(
        CloseWonToOrder.retry, RetryRequest(exception_id=row.id, requested_by="alice")
    )
    assert (await world.ended(handle)).state.status == DealStatus.ORDER_ACCEPTED
    caused_by = {e.event_type: e.caused_by for e in await world.store.events_for(opportunity_id)}
    assert caused_by == {
        EventType.OPPORTUNITY_CLOSED_WON: None,  # the CRM's doing, before anyone retried
        EventType.ORDER_REJECTED: None,
        EventType.ORDER_ACCEPTED: "alice",
    }


async def test_an_erp_rejection_parks_with_the_erps_reason(world: World) -> None:
    await world.erp_admin.post("/admin/periods/close", json={"through": "2100-12-31"})
    try:
        opportunity_id = await open_deal(world.crm, world.entries)
        await _close_won(world, opportunity_id)
        handle = await world.start(opportunity_id)
        await _wait_for(handle, DealStatus.NEEDS_ATTENTION)
        state = await handle.query(CloseWonToOrder.state)
        assert state.open_exception is not None
        assert state.open_exception.reason == ExceptionReason.ERP_REJECTED
        assert "period" in state.open_exception.message.lower()
    finally:
        await world.erp_admin.post("/admin/periods/open", json={"through": "2100-12-31"})
    await handle.signal(CloseWonToOrder.retry, RetryRequest())
    assert (await world.ended(handle)).state.status == DealStatus.ORDER_ACCEPTED


async def test_transient_erp_failures_are_retried_by_the_engine(world: World) -> None:
    await world.erp_admin.post(
        "/admin/faults",
        json=[
            {
                "mode": "error",
                "status": 503,
                "times": 3,
                "path_prefix": "/services/rest/record/v1/salesOrder",
            }
        ],
    )
    opportunity_id = await open_deal(world.crm, world.entries)
    await _close_won(world, opportunity_id)
    result = await world.ended(await world.start(opportunity_id))
    assert result.state.status == DealStatus.ORDER_ACCEPTED
    assert len(await world.erp_orders_for(opportunity_id)) == 1


async def test_rate_limits_are_waited_out_not_parked(world: World) -> None:
    await world.erp_admin.post(
        "/admin/faults",
        json=[
            {
                "mode": "rate_limit",
                "retry_after": 2,
                "times": 2,
                "path_prefix": "/services/rest/query",
            }
        ],
    )
    opportunity_id = await open_deal(world.crm, world.entries, ["SL-ONBOARDING"])
    await _close_won(world, opportunity_id)
    result = await world.ended(await world.start(opportunity_id))
    assert result.state.status == DealStatus.ORDER_ACCEPTED and result.state.open_exception is None


async def test_duplicate_deliveries_while_running_are_counted_not_acted_on(world: World) -> None:
    opportunity_id = await open_deal(world.crm, world.entries)
    await _close_won(world, opportunity_id)
    # One after the other: the time-skipping test server (unlike the real one, which the
    # end-to-end test drives concurrently) can refuse simultaneous signal-with-starts.
    handles = [await world.start(opportunity_id) for _ in range(3)]
    assert len({h.result_run_id for h in handles}) == 1
    result = await world.ended(handles[0])
    assert result.state.deliveries == 3 and result.state.duplicate_deliveries == 2
    assert len(await world.erp_orders_for(opportunity_id)) == 1


async def test_an_opportunity_without_lines_parks_as_invalid(world: World) -> None:
    account = await world.crm.create("Account", {"Name": "No lines"})
    opportunity_id = await world.crm.create(
        "Opportunity",
        {
            "Name": "Empty",
            "AccountId": account,
            "StageName": "Closed Won",
            "CloseDate": "2026-11-23",
        },
    )
    handle = await world.start(opportunity_id)
    await _wait_for(handle, DealStatus.NEEDS_ATTENTION)
    state = await handle.query(CloseWonToOrder.state)
    assert state.open_exception is not None
    assert state.open_exception.reason == ExceptionReason.INVALID_OPPORTUNITY
    assert state.open_exception.step == "read_opportunity"
    await handle.terminate("test over")


async def test_an_opportunity_without_an_account_parks_with_that_reason(world: World) -> None:
    opportunity_id = await world.crm.create(
        "Opportunity", {"Name": "Orphan", "StageName": "Closed Won", "CloseDate": "2026-11-23"}
    )
    handle = await world.start(opportunity_id)
    await _wait_for(handle, DealStatus.NEEDS_ATTENTION)
    state = await handle.query(CloseWonToOrder.state)
    assert state.open_exception is not None
    assert state.open_exception.message == "the opportunity has no account"
    await handle.terminate("test over")


async def test_a_negative_line_parks_until_the_rep_fixes_it(world: World) -> None:
    opportunity_id = await open_deal(world.crm, world.entries)
    [line] = await world.crm.query(
        f"SELECT Id FROM OpportunityLineItem WHERE OpportunityId = '{opportunity_id}'"
    )
    discount = await world.crm.create(
        "OpportunityLineItem",
        {
            "OpportunityId": opportunity_id,
            "PricebookEntryId": world.entries["SL-ONBOARDING"],
            "Quantity": 1,
            "UnitPrice": "-500.00",
        },
    )
    await _close_won(world, opportunity_id)
    handle = await world.start(opportunity_id)
    await _wait_for(handle, DealStatus.NEEDS_ATTENTION)
    state = await handle.query(CloseWonToOrder.state)
    assert state.open_exception is not None
    assert state.open_exception.reason == ExceptionReason.INVALID_OPPORTUNITY
    assert f"line {discount} has a negative price (-500.00 USD)" in state.open_exception.message
    assert await world.erp_orders_for(opportunity_id) == []

    # The rep turns the discount into a price on the main line; an operator retries.
    await world.crm.delete("OpportunityLineItem", discount)
    await world.crm.update("OpportunityLineItem", line["Id"], {"UnitPrice": "750.50"})
    await handle.signal(CloseWonToOrder.retry, RetryRequest(exception_id=state.open_exception.id))
    result = await world.ended(handle)
    assert result.state.status == DealStatus.ORDER_ACCEPTED
    await record_history(handle, "close_won_negative_line_parked_then_fixed")
    [order] = await world.erp_orders_for(opportunity_id)
    assert result.state.erp_order_id == str(order["id"])


async def test_more_lines_than_an_order_takes_park_without_entering_the_history(
    world: World,
) -> None:
    opportunity_id = await open_deal(world.crm, world.entries)
    await world.crm.create_many(
        "OpportunityLineItem",
        [
            {
                "OpportunityId": opportunity_id,
                "PricebookEntryId": world.entries["SL-SEAT-VIEWER"],
                "Quantity": 1,
            }
        ]
        * MAX_ORDER_LINES,
    )
    await _close_won(world, opportunity_id)
    handle = await world.start(opportunity_id)
    await _wait_for(handle, DealStatus.NEEDS_ATTENTION)
    state = await handle.query(CloseWonToOrder.state)
    assert state.open_exception is not None
    assert "has 1,001 line items" in state.open_exception.message
    history = (await handle.fetch_history()).to_json()
    assert "SL-SEAT-VIEWER" not in history  # the count travelled, not the lines
    await handle.terminate("test over")


async def _erp_calls(world: World, correlation_id: str) -> int:
    counts = (await world.erp_admin.get("/admin/requests-by-correlation")).json()
    return int(counts.get(correlation_id, 0))


async def test_a_deal_costs_the_erp_three_calls_for_a_new_customer_and_two_for_a_known_one(
    world: World,
) -> None:
    """Issue 22: customer created at once (1), order created at once and read back for
    its number (2); a known customer and known SKUs come from the identity map."""
    skus = ["SL-PLATFORM-ANNUAL", "SL-SEAT-PRO"]
    warm = await open_deal(world.crm, world.entries, skus, name="Warm-up")
    await _close_won(world, warm)
    await world.ended(await world.start(warm, correlation_id="warm"))  # SKUs now mapped

    first = await open_deal(world.crm, world.entries, skus, name="First deal")
    await _close_won(world, first)
    placed = await world.ended(await world.start(first, correlation_id="new-customer"))
    assert await _erp_calls(world, "new-customer") == 3

    account = (await world.crm.get_opportunity(first)).account_id
    again = await open_deal(world.crm, world.entries, skus, name="Again", account_id=account)
    await _close_won(world, again)
    second = await world.ended(await world.start(again, correlation_id="known-customer"))
    assert await _erp_calls(world, "known-customer") == 2
    # The same ERP customer as the account's first deal, found without asking the ERP.
    assert second.state.erp_customer_id == placed.state.erp_customer_id
    [order] = await world.erp_orders_for(again)
    assert second.state.erp_order_id == order["id"]
