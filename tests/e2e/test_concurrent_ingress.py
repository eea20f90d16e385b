"""Many deliveries at once, on each store backend: every one is stored and answered, the
inbox relay signals every one, and each deal still makes exactly one order (PostgreSQL
and SQLite writers alike)."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

DEALS = 20
DELIVERIES_EACH = 4


async def test_concurrent_deliveries_are_all_stored_and_make_one_order_each(
    stack: Stack,
) -> None:
    ids = [await stack.open_deal(name=f"Concurrent {n}") for n in range(DEALS)]
    for opportunity_id in ids:  # won in the CRM, whose own callouts race with ours
        await stack.crm.update("Opportunity", opportunity_id, {"StageName": "Closed Won"})
    now = int(time.time())
    sends = [
        # Each redelivery signed at its own second, as a retrying sender signs it.
        stack.post_webhook(stack.callout(i), stack.sign(stack.callout(i), timestamp=now - n))
        for i in ids
        for n in range(DELIVERIES_EACH)
    ]
    answers = await asyncio.gather(*sends)
    assert [a.status_code for a in answers] == [202] * len(sends), [
        a.text for a in answers if a.status_code != 202
    ]
    assert {a.json()["status"] for a in answers} == {"pending"}
    for opportunity_id in ids:
        await stack.wait_for_status(opportunity_id, "order_accepted", timeout=60)
        assert len(await stack.erp_orders_for(opportunity_id)) == 1
    # A deal's order can be placed while its later deliveries still wait in the inbox
    # behind the first (in order per opportunity): every one is signalled in the end.
    deadline = time.monotonic() + 60
    while True:
        stored = await asyncio.gather(
            *(stack.api.get(f"/api/deliveries/{a.json()['delivery_id']}") for a in answers)
        )
        states = {(s.json()["status"], s.json()["relay"]["state"]) for s in stored}
        if states == {("accepted", "signalled")} or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    assert states == {("accepted", "signalled")}
