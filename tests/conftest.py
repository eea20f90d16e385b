"""Fixtures shared by every level: the database backends and the Temporal test server."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import NoReturn

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from sandbox.tryton.accountant import TrytonAccountant
from sandbox.tryton.bootstrap import TrytonSetup, init_database
from sandbox.tryton.server import RunningTryton, running_trytond
from store import Store
from workers.binaries import temporal_cli, temporal_test_server
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES


def _postgres_url() -> str | None:
    """The PostgreSQL server the tests may create schemas and databases on:
    ``SYNCLINE_TEST_POSTGRES_URL``, or ``SYNCLINE_DATABASE_URL`` when that names
    PostgreSQL. With either set, every test that touches the store runs on both
    backends (the e2e stacks too, with a fresh database each)."""
    explicit = os.environ.get("SYNCLINE_TEST_POSTGRES_URL")
    if explicit:
        return explicit
    configured = os.environ.get("SYNCLINE_DATABASE_URL", "")
    return configured if configured.startswith("postgresql+asyncpg://") else None


POSTGRES_URL = _postgres_url()


def _skip_or_fail(reason: str) -> NoReturn:
    """Skip, so a first ``pytest`` on a fresh machine runs; but where
    ``SYNCLINE_REQUIRE_SYSTEM_TOOLS=1`` (``.ci/run`` sets it), fail, so CI can never pass
    by skipping what it was meant to test."""
    if os.environ.get("SYNCLINE_REQUIRE_SYSTEM_TOOLS") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def system_tool(command: str, package: str) -> str:
    """The path of a command the project cannot pip-install (Chromium, Compose); missing,
    the test skips with the package to install, or fails in CI (``_skip_or_fail``)."""
    found = shutil.which(command)
    if found:
        return found
    _skip_or_fail(f"needs {command}: apt-get install {package}")


def postgres_url() -> str:
    """``POSTGRES_URL``, for a test that needs PostgreSQL; unset, the test skips, or fails
    in CI (``_skip_or_fail``): CI that lost its server must not pass with the whole
    PostgreSQL half skipped. Call it at run time, never in a ``skipif`` mark."""
    if POSTGRES_URL is not None:
        return POSTGRES_URL
    _skip_or_fail("needs PostgreSQL: set SYNCLINE_TEST_POSTGRES_URL (.ci/postgres.sh starts one)")


@asynccontextmanager
async def fresh_postgres_database(prefix: str) -> AsyncIterator[str]:
    """A new, empty database on the test PostgreSQL server (its URL), dropped after."""
    url = postgres_url()
    import asyncpg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    await admin.execute(f"CREATE DATABASE {name}")
    try:
        yield url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Under ``SYNCLINE_REQUIRE_SYSTEM_TOOLS=1`` a test marked ``postgres`` that skips,
    by whatever means (a ``skipif`` mark added later, say), is reported failed instead."""
    report = yield
    if (
        report.skipped
        and not hasattr(report, "wasxfail")
        and item.get_closest_marker("postgres") is not None
        and os.environ.get("SYNCLINE_REQUIRE_SYSTEM_TOOLS") == "1"
    ):
        # A skip's longrepr is (path, line, reason).
        skipped = report.longrepr
        reason = skipped[2].removeprefix("Skipped: ") if isinstance(skipped, tuple) else skipped
        report.outcome = "failed"
        report.longrepr = f"a PostgreSQL test may not skip in CI: {reason}"
    return report


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--workflow-environment",
        default="time-skipping",
        choices=["time-skipping", "local"],
        help="run workflow tests on the time-skipping test server or a local dev server",
    )


def _backends() -> list[object]:
    # Not a skipif mark: the fixture asks postgres_url(), which fails rather than skips
    # in CI.
    return ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=_backends())
async def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Store]:
    """A fresh, empty store on each backend: SQLite in a temp file, PostgreSQL in a schema."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "syncline.db"
        store = Store.from_url(f"sqlite+aiosqlite:///{path}")
        await store.migrate()
        yield store
        await store.close()
        return
    url = postgres_url()
    import asyncpg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    plain = url.replace("postgresql+asyncpg", "postgresql")
    admin = await asyncpg.connect(plain)
    await admin.execute(f"CREATE SCHEMA {schema}")
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url, connect_args={"server_settings": {"search_path": schema}})
    store = Store(engine)
    await store.migrate()
    yield store
    await store.close()
    await admin.execute(f"DROP SCHEMA {schema} CASCADE")
    await admin.close()


async def register_search_attributes(client: Client) -> None:
    """The test server knows no custom search attributes until they are added."""
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={
                key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in SEARCH_ATTRIBUTES
            },
        )
    )


async def start_workflow_env(request: pytest.FixtureRequest) -> WorkflowEnvironment:
    """The Temporal test server from the installed binary: nothing is downloaded."""
    if request.config.getoption("--workflow-environment") == "local":
        return await WorkflowEnvironment.start_local(
            data_converter=pydantic_data_converter,
            dev_server_existing_path=str(temporal_cli()),
            search_attributes=list(SEARCH_ATTRIBUTES),
            ip="127.0.0.1",
        )
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(temporal_test_server()),
    )
    await register_search_attributes(env.client)
    return env


@pytest.fixture(scope="session")
async def workflow_env(request: pytest.FixtureRequest) -> AsyncIterator[WorkflowEnvironment]:
    """A server for the API's tests, which only need a client: the runs their webhooks
    start are left without a worker (``tests/workflows`` has a server of its own, since
    such a run stops a time-skipping server from skipping time for every later test)."""
    env = await start_workflow_env(request)
    yield env
    await env.shutdown()


# -- a real Tryton, built once per session (its cache too, so CI sets it up from scratch)


@pytest.fixture(scope="session")
def tryton_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tryton-cache")


@pytest.fixture(scope="session")
def tryton_setup(tmp_path_factory: pytest.TempPathFactory, tryton_cache_dir: Path) -> TrytonSetup:
    return init_database(tmp_path_factory.mktemp("tryton"), cache_dir=tryton_cache_dir)


@pytest.fixture(scope="session")
def tryton(
    tryton_setup: TrytonSetup, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningTryton]:
    log_path = tmp_path_factory.mktemp("tryton-log") / "trytond.log"
    with running_trytond(tryton_setup, log_path) as server:
        yield server


@pytest.fixture
async def accountant(tryton: RunningTryton) -> AsyncIterator[TrytonAccountant]:
    setup = tryton.setup
    async with TrytonAccountant(
        tryton.base_url, setup.database, setup.admin_login, setup.admin_password
    ) as client:
        yield client
