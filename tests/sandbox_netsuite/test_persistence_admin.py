"""State survives a rebuild on the same file; admin stats, reset, periods, health."""

from __future__ import annotations

from pathlib import Path

import httpx

from sandbox.netsuite import build_app

from .helpers import RECORD, create_customer, get_token, item_ids, make_config, order_body


async def test_state_persists_across_app_rebuild(db_path: Path) -> None:
    first = build_app(make_config(db_path))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=first), base_url="http://t"
    ) as http:
        token = await get_token(http)
        http.headers["Authorization"] = f"Bearer {token}"
        customer_id = await create_customer(http)
        item = (await item_ids(http))["SL-SEAT-PRO"]
        order = await http.post(f"{RECORD}/salesOrder", json=order_body(customer_id, item))
        first_tran_id = (await http.get(order.headers["location"])).json()["tranId"]
        await http.delete(f"{RECORD}/inventoryItem/{(await item_ids(http))['SL-TRAINING-DAY']}")
        await http.post("/admin/periods/close", json={"through": "2026-06-30"})
    first.state.sandbox.close()

    second = build_app(make_config(db_path))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=second), base_url="http://t"
        ) as http:
            http.headers["Authorization"] = f"Bearer {token}"  # the old token still works
            customer = await http.get(f"{RECORD}/customer/eid:ACC-1")
            assert customer.status_code == 200 and customer.json()["id"] == customer_id
            items = await item_ids(http)
            assert len(items) == 7 and "SL-TRAINING-DAY" not in items  # not re-seeded
            order = await http.post(f"{RECORD}/salesOrder", json=order_body(customer_id, item))
            tran_id = (await http.get(order.headers["location"])).json()["tranId"]
            assert int(tran_id[2:]) > int(first_tran_id[2:])
            periods = (await http.get("/admin/periods")).json()
            assert periods == {"closed_through": "2026-06-30"}
    finally:
        second.state.sandbox.close()


async def test_stats_reset_and_health(client: httpx.AsyncClient) -> None:
    assert (await client.get("/admin/health")).json() == {"status": "ok"}
    customer_id = await create_customer(client)
    item = (await item_ids(client))["SL-SEAT-PRO"]
    await client.post(f"{RECORD}/salesOrder", json=order_body(customer_id, item))
    stats = (await client.get("/admin/stats")).json()
    assert stats["counts"]["salesOrder"] == 1
    assert stats["counts"]["customer"] == 1
    assert stats["counts"]["inventoryItem"] == 8
    assert stats["requests"] >= 3
    assert set(stats) >= {"requests", "limit_exceeded", "peak_in_flight", "faults_fired", "counts"}

    await client.post("/admin/periods/close", json={"through": "2026-01-31"})
    reset = (await client.post("/admin/reset")).json()
    assert reset["counts"]["salesOrder"] == 0 and reset["counts"]["customer"] == 0
    assert reset["counts"]["inventoryItem"] == 8
    assert reset["requests"] == 0
    assert (await client.get("/admin/periods")).json() == {"closed_through": None}
    # Tokens survive a reset.
    assert (await client.get(f"{RECORD}/inventoryItem/1")).status_code == 200


async def test_periods_close_and_reopen(client: httpx.AsyncClient) -> None:
    await client.post("/admin/periods/close", json={"through": "2026-09-30"})
    # Closing an earlier date does not reopen anything.
    after = await client.post("/admin/periods/close", json={"through": "2026-03-31"})
    assert after.json() == {"closed_through": "2026-09-30"}
    reopened = await client.post("/admin/periods/open", json={"from": "2026-08-01"})
    assert reopened.json() == {"closed_through": "2026-07-31"}
    assert (await client.post("/admin/periods/open")).json() == {"closed_through": None}


async def test_revoked_tokens_get_401(client: httpx.AsyncClient) -> None:
    assert (await client.post("/admin/tokens/revoke")).json()["revoked"] >= 1
    assert (await client.get(f"{RECORD}/inventoryItem/1")).status_code == 401
