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
from tests.deals import open_deal
from tests.workflows.conftest import World
from workers.worker import build_workers


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
        result = await (await traced_world.start(opportunity_id)).result()
    assert result.state.status == DealStatus.ORDER_ACCEPTED

    names = [span.name for span in exporter.get_finished_spans()]
    assert any(name.startswith("SignalWithStartWorkflow:CloseWonToOrder") for name in names), names
    assert "RunWorkflow:CloseWonToOrder" in names
    for activity in ("fetch_opportunity", "place_order", "write_order_status"):
        assert f"RunActivity:{activity}" in names, names
    # one trace from the webhook's start to the last activity
    assert len({span.context.trace_id for span in exporter.get_finished_spans()}) == 1
