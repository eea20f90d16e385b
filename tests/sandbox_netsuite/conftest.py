"""Fixtures for the NetSuite sandbox: an app per test, in-process or on real uvicorn."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from sandbox.netsuite import build_app

from .helpers import get_token, make_config, serve


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "netsuite.db"


@pytest.fixture
def app(db_path: Path) -> Iterator[FastAPI]:
    app = build_app(make_config(db_path))
    yield app
    app.state.sandbox.close()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated in-process client (no network)."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://netsuite.test"
    ) as http:
        http.headers["Authorization"] = f"Bearer {await get_token(http)}"
        http.headers["Prefer"] = "transient"
        yield http


@pytest.fixture
def live_url(app: FastAPI) -> Iterator[str]:
    with serve(app) as url:
        yield url


@pytest.fixture
async def live_client(live_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_url, timeout=10) as http:
        http.headers["Authorization"] = f"Bearer {await get_token(http)}"
        http.headers["Prefer"] = "transient"
        yield http
