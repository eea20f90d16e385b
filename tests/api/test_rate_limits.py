"""Requests per sender: past the limit, 429 with Retry-After; other senders unaffected."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from store import Store
from workers.api import create_app
from workers.settings import Settings

LIMIT = 5


@pytest.fixture
async def app_and_store(
    workflow_env: WorkflowEnvironment, tmp_path: Path
) -> AsyncIterator[tuple[FastAPI, Store]]:
    settings = Settings(
        environment="test",
        webhook_secret="hook-secret",
        api_token="op-token",
        webhook_rate_limit=f"{LIMIT}/minute",
        api_rate_limit=f"{LIMIT}/minute",
    )
    store = Store.from_url(f"sqlite+aiosqlite:///{tmp_path / 'syncline.db'}")
    await store.migrate()
    yield create_app(settings, store=store, client=workflow_env.client), store
    await store.close()


def _from(app: FastAPI, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://syncline")


async def _stored(store: Store) -> int:
    async with store.sessions()() as session:
        return int(
            (await session.execute(sa.text("SELECT count(*) FROM webhook_deliveries"))).scalar_one()
        )


async def test_a_sender_over_its_webhook_rate_is_told_when_to_come_back(
    app_and_store: tuple[FastAPI, Store],
) -> None:
    app, store = app_and_store
    async with _from(app, "10.0.0.1") as noisy, _from(app, "10.0.0.2") as other:
        answers = [await noisy.post("/webhooks/salesforce", content=b"{}") for _ in range(LIMIT)]
        assert {a.status_code for a in answers} == {401}  # unsigned, but counted
        over = await noisy.post("/webhooks/salesforce", content=b"{}")
        assert over.status_code == 429
        assert int(over.headers["Retry-After"]) >= 1
        assert "retry later" in over.json()["detail"]
        # Each address has its own window.
        assert (await other.post("/webhooks/salesforce", content=b"{}")).status_code == 401
    # The refused-for-rate request was not stored: the sender still holds it.
    assert await _stored(store) == LIMIT + 1


async def test_operator_requests_are_limited_per_client_token_or_not(
    app_and_store: tuple[FastAPI, Store],
) -> None:
    app, _ = app_and_store
    async with _from(app, "10.0.0.3") as guesser, _from(app, "10.0.0.4") as operator:
        guesses = [
            await guesser.get("/api/exceptions", headers={"Authorization": f"Bearer guess-{n}"})
            for n in range(LIMIT)
        ]
        assert {g.status_code for g in guesses} == {401}
        assert (await guesser.get("/api/exceptions")).status_code == 429
        token = {"Authorization": "Bearer op-token"}
        answers = [await operator.get("/api/exceptions", headers=token) for _ in range(LIMIT)]
        assert {a.status_code for a in answers} == {200}
        assert (await operator.get("/api/exceptions", headers=token)).status_code == 429
        # Health is not an operator route: load balancers poll it freely.
        assert (await operator.get("/healthz")).status_code in (200, 503)
