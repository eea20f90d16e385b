"""The Tryton connector over REST against the session's real trytond."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from connectors.tryton import TrytonClient
from sandbox.tryton.server import RunningTryton
from store import Store


@pytest.fixture
async def erp(tryton: RunningTryton) -> AsyncIterator[TrytonClient]:
    async with TrytonClient(
        tryton.base_url, tryton.setup.database, tryton.setup.application_key
    ) as client:
        yield client


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[Store]:
    """A SQLite ledger only: what a Tryton record becomes in the ledger does not depend
    on the backend (the store's own tests run both), and each Tryton case costs seconds."""
    store = Store.from_url(f"sqlite+aiosqlite:///{tmp_path / 'syncline.db'}")
    await store.migrate()
    yield store
    await store.close()
