"""Atomic upserts, unique tranIds and the account-wide concurrency limit."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from sandbox.netsuite import build_app

from .helpers import RECORD, SUITEQL, create_customer, get_token, item_ids, make_config, serve


async def test_concurrent_puts_with_one_external_id_make_one_record(
    live_client: httpx.AsyncClient,
) -> None:
    await live_client.post("/admin/config", json={"concurrency_limit": 100})
    customer_id = await create_customer(live_client)
    item = (await item_ids(live_client))["SL-SEAT-PRO"]
    body = {
        "entity": {"id": customer_id},
        "item": {"items": [{"item": {"id": item}, "quantity": 1}]},
    }
    responses = await asyncio.gather(
        *(live_client.put(f"{RECORD}/salesOrder/eid:OPP-RACE", json=body) for _ in range(20))
    )
    assert {r.status_code for r in responses} == {204}
    assert len({r.headers["location"] for r in responses}) == 1
    rows = (
        await live_client.post(
            SUITEQL, json={"q": "SELECT id FROM transaction WHERE externalid = 'OPP-RACE'"}
        )
    ).json()
    assert rows["totalResults"] == 1


async def test_tran_ids_stay_unique_under_concurrency(live_client: httpx.AsyncClient) -> None:
    await live_client.post("/admin/config", json={"concurrency_limit": 100})
    customer_id = await create_customer(live_client)
    item = (await item_ids(live_client))["SL-SEAT-PRO"]
    body = {
        "entity": {"id": customer_id},
        "item": {"items": [{"item": {"id": item}, "quantity": 1}]},
    }
    responses = await asyncio.gather(
        *(live_client.post(f"{RECORD}/salesOrder", json=body) for _ in range(30))
    )
    assert {r.status_code for r in responses} == {204}
    rows = (await live_client.post(SUITEQL, json={"q": "SELECT tranid FROM transaction"})).json()[
        "items"
    ]
    assert len({row["tranid"] for row in rows}) == 30


async def test_over_the_limit_is_refused_at_once(tmp_path: Path) -> None:
    app = build_app(make_config(tmp_path / "ns.db", concurrency_limit=2, latency_ms=200))
    try:
        with serve(app) as url:
            async with httpx.AsyncClient(base_url=url, timeout=10) as http:
                http.headers["Authorization"] = f"Bearer {await get_token(http)}"
                responses = await asyncio.gather(
                    *(http.get(f"{RECORD}/inventoryItem/1") for _ in range(6))
                )
                refused = [r for r in responses if r.status_code == 400]
                assert sum(r.status_code == 200 for r in responses) == 2
                assert len(refused) == 4
                detail = refused[0].json()["o:errorDetails"][0]
                assert detail == {
                    "detail": "Concurrent request limit exceeded. Request blocked.",
                    "o:errorCode": "SSS_REQUEST_LIMIT_EXCEEDED",
                }
                stats = (await http.get("/admin/stats")).json()
                assert stats["limit_exceeded"] == 4
                assert stats["peak_in_flight"] == 2
                assert stats["requests"] == 6
                # Two admitted requests held their slots 200 ms each (and a little more
                # for the read itself); the refused ones held none.
                assert 0.4 <= stats["slot_seconds"] < 1.0

                # Raised at run time, the same burst passes.
                await http.post("/admin/config", json={"concurrency_limit": 6, "latency_ms": 0})
                again = await asyncio.gather(
                    *(http.get(f"{RECORD}/inventoryItem/1") for _ in range(6))
                )
                assert {r.status_code for r in again} == {200}
    finally:
        app.state.sandbox.close()


async def test_admin_and_token_routes_are_not_limited(tmp_path: Path) -> None:
    app = build_app(make_config(tmp_path / "ns.db", concurrency_limit=1, latency_ms=100))
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            token = await get_token(http)
            slow = asyncio.create_task(
                http.get(f"{RECORD}/inventoryItem/1", headers={"Authorization": f"Bearer {token}"})
            )
            await asyncio.sleep(0.02)
            assert (await http.get("/admin/health")).status_code == 200
            await get_token(http)
            assert (await slow).status_code == 200
    finally:
        app.state.sandbox.close()
