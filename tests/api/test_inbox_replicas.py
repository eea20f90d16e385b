"""Two API replicas on one PostgreSQL database share the inbox: each delivery signalled
once, in order per opportunity, whichever replica stored it and whichever relays it."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio.testing import WorkflowEnvironment

from models.operators import Role
from models.tables import DeliveryStatus
from store import Store
from store.inbox import Inbox
from tests.api.access import AccessApp, access_app, settings_for
from tests.api.inbox import changed, in_order, opportunity_ids, signals_heard, won
from tests.conftest import fresh_postgres_database
from workers.signatures import signed_headers

DEALS = 8
CHANGES_EACH = 4


@pytest.fixture
async def shared_postgres() -> AsyncIterator[str]:
    async with fresh_postgres_database("syncline_inbox") as url:
        yield url


async def _send(replica: AccessApp, body: bytes) -> str:
    headers = {**signed_headers("hook-secret", body), "Content-Type": "application/json"}
    async with replica.client() as http:
        answer = await http.post("/webhooks/salesforce", content=body, headers=headers)
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == DeliveryStatus.PENDING
    delivery_id: str = answer.json()["delivery_id"]
    return delivery_id


async def _drained(store: Store, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (await Inbox(store).depth())[0]:
        assert time.monotonic() < deadline, "the inbox was never drained"
        await asyncio.sleep(0.05)


@pytest.mark.postgres
async def test_two_replicas_share_the_inbox_without_double_signals_or_reordering(
    workflow_env: WorkflowEnvironment, shared_postgres: str
) -> None:
    stores = [Store(create_async_engine(shared_postgres)) for _ in range(2)]
    # Both relays poll often, so they contend for every claim, not only their own writes.
    settings = settings_for(inbox_poll_seconds=0.02)
    ids = opportunity_ids(DEALS)
    chosen = random.Random(20261206)
    try:
        async with (
            access_app(workflow_env.client, settings, stores[0]) as first,
            access_app(workflow_env.client, settings, stores[1]) as second,
        ):

            async def one_deal(opportunity_id: str) -> list[str]:
                """A sender waits for each 202 before the next delivery (the order it
                means), and its deliveries land on either replica."""
                bodies = [
                    won(opportunity_id),
                    *(changed(opportunity_id) for _ in range(CHANGES_EACH)),
                ]
                return [await _send(chosen.choice((first, second)), body) for body in bodies]

            stored = dict(zip(ids, await asyncio.gather(*(one_deal(i) for i in ids)), strict=True))
            await _drained(stores[0])
            viewer = await first.key("vera", Role.VIEWER)
            async with second.client(viewer) as http:
                views = [
                    (await http.get(f"/api/deliveries/{d}")).json()
                    for delivered in stored.values()
                    for d in delivered
                ]
    finally:
        for store in stores:
            await store.close()

    heard = await signals_heard(workflow_env.client, ids)
    for opportunity_id, delivered in stored.items():
        # Once each (no relay died), in the order the sender sent them.
        assert heard[opportunity_id] == delivered, opportunity_id
        assert in_order(heard[opportunity_id], delivered)
    assert {(v["status"], v["relay"]["state"], v["relay"]["attempts"]) for v in views} == {
        ("accepted", "signalled", 1)
    }
