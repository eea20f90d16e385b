"""The whole stack, as `syncline dev` runs it, on free ports in a temporary folder."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.netsuite import NetSuiteClient
from connectors.salesforce import SalesforceClient
from tests.deals import open_deal
from workers.demo import seed_crm_catalog
from workers.dev_stack import DevStack, StackOptions, StackPorts
from workers.signatures import signed_headers

POSTGRES_URL = os.environ.get("SYNCLINE_TEST_POSTGRES_URL")


@dataclass
class Stack:
    dev: DevStack
    env: dict[str, str]
    crm: SalesforceClient
    erp: NetSuiteClient
    api: httpx.AsyncClient
    entries: dict[str, str]

    @property
    def env_file(self) -> Path:
        return self.dev.workdir / "dev.env"

    def sign(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        headers = signed_headers(self.env["SYNCLINE_WEBHOOK_SECRET"], body, timestamp)
        return {**headers, "Content-Type": "application/json"}

    async def post_webhook(
        self, body: bytes, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.api.post(
            "/webhooks/salesforce",
            content=body,
            headers=self.sign(body) if headers is None else headers,
        )

    async def open_deal(self, skus: list[str] | None = None, name: str = "E2E") -> str:
        return await open_deal(self.crm, self.entries, skus, name=name)

    async def close_won(self, opportunity_id: str) -> None:
        await self.crm.update("Opportunity", opportunity_id, {"StageName": "Closed Won"})

    def callout(self, opportunity_id: str) -> bytes:
        return json.dumps(
            {
                "event": "opportunity.closed_won",
                "opportunityId": opportunity_id,
                "stageName": "Closed Won",
            }
        ).encode()

    async def deal(self, opportunity_id: str) -> dict[str, Any]:
        response = await self.api.get(f"/api/deals/{opportunity_id}")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    async def wait_for_status(
        self, opportunity_id: str, status: str, timeout: float = 30.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            response = await self.api.get(f"/api/deals/{opportunity_id}")
            if response.status_code == 200:
                last = response.json()
                if last["status"] == status:
                    return last
            await asyncio.sleep(0.2)
        raise AssertionError(f"{opportunity_id} never reached {status}; last seen {last}")

    async def erp_orders_for(self, opportunity_id: str) -> list[dict[str, Any]]:
        return await self.erp.suiteql(
            f"SELECT id, tranid, externalid FROM transaction WHERE type = 'SalesOrd' "
            f"AND externalid = '{opportunity_id}'"
        )

    async def erp_admin(self, method: str, path: str, body: Any = None) -> Any:
        async with httpx.AsyncClient(base_url=self.dev.erp_url) as http:
            response = await http.request(method, path, json=body)
            response.raise_for_status()
            return response.json() if response.content else None


@asynccontextmanager
async def _database(backend: str) -> AsyncIterator[str | None]:
    """None for the stack's own SQLite file, or a fresh PostgreSQL database."""
    if backend == "sqlite":
        yield None
        return
    import asyncpg

    assert POSTGRES_URL is not None
    name = f"syncline_e2e_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(POSTGRES_URL.replace("postgresql+asyncpg", "postgresql"))
    await admin.execute(f"CREATE DATABASE {name}")
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


def _store_backends() -> list[object]:
    postgres = pytest.param(
        "postgres",
        marks=pytest.mark.skipif(POSTGRES_URL is None, reason="SYNCLINE_TEST_POSTGRES_URL not set"),
    )
    return ["sqlite", postgres]


# The whole suite runs once per store backend; on PostgreSQL the worker also takes its
# ERP slots from the advisory-lock governor, as a deployment with several workers does.
@pytest.fixture(scope="session", params=_store_backends())
async def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    async with _database(request.param) as database_url:
        async for running in _running_stack(tmp_path_factory, database_url):
            yield running


async def _running_stack(
    tmp_path_factory: pytest.TempPathFactory, database_url: str | None
) -> AsyncIterator[Stack]:
    dev = DevStack(
        StackOptions(
            workdir=tmp_path_factory.mktemp("stack"),
            ports=StackPorts.free(),
            ui=False,
            database_url=database_url,
        )
    )
    env = await dev.start(timeout=90)
    crm = SalesforceClient(
        env["SYNCLINE_CRM_BASE_URL"],
        env["SYNCLINE_CRM_CLIENT_ID"],
        env["SYNCLINE_CRM_CLIENT_SECRET"],
    )
    erp = NetSuiteClient(
        env["SYNCLINE_ERP_BASE_URL"],
        env["SYNCLINE_ERP_CLIENT_ID"],
        env["SYNCLINE_ERP_CLIENT_SECRET"],
    )
    api = httpx.AsyncClient(
        base_url=dev.api_url,
        headers={"Authorization": f"Bearer {env['SYNCLINE_API_TOKEN']}"},
        timeout=30,
    )
    try:
        entries = await seed_crm_catalog(crm, erp)
        yield Stack(dev=dev, env=env, crm=crm, erp=erp, api=api, entries=entries)
    finally:
        await crm.aclose()
        await erp.aclose()
        await api.aclose()
        dev.stop()


@pytest.fixture
async def clean_faults(stack: Stack) -> AsyncIterator[None]:
    await stack.erp_admin("DELETE", "/admin/faults")
    yield
    await stack.erp_admin("DELETE", "/admin/faults")
