"""One Tryton database and server for the session, built into pytest's temp folder."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from sandbox.tryton.server import RunningTryton

from .helpers import b64json


@pytest.fixture
async def rest(tryton: RunningTryton) -> AsyncIterator[httpx.AsyncClient]:
    """The REST API as Syncline uses it: the application key and the company context."""
    headers = {
        "Authorization": f"Bearer {tryton.setup.application_key}",
        "X-Tryton-Context": b64json({"company": tryton.setup.company_id}),
    }
    async with httpx.AsyncClient(base_url=tryton.rest_url, headers=headers, timeout=30) as http:
        yield http
