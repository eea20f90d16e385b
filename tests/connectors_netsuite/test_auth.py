"""Tokens: lazy, cached, shared, refreshed once on 401; secrets never leak."""

from __future__ import annotations

import asyncio
import base64
import logging
import types
from urllib.parse import parse_qs

import httpx
import pytest

from connectors.errors import AuthError, ConnectorError

from .fake import CLIENT_ID, CLIENT_SECRET, TOKEN_PATH, FakeNetSuite, ns_error


def item(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"id": "1", "itemId": "SKU"})


async def test_one_token_for_many_concurrent_requests() -> None:
    fake = FakeNetSuite(item)
    client = fake.client()
    await asyncio.gather(*(client.get_record("inventoryItem", "1") for _ in range(10)))
    await client.aclose()
    assert fake.tokens_issued == 1
    token_request = fake.requests[0]
    assert token_request.url.path == TOKEN_PATH and token_request.method == "POST"
    assert parse_qs(token_request.content.decode()) == {"grant_type": ["client_credentials"]}
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert token_request.headers["authorization"] == f"Basic {basic}"
    assert {r.headers["authorization"] for r in fake.api_requests} == {"Bearer tok-1"}


async def test_401_refreshes_once_and_retries() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers["authorization"] == "Bearer tok-1":
            return ns_error(401, "INVALID_LOGIN", "Invalid login attempt.")
        return item(request)

    fake = FakeNetSuite(handler)
    client = fake.client()
    assert (await client.get_record("inventoryItem", "1"))["id"] == "1"
    await client.aclose()
    assert fake.tokens_issued == 2
    assert [r.headers["authorization"] for r in fake.api_requests] == [
        "Bearer tok-1",
        "Bearer tok-2",
    ]


async def test_401_after_refresh_is_auth_error() -> None:
    fake = FakeNetSuite(lambda request: ns_error(401, "INVALID_LOGIN", "Invalid login."))
    client = fake.client()
    with pytest.raises(AuthError):
        await client.get_record("inventoryItem", "1")
    await client.aclose()
    assert len(fake.api_requests) == 2 and fake.tokens_issued == 2


async def test_expired_token_is_renewed(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    # Only the token provider's clock moves; the event loop keeps the real one.
    monkeypatch.setattr(
        "connectors.netsuite.auth.time", types.SimpleNamespace(monotonic=lambda: now[0])
    )
    fake = FakeNetSuite(item, expires_in=3600)
    client = fake.client()
    await client.get_record("inventoryItem", "1")
    now[0] += 3000
    await client.get_record("inventoryItem", "1")
    assert fake.tokens_issued == 1
    now[0] += 590  # inside the renewal margin before expiry
    await client.get_record("inventoryItem", "1")
    await client.aclose()
    assert fake.tokens_issued == 2


async def test_refused_credentials_do_not_leak(caplog: pytest.LogCaptureFixture) -> None:
    async def token_refused(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            401,
            json={"error": "invalid_client", "error_description": f"bad secret {CLIENT_SECRET}"},
        )

    client = FakeNetSuite(item).client()
    client._http._transport = httpx.MockTransport(token_refused)  # every call is refused
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthError) as info:
        await client.get_record("inventoryItem", "1")
    await client.aclose()
    assert CLIENT_SECRET not in str(info.value) and CLIENT_SECRET not in repr(info.value)
    assert CLIENT_SECRET not in caplog.text
    assert CLIENT_SECRET not in repr(client)


async def test_token_never_in_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    def echo(request: httpx.Request) -> httpx.Response:  # a server that echoes the header
        return ns_error(400, "USER_ERROR", f"bad request {request.headers['authorization']}")

    fake = FakeNetSuite(echo)
    client = fake.client()
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConnectorError) as info:
        await client.update_record("customer", "1", {"companyName": "X"})
    await client.aclose()
    for secret in ("tok-1", CLIENT_SECRET):
        assert secret not in str(info.value)
        assert secret not in caplog.text
