"""A worker killed mid-flight: nothing is lost and nothing is doubled."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.e2e.conftest import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("clean_faults")]


async def _until_some_deal_is_in_the_erp_steps(stack: Stack, ids: list[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for opportunity_id in ids:
            answer = await stack.api.get(f"/api/deals/{opportunity_id}")
            if answer.status_code == 200 and answer.json()["step"] == "place_order":
                return
        await asyncio.sleep(0.05)
    raise AssertionError("no deal reached the ERP steps")


async def test_a_worker_killed_with_deals_in_flight(stack: Stack) -> None:
    # A slow ERP keeps several deals inside ERP activities when the worker dies.
    await stack.erp.set_latency(400)
    try:
        ids = [await stack.open_deal(name=f"Killed worker {n}") for n in range(6)]
        await asyncio.gather(*(stack.close_won(opportunity_id) for opportunity_id in ids))
        await _until_some_deal_is_in_the_erp_steps(stack, ids)
        stack.dev.restart("worker")  # SIGKILL: no graceful shutdown, no cleanup
    finally:
        await stack.erp.set_latency(0)

    for opportunity_id in ids:
        # heartbeats let Temporal notice the dead worker within seconds, not minutes
        deal = await stack.wait_for_status(opportunity_id, "order_accepted", timeout=60)
        assert len(await stack.erp_orders_for(opportunity_id)) == 1
        assert [e["event_type"] for e in deal["events"]].count("order.accepted") == 1
