"""An API app as ``syncline api`` builds it, with operators made as ``syncline operators
add`` makes them, called from any client address the test names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlmodel import col, select
from temporalio.client import Client

from models.operators import Role
from models.tables import AuditRow
from store import Store
from workers.access.operators import add_operator, local_operator
from workers.api import create_app
from workers.settings import Settings


@dataclass
class AccessApp:
    app: FastAPI
    store: Store

    def client(self, credential: str | None = None, address: str = "10.0.0.1") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(address, 40000))
        headers = {"Authorization": f"Bearer {credential}"} if credential else {}
        return httpx.AsyncClient(transport=transport, base_url="http://syncline", headers=headers)

    async def key(self, name: str, role: Role) -> str:
        return (await add_operator(self.store, name, role, local_operator())).key

    async def audit(self) -> list[AuditRow]:
        async with self.store.sessions()() as session:
            return list((await session.scalars(select(AuditRow).order_by(col(AuditRow.id)))).all())


def settings_for(**overrides: Any) -> Settings:
    """Test settings: no shared token unless given, no background gauges."""
    return Settings(environment="test", webhook_secret="hook-secret", metrics=False, **overrides)


@asynccontextmanager
async def access_app(
    client: Client, settings: Settings, database: Path | Store
) -> AsyncIterator[AccessApp]:
    """The app, started (its lifespan migrates the store); ``database`` a SQLite file to
    create, or a store another app may share."""
    store = (
        database
        if isinstance(database, Store)
        else Store.from_url(f"sqlite+aiosqlite:///{database}")
    )
    app = create_app(settings, store=store, client=client)
    try:
        async with app.router.lifespan_context(app):
            yield AccessApp(app, store)
    finally:
        if not isinstance(database, Store):
            await store.close()
