"""The Tryton connector over REST against the session's real trytond."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from connectors.tryton import TrytonClient
from sandbox.tryton.server import RunningTryton


@pytest.fixture
async def erp(tryton: RunningTryton) -> AsyncIterator[TrytonClient]:
    async with TrytonClient(
        tryton.base_url, tryton.setup.database, tryton.setup.application_key
    ) as client:
        yield client
