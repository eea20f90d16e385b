"""A worker with the real activities and connectors, talking to the sandbox apps in
process (no sockets), on the time-skipping test server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from activities.change_publisher import ChangePublisher
from connectors.netsuite import NetSuiteClient, OAuth2Credentials
from connectors.salesforce import SalesforceClient
from connectors.salesforce.pubsub import PubSubClient
from models.billing import InvoiceSnapshot
from models.changes import ErpChange, InvoiceChange
from models.deal import BILLING_FOLLOW, CloseWonResult, CloseWonTrigger, FollowCheck
from models.events import SourceSystem
from models.types import utc_now
from sandbox.netsuite.certificates import make_key_pair
from sandbox.netsuite.provision import map_certificate
from sandbox.netsuite.server import NetSuiteSandboxConfig
from sandbox.netsuite.server import build_app as build_erp_app
from sandbox.salesforce.pubsub import serve_pubsub
from sandbox.salesforce.server import SalesforceSandboxConfig
from sandbox.salesforce.server import build_app as build_crm_app
from store import Store
from tests.conftest import register_search_attributes, start_workflow_env
from workers.binaries import temporal_test_server
from workers.demo import seed_crm_catalog
from workers.worker import build_workers
from workflows.deal import contract as deal

T = TypeVar("T")

CRM_URL = "http://crm.sandbox"
ERP_URL = "http://erp.sandbox"


async def eventually(
    read: Callable[[], Awaitable[T]], ok: Callable[[T], bool], seconds: float = 20
) -> T:
    """``read()`` once ``ok`` of it (within ``seconds``); a workflow not started yet
    counts as not yet, and so does a query the loaded test server left unanswered (it
    does, while a run hands over to its continuation)."""
    value: T | None = None
    not_yet = (RPCStatusCode.NOT_FOUND, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED)
    for _ in range(int(seconds / 0.05)):
        try:
            value = await read()
        except RPCError as error:
            if error.status not in not_yet:
                raise
        else:
            if ok(value):
                return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"never true: {value}")


@dataclass
class World:
    client: Client
    task_queue: str
    crm: SalesforceClient
    erp: NetSuiteClient
    erp_admin: httpx.AsyncClient
    store: Store
    entries: dict[str, str]
    crm_admin: httpx.AsyncClient
    sales_user: SalesforceClient
    """The CRM as its own users change it (Syncline's client marks its writes)."""
    pubsub: PubSubClient | None = None
    """The sandbox CRM's Pub/Sub API, in a ``stream_world``."""
    erp_certificate_id: str = ""
    """The certificate the worker logs in to the ERP with (an administrator revokes it)."""
    env: WorkflowEnvironment | None = None
    """The time-skipping server the world runs on (``ended`` moves its clock)."""

    async def start(
        self, opportunity_id: str, correlation_id: str = "corr-test"
    ) -> WorkflowHandle[Any, CloseWonResult]:
        return await deal.signal_close_won(
            self.client,
            self.task_queue,
            CloseWonTrigger(
                crm_opportunity_id=opportunity_id,
                delivery_id=uuid.uuid4().hex,
                correlation_id=correlation_id,
                received_at=utc_now(),
            ),
        )

    async def ended(self, handle: WorkflowHandle[Any, CloseWonResult]) -> CloseWonResult:
        """The deal's result. A run left following its order's billing ends as it does
        in production: ``BILLING_FOLLOW`` passes (time skips) and reconciliation asks it
        (``FOLLOW_CHECK``); a run ending by itself (paid, cancelled) just ends.

        Not by awaiting the result at once: while a caller awaits a result, the test
        server skips time to the next timer, and a deal waiting for signals has none,
        so it would skip to the run's default timeout (ten years) and time it out."""
        assert self.env is not None
        newest = self.client.get_workflow_handle(handle.id)
        deadline = asyncio.get_running_loop().time() + 60
        while asyncio.get_running_loop().time() < deadline:
            if (await newest.describe()).status != WorkflowExecutionStatus.RUNNING:
                break
            try:
                state = await deal.STATE.ask(newest)
            except RPCError:
                state = None  # between runs (a continuation): ask again
            if (
                state is not None
                and state.step == "follow_billing"
                and state.status in deal.FOLLOWING_STATUSES
            ):
                await self.env.sleep(BILLING_FOLLOW)
                await deal.FOLLOW_CHECK.send_if_running(newest, FollowCheck(asked_by="test"))
                break
            await asyncio.sleep(0.1)
        return await handle.result()

    async def publish(self, *changes: ErpChange | InvoiceSnapshot) -> None:
        """As the change feed does it: the ledger first, then a signal to the deal."""
        read = [
            InvoiceChange.model_validate(c.model_dump()) if type(c) is InvoiceSnapshot else c
            for c in changes
        ]
        publisher = ChangePublisher(
            self.client, self.store, task_queue=self.task_queue, crm=self.crm
        )
        await publisher.publish(read, SourceSystem.NETSUITE, "corr-feed")

    async def erp_orders_for(self, opportunity_id: str) -> list[dict[str, Any]]:
        return await self.erp.suiteql(
            "SELECT id, tranid, externalid FROM transaction WHERE type = 'SalesOrd' "
            f"AND externalid = '{opportunity_id}'"
        )


@asynccontextmanager
async def _world(
    env: WorkflowEnvironment, tmp_path: Path, *, stream: bool = False
) -> AsyncIterator[World]:
    client = env.client
    crm_app = build_crm_app(
        SalesforceSandboxConfig(
            db_path=tmp_path / "crm.db",
            client_id="crm",
            client_secret="crm-secret",
            webhook_url=None,
            webhook_secret=None,
            base_url=CRM_URL,
            event_bus_entities=("Account", "Opportunity") if stream else (),
        )
    )
    erp_app = build_erp_app(NetSuiteSandboxConfig(db_path=tmp_path / "erp.db"))
    crm = SalesforceClient(CRM_URL, "crm", "crm-secret", transport=httpx.ASGITransport(app=crm_app))
    erp_admin = httpx.AsyncClient(base_url=ERP_URL, transport=httpx.ASGITransport(app=erp_app))
    # The integration's certificate, mapped as an administrator would.
    keys = make_key_pair()
    certificate_id = await map_certificate(erp_admin, "erp", keys.certificate_pem)
    erp = NetSuiteClient(
        ERP_URL,
        OAuth2Credentials("erp", certificate_id, keys.private_key_pem),
        transport=httpx.ASGITransport(app=erp_app),
    )
    crm_admin = httpx.AsyncClient(base_url=CRM_URL, transport=httpx.ASGITransport(app=crm_app))
    sales_user = SalesforceClient(
        CRM_URL,
        "crm",
        "crm-secret",
        transport=httpx.ASGITransport(app=crm_app),
        client_name="sales_user",
    )
    store = Store.from_url(f"sqlite+aiosqlite:///{tmp_path / 'syncline.db'}")
    await store.migrate()
    task_queue = f"test-{uuid.uuid4().hex}"
    pubsub_server, pubsub = None, None
    if stream:
        # gRPC needs a socket: the Pub/Sub API listens on a free loopback port.
        pubsub_server, port = await serve_pubsub(
            crm_app.state.sandbox, "127.0.0.1", 0, instance_url=CRM_URL, keepalive_seconds=0.5
        )
        pubsub = PubSubClient(f"127.0.0.1:{port}", crm, tls=False)
    workers = build_workers(
        client,
        task_queue=task_queue,
        crm=crm,
        erp=erp,
        erp_system=SourceSystem.NETSUITE,
        store=store,
        erp_max_concurrency=5,
        # Every difference a test seeds is past its SLA at once (in-flight
        # classification has unit tests of its own).
        reconcile_sla=timedelta(0),
        # Activity backoff is real time even on the time-skipping server: three
        # attempts (1 s + 2 s) keep the unexpected-error tests short.
        unexpected_error_attempts=3,
        change_events=pubsub,
    )
    try:
        entries = await seed_crm_catalog(crm, erp)
        async with workers[0], workers[1]:
            yield World(
                client,
                task_queue,
                crm,
                erp,
                erp_admin,
                store,
                entries,
                crm_admin,
                sales_user,
                pubsub,
                erp_certificate_id=certificate_id,
                env=env,
            )
    finally:
        if pubsub is not None and pubsub_server is not None:
            await pubsub.aclose()
            await pubsub_server.stop(0)
        await crm.aclose()
        await sales_user.aclose()
        await erp.aclose()
        await erp_admin.aclose()
        await crm_admin.aclose()
        await store.close()


@pytest.fixture(scope="session")
async def workflow_env(request: pytest.FixtureRequest) -> AsyncIterator[WorkflowEnvironment]:
    """The workflow tests' own server, shared by them alone: a run another directory's
    tests leave without a worker (the API's webhooks start deals) would stop it from
    skipping time, and a wait on a 400-day timer would then last for ever (it did: CI
    hung in test_renewal)."""
    env = await start_workflow_env(request)
    yield env
    await env.shutdown()


@pytest.fixture
async def world(workflow_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[World]:
    """On the session's shared time-skipping server: for tests whose runs all finish or
    are left waiting on nothing but signals."""
    await _still_serving(workflow_env)
    async with _world(workflow_env, tmp_path) as made:
        yield made


async def _still_serving(env: WorkflowEnvironment) -> None:
    """Fail at once when the shared server is gone: once it died under one test, every
    later one waited on it until its timeout (CI lost a quarter of an hour so)."""
    try:
        await env.client.workflow_service.get_system_info(
            GetSystemInfoRequest(), timeout=timedelta(seconds=10)
        )
    except RPCError as error:
        pytest.fail(f"the shared Temporal test server no longer answers: {error}")


@asynccontextmanager
async def _own_server(tmp_path: Path, *, stream: bool) -> AsyncIterator[World]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(temporal_test_server()),
    )
    try:
        await register_search_attributes(env.client)
        async with _world(env, tmp_path, stream=stream) as made:
            yield made
    finally:
        await env.shutdown()


@pytest.fixture
async def own_world(tmp_path: Path) -> AsyncIterator[World]:
    """On a time-skipping server of its own, for tests that leave long-running runs
    behind (the change feed starts mirrors and renewals): a run left without a worker
    would stop the shared server from skipping time for every later test."""
    async with _own_server(tmp_path, stream=False) as made:
        yield made


@pytest.fixture
async def stream_world(tmp_path: Path) -> AsyncIterator[World]:
    """An ``own_world`` whose CRM serves its change events over the Pub/Sub API, and whose
    worker reads them (the CRM change stream)."""
    async with _own_server(tmp_path, stream=True) as made:
        yield made
