"""Helpers shared by the NetSuite sandbox tests (and its connector end-to-end test)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from sandbox.netsuite import NetSuiteSandboxConfig

CLIENT_ID = "sandbox-client"
CLIENT_SECRET = "s3cret-value-for-tests"
TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"
RECORD = "/services/rest/record/v1"
SUITEQL = "/services/rest/query/v1/suiteql"


def make_config(db_path: Path, **overrides: object) -> NetSuiteSandboxConfig:
    values: dict[str, object] = {
        "db_path": db_path,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "faults": [],
    }
    values.update(overrides)
    return NetSuiteSandboxConfig.model_validate(values)


async def get_token(client: httpx.AsyncClient) -> str:
    response = await client.post(
        TOKEN_PATH, data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, CLIENT_SECRET)
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
