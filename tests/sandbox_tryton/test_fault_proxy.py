"""The fault proxy forwards requests unchanged, or answers in the upstream's stead."""

from __future__ import annotations

import time

import httpx
from fastapi import FastAPI, Request

from sandbox.fault_proxy import build_app


def _upstream() -> tuple[FastAPI, list[dict[str, object]]]:
    seen: list[dict[str, object]] = []
    app = FastAPI()

    @app.api_route("/{path:path}", methods=["GET", "POST"])
    async def echo(path: str, request: Request) -> dict[str, object]:
        record: dict[str, object] = {
            "method": request.method,
            "path": path,
            "query": str(request.query_params),
            "auth": request.headers.get("authorization"),
            "body": (await request.body()).decode(),
        }
        seen.append(record)
        return record

    return app, seen


def _proxy() -> tuple[httpx.AsyncClient, list[dict[str, object]]]:
    upstream, seen = _upstream()
    proxy = build_app("http://upstream", transport=httpx.ASGITransport(app=upstream))
    client = httpx.AsyncClient(base_url="http://proxy", transport=httpx.ASGITransport(app=proxy))
    return client, seen


async def test_requests_pass_through_unchanged() -> None:
    client, seen = _proxy()
    async with client:
        answer = await client.post(
            "/db/rest/model/sale.sale?f=id&f=number",
            content=b'{"x": 1}',
            headers={"Authorization": "Bearer k", "Content-Type": "application/json"},
        )
    assert answer.status_code == 200
    assert seen == [
        {
            "method": "POST",
            "path": "db/rest/model/sale.sale",
            "query": "f=id&f=number",
            "auth": "Bearer k",
            "body": '{"x": 1}',
        }
    ]


async def test_an_error_rule_answers_in_trytons_shape_without_forwarding() -> None:
    client, seen = _proxy()
    async with client:
        await client.post(
            "/admin/faults",
            json=[{"mode": "error", "status": 503, "times": 1, "path_prefix": "/db/rest"}],
        )
        failed = await client.get("/db/rest/model/party.party")
        passed = await client.get("/db/rest/model/party.party")
        rules = (await client.get("/admin/faults")).json()
    assert failed.status_code == 503 and set(failed.json()) == {"status", "message", "description"}
    assert passed.status_code == 200 and len(seen) == 1
    assert rules[0]["times"] == 0


async def test_latency_is_added_before_forwarding() -> None:
    client, seen = _proxy()
    async with client:
        await client.post("/admin/faults", json=[{"mode": "latency", "latency_ms": 200}])
        started = time.monotonic()
        answer = await client.get("/db/rest/model/party.party")
        elapsed = time.monotonic() - started
    assert answer.status_code == 200 and len(seen) == 1 and elapsed >= 0.2
