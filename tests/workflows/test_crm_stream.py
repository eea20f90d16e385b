"""The CRM change stream with the real activities, connector and sandbox CRM (its Pub/Sub
API on a loopback port): a closed-won change event becomes a deal, Syncline's own
writes are recognised, the position is carried across continue-as-new, and a position
past the CRM's retention opens one exception and has the gap reconciled."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowHandle

from models.deal import DealStatus, ExceptionReason, RetryRequest
from models.tables import ExceptionStatus
from tests.deals import open_deal
from tests.workflows.conftest import World
from tests.workflows.conftest import eventually as _eventually
from tests.workflows.histories import record_history
from workflows.contract import RETRY
from workflows.deal import contract as deal
from workflows.stream.contract import StreamConfig, StreamInput, StreamStatus, stream_workflow_id
from workflows.stream.workflow import CrmChangeStream

OPPORTUNITIES = "/data/OpportunityChangeEvent"


async def _start(world: World, request: StreamInput) -> WorkflowHandle[Any, None]:
    return await world.client.start_workflow(
        CrmChangeStream.run,
        request,
        id=stream_workflow_id("salesforce", request.channel),
        task_queue=world.task_queue,
    )


async def _status(handle: WorkflowHandle[Any, None]) -> StreamStatus:
    return await handle.query(CrmChangeStream.status)


async def _won(world: World, name: str) -> str:
    opportunity_id = await open_deal(world.sales_user, world.entries, name=name)
    await world.sales_user.update("Opportunity", opportunity_id, {"StageName": "Closed Won"})
    return opportunity_id


async def _ordered(world: World, opportunity_id: str) -> None:
    handle = deal.deal_handle(world.client, opportunity_id)
    await _eventually(
        lambda: deal.STATE.ask(handle), lambda s: s.status == DealStatus.ORDER_ACCEPTED
    )


async def test_closed_won_change_events_become_deals(stream_world: World) -> None:
    world = stream_world
    config = StreamConfig(window=timedelta(seconds=1), batch_size=5, runs_per_continue=4)
    stream = await _start(world, StreamInput(channel=OPPORTUNITIES, config=config))
    # A new stream follows the channel from now on, once the CRM has named a position.
    await _eventually(lambda: _status(stream), lambda s: s.replay_id is not None)

    opportunity_id = await _won(world, "Streamed")
    await _ordered(world, opportunity_id)
    assert len(await world.erp_orders_for(opportunity_id)) == 1

    # Syncline's own write-back of the order comes back as a change and is ignored; the
    # position survives continue-as-new (four runs of a second each).
    latest = stream.id
    status = await _eventually(
        lambda: _status(world.client.get_workflow_handle(latest)),
        lambda s: s.own_writes >= 1 and s.closed_won == 1,
    )
    assert status.lag_p95_seconds is not None and status.lag_p95_seconds < 30
    await _eventually(
        lambda: world.client.get_workflow_handle(latest).describe(),
        lambda d: d.run_id != stream.result_run_id,
    )
    after = await _status(world.client.get_workflow_handle(latest))
    assert after.replay_id is not None and after.closed_won == 1
    first_run = world.client.get_workflow_handle(stream.id, run_id=stream.result_run_id)
    await record_history(first_run, "crm_stream_reads_deals_and_continues")


async def test_a_stream_started_afresh_resumes_where_the_store_says(stream_world: World) -> None:
    """Its workflow state lost (terminated here), a stream started again for the same
    channel reads on from the position the store kept, not from the tip."""
    world = stream_world
    config = StreamConfig(window=timedelta(seconds=1), batch_size=5)
    stream = await _start(world, StreamInput(channel=OPPORTUNITIES, config=config))
    await _eventually(lambda: _status(stream), lambda s: s.replay_id is not None)
    first = await _won(world, "Before the loss")
    await _ordered(world, first)
    await _eventually(lambda: _status(stream), lambda s: s.closed_won == 1)
    await stream.terminate("its state is lost")
    assert await world.store.stream_position(stream.id) is not None

    missed = await _won(world, "While no stream ran")
    again = await _start(world, StreamInput(channel=OPPORTUNITIES, config=config))
    await _ordered(world, missed)
    status = await _eventually(lambda: _status(again), lambda s: s.closed_won >= 1)
    assert status.gaps == 0


async def test_a_position_past_retention_is_one_exception_and_a_reconciliation(
    stream_world: World,
) -> None:
    world = stream_world
    await open_deal(world.sales_user, world.entries, name="Before the gap")
    old = (1).to_bytes(8, "big").hex()  # the first event on the bus
    moved = await world.crm_admin.post("/admin/event-bus/clock", json={"advanceSeconds": 73 * 3600})
    assert moved.json()["stored"] == 0 and moved.json()["purgedThrough"] > 1

    config = StreamConfig(window=timedelta(seconds=1), batch_size=5)
    stream = await _start(world, StreamInput(channel=OPPORTUNITIES, config=config, replay_id=old))
    status = await _eventually(lambda: _status(stream), lambda s: s.open_exception is not None)
    exception = status.open_exception
    assert exception is not None and exception.reason == ExceptionReason.CRM_EVENTS_LOST
    assert status.gaps == 1
    row = await world.store.get_exception(exception.id)
    assert row is not None and row.status == ExceptionStatus.OPEN
    reconciliation = world.client.get_workflow_handle(row.details["reconciliation_id"])
    assert (await reconciliation.describe()).id.startswith("reconcile:gap-")

    # It reads on from the oldest event the CRM keeps.
    opportunity_id = await _won(world, "After the gap")
    await _ordered(world, opportunity_id)

    await RETRY.send(stream, RetryRequest(exception_id=exception.id))
    await _eventually(lambda: _status(stream), lambda s: s.open_exception is None)
    row = await world.store.get_exception(exception.id)
    assert row is not None and row.status == ExceptionStatus.RESOLVED
    assert (await _status(stream)).gaps == 1
    await record_history(stream, "crm_stream_gap_reconciled_then_retried")
