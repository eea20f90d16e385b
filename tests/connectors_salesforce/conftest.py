"""Fixtures: a scripted Salesforce and a client wired to it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from connectors.salesforce import SalesforceClient

from .fake import CLIENT_ID, CLIENT_SECRET, LOGIN_URL, FakeSalesforce


@pytest.fixture
def fake() -> FakeSalesforce:
    return FakeSalesforce()


@pytest.fixture
async def client(fake: FakeSalesforce) -> AsyncIterator[SalesforceClient]:
    sf = SalesforceClient(
        LOGIN_URL, CLIENT_ID, CLIENT_SECRET, transport=httpx.MockTransport(fake.handler)
    )
    yield sf
    await sf.aclose()
