"""A deal's run is traced: client, workflow and every activity emit spans."""

from __future__ import annotations

import dataclasses

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor

from models.deal import DealStatus
from models.events import SourceSystem
from models.lifecycle import OpportunityChanged
from models.types import utc_now
from tests.deals import open_deal
from tests.workflows.conftest import World, eventually
from workers.worker import build_workers
from workflows.deal import contract as deal
from workflows.deal.workflow import CloseWonToOrder


async def test_spans_cover_the_start_the_run_and_each_activity(world: World) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    config = world.client.config()
    # Keep the test environment's own interceptors: they let time skip while we wait.
    config["interceptors"] = [
        *config["interceptors"],
        TracingInterceptor(provider.get_tracer("syncline-test")),
    ]
    traced = Client(**config)
    traced_world = dataclasses.replace(
        world, client=traced, task_queue=world.task_queue + "-traced"
    )
    workers = build_workers(
        traced,
        task_queue=traced_world.task_queue,
        crm=world.crm,
        erp=world.erp,
        erp_system=SourceSystem.NETSUITE,
        store=world.store,
        erp_max_concurrency=5,
    )
    opportunity_id = await open_deal(world.crm, world.entries)
    await world.crm.update("Opportunity", opportunity_id, {"StageName": "Closed Won"})
    async with workers[0], workers[1]:
        handle = await traced_world.start(opportunity_id)
        await eventually(
            lambda: handle.query(CloseWonToOrder.state),
            lambda s: s.status == DealStatus.ORDER_ACCEPTED,
        )
        # Lost before it is invoiced, the deal cancels its order and ends now: the test
        # needs no end of the billing follow (``World.ended``) on a second server.
        await world.crm.update("Opportunity", opportunity_id, {"StageName": "Closed Lost"})
        await deal.OPPORTUNITY_CHANGED.send(
            handle,
            OpportunityChanged(
                crm_opportunity_id=opportunity_id,
                changed_fields=["StageName"],
                stage="Closed Lost",
                received_at=utc_now(),
            ),
        )
        result = await handle.result()
    assert result.state.status == DealStatus.CANCELLED

    spans = exporter.get_finished_spans()
    names = [span.name for span in spans]
    starts = [s for s in spans if s.name.startswith("SignalWithStartWorkflow:CloseWonToOrder")]
    assert starts, names
    assert "RunWorkflow:CloseWonToOrder" in names
    assert "RunActivity:cancel_order" in names, names
    # One trace from the webhook's start to the order written back on the opportunity
    # (the later CRM change is a trace of its own, started by its own signal).
    first = {s.name for s in spans if s.context.trace_id == starts[0].context.trace_id}
    for activity in ("fetch_opportunity", "place_order", "write_order_status"):
        assert f"RunActivity:{activity}" in first, sorted(first)
