"""Helpers shared by the NetSuite sandbox tests (and its connector end-to-end test)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import uvicorn
from fastapi import FastAPI

from connectors.netsuite import NetSuiteClient, OAuth2Credentials
from sandbox.netsuite import NetSuiteSandboxConfig
from sandbox.netsuite.certificates import make_key_pair
from sandbox.netsuite.provision import map_certificate

CLIENT_ID = "sandbox-client"
ACCOUNT_ID = "1234567_SB1"
TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"
RECORD = "/services/rest/record/v1"
SUITEQL = "/services/rest/query/v1/suiteql"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# One EC P-256 pair for the whole run: made in microseconds, taken by NetSuite.
KEYS = make_key_pair()


def make_config(db_path: Path, **overrides: object) -> NetSuiteSandboxConfig:
    values: dict[str, object] = {"db_path": db_path, "account_id": ACCOUNT_ID, "faults": []}
    values.update(overrides)
    return NetSuiteSandboxConfig.model_validate(values)


async def register(admin: httpx.AsyncClient, client_id: str = CLIENT_ID) -> OAuth2Credentials:
    """Map the test certificate to ``client_id`` (again is harmless): its credentials."""
    certificate_id = await map_certificate(admin, client_id, KEYS.certificate_pem)
    return OAuth2Credentials(client_id, certificate_id, KEYS.private_key_pem)


async def netsuite_client(url: str, **options: Any) -> NetSuiteClient:
    """A ``NetSuiteClient`` with credentials the sandbox at ``url`` knows."""
    transport = options.get("transport")
    async with httpx.AsyncClient(base_url=url, transport=transport) as admin:
        credentials = await register(admin)
    return NetSuiteClient(url, credentials, **options)


def assertion(
    credentials: OAuth2Credentials,
    audience: str,
    *,
    headers: dict[str, Any] | None = None,
    key: Any = None,
    algorithm: str | None = None,
    **claims: Any,
) -> str:
    """A client assertion, valid unless an argument says otherwise."""
    now = int(time.time())
    body: dict[str, Any] = {
        "iss": credentials.client_id,
        "scope": "rest_webservices",
        "aud": audience,
        "iat": now,
        "exp": now + 300,
    }
    body.update(claims)
    return jwt.encode(
        {k: v for k, v in body.items() if v is not None},
        key if key is not None else credentials.private_key,
        algorithm=algorithm or credentials.algorithm,
        headers={"typ": "JWT", "kid": credentials.certificate_id, **(headers or {})},
    )


async def request_token(http: httpx.AsyncClient, client_assertion: str) -> httpx.Response:
    return await http.post(
        TOKEN_PATH,
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": JWT_BEARER,
            "client_assertion": client_assertion,
        },
    )


async def get_token(client: httpx.AsyncClient) -> str:
    """An access token for ``client`` (its base URL is the assertion's audience)."""
    credentials = await register(client)
    response = await request_token(
        client, assertion(credentials, f"{client.base_url.join(TOKEN_PATH)}")
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run ``app`` on real uvicorn on 127.0.0.1 (a free port, bound before start)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


async def create_customer(
    client: httpx.AsyncClient, eid: str = "ACC-1", currency: str = "USD", name: str = "Acme Corp"
) -> str:
    response = await client.put(
        f"{RECORD}/customer/eid:{eid}",
        json={"companyName": name, "currency": {"refName": currency}},
    )
    assert response.status_code == 204, response.text
    return response.headers["location"].rsplit("/", 1)[-1]


async def item_ids(client: httpx.AsyncClient) -> dict[str, str]:
    response = await client.post(
        SUITEQL, json={"q": "SELECT id, itemid FROM item"}, headers={"Prefer": "transient"}
    )
    assert response.status_code == 200, response.text
    return {row["itemid"]: row["id"] for row in response.json()["items"]}


def order_body(customer_id: str, item_id: str, **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "entity": {"id": customer_id},
        "tranDate": "2026-11-20",
        "item": {"items": [{"item": {"id": item_id}, "quantity": 2}]},
    }
    body.update(extra)
    return body
