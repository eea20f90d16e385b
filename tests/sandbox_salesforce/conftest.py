"""Fixtures: a sandbox app on a fresh SQLite file and an authenticated client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from connectors.salesforce import SalesforceClient
from sandbox.salesforce import SalesforceSandboxConfig, build_app
from sandbox.salesforce.server import close_sandbox

from .helpers import BASE_URL, CLIENT_ID, CLIENT_SECRET, SandboxApi, fetch_token, make_config


@pytest.fixture
def sf_config(tmp_path: Path) -> SalesforceSandboxConfig:
    return make_config(tmp_path / "salesforce.db")


@pytest.fixture
async def sf_app(sf_config: SalesforceSandboxConfig) -> AsyncIterator[FastAPI]:
    app = build_app(sf_config)
    yield app
    await close_sandbox(app.state.sandbox)


@pytest.fixture
async def anon_http(sf_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=sf_app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield http


@pytest.fixture
async def api(sf_app: FastAPI) -> AsyncIterator[SandboxApi]:
    transport = httpx.ASGITransport(app=sf_app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        http.headers["Authorization"] = f"Bearer {await fetch_token(http)}"
        yield SandboxApi(http, sf_app.state.sandbox)


@pytest.fixture
async def client(sf_app: FastAPI) -> AsyncIterator[SalesforceClient]:
    """Syncline's own connector, talking to the sandbox app in process."""
    sf = SalesforceClient(
        BASE_URL, CLIENT_ID, CLIENT_SECRET, transport=httpx.ASGITransport(app=sf_app)
    )
    yield sf
    await sf.aclose()
