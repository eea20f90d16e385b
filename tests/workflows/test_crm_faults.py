"""CloseWonToOrder against a failing CRM (the sandbox's fault injection), time-skipping.

Transient CRM failures (5xx) are the engine's to retry; a CRM rejection of the
write-back parks the deal after the ERP order exists, and a retry finishes it without
a second order or a second ``order.accepted``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from temporalio.client import WorkflowHandle

from models.deal import CloseWonResult, DealStatus, ExceptionReason, RetryRequest
from models.events import EventType
from models.tables import ExceptionRow, ExceptionStatus
from tests.deals import open_deal
from tests.workflows.conftest import World
from workflows.deal.workflow import CloseWonToOrder

OPPORTUNITY_PATH = "/services/data/v59.0/sobjects/Opportunity"


@pytest.fixture
def crm_admin(world: World) -> httpx.AsyncClient:
    return world.crm_admin


async def _set_crm_faults(crm_admin: httpx.AsyncClient, *rules: dict[str, Any]) -> None:
    response = await crm_admin.post("/admin/faults", json=list(rules))
    assert response.status_code == 200, response.text


async def _faults_left(crm_admin: httpx.AsyncClient) -> list[int | None]:
    return [rule["times"] for rule in (await crm_admin.get("/admin/faults")).json()]


async def _closed_won_deal(world: World) -> str:
    opportunity_id = await open_deal(world.crm, world.entries)
    await world.crm.update("Opportunity", opportunity_id, {"StageName": "Closed Won"})
    return opportunity_id


async def _last_attempt(handle: WorkflowHandle[Any, CloseWonResult], activity: str) -> int:
    """The attempt number that completed ``activity`` (1 = first try), from the history:
    a remote activity's started event, or a local activity's marker."""
    scheduled: set[int] = set()
    attempt = 0
    async for event in handle.fetch_history_events():
        if event.HasField("marker_recorded_event_attributes"):
            [data] = event.marker_recorded_event_attributes.details["data"].payloads
            marker = json.loads(data.data)
            if marker.get("activity_type") == activity:
                attempt = int(marker["attempt"])
        elif event.HasField("activity_task_scheduled_event_attributes"):
            if event.activity_task_scheduled_event_attributes.activity_type.name == activity:
                scheduled.add(event.event_id)
        elif event.HasField("activity_task_started_event_attributes"):
            started = event.activity_task_started_event_attributes
            if started.scheduled_event_id in scheduled:
                attempt = started.attempt
    return attempt


async def _open_exception_row(world: World, opportunity_id: str) -> ExceptionRow:
    # The deal shows needs_attention just before the row is written: wait for it.
    for _ in range(200):
        rows = await world.store.list_exceptions(subject_id=opportunity_id)
        if rows:
            [row] = rows
            return row
        await asyncio.sleep(0.05)
    raise AssertionError("no exception row recorded")


async def _wait_for(handle: WorkflowHandle[Any, CloseWonResult], status: DealStatus) -> None:
    for _ in range(200):
        state = await handle.query(CloseWonToOrder.state)
        if state.status == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never reached {status}; last {state}")


async def _assert_written_back(world: World, opportunity_id: str, order_id: str | None) -> None:
    opportunity = await world.crm.get("Opportunity", opportunity_id)
    assert order_id is not None and opportunity["Syncline_Order_Id__c"] == order_id
    assert opportunity["Syncline_Order_Status__c"]


async def test_write_back_rejected_parks_after_the_order_then_a_retry_finishes(
    world: World, crm_admin: httpx.AsyncClient
) -> None:
    opportunity_id = await _closed_won_deal(world)
    await _set_crm_faults(
        crm_admin,
        {
            "mode": "error",
            "status": 400,
            "code": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "detail": "Order fields are locked while the deal is in review",
            "times": 1,
            "method": "PATCH",
            "path_prefix": f"{OPPORTUNITY_PATH}/{opportunity_id}",
        },
    )
    handle = await world.start(opportunity_id)
    await _wait_for(handle, DealStatus.NEEDS_ATTENTION)

    state = await handle.query(CloseWonToOrder.state)
    assert state.open_exception is not None
    assert state.open_exception.reason == ExceptionReason.CRM_REJECTED
    assert state.open_exception.step == "write_back"
    assert "locked while the deal is in review" in state.open_exception.message
    # The ERP order was made before the write-back: it exists, once, and is recorded.
    [order] = await world.erp_orders_for(opportunity_id)
    assert state.erp_order_id == order["id"]
    assert await world.store.count_events(EventType.ORDER_ACCEPTED, opportunity_id) == 1
    # A CRM rejection is not an order rejection.
    assert await world.store.count_events(EventType.ORDER_REJECTED, opportunity_id) == 0
    row = await _open_exception_row(world, opportunity_id)
    assert row.status == ExceptionStatus.OPEN and row.reason == ExceptionReason.CRM_REJECTED
    assert (await world.crm.get("Opportunity", opportunity_id))["Syncline_Order_Id__c"] is None

    # The CRM side is fixed (the rule has fired its one time); an operator retries.
    assert await _faults_left(crm_admin) == [0]
    await world.store.mark_retry_requested(row.id)
    await handle.signal(CloseWonToOrder.retry, RetryRequest(exception_id=row.id))
    result = await world.ended(handle)

    assert result.state.status == DealStatus.ORDER_ACCEPTED and result.state.retries == 1
    assert result.state.erp_order_id == order["id"]
    assert len(await world.erp_orders_for(opportunity_id)) == 1
    assert await world.store.count_events(EventType.ORDER_ACCEPTED, opportunity_id) == 1
    await _assert_written_back(world, opportunity_id, order["id"])
    [resolved] = await world.store.list_exceptions(subject_id=opportunity_id)
    assert resolved.id == row.id and resolved.status == ExceptionStatus.RESOLVED


@pytest.mark.parametrize(
    ("method", "status", "times", "activity"),
    [
        ("PATCH", 503, 2, "write_order_status"),  # the write-back
        ("GET", 500, 3, "fetch_opportunity"),  # the re-read of the opportunity
    ],
)
async def test_transient_crm_failures_are_retried_by_the_engine(
    world: World, crm_admin: httpx.AsyncClient, method: str, status: int, times: int, activity: str
) -> None:
    opportunity_id = await _closed_won_deal(world)
    await _set_crm_faults(
        crm_admin,
        {
            "mode": "error",
            "status": status,
            "times": times,
            "method": method,
            "path_prefix": f"{OPPORTUNITY_PATH}/{opportunity_id}",
        },
    )
    handle = await world.start(opportunity_id)
    result = await world.ended(handle)

    assert result.state.status == DealStatus.ORDER_ACCEPTED
    assert result.state.open_exception is None and result.state.retries == 0
    assert await _faults_left(crm_admin) == [0]
    assert await _last_attempt(handle, activity) == times + 1
    [order] = await world.erp_orders_for(opportunity_id)
    assert result.state.erp_order_id == order["id"]
    await _assert_written_back(world, opportunity_id, order["id"])
    assert await world.store.count_events(EventType.ORDER_ACCEPTED, opportunity_id) == 1
    assert await world.store.list_exceptions(subject_id=opportunity_id) == []
