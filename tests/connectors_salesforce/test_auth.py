"""Token lifecycle: lazy fetch, cache, one refresh on 401, then AuthError."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs

import httpx
import pytest

from connectors.errors import AuthError, TransientError
from connectors.salesforce import SalesforceClient

from .fake import (
    CLIENT_ID,
    CLIENT_SECRET,
    DATA,
    INSTANCE_URL,
    LOGIN_URL,
    FakeSalesforce,
)

ACCOUNT_PATH = f"{DATA}/sobjects/Account/001000000000001AAA"


async def test_token_is_fetched_lazily_and_cached(
    fake: FakeSalesforce, client: SalesforceClient
) -> None:
    assert fake.requests == []  # constructing the client calls nothing
    fake.on_json("GET", ACCOUNT_PATH, {"Id": "001000000000001AAA", "Name": "Acme"})
    await client.get("Account", "001000000000001AAA")
    await client.get("Account", "001000000000001AAA")

    [token_request] = fake.token_requests
    assert str(token_request.url) == f"{LOGIN_URL}/services/oauth2/token"
    assert parse_qs(token_request.content.decode()) == {
        "grant_type": ["client_credentials"],
        "client_id": [CLIENT_ID],
        "client_secret": [CLIENT_SECRET],
    }
    for request in fake.data_requests:
        assert str(request.url).startswith(INSTANCE_URL)  # data goes to the instance URL
        assert request.headers["Authorization"] == "Bearer 00Dxx!token-1-SECRET"


async def test_expired_session_is_refreshed_once(
    fake: FakeSalesforce, client: SalesforceClient
) -> None:
    fake.on_json("GET", ACCOUNT_PATH, {"Id": "001000000000001AAA"})
    await client.get("Account", "001000000000001AAA")
    fake.expire_sessions()
    assert (await client.get("Account", "001000000000001AAA"))["Id"] == "001000000000001AAA"
    assert len(fake.token_requests) == 2
    statuses = [r.headers["Authorization"] for r in fake.data_requests]
    assert statuses == [
        "Bearer 00Dxx!token-1-SECRET",
        "Bearer 00Dxx!token-1-SECRET",
        "Bearer 00Dxx!token-2-SECRET",
    ]


async def test_concurrent_callers_share_one_refresh(
    fake: FakeSalesforce, client: SalesforceClient
) -> None:
    fake.on_json("GET", ACCOUNT_PATH, {"Id": "001000000000001AAA"})
    await client.get("Account", "001000000000001AAA")
    fake.expire_sessions()
    await asyncio.gather(*(client.get("Account", "001000000000001AAA") for _ in range(5)))
    assert len(fake.token_requests) == 2


async def test_second_401_is_auth_error(fake: FakeSalesforce, client: SalesforceClient) -> None:
    fake.reject_every_session = True
    with pytest.raises(AuthError) as raised:
        await client.get("Account", "001000000000001AAA")
    assert raised.value.status_code == 401
    assert raised.value.code == "INVALID_SESSION_ID"
    assert len(fake.token_requests) == 2 and len(fake.data_requests) == 2


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (
            httpx.Response(
                400,
                json={"error": "invalid_client", "error_description": "invalid client credentials"},
            ),
            AuthError,
        ),
        (httpx.Response(401, json={"error": "invalid_grant"}), AuthError),
        (httpx.Response(503, text="maintenance"), TransientError),
        (httpx.Response(200, json={"unexpected": True}), TransientError),
    ],
)
async def test_token_endpoint_failures(
    fake: FakeSalesforce, client: SalesforceClient, reply: httpx.Response, error: type[Exception]
) -> None:
    fake.token_reply = reply
    with pytest.raises(error):
        await client.get("Account", "001000000000001AAA")
    assert fake.data_requests == []


async def test_token_endpoint_unreachable_is_transient() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    sf = SalesforceClient(
        LOGIN_URL, CLIENT_ID, CLIENT_SECRET, transport=httpx.MockTransport(refuse)
    )
    with pytest.raises(TransientError) as raised:
        await sf.get("Account", "001000000000001AAA")
    assert raised.value.system == "salesforce"
    await sf.aclose()
