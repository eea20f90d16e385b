"""The whole stack, as `syncline dev` runs it, on free ports in a temporary folder."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.salesforce import SalesforceClient
from connectors.tryton import TrytonClient
from sandbox.tryton.accountant import TrytonAccountant
from sandbox.tryton.bootstrap import TrytonSetup
from tests.conftest import fresh_postgres_database
from tests.deals import open_deal
from tests.e2e.erp_probes import ErpOrder, ErpProbe, NetSuiteProbe, TrytonProbe
from workers.demo import seed_crm_catalog
from workers.dev_stack import DevStack, StackOptions, StackPorts
from workers.settings import Settings
from workers.signatures import signed_headers
from workers.wiring import build_netsuite

RECONCILE_SLA_SECONDS = 3.0


@dataclass
class Stack:
    dev: DevStack
    env: dict[str, str]
    crm: SalesforceClient
    erp: ErpProbe
    api: httpx.AsyncClient
    entries: dict[str, str]

    @property
    def env_file(self) -> Path:
        return self.dev.workdir / "dev.env"

    def sign(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        headers = signed_headers(self.env["SYNCLINE_WEBHOOK_SECRET"], body, timestamp)
        return {**headers, "Content-Type": "application/json"}

    async def post_webhook(
        self, body: bytes, headers: Mapping[str, str | bytes] | None = None
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

    async def erp_orders_for(self, opportunity_id: str) -> list[ErpOrder]:
        return await self.erp.orders_for(opportunity_id)

    async def erp_faults(self, *rules: dict[str, Any]) -> None:
        """Faults on the order-creating request (the sandbox's own injector, or the
        proxy's in front of Tryton)."""
        await self.erp_admin(
            "POST", "/admin/faults", [self.erp.order_write_fault(r) for r in rules]
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
    async with fresh_postgres_database("syncline_e2e") as url:
        yield url


STACKS = (("netsuite", "sqlite"), ("netsuite", "postgres"), ("tryton", "sqlite"))
"""Each ERP on the embedded store, and the store's production backend once: the ERP and
the store are independent layers, so the fourth pair (Tryton on PostgreSQL) would run
the whole suite again, about four minutes of CI, for no path the three leave out."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked ``erp(name)`` runs on that ERP's stacks only: left out of the others
    at collection (deselected), not skipped, since on PostgreSQL a skip fails CI."""
    kept, left_out = [], []
    for item in items:
        marker = item.get_closest_marker("erp")
        callspec = getattr(item, "callspec", None)
        stack = callspec.params.get("stack") if callspec is not None else None
        if marker is not None and stack is not None and stack[0] != marker.args[0]:
            left_out.append(item)
        else:
            kept.append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept


def _stack_params() -> list[object]:
    # Not a skipif mark: _database asks postgres_url(), which fails rather than skips in CI.
    return [
        pytest.param(
            (erp, store),
            id=f"{erp}-{store}",
            marks=[pytest.mark.postgres] if store == "postgres" else [],
        )
        for erp, store in STACKS
    ]


# The whole suite runs once per stack of STACKS; on PostgreSQL the worker also takes its
# ERP slots from the advisory-lock governor, as a deployment with several workers does.
# Package-scoped, as are the console's and the lifecycle's stacks: an idle stack's
# server, worker and feed still take a fifth of a core, for every test after its own.
@pytest.fixture(scope="package", params=_stack_params())
async def stack(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    tryton_cache_dir: Path,
) -> AsyncIterator[Stack]:
    erp, store = request.param
    async with _database(store) as database_url:
        options = StackOptions(
            # The webhook path alone: what this counts (deliveries, duplicates, ERP calls)
            # is the webhook's; the CRM change stream is measured on a stack of its own.
            crm_stream="off",
            workdir=tmp_path_factory.mktemp(f"stack-{erp}-{store}"),
            ports=StackPorts.free(),
            ui=False,
            database_url=database_url,
            erp=erp,
            tryton_cache_dir=tryton_cache_dir,
            erp_poll_seconds=0.5,
            # Reconciliation tests wait this long for a seeded difference to be an error.
            reconcile_sla_minutes=RECONCILE_SLA_SECONDS / 60,
            # The OpenAPI fuzz sends far more than a person would; tests/api tests the limit.
            api_rate_limit="10000/second",
            # Spans go to the process logs, where test_secrets looks for leaks.
            otel_exporter="console",
            metrics_refresh_seconds=1.0,
        )
        async for running in _running_stack(options):
            yield running


async def _probe(dev: DevStack, env: dict[str, str]) -> ErpProbe:
    if dev.options.erp == "netsuite":
        # The ERP as the stack's worker reaches it (its credentials in dev.env).
        erp = build_netsuite(Settings.from_env_values(env))
        return NetSuiteProbe(erp, dev.erp_url)
    setup = TrytonSetup.load(dev.tryton_dir)
    accountant = TrytonAccountant(
        dev.tryton_url, setup.database, setup.admin_login, setup.admin_password
    )
    await accountant.__aenter__()
    tryton = TrytonClient(
        dev.tryton_url, setup.database, setup.application_key, company_id=setup.company_id
    )
    return TrytonProbe(tryton, accountant, dev.erp_url, setup.database)


async def _running_stack(options: StackOptions) -> AsyncIterator[Stack]:
    dev = DevStack(options)
    env = await dev.start(timeout=120)
    # The tests act as the CRM's own users: their writes must not look like Syncline's.
    crm = SalesforceClient(
        env["SYNCLINE_CRM_BASE_URL"],
        env["SYNCLINE_CRM_CLIENT_ID"],
        env["SYNCLINE_CRM_CLIENT_SECRET"],
        client_name="sales_user",
    )
    erp = await _probe(dev, env)
    api = httpx.AsyncClient(
        base_url=dev.api_url,
        headers={"Authorization": f"Bearer {env['SYNCLINE_OPERATOR_KEY']}"},
        timeout=30,
    )
    try:
        entries = await seed_crm_catalog(crm, erp.erp)
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
