"""The ingress is traced: a webhook's server span is the parent of the inbox relay's
span for its delivery (across the inbox: the request has been answered by then), which
is the parent of the workflow start and carries the correlation id."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.testing import WorkflowEnvironment

from store import Store
from tests.conftest import start_workflow_env
from workers.api import create_app
from workers.settings import Settings
from workers.signatures import signed_headers
from workers.telemetry import instrument_api


@pytest.fixture
async def own_server(request: pytest.FixtureRequest) -> AsyncIterator[WorkflowEnvironment]:
    """A server of its own: the run this test starts never gets a worker, and a pending
    run stops the shared time-skipping server from skipping time for later tests (even
    once terminated). With the search attributes the deal is started with."""
    env = await start_workflow_env(request)
    yield env
    await env.shutdown()


async def test_a_webhook_request_span_parents_the_relay_span_and_its_signal_with_start(
    own_server: WorkflowEnvironment, tmp_path: Path
) -> None:
    workflow_env = own_server
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    config = workflow_env.client.config()
    config["interceptors"] = [TracingInterceptor(provider.get_tracer("syncline-test"))]
    settings = Settings(
        environment="test",
        webhook_secret="hook-secret",
        api_token="op-token",
        task_queue="ingress-tracing-test",
    )
    store = Store.from_url(f"sqlite+aiosqlite:///{tmp_path / 'syncline.db'}")
    app = create_app(settings, store=store, client=Client(**config))
    instrument_api(app, provider)

    body = json.dumps({"event": "opportunity.closed_won", "opportunityId": "006000000000777AAA"})
    headers = {**signed_headers("hook-secret", body.encode()), "Content-Type": "application/json"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api.test"
        ) as http,
    ):
        answer = await http.post(
            "/webhooks/salesforce",
            content=body,
            headers={**headers, "X-Correlation-Id": "corr-traced"},
        )
        assert answer.status_code == 202, answer.text
        delivery_id = answer.json()["delivery_id"]
        for _ in range(200):  # the relay, in the app's background
            stored = await store.get_delivery(delivery_id)
            if stored is not None and stored.status == "accepted":
                break
            await asyncio.sleep(0.02)
    await store.close()

    spans = {span.name: span for span in exporter.get_finished_spans()}
    server = spans["POST /webhooks/salesforce"]
    relay = spans["inbox.relay"]
    start = next(s for name, s in spans.items() if name.startswith("SignalWithStartWorkflow:"))
    assert relay.context.trace_id == server.context.trace_id == start.context.trace_id
    assert relay.parent is not None and relay.parent.span_id == server.context.span_id
    assert start.parent is not None and start.parent.span_id == relay.context.span_id
    assert relay.attributes is not None
    assert relay.attributes["syncline.correlation_id"] == "corr-traced"
    assert relay.attributes["syncline.delivery_id"] == delivery_id
    assert relay.attributes["syncline.outcome"] == "accepted"
