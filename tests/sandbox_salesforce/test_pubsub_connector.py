"""Syncline's Pub/Sub connector against the sandbox's API: events decoded into what the
webhook parses, flow control, a refused session fetched again, the retention error."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from connectors.errors import AuthError
from connectors.salesforce import SalesforceClient
from connectors.salesforce.pubsub import (
    FetchedBatch,
    PubSubClient,
    ReplayIdRejected,
    ReplayStart,
)
from models.webhooks import parse_salesforce_webhook
from sandbox.salesforce import build_app
from sandbox.salesforce.pubsub import serve_pubsub
from sandbox.salesforce.server import close_sandbox

from .helpers import BASE_URL, CLIENT_ID, CLIENT_SECRET, SandboxApi, fetch_token, make_config

OPPORTUNITIES = "/data/OpportunityChangeEvent"


@dataclass
class Connected:
    api: SandboxApi
    crm: SalesforceClient
    pubsub: PubSubClient
    transport: httpx.ASGITransport
    address: str


@pytest.fixture
async def connected(tmp_path: Path) -> AsyncIterator[Connected]:
    app = build_app(make_config(tmp_path / "sf.db", event_bus_entities=("Opportunity", "Account")))
    sandbox = app.state.sandbox
    server, port = await serve_pubsub(
        sandbox, "127.0.0.1", 0, instance_url=BASE_URL, keepalive_seconds=0.2
    )
    transport = httpx.ASGITransport(app=app)
    crm = SalesforceClient(BASE_URL, CLIENT_ID, CLIENT_SECRET, transport=transport)
    pubsub = PubSubClient(f"127.0.0.1:{port}", crm, tls=False)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        http.headers["Authorization"] = f"Bearer {await fetch_token(http)}"
        yield Connected(SandboxApi(http, sandbox), crm, pubsub, transport, f"127.0.0.1:{port}")
    await pubsub.aclose()
    await crm.aclose()
    await server.stop(0)
    await close_sandbox(sandbox)


async def _batches(
    stream: AsyncGenerator[FetchedBatch, None], events: int
) -> tuple[list[FetchedBatch], int]:
    seen, taken = [], 0
    async for batch in stream:
        seen.append(batch)
        taken += len(batch.events)
        if taken >= events or len(seen) > 50:
            break
    return seen, taken


async def test_a_closed_won_change_event_reads_as_the_webhook_reads_it(
    connected: Connected,
) -> None:
    api = connected.api
    opportunity_id = await api.create(
        "Opportunity", Name="Streamed", StageName="Prospecting", CloseDate="2026-12-31"
    )
    await api.patch("Opportunity", opportunity_id, StageName="Closed Won", Amount="99.5")
    stream = connected.pubsub.subscribe(OPPORTUNITIES, ReplayStart.earliest(), batch_size=10)
    batches, taken = await _batches(stream, 2)
    await stream.aclose()
    assert taken == 2
    created, won = [event for batch in batches for event in batch.events]

    header = won.payload["ChangeEventHeader"]
    assert header["changeType"] == "UPDATE"
    assert {"StageName", "Amount"} <= set(header["changedFields"])
    # Only what changed, as a CometD relay would post it.
    assert "Name" not in won.payload and won.payload["StageName"] == "Closed Won"
    assert won.committed_at is not None
    trigger = parse_salesforce_webhook(won.payload)
    assert trigger.opportunity_ids == [opportunity_id] and trigger.shape == "cdc"
    assert parse_salesforce_webhook(created.payload).opportunity_ids == []
    assert created.payload["Name"] == "Streamed"


async def test_flow_control_keeps_at_most_a_batch_in_flight(connected: Connected) -> None:
    for n in range(5):
        await connected.api.create(
            "Opportunity", Name=f"Deal {n}", StageName="Prospecting", CloseDate="2026-12-31"
        )
    stream = connected.pubsub.subscribe(OPPORTUNITIES, ReplayStart.earliest(), batch_size=2)
    batches, taken = await _batches(stream, 5)
    await stream.aclose()
    assert taken == 5
    assert max(len(b.events) for b in batches) <= 2
    positions = [int.from_bytes(e.replay_id, "big") for b in batches for e in b.events]
    assert positions == sorted(positions) and len(set(positions)) == 5


async def test_a_refused_session_is_fetched_again_once(connected: Connected) -> None:
    assert (await connected.pubsub.get_topic(OPPORTUNITIES)).can_subscribe
    await connected.api.http.post("/admin/tokens/revoke")
    # The connector's cached token is now refused; it logs in again and goes on.
    assert (await connected.pubsub.get_topic(OPPORTUNITIES)).can_subscribe
    stream = connected.pubsub.subscribe(OPPORTUNITIES, ReplayStart(), batch_size=1)
    first = await anext(stream)
    assert first.events == [] and first.latest_replay_id
    await stream.aclose()

    wrong = SalesforceClient(BASE_URL, CLIENT_ID, "not-the-secret", transport=connected.transport)
    refused = PubSubClient(connected.address, wrong, tls=False)
    with pytest.raises(AuthError):
        await refused.get_topic(OPPORTUNITIES)
    await refused.aclose()


async def test_a_replay_id_past_retention_is_a_replay_id_rejected(connected: Connected) -> None:
    await connected.api.create(
        "Opportunity", Name="Old", StageName="Prospecting", CloseDate="2026-12-31"
    )
    stream = connected.pubsub.subscribe(OPPORTUNITIES, ReplayStart.earliest(), batch_size=1)
    (old,), _ = (await anext(stream)).events, None
    await stream.aclose()
    await connected.api.create(
        "Opportunity", Name="Purged", StageName="Prospecting", CloseDate="2026-12-31"
    )
    await connected.api.http.post("/admin/event-bus/clock", json={"advanceSeconds": 73 * 3600})
    resumed = connected.pubsub.subscribe(OPPORTUNITIES, ReplayStart.after(old.replay_id))
    with pytest.raises(ReplayIdRejected) as rejected:
        await anext(resumed)
    assert rejected.value.code is not None and rejected.value.code.endswith("replayid.corrupted")
