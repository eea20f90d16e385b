"""Temporal down: every webhook still gets its 202 at once, from the inbox, and every
deal is ordered once Temporal is back, none lost, and no sender had to send again.

The issue behind this (22, item 4) asks for five minutes down. CI cannot spend five
minutes per stack, so the length is a parameter, ``SYNCLINE_TEST_TEMPORAL_OUTAGE_SECONDS``:
the suite's default (40 s) is four times the relay's back-off cap
(``SYNCLINE_INBOX_MAX_BACKOFF_SECONDS``, 10 s), so the relay reaches its cap and stays
there for several attempts, each waiting out the Temporal client's own retries: beyond
that, a longer outage only repeats the same capped attempt. Run it at 300 for the
issue's figure.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.erp("netsuite")]

OUTAGE_SECONDS = float(os.environ.get("SYNCLINE_TEST_TEMPORAL_OUTAGE_SECONDS", "40"))
DEALS = 6


async def _crm_deliveries(stack: Stack, opportunity_id: str) -> list[dict[str, Any]]:
    """The sandbox CRM's own record of its callouts for one opportunity."""
    async with httpx.AsyncClient(base_url=stack.dev.crm_url) as crm_admin:
        found = await crm_admin.get(
            "/admin/webhook-deliveries", params={"opportunityId": opportunity_id}
        )
    deliveries: list[dict[str, Any]] = found.json()["deliveries"]
    return deliveries


async def _api_metrics(stack: Stack) -> dict[tuple[str, str], float]:
    """The API's samples by name and outcome label, summed."""
    answer = await stack.api.get("/metrics")
    answer.raise_for_status()
    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            key = (sample.name, sample.labels.get("syncline_outcome", ""))
            found[key] = found.get(key, 0.0) + sample.value
    return found


async def _until_called_out(stack: Stack, opportunity_id: str) -> list[dict[str, Any]]:
    for _ in range(100):
        deliveries = await _crm_deliveries(stack, opportunity_id)
        if deliveries and all(d["status"] != "pending" for d in deliveries):
            return deliveries
        await asyncio.sleep(0.1)
    raise AssertionError(f"the CRM never finished calling out for {opportunity_id}")


async def _until_relayed(stack: Stack, delivery_id: str) -> dict[str, Any]:
    """The stored delivery once the relay has settled it, or as it stands after 60 s."""
    deadline = time.monotonic() + 60
    while True:
        stored: dict[str, Any] = (await stack.api.get(f"/api/deliveries/{delivery_id}")).json()
        if stored["relay"]["state"] != "pending" or time.monotonic() > deadline:
            return stored
        await asyncio.sleep(0.2)


async def test_deliveries_during_a_temporal_outage_are_answered_and_processed_once_back(
    stack: Stack,
) -> None:
    ids = [await stack.open_deal(name=f"Outage {n}") for n in range(DEALS)]
    went_down = time.monotonic()
    stack.dev.kill("temporal")
    try:
        # The CRM's own callouts (closing the deals won), and one of ours per deal.
        for opportunity_id in ids:
            await stack.close_won(opportunity_id)
        ours, sent_at = [], []
        for opportunity_id in ids:
            sent = time.monotonic()
            sent_at.append(sent)
            answer = await stack.post_webhook(stack.callout(opportunity_id))
            # Answered without waiting for Temporal (its client alone retries about ten
            # seconds before giving up on a server that is not there).
            assert time.monotonic() - sent < 5, "the answer waited for Temporal"
            assert answer.status_code == 202, answer.text
            assert answer.json()["status"] == "pending"
            ours.append(answer.json()["delivery_id"])
        for opportunity_id in ids:
            [callout] = await _until_called_out(stack, opportunity_id)
            assert (callout["attempts"], callout["last_status_code"]) == (1, 202), callout
        for delivery_id in ours:
            stored = (await stack.api.get(f"/api/deliveries/{delivery_id}")).json()
            assert (stored["status"], stored["relay"]["state"]) == ("pending", "pending")
        await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - went_down)))
        # The relay kept trying (the head of each deal's queue: the rest wait behind it),
        # and the inbox holds both deliveries of every deal.
        metrics = await _api_metrics(stack)
        assert metrics.get(("syncline_inbox_relay_attempts_total", "unavailable"), 0) >= 2
        assert metrics[("syncline_inbox_pending", "")] == 2 * DEALS
    finally:
        restarted = time.monotonic()
        stack.dev.respawn("temporal")

    for opportunity_id in ids:
        await stack.wait_for_status(opportunity_id, "order_accepted", timeout=120)
        assert len(await stack.erp_orders_for(opportunity_id)) == 1
        # Both deliveries reached the one deal; neither sender sent again.
        [callout] = await _crm_deliveries(stack, opportunity_id)
        assert callout["attempts"] == 1
    for delivery_id, sent in zip(ours, sent_at, strict=True):
        # A deal is ordered once the first of its deliveries (the CRM's) is signalled;
        # ours, behind it in the deal's queue, may be signalled a moment later.
        stored = await _until_relayed(stack, delivery_id)
        assert (stored["status"], stored["relay"]["state"]) == ("accepted", "signalled")
        # Signalled only once Temporal was back: it waited in the inbox all along (a
        # second's allowance between the test's clock and the API's).
        assert stored["relay"]["lag_seconds"] >= restarted - sent - 1, stored["relay"]
    assert stack.dev.check_alive() is None, f"{stack.dev.check_alive()} died in the outage"
